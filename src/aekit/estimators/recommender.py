"""The ``Recommender`` estimator: Mult-VAE and Mult-DAE on implicit feedback.

Liang, Krishnan, Hoffman & Jebara 2018, "Variational Autoencoders for
Collaborative Filtering" (https://arxiv.org/abs/1802.05814). A user is the
vector of items they interacted with; the autoencoder reads it (L2-normalised,
with input dropout) and outputs a multinomial distribution over all items,
whose probabilities rank the items the user has not seen yet. Both models are
aekit's composed autoencoder with components chosen from the registries:

- Mult-VAE: dense ``items -> [variational 600] -> items``
  (``hidden=(600,), code_size=200`` gives the paper's
  ``items -> 600 -> 200 -> 600 -> items`` with tanh), masking corruption with
  rescaling (dropout 0.5), multinomial likelihood, KL weight annealed to a
  cap ``beta`` by :class:`aekit.training.anneal.LinearAnneal`;
- Mult-DAE: ``items -> [deterministic 600, tanh] -> items`` with the same
  input, corruption and likelihood, no KL term.

The input is divided by the square root of the history's size, which after
the rescaled dropout is the paper's "L2-normalise, then drop out" (see
:class:`aekit.architectures.dense.InputNorm`). The defaults were chosen on
validation NDCG@100 of MovieLens 100K (``bench/bench_recommender.py --part
sweep``): there a variational code straight on the items beat the paper's
600-unit hidden layer (0.351 vs 0.335 at code 200, seed 0), and a code of 600
edged one of 200 for both models (Mult-VAE 0.3536 vs 0.3519, Mult-DAE 0.3479
vs 0.3451, means of 3 seeds); on large data sets try ``hidden=(600,),
code_size=200``.

The user x item matrix stays a SciPy CSR matrix; each batch is densified on
the training device. Early stopping follows NDCG@100 on held-out items of the
training users (weak generalization), not the loss. Users unseen in training
are scored from their history alone (fold-in): no retraining.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator

from aekit.data.interactions import (
    CSRSource,
    Interactions,
    InteractionTable,
    _lookup,
    as_interactions,
    densify,
    read_interactions,
    split_rows,
    to_interactions,
)
from aekit.estimators.autoencoder import _widths
from aekit.estimators.base import (
    check_params,
    register_estimator,
    register_model,
    seed_from,
)
from aekit.exceptions import ConfigError, DataError, ModelFileError, NotFittedError
from aekit.io import atomic_write_json
from aekit.model import AutoencoderModule, check_memory
from aekit.ranking import DEFAULT_KS, RankingAccumulator, top_k
from aekit.runs import read_run, write_run
from aekit.training.anneal import LinearAnneal
from aekit.training.trainer import Trainer, TrainerConfig, resolve_device

MODELS = ("multvae", "multdae")
IDS_FILE = "ids.json"
MONITOR = "val_ndcg@100"


@register_model(*MODELS)
@register_estimator
class Recommender(BaseEstimator):
    """Top-k recommendations from implicit feedback with an autoencoder.

    Parameters
    ----------
    model : {"multvae", "multdae"}, default="multvae"
        Mult-VAE (variational code, annealed KL) or Mult-DAE (denoising).
    code_size : int, default=600
        Units in the code.
    hidden : tuple of int or None, default=None
        Encoder widths between the items and the code (the decoder mirrors
        them). None: () (the code reads the items directly). Liang et al.
        use (600,) for Mult-VAE and () for Mult-DAE.
    activation : str, default="tanh"
    dropout : float, default=0.5
        Share of each input history dropped in training (rescaled dropout).
    beta : float, default=0.2
        Cap of the KL weight (Mult-VAE).
    anneal_epochs : int, default=50
        Epochs over which the KL weight rises linearly from 0 to ``beta``.
    epochs : int, default=200
        Most epochs; early stopping on validation NDCG@100 may stop sooner.
    batch_size : int, default=128
        Users per step.
    lr : float, default=1e-3
    weight_decay : float, default=0.0
    lr_schedule : {"constant", "cosine"}, default="constant"
    validation_fraction : float, default=0.1
        When ``fit`` gets no ``validation``, this share of each user's items is
        held out (at random) for early stopping; the model trains on the rest.
        0 turns early stopping on validation off.
    patience : int or None, default=20
        Epochs without a better validation NDCG@100 before stopping; the best
        weights are restored. None trains all ``epochs``.
    max_validation_users : int, default=10000
        Validate on at most this many users (a fixed random sample), so large
        data sets do not spend an epoch's time on validation.
    min_rating : float or None, default=None
        With tabular input: keep interactions rated at least this (e.g. 4).
    min_user_interactions : int, default=1
        With tabular input: drop users with fewer positives.
    random_state : int, RandomState, Generator or None, default=None
    device : str, default="auto"
    verbose : int, default=0

    Attributes
    ----------
    module_ : AutoencoderModule
    user_ids_ : ndarray of shape (n_users,)
        The training users' own ids (row order of ``histories_``).
    item_ids_ : ndarray of shape (n_items,)
        The items' own ids (column order of every score array).
    histories_ : scipy.sparse.csr_matrix of shape (n_users, n_items)
        The training users' items (all of them, validation ones included).
    n_features_in_ : int
        Number of items.
    history_ : list of dict
    best_epoch_ : int
    fit_seconds_, fit_cpu_seconds_ : float

    Example
    -------
    >>> import scipy.sparse as sp
    >>> X = sp.random(200, 50, density=0.1, format="csr", random_state=0)
    >>> rec = Recommender(epochs=3, random_state=0).fit(X)
    >>> items, scores = rec.recommend([0, 1], k=5)
    >>> items.shape
    (2, 5)
    """

    # Flags of ``aekit fit --model multvae`` beyond the autoencoder's own:
    # (flag, parameter, click type, help, converter).
    CLI_OPTIONS = [
        ("--beta", "beta", float, "Cap of the KL weight (multvae).", None),
        (
            "--anneal-epochs",
            "anneal_epochs",
            int,
            "Epochs to raise the KL weight to --beta (multvae).",
            None,
        ),
        (
            "--min-rating",
            "min_rating",
            float,
            "Keep interactions rated at least this (implicit feedback).",
            None,
        ),
        (
            "--min-user-interactions",
            "min_user_interactions",
            int,
            "Drop users with fewer positives.",
            None,
        ),
        (
            "--max-validation-users",
            "max_validation_users",
            int,
            "Validate early stopping on at most this many users.",
            None,
        ),
    ]
    # Options of ``read_data``: (flag, keyword, click type, help).
    CLI_DATA_OPTIONS = [
        ("--user-col", "user_col", str, "User id column (name or 0-based index)."),
        ("--item-col", "item_col", str, "Item id column (name or 0-based index)."),
        ("--rating-col", "rating_col", str, "Rating column (optional)."),
        ("--time-col", "time_col", str, "Timestamp column (optional)."),
        ("--sep", "sep", str, "Field separator of a text file (e.g. '::')."),
        (
            "--format",
            "format",
            str,
            "Interactions format: auto, udata, dat, csv, tsv or parquet.",
        ),
    ]

    def __init__(
        self,
        model: str = "multvae",
        *,
        code_size: int = 600,
        hidden: tuple[int, ...] | None = None,
        activation: str = "tanh",
        dropout: float = 0.5,
        beta: float = 0.2,
        anneal_epochs: int = 50,
        epochs: int = 200,
        batch_size: int = 128,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        lr_schedule: str = "constant",
        validation_fraction: float = 0.1,
        patience: int | None = 20,
        max_validation_users: int = 10000,
        min_rating: float | None = None,
        min_user_interactions: int = 1,
        random_state=None,
        device: str = "auto",
        verbose: int = 0,
    ):
        self.model = model
        self.code_size = code_size
        self.hidden = hidden
        self.activation = activation
        self.dropout = dropout
        self.beta = beta
        self.anneal_epochs = anneal_epochs
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.max_validation_users = max_validation_users
        self.min_rating = min_rating
        self.min_user_interactions = min_user_interactions
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # -- building -------------------------------------------------------------
    def _model_spec(self) -> dict[str, Any]:
        if self.model not in MODELS:
            raise ConfigError(
                f"The 'model' parameter of Recommender must be one of "
                f"{', '.join(map(repr, MODELS))}. Got {self.model!r} instead."
            )
        if not isinstance(self.code_size, int | np.integer) or self.code_size < 1:
            raise ConfigError(
                "The 'code_size' parameter of Recommender must be an int in the "
                f"range [1, inf). Got {self.code_size!r} instead."
            )
        if not 0 <= self.dropout < 1:
            raise ConfigError(
                f"The 'dropout' parameter must be in [0, 1). Got {self.dropout!r}."
            )
        vae = self.model == "multvae"
        hidden = () if self.hidden is None else _widths(self.hidden, "hidden")
        if vae:
            latent = {
                "kind": "variational",
                "code_size": int(self.code_size),
                "beta": float(self.beta),
            }
        else:
            # Liang's Mult-DAE has one tanh layer: the code is that layer.
            latent = {
                "kind": "deterministic",
                "code_size": int(self.code_size),
                "activation": self.activation,
            }
        return {
            "architecture": {
                "kind": "dense",
                "hidden": hidden,
                "activation": self.activation,
                "input_norm": "sqrt_sum",
            },
            "latent": latent,
            "regularizers": [],
            "corruption": (
                {"kind": "masking", "fraction": float(self.dropout), "rescale": True}
                if self.dropout > 0
                else None
            ),
            "likelihood": {"kind": "multinomial", "reduction": "sum"},
        }

    def _callbacks(self) -> list[Any]:
        if self.model == "multvae":
            return [LinearAnneal("kl_weight", epochs=int(self.anneal_epochs))]
        return []

    def _check_fitted(self) -> None:
        if not hasattr(self, "module_"):
            raise NotFittedError(
                "This Recommender instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    # -- data -------------------------------------------------------------------
    @classmethod
    def read_data(cls, source, **options) -> InteractionTable:
        """Interaction events from a file (see
        :func:`aekit.data.interactions.read_interactions` for ``options``)."""
        return read_interactions(source, **options)

    def _interactions(self, X, columns: dict[str, Any]) -> Interactions:
        return as_interactions(
            X,
            min_rating=self.min_rating,
            min_user_interactions=int(self.min_user_interactions),
            **columns,
        )

    def _aligned(self, data, columns: dict[str, Any], what: str) -> sp.csr_matrix:
        """``data`` as a CSR matrix on the fitted users x items."""
        shape = (len(self.user_ids_), len(self.item_ids_))
        if sp.issparse(data) or isinstance(data, Interactions):
            m = data.matrix if isinstance(data, Interactions) else data
            if m.shape != shape:
                raise DataError(
                    f"{what} has shape {m.shape}, but the training interactions "
                    f"have shape {shape}; give it the same users and items."
                )
            return sp.csr_matrix(m, dtype=np.float32)
        if isinstance(data, str | Path):
            table = read_interactions(data, **columns)
        else:
            from aekit.data.interactions import table_from_object

            table = table_from_object(data, **columns)
        return to_interactions(
            table,
            min_rating=self.min_rating,
            user_ids=self.user_ids_,
            item_ids=self.item_ids_,
        ).matrix

    # -- fitting ----------------------------------------------------------------
    def fit(
        self,
        X,
        y=None,
        *,
        validation=None,
        user_col: str | None = None,
        item_col: str | None = None,
        rating_col: str | None = None,
        checkpoint: str | Path | None = None,
        resume: bool = False,
    ):
        """Train on the interactions ``X``.

        Parameters
        ----------
        X : scipy.sparse matrix, table or path
            A users x items sparse matrix (row and column numbers are the ids);
            a table with user and item columns (dict of arrays, structured
            array, DataFrame, :class:`~aekit.data.interactions.InteractionTable`);
            or an interactions file.
        y : ignored
        validation : same kinds as ``X``, optional
            Held-out items of the same users for early stopping (NDCG@100).
            None: ``validation_fraction`` of each user's items is held out.
        user_col, item_col, rating_col : str, optional
            Column names of a table (recognised by name when not given).
        checkpoint, resume : see :meth:`aekit.Autoencoder.fit`.
        """
        t0, c0 = time.perf_counter(), time.process_time()
        check_params(self)
        columns = {"user_col": user_col, "item_col": item_col}
        columns["rating_col"] = rating_col
        data = self._interactions(X, columns)
        if data.matrix.shape[0] < 2 or data.matrix.shape[1] < 2:
            raise DataError(
                f"Recommender needs at least 2 users and 2 items; got "
                f"{data.matrix.shape[0]} users and {data.matrix.shape[1]} items."
            )
        self.user_ids_, self.item_ids_ = data.user_ids, data.item_ids
        self.n_features_in_ = int(data.matrix.shape[1])
        self.histories_ = data.matrix
        spec = self._model_spec()
        if not 0 <= self.validation_fraction < 1:
            raise ConfigError(
                "validation_fraction must be in [0, 1). Got "
                f"{self.validation_fraction!r}."
            )
        seed = seed_from(self.random_state)
        if validation is not None:
            train = data.matrix
            val = self._aligned(validation, columns, "validation")
            self.histories_ = (train + val).tocsr()
            self.histories_.data[:] = 1.0
        elif self.validation_fraction > 0:
            f = float(self.validation_fraction)
            train, val = split_rows(data.matrix, (1 - f, f), seed=seed)
        else:
            train, val = data.matrix, None

        self._device = resolve_device(self.device)
        torch.manual_seed(seed)
        self.module_ = AutoencoderModule(spec, (self.n_features_in_,))
        if self._device.type == "cpu":
            check_memory(self.module_, training=True)
        validate = None
        if val is not None and val.nnz:
            validate = self._validator(train, val, seed)
        trainer = Trainer(
            TrainerConfig(
                epochs=int(self.epochs),
                batch_size=int(self.batch_size),
                lr=float(self.lr),
                weight_decay=float(self.weight_decay),
                lr_schedule=self.lr_schedule,
                patience=None if self.patience is None else int(self.patience),
                device=self.device,
                seed=seed,
                verbose=int(self.verbose),
            ),
            callbacks=self._callbacks(),
            checkpoint=checkpoint,
            validate=validate,
            monitor=MONITOR if validate is not None else None,
            mode="max" if validate is not None else "min",
        )
        self.history_ = trainer.fit(
            self.module_, CSRSource(train, self._device), resume=resume
        )
        self.monitor_ = MONITOR if validate is not None else "train_loss"
        self.best_epoch_ = trainer.best_epoch
        self.stopped_early_ = trainer.stopped_early
        self.fit_seconds_ = time.perf_counter() - t0
        self.fit_cpu_seconds_ = time.process_time() - c0
        return self

    def _validator(self, train: sp.csr_matrix, val: sp.csr_matrix, seed: int):
        users = np.flatnonzero(np.diff(val.indptr) > 0)
        cap = int(self.max_validation_users)
        if len(users) > cap:
            rng = np.random.default_rng(seed + 1)
            users = np.sort(rng.choice(users, cap, replace=False))
        train_v, val_v = train[users], val[users]
        device = self._device

        def validate(module) -> dict[str, float]:
            acc = RankingAccumulator(ks=(10, 20, 100))
            for start in range(0, len(users), 1024):
                rows = slice(start, start + 1024)
                scores = module(densify(train_v[rows], device))  # (B, n_items)
                acc.add(scores, val_v[rows], exclude=train_v[rows])
            res = acc.result()
            return {f"val_{k}": v for k, v in res.items() if k != "n_users"}

        return validate

    # -- inference --------------------------------------------------------------
    def _histories(self, histories) -> sp.csr_matrix:
        """Histories as CSR rows over the fitted items.

        A sparse matrix (n, n_items), or a list with one sequence of item ids
        (the items' own ids) per user. Unknown item ids are ignored.
        """
        self._check_fitted()
        if isinstance(histories, Interactions):
            histories = histories.matrix
        if sp.issparse(histories):
            m = sp.csr_matrix(histories, dtype=np.float32)
            if m.ndim != 2 or m.shape[1] != self.n_features_in_:
                raise DataError(
                    f"The histories have {m.shape[1]} items (columns), but this "
                    f"Recommender was fitted with {self.n_features_in_} items."
                )
            return m
        if isinstance(histories, np.ndarray) and histories.ndim == 2:
            raise DataError(
                "Give histories as a scipy.sparse matrix (n_users x n_items) or as a "
                "list of item-id lists, not as a dense array."
            )
        rows, cols = [], []
        for i, items in enumerate(histories):
            items = np.atleast_1d(np.asarray(items))
            if items.size == 0:
                continue
            pos, ok = _lookup(self.item_ids_, items)
            rows.append(np.full(int(ok.sum()), i))
            cols.append(pos[ok])
        n = len(histories)
        if not rows:
            return sp.csr_matrix((n, self.n_features_in_), dtype=np.float32)
        r, c = np.concatenate(rows), np.concatenate(cols)
        m = sp.csr_matrix(
            (np.ones(len(r), np.float32), (r, c)), shape=(n, self.n_features_in_)
        )
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    @torch.no_grad()
    def _scores(self, rows: sp.csr_matrix) -> torch.Tensor:
        self.module_.eval()
        return self.module_(densify(rows, self._device))  # (B, n_items)

    def predict(self, histories, *, batch_size: int = 1024) -> np.ndarray:
        """Scores of every item for users given by their histories (fold-in).

        Parameters
        ----------
        histories : sparse matrix (n_users, n_items) or list of item-id lists
            Works for users never seen in training: no retraining.

        Returns
        -------
        ndarray of shape (n_users, n_items), float32
            The model's multinomial probabilities (each row sums to 1), columns
            in the order of ``item_ids_``.
        """
        m = self._histories(histories)
        out = np.empty(m.shape, dtype=np.float32)
        for start in range(0, m.shape[0], batch_size):
            stop = start + batch_size
            out[start:stop] = self._scores(m[start:stop]).float().cpu().numpy()
        return out

    def user_rows(self, users) -> np.ndarray:
        """Row numbers of ``users`` (their own ids) in ``histories_``."""
        self._check_fitted()
        users = np.atleast_1d(np.asarray(users))
        pos, ok = _lookup(self.user_ids_, users)
        if not ok.all():
            missing = users[~ok][:3]
            raise DataError(
                f"Unknown user id(s) {', '.join(map(repr, missing.tolist()))}: this "
                "Recommender was not trained on them. Pass their items as a history "
                "instead (recommend(histories=...), aekit recommend --history)."
            )
        return pos

    def recommend(
        self,
        users=None,
        k: int = 10,
        *,
        histories=None,
        exclude_seen: bool = True,
        batch_size: int = 1024,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The top ``k`` items for known users or for given histories.

        Parameters
        ----------
        users : sequence of user ids, optional
            Training users, by their own ids; their stored histories are used.
        k : int, default=10
        histories : sparse matrix or list of item-id lists, optional
            New (or any) users' items; exactly one of ``users``/``histories``.
        exclude_seen : bool, default=True
            Leave out the items already in each history.

        Returns
        -------
        items : ndarray of shape (n, k)
            The items' own ids, best first.
        scores : ndarray of shape (n, k), float32
            Their probabilities under the model.
        """
        self._check_fitted()
        if (users is None) == (histories is None):
            raise ConfigError("Pass exactly one of 'users' and 'histories'.")
        if not isinstance(k, int | np.integer) or k < 1:
            raise ConfigError(f"k must be a positive int. Got {k!r}.")
        if users is not None:
            m = self.histories_[self.user_rows(users)]
        else:
            m = self._histories(histories)
        k = min(int(k), self.n_features_in_)
        items, scores = [], []
        for start in range(0, m.shape[0], batch_size):
            block = m[start : start + batch_size]
            s = self._scores(block)
            top = top_k(s, k, block if exclude_seen else None)
            items.append(top)
            scores.append(torch.gather(s, 1, torch.from_numpy(top).to(s.device)))
        if not items:
            return np.empty((0, k), self.item_ids_.dtype), np.empty((0, k), np.float32)
        top = np.concatenate(items)
        return self.item_ids_[top], torch.cat(scores).float().cpu().numpy()

    def evaluate(
        self,
        inputs,
        targets,
        *,
        exclude=None,
        ks=DEFAULT_KS,
        batch_size: int = 1024,
    ) -> dict[str, float]:
        """Recall@K and NDCG@K of ranking ``targets`` from ``inputs``.

        Parameters
        ----------
        inputs : sparse matrix (n_users, n_items)
            The histories the model reads (fold-in).
        targets : sparse matrix (n_users, n_items)
            The held-out items to find.
        exclude : sparse matrix or None
            Items left out of the ranking; None: the ``inputs``.
        """
        x = self._histories(inputs)
        t = self._histories(targets)
        ex = x if exclude is None else self._histories(exclude)
        acc = RankingAccumulator(ks)
        for start in range(0, x.shape[0], batch_size):
            rows = slice(start, start + batch_size)
            acc.add(self._scores(x[rows]), t[rows], exclude=ex[rows])
        return acc.result()

    def evaluate_protocol(
        self,
        data,
        *,
        protocol: str = "weak",
        fold_in: float = 0.8,
        seed: int = 0,
        ks=DEFAULT_KS,
        **columns,
    ) -> dict[str, Any]:
        """Ranking metrics on held-out interactions ``data`` (a file or table).

        Parameters
        ----------
        data : path, table or sparse matrix
            ``protocol="weak"``: held-out items of training users (by their own
            ids); each user's stored history is the input and is excluded from
            the ranking. ``protocol="strong"``: users held out of training
            (any ids); ``fold_in`` of each user's items (random, ``seed``) is
            the input, the rest the targets.
        protocol : {"weak", "strong"}
        columns : read options for a file (``user_col``, ``sep``, ...).

        Returns
        -------
        dict
            ``protocol``, ``recall@K``/``ndcg@K``, ``n_users`` evaluated and the
            held-out interactions dropped because their user or item is unknown.
        """
        self._check_fitted()
        if protocol not in ("weak", "strong"):
            raise ConfigError(f"protocol must be 'weak' or 'strong'. Got {protocol!r}.")
        if sp.issparse(data):
            table = None
            m = sp.csr_matrix(data, dtype=np.float32)
        else:
            if isinstance(data, str | Path):
                table = read_interactions(data, **columns)
            else:
                from aekit.data.interactions import table_from_object

                table = table_from_object(data, **columns)
        out: dict[str, Any] = {"protocol": protocol}
        if protocol == "weak":
            if table is not None:
                m = to_interactions(
                    table,
                    min_rating=self.min_rating,
                    user_ids=self.user_ids_,
                    item_ids=self.item_ids_,
                ).matrix
            inputs = self.histories_
            if m.shape != inputs.shape:
                raise DataError(
                    f"The held-out matrix has shape {m.shape}; the training users x "
                    f"items are {inputs.shape}."
                )
            # Items already in the history are not held out.
            m = (m - m.multiply(inputs)).tocsr()
            m.eliminate_zeros()
            users = np.flatnonzero(np.diff(m.indptr) > 0)
            out |= self.evaluate(inputs[users], m[users], ks=ks)
        else:
            if table is not None:
                full = to_interactions(table, min_rating=self.min_rating)
                cols, ok = _lookup(self.item_ids_, np.asarray(full.item_ids))
                keep = np.flatnonzero(ok)
                m = sp.csr_matrix(
                    (np.ones(len(keep), np.float32), (keep, cols[keep])),
                    shape=(len(full.item_ids), self.n_features_in_),
                )
                m = (full.matrix @ m).tocsr()  # users x the model's items
                out["n_unknown_items"] = int(len(full.item_ids) - len(keep))
            m = self._histories(m)
            x, t = split_rows(m, (fold_in, 1 - fold_in), seed=seed)
            out |= self.evaluate(x, t, ks=ks)
        if table is not None and protocol == "weak":
            out["n_events_read"] = int(len(table))
        return out

    def score(self, X, y=None) -> float:
        """NDCG@100 on held-out users (strong generalization): each user in
        ``X`` (a sparse matrix over the fitted items) is folded in with 80% of
        their items, chosen with seed 0, and ranked against the other 20%."""
        m = self._histories(X)
        fold_in, target = split_rows(m, (0.8, 0.2), seed=0)
        return float(self.evaluate(fold_in, target, ks=(100,))["ndcg@100"])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.non_deterministic = False
        return tags

    # -- files ------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        self._check_fitted()
        best = {}
        if 0 < self.best_epoch_ <= len(self.history_):
            best = self.history_[self.best_epoch_ - 1]
        return {
            "estimator": "Recommender",
            "model": self.model,
            "n_users": int(len(self.user_ids_)),
            "n_items": int(self.n_features_in_),
            "n_interactions": int(self.histories_.nnz),
            "epochs_run": len(self.history_),
            "best_epoch": self.best_epoch_,
            "stopped_early": self.stopped_early_,
            "monitor": self.monitor_,
            "best": {k: v for k, v in best.items() if k != "epoch"},
            "fit_seconds": getattr(self, "fit_seconds_", None),
            "fit_cpu_seconds": getattr(self, "fit_cpu_seconds_", None),
            "n_parameters": sum(p.numel() for p in self.module_.parameters()),
        }

    def save(self, path: str | Path, *, extra_summary: dict | None = None) -> Path:
        """Write the run folder: config.json, model.safetensors (weights and the
        training histories), ids.json (user and item ids), summary, history."""
        self._check_fitted()
        path = Path(path)
        params = {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in self.get_params().items()
        }
        if not isinstance(params.get("random_state"), int | type(None)):
            params["random_state"] = None
        tensors = {f"module.{k}": v for k, v in self.module_.state_dict().items()}
        h = self.histories_
        tensors["histories.indptr"] = torch.from_numpy(h.indptr.astype(np.int64))
        tensors["histories.indices"] = torch.from_numpy(h.indices.astype(np.int64))
        tensors["histories.data"] = torch.from_numpy(h.data.astype(np.float32))
        # Ids before config.json: a folder with a config.json is complete.
        atomic_write_json(
            path / IDS_FILE,
            {
                "users": _jsonable_ids(self.user_ids_),
                "items": _jsonable_ids(self.item_ids_),
            },
        )
        fitted = {
            k: getattr(self, k, None)
            for k in (
                "best_epoch_",
                "stopped_early_",
                "monitor_",
                "fit_seconds_",
                "fit_cpu_seconds_",
            )
        }
        return write_run(
            path,
            config={
                "estimator": "Recommender",
                "params": params,
                "model": {"input_shape": [self.n_features_in_], **self.module_.spec()},
                "n_users": int(len(self.user_ids_)),
                "fitted": fitted,
            },
            tensors=tensors,
            summary=self.summary() | (extra_summary or {}),
            history=self.history_,
        )

    @classmethod
    def load(cls, path: str | Path, *, device: str | None = None):
        """Rebuild a fitted Recommender from its run folder (no unpickling)."""
        path = Path(path)
        config, tensors = read_run(path)
        if config.get("estimator") != cls.__name__:
            raise ModelFileError(
                f"{path} holds a {config.get('estimator')!r}, not a Recommender; use "
                "aekit.load() to load any kind."
            )
        try:
            params = dict(config["params"])
            unknown = set(params) - set(cls().get_params())
            if unknown:
                raise ModelFileError(
                    f"{path} uses parameter(s) {', '.join(sorted(unknown))} that this "
                    "aekit does not know; upgrade aekit to load it."
                )
            if isinstance(params.get("hidden"), list):
                params["hidden"] = tuple(params["hidden"])
            if device is not None:
                params["device"] = device
            est = cls(**params)
            model_cfg = dict(config["model"])
            input_shape = tuple(model_cfg.pop("input_shape"))
            module = AutoencoderModule(model_cfg, input_shape)
            state = {k[7:]: v for k, v in tensors.items() if k.startswith("module.")}
            module.load_state_dict(state, strict=True)
            ids = json.loads((path / IDS_FILE).read_text(encoding="utf-8"))
            est.user_ids_ = np.asarray(ids["users"])
            est.item_ids_ = np.asarray(ids["items"])
            n_items = int(input_shape[0])
            est.histories_ = sp.csr_matrix(
                (
                    tensors["histories.data"].numpy(),
                    tensors["histories.indices"].numpy(),
                    tensors["histories.indptr"].numpy(),
                ),
                shape=(len(est.user_ids_), n_items),
            )
            if len(est.item_ids_) != n_items:
                raise ValueError(
                    f"ids.json has {len(est.item_ids_)} items, the model {n_items}"
                )
            est.n_features_in_ = n_items
            fitted = config.get("fitted", {})
            for k, v in fitted.items():
                setattr(est, k, v)
        except ModelFileError:
            raise
        except FileNotFoundError:
            raise ModelFileError(f"{path} has no {IDS_FILE}.") from None
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ModelFileError(
                f"{path} does not describe a model this aekit can rebuild: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            ) from None
        from aekit.estimators.autoencoder import _read_history

        est.history_ = _read_history(path / "history.csv")
        est._device = resolve_device(est.device)
        module.to(est._device).eval()
        est.module_ = module
        return est


def _jsonable_ids(ids: np.ndarray) -> list:
    ids = np.asarray(ids)
    if ids.dtype.kind in "iu":
        return [int(v) for v in ids]
    if ids.dtype.kind == "f":
        return [float(v) for v in ids]
    return [str(v) for v in ids]
