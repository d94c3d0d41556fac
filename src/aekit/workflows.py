"""Plain functions behind the CLI commands, usable from Python as well."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from aekit import guard as data_guard
from aekit.data.readers import Dataset, load
from aekit.data.sources import whole_npy_file
from aekit.data.validation import check_array
from aekit.exceptions import ConfigError, DataError
from aekit.io import atomic_write, atomic_write_rows, atomic_write_text
from aekit.metrics import bce, compression, per_sample_mse, psnr

# Rows per chunk of a .npy output, by default: about CHUNK_BYTES of float32 in
# the wider of a row of input and of output (a chunk takes a few times that in
# memory while the model runs), and at most CHUNK_ROWS.
CHUNK_BYTES = 8 * 2**20
CHUNK_ROWS = 65_536
FIRST_CHUNK_ROWS = 1_024  # until the first output says how wide a row is
GUARDED = ("transform", "reconstruct")  # the methods the data guard watches
# Outputs that may go inside an input folder: a folder of images reads none.
ARRAY_SUFFIXES = (".npy", ".csv", ".tsv")


def check_out(out: str | os.PathLike, *inputs: str | os.PathLike | None) -> None:
    """Refuse an output path that would overwrite an input or be read as one.

    ``out`` must not be any of ``inputs`` (through symlinks, relative paths and
    hard links), nor lie inside an input folder, where its images would be read
    as input (and could replace input files before they are read), unless it is
    an array file (``ARRAY_SUFFIXES``). Inputs that do not exist (a built-in
    data set such as ``digits``) are skipped. Call it before reading anything.

    Raises
    ------
    ConfigError
        Naming the input, for the CLI's one line.
    """
    out = Path(out)
    for inp in inputs:
        if inp is None or not Path(inp).exists():
            continue
        inp = Path(inp)
        kind = "folder" if inp.is_dir() else "file"
        if same_file(out, inp):
            raise ConfigError(
                f"--out is the input {kind} ({inp}); choose another path."
            )
        if (
            kind == "folder"
            and out.suffix.lower() not in ARRAY_SUFFIXES
            and out.resolve().is_relative_to(inp.resolve())
        ):
            raise ConfigError(
                f"--out ({out}) is inside the input folder ({inp}), where it would "
                "be read as input; choose another path."
            )


def check_image_out(
    out: str | os.PathLike, inp: str | os.PathLike, *others: str | os.PathLike | None
) -> None:
    """:func:`check_out` for commands that write an image per input image: also
    the file each input image goes to (into ``out`` when it is a folder)."""
    from aekit.images import output_paths

    check_out(out, inp, *others)
    if Path(inp).is_file():
        for src, dst in output_paths(inp, out):
            check_out(dst, src, *others)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether ``a`` and ``b`` name one file or folder: through links (hard
    ones too) where both exist, else by their resolved paths."""
    a, b = Path(a), Path(b)
    try:
        return os.path.samefile(a, b)  # hard links too
    except OSError:  # one does not exist (yet), e.g. "folder/missing/.."
        return a.resolve() == b.resolve()


def evaluate(model, data: Dataset | np.ndarray) -> dict[str, Any]:
    """Reconstruction metrics of ``model`` on ``data``.

    Errors are measured in the model's scaled units (pixels in [0, 1]), where
    PSNR and BCE are meaningful; ``mse_original_units`` is in the data's units.
    """
    X = data.X if isinstance(data, Dataset) else np.asarray(data)
    X = np.asarray(X)
    recon = model.reconstruct(X)
    Xs, Rs = model.scaler_.transform(X), model.scaler_.transform(recon)
    err = per_sample_mse(Xs, Rs)
    lo, hi = float(Xs.min()), float(Xs.max())
    out: dict[str, Any] = {
        "n": int(len(X)),
        "mse": float(err.mean()),
        "mae": float(np.mean(np.abs(Xs.astype(np.float64) - Rs))),
        "mse_original_units": float(np.mean((X.astype(np.float64) - recon) ** 2)),
        "units": "scaled ([0, 1] for pixels)",
    }
    if lo >= 0 and hi <= 1:
        out["psnr"] = psnr(Xs, np.clip(Rs, 0, 1), data_range=1.0)
        out["bce"] = bce(Xs, Rs)
        if X.ndim >= 3:  # images: structure, and the code as lossy compression
            from aekit.images import compression_report, ssim

            out["ssim"] = ssim(Xs, np.clip(Rs, 0, 1), data_range=1.0)
            out["image_compression"] = compression_report(model, X)
    out |= compression(model.input_shape_, X.dtype, model.module_.code_shape)
    return out


def write_array(path: str | Path, arr: np.ndarray) -> Path:
    """Write ``arr`` to .npy or .csv (by suffix), atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        atomic_write(path, lambda fh: np.save(fh, arr, allow_pickle=False))
    elif suffix in (".csv", ".tsv"):
        flat = arr.reshape(len(arr), -1)
        buf = io.StringIO()
        np.savetxt(buf, flat, delimiter="," if suffix == ".csv" else "\t", fmt="%.7g")
        atomic_write_text(path, buf.getvalue())
    else:
        raise DataError(
            f"Cannot write {path}: unknown output format {suffix or '(none)'!r}; use "
            ".npy or .csv."
        )
    return path


def apply_to_file(
    model,
    method: str,
    X,
    out: str | Path,
    *,
    chunk_size: int | None = None,
    convert: Callable[[np.ndarray], np.ndarray] | None = None,
    progress: bool | None = None,
) -> tuple[int, ...]:
    """Apply ``model.<method>`` to ``X`` and write the result to ``out``.

    A ``.npy`` output is computed and written ``chunk_size`` rows at a time,
    into a memory map of a temp file that replaces ``out`` once complete
    (:func:`aekit.io.atomic_write_rows`), so neither the input nor the output
    is ever whole in memory: a memory-mapped ``.npy`` input, as
    :func:`aekit.data.load` opens one, is read with positioned reads
    (:class:`~aekit.data.sources.NpyFile`), whose pages do not stay in this
    process's memory as a memory map's would. A failure or Ctrl-C leaves no
    ``out`` and no temp file. Other outputs (``.csv``, ``.tsv``) are text
    anyway: they are computed in memory and written by :func:`write_array`.

    The data guard (:mod:`aekit.guard`, for ``transform`` and ``reconstruct``)
    judges the whole input once, before the first chunk, on the evenly spaced
    rows a single in-memory call would check, and warns at most once; the
    chunks then run with the model's ``guard`` off (it is restored after).
    When those rows hold NaN or inf the guard is skipped, and the chunk that
    holds them raises the error, naming the rows in ``X``.

    Parameters
    ----------
    model : fitted estimator
        Anything with ``method``, e.g. :class:`aekit.Autoencoder`.
    method : {"transform", "reconstruct", "denoise", "inverse_transform"}
    X : array of shape (n_samples, ...)
        A memory map (``np.load(path, mmap_mode="r")``) stays on disk.
    out : path
        ``.npy`` (chunked), ``.csv`` or ``.tsv``.
    chunk_size : int, optional
        Rows per chunk. By default about ``CHUNK_BYTES`` (8 MiB) of float32 in
        the wider of an input and an output row, at most ``CHUNK_ROWS``
        (65,536) rows; the first chunk has at most ``FIRST_CHUNK_ROWS`` (1,024)
        rows, because only its output tells how wide an output row is.
    convert : callable, optional
        Applied to each chunk of output, e.g. a cast back to the input's dtype.
    progress : bool, optional
        Show a progress bar over rows (tqdm); by default when stderr is a
        terminal.

    Returns
    -------
    tuple of int
        The shape of the result.

    Example
    -------
    >>> X = np.load("big.npy", mmap_mode="r")
    >>> apply_to_file(model, "transform", X, "codes.npy")  # doctest: +SKIP
    (10000000, 32)
    """
    if isinstance(X, Dataset):
        X = X.X
    if chunk_size is not None and (
        not isinstance(chunk_size, int | np.integer) or chunk_size < 1
    ):
        raise ConfigError(
            "chunk_size must be an int in the range [1, inf). "
            f"Got {chunk_size!r} instead."
        )
    n = len(X)
    if Path(out).suffix.lower() != ".npy" or n == 0:
        result = getattr(model, method)(X)
        write_array(out, result if convert is None else convert(result))
        return result.shape
    from tqdm.auto import tqdm

    rows = _row_reader(X)
    guard_was = getattr(model, "guard", False)
    guarded = method in GUARDED and bool(guard_was)
    if guarded:
        _guard_once(model, method, rows, n)
    bar = tqdm(
        total=n,
        unit="row",
        unit_scale=True,
        desc=method,
        disable=None if progress is None else not progress,  # None: a TTY only
    )
    try:
        if guarded:
            model.guard = False
        return atomic_write_rows(
            out, _chunks(model, method, rows, np.shape(X), chunk_size, convert, bar), n
        )
    finally:
        bar.close()
        if guarded:
            model.guard = guard_was


def _row_reader(X) -> Callable[[np.ndarray], np.ndarray]:
    """``rows(idx)``: rows ``idx`` of ``X`` as an in-memory array."""
    file = whole_npy_file(X)
    if file is not None:
        return file.rows
    X = np.asarray(X)
    return lambda idx: np.asarray(X[idx])


def _guard_once(model, method: str, rows: Callable, n: int) -> None:
    checked = data_guard.checked_rows(n)
    sample = rows(np.flatnonzero(checked))
    if sample.dtype.kind == "f" and not np.isfinite(sample).all():
        return  # the chunk holding them says where
    errors = model.reconstruction_error(sample)
    data_guard.check(model, errors, n, method, stacklevel=3)


def _chunk_rows(*row_shapes) -> int:
    width = max(int(np.prod(shape)) for shape in row_shapes)
    return int(np.clip(CHUNK_BYTES // (4 * max(width, 1)), 1, CHUNK_ROWS))


def _chunks(model, method, rows, shape, chunk_size, convert, bar):
    """Yield ``model.<method>`` of consecutive row chunks of an array of ``shape``."""
    name = "Z" if method == "inverse_transform" else "X"
    apply = getattr(model, method)
    n = shape[0]
    size = chunk_size or min(_chunk_rows(shape[1:]), FIRST_CHUNK_ROWS)
    start = 0
    while start < n:
        stop = min(start + size, n)
        x = rows(np.arange(start, stop))
        if stop - start < n:
            where = f"{name} (rows {start:,} to {stop - 1:,})"
            x = check_array(x, name=where, first_row=start)
        y = apply(x)
        del x  # each chunk is let go as soon as it is used
        if chunk_size is None:
            size = _chunk_rows(shape[1:], y.shape[1:])
        yield y if convert is None else convert(y)
        del y
        bar.update(stop - start)
        start = stop


def load_data(source, **kwargs) -> Dataset:
    return load(source, **kwargs)
