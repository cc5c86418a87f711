"""Atomic file output: write to temporary files beside the targets, then rename them into place.

A crash or a concurrent reader never sees a half-written table, checkpoint, figure or report.
`write_together` replaces several files together or not at all: every temporary file is written
and flushed to disk before the first rename, so a full disk or a failed write leaves all the old
files in place. Files get the usual mode of a new file (0666 less the umask), not mkstemp's 0600.
A temporary file's name says which process wrote it (`.NAME.nc-HOST-PID-XXXXXXXX.tmp`), so one
left by a killed process (SIGKILL allows no clean-up) is removed by the next write of the same
file on that host (`clean_stale_temps`). `check_writable` refuses an output path before any work
is done.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:  # pandas is needed only by the caller that passes a DataFrame
    import pandas as pd

Write = Callable[[str], None]
_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (no race with threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def fsync_dir(directory: Path) -> None:
    """Flush a folder's entries (renames into it) to disk, where the file system allows."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the renames are still atomic
    finally:
        os.close(fd)


OLD_TEMP_AGE_S = 24 * 3600  # a temporary file without a writer in its name, older than this


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"


def temp_prefix(path: Path) -> str:
    """The start of the name of a temporary file for `path`, naming this host and process."""
    return f".{path.name}.nc-{_host()}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def clean_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of `path` that no live writer owns: those of a process of this
    host that is gone, and those without a writer in their name (written before names carried
    one) older than `OLD_TEMP_AGE_S`. Returns what was removed."""
    path = Path(path)
    mine = re.compile(rf"^\.{re.escape(path.name)}\.nc-(.+)-(\d+)-[^.]+\.tmp$")
    unnamed = re.compile(rf"^\.{re.escape(path.name)}\.[^.]+\.tmp$")
    removed = []
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return removed
    for tmp in siblings:
        m = mine.match(tmp.name)
        if m:
            stale = m.group(1) == _host() and not _alive(int(m.group(2)))
        elif unnamed.match(tmp.name):
            try:
                stale = time.time() - tmp.lstat().st_mtime > OLD_TEMP_AGE_S
            except OSError:
                continue
        else:
            continue
        if stale:
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def new_file(folder: Path, prefix: str, mode: int) -> str:
    """Create an empty temporary file in `folder` with `mode`; its path."""
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return tmp


def fsync_file(path: str | os.PathLike) -> None:
    """Flush the file at `path` to disk."""
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def write_together(writes: Mapping[str | os.PathLike, Write]) -> list[Path]:
    """Call each `write(tmp_path)`, flush every temporary file to disk, then rename each to its
    path. If any write fails, no target is touched and no temporary file is left; stale
    temporary files of the targets (a killed writer's) are removed first."""
    targets = [Path(p) for p in writes]
    temps: dict[Path, str] = {}
    mode = 0o666 & ~current_umask()
    try:
        for path, write in zip(targets, writes.values(), strict=True):
            path.parent.mkdir(parents=True, exist_ok=True)
            clean_stale_temps(path)
            tmp = new_file(path.parent, temp_prefix(path), mode)
            temps[path] = tmp
            write(tmp)
            fsync_file(tmp)
        for path, tmp in temps.items():
            os.replace(tmp, path)
    except BaseException:
        for tmp in temps.values():
            Path(tmp).unlink(missing_ok=True)
        raise
    for directory in {p.parent for p in targets}:
        fsync_dir(directory)
    return targets


def write_atomic(path: str | os.PathLike, write: Write) -> Path:
    """Call `write(tmp_path)`, then rename the temporary file to `path`; return `path`."""
    return write_together({path: write})[0]


def check_writable(path: str | os.PathLike, *, flag: str, directory: bool = False) -> None:
    """Raise ValueError (naming `flag`) unless `path` can be written: a file path that is not a
    directory (or with `directory=True`, a directory), whose nearest existing folder accepts new
    files. Leaves nothing behind: the probe is an unnamed temporary file."""
    path = Path(path).absolute()
    if path.exists() and path.is_dir() != directory:
        want, found = ("a directory", "a file") if directory else ("a file path", "a directory")
        raise ValueError(f"{flag} {path}: expected {want}, found {found}")
    folder = path if directory and path.is_dir() else path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"{flag} {path}: {folder} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ValueError(
            f"{flag} {path}: cannot write in {folder} ({err.strerror}); pass a writable place"
        ) from None


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    return write_atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def arrow_table(df: pd.DataFrame) -> pa.Table:
    """`df` (no index) as an Arrow table, a column of lists that are all empty typed
    `list<string>` (Arrow would infer `list<null>`, which readers such as duckdb cannot group
    or compare with the same column of another table)."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    for i, f in enumerate(table.schema):
        if pa.types.is_list(f.type) and pa.types.is_null(f.type.value_type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.list_(pa.string())))
    return table


def write_parquet_atomic(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the DataFrame `df` to `path` as Parquet (no index) atomically (`arrow_table`)."""
    return write_atomic(path, lambda tmp: pq.write_table(arrow_table(df), tmp))


def write_csv_atomic(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the DataFrame `df` to `path` as CSV (no index) atomically."""
    return write_atomic(path, lambda tmp: df.to_csv(tmp, index=False))


def device_of(path: str | os.PathLike) -> str:
    """The device holding `path` as a reader knows it: "the tmpfs at /mnt/x (12 KiB free)",
    from the mount table where there is one (Linux), else its mount point."""
    here = Path(path).absolute()
    while not here.exists() and here != here.parent:
        here = here.parent
    dev, mount = here.stat().st_dev, here
    while mount != mount.parent and mount.parent.stat().st_dev == dev:
        mount = mount.parent
    kind = "file system"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 2 and fields[1] == str(mount):
                kind = fields[2]
    except OSError:
        pass
    st = os.statvfs(here)
    return f"the {kind} at {mount} ({st.f_bavail * st.f_frsize // 1024} KiB free)"
