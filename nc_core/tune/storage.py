"""Tune's storage on a local (or mounted network) folder, where no file is ever half-written.

Tune and Ray Train write the experiment state, each trial's result.json and progress.csv, and
every checkpoint into the storage by copying whole files over the old ones. A write that fails
midway (a full disk) or is killed leaves a truncated file in place of the last good one: a
truncated experiment state makes the study neither exportable nor resumable, a truncated state.pt
loses the trial's records. `atomic_filesystem` hands Tune a pyarrow file system that writes each
file under a temporary name and renames it into place only once it is complete, so a failed
write leaves the previous copy (or nothing) and its temporary file is removed.

Tune pickles this file system by reference (module and class name) into every study's stored
state: moving or renaming `AtomicFiles` makes stored studies unreadable.
"""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.fs

TEMP_MARK = ".nc-partial-"  # in a temporary file's name, between the target's name and a suffix


class _AtomicWriter(io.RawIOBase):
    """A file written at a temporary path and renamed to `path` on a clean close; any failed
    write or flush, or a close without one, removes it instead."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        folder, name = os.path.split(path)
        self.tmp = os.path.join(folder, f".{name}{TEMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")
        self._file = open(self.tmp, "wb")  # noqa: SIM115 (closed in close())
        self._failed = False

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self._failed:
            raise OSError(f"an earlier write of {self.path} failed")
        try:
            return self._file.write(data)
        except BaseException:
            self._discard()
            raise

    def flush(self) -> None:
        if self._failed or self._file.closed:
            return
        try:
            self._file.flush()
        except BaseException:
            self._discard()
            raise

    def _discard(self) -> None:
        """Drop the temporary file now: after a failed write the caller may never close."""
        self._failed = True
        with contextlib.suppress(OSError):
            self._file.close()
        Path(self.tmp).unlink(missing_ok=True)

    def close(self) -> None:
        if self.closed:
            return
        try:
            if not self._failed:
                self._file.close()  # flushes: a full disk may show only here
                os.replace(self.tmp, self.path)
        except BaseException:
            self._discard()
            raise
        finally:
            super().close()


class AtomicFiles(pyarrow.fs.FileSystemHandler):
    """The local file system, but each output stream is written whole or not at all."""

    def __init__(self) -> None:
        self.fs = pyarrow.fs.LocalFileSystem()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AtomicFiles)

    def __hash__(self) -> int:
        return hash(AtomicFiles)

    def __reduce__(self):
        return (AtomicFiles, ())

    def get_type_name(self) -> str:
        """pyarrow's name for this kind of file system."""
        return "nc-atomic-local"

    def normalize_path(self, path: str) -> str:
        """`path` as the local file system writes it."""
        return self.fs.normalize_path(path)

    def get_file_info(self, paths: list[str]) -> list[pyarrow.fs.FileInfo]:
        """What is at each of `paths`."""
        return self.fs.get_file_info(paths)

    def get_file_info_selector(self, selector: pyarrow.fs.FileSelector) -> list:
        """What is under a folder (`selector`), temporary files of unfinished writes left out."""
        return [i for i in self.fs.get_file_info(selector) if TEMP_MARK not in i.base_name]

    def create_dir(self, path: str, recursive: bool) -> None:
        """Make the folder `path` (and its parents with `recursive`)."""
        self.fs.create_dir(path, recursive=recursive)

    def delete_dir(self, path: str) -> None:
        """Remove the folder `path` and all under it."""
        self.fs.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        """Remove all under the folder `path`."""
        self.fs.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        """Refused: never empty the whole file system."""
        raise OSError("refusing to delete the contents of the root folder")

    def delete_file(self, path: str) -> None:
        """Remove the file `path`."""
        self.fs.delete_file(path)

    def move(self, src: str, dest: str) -> None:
        """Rename `src` to `dest`."""
        self.fs.move(src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        """Copy the file `src` to `dest`, whole or not at all."""
        with self.fs.open_input_stream(src) as source, self.open_output_stream(dest, None) as out:
            while chunk := source.read(1 << 20):
                out.write(chunk)

    def open_input_stream(self, path: str) -> pa.NativeFile:
        """The file `path` to read from its start."""
        return self.fs.open_input_stream(path)

    def open_input_file(self, path: str) -> pa.NativeFile:
        """The file `path` to read anywhere in it."""
        return self.fs.open_input_file(path)

    def open_output_stream(self, path: str, metadata: dict | None) -> pa.NativeFile:
        """A new file at `path`, in place only once it is closed after a complete write."""
        return pa.PythonFile(_AtomicWriter(path), mode="w")

    def open_append_stream(self, path: str, metadata: dict | None) -> pa.NativeFile:
        """`path` to append to, in place (an append cannot be made whole or not at all)."""
        return self.fs.open_append_stream(path)


def atomic_filesystem() -> pyarrow.fs.FileSystem:
    """A pyarrow file system over local paths whose output files appear only whole."""
    return pyarrow.fs.PyFileSystem(AtomicFiles())


def remove_partial_files(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of writes that never finished (a killed writer) under
    `folder`; returns them. Run while no driver of the study is writing (its lock held)."""
    removed = []
    for path in Path(folder).rglob(f"*{TEMP_MARK}*"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
