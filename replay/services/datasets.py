"""Dataset services: validate a replay dataset directory and register it; load it back.

A :class:`~replay.models.Dataset` row records the directory's absolute path and fingerprint
(sha256 over its files, see :class:`replay.domain.dataset.ReplayDataset`). Importing is
idempotent per name: the same files again change nothing; different files need ``replace``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction

from meva.errors import ApplicationError
from replay.domain.dataset import (
    RULES_DEFAULT,
    RULES_EXCHANGEINFO,
    CandleSeries,
    DatasetError,
    DatasetInvalid,
    ReplayDataset,
    iso_utc,
    load_dataset,
)
from replay.fast_columns import FAST_KERNELS
from replay.models import Dataset, DatasetSeries
from trading.domain.rules import ExchangeRules
from trading.domain.symbols import Symbol


class DatasetRejected(ApplicationError):
    """The directory failed validation; ``errors`` lists the problems (file, line, column)."""

    def __init__(self, invalid: DatasetInvalid) -> None:
        self.errors: list[DatasetError] = invalid.errors
        super().__init__(str(invalid))


class DatasetConflict(ApplicationError):
    """A dataset with this name exists with other files; re-import with ``replace=True``."""


class DatasetChanged(ApplicationError):
    """The files on disk no longer match the registered fingerprint."""


class ImportOutcome(enum.StrEnum):
    CREATED = "created"
    UNCHANGED = "unchanged"
    REPLACED = "replaced"


@dataclass(frozen=True, slots=True)
class DatasetImportResult:
    """What :func:`dataset_import` did, the row, and its series rows ordered by symbol."""

    outcome: ImportOutcome
    dataset: Dataset
    series: tuple[DatasetSeries, ...]


@transaction.atomic
def dataset_import(*, path: Path, name: str, replace: bool = False) -> DatasetImportResult:
    """Validate the dataset directory ``path`` and register it as ``name`` (a slug).

    Validation runs before any write, so an invalid directory writes nothing. Same name and
    same fingerprint: ``UNCHANGED``, no write (except the stored path, if the same files
    were moved to another directory). Same name, other fingerprint: raises
    :class:`DatasetConflict` unless ``replace``, which updates the row and recreates its
    series rows (``REPLACED``). Raises :class:`DatasetRejected` (validation errors) or
    :class:`ApplicationError` (bad name).
    """
    try:
        validate_slug(name)
    except ValidationError:
        raise ApplicationError(
            f"dataset name {name!r} must be a slug (letters, digits, - _)"
        ) from None
    replay = _load(Path(path))
    existing = Dataset.objects.select_for_update().filter(name=name).first()
    if existing is not None and existing.fingerprint == replay.fingerprint:
        if existing.path != str(replay.path):
            Dataset.objects.filter(pk=existing.pk).update(path=str(replay.path))
            existing.refresh_from_db()
        return DatasetImportResult(ImportOutcome.UNCHANGED, existing, _series_of(existing))
    if existing is not None and not replace:
        raise DatasetConflict(
            f"dataset {name!r} exists with other files (fingerprint {existing.fingerprint[:12]},"
            f" now {replay.fingerprint[:12]}); re-import with --replace"
        )
    fields = _dataset_fields(replay)
    if existing is None:
        dataset = Dataset.objects.create(name=name, **fields)
        outcome = ImportOutcome.CREATED
    else:
        for field, value in fields.items():
            setattr(existing, field, value)
        existing.save()
        existing.series.all().delete()
        dataset, outcome = existing, ImportOutcome.REPLACED
    DatasetSeries.objects.bulk_create(
        _series_row(dataset, replay, symbol) for symbol in replay.series
    )
    return DatasetImportResult(outcome, dataset, _series_of(dataset))


def dataset_load(dataset: Dataset) -> ReplayDataset:
    """Load the registered dataset from its stored path for a backtest.

    Raises :class:`DatasetRejected` if the files no longer validate and
    :class:`DatasetChanged` if they differ from the fingerprint recorded at import.
    """
    replay = _load(Path(dataset.path))
    if replay.fingerprint != dataset.fingerprint:
        raise DatasetChanged(
            f"dataset {dataset.name!r}: files in {dataset.path} changed since import "
            f"(fingerprint {replay.fingerprint[:12]}, registered {dataset.fingerprint[:12]});"
            " re-import with --replace"
        )
    return replay


def _load(path: Path) -> ReplayDataset:
    cache = settings.DATASET_CACHE_DIR
    try:
        return load_dataset(path, cache_dir=Path(cache) if cache else None, kernels=FAST_KERNELS)
    except DatasetInvalid as exc:
        raise DatasetRejected(exc) from None


def _series_of(dataset: Dataset) -> tuple[DatasetSeries, ...]:
    return tuple(dataset.series.order_by("symbol"))


def _dataset_fields(replay: ReplayDataset) -> dict[str, object]:
    sources = set(replay.rules_source.values())
    if sources == {RULES_EXCHANGEINFO}:
        rules_source = "exchangeinfo.json"
    elif sources == {RULES_DEFAULT}:
        rules_source = "defaults"
    else:
        rules_source = "exchangeinfo.json+defaults"
    return {
        "path": str(replay.path),
        "fingerprint": replay.fingerprint,
        "quote_asset": replay.quote_asset,
        "interval_ms": replay.interval_ms,
        "first_ts": _moment(replay.first_ts),
        "last_ts": _moment(replay.last_ts),
        "bar_count": replay.bar_count,
        "has_book": bool(replay.books),
        "rules_source": rules_source,
    }


def _series_row(dataset: Dataset, replay: ReplayDataset, symbol: Symbol) -> DatasetSeries:
    series: CandleSeries = replay.series[symbol]
    return DatasetSeries(
        dataset=dataset,
        symbol=str(symbol),
        first_ts=_moment(series.first_ts),
        last_ts=_moment(series.last_ts),
        bars=len(series),
        gap_count=len(series.gaps),
        missing_bars=series.missing_bars,
        gaps=[[iso_utc(gap.start_ts_ms), gap.missing_bars] for gap in series.gaps],
        rules=_rules_json(replay.rules[symbol], replay.rules_source[symbol], series),
    )


def _rules_json(rules: ExchangeRules, source: str, series: CandleSeries) -> dict[str, object]:
    """Decimals as strings (exact); ``None`` for an open price band."""
    return {
        "source": source,
        "tick_size": str(rules.tick_size),
        "step_size": str(rules.step_size),
        "min_notional": str(rules.min_notional),
        "min_price": None if rules.min_price is None else str(rules.min_price),
        "max_price": None if rules.max_price is None else str(rules.max_price),
        "status": rules.status,
        "order_methods": sorted(rules.order_methods),
        "price_scale": series.price_scale,
        "volume_scale": series.volume_scale,
    }


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _moment(ts_ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime (exact; no float rounding)."""
    return _EPOCH + timedelta(milliseconds=ts_ms)
