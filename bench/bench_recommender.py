"""Recommenders on MovieLens 100K, and memory at MovieLens 20M's size.

Protocol (issue 5): ratings >= 4 are positives, users with >= 5 positives,
each user's positives split at random 80/10/10 (seed 0) into train /
validation / test (RecBole's ratio rule). Every model reads the train items,
ranks all items except the user's train and validation items, and is scored
on the test items: Recall@K (Liang's: hits / min(K, n_test)) and NDCG@K.
Hyperparameters are chosen on the validation items only (EASE's lambda from a
grid; Mult-VAE/Mult-DAE run at their defaults, with early stopping on
validation NDCG@100). Fit time is CPU time (time.process_time) and wall time;
the machine is shared, so wall time is inflated.

Memory: peak RSS of a child process that builds a synthetic interaction
matrix of MovieLens 20M's size (138,493 x 26,744, 20M non-zeros, popularity-
skewed items) and fits Mult-VAE at its defaults for one epoch on it.

Run: ``python bench/bench_recommender.py`` (both parts), ``--part quality``
or ``--part memory``; writes bench/results/recommender.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from _common import command_line, machine

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "recommender.md"
KS = (10, 20, 50, 100)


def _find_ml100k() -> Path | None:
    for parent in HERE.parents:
        path = parent / "shared" / "data" / "ml-100k" / "u.data"
        if path.exists():
            return path
    return None


def _threads(n: int = 1) -> None:
    import torch

    torch.set_num_threads(n)


def load_split(path: Path):
    from aekit.data.interactions import read_interactions, split_rows, to_interactions

    data = to_interactions(
        read_interactions(path), min_rating=4, min_user_interactions=5
    )
    train, val, test = split_rows(data.matrix, (0.8, 0.1, 0.1), seed=0)
    return data, train, val, test


# -- baselines ----------------------------------------------------------------
def popularity_scores(train: sp.csr_matrix, n_users: int) -> np.ndarray:
    counts = np.asarray(train.sum(0), dtype=np.float64).ravel()
    return np.broadcast_to(counts, (n_users, len(counts)))


def ease_weights(gram: np.ndarray, lam: float) -> np.ndarray:
    """EASE (Steck 2019, https://arxiv.org/abs/1905.03375): the closed form
    B = I - P diagMat(1 / diag(P)), P = (X^T X + lambda I)^-1, zero diagonal."""
    p = np.linalg.inv(gram + lam * np.eye(len(gram)))
    b = -p / np.diag(p)
    np.fill_diagonal(b, 0.0)
    return b


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def run_quality(path: Path, seeds=(0, 1, 2)) -> dict:
    from aekit import Recommender
    from aekit.ranking import ranking_metrics

    _threads(1)
    data, train, val, test = load_split(path)
    seen = (train + val).tocsr()
    n_users, n_items = train.shape
    rows, extra = [], {}

    scores, wall, cpu = timed(lambda: popularity_scores(train, n_users))
    m = ranking_metrics(scores, test, exclude=seen, ks=KS)
    rows.append(("popularity", m, wall, cpu, "-"))

    lams = (50, 100, 200, 300, 400, 500, 800, 1200)
    val_ndcg = {}

    def search_lambda():
        gram = (train.T @ train).toarray().astype(np.float64)
        for lam in lams:
            b = ease_weights(gram, lam)
            val_ndcg[lam] = ranking_metrics(train @ b, val, exclude=train, ks=(100,))[
                "ndcg@100"
            ]

    _, search_wall, search_cpu = timed(search_lambda)
    best_lam = max(val_ndcg, key=val_ndcg.get)
    extra["ease_validation"] = val_ndcg
    extra["ease_search"] = {"cpu_s": search_cpu, "wall_s": search_wall}

    def fit_ease():
        g = (train.T @ train).toarray().astype(np.float64)
        return ease_weights(g, best_lam)

    b, wall, cpu = timed(fit_ease)
    m = ranking_metrics(train @ b, test, exclude=seen, ks=KS)
    rows.append((f"EASE (lambda={best_lam}, on validation)", m, wall, cpu, "-"))

    for model in ("multdae", "multvae"):
        per_seed = []
        for seed in seeds:
            est = Recommender(model, random_state=seed, device="cpu")
            _, wall, cpu = timed(lambda est=est: est.fit(train, validation=val))
            m = est.evaluate(train, test, exclude=seen, ks=KS)
            per_seed.append((m, wall, cpu, est.best_epoch_, len(est.history_)))
        mean = {
            k: float(np.mean([p[0][k] for p in per_seed]))
            for k in per_seed[0][0]
            if k != "n_users"
        }
        std = {
            k: float(np.std([p[0][k] for p in per_seed]))
            for k in per_seed[0][0]
            if k != "n_users"
        }
        mean["n_users"] = per_seed[0][0]["n_users"]
        extra[f"{model}_std"] = std
        extra[f"{model}_per_seed"] = [
            {
                "seed": s,
                "ndcg@100": p[0]["ndcg@100"],
                "recall@20": p[0]["recall@20"],
                "best_epoch": p[3],
                "epochs_run": p[4],
                "wall_s": p[1],
                "cpu_s": p[2],
            }
            for s, p in zip(seeds, per_seed, strict=True)
        ]
        wall = float(np.mean([p[1] for p in per_seed]))
        cpu = float(np.mean([p[2] for p in per_seed]))
        epochs = "/".join(f"{p[3]}({p[4]})" for p in per_seed)
        label = "Mult-VAE" if model == "multvae" else "Mult-DAE"
        rows.append(
            (f"{label} (defaults), mean of seeds {seeds}", mean, wall, cpu, epochs)
        )
    return {
        "rows": rows,
        "extra": extra,
        "shape": (n_users, n_items),
        "nnz": (train.nnz, val.nnz, test.nnz),
    }


# Candidates considered for the defaults, compared on validation NDCG@100 only.
SWEEP = [
    {"model": "multvae", "hidden": (600,), "code_size": 200},
    {"model": "multvae", "hidden": (), "code_size": 200},
    {"model": "multvae", "hidden": (), "code_size": 600},
    {"model": "multvae", "hidden": (), "code_size": 200, "beta": 0.5},
    {"model": "multvae", "hidden": (), "code_size": 200, "dropout": 0.7},
    {"model": "multvae", "hidden": (600,), "code_size": 200, "dropout": 0.7},
    {"model": "multdae", "code_size": 200},
    {"model": "multdae", "code_size": 600},
]


def run_sweep(
    path: Path, seeds=(0,), candidates=None
) -> list[tuple[dict, float, float, float]]:
    """Validation NDCG@100 / Recall@20 and fit CPU s of SWEEP's candidates
    (all, or the given indices), each the mean over ``seeds``."""
    from aekit import Recommender

    _threads(1)
    _, train, val, _ = load_split(path)
    out = []
    for i, params in enumerate(SWEEP):
        if candidates is not None and i not in candidates:
            continue
        runs = []
        for seed in seeds:
            est = Recommender(**params, random_state=seed, device="cpu")
            _, _, cpu = timed(lambda est=est: est.fit(train, validation=val))
            best = est.history_[est.best_epoch_ - 1]
            runs.append((best["val_ndcg@100"], best["val_recall@20"], cpu))
        out.append((params, *np.mean(runs, axis=0)))
    return out


def _fmt_sweep(rows, seeds=(0,)) -> list[str]:
    which = f"seed {seeds[0]}" if len(seeds) == 1 else f"mean of seeds {seeds}"
    lines = [
        f"Validation only ({which}): the candidates considered for the defaults.",
        "",
        "| parameters | validation NDCG@100 | validation Recall@20 | fit CPU s |",
        "|---|---|---|---|",
    ]
    for params, ndcg, rec, cpu in rows:
        lines.append(f"| `{params}` | {ndcg:.4f} | {rec:.4f} | {cpu:.1f} |")
    return lines


# -- memory at ML-20M's size ---------------------------------------------------
def synthetic_ml20m(seed: int = 0, n_users=138_493, n_items=26_744, nnz=20_000_263):
    """A CSR matrix of ML-20M's size: user activity and item popularity both
    heavy-tailed (log-normal / Zipf), built row block by row block."""
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(mean=0.0, sigma=1.0, size=n_users)
    counts = np.maximum(20, np.round(activity / activity.sum() * nnz)).astype(np.int64)
    counts = np.minimum(counts, n_items // 2)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.9
    pop /= pop.sum()
    cdf = np.cumsum(pop)
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    chunks = []
    for start in range(0, n_users, 4096):
        stop = min(start + 4096, n_users)
        block = []
        for c in counts[start:stop]:
            # Draw more than needed, keep the first c distinct items.
            draw = np.unique(np.searchsorted(cdf, rng.random(int(c * 1.5) + 8)))
            while len(draw) < c:
                more = np.searchsorted(cdf, rng.random(int(c)))
                draw = np.unique(np.concatenate([draw, more]))
            block.append(np.sort(rng.choice(draw, int(c), replace=False)))
        lens = np.array([len(b) for b in block])
        indptr[start + 1 : stop + 1] = lens
        chunks.append(np.concatenate(block).astype(np.int32))
    indptr = np.cumsum(indptr)
    indices = np.concatenate(chunks)
    data = np.ones(len(indices), dtype=np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(n_users, n_items))


def _progress_log(every_s: float = 60.0):
    """Print batches done and peak RSS to stderr while the epoch runs (the
    batches are counted by wrapping the batch source's ``take``)."""
    import threading

    from aekit.data import interactions

    state = {"batches": 0, "t0": time.perf_counter()}
    take = interactions.CSRSource.take

    def counting_take(self, idx):
        state["batches"] += 1
        return take(self, idx)

    interactions.CSRSource.take = counting_take

    def report():
        while True:
            time.sleep(every_s)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"[{time.perf_counter() - state['t0']:.0f} s] batches taken "
                f"{state['batches']}, peak RSS {rss:.0f} MB, CPU "
                f"{time.process_time():.0f} s",
                file=sys.stderr,
                flush=True,
            )

    threading.Thread(target=report, daemon=True).start()


def memory_child() -> None:
    _threads(int(os.environ.get("AEKIT_BENCH_THREADS", "1")))
    _progress_log()
    from aekit import Recommender

    t0 = time.perf_counter()
    m = synthetic_ml20m()
    build_s = time.perf_counter() - t0
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The defaults: a 600-unit code on the items, 1.5x the parameters of the
    # paper's items-600-200-600-items.
    est = Recommender("multvae", epochs=1, random_state=0, device="cpu")
    (_, wall, cpu) = timed(lambda: est.fit(m))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    dense_gb = m.shape[0] * m.shape[1] * 4 / 1e9
    print(
        json.dumps(
            {
                "shape": list(m.shape),
                "nnz": int(m.nnz),
                "build_s": build_s,
                "peak_rss_after_data_mb": rss_data,
                "peak_rss_mb": rss,
                "fit_wall_s": wall,
                "fit_cpu_s": cpu,
                "epochs": len(est.history_),
                "val_ndcg@100": est.history_[-1].get("val_ndcg@100"),
                "dense_float32_gb": dense_gb,
            }
        )
    )


def run_memory() -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"memory child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- report ----------------------------------------------------------------------
def _fmt_quality(q: dict) -> list[str]:
    n_users, n_items = q["shape"]
    lines = [
        f"MovieLens 100K, ratings >= 4, users with >= 5 positives: {n_users} users, "
        f"{n_items} items; train / validation / test positives "
        f"{q['nnz'][0]} / {q['nnz'][1]} / {q['nnz'][2]} (per-user random 80/10/10, "
        "seed 0). Full ranking; train and validation items excluded at test.",
        "",
        "| model | Recall@20 | NDCG@10 | NDCG@100 | Recall@50 | fit CPU s | fit wall s "
        "| best epoch (epochs run) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m, wall, cpu, epochs in q["rows"]:
        lines.append(
            f"| {name} | {m['recall@20']:.4f} | {m['ndcg@10']:.4f} | "
            f"{m['ndcg@100']:.4f} | {m['recall@50']:.4f} | {cpu:.1f} | {wall:.1f} "
            f"| {epochs} |"
        )
    ex = q["extra"]
    lines += [
        "",
        "Seed spread (std over seeds) of NDCG@100 / Recall@20: "
        + "; ".join(
            f"{name} {ex[f'{name}_std']['ndcg@100']:.4f} / "
            f"{ex[f'{name}_std']['recall@20']:.4f}"
            for name in ("multdae", "multvae")
        ),
        "",
        "Per seed (Mult-VAE): "
        + "; ".join(
            f"seed {p['seed']}: NDCG@100 {p['ndcg@100']:.4f}, Recall@20 "
            f"{p['recall@20']:.4f}, {p['cpu_s']:.1f} s CPU"
            for p in ex["multvae_per_seed"]
        ),
        "",
        "EASE validation NDCG@100 by lambda: "
        + ", ".join(f"{k}: {v:.4f}" for k, v in ex["ease_validation"].items())
        + f". The search ({len(ex['ease_validation'])} fits, each scored on "
        f"validation) took {ex['ease_search']['cpu_s']:.1f} s CPU "
        f"({ex['ease_search']['wall_s']:.1f} s wall), not in EASE's fit "
        "columns, which time the one fit at the chosen lambda; Mult-DAE's and "
        "Mult-VAE's columns time their fits with early stopping, not the "
        "choice of their defaults (the section below).",
        "",
        "RecBole 1.2.1's EASE, MultiVAE, MultiDAE, RecVAE and CDAE on this same "
        "split: bench/results/recommender_recbole.md (`python bench/"
        "bench_recbole.py`).",
    ]
    return lines


def _fmt_memory(r: dict) -> list[str]:
    return [
        f"Synthetic interactions of MovieLens 20M's size: {r['shape'][0]} x "
        f"{r['shape'][1]}, {r['nnz']} non-zeros (a dense float32 matrix would be "
        f"{r['dense_float32_gb']:.1f} GB). Mult-VAE at its defaults (a 600-unit "
        "code on the items: 1.5x the parameters of the paper's "
        f"items-600-200-600-items), one thread, {r['epochs']} epoch, in a "
        "child process:",
        "",
        "| peak RSS after building the CSR | peak RSS after one epoch | fit CPU s "
        "| fit wall s |",
        "|---|---|---|---|",
        f"| {r['peak_rss_after_data_mb']:.0f} MB | {r['peak_rss_mb']:.0f} MB | "
        f"{r['fit_cpu_s']:.0f} | {r['fit_wall_s']:.0f} |",
    ]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--part", choices=("all", "quality", "memory", "sweep"), default="all"
    )
    ap.add_argument("--memory-child", action="store_true")
    ap.add_argument("--sweep-seeds", default="0", help="comma-separated seeds")
    ap.add_argument(
        "--sweep-candidates", help="comma-separated indices into SWEEP (default all)"
    )
    args = ap.parse_args()
    if args.memory_child:
        memory_child()
        return 0
    path = _find_ml100k()
    header = [
        "# Recommenders: Mult-VAE and Mult-DAE (bench/bench_recommender.py)",
        "",
    ]
    # Sections of an earlier run are kept; the parts run now replace theirs.
    # Each says the machine it was measured on. Kept ones from before that
    # say so too: the file-wide line they sat under named the machine of
    # the file's last run, not necessarily theirs.
    sections = _read_sections(RESULTS)
    earlier = _machine_line(RESULTS)
    for title, body in sections.items():
        if earlier and not any(ln.startswith("Machine:") for ln in body):
            note = (
                "Machine: not recorded for this section; the file's header, "
                "which each run rewrote, last said: "
                + earlier.removeprefix("Machine: ")
            )
            sections[title] = [note, "", *body]
    made = []  # the sections this run computes
    if args.part in ("all", "quality"):
        body = (
            _fmt_quality(run_quality(path))
            if path is not None
            else ["Skipped: ../shared/data/ml-100k/u.data not found."]
        )
        sections[QUALITY] = body
        made.append(QUALITY)
    if args.part == "sweep" and path is not None:
        seeds = tuple(int(x) for x in args.sweep_seeds.split(","))
        picked = (
            {int(x) for x in args.sweep_candidates.split(",")}
            if args.sweep_candidates
            else None
        )
        title = SWEEP_TITLE if len(seeds) == 1 else SWEEP_SEEDS_TITLE
        sections[title] = _fmt_sweep(run_sweep(path, seeds, picked), seeds)
        made.append(title)
    if args.part in ("all", "memory"):
        sections[MEMORY] = _fmt_memory(run_memory())
        made.append(MEMORY)
    for title in made:  # each section says what made it, and where
        sections[title] = [
            f"Machine: {machine()}; torch on 1 thread.",
            "",
            *sections[title],
            "",
            f"Command: `{command_line()}`.",
        ]
    lines = list(header)
    for title in (QUALITY, SWEEP_TITLE, SWEEP_SEEDS_TITLE, MEMORY):
        if title in sections:
            lines += [f"## {title}", "", *sections[title], ""]
    text = "\n".join(lines)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    from aekit.io import atomic_write_text

    atomic_write_text(RESULTS, text)
    print(text)
    return 0


QUALITY = "Quality on MovieLens 100K"
SWEEP_TITLE = "Choosing the defaults on validation"
SWEEP_SEEDS_TITLE = "The closest candidates on validation, over seeds"
MEMORY = "Memory at MovieLens 20M's size"


def _read_sections(path: Path) -> dict[str, list[str]]:
    if not path.exists():
        return {}
    out: dict[str, list[str]] = {}
    title = None
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            title = line[3:].strip()
            out[title] = []
        elif title is not None:
            out[title].append(line)
    return {k: _strip_blank(v) for k, v in out.items()}


def _machine_line(path: Path) -> str | None:
    """The file-wide "Machine:" line of an earlier results file, if any."""
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            return None  # the sections carry their own
        if line.startswith("Machine:"):
            return line
    return None


def _strip_blank(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


if __name__ == "__main__":
    sys.exit(main())
