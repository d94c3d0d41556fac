"""Recommenders: interaction readers, splits, ranking metrics, the Recommender
estimator (Mult-VAE / Mult-DAE) and its CLI, on MovieLens 100K."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from click.testing import CliRunner

import aekit
from aekit import Recommender
from aekit.cli import cli
from aekit.data.interactions import (
    CSRSource,
    as_interactions,
    read_interactions,
    split_rows,
    to_interactions,
)
from aekit.exceptions import ConfigError, DataError
from aekit.ranking import ranking_metrics, top_k
from aekit.training.anneal import LinearAnneal
from aekit.training.trainer import Trainer, TrainerConfig


def _find_ml100k() -> Path:
    # The shared data sits next to the repository (../shared/data), also when
    # the repository is a worktree one level deeper.
    here = Path(__file__).resolve()
    for parent in here.parents:
        path = parent / "shared" / "data" / "ml-100k" / "u.data"
        if path.exists():
            return path
    return here.parents[2] / "shared" / "data" / "ml-100k" / "u.data"


ML100K = _find_ml100k()
needs_ml100k = pytest.mark.skipif(
    not ML100K.exists(), reason=f"MovieLens 100K not found at {ML100K}"
)
FAST = dict(epochs=3, batch_size=64, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def ml100k():
    """The issue's protocol: ratings >= 4, users with >= 5 positives, 80/10/10."""
    if not ML100K.exists():
        pytest.skip(f"MovieLens 100K not found at {ML100K}")
    data = to_interactions(
        read_interactions(ML100K), min_rating=4, min_user_interactions=5
    )
    train, val, test = split_rows(data.matrix, (0.8, 0.1, 0.1), seed=0)
    return data, train, val, test


# -- metrics: hand-made cases -----------------------------------------------
def test_metrics_one_target():
    m = ranking_metrics([[0.9, 0.1, 0.5]], sp.csr_matrix([[0, 0, 1]]), ks=(1, 2, 3))
    assert m["recall@1"] == 0.0 and m["ndcg@1"] == 0.0
    assert m["recall@2"] == 1.0
    assert math.isclose(m["ndcg@2"], 1 / math.log2(3)), m
    assert m["n_users"] == 1


def test_metrics_recall_uses_min_of_k_and_targets():
    # 5 targets, the top 2 are hits: Liang's recall@2 = 2 / min(2, 5) = 1.
    scores = np.array([[9, 8, 7, 6, 5, 4, 3, 2.0]])
    targets = sp.csr_matrix([[1, 1, 0, 0, 1, 1, 1, 0]])
    m = ranking_metrics(scores, targets, ks=(2, 4))
    assert m["recall@2"] == 1.0
    assert math.isclose(m["recall@4"], 2 / 4)
    # NDCG@4: hits at ranks 1, 2; ideal has 4 hits.
    ideal = sum(1 / math.log2(r + 1) for r in range(1, 5))
    assert math.isclose(m["ndcg@4"], (1 + 1 / math.log2(3)) / ideal)


def test_metrics_known_ndcg_and_mean_over_users():
    # User 0: targets at ranks 1 and 3 among 3 targets, K=3.
    # User 1: no target -> left out of the means.
    # User 2: the single target is ranked first -> 1.
    scores = np.array([[3.0, 2.0, 1.0, 0.0], [1, 2, 3, 4.0], [0, 0.5, 0.2, 0.1]])
    targets = sp.csr_matrix([[1, 0, 1, 1], [0, 0, 0, 0], [0, 1, 0, 0]])
    m = ranking_metrics(scores, targets, ks=(3,))
    ndcg0 = (1 + 1 / 2) / (1 + 1 / math.log2(3) + 1 / 2)
    assert m["n_users"] == 2
    assert math.isclose(m["ndcg@3"], (ndcg0 + 1) / 2), m
    assert math.isclose(m["recall@3"], (2 / 3 + 1) / 2), m


def test_metrics_exclude_seen_items():
    scores = np.array([[0.9, 0.8, 0.1]])
    targets = sp.csr_matrix([[0, 0, 1]])
    without = ranking_metrics(scores, targets, ks=(1,))
    seen = sp.csr_matrix([[1, 1, 0]])
    with_ex = ranking_metrics(scores, targets, exclude=seen, ks=(1,))
    assert without["recall@1"] == 0.0 and with_ex["recall@1"] == 1.0
    assert list(top_k(scores, 2, seen)[0][:1]) == [2]


# -- reading and splitting ---------------------------------------------------
def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_read_formats(tmp_path):
    lines = [(1, 10, 5, 100), (1, 20, 3, 101), (2, 10, 4, 102), (3, 30, 4.5, 103)]
    udata = _write(
        tmp_path / "u.data", "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in lines)
    )
    dat = _write(
        tmp_path / "ratings.dat",
        "".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in lines),
    )
    csv = _write(
        tmp_path / "ratings.csv",
        "userId,movieId,rating,timestamp\n"
        + "".join(f"{u},{i},{r},{t}\n" for u, i, r, t in lines),
    )
    for path in (udata, dat, csv):
        table = read_interactions(path)
        np.testing.assert_array_equal(table.user, [1, 1, 2, 3], err_msg=str(path))
        np.testing.assert_array_equal(table.item, [10, 20, 10, 30], err_msg=str(path))
        np.testing.assert_allclose(table.rating, [5, 3, 4, 4.5], err_msg=str(path))
        data = to_interactions(table, min_rating=4)
        assert data.matrix.shape == (3, 2), path  # item 20 had only a 3
        np.testing.assert_array_equal(data.item_ids, [10, 30])


def test_read_generic_columns_and_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    tsv = _write(
        tmp_path / "events.tsv",
        "when\tcustomer\tproduct\nx\tann\tp1\ny\tbob\tp2\nz\tann\tp2\n",
    )
    with pytest.raises(DataError, match="--user-col"):
        read_interactions(tsv)
    table = read_interactions(tsv, user_col="customer", item_col="product")
    data = to_interactions(table)
    assert data.user_ids.tolist() == ["ann", "bob"]
    assert data.matrix.toarray().tolist() == [[1, 1], [0, 1]]
    pq.write_table(
        pa.table({"u": ["a", "b", "a"], "i": [5, 6, 6], "stars": [1.0, 5.0, 4.0]}),
        tmp_path / "x.parquet",
    )
    t = read_interactions(tmp_path / "x.parquet", user_col="u", item_col="i")
    assert t.rating is not None and to_interactions(t, min_rating=4).nnz == 2


def test_tables_from_objects_and_errors():
    d = {"user": np.array([3, 3, 7]), "item": np.array(["a", "b", "a"])}
    data = as_interactions(d)
    assert data.matrix.shape == (2, 2) and data.item_ids.tolist() == ["a", "b"]
    rec = np.array([(3, "a"), (7, "b")], dtype=[("user_id", int), ("movieId", "U4")])
    assert as_interactions(rec).matrix.nnz == 2
    with pytest.raises(DataError, match="dense array is ambiguous"):
        as_interactions(np.ones((3, 3)))
    with pytest.raises(ConfigError, match="rating column"):
        as_interactions(d, min_rating=4)


def test_split_rows_parts_are_disjoint_and_sized_like_recbole():
    rng = np.random.default_rng(0)
    counts = [5, 10, 20, 1, 9]
    m = sp.lil_matrix((len(counts), 50), dtype=np.float32)
    for u, n in enumerate(counts):
        m[u, rng.choice(50, n, replace=False)] = 1
    m = m.tocsr()
    parts = split_rows(m, (0.8, 0.1, 0.1), seed=0)
    total = sum(parts)
    assert (total != m).nnz == 0 and total.max() == 1, "parts must partition m"
    sizes = np.stack([np.diff(p.indptr) for p in parts], 1)
    assert sizes.tolist() == [[3, 1, 1], [8, 1, 1], [16, 2, 2], [1, 0, 0], [7, 1, 1]]
    again = split_rows(m, (0.8, 0.1, 0.1), seed=0)
    other = split_rows(m, (0.8, 0.1, 0.1), seed=1)
    assert (again[2] != parts[2]).nnz == 0
    assert (other[0] != parts[0]).nnz > 0


def test_csr_source_densifies_one_batch():
    m = sp.random(50, 30, density=0.2, format="csr", random_state=0, dtype=np.float32)
    src = CSRSource(m)
    idx = torch.tensor([4, 0, 49])
    got = src.take(idx)
    assert got.shape == (3, 30) and got.dtype == torch.float32
    np.testing.assert_array_equal(got.numpy(), m[[4, 0, 49]].toarray())


# -- trainer hook and anneal --------------------------------------------------
def test_trainer_monitor_hook_follows_a_validation_metric():
    model = torch.nn.Linear(4, 4)
    model.loss = lambda x: {"loss": (model(x) - x).square().mean()}
    scores = iter([0.1, 0.5, 0.9, 0.3, 0.2, 0.2, 0.2])

    def validate(m):
        assert not m.training and not torch.is_grad_enabled()
        return {"val_metric": next(scores)}

    trainer = Trainer(
        TrainerConfig(epochs=7, patience=3, device="cpu", batch_size=8),
        validate=validate,
        monitor="val_metric",
        mode="max",
    )
    history = trainer.fit(model, torch.randn(32, 4))
    assert trainer.best_epoch == 3, history
    assert trainer.stopped_early and len(history) == 6
    assert [r["val_metric"] for r in history][:3] == [0.1, 0.5, 0.9]
    with pytest.raises(ConfigError, match="mode"):
        Trainer(TrainerConfig(), mode="up")


def test_linear_anneal_sets_the_field_on_submodules():
    model = aekit.model.AutoencoderModule({"latent": {"kind": "variational"}}, (8,))
    cb = LinearAnneal(epochs=4)
    seen = []
    for epoch in range(6):
        cb.on_epoch_start(model, epoch, 6)
        seen.append(model.latent.kl_weight)
    assert seen == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]


# -- the estimator -------------------------------------------------------------
@needs_ml100k
def test_multvae_beats_popularity_by_a_wide_margin(ml100k):
    _, train, val, test = ml100k
    rec = Recommender(
        "multvae", epochs=40, anneal_epochs=20, device="cpu", random_state=0
    ).fit(train, validation=val)
    seen = (train + val).tocsr()
    got = rec.evaluate(train, test, exclude=seen, ks=(20, 100))
    pop_scores = np.tile(np.asarray(train.sum(0), np.float64), (train.shape[0], 1))
    pop = ranking_metrics(pop_scores, test, exclude=seen, ks=(20, 100))
    assert rec.best_epoch_ > 1 and "val_ndcg@100" in rec.history_[0]
    assert got["ndcg@100"] > 1.25 * pop["ndcg@100"], (got, pop)
    assert got["recall@20"] > 1.25 * pop["recall@20"], (got, pop)


@needs_ml100k
def test_fold_in_of_a_training_user_matches_recommend(ml100k):
    data, *_ = ml100k
    rec = Recommender("multdae", **FAST).fit(data)
    rows = np.array([0, 5, 17])
    scores = rec.predict(rec.histories_[rows])
    assert scores.shape == (3, rec.n_features_in_)
    np.testing.assert_allclose(scores.sum(1), 1.0, rtol=1e-4)
    # The same users by their own ids, and as lists of their items' own ids.
    users = rec.user_ids_[rows]
    items, top_scores = rec.recommend(users, k=10)
    lists = [rec.item_ids_[rec.histories_[r].indices] for r in rows]
    np.testing.assert_allclose(rec.predict(lists), scores, rtol=1e-5, atol=1e-8)
    items2, top2 = rec.recommend(histories=lists, k=10)
    np.testing.assert_array_equal(items, items2)
    np.testing.assert_allclose(top_scores, top2, rtol=1e-5)
    # The recommended items are unseen and in decreasing order of score.
    for r, row_items, row_scores in zip(rows, items, top_scores, strict=True):
        seen = set(rec.item_ids_[rec.histories_[r].indices].tolist())
        assert not seen & set(row_items.tolist())
        assert np.all(np.diff(row_scores) <= 0)
    with pytest.raises(DataError, match="Unknown user"):
        rec.recommend([-5])


def test_ids_round_trip_through_the_run_folder(tmp_path):
    rng = np.random.default_rng(0)
    n = 600
    table = {
        "user": np.array([f"u{v}" for v in rng.integers(0, 60, n)]),
        "item": np.array([f"movie-{v}" for v in rng.integers(0, 40, n)]),
    }
    rec = Recommender(**FAST, code_size=8, hidden=(16,)).fit(table)
    assert set(rec.user_ids_) == set(table["user"])
    items, scores = rec.recommend(["u3", "u7"], k=5)
    assert items.dtype.kind == "U" and all(i.startswith("movie-") for i in items.flat)
    path = rec.save(tmp_path / "run")
    assert json.loads((path / "ids.json").read_text())["users"][0].startswith("u")
    back = aekit.load(path)
    assert isinstance(back, Recommender)
    items2, scores2 = back.recommend(["u3", "u7"], k=5)
    np.testing.assert_array_equal(items, items2)
    np.testing.assert_allclose(scores, scores2, rtol=1e-6)
    assert (back.histories_ != rec.histories_).nnz == 0
    np.testing.assert_allclose(
        back.predict(rec.histories_[:4]), rec.predict(rec.histories_[:4]), rtol=1e-6
    )


def test_estimator_checks_its_input():
    X = sp.random(40, 20, density=0.2, format="csr", random_state=0)
    with pytest.raises(ConfigError, match="'model'"):
        Recommender("vae", **FAST).fit(X)
    with pytest.raises(aekit.NotFittedError):
        Recommender().predict(X)
    rec = Recommender(**FAST, code_size=4, hidden=(8,)).fit(X)
    with pytest.raises(DataError, match="20 items"):
        rec.predict(sp.csr_matrix((2, 21)))
    with pytest.raises(ConfigError, match="exactly one"):
        rec.recommend()
    from sklearn.base import clone

    twin = clone(rec)
    assert twin.get_params() == rec.get_params() and not hasattr(twin, "module_")
    with pytest.raises(ConfigError, match="'code_size'.*Got 0"):
        Recommender(**FAST, code_size=0).fit(X)


def test_same_seed_same_weights():
    X = sp.random(60, 30, density=0.2, format="csr", random_state=0)
    a = Recommender(**FAST, code_size=4, hidden=(8,)).fit(X)
    b = Recommender(**FAST, code_size=4, hidden=(8,)).fit(X)
    kw = {**FAST, "random_state": 1}
    c = Recommender(**kw, code_size=4, hidden=(8,)).fit(X)
    for k, v in a.module_.state_dict().items():
        assert torch.equal(v, b.module_.state_dict()[k]), k
    np.testing.assert_array_equal(a.predict(X[:5]), b.predict(X[:5]))
    assert not np.array_equal(a.predict(X[:5]), c.predict(X[:5]))  # the seed counts


# -- the CLI -------------------------------------------------------------------
@needs_ml100k
def test_cli_fit_recommend_evaluate(tmp_path):
    lines = ML100K.read_text().splitlines()
    rng = np.random.default_rng(0)
    held = rng.random(len(lines)) < 0.1
    train = _write(tmp_path / "train.tsv", "\n".join(np.array(lines)[~held]) + "\n")
    test = _write(tmp_path / "test.tsv", "\n".join(np.array(lines)[held]) + "\n")
    runner = CliRunner()

    def run(*args):
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    out = tmp_path / "run"
    r = run(
        "fit",
        train,
        "--model",
        "multvae",
        "--min-rating",
        4,
        "--epochs",
        3,
        "--hidden",
        "64",
        "--code-size",
        16,
        "--quiet",
        "--out",
        out,
    )
    assert r.exit_code == 0, r.output
    assert "val_ndcg@100" in r.output
    assert "warning" not in r.stderr, r.stderr  # no report attempted, none failed
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["estimator"] == "Recommender"
    assert cfg["model"]["latent"]["kind"] == "variational"

    r = run("recommend", out, "--user", 196, "--k", 5, "--json")
    assert r.exit_code == 0, r.output
    recs = json.loads(r.output)[0]["items"]
    assert len(recs) == 5 and all(isinstance(x["item"], int) for x in recs)
    history = _write(tmp_path / "items.txt", "242\n302\n# a comment\n377, 51\n999999\n")
    r = run("recommend", out, "--history", history, "--k", 3)
    assert r.exit_code == 0, r.output
    assert "4 known items" in r.output and "unknown" in r.output
    r = run("recommend", out, "--user", "no-such-user")
    assert r.exit_code == 2 and "Unknown user" in r.output

    for protocol in ("weak", "strong"):
        r = run("evaluate", out, test, "--protocol", protocol)
        assert r.exit_code == 0, r.output
        metrics = json.loads(r.output)
        assert metrics["protocol"] == protocol and metrics["n_users"] > 100
        assert 0 < metrics["ndcg@100"] < 1
    r = run("fit", train, "--model", "multvea", "--out", tmp_path / "x")
    assert r.exit_code == 2 and "Did you mean 'multvae'" in r.output
    r = run(
        "fit",
        train,
        "--model",
        "multdae",
        "--noise",
        "gaussian",
        "--out",
        tmp_path / "x",
    )
    assert r.exit_code == 2 and "Unknown option(s) noise" in r.output, r.output


def test_sqrt_sum_input_norm_gives_liangs_normalize_then_dropout():
    from aekit.architectures.dense import InputNorm

    g = torch.Generator().manual_seed(0)
    x = (torch.rand(8, 2000, generator=g) < 0.1).float()  # ~200 items per user
    norm = InputNorm("sqrt_sum")
    # Clean binary input: exactly the L2 normalization.
    torch.testing.assert_close(norm(x), torch.nn.functional.normalize(x, dim=1))
    # Under dropout p with rescaling, Liang et al. normalise first, then drop.
    p = 0.5
    keep = (torch.rand(x.shape, generator=g) >= p).float()
    liang = torch.nn.functional.normalize(x, dim=1) * keep / (1 - p)
    ours = norm(x * keep / (1 - p))
    l2_after = InputNorm("l2")(x * keep / (1 - p))
    rel = ((ours - liang).norm(dim=1) / liang.norm(dim=1)).max()
    assert rel < 0.1, f"sqrt_sum after dropout is {rel:.3f} off Liang's input"
    # Normalising the L2 norm after dropout shrinks the input by sqrt(1 - p).
    ratio = (l2_after.norm(dim=1) / liang.norm(dim=1)).mean()
    assert abs(ratio - (1 - p) ** 0.5) < 0.05, ratio
