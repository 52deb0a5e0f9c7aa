"""Replay test fixtures: the bundled sample datasets and a writer for small datasets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sample"

WriteDataset = Callable[[Path, dict[str, str]], Path]


@pytest.fixture
def sample_dir() -> Path:
    """``data/sample`` of this repository (holds ``try-1m/`` and ``usdt-5m/``)."""
    return SAMPLE_DIR


@pytest.fixture
def write_dataset() -> WriteDataset:
    """``write_dataset(root, {"candles/BTC_TRY.csv": text, ...}) -> root``.

    Writes each file (relative path -> UTF-8 text, written byte for byte) under ``root``,
    creating folders; returns ``root``.
    """

    def write(root: Path, files: dict[str, str]) -> Path:
        for rel, text in files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode("utf-8"))
        return root

    return write
