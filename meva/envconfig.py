"""Strict parsing of environment settings.

django-environ reads the environment; these helpers add the validation it does not do
(``environ.Env.bool`` turns any unknown word into ``False``). Every error is an
``ImproperlyConfigured`` whose message starts with the variable's name, so a wrong setting
stops start-up with a message that says which variable to fix.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


SUPPORTED_DATABASE_ENGINES = frozenset(
    {"django.db.backends.sqlite3", "django.db.backends.postgresql"}
)


def url_without_password(url: str) -> str:
    """``url`` with the password of its ``user:password@`` part replaced by ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "(unparsable URL)"
    if not password:
        return url
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


class StrictEnv:
    """Typed, validated reads of environment variables (shape: name -> value)."""

    def __init__(self, env: environ.Env | None = None) -> None:
        self._env = env or environ.Env()

    def raw(self, name: str) -> str | None:
        value = self._env.str(name, default=None)
        return None if value is None else value.strip()

    def str(self, name: str, default: str = "") -> str:
        value = self.raw(name)
        return default if value is None else value

    def bool(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None or value == "":
            return default
        word = value.lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a boolean; use one of true/false, yes/no, on/off, 1/0"
        )

    def decimal(
        self,
        name: str,
        default: str,
        *,
        minimum: Decimal | None = Decimal(0),
        maximum: Decimal | None = None,
    ) -> Decimal:
        value = self.raw(name)
        text = default if value is None or value == "" else value
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ImproperlyConfigured(f"{name}={text!r} is not a decimal number") from None
        if not number.is_finite():
            raise ImproperlyConfigured(f"{name}={text!r} must be a finite number")
        if minimum is not None and number < minimum:
            raise ImproperlyConfigured(f"{name}={text!r} must be >= {minimum}")
        if maximum is not None and number > maximum:
            raise ImproperlyConfigured(f"{name}={text!r} must be <= {maximum}")
        return number

    def int(self, name: str, default: int, *, minimum: int | None = 0) -> int:
        value = self.raw(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from None
        if minimum is not None and number < minimum:
            raise ImproperlyConfigured(f"{name}={value!r} must be >= {minimum}")
        return number

    def decimals(
        self, name: str, default: str, *, minimum: Decimal = Decimal(0), maximum: Decimal
    ) -> list[Decimal]:
        """A comma-separated list of decimal numbers, each in ``[minimum, maximum]``."""
        items = [item.strip() for item in self.str(name, default).split(",") if item.strip()]
        numbers = []
        for item in items:
            try:
                number = Decimal(item)
            except InvalidOperation:
                raise ImproperlyConfigured(f"{name}: {item!r} is not a decimal number") from None
            if not number.is_finite() or not minimum <= number <= maximum:
                raise ImproperlyConfigured(f"{name}: {item!r} must be in [{minimum}, {maximum}]")
            numbers.append(number)
        return numbers

    def bounded(self, name: str, default: str, parameter: str):
        """``name`` checked by the shared validator as ``parameter``
        (:data:`trading.domain.bounds.PARAMETER_BOUNDS`): flags and forms accept the same."""
        from trading.domain.bounds import BoundError, bounded

        try:
            return bounded(parameter, self.str(name, default), source=name)
        except BoundError as exc:
            raise ImproperlyConfigured(str(exc)) from None

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.str(name, default)
        if value not in choices:
            raise ImproperlyConfigured(f"{name}={value!r} must be one of {', '.join(choices)}")
        return value

    def db_url(self, name: str, default: str) -> dict:
        """A database URL for one of the supported backends (SQLite, PostgreSQL). Errors show
        the URL with its password masked."""
        value = self.str(name, default)
        shown = url_without_password(value)
        try:
            config = environ.Env.db_url_config(value)
        except Exception as exc:  # django-environ raises several types for bad URLs
            problem = str(exc).replace(value, shown)
            raise ImproperlyConfigured(
                f"{name}={shown!r} is not a database URL: {problem}"
            ) from None
        if config.get("ENGINE") not in SUPPORTED_DATABASE_ENGINES:
            scheme = urlsplit(value).scheme or "(none)"
            raise ImproperlyConfigured(
                f"{name}={shown!r}: database scheme {scheme!r} is not supported "
                "(use sqlite:///path or postgres://user@host:port/name)"
            )
        return config

    def url(self, name: str, default: str, *, schemes: tuple[str, ...]) -> str:
        """An absolute URL with one of ``schemes``; a trailing ``/`` is dropped."""
        value = self.str(name, default)
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.netloc:
            raise ImproperlyConfigured(
                f"{name}={value!r} is not a URL starting with {' or '.join(s + '://' for s in schemes)}"
            )
        return value.rstrip("/")

    def csv(self, name: str, default: str, *, choices: tuple[str, ...] | None = None) -> list[str]:
        """A comma-separated list (blanks dropped); with ``choices`` every item must be one."""
        items = [item.strip() for item in self.str(name, default).split(",") if item.strip()]
        if choices is not None:
            bad = [item for item in items if item not in choices]
            if bad:
                raise ImproperlyConfigured(
                    f"{name}: {', '.join(map(repr, bad))} not among {', '.join(choices)}"
                )
        return items
