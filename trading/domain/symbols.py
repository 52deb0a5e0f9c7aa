"""Trading symbols: a base and a quote asset, with both BTCTurk spellings.

BTCTurk names a pair ``BTCTRY`` (``name``/``pairSymbol``) or ``BTC_TRY`` (``nameNormalized``)
and accepts either on most endpoints (reference/btcturk_api.md section 1). We keep both forms
and let each caller pick the one an endpoint or file needs; nothing strips underscores blindly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Quote assets recognised when a pair arrives without a separator (``BTCTRY``). Longest first
# so that ``USDT`` wins over ``USD``.
KNOWN_QUOTES: tuple[str, ...] = ("USDT", "USDC", "TRY", "EUR", "USD", "GBP", "BTC", "ETH")


class SymbolError(ValueError):
    """A pair name that cannot be split into base and quote."""


@dataclass(frozen=True, slots=True, order=True)
class Symbol:
    """A spot pair. ``base`` is what is bought or sold, ``quote`` what prices are in."""

    base: str
    quote: str
    _hash: int = field(init=False, repr=False, compare=False)
    _text: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Symbols key every per-symbol dict on the hot path; hash once, not per lookup, and
        # format once: results name the symbol in every row.
        object.__setattr__(self, "_hash", hash((self.base, self.quote)))
        object.__setattr__(self, "_text", f"{self.base}_{self.quote}")

    def __hash__(self) -> int:
        return self._hash

    @property
    def pair(self) -> str:
        """BTCTurk ``pairSymbol`` form without separator, e.g. ``BTCTRY``."""
        return f"{self.base}{self.quote}"

    @property
    def pair_normalized(self) -> str:
        """BTCTurk ``nameNormalized`` form, e.g. ``BTC_TRY`` (also our file and display form)."""
        return self._text

    def __str__(self) -> str:
        return self._text


def parse_symbol(text: str, *, quotes: tuple[str, ...] = KNOWN_QUOTES) -> Symbol:
    """Parse ``BTC_TRY``, ``btc_try``, ``BTC/TRY`` or ``BTCTRY`` into a :class:`Symbol`.

    Without a separator the quote is found among ``quotes`` (suffix match, longest first).
    Raises :class:`SymbolError` naming the text when it cannot be split.
    """
    cleaned = text.strip().upper()
    for sep in ("_", "/", "-"):
        if sep in cleaned:
            base, _, quote = cleaned.partition(sep)
            if base and quote and base.isalnum() and quote.isalnum():
                return Symbol(base, quote)
            raise SymbolError(f"pair {text!r} is not BASE{sep}QUOTE")
    for quote in sorted(quotes, key=len, reverse=True):
        if cleaned.endswith(quote) and len(cleaned) > len(quote) and cleaned.isalnum():
            return Symbol(cleaned[: -len(quote)], quote)
    raise SymbolError(f"pair {text!r} has no known quote asset ({', '.join(quotes)})")
