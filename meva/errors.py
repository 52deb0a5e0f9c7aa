from __future__ import annotations


class ApplicationError(Exception):
    """A rule violation raised by a service; its message is safe to show to the operator."""
