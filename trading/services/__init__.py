"""Trading services: the functions that write (STYLE.md rule 1).

Modules: ``control`` (arm/disarm, kill switch), ``gate`` (effective safety gate state),
``orders`` (compare-and-set order transitions), ``audit`` (the append-only audit trail),
``alerts`` (raise, deduplicate, acknowledge), ``accounts`` (create, change, enable/disable,
stop entries) with ``account_config`` (the validation the admin form shares) and
``account_schedule`` (each enabled account's Celery beat entries).
"""
