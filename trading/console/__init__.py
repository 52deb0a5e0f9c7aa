"""The operator console: the admin's dashboard, one page per account and the action buttons.

``selectors`` reads what the pages show with bounded queries (last N rows, aggregates, equity
downsampled in SQL); ``actions`` names each operator action, its permission and the one service
it calls; ``views`` serves them inside the admin (login, staff, CSRF) at the URLs of ``urls``.
"""
