"""Cursor pagination for the long lists (orders, fills, cycles, alerts, audit events): newest
first, stable under inserts, O(1) per page at any depth."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class NewestFirst(CursorPagination):
    """``?limit=`` 1..1000 rows a page (default 100); ``next``/``previous`` are opaque URLs."""

    ordering = "-id"
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000


class NewestEventFirst(NewestFirst):
    """:class:`NewestFirst` by event time (``created_at``, then ``id``): a time-range filter
    and this order use the same index, so a page in the middle of a long history is read
    directly instead of walking back over every newer row."""

    ordering = ("-created_at", "-id")
