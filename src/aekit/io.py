"""Atomic file writes: a temp file in the same folder, fsync, then rename.

A reader sees the old file or the new one, never half of one; a failed write
(full disk, Ctrl-C) leaves the old file as it was, and a read-only file (no
write permission) is refused rather than replaced. A path that is a symbolic
link is written through: the file it points to is replaced, the link stays.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from aekit.exceptions import WriteError


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], *, mode="wb"):
    """Call ``write(fileobj)`` on a temp file, then move it over ``path``.

    An operating-system failure (full disk, file-size limit, permission) becomes
    a :class:`~aekit.exceptions.WriteError` naming the file; the previous
    ``path`` is left as it was and the temp file is removed. So does an existing
    ``path`` that is read-only (:func:`check_writable`).
    """
    with _replacing(Path(path)) as (fd, _):
        with os.fdopen(fd, mode) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())


@contextlib.contextmanager
def _replacing(path: Path):
    """``(fd, name)`` of a temp file beside ``path`` that replaces ``path`` when
    the block ends; on any failure (an exception, Ctrl-C) the temp file is
    removed, ``path`` is left as it was, and an operating-system failure
    becomes a :class:`~aekit.exceptions.WriteError` naming ``path``."""
    tmp = None
    path = through_links(path)
    try:
        check_writable(path)
        fd, tmp = _temp_beside(path)
        yield fd, tmp
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise _write_error(path, exc) from exc
        raise


def atomic_write_rows(
    path: str | os.PathLike, chunks: Iterable[np.ndarray], n_rows: int
) -> tuple[int, ...]:
    """Write the row chunks of an ``(n_rows, ...)`` array to the .npy ``path``.

    The first chunk sets the dtype and the shape of a row; the chunks go, in
    order, into a :func:`numpy.lib.format.open_memmap` of a temp file beside
    ``path``, which is flushed, fsynced and renamed over ``path`` once all
    ``n_rows`` rows are written. Only one chunk is held at a time. Any failure,
    in the writing or in the code that makes the chunks (an exception,
    Ctrl-C), removes the temp file and leaves ``path`` as it was; an
    operating-system failure becomes a :class:`~aekit.exceptions.WriteError`
    as in :func:`atomic_write`. Returns the shape written.
    """
    path = Path(path)
    check_writable(path)  # before the first chunk is computed
    chunks = iter(chunks)
    first = next(chunks, None)  # before any file exists: it may fail
    if first is None:
        raise ValueError(f"No rows to write to {path}.")
    first = np.asarray(first)
    shape = (int(n_rows), *first.shape[1:])
    with _replacing(path) as (fd, tmp):
        os.close(fd)
        out = np.lib.format.open_memmap(tmp, "w+", first.dtype, shape)
        size, out = out.offset + out.nbytes, None
        if hasattr(os, "posix_fallocate") and size:
            # Reserve the space now: a full disk under a memory map is a
            # SIGBUS, not an OSError.
            with open(tmp, "r+b") as fh:
                os.posix_fallocate(fh.fileno(), 0, size)
        start, chunk, first = 0, first, None
        while chunk is not None:
            if chunk.shape[1:] != shape[1:] or start + len(chunk) > shape[0]:
                raise ValueError(
                    f"A chunk of shape {chunk.shape} does not fit at row {start:,} "
                    f"of an array of shape {shape}."
                )
            # A map per chunk: written pages leave this process's resident
            # memory when it closes, where one map would keep them all.
            out = np.lib.format.open_memmap(tmp, "r+")
            out[start : start + len(chunk)] = chunk
            out.flush()
            out = None
            start += len(chunk)
            chunk = None  # let it go before the next one is made
            chunk = next(chunks, None)
            chunk = None if chunk is None else np.asarray(chunk)
        if start != shape[0]:
            raise ValueError(f"Got {start:,} rows for an array of shape {shape}.")
        with open(tmp, "r+b") as fh:
            os.fsync(fh.fileno())
    return shape


TEMP_SUFFIX = ".tmp"
WRITE_BITS = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


def check_writable(path: str | os.PathLike) -> None:
    """Refuse to replace an existing file that is read-only.

    A rename ignores the permissions of the file it replaces, so a file made
    read-only (``chmod a-w``) would be replaced silently. The mode is read as
    well as :func:`os.access`, which allows root to write anything: a file with
    no write bit is protected from root too.
    """
    try:
        st = os.stat(path)
    except OSError:
        return  # none yet (or unreadable): the write itself reports
    if not stat.S_ISREG(st.st_mode):
        return
    if st.st_mode & WRITE_BITS and os.access(path, os.W_OK):
        return
    raise WriteError(
        f"Could not write {path}: it is read-only (mode "
        f"{stat.S_IMODE(st.st_mode):o}). The previous file is intact; make it "
        "writable (chmod u+w) or choose another path, and retry."
    )


def through_links(path: str | os.PathLike) -> Path:
    """Where a write to ``path`` lands: the file that a symbolic link points
    to (renaming over the link would replace the link, not its file), else
    ``path``."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _temp_beside(path: Path) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent
    )
    # mkstemp makes the file private (0600); give it the usual mode instead.
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    return fd, tmp


_HINTS = {
    errno.ENOSPC: "free some disk space",
    errno.EDQUOT: "free some space within your quota",
    errno.EFBIG: "raise the file-size limit (ulimit -f) or write elsewhere",
    errno.EACCES: "check the folder's permissions",
    errno.EROFS: "choose a folder on a writable file system",
}


def _write_error(path: Path, exc: OSError) -> WriteError:
    reason = exc.strerror or str(exc)
    hint = _HINTS.get(exc.errno, "check the disk and the folder")
    kept = "The previous file is intact" if path.exists() else "Nothing was written"
    err = WriteError(f"Could not write {path}: {reason}. {kept}; {hint} and retry.")
    # errno only: setting strerror or filename would make str() OSError's format.
    err.errno = exc.errno
    return err


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete temp files that a killed process left behind in ``folder``.

    :func:`atomic_write` names them ``.<name>.<random>.tmp``; a process killed
    with SIGKILL (or a power cut) cannot remove its own.
    """
    folder = Path(folder)
    removed = []
    if folder.is_dir():
        for p in folder.glob(f".*{TEMP_SUFFIX}"):
            if p.is_file():
                p.unlink(missing_ok=True)
                removed.append(p)
    return removed


def atomic_write_many(files: dict[str | os.PathLike, bytes]) -> None:
    """Write several files so that a failure leaves all the previous ones.

    Every file is first written in full to a temp file beside it; only when
    all are on disk are they renamed over the old ones, in the given order
    (renames need no new space). A full disk, or a read-only file among them,
    therefore fails before any old file is replaced.
    """
    files = {through_links(path): data for path, data in files.items()}
    for path in files:
        check_writable(path)
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in files.items():
            try:
                fd, tmp = _temp_beside(path)
                staged.append((tmp, path))
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                raise _write_error(path, exc) from exc
        while staged:
            tmp, path = staged[0]
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise _write_error(path, exc) from exc
            staged.pop(0)
    finally:
        for tmp, _ in staged:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass


class KeptFile:
    """A copy of ``path`` as it is now, to put back if a change fails.

    The copy (bytes, mode and times) is a temp file beside ``path``, which
    :func:`remove_stale_temps` clears if the process is killed. Where ``path``
    does not exist, :meth:`restore` removes what was written there since.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = through_links(path)
        self._copy = None
        if self.path.is_file():
            fd, tmp = _temp_beside(self.path)
            os.close(fd)
            try:
                shutil.copy2(self.path, tmp)
            except OSError as exc:
                os.unlink(tmp)
                raise _write_error(self.path, exc) from exc
            self._copy = tmp

    def restore(self) -> None:
        """Put ``path`` back as it was (remove it if there was none)."""
        if self._copy is None:
            self.path.unlink(missing_ok=True)
        else:
            os.replace(self._copy, self.path)
            self._copy = None

    def discard(self) -> None:
        """Keep ``path`` as it is now; remove the copy."""
        if self._copy is not None:
            Path(self._copy).unlink(missing_ok=True)
            self._copy = None


def atomic_write_bytes(path, data: bytes) -> None:
    atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text.encode()))


def atomic_write_json(path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")
