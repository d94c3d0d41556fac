"""Training data that stays on disk: rows of a .npy file read batch by batch.

``NpyFile`` reads rows with positioned reads (``os.pread``) instead of a memory
map, so the pages it touches count against the page cache, not the process's
resident memory, and data many times larger than RAM trains with a small
footprint. ``RowSource`` is what the trainer consumes: a subset of rows (the
training or validation split) of such a file, or of an array in memory,
scaled batch by batch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import numpy as np
import torch

from aekit.exceptions import DataError


class NpyFile:
    """Random access to the rows of a C-ordered .npy file without loading it."""

    def __init__(self, path: str | os.PathLike):
        self._fd: int | None = None
        self.path = os.fspath(path)
        fmt = np.lib.format
        with open(self.path, "rb") as fh:
            try:
                version = fmt.read_magic(fh)
                read = (
                    fmt.read_array_header_1_0
                    if version == (1, 0)
                    else fmt.read_array_header_2_0
                )
                shape, fortran, dtype = read(fh)
            except ValueError as exc:
                raise DataError(
                    f"{self.path} is not a readable .npy file ({exc})."
                ) from None
            self.offset = fh.tell()
        if fortran and len(shape) > 1:
            raise DataError(
                f"{self.path} is stored in Fortran order; save it C-ordered "
                "(np.save(path, np.ascontiguousarray(x))) to stream it."
            )
        if dtype.hasobject:
            raise DataError(f"{self.path} holds Python objects, not numbers.")
        self.shape, self.dtype = tuple(shape), dtype
        self.row_shape = self.shape[1:]
        self.row_bytes = int(np.prod(self.row_shape)) * dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def _fileno(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        return self._fd

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` (any order) as an array of shape (len(idx), *row_shape)."""
        idx = np.asarray(idx, dtype=np.int64)
        order = np.argsort(idx, kind="stable")
        sorted_idx = idx[order]
        buf = bytearray(len(idx) * self.row_bytes)
        view = memoryview(buf)
        fd = self._fileno()
        # Read runs of consecutive rows with one call each.
        breaks = np.flatnonzero(np.diff(sorted_idx) != 1) + 1
        pos = 0
        for run in np.split(sorted_idx, breaks):
            if len(run) == 0:
                continue
            nbytes = len(run) * self.row_bytes
            got = os.preadv(
                fd,
                [view[pos : pos + nbytes]],
                self.offset + int(run[0]) * self.row_bytes,
            )
            if got != nbytes:
                raise DataError(f"{self.path} is truncated: a row could not be read.")
            pos += nbytes
        out = np.frombuffer(buf, dtype=self.dtype).reshape(len(idx), *self.row_shape)
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        return out[inverse]

    def chunks(self, rows: np.ndarray, size: int = 65536) -> Iterator[np.ndarray]:
        for start in range(0, len(rows), size):
            yield self.rows(rows[start : start + size])

    def __getstate__(self):
        return {**self.__dict__, "_fd": None}

    def close(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self):
        self.close()


class RowSource:
    """A trainer data source over some rows of an ``NpyFile`` or of an array
    in memory (``rows=None``: all of them), scaled per batch: no scaled copy
    of the data is ever made (for uint8 data, float32 would take 4 times the
    array's memory)."""

    def __init__(
        self,
        data: NpyFile | np.ndarray,
        rows: np.ndarray | None,
        transform: Callable[[np.ndarray], np.ndarray],
    ):
        self.data, self.transform = data, transform
        self.rows = None if rows is None else np.asarray(rows)

    def __len__(self) -> int:
        return len(self.data) if self.rows is None else len(self.rows)

    def take(self, idx: torch.Tensor) -> torch.Tensor:
        picked = idx.numpy() if self.rows is None else self.rows[idx.numpy()]
        if isinstance(self.data, NpyFile):
            raw = self.data.rows(picked)
        else:
            raw = self.data[picked]
        return torch.from_numpy(np.ascontiguousarray(self.transform(raw)))


def available_memory() -> int:
    """Bytes of memory available now (Linux), or a conservative 4 GiB."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def allocatable_memory() -> int:
    """Bytes of memory that can be allocated now without swapping: Linux's
    MemAvailable (free memory and the page cache it can drop), else the free
    memory :func:`available_memory` reports."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return available_memory()


def format_bytes(n_bytes: int) -> str:
    """A memory size for a message: GiB, or MiB below one GiB."""
    if n_bytes >= 2**30:
        return f"{n_bytes / 2**30:,.1f} GiB"
    return f"{n_bytes / 2**20:,.1f} MiB"


def fits_in_memory(n_values: int) -> bool:
    """The rule of ``in_memory="auto"``: ``n_values`` values in float32 take
    less than a quarter of the memory available now."""
    return n_values * 4 < available_memory() // 4


def whole_npy_file(arr) -> NpyFile | None:
    """The .npy file that ``arr`` maps whole (what ``np.load(path,
    mmap_mode="r")`` returns), to read with positioned reads; None for any
    other array, a slice of a map included."""
    filename = getattr(arr, "filename", None)
    if not (isinstance(arr, np.memmap) and filename and str(filename).endswith(".npy")):
        return None
    file = NpyFile(filename)
    same = file.shape == arr.shape and file.dtype == arr.dtype
    if same and file.offset == arr.offset and arr.flags.c_contiguous:
        return file
    return None
