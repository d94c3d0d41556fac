"""Implicit-feedback interactions: readers, the sparse user x item matrix,
batch sources and the splits of the evaluation protocols.

A recommender's data is a list of (user, item[, rating][, time]) events. It is
read into an :class:`InteractionTable` (columns as arrays), turned into
positives (a rating threshold, a minimum number of interactions per user) and
mapped to a SciPy CSR matrix of users x items, :class:`Interactions`, which
keeps the users' and items' own ids so that results come back in them. Nothing
here ever builds a dense users x items array: :class:`CSRSource` densifies one
batch of rows at a time, on the training device.

Formats: GroupLens ``u.data`` (tab separated, no header), MovieLens 1M/10M
``ratings.dat`` (``::`` separated), MovieLens 20M/25M ``ratings.csv`` (with a
header), and any CSV/TSV/Parquet with user and item columns (and optional
rating and time columns) named by the caller or recognised by their names.

The protocols are those of Liang et al. 2018, "Variational Autoencoders for
Collaborative Filtering" (https://arxiv.org/abs/1802.05814): weak
generalization splits each user's positives at random; strong generalization
holds out users, folds in part of their items and predicts the rest.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from aekit.exceptions import ConfigError, DataError

USER_NAMES = ("user", "user_id", "userid", "uid", "users", "customer_id", "visitorid")
ITEM_NAMES = (
    "item",
    "item_id",
    "itemid",
    "iid",
    "items",
    "movie",
    "movie_id",
    "movieid",
    "product_id",
    "productid",
    "track_id",
    "book_id",
    "isbn",
    "song_id",
)
RATING_NAMES = ("rating", "ratings", "score", "value", "stars", "count", "plays")
TIME_NAMES = ("timestamp", "time", "ts", "date", "datetime", "unix_time")
FORMATS = ("auto", "udata", "dat", "csv", "tsv", "parquet")


@dataclasses.dataclass
class InteractionTable:
    """Interaction events as columns (one row per event).

    Attributes
    ----------
    user, item : ndarray of shape (n_events,)
        The users' and items' own ids (ints or strings).
    rating, time : ndarray of shape (n_events,) or None
    name : str
        Where the events came from.
    """

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray | None = None
    time: np.ndarray | None = None
    name: str = ""

    def __len__(self) -> int:
        return len(self.user)


@dataclasses.dataclass
class Interactions:
    """A users x items CSR matrix and the ids of its rows and columns.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix of shape (n_users, n_items), float32
        1 where a user interacted with an item (or the weight the caller gave).
    user_ids : ndarray of shape (n_users,)
        The user's own id of each row.
    item_ids : ndarray of shape (n_items,)
        The item's own id of each column.
    name : str
    """

    matrix: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray
    name: str = ""
    kind: str = "interactions"

    def __len__(self) -> int:
        return self.matrix.shape[0]

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (self.matrix.shape[1],)

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)


# -- reading ----------------------------------------------------------------
def _first_line(path: Path) -> str:
    with open(path, "rb") as fh:
        line = fh.readline(1 << 16)
    try:
        return line.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a UTF-8 text file.") from None


def _guess_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    first = _first_line(path)
    if "::" in first:
        return "dat"
    if path.name.lower() == "u.data":
        return "udata"
    if suffix in (".tsv", ".tab", ".data") or ("\t" in first and "," not in first):
        return "tsv"
    return "csv"


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _read_delimited(path: Path, sep: str, header: bool | None):
    """Columns of a delimited text file, via pyarrow (fast on 20M rows)."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv

    if header is None:
        fields = _first_line(path).split(sep)
        header = not all(_is_number(f.strip()) for f in fields if f.strip())
    source: Any = str(path)
    if len(sep) > 1:
        # pyarrow takes one-character delimiters: MovieLens' "::" becomes a tab.
        source = io.BytesIO(path.read_bytes().replace(sep.encode(), b"\t"))
        sep = "\t"
    try:
        table = pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(autogenerate_column_names=not header),
            parse_options=pacsv.ParseOptions(delimiter=sep),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        first = str(exc).splitlines()[0][:200]
        raise DataError(
            f"{path} is not a readable {sep!r}-separated table ({first}); check "
            "--sep and the file."
        ) from None
    return table, header


def _column_index(names: list[str], wanted, candidates, what: str, path) -> int | None:
    """Position of a column given by name or 0-based index, or guessed by name."""
    if wanted is not None:
        if isinstance(wanted, int | np.integer) or (
            isinstance(wanted, str) and wanted.isdigit() and wanted not in names
        ):
            j = int(wanted)
            if not 0 <= j < len(names):
                raise DataError(
                    f"{path} has {len(names)} columns; there is no column {j} for "
                    f"the {what}s."
                )
            return j
        if wanted in names:
            return names.index(wanted)
        lowered = [n.lower() for n in names]
        if str(wanted).lower() in lowered:
            return lowered.index(str(wanted).lower())
        raise DataError(
            f"{path} has no column {wanted!r} for the {what}s; its columns are "
            f"{', '.join(map(repr, names))}."
        )
    lowered = [n.lower().replace(" ", "_") for n in names]
    for cand in candidates:
        if cand in lowered:
            return lowered.index(cand)
    return None


def _table_from_columns(
    names: list[str],
    get,
    *,
    has_header: bool,
    user_col=None,
    item_col=None,
    rating_col=None,
    time_col=None,
    name: str = "",
) -> InteractionTable:
    """Pick the user/item/rating/time columns of a table with ``names``."""
    where = name or "The interactions"
    if has_header:
        ju = _column_index(names, user_col, USER_NAMES, "user", where)
        ji = _column_index(names, item_col, ITEM_NAMES, "item", where)
        if ju is None or ji is None:
            missing = "user" if ju is None else "item"
            raise DataError(
                f"{where} has no column recognisable as the {missing} id (columns: "
                f"{', '.join(map(repr, names))}); name it with --{missing}-col."
            )
        jr = _column_index(names, rating_col, RATING_NAMES, "rating", where)
        jt = _column_index(names, time_col, TIME_NAMES, "time", where)
    else:
        # No header: user, item[, rating[, time]] in that order unless told.
        default = lambda given, j: (  # noqa: E731
            _column_index(names, given, (), "", where)
            if given is not None
            else (j if j < len(names) else None)
        )
        ju, ji = default(user_col, 0), default(item_col, 1)
        jr, jt = default(rating_col, 2), default(time_col, 3)
        if ju is None or ji is None:
            raise DataError(
                f"{where} has {len(names)} column(s); interactions need at least a "
                "user and an item column."
            )
    if len({ju, ji}) < 2:
        raise DataError(f"{where}: the user and item columns are the same column.")
    rating = get(jr) if jr is not None else None
    if rating is not None:
        try:
            rating = np.asarray(rating, dtype=np.float32)
        except (TypeError, ValueError):
            raise DataError(
                f"{where}: the rating column {names[jr]!r} is not numeric; name the "
                "right one with --rating-col."
            ) from None
    return InteractionTable(
        user=np.asarray(get(ju)),
        item=np.asarray(get(ji)),
        rating=rating,
        time=np.asarray(get(jt)) if jt is not None else None,
        name=name,
    )


def read_interactions(
    path: str | Path,
    *,
    format: str = "auto",
    sep: str | None = None,
    header: bool | None = None,
    user_col: str | int | None = None,
    item_col: str | int | None = None,
    rating_col: str | int | None = None,
    time_col: str | int | None = None,
) -> InteractionTable:
    """Read interaction events from a file.

    Parameters
    ----------
    path : str or Path
    format : {"auto", "udata", "dat", "csv", "tsv", "parquet"}, default="auto"
        "udata": GroupLens ``u.data`` (user, item, rating, time; tabs, no
        header); "dat": MovieLens ``ratings.dat`` (``::``); "csv"/"tsv":
        delimited text with or without a header; "auto" guesses from the name
        and the first line.
    sep : str or None
        Field separator of delimited text (overrides the format's).
    header : bool or None
        Whether the first line names the columns; None: guessed (a first line
        with a non-numeric field is a header).
    user_col, item_col, rating_col, time_col : str, int or None
        Column names (or 0-based positions). None: recognised by name (``user``,
        ``userId``, ``item``, ``movieId``, ``rating``, ``timestamp``, ...), or
        the order user, item, rating, time in a file without a header.

    Returns
    -------
    InteractionTable

    Example
    -------
    >>> table = read_interactions("ml-100k/u.data")  # doctest: +SKIP
    >>> ratings = read_interactions("ratings.csv", item_col="movieId")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist; pass an interactions file.")
    if path.is_dir():
        raise DataError(f"{path} is a folder; pass an interactions file.")
    if format not in FORMATS:
        raise ConfigError(
            f"Unknown interactions format {format!r}; choose one of "
            f"{', '.join(FORMATS)}."
        )
    fmt = _guess_format(path) if format == "auto" else format
    cols = dict(user_col=user_col, item_col=item_col, rating_col=rating_col)
    cols["time_col"] = time_col
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"{path} is not a readable Parquet file ({exc}).") from None
        has_header = True
    else:
        default_sep = {"udata": "\t", "dat": "::", "tsv": "\t", "csv": ","}[fmt]
        if fmt in ("udata", "dat") and header is None:
            header = False
        table, has_header = _read_delimited(path, sep or default_sep, header)
    if table.num_rows == 0:
        raise DataError(f"{path} holds no interactions.")
    names = [str(n) for n in table.column_names]
    return _table_from_columns(
        names,
        lambda j: table.column(j).to_numpy(zero_copy_only=False),
        has_header=has_header,
        name=str(path),
        **cols,
    )


def table_from_object(
    data, *, user_col=None, item_col=None, rating_col=None, time_col=None
) -> InteractionTable:
    """An :class:`InteractionTable` from a dict of arrays, a NumPy structured
    array or a DataFrame-like object (pandas, polars, pyarrow: anything with
    named columns)."""
    if isinstance(data, InteractionTable):
        return data
    if isinstance(data, np.ndarray) and data.dtype.names:
        names = list(data.dtype.names)
        get = lambda j: data[names[j]]  # noqa: E731
    elif isinstance(data, dict):
        names = [str(k) for k in data]
        keys = list(data)
        get = lambda j: np.asarray(data[keys[j]])  # noqa: E731
    elif hasattr(data, "columns") and hasattr(data, "__getitem__"):
        keys = list(data.columns) if not callable(data.columns) else None
        if keys is None:
            raise DataError("Cannot read the columns of this table object.")
        names = [str(k) for k in keys]

        def get(j):
            col = data[keys[j]]
            return col.to_numpy() if hasattr(col, "to_numpy") else np.asarray(col)

    else:
        raise DataError(
            "Interactions are a scipy.sparse users x items matrix, a file path, or "
            "a table with user and item columns (dict of arrays, structured array, "
            f"DataFrame). Got {type(data).__name__}."
        )
    table = _table_from_columns(
        names,
        get,
        has_header=True,
        user_col=user_col,
        item_col=item_col,
        rating_col=rating_col,
        time_col=time_col,
        name=type(data).__name__,
    )
    if not (len(table.user) == len(table.item)):
        raise DataError("The user and item columns have different lengths.")
    return table


# -- the matrix ---------------------------------------------------------------
def _check_ids(ids: np.ndarray, what: str, name: str) -> np.ndarray:
    if ids.dtype == object:
        missing = np.array([v is None or v != v for v in ids])
        if missing.any():
            raise DataError(
                f"{name or 'The interactions'}: {int(missing.sum())} {what} id(s) are "
                "missing; drop those rows first."
            )
        return ids.astype(str)
    if ids.dtype.kind == "f":
        if not np.isfinite(ids).all():
            raise DataError(
                f"{name or 'The interactions'}: some {what} ids are missing (NaN); "
                "drop those rows first."
            )
        if np.all(ids == np.round(ids)):
            return ids.astype(np.int64)
    return ids


def to_interactions(
    table: InteractionTable,
    *,
    min_rating: float | None = None,
    min_user_interactions: int = 1,
    min_item_interactions: int = 1,
    user_ids: np.ndarray | None = None,
    item_ids: np.ndarray | None = None,
) -> Interactions:
    """Positives of ``table`` as a binary users x items CSR matrix.

    Parameters
    ----------
    table : InteractionTable
    min_rating : float or None
        Keep events rated at least this (implicit feedback from ratings).
    min_user_interactions, min_item_interactions : int
        Drop items, then users, with fewer positives (the order of Liang et al.).
    user_ids, item_ids : ndarray or None
        Map onto these ids (a fitted model's); events of other users or items
        are dropped. None: the ids found, sorted.
    """
    name = table.name
    users = _check_ids(np.asarray(table.user), "user", name)
    items = _check_ids(np.asarray(table.item), "item", name)
    keep = np.ones(len(users), dtype=bool)
    if min_rating is not None:
        if table.rating is None:
            raise ConfigError(
                f"min_rating={min_rating} needs a rating column, but "
                f"{name or 'the interactions'} has none; name it with --rating-col "
                "or drop --min-rating."
            )
        keep &= table.rating >= min_rating
    users, items = users[keep], items[keep]
    if len(users) == 0:
        raise DataError(
            f"{name or 'The interactions'}: no interaction is left after "
            f"min_rating={min_rating}; lower the threshold."
        )
    if item_ids is None:
        item_ids, cols = np.unique(items, return_inverse=True)
    else:
        cols, ok = _lookup(item_ids, items)
        users, cols = users[ok], cols[ok]
    if user_ids is None:
        user_ids, rows = np.unique(users, return_inverse=True)
    else:
        rows, ok = _lookup(user_ids, users)
        rows, cols = rows[ok], cols[ok]
    m = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)),
        shape=(len(user_ids), len(item_ids)),
    )
    m.sum_duplicates()
    m.data[:] = 1.0  # an item rated twice is one positive
    if min_item_interactions > 1:
        counts = np.bincount(m.indices, minlength=m.shape[1])
        keep_items = counts >= min_item_interactions
        m, item_ids = m[:, keep_items].tocsr(), np.asarray(item_ids)[keep_items]
    if min_user_interactions > 1:
        keep_users = np.diff(m.indptr) >= min_user_interactions
        m, user_ids = m[keep_users], np.asarray(user_ids)[keep_users]
    if m.shape[0] == 0 or m.nnz == 0:
        raise DataError(
            f"{name or 'The interactions'}: no user has "
            f"{min_user_interactions} or more positives; lower "
            "min_user_interactions."
        )
    m.sort_indices()
    return Interactions(m.astype(np.float32), np.asarray(user_ids), item_ids, name)


def _lookup(known: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``values`` in ``known`` (any order) and which were found."""
    known = np.asarray(known)
    if known.dtype.kind in "iu" and values.dtype.kind not in "iu":
        try:
            values = values.astype(known.dtype)
        except (TypeError, ValueError):
            return np.zeros(len(values), np.int64), np.zeros(len(values), bool)
    elif known.dtype.kind in "UO" and values.dtype.kind not in "UO":
        values = values.astype(str)
    order = np.argsort(known, kind="stable")
    pos = np.searchsorted(known[order], values)
    pos = np.clip(pos, 0, len(known) - 1)
    found = known[order][pos] == values
    return order[pos], np.asarray(found, dtype=bool)


def as_interactions(
    data,
    *,
    min_rating: float | None = None,
    min_user_interactions: int = 1,
    min_item_interactions: int = 1,
    **columns,
) -> Interactions:
    """Interactions from any accepted input.

    ``data`` is an :class:`Interactions`, a scipy.sparse users x items matrix
    (row and column numbers are the ids), a file path, or a table with user
    and item columns (dict of arrays, structured array, DataFrame). The filters
    apply to the tables and files only.
    """
    if isinstance(data, Interactions):
        return data
    if sp.issparse(data):
        m = sp.csr_matrix(data, dtype=np.float32)
        m.sum_duplicates()
        m.sort_indices()
        if m.nnz and (not np.isfinite(m.data).all() or m.data.min() < 0):
            raise DataError(
                "The interaction matrix holds negative, NaN or infinite values; "
                "interactions are counts or weights >= 0."
            )
        m.eliminate_zeros()
        return Interactions(m, np.arange(m.shape[0]), np.arange(m.shape[1]), "matrix")
    if isinstance(data, np.ndarray) and not data.dtype.names:
        raise DataError(
            "A dense array is ambiguous as interactions; pass a scipy.sparse "
            "users x items matrix (scipy.sparse.csr_matrix(X)) or a table with "
            "user and item columns."
        )
    if isinstance(data, str | Path):
        table = read_interactions(data, **columns)
    else:
        columns = {k: v for k, v in columns.items() if k.endswith("_col")}
        table = table_from_object(data, **columns)
    return to_interactions(
        table,
        min_rating=min_rating,
        min_user_interactions=min_user_interactions,
        min_item_interactions=min_item_interactions,
    )


# -- batches ----------------------------------------------------------------
class CSRSource:
    """Rows of a CSR matrix, densified one batch at a time on ``device``.

    The trainer's data protocol (``__len__`` and ``take(idx)``): the whole
    matrix stays sparse in host memory; each batch is scattered into a dense
    (batch, n_items) tensor on the device, so peak memory is one batch.
    """

    def __init__(self, matrix: sp.csr_matrix, device: torch.device | str = "cpu"):
        self.matrix = sp.csr_matrix(matrix, dtype=np.float32)
        self.device = torch.device(device)

    def __len__(self) -> int:
        return self.matrix.shape[0]

    def take(self, idx) -> torch.Tensor:
        rows = idx.cpu().numpy() if isinstance(idx, torch.Tensor) else np.asarray(idx)
        return densify(self.matrix[rows], self.device)


def densify(block: sp.csr_matrix, device: torch.device | str = "cpu") -> torch.Tensor:
    """A dense float32 tensor of a (small) CSR block, built on ``device``."""
    block = sp.csr_matrix(block)
    n, m = block.shape
    counts = np.diff(block.indptr)
    r = torch.from_numpy(np.repeat(np.arange(n, dtype=np.int64), counts))
    c = torch.from_numpy(block.indices.astype(np.int64, copy=False))
    v = torch.from_numpy(block.data.astype(np.float32, copy=False))
    out = torch.zeros(n, m, dtype=torch.float32, device=device)
    out[r.to(device), c.to(device)] = v.to(device)
    return out


# -- splits -----------------------------------------------------------------
def _part_sizes(n: np.ndarray, fractions: tuple[float, ...]) -> np.ndarray:
    """Items per part for users with ``n`` items: (n_users, n_parts).

    Every part after the first gets floor(fraction * n), raised to 1 when the
    fraction asks for a non-zero share and the first part keeps two or more;
    the first part (the training or fold-in part) gets the rest. This is
    RecBole's ratio split (``_calcu_split_ids``), so the splits are comparable.
    """
    n = np.asarray(n, dtype=np.int64)
    sizes = np.stack([np.floor(f * n).astype(np.int64) for f in fractions], 1)
    sizes[:, 0] = n - sizes[:, 1:].sum(1)
    for j in range(len(fractions) - 1, 0, -1):
        share = fractions[j] * n
        bump = (sizes[:, 0] > 1) & (share > 0) & (share < 1)
        sizes[bump, j] += 1
        sizes[bump, 0] -= 1
    return sizes


def split_rows(
    matrix: sp.csr_matrix, fractions: tuple[float, ...], *, seed: int = 0
) -> list[sp.csr_matrix]:
    """Split each row's non-zeros at random into parts of the given fractions.

    Weak generalization (``fractions=(0.8, 0.1, 0.1)``: train, validation,
    test for every user) and the fold-in split of strong generalization
    (``(0.8, 0.2)``). Returns one CSR matrix per part, each of the full shape.
    """
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) < 2 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise ConfigError(
            f"Split fractions must be two or more shares >= 0 that sum to 1. Got "
            f"{fractions}."
        )
    m = sp.csr_matrix(matrix)
    counts = np.diff(m.indptr)
    # Memory matters at 20M non-zeros: int32 rows, float32 keys, no (nnz, parts)
    # temporaries.
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int32), counts)
    key = np.random.default_rng(seed).random(m.nnz, dtype=np.float32)
    order = np.lexsort((key, rows))  # rows stay grouped; random order inside
    del key
    rank = np.empty(m.nnz, dtype=np.int32)
    rank[order] = np.arange(m.nnz) - m.indptr[:-1][rows]
    del order
    bounds = np.cumsum(_part_sizes(counts, fractions), axis=1)  # (n_users, parts)
    part = np.zeros(m.nnz, dtype=np.int8)
    for j in range(len(fractions) - 1):
        part += rank >= bounds[rows, j]
    del rank
    out = []
    for j in range(len(fractions)):
        sel = part == j
        out.append(
            sp.csr_matrix(
                (
                    m.data[sel],
                    m.indices[sel],
                    np.r_[0, np.cumsum(np.bincount(rows[sel], minlength=m.shape[0]))],
                ),
                shape=m.shape,
            )
        )
    return out


def split_users(
    n_users: int, n_heldout: int, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers of training users and of ``n_heldout`` held-out users (sorted)."""
    if not 0 <= n_heldout < n_users:
        raise ConfigError(
            f"Cannot hold out {n_heldout} of {n_users} users; hold out fewer."
        )
    perm = np.random.default_rng(seed).permutation(n_users)
    return np.sort(perm[n_heldout:]), np.sort(perm[:n_heldout])
