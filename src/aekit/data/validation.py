"""Checks on arrays that every entry point runs before training or inference."""

from __future__ import annotations

import numpy as np

from aekit.exceptions import DataError, DataTypeError


def _where(mask: np.ndarray, limit: int = 3) -> str:
    places = np.argwhere(mask)[:limit]
    text = ", ".join(
        f"row {p[0]}"
        + (
            f" column {p[1]}"
            if len(p) == 2
            else f" at {tuple(p[1:])}"
            if len(p) > 2
            else ""
        )
        for p in places
    )
    return text + (", ..." if mask.sum() > limit else "")


def _check_finite(arr: np.ndarray, name: str) -> None:
    if arr.dtype.kind != "f":
        return
    bad = ~np.isfinite(arr)
    if bad.any():
        n_nan, n_inf = int(np.isnan(arr).sum()), int(np.isinf(arr).sum())
        raise DataError(
            f"{name} contains NaN or infinity ({n_nan} NaN, {n_inf} inf) at "
            f"{_where(bad)}; drop or fill those values first."
        )


def check_array(x, *, name: str = "X", min_samples: int = 1) -> np.ndarray:
    """A numeric array of shape (n_samples, ...) with no NaN or inf.

    scikit-learn's ``check_array`` does the conversions (and words the messages
    its users know); NaN and inf get a message that says how many and where.
    """
    from sklearn.utils.validation import check_array as sk_check_array

    if hasattr(x, "toarray") and not isinstance(x, np.ndarray):
        raise DataError(
            f"{name} is a sparse matrix; this estimator needs dense input. Use "
            "aekit.Recommender for sparse interaction data or call .toarray()."
        )
    if isinstance(x, np.ndarray):
        _check_finite(x, name)
    try:
        arr = sk_check_array(
            x,
            allow_nd=True,
            dtype=None
            if getattr(x, "dtype", None) is not None
            and np.dtype(x.dtype).kind in "uifb"
            else "numeric",
            ensure_min_samples=min_samples,
            ensure_all_finite=False,
            input_name=name,
        )
    except (ValueError, TypeError) as exc:
        cls = DataTypeError if isinstance(exc, TypeError) else DataError
        raise cls(
            str(exc).strip()
            if str(exc).strip()
            else f"{name} cannot be read as a numeric array."
        ) from None
    if arr.dtype.kind == "b":
        arr = arr.astype(np.uint8)
    if arr.ndim > 2 and np.prod(arr.shape[1:]) == 0:
        raise DataError(f"{name} has no features (shape {arr.shape}).")
    _check_finite(arr, name)
    return arr
