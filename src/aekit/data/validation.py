"""Checks on arrays that every entry point runs before training or inference."""

from __future__ import annotations

import warnings

import numpy as np

from aekit.exceptions import ConfigError, DataError, DataTypeError

NAN_POLICIES = ("error", "drop", "zero")
NAN_HINT = (
    "drop or fill those values first, or choose nan_policy='drop' (drop those "
    "rows) or 'zero' (CLI: --nan-policy drop|zero)"
)
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _where(mask: np.ndarray, limit: int = 3, first_row: int = 0) -> str:
    places = np.argwhere(mask)[:limit]
    text = ", ".join(
        f"row {p[0] + first_row}"
        + (
            f" column {p[1]}"
            if len(p) == 2
            else f" at {tuple(p[1:].tolist())}"
            if len(p) > 2
            else ""
        )
        for p in places
    )
    return text + (", ..." if mask.sum() > limit else "")


def check_finite(
    arr: np.ndarray, name: str = "X", hint: str = NAN_HINT, first_row: int = 0
) -> None:
    """Raise a :class:`DataError` saying how many NaN and inf ``arr`` holds,
    and where, if it holds any."""
    if arr.dtype.kind != "f":
        return
    # One pass with no temporary as large as arr: NaN and inf make the sum NaN
    # or inf; a finite sum rules them out, and one that overflows goes on to
    # the exact check (float16 is summed in float32, which it rarely fills).
    with np.errstate(over="ignore", invalid="ignore"):  # no RuntimeWarning
        if np.isfinite(np.sum(arr, dtype=np.result_type(arr.dtype, np.float32))):
            return
    bad = ~np.isfinite(arr)
    if bad.any():
        n_nan, n_inf = int(np.isnan(arr).sum()), int(np.isinf(arr).sum())
        raise DataError(
            f"{name} contains NaN or infinity ({n_nan} NaN, {n_inf} inf) at "
            f"{_where(bad, first_row=first_row)}; {hint}."
        )


def _check_float32_range(arr: np.ndarray, name: str, first_row: int = 0) -> None:
    # aekit computes in float32: larger values would become inf silently.
    if arr.dtype.kind != "f" or arr.dtype.itemsize <= 4 or arr.size == 0:
        return
    big = np.abs(arr) > FLOAT32_MAX
    if big.any():
        raise DataError(
            f"{name} has {int(big.sum())} value(s) beyond float32's range "
            f"(|x| > {FLOAT32_MAX:.3g}) at {_where(big, first_row=first_row)}; aekit "
            "computes in float32: rescale the data (e.g. divide by a constant) first."
        )


def apply_nan_policy(arr: np.ndarray, policy: str, name: str = "X") -> np.ndarray:
    """Handle NaN and inf as ``policy`` says: ``"error"`` (raise a
    :class:`DataError` saying how many and where), ``"drop"`` (drop the rows
    that hold any, with a warning) or ``"zero"`` (replace them by 0, with a
    warning).
    """
    if policy not in NAN_POLICIES:
        raise ConfigError(
            f"nan_policy must be one of {', '.join(map(repr, NAN_POLICIES))}. "
            f"Got {policy!r}."
        )
    if policy == "error" or arr.dtype.kind != "f":
        check_finite(arr, name)
        return arr
    bad = ~np.isfinite(arr)
    if not bad.any():
        return arr
    n_nan, n_inf = int(np.isnan(arr).sum()), int(np.isinf(arr).sum())
    if policy == "zero":
        warnings.warn(
            f"Replaced {n_nan} NaN and {n_inf} inf value(s) in {name} with 0 "
            f"(nan_policy='zero'), at {_where(bad)}.",
            UserWarning,
            stacklevel=3,
        )
        return np.where(bad, np.zeros((), arr.dtype), arr)
    rows = bad.reshape(len(arr), -1).any(axis=1)
    if rows.all():
        raise DataError(
            f"Every one of the {len(arr)} rows of {name} holds NaN or inf "
            f"({n_nan} NaN, {n_inf} inf): nan_policy='drop' leaves no data. Use "
            "nan_policy='zero' or fill the values first."
        )
    warnings.warn(
        f"Dropped {int(rows.sum())} of {len(arr)} rows of {name} that hold NaN or "
        f"inf (nan_policy='drop'): {_where(rows)}.",
        UserWarning,
        stacklevel=3,
    )
    return np.asarray(arr[~rows])


def defers_finite_check(dtype, nan_policy: str) -> bool:
    """Whether ``check_array(finite=False)`` leaves the NaN and inf check of
    data of this dtype to the caller: under ``nan_policy="error"`` ("drop"
    and "zero" act on the values at once), for data of at most 4 bytes a
    value (float64 is checked anyway, see :func:`check_array`)."""
    return nan_policy == "error" and np.dtype(dtype).itemsize <= 4


def check_layout(arr: np.ndarray, name: str, min_samples: int) -> None:
    """Raise one line when ``arr`` cannot be samples of numbers, by its dtype
    (text, complex, structured) or its shape (a single number, 1-D, no rows,
    no features): naming ``name``, saying the fix and never showing the data.

    The wording keeps scikit-learn's phrases ("Expected 2D array", "Complex
    data not supported", "0 feature(s) (shape=...)") that its users and its
    estimator checks look for.
    """
    dtype = arr.dtype
    if dtype.names:
        fields = ", ".join(dtype.names[:5]) + (", ..." if len(dtype.names) > 5 else "")
        raise DataTypeError(
            f"{name} is a structured array (fields {fields}), not an array of "
            "numbers; stack its fields as columns first, e.g. with "
            "numpy.lib.recfunctions.structured_to_unstructured(x)."
        )
    if dtype.kind in "USTV":
        what = "raw bytes" if dtype.kind == "V" else "text"
        raise DataTypeError(
            f"{name} holds {what} (dtype {dtype}), not numbers; convert it to "
            "numbers first (x.astype(np.float32) if the text holds numbers)."
        )
    if dtype.kind == "c":
        raise DataTypeError(
            f"{name} holds complex numbers (dtype {dtype}). Complex data not "
            "supported: pass the real part (x.real), the magnitude (abs(x)), or "
            "both parts as separate features."
        )
    if dtype.kind in "mM":
        raise DataTypeError(
            f"{name} holds dates or times (dtype {dtype}), not numbers; convert "
            "them to numbers (e.g. seconds since a start) first."
        )
    if arr.ndim == 0:
        raise DataError(
            f"{name}: Expected 2D array, got a single number (a 0-d array) "
            "instead; give an array of shape (n_samples, n_features)."
        )
    if arr.ndim == 1:
        raise DataError(
            f"{name}: Expected 2D array, got 1D array of shape {arr.shape} instead. "
            "Reshape your data with x.reshape(-1, 1) if it has a single feature or "
            "x.reshape(1, -1) if it is a single sample."
        )
    if len(arr) < min_samples:
        raise DataError(
            f"{name} has {len(arr)} sample(s) (shape {arr.shape}); it needs at "
            f"least {min_samples}: add rows of data."
        )
    if np.prod(arr.shape[1:]) == 0:
        raise DataError(
            f"{name}: Found array with 0 feature(s) (shape={arr.shape}) while a "
            "minimum of 1 is required; give each sample at least one value."
        )


def _as_array(x) -> np.ndarray | None:
    """``x`` as numpy sees it, or None where numpy cannot make an array of it."""
    try:
        return np.asarray(x)
    except (ValueError, TypeError):  # ragged lists, odd objects
        return None


def check_array(
    x,
    *,
    name: str = "X",
    min_samples: int = 1,
    nan_policy: str = "error",
    first_row: int = 0,
    finite: bool = True,
) -> np.ndarray:
    """A numeric array of shape (n_samples, ...) with no NaN or inf.

    scikit-learn's ``check_array`` does the conversions (and words the messages
    its users know); NaN and inf get a message that says how many and where,
    unless ``nan_policy`` ("drop" or "zero", see :func:`apply_nan_policy`)
    says to handle them. ``first_row`` is the number of ``x``'s first row in
    the data it was cut from, so that a chunk's messages name the right rows.
    ``finite=False`` leaves the NaN and inf check of float32 and float16 data
    under ``nan_policy="error"`` to the caller, who must check every batch it
    reads (as ``aekit.guard.batched_with_errors(finite=True)``
    does): no second pass over memory. Float64 data is checked here anyway:
    its float32 range check reads all of it, and must not take inf for a
    large value.
    """
    from sklearn.utils.validation import check_array as sk_check_array

    if hasattr(x, "toarray") and not isinstance(x, np.ndarray):
        raise DataError(
            f"{name} is a sparse matrix; this estimator needs dense input. Use "
            "aekit.Recommender for sparse interaction data or call .toarray()."
        )

    def check_now(a) -> bool:
        return finite or not defers_finite_check(a.dtype, nan_policy)

    if isinstance(x, np.ndarray):  # dtype and shape only: no pass over the data
        check_layout(x, name, min_samples)
    checked = isinstance(x, np.ndarray) and nan_policy == "error"
    if checked and check_now(x):  # before any copy: fail fast on large arrays
        check_finite(x, name, first_row=first_row)
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
        as_array = None if isinstance(x, np.ndarray) else _as_array(x)
        if as_array is not None:  # a list or the like: the same messages
            check_layout(as_array, name, min_samples)
        cls = DataTypeError if isinstance(exc, TypeError) else DataError
        # One line: scikit-learn's messages may print the whole array.
        lines = [
            ln for ln in str(exc).splitlines() if not ln.startswith(("array=", "["))
        ]
        text = " ".join(" ".join(lines).split())
        if text and name not in text:
            text = f"{name}: {text}"
        raise cls(text or f"{name} cannot be read as a numeric array.") from None
    if not isinstance(x, np.ndarray):
        check_layout(arr, name, min_samples)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.uint8)
    if not (checked and arr is x) and check_now(arr):  # x was checked above
        arr = apply_nan_policy(arr, nan_policy, name)
    if len(arr) < min_samples:
        raise DataError(
            f"{name} has {len(arr)} sample(s) left after dropping rows with NaN or "
            f"inf, but at least {min_samples} are needed."
        )
    _check_float32_range(arr, name, first_row)
    return arr
