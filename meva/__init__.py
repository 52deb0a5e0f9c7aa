"""Meva's project package: settings, start-up, Celery application, locks and shared helpers.

The Celery application (``meva.celery``) is loaded by the trading app when the full app set
starts (``trading.apps``), not here: a batch command's process never imports Celery.
"""
