"""Plain functions behind the CLI commands, usable from Python as well."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from aekit.data.readers import Dataset, load
from aekit.exceptions import DataError
from aekit.io import atomic_write, atomic_write_text
from aekit.metrics import bce, compression, per_sample_mse, psnr


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


def load_data(source, **kwargs) -> Dataset:
    return load(source, **kwargs)
