"""One driver per study: an exclusive `flock` on a file in the study's local storage folder.

Two drivers of the same study would train every trial twice into the same trial folders and
race on Tune's experiment state. `StudyLock` takes the lock for the whole run (`nc_core.tune.run`);
the file holds the holder's PID and host, so a second driver is refused naming them
(`holder` probes without taking it). The lock goes with the process (closing the file, or the
process ending, releases it), so a killed driver never leaves a study locked. Storage given as a
URI (`s3://`) has no such lock. No Ray here.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no lock
    fcntl = None

LOCK_FILE = "nc_study.lock"  # in the study's Tune experiment folder


class StudyLocked(ValueError):
    """Another driver runs this study now; the message names its PID and host."""


def _busy(path: Path, holder: str) -> StudyLocked:
    return StudyLocked(
        f"study {path.parent.name} is running already under {path.parent} ({holder}); wait for "
        "it to finish (or stop it), or pass another --name or --storage"
    )


def holder(path: str | os.PathLike) -> str | None:
    """Who holds the lock at `path` ("pid 123 on host"), or None when nobody does. Creates
    nothing: a lock file that does not exist is held by nobody."""
    path = Path(path)
    if fcntl is None or not path.is_file():
        return None
    with open(path) as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)  # needs no write access
        except BlockingIOError:
            return f.read().strip() or "another process"
        except OSError:  # a file system without locks: no lock to honour
            return None
    return None


class StudyLock:
    """The lock of one study's storage folder, held from `__enter__` to `__exit__`; StudyLocked
    when another process holds it."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def __enter__(self) -> StudyLock:
        if fcntl is None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 200).decode(errors="replace").strip()
            os.close(fd)
            raise _busy(self.path, text or "another process") from None
        except OSError:  # a file system without locks (some network mounts): run unlocked
            os.close(fd)
            return self
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock; the file stays, holding no one
            self._fd = None
