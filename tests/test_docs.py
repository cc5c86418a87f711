"""The documentation against the code: the README's size, the table schema in docs/tables.md
against the columns `nc_core.results.records` writes, and a repository that speaks of the
project only (no notes on how it was written)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from nc_core.results.records import (
    CONFIG_COLUMNS,
    EPOCH_COLUMNS,
    LAYER_COLUMNS,
    model_option_columns,
)

REPO = Path(__file__).resolve().parents[1]
README_LIMIT = 15 * 1024  # bytes: a ten-minute read
# How a repository talks about the way it was written rather than about itself.
HISTORY = re.compile(
    r"\blent\b|referee|reviewer|\bthe review\b|\bissue \d+|issue #\d+|sessions that",
    re.IGNORECASE,
)


def sections(text: str) -> dict[str, list[str]]:
    """Heading -> the backticked names that start the table rows under it."""
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            out[current] = []
        match = re.match(r"\| `([a-z0-9_]+)` \|", line)
        if match and current is not None:
            out[current].append(match.group(1))
    return out


def test_the_readme_is_a_ten_minute_read():
    assert (REPO / "README.md").stat().st_size <= README_LIMIT


def test_docs_tables_lists_every_column_the_code_writes_once_per_table():
    found = sections((REPO / "docs" / "tables.md").read_text())
    config = CONFIG_COLUMNS + model_option_columns()
    for heading, columns in (
        ("epochs.parquet", EPOCH_COLUMNS),
        ("layers.parquet", LAYER_COLUMNS),
        ("Config columns (both tables)", config),
    ):
        names = found[heading]
        assert len(names) == len(set(names)), f"{heading}: a column listed twice"
        assert set(names) == set(columns), f"{heading}: docs {set(names) ^ set(columns)} differ"


def test_no_tracked_file_talks_about_how_the_project_was_written():
    files = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    hits = []
    for name in files:
        path = REPO / name
        if name.startswith("tests/fixtures/") or path.suffix not in (
            ".py",
            ".md",
            ".sh",
            ".yaml",
            ".toml",
            "",
        ):
            continue
        if not path.is_file() or name == "tests/test_docs.py":
            continue
        for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if HISTORY.search(line):
                hits.append(f"{name}:{i}: {line.strip()}")
    assert hits == []
