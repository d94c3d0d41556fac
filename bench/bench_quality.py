"""Issue 2 (b): MNIST test MSE at code sizes 8-64, aekit's defaults vs PCA, and a
linear probe on the 32-d codes vs raw pixels and PCA.

    python bench/bench_quality.py [--sizes 8,16,32,64] [--threads 2]
"""

from __future__ import annotations

import argparse

import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from _common import Timer, mnist, mse, write_table
from aekit import Autoencoder


def probe(train_feats, y, test_feats, yt) -> float:
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return float(clf.fit(train_feats, y).score(test_feats, yt))


def _notes(threads: int) -> list[str]:
    return [
        "aekit: `Autoencoder(code_size=k, random_state=0)` at its defaults "
        "(784-512-256-k, BCE, batch 128, Adam 1e-3 with cosine decay, "
        "epochs='auto' = 30 here, 10% validation, early stopping), trained on the "
        "60,000 training images; MSE on the 10,000 test images, pixels in [0, 1].",
        f"torch threads: {threads}. Wall times grow with other jobs on the "
        "machine (see the load average above); CPU seconds are the steadier "
        "measure.",
    ]


def _write(rows, notes) -> None:
    write_table(
        "quality",
        "MNIST reconstruction: aekit defaults vs PCA",
        [
            "code size",
            "aekit test MSE",
            "PCA test MSE",
            "aekit / PCA",
            "epochs",
            "aekit wall s",
            "aekit CPU s",
            "PCA wall s",
            "PCA CPU s",
        ],
        rows,
        notes,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="32,8,16,64")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    X, y, Xt, yt = mnist()
    Xf, Xtf = X / 255.0, Xt / 255.0
    rows, notes = [], _notes(args.threads)
    for k in [int(s) for s in args.sizes.split(",")]:
        # PCA's BLAS threads are numpy's, not torch's: the same number.
        with threadpool_limits(args.threads), Timer() as tp:
            pca = PCA(k, random_state=0).fit(Xf)
            pca_mse = mse(pca.inverse_transform(pca.transform(Xtf)), Xtf)
        with Timer() as ta:
            ae = Autoencoder(code_size=k, random_state=0).fit(X)
        ae_mse = mse(ae.reconstruct(Xt) / 255.0, Xtf)
        rows.append(
            [
                k,
                ae_mse,
                pca_mse,
                ae_mse / pca_mse,
                len(ae.history_),
                ta.wall,
                ta.cpu,
                tp.wall,
                tp.cpu,
            ]
        )
        if k == 32:
            with Timer() as tl:
                raw = probe(Xf, y, Xtf, yt)
                pca_acc = probe(pca.transform(Xf), y, pca.transform(Xtf), yt)
                ae_acc = probe(ae.transform(X), y, ae.transform(Xt), yt)
            notes.append(
                "Linear probe (standardize + logistic regression on the 60,000 "
                f"training images, accuracy on the 10,000 test images): raw pixels "
                f"{raw:.4f}, PCA-32 {pca_acc:.4f}, aekit codes-32 {ae_acc:.4f} "
                f"({tl.wall:.0f} s wall)."
            )
        _write(rows, notes)


if __name__ == "__main__":
    main()
