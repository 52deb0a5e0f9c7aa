"""Parsers for BTCTurk's public market data: exchangeinfo, server time, ticker, order book,
trades and the graph API candles (reference/btcturk_api.md section 2).

Each function takes the decoded JSON of one response (envelope or the bare ``data`` part that
recorded sources keep) and returns :mod:`trading.domain.reports` types. Envelope errors raise
the classified exchange error; a missing or malformed field raises
:class:`~trading.exchange.errors.PayloadError` naming the field and the endpoint. Unknown
extra fields are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from trading.domain.reports import BookLevel, Candle, OrderBook, PublicTrade, Ticker
from trading.domain.rules import RulesBook, RulesError, rules_from_exchangeinfo
from trading.domain.symbols import Symbol
from trading.exchange.btcturk import urls
from trading.exchange.btcturk.parse import SIDES, Node, root, symbol_from
from trading.exchange.errors import PayloadError

ZERO = Decimal(0)


def parse_exchange_info(payload: object, *, endpoint: str = urls.EXCHANGE_INFO.label) -> RulesBook:
    """``GET /api/v2/server/exchangeinfo`` (reference 2.1) -> :class:`RulesBook`.

    Symbol entries are parsed by :func:`trading.domain.rules.rules_from_exchangeinfo`: a bad
    entry lands in ``RulesBook.skipped`` with its reason and never fails the others. Raises
    :class:`PayloadError` (field ``data.symbols``) when there is no symbol list or the rules
    code cannot digest a value at all (e.g. an exponent beyond the Decimal context).
    """
    data = root(payload, endpoint).mapping()
    try:
        return rules_from_exchangeinfo(_decimals_as_text(data))
    except RulesError as exc:
        raise PayloadError(str(exc), field="data.symbols", endpoint=endpoint) from None
    except (ArithmeticError, ValueError, TypeError) as exc:
        # rules.py converts only well-behaved numbers; huge exponents overflow its context.
        raise PayloadError(
            f"unusable value ({type(exc).__name__})", field="data.symbols", endpoint=endpoint
        ) from None


def _decimals_as_text(value: object) -> object:
    """Copy of ``value`` with ``Decimal`` leaves as strings (rules.py reads int/float/str)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {key: _decimals_as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decimals_as_text(item) for item in value]
    return value


def parse_server_time(payload: object, *, endpoint: str = urls.SERVER_TIME.label) -> int:
    """``GET /api/v2/server/time`` (reference 2.6) -> server clock, epoch ms.

    The endpoint answers with a bare ``{"serverTime": ms, "serverTime2": iso}``; an envelope
    around it is accepted too.
    """
    return root(payload, endpoint, name="").req("serverTime").ms()


def parse_tickers(payload: object, *, endpoint: str = urls.TICKER.label) -> tuple[Ticker, ...]:
    """``GET /api/v2/ticker`` (reference 2.2) -> tickers in the venue's order.

    Prices are JSON numbers here; ``last`` and ``timestamp`` are required, ``bid``/``ask``/
    ``open``/``high``/``low``/``volume`` are ``None`` when absent. The symbol comes from
    ``numeratorSymbol``/``denominatorSymbol`` (else ``pairNormalized``/``pair``).
    """
    return tuple(_ticker(item) for item in root(payload, endpoint).items())


def _ticker(node: Node) -> Ticker:
    def optional(key: str) -> Decimal | None:
        child = node.opt(key)
        return None if child is None else child.decimal(minimum=ZERO)

    return Ticker(
        symbol=symbol_from(
            node, ("numeratorSymbol", "denominatorSymbol"), ("pairNormalized", "pair")
        ),
        ts_ms=node.req("timestamp").ms(),
        last=node.req("last").decimal(minimum=ZERO),
        bid=optional("bid"),
        ask=optional("ask"),
        open=optional("open"),
        high=optional("high"),
        low=optional("low"),
        volume=optional("volume"),
    )


def parse_order_book(
    payload: object, symbol: Symbol, *, endpoint: str = urls.ORDER_BOOK.label
) -> OrderBook:
    """``GET /api/v2/orderbook`` (reference 2.3) -> :class:`OrderBook` of ``symbol``.

    Levels are ``[price, amount]`` string pairs; both must be positive. Bids are returned
    highest first and asks lowest first (sorted here, whatever the wire order). ``timestamp``
    may be a float (``1647493701782.0``); fractions of a millisecond are floored.
    """
    data = root(payload, endpoint)
    bids = sorted(_levels(data.req("bids")), key=lambda level: level.price, reverse=True)
    asks = sorted(_levels(data.req("asks")), key=lambda level: level.price)
    return OrderBook(
        symbol=symbol, ts_ms=data.req("timestamp").ms(), bids=tuple(bids), asks=tuple(asks)
    )


def _levels(node: Node) -> list[BookLevel]:
    return [
        BookLevel(price=row.at(0).decimal(positive=True), quantity=row.at(1).decimal(positive=True))
        for row in node.items()
    ]


def parse_trades(payload: object, *, endpoint: str = urls.TRADES.label) -> tuple[PublicTrade, ...]:
    """``GET /api/v2/trades`` (reference 2.4) -> public trades in the venue's order.

    ``tid`` is kept as a string (it exceeds 2**53); ``side`` is the taker side
    (``buy``/``sell``, any case); ``date`` is epoch ms.
    """
    return tuple(_public_trade(item) for item in root(payload, endpoint).items())


def _public_trade(node: Node) -> PublicTrade:
    return PublicTrade(
        symbol=symbol_from(node, ("numerator", "denominator"), ("pairNormalized", "pair")),
        trade_id=node.req("tid").ident(),
        ts_ms=node.req("date").ms(),
        price=node.req("price").decimal(positive=True),
        quantity=node.req("amount").decimal(positive=True),
        side=node.req("side").choice(SIDES),
    )


def parse_klines(
    payload: object, symbol: Symbol, *, endpoint: str = urls.KLINES.label
) -> tuple[Candle, ...]:
    """Graph API ``GET /v1/klines/history`` (reference 2.5) -> candles of ``symbol``.

    TradingView shape: ``{"s": "ok", "t": [...], "o", "h", "l", "c", "v"}`` parallel arrays
    with ``t`` the open time in **seconds** (converted to ms here). ``s == "no_data"`` gives
    ``()``; any other status, or arrays of different lengths, raise :class:`PayloadError`.
    """
    data = root(payload, endpoint, name="")
    status = data.req("s").text().lower()
    if status == "no_data":
        return ()
    if status != "ok":
        raise data.req("s").fail(f"status {status!r} is not 'ok'")
    columns = {key: list(data.req(key).items()) for key in ("t", "o", "h", "l", "c", "v")}
    count = len(columns["t"])
    for key, column in columns.items():
        if len(column) != count:
            raise data.req(key).fail(f"has {len(column)} values, 't' has {count}")
    return tuple(
        Candle(
            symbol=symbol,
            ts_ms=columns["t"][i].seconds_as_ms(),
            open=columns["o"][i].decimal(positive=True),
            high=columns["h"][i].decimal(positive=True),
            low=columns["l"][i].decimal(positive=True),
            close=columns["c"][i].decimal(positive=True),
            volume=columns["v"][i].decimal(minimum=ZERO),
        )
        for i in range(count)
    )


def parse_ohlcs(
    payload: object, symbol: Symbol | None = None, *, endpoint: str = urls.OHLCS.label
) -> tuple[Candle, ...]:
    """Graph API ``GET /v1/ohlcs`` (reference 2.5) -> daily candles.

    A bare list of ``{pair, time (s), open, high, low, close, volume, ...}`` (numbers).
    The symbol is ``symbol`` when given, else parsed from each row's ``pair`` (``BTCTRY``).
    """
    return tuple(_ohlc(item, symbol) for item in root(payload, endpoint, name="").items())


def _ohlc(node: Node, symbol: Symbol | None) -> Candle:
    node.mapping()
    return Candle(
        symbol=symbol or node.first("pairNormalized", "pair").pair(),
        ts_ms=node.req("time").seconds_as_ms(),
        open=node.req("open").decimal(positive=True),
        high=node.req("high").decimal(positive=True),
        low=node.req("low").decimal(positive=True),
        close=node.req("close").decimal(positive=True),
        volume=node.req("volume").decimal(minimum=ZERO),
    )
