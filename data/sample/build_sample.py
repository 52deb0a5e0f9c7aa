"""Build the bundled replay samples in this directory from the shared market-data set.

Usage (from the repository root; standard library only)::

    python data/sample/build_sample.py /path/to/shared/data/market \
        [--exchangeinfo tests/fixtures/btcturk/rest_exchangeinfo_btctry_aavetry_hummingbot_20220315.json]

Writes, next to this script:

- ``try-1m/candles/{BTC,ETH,USDT,AVAX}_TRY.csv``: all 1,000 rows of ``try/binance_<PAIR>_1m_*.csv``
  (columns ``Kline open time``, ``Open price``, ``High price``, ``Low price``, ``Close price``,
  ``Volume``), plus ``try-1m/exchangeinfo.json`` (a byte copy of the recorded BTCTurk
  exchangeinfo response; it holds BTC_TRY rules, the other pairs get the documented defaults);
- ``usdt-5m/candles/{BTC,ETH,SOL,AVAX}_USDT.csv``: the rows of
  ``binance_<PAIR>_5m_2024-01-01_2024-09-06.csv`` with open time in
  2024-01-01T00:00Z .. 2024-03-31T23:55Z (columns ``open_time_ms``, ``open`` .. ``volume``);
- ``README.md``: provenance table (source, rows, first/last open time, sha256 of each output).

Output format (README "Replay datasets"): header ``ts,open,high,low,close,volume``, ``ts`` the
open time in epoch milliseconds (UTC), numbers normalised (no trailing zeros, no exponent).
Each source file is checked against the sha256 prefix recorded in the shared README, so a
rebuild either reproduces the same bytes or fails.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_EXCHANGEINFO = (
    REPO / "tests/fixtures/btcturk/rest_exchangeinfo_btctry_aavetry_hummingbot_20220315.json"
)
EXCHANGEINFO_SOURCE = (
    "orhanb/hummingbot @ 2a24fb63, test/hummingbot/connector/exchange/btcturk/"
    "test_btcturk_api_order_book_data_source.py (test_fetch_trading_pairs), recorded 2022-03-15;"
    " trimmed by that test to BTC_TRY and AAVE_TRY; copied from tests/fixtures/btcturk/"
    "rest_exchangeinfo_btctry_aavetry_hummingbot_20220315.json"
)
USDT_FIRST_MS = 1704067200000  # 2024-01-01T00:00:00Z
USDT_LAST_MS = 1711929300000  # 2024-03-31T23:55:00Z
HEADER = ("ts", "open", "high", "low", "close", "volume")
TRY_COLUMNS = ("Kline open time", "Open price", "High price", "Low price", "Close price", "Volume")
USDT_COLUMNS = ("open_time_ms", "open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class Source:
    """One shared market file, where it came from (shared README) and its sha256 prefix."""

    output: str
    source: str
    origin: str
    sha256_prefix: str


TRY_REPO = "github.com/nhatruong1009/CryptoPrediction @ d67fe1d7e039"
USDT_REPO = "github.com/imsatoshi/GeneTrader @ 2b5dfc6e2077"
SOURCES = (
    Source(
        "try-1m/candles/BTC_TRY.csv",
        "try/binance_BTCTRY_1m_2022-11-08_2022-11-09.csv",
        f"{TRY_REPO} : data/BTCTRY.csv",
        "0e50446f5b6d58b7",
    ),
    Source(
        "try-1m/candles/ETH_TRY.csv",
        "try/binance_ETHTRY_1m_2022-11-08_2022-11-09.csv",
        f"{TRY_REPO} : data/ETHTRY.csv",
        "d15cc86eec6bd2dd",
    ),
    Source(
        "try-1m/candles/USDT_TRY.csv",
        "try/binance_USDTTRY_1m_2022-11-08_2022-11-09.csv",
        f"{TRY_REPO} : data/USDTTRY.csv",
        "ff8b2b9f0230df27",
    ),
    Source(
        "try-1m/candles/AVAX_TRY.csv",
        "try/binance_AVAXTRY_1m_2022-11-08_2022-11-09.csv",
        f"{TRY_REPO} : data/AVAXTRY.csv",
        "6f9e1372c0d504eb",
    ),
    Source(
        "usdt-5m/candles/BTC_USDT.csv",
        "binance_BTCUSDT_5m_2024-01-01_2024-09-06.csv",
        f"{USDT_REPO} : user_data/data/binance/BTC_USDT-5m.feather",
        "d4a0c7539874e651",
    ),
    Source(
        "usdt-5m/candles/ETH_USDT.csv",
        "binance_ETHUSDT_5m_2024-01-01_2024-09-06.csv",
        f"{USDT_REPO} : user_data/data/binance/ETH_USDT-5m.feather",
        "187e09d15b595c64",
    ),
    Source(
        "usdt-5m/candles/SOL_USDT.csv",
        "binance_SOLUSDT_5m_2024-01-01_2024-09-06.csv",
        f"{USDT_REPO} : user_data/data/binance/SOL_USDT-5m.feather",
        "c69f858417885b2e",
    ),
    Source(
        "usdt-5m/candles/AVAX_USDT.csv",
        "binance_AVAXUSDT_5m_2024-01-01_2024-09-06.csv",
        f"{USDT_REPO} : user_data/data/binance/AVAX_USDT-5m.feather",
        "2c82a0d3b46c4419",
    ),
)


@dataclass(frozen=True, slots=True)
class Built:
    source: Source
    rows: int
    first_ms: int
    last_ms: int
    sha256: str
    size: int


def normalise(text: str) -> str:
    """``"353137.00000000"`` -> ``"353137"``; ``"0.48821000"`` -> ``"0.48821"``; never an exponent."""
    value = Decimal(text.strip()).normalize()
    return format(value, "f") if value else "0"


def convert(source: Source, market: Path) -> Built:
    """Convert one source file; raises SystemExit if its sha256 differs from the shared README."""
    path = market / source.source
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if not digest.startswith(source.sha256_prefix):
        sys.exit(f"{path}: sha256 {digest[:16]} != expected {source.sha256_prefix}")
    is_try = source.output.startswith("try-1m/")
    columns = TRY_COLUMNS if is_try else USDT_COLUMNS
    rows: list[list[str]] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        at = [header.index(name) for name in columns]
        for record in reader:
            ts = int(record[at[0]])
            if is_try or USDT_FIRST_MS <= ts <= USDT_LAST_MS:
                rows.append([str(ts), *(normalise(record[i]) for i in at[1:])])
    target = HERE / source.output
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    data = target.read_bytes()
    return Built(
        source,
        len(rows),
        int(rows[0][0]),
        int(rows[-1][0]),
        hashlib.sha256(data).hexdigest(),
        len(data),
    )


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def readme(built: list[Built], exchangeinfo_sha: str) -> str:
    table = [
        "| output | source file (shared data/market/) | source repo @ commit : path | rows"
        " | first open (UTC) | last open (UTC) | sha256 of output |",
        "|---|---|---|---|---|---|---|",
    ]
    for item in built:
        s = item.source
        table.append(
            f"| `{s.output}` | `{s.source}` | {s.origin} | {item.rows} | {iso(item.first_ms)}"
            f" | {iso(item.last_ms)} | `{item.sha256}` |"
        )
    table.append(
        f"| `try-1m/exchangeinfo.json` | (BTCTurk fixture) | {EXCHANGEINFO_SOURCE} | - | - | - |"
        f" `{exchangeinfo_sha}` |"
    )
    return README_TEMPLATE.format(table="\n".join(table))


README_TEMPLATE = """# Bundled replay samples

Two small **real** market-data samples in the replay dataset format (README "Replay datasets";
`replay/domain/dataset.py`), small enough to keep in the repository:

- `try-1m/`: BTC_TRY, ETH_TRY, USDT_TRY, AVAX_TRY, 1-minute candles, 1,000 each
  (2022-11-08 22:33 .. 2022-11-09 15:14 UTC, the FTX-collapse sell-off), plus
  `exchangeinfo.json`, a recorded BTCTurk exchangeinfo response: BTC_TRY trades with its real
  rules (tick 10 TRY, step 1e-8 BTC, min notional 99.91 TRY, band 58387.9 .. 5838790); the
  other pairs get the documented defaults (tick 10^-decimals seen, step 1e-8, min notional 10).
- `usdt-5m/`: BTC_USDT, ETH_USDT, SOL_USDT, AVAX_USDT, 5-minute candles for three months
  (2024-01-01T00:00Z .. 2024-03-31T23:55Z, 26,208 each, no gaps).

`make run` imports both; by hand:

    python manage.py import_dataset data/sample/try-1m --name sample-try-1m
    python manage.py import_dataset data/sample/usdt-5m --name sample-usdt-5m

**These are Binance prints, not BTCTurk's.** No BTCTurk-native candle history was found in any
public source; Binance lists the same TRY pairs and its prices track BTCTurk closely, but
volumes, spreads and the exact prints differ. Use them to exercise the engine, not to predict
BTCTurk fills.

## Format

`candles/<BASE>_<QUOTE>.csv` with header `ts,open,high,low,close,volume`; `ts` is the candle
**open** time in epoch milliseconds (UTC); prices in the quote currency; volume in base units.
Numbers are the source values with trailing zeros removed (never an exponent); nothing was
rounded, resampled or filled.

## Provenance

Sources are the shared development market-data set (`data/market/`, see its README for the
authenticity checks); their own origin is the repository named per row. The builder checks
each source's sha256 prefix as recorded in that README before converting.

{table}

## Licences

The underlying data is Binance public market data. Source repositories:
github.com/imsatoshi/GeneTrader is MIT licensed (repo LICENSE); github.com/nhatruong1009/CryptoPrediction
has no licence file (the files are a raw dump of Binance's public klines endpoint);
orhanb/hummingbot (the exchangeinfo fixture) is Apache-2.0. Keep this README with the files.

## Rebuild

    python data/sample/build_sample.py /path/to/shared/data/market

The script (standard library only) rewrites both datasets and this README; a rebuild from the
same sources gives byte-identical files (same sha256 as above).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("market", type=Path, help="the shared data/market directory")
    parser.add_argument("--exchangeinfo", type=Path, default=DEFAULT_EXCHANGEINFO)
    args = parser.parse_args(argv)
    built = [convert(source, args.market) for source in SOURCES]
    target = HERE / "try-1m" / "exchangeinfo.json"
    shutil.copyfile(args.exchangeinfo, target)
    exchangeinfo_sha = hashlib.sha256(target.read_bytes()).hexdigest()
    (HERE / "README.md").write_text(readme(built, exchangeinfo_sha), encoding="utf-8")
    for item in built:
        print(f"{item.source.output}: {item.rows} rows, {item.size} bytes, {item.sha256[:16]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
