"""Shared column shapes of the trading rows.

``MONEY`` (36 digits, 12 decimals) is the historical shape of rules and order sizes;
``EXACT`` (40 digits, 20 decimals) holds every amount a paper venue or a fill can produce
without rounding (prices of 2-8 decimals times quantities of 8 decimals times fee rates of
4-6 decimals), so restored paper state and ledger balances equal the venue's exactly on
PostgreSQL. SQLite stores decimals as floats (15 significant digits): exact equality needs
PostgreSQL.
"""

from __future__ import annotations

MONEY = {"max_digits": 36, "decimal_places": 12}
EXACT = {"max_digits": 40, "decimal_places": 20}
