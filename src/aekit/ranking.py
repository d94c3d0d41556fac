"""Top-k ranking metrics of recommenders: Recall@K and NDCG@K.

Both rank every item by score, after removing the items a user is known to
have seen (set to -inf), and compare the top K with the user's held-out items
(binary relevance). Recall@K is Liang et al.'s definition (hits / min(K,
number of held-out items), https://arxiv.org/abs/1802.05814, eq. 11), which
reaches 1 when the top K are all relevant; NDCG@K divides the discounted
gain of the top K (1/log2(rank + 1)) by that of an ideal ranking. Users with
no held-out item are left out of the means.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

DEFAULT_KS = (10, 20, 50, 100)


def top_k(scores, k: int, exclude: sp.csr_matrix | None = None) -> np.ndarray:
    """Indices of the ``k`` best items per row, best first: (n_users, k).

    Items in ``exclude`` (a CSR matrix of the same shape) never appear unless
    a row has fewer than ``k`` other items. Equal scores at the cut-off are
    broken arbitrarily (as every top-k routine does).
    """
    if torch.is_tensor(scores):
        s = scores.detach().float().clone()
    else:  # a copy: the excluded items are overwritten below
        s = torch.from_numpy(np.array(scores, dtype=np.float32))
    if exclude is not None:
        ex = sp.csr_matrix(exclude)
        r = np.repeat(np.arange(ex.shape[0]), np.diff(ex.indptr))
        s[torch.from_numpy(r), torch.from_numpy(ex.indices.astype(np.int64))] = -np.inf
    k = min(int(k), s.shape[1])
    # A partial selection: a full sort of 27k items per user would cost more
    # than the model's forward pass.
    _, idx = torch.topk(s, k, dim=1, largest=True, sorted=True)
    return idx.cpu().numpy()


def ranking_metrics(
    scores,
    targets: sp.csr_matrix,
    *,
    exclude: sp.csr_matrix | None = None,
    ks=DEFAULT_KS,
    per_user: bool = False,
) -> dict:
    """Recall@K and NDCG@K of ``scores`` against held-out ``targets``.

    Parameters
    ----------
    scores : array of shape (n_users, n_items)
    targets : sparse matrix of shape (n_users, n_items)
        The held-out items (non-zeros are relevant).
    exclude : sparse matrix or None
        Items to leave out of the ranking (the ones the user was seen with).
    ks : sequence of int
    per_user : bool
        Return the per-user arrays (for users with targets) instead of means.

    Returns
    -------
    dict
        ``recall@K`` and ``ndcg@K`` for each K (means over users with at least
        one target, or arrays when ``per_user``), and ``n_users`` counted.

    Example
    -------
    >>> import scipy.sparse as sp
    >>> m = ranking_metrics([[0.9, 0.1, 0.5]], sp.csr_matrix([[0, 0, 1]]), ks=(1, 2))
    >>> m["recall@1"], m["recall@2"], round(m["ndcg@2"], 4)
    (0.0, 1.0, 0.6309)
    """
    targets = sp.csr_matrix(targets)
    n_items = targets.shape[1]
    ks = tuple(int(k) for k in ks)
    kmax = min(max(ks), n_items)
    top = top_k(scores, kmax, exclude)  # (n, kmax)
    n_targets = np.diff(targets.indptr)
    has = n_targets > 0
    # Hits: is the item at each rank a target? Look the pairs up in the CSR.
    t = targets.tocsr().astype(bool)
    hits = np.asarray(t[np.repeat(np.arange(len(top)), top.shape[1]), top.ravel()])
    hits = hits.reshape(top.shape).astype(np.float64)
    discount = 1.0 / np.log2(np.arange(2, kmax + 2))
    out: dict = {}
    for k in ks:
        kk = min(k, kmax)
        found = hits[:, :kk].sum(1)
        denom = np.minimum(k, n_targets).clip(min=1)
        recall = found / denom
        dcg = (hits[:, :kk] * discount[:kk]).sum(1)
        ideal_n = np.minimum(np.minimum(k, n_targets), kk)
        idcg = np.concatenate([[1.0], np.cumsum(discount)])[ideal_n]
        ndcg = dcg / np.where(ideal_n > 0, idcg, 1.0)
        out[f"recall@{k}"] = recall[has] if per_user else float(recall[has].mean())
        out[f"ndcg@{k}"] = ndcg[has] if per_user else float(ndcg[has].mean())
        if not has.any() and not per_user:
            out[f"recall@{k}"] = out[f"ndcg@{k}"] = float("nan")
    out["n_users"] = int(has.sum())
    return out


class RankingAccumulator:
    """Means of ranking metrics over batches of users (per-user weighted)."""

    def __init__(self, ks=DEFAULT_KS):
        self.ks = tuple(ks)
        self.sums: dict[str, float] = {}
        self.n = 0

    def add(self, scores, targets, exclude=None) -> None:
        per = ranking_metrics(scores, targets, exclude=exclude, ks=self.ks, per_user=1)
        for key, values in per.items():
            if key != "n_users":
                self.sums[key] = self.sums.get(key, 0.0) + float(np.sum(values))
        self.n += per["n_users"]

    def result(self) -> dict[str, float]:
        if self.n == 0:
            return {k: float("nan") for k in self.sums} | {"n_users": 0}
        return {k: v / self.n for k, v in self.sums.items()} | {"n_users": self.n}
