"""The epochs and layers tables as one pair: replaced by one rename, read back only as a match.

`write_pair` writes both Parquet files into a new generation folder, then switches one symbolic
link to it, so readers see the old pair or the new one and never one of each, even when the
writer is killed at any moment. The tables stay readable where they always were (pandas, duckdb
and every tool follow the links):

    NAME/epochs.parquet -> .epochs.parquet.pair/current/epochs.parquet
    NAME/layers.parquet -> .epochs.parquet.pair/current/layers.parquet
    NAME/.epochs.parquet.pair/current -> <generation id>     (the one rename)
    NAME/.epochs.parquet.pair/<generation id>/{epochs,layers}.parquet

Writers of one pair take turns (an exclusive `flock` on the pair folder's `lock` file); each
removes what an earlier, killed writer left (a generation that never became current, temporary
files), so nothing of a failed write outlives the next one. Where the file system has no
symbolic links, or the two files are in different folders, both are renamed one after the other
(`nc_core.results.atomic.write_together`).

Both tables carry one generation id in their Parquet schema metadata (key `GENERATION_KEY`), and
any `meta` the writer adds (`metadata_of` reads it back); `read_pair` refuses a pair whose ids
differ, naming both files: the trace of files copied from different runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from nc_core.results.atomic import (
    arrow_table,
    clean_stale_temps,
    current_umask,
    fsync_dir,
    fsync_file,
    new_file,
    temp_prefix,
    write_together,
)

try:
    import fcntl
except ImportError:  # not POSIX: writers of one pair are not serialized
    fcntl = None

GENERATION_KEY = b"nc_generation"
CURRENT, LOCK = "current", "lock"  # in the pair folder: the link to the live generation, the lock


class MismatchedTables(ValueError):
    """The two tables of a pair come from different writes."""


def _writer(df: pd.DataFrame, generation: str, meta: Mapping[str, str]):
    def write(tmp: str) -> None:
        table = arrow_table(df)
        extra = {k.encode(): v.encode() for k, v in meta.items()}
        stamped = {**(table.schema.metadata or {}), **extra, GENERATION_KEY: generation.encode()}
        pq.write_table(table.replace_schema_metadata(stamped), tmp)

    return write


def pair_folder(epochs_path: str | os.PathLike) -> Path:
    """The hidden folder holding the generations of the pair whose epochs table is at
    `epochs_path`."""
    path = Path(epochs_path)
    return path.parent / f".{path.name}.pair"


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold the exclusive lock of a pair folder (a no-op where flock does not exist)."""
    if fcntl is None:
        yield
        return
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o666 & ~current_umask())
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _clean(folder: Path, keep: str | None, targets: list[Path]) -> None:
    """Remove every generation but `keep` and every temporary file in the pair `folder`, and the
    targets' own stale temporary files beside them (the lock is held: no other writer)."""
    for entry in folder.iterdir():
        if entry.name in (LOCK, CURRENT) or entry.name == keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    for target in targets:
        clean_stale_temps(target)


def _link(target: str, at: Path) -> None:
    """Make `at` a symbolic link to `target` in one rename (a link of a temporary name first)."""
    if at.is_symlink() and os.readlink(at) == target:
        return
    tmp = at.parent / f"{temp_prefix(at)}{uuid.uuid4().hex[:8]}.tmp"
    os.symlink(target, tmp)
    try:
        os.replace(tmp, at)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _live(folder: Path) -> str | None:
    link = folder / CURRENT
    return os.readlink(link) if link.is_symlink() else None


def _symlinks_work(folder: Path) -> bool:
    probe = folder / f"{temp_prefix(folder / 'probe')}{uuid.uuid4().hex[:8]}.tmp"
    try:
        os.symlink(".", probe)
    except (OSError, NotImplementedError):
        return False
    probe.unlink()
    return True


def write_pair(
    epochs: pd.DataFrame,
    layers: pd.DataFrame,
    epochs_path: str | os.PathLike,
    layers_path: str | os.PathLike,
    *,
    meta: Mapping[str, str] | None = None,
) -> str:
    """Write both tables (both or neither replaced, by one rename); return the generation id
    stamped on both. `meta`: more key -> value pairs for both tables' Parquet metadata."""
    epochs_path, layers_path = Path(epochs_path), Path(layers_path)
    generation = uuid.uuid4().hex
    writes = {
        epochs_path: _writer(epochs, generation, meta or {}),
        layers_path: _writer(layers, generation, meta or {}),
    }
    parent = epochs_path.parent
    parent.mkdir(parents=True, exist_ok=True)
    if layers_path.parent.resolve() != parent.resolve() or epochs_path.name == layers_path.name:
        write_together(writes)
        return generation
    folder = pair_folder(epochs_path)
    folder.mkdir(exist_ok=True)
    with _locked(folder):
        _clean(folder, _live(folder), [epochs_path, layers_path])
        if not _symlinks_work(folder):
            write_together(writes)
            return generation
        new = folder / generation
        new.mkdir()
        mode = 0o666 & ~current_umask()
        try:
            for path, write in writes.items():
                tmp = new_file(new, f".{path.name}.", mode)
                write(tmp)
                fsync_file(tmp)
                os.replace(tmp, new / path.name)
            fsync_dir(new)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise
        _link(generation, folder / CURRENT)  # the one rename: both tables switch here
        fsync_dir(folder)
        for path in (epochs_path, layers_path):  # in place from the first write on
            _link(f"{folder.name}/{CURRENT}/{path.name}", path)
        fsync_dir(parent)
        _clean(folder, generation, [])
    return generation


def metadata_of(path: str | os.PathLike) -> dict[str, str]:
    """The Parquet schema metadata of `path` as text (pandas' own entry left out)."""
    meta = pq.read_schema(path).metadata or {}
    return {k.decode(): v.decode() for k, v in meta.items() if k != b"pandas"}


def generation_of(path: str | os.PathLike) -> str | None:
    """The generation id of a Parquet file written by `write_pair` (None: not stamped)."""
    return metadata_of(path).get(GENERATION_KEY.decode())


def check_pair(epochs_path: str | os.PathLike, layers_path: str | os.PathLike) -> None:
    """Raise MismatchedTables naming both files when their generation ids differ, or when one is
    stamped and the other not. Two unstamped files (written before pairs were stamped) pass."""
    a, b = generation_of(epochs_path), generation_of(layers_path)
    if a != b:
        raise MismatchedTables(
            f"{Path(epochs_path)} (generation {a}) and {Path(layers_path)} (generation {b}) "
            "come from different writes: a mismatched pair. Rewrite both (rerun, or a study's "
            "--export-only)"
        )


def live_paths(epochs_path: str | os.PathLike, layers_path: str | os.PathLike) -> tuple[Path, Path]:
    """The files of the pair's current generation, resolved once: both of one write even when
    another write switches the pair between reading the two. Paths not written by the
    generation scheme are returned as they are."""
    epochs_path, layers_path = Path(epochs_path), Path(layers_path)
    folder = pair_folder(epochs_path)
    live = _live(folder)
    for path in (epochs_path, layers_path):
        if live is None or not path.is_symlink():
            return epochs_path, layers_path
        if os.readlink(path) != f"{folder.name}/{CURRENT}/{path.name}":
            return epochs_path, layers_path  # not (or no longer) both of this pair
    return folder / live / epochs_path.name, folder / live / layers_path.name


def read_pair(
    epochs_path: str | os.PathLike, layers_path: str | os.PathLike
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(epochs, layers) read from a pair written by `write_pair`, after `check_pair`; both from
    one generation (`live_paths`; once more if a write removed it while it was read)."""
    a, b = live_paths(epochs_path, layers_path)
    try:
        check_pair(a, b)
        return pd.read_parquet(a), pd.read_parquet(b)
    except FileNotFoundError:
        if (a, b) == (Path(epochs_path), Path(layers_path)):
            raise
    a, b = live_paths(epochs_path, layers_path)  # a write replaced that generation meanwhile
    check_pair(a, b)
    return pd.read_parquet(a), pd.read_parquet(b)
