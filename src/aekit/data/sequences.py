"""Sequence data: windows of a series, item sequences, leave-one-out splits.

Plain numpy functions that turn what users have (a CSV of a time series, a
log of user-item interactions) into the fixed-length windows that
:class:`aekit.SequenceAutoencoder` trains on.

Window layout (see :mod:`aekit.architectures.sequence`): a window is
``observed + horizon`` steps; the observed steps come first and may end early,
padded with 0 (item ids) or NaN (values); the future fills the last
``horizon`` steps.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from aekit.exceptions import DataError

TIME_NAMES = {"time", "date", "datetime", "timestamp", "ds", "period", "month"}


def sliding_windows(series, length: int, *, stride: int = 1) -> np.ndarray:
    """All windows of ``length`` consecutive steps of a series.

    Parameters
    ----------
    series : array-like of shape (n_steps,) or (n_steps, n_features)
    length : int
        Steps per window (observed + horizon).
    stride : int, default=1
        Steps between the starts of two windows.

    Returns
    -------
    ndarray of shape (n_windows, length, n_features)

    Example
    -------
    >>> sliding_windows(np.arange(5.0), 3).shape
    (3, 3, 1)
    """
    arr = np.asarray(series)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataError(
            f"A series is an array of shape (n_steps,) or (n_steps, n_features). "
            f"Got shape {arr.shape}."
        )
    if not isinstance(length, int | np.integer) or length < 1:
        raise DataError(f"length must be a positive int. Got {length!r}.")
    if stride < 1:
        raise DataError(f"stride must be a positive int. Got {stride!r}.")
    if len(arr) < length:
        raise DataError(
            f"The series has {len(arr)} steps, fewer than one window of {length}; "
            "use shorter windows."
        )
    view = np.lib.stride_tricks.sliding_window_view(arr, length, axis=0)
    return np.ascontiguousarray(view[::stride].transpose(0, 2, 1))


def _parse_time(values: list[str]) -> np.ndarray | None:
    """Sort keys for a time column: numbers, or ISO dates/times; None if neither."""
    try:
        return np.array([float(v) for v in values])
    except ValueError:
        pass
    try:
        return np.array(values, dtype="datetime64[s]").astype(np.int64)
    except ValueError:
        return None


def read_series(
    path: str | Path, *, time_column: str | int | None = None
) -> tuple[np.ndarray, list[str], np.ndarray | None]:
    """A time series from a CSV file with a header row.

    The time column (named by ``time_column``, else the first column whose name
    is time/date/timestamp/..., else a first column that is not numeric)
    orders the rows and is dropped; every other column is a feature. Empty
    cells become NaN; lines starting with ``#`` are comments.

    Returns
    -------
    values : ndarray of shape (n_steps, n_features), float32
    columns : list of str, the feature names
    times : ndarray or None, the time column's text in row order
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path} does not exist.") from None
    # Comment lines (a source note above the header) are skipped.
    text = "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if r]
    if len(rows) < 2:
        raise DataError(f"{path} needs a header row and at least one row of data.")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    width = len(header)
    bad = [i + 2 for i, r in enumerate(body) if len(r) != width]
    if bad:
        raise DataError(
            f"{path}: row {bad[0]} has a different number of cells than the header "
            f"({width})."
        )
    cols = list(zip(*body, strict=True))
    t_idx = None
    if isinstance(time_column, int):
        t_idx = time_column
    elif isinstance(time_column, str):
        if time_column not in header:
            raise DataError(
                f"{path} has no column {time_column!r}; its columns are "
                f"{', '.join(header)}."
            )
        t_idx = header.index(time_column)
    else:
        named = [i for i, h in enumerate(header) if h.lower() in TIME_NAMES]
        if named:
            t_idx = named[0]
        elif _parse_time(list(cols[0])) is None or not _numeric(cols[0]):
            t_idx = 0
    times = None
    order = np.arange(len(body))
    if t_idx is not None:
        times = np.array([c.strip() for c in cols[t_idx]])
        keys = _parse_time(list(times))
        if keys is None:
            raise DataError(
                f"{path}: the time column {header[t_idx]!r} holds neither numbers "
                "nor ISO dates (YYYY-MM-DD[ HH:MM:SS]); convert it or name another "
                "one with time_column."
            )
        order = np.argsort(keys, kind="stable")
        times = times[order]
    feats = [i for i in range(width) if i != t_idx]
    if not feats:
        raise DataError(f"{path} has no value column besides the time column.")
    values = np.empty((len(body), len(feats)), np.float32)
    for j, i in enumerate(feats):
        try:
            values[:, j] = [float(v) if v.strip() else np.nan for v in cols[i]]
        except ValueError:
            raise DataError(
                f"{path}: column {header[i]!r} is not numeric; drop it or name it "
                "as the time column."
            ) from None
    return values[order], [header[i] for i in feats], times


def _numeric(column: Iterable[str]) -> bool:
    try:
        [float(v) for v in column if v.strip()]
    except ValueError:
        return False
    return True


# -- item sequences -----------------------------------------------------------
def read_interactions(path: str | Path) -> np.ndarray:
    """(user, item, timestamp) rows of a MovieLens-style ``u.data`` file.

    Whitespace- or comma-separated columns user, item, [rating,] timestamp.
    """
    path = Path(path)
    try:
        raw = np.loadtxt(path, dtype=np.int64, delimiter=None, ndmin=2)
    except FileNotFoundError:
        raise DataError(f"{path} does not exist.") from None
    except ValueError:
        try:
            raw = np.loadtxt(path, dtype=np.int64, delimiter=",", ndmin=2)
        except ValueError as exc:
            raise DataError(
                f"{path} is not a table of integer user, item, [rating,] timestamp "
                f"columns ({exc})."
            ) from None
    if raw.shape[1] not in (3, 4):
        raise DataError(
            f"{path} has {raw.shape[1]} columns; expected user, item, [rating,] "
            "timestamp."
        )
    return raw[:, [0, 1, raw.shape[1] - 1]]


def item_sequences(interactions: np.ndarray) -> dict[int, np.ndarray]:
    """Each user's items in time order.

    Ratings in the same second (common in MovieLens, where a user rates many
    films in one session) are ordered by item id, so the order is reproducible.
    """
    inter = np.asarray(interactions)
    order = np.lexsort((inter[:, 1], inter[:, 2], inter[:, 0]))  # user, time, item
    inter = inter[order]
    users, starts = np.unique(inter[:, 0], return_index=True)
    parts = np.split(inter[:, 1], starts[1:])
    return {int(u): p.astype(np.int64) for u, p in zip(users, parts, strict=True)}


def leave_one_out(
    sequences: dict[int, np.ndarray], *, min_length: int = 3
) -> tuple[dict[int, np.ndarray], dict[int, int], dict[int, int]]:
    """Hold out each user's last item (test) and the one before it (validation).

    Users with fewer than ``min_length`` items are left out.

    Returns
    -------
    train : dict user -> items before the validation item
    val : dict user -> validation item
    test : dict user -> test item
    """
    train, val, test = {}, {}, {}
    for u, seq in sequences.items():
        if len(seq) < min_length:
            continue
        train[u], val[u], test[u] = seq[:-2], int(seq[-2]), int(seq[-1])
    return train, val, test


def pad_histories(histories: Sequence[Sequence[int]], length: int) -> np.ndarray:
    """The last ``length`` items of each history, padded with 0 at the end."""
    out = np.zeros((len(histories), length), np.int64)
    for i, h in enumerate(histories):
        h = np.asarray(h, np.int64)[-length:]
        out[i, : len(h)] = h
    return out


def next_item_windows(
    sequences: Iterable[Sequence[int]], observed: int, *, min_history: int = 1
) -> np.ndarray:
    """One window per position: up to ``observed`` items, then the next item.

    Returns an int64 array of shape (n_windows, observed + 1); histories shorter
    than ``observed`` are padded with 0 before the target column.
    """
    rows = []
    for seq in sequences:
        seq = np.asarray(seq, np.int64)
        for t in range(min_history, len(seq)):
            row = np.zeros(observed + 1, np.int64)
            h = seq[max(0, t - observed) : t]
            row[: len(h)] = h
            row[observed] = seq[t]
            rows.append(row)
    if not rows:
        raise DataError("No sequence is long enough to make a next-item window.")
    return np.stack(rows)
