"""RecBole's autoencoders and EASE on aekit's MovieLens 100K split.

Issue 5 quotes RecBole 1.2.1 on "a split made this way" (ratings >= 4, users
with >= 5 positives, per-user random 80/10/10); the same protocol with
another random split scored EASE 0.372 there and 0.3506 on ours, so numbers
from two splits do not compare. This bench hands RecBole the very split of
bench_recommender.py (seed 0) as benchmark files, trains each model at
RecBole's defaults (CPU, early stopping on validation NDCG@100, the metric
aekit's recommenders stop on), and scores the best epoch's full ranking with
aekit's metric code (`aekit.ranking.ranking_metrics`, Liang's Recall) and
with RecBole's own evaluator (its Recall divides by the number of test items,
not min(K, n)), as a cross-check of the metric code.

Run: ``python bench/bench_recbole.py [--models MultiVAE MultiDAE ...]``;
needs the bench extra (recbole); writes bench/results/recommender_recbole.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import machine  # noqa: E402
from bench_recommender import KS, _find_ml100k, load_split  # noqa: E402

RESULTS = HERE / "results" / "recommender_recbole.md"
MODELS = ("EASE", "MultiVAE", "MultiDAE", "RecVAE", "CDAE")


def write_benchmark_files(folder: Path, name: str, parts) -> None:
    """One RecBole atomic file per part; tokens are aekit's row/column indices."""
    folder.mkdir(parents=True, exist_ok=True)
    for suffix, part in zip(("train", "valid", "test"), parts, strict=True):
        coo = part.tocoo()
        order = np.lexsort((coo.col, coo.row))
        lines = ["user_id:token\titem_id:token"]
        lines += [
            f"{u}\t{i}" for u, i in zip(coo.row[order], coo.col[order], strict=True)
        ]
        (folder / f"{name}.{suffix}.inter").write_text("\n".join(lines) + "\n")


def _numpy2_aliases() -> None:
    """RecBole 1.2.1 re-creates NumPy 1's removed aliases from ``np.float_``
    and friends, which NumPy 2 removed too; give it those to copy."""
    for alias, kind in (
        ("float_", np.float64),
        ("complex_", np.complex128),
        ("unicode_", np.str_),
    ):
        if alias not in np.__dict__:
            setattr(np, alias, kind)


def run_model(model_name: str, data_dir: Path, name: str, train, test, seen) -> dict:
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.data.interaction import Interaction
    from recbole.utils import get_model, get_trainer, init_seed

    from aekit.ranking import ranking_metrics

    _numpy2_aliases()
    config = Config(
        model=model_name,
        dataset=name,
        config_dict={
            "data_path": str(data_dir),
            "benchmark_filename": ["train", "valid", "test"],
            "load_col": {"inter": ["user_id", "item_id"]},
            "use_gpu": False,
            "device": "cpu",
            "metrics": ["Recall", "NDCG"],
            "topk": list(KS),
            "valid_metric": "NDCG@100",
            "checkpoint_dir": str(data_dir / "saved"),
            "show_progress": False,
            "seed": 2020,
            "reproducibility": True,
        },
    )
    init_seed(config["seed"], config["reproducibility"])
    logging.getLogger().setLevel(logging.WARNING)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    model = get_model(config["model"])(config, train_data._dataset).to("cpu")
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    t0, c0 = time.perf_counter(), time.process_time()
    best_valid, _ = trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    # RecBole's own loader calls torch.load without weights_only, which torch
    # 2.6+ refuses for its checkpoints: load the file it just wrote here.
    state = torch.load(trainer.saved_model_file, map_location="cpu", weights_only=False)
    model.load_state_dict(state["state_dict"])
    model.load_other_parameter(state.get("other_parameter"))
    model.eval()
    recbole_test = trainer.evaluate(
        test_data, load_best_model=False, show_progress=False
    )

    # Full-sort scores for every user, columns back in aekit's item order.
    uid = dataset.field2token_id[dataset.uid_field]
    iid = dataset.field2token_id[dataset.iid_field]
    users = np.array([uid[str(u)] for u in range(train.shape[0])])
    items = np.array([iid[str(i)] for i in range(train.shape[1])])
    scores = np.empty(train.shape, dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(users), 256):
            batch = torch.as_tensor(users[start : start + 256])
            inter = Interaction({dataset.uid_field: batch}).to("cpu")
            s = model.full_sort_predict(inter).view(len(batch), -1)
            scores[start : start + len(batch)] = s[:, items].float().numpy()
    ours = ranking_metrics(scores, test, exclude=seen, ks=KS)
    epochs = len(getattr(trainer, "train_loss_dict", {}) or {})
    return {
        "model": model_name,
        "metrics": ours,
        "recbole": {k: float(v) for k, v in recbole_test.items()},
        "best_valid_ndcg@100": float(best_valid),
        "fit_cpu_s": cpu,
        "fit_wall_s": wall,
        "epochs": epochs,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    sys.argv = sys.argv[:1]  # RecBole's Config reads the command line too
    import torch

    torch.set_num_threads(args.threads)
    path = _find_ml100k()
    if path is None:
        print("Skipped: ../shared/data/ml-100k/u.data not found; this bench needs it.")
        return 0
    _, train, val, test = load_split(path)
    seen = (train + val).tocsr()
    rows = []
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # RecBole writes its logs and TensorBoard files here
        try:
            name = "ml100k_aekit"
            write_benchmark_files(Path(tmp) / name, name, (train, val, test))
            for m in args.models:
                r = run_model(m, Path(tmp), name, train, test, seen)
                print(json.dumps(r), flush=True)
                rows.append(r)
        finally:
            os.chdir(cwd)
    lines = [
        "# RecBole 1.2.1 on aekit's MovieLens 100K split (bench/bench_recbole.py)",
        "",
        machine() + f"; torch on {args.threads} thread(s).",
        "",
        "The split of bench_recommender.py (ratings >= 4, users with >= 5 "
        f"positives, per-user random 80/10/10, seed 0: {train.shape[0]} users, "
        f"{train.shape[1]} items), given to RecBole as benchmark files. RecBole's "
        "model defaults, CPU, early stopping on validation NDCG@100. Scored by "
        "aekit's metric code on the best epoch's full ranking (train and "
        "validation items excluded); RecBole's own evaluator beside it (its "
        "Recall divides by the number of test items).",
        "",
        "| model | Recall@20 | NDCG@10 | NDCG@100 | RecBole's NDCG@100 | "
        "RecBole's Recall@20 | validation NDCG@100 | epochs | fit CPU s | fit wall s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        m, rb = r["metrics"], r["recbole"]
        lines.append(
            f"| {r['model']} | {m['recall@20']:.4f} | {m['ndcg@10']:.4f} | "
            f"{m['ndcg@100']:.4f} | {rb.get('ndcg@100', float('nan')):.4f} | "
            f"{rb.get('recall@20', float('nan')):.4f} | "
            f"{r['best_valid_ndcg@100']:.4f} | {r['epochs']} | "
            f"{r['fit_cpu_s']:.1f} | {r['fit_wall_s']:.1f} |"
        )
    text = "\n".join(lines) + "\n"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    from aekit.io import atomic_write_text

    atomic_write_text(RESULTS, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
