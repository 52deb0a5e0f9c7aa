"""JSON from outside, parsed within limits: one function for request bodies, websocket frames,
exchange payloads and command-line JSON.

:func:`json_loads_bounded` refuses input longer than ``max_bytes`` or nested deeper than
``max_depth`` *before* parsing (a deeply nested array would otherwise exhaust the recursion
limit, and a huge one the memory), and any malformed input, with :class:`JsonTooLarge`,
:class:`JsonTooDeep` or :class:`JsonInvalid` (all :class:`JsonRejected`, a ``ValueError``)
whose message never repeats the input.
"""

from __future__ import annotations

import json
from collections.abc import Callable

DEFAULT_MAX_BYTES = 1_000_000
DEFAULT_MAX_DEPTH = 32


class JsonRejected(ValueError):
    """Input refused as JSON; ``str()`` says why, never what it contained."""


class JsonTooLarge(JsonRejected):
    pass


class JsonTooDeep(JsonRejected):
    pass


class JsonInvalid(JsonRejected):
    pass


def json_depth_exceeds(text: str, max_depth: int) -> bool:
    """Whether ``text`` opens more than ``max_depth`` nested arrays/objects (strings skipped)."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > max_depth:
                return True
        elif char in "]}":
            depth -= 1
    return False


def json_loads_bounded(
    data: bytes | str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    what: str = "JSON",
    parse_float: Callable[[str], object] | None = None,
) -> object:
    """Parse ``data`` (UTF-8 bytes or text) as JSON within the limits (module docstring);
    ``what`` names the input in errors (``"request body"``, ``"--params"``)."""
    if len(data) > max_bytes:
        raise JsonTooLarge(f"{what}: larger than {max_bytes} bytes")
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise JsonInvalid(f"{what}: not UTF-8") from None
    else:
        text = data
    if json_depth_exceeds(text, max_depth):
        raise JsonTooDeep(f"{what}: nested deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=parse_float)
    except JsonInvalid as exc:
        raise JsonInvalid(f"{what}: {exc}") from None
    except (ValueError, RecursionError) as exc:
        problem = exc.msg if isinstance(exc, json.JSONDecodeError) else "malformed"
        raise JsonInvalid(f"{what}: not valid JSON ({problem})") from None


def _no_constant(name: str) -> object:
    raise JsonInvalid(f"{name} is not a number")


def json_object_loads(text: str, *, what: str, max_bytes: int = 65_536) -> dict:
    """A JSON object given by a person (``--params``, ``--risk``): bounded like
    :func:`json_loads_bounded`, and a :class:`JsonInvalid` naming ``what`` unless an object."""
    value = json_loads_bounded(text, max_bytes=max_bytes, what=what)
    if not isinstance(value, dict):
        raise JsonInvalid(f"{what}: must be a JSON object")
    return value
