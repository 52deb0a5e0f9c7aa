"""Request guards that run before any view.

:class:`RejectNulCharacters` answers 400 to a request whose path or query string holds a NUL
character (``%00``). PostgreSQL text cannot hold NUL, so such a value reaching a lookup
(``/api/v1/accounts/%00/``, ``?symbol=%00``) would raise ``DataError`` (a 500) on PostgreSQL and
silently match nothing on SQLite. Refusing it up front gives both engines the same clear answer.
"""

from __future__ import annotations

from django.http import HttpResponseBadRequest, JsonResponse


class RejectNulCharacters:
    """Middleware: 400 for a NUL in the path, a query key or a query value.

    The answer is JSON ``{"detail": "..."}`` under ``/api/`` (as every API error) and plain
    text elsewhere (admin, console). The message names where the NUL was found.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        where = _nul_location(request)
        if where is None:
            return self.get_response(request)
        detail = f"The {where} contains a NUL character (%00), which is never valid."
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": detail}, status=400)
        return HttpResponseBadRequest(detail, content_type="text/plain; charset=utf-8")


def _nul_location(request) -> str | None:
    if "\x00" in request.path:
        return "path"
    for key, values in request.GET.lists():
        if "\x00" in key:
            return "query parameter name"
        if any("\x00" in value for value in values):
            return f"query parameter {key[:50]!r}"
    return None
