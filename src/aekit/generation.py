"""Plain functions behind ``aekit generate``, ``interpolate`` and the
likelihood part of ``aekit evaluate``, usable from Python as well."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from aekit.data.binarize import binarize
from aekit.exceptions import DataError
from aekit.report.grid import as_images, save_picture, tile
from aekit.workflows import write_array

PICTURE_SUFFIXES = (".png",)


def to_unit_range(model, X: np.ndarray) -> np.ndarray:
    """Samples in the user's units mapped to [0, 1] for display."""
    if model.scaler_.fitted_mode in ("range", "minmax", "none"):
        return np.clip(model.scaler_.transform(X), 0, 1)
    lo, hi = float(np.min(X)), float(np.max(X))  # standardized data: the grid's range
    return (np.asarray(X, np.float32) - lo) / max(hi - lo, 1e-12)


def write_samples(
    model, X: np.ndarray, out: str | Path, *, ncols: int | None = None
) -> Path:
    """Write samples as a PNG grid (by suffix) or as .npy/.csv arrays."""
    out = Path(out)
    if out.suffix.lower() in PICTURE_SUFFIXES:
        images = as_images(to_unit_range(model, X), model.input_shape_)
        cols = ncols or max(1, math.ceil(math.sqrt(len(images))))
        return save_picture(out, tile(images, cols))
    return write_array(out, X)


def is_variational(model) -> bool:
    module = getattr(model, "module_", None)
    return module is not None and hasattr(module.latent, "posterior")


def likelihood_report(
    model,
    X: np.ndarray,
    *,
    iw_samples: int | None = None,
    binarize_seed: int | None = None,
    data_name: str = "",
    seed: int = 0,
) -> dict[str, Any]:
    """ELBO terms and (with ``iw_samples``) the IWAE estimate of log p(x) on X.

    Values are means over the samples of ``X``, in nats per sample, in the
    model's scaled units. With ``binarize_seed`` the data is binarized once with
    that seed before scoring (for models trained on binarized data).
    """
    X = np.asarray(X)
    if binarize_seed is not None:
        Xs = model.scaler_.transform(X)
        if Xs.min() < 0 or Xs.max() > 1:
            raise DataError(
                "Cannot binarize this data: its scaled values leave [0, 1]. Drop "
                "--binarize-seed."
            )
        X = model.scaler_.inverse_transform(binarize(Xs, random_state=binarize_seed))
    report: dict[str, Any] = {
        "data": data_name,
        "n": int(len(X)),
        "binarized_with_seed": binarize_seed,
        "units": "nats per sample (mean over the data set), scaled units",
    }
    e = model.elbo(X, random_state=seed)
    report |= {
        "elbo": e["elbo"],
        "recon": e["recon"],
        "kl": e["kl"],
        "active_units": e["active_units"],
    }
    if iw_samples is not None:  # 0 reaches log_likelihood, which refuses it
        ll = model.log_likelihood(X, iw_samples=int(iw_samples), random_state=seed)
        report["iwae"] = {
            "k": int(iw_samples),
            "log_likelihood": float(ll.mean()),
            "nll": float(-ll.mean()),
            "stderr": float(ll.std(ddof=1) / math.sqrt(len(ll))) if len(ll) > 1 else 0,
        }
    return report
