"""Variational autoencoders on dynamically binarized MNIST: test NLL and FD-MNIST.

Protocol (issue 11): train on the 60,000 training digits with dynamic
binarization; score the 10,000 test digits binarized once with a fixed seed by
the importance-weighted bound with k = 1000 (Burda et al. 2015); report wall and
CPU time of training, the ELBO and its terms, active units, and FD-MNIST: the
Fréchet distance of 10,000 samples to the test set in the feature space of a
small MNIST classifier trained once and cached in bench/results/cache/, next to
two reference points (the training set; samples of a Gaussian fitted to PCA
codes).

    python bench/bench_vae.py                      # the full protocol
    python bench/bench_vae.py --configs careful --epochs 156   # the 30-min run
    python bench/bench_vae.py --test-n 2000 --epochs-scale 0.5  # a quick look

Writes bench/results/vae.md and prints it. One torch thread by default.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from _common import machine
from aekit import Autoencoder
from aekit.data import load
from aekit.data.binarize import binarize
from aekit.io import atomic_write_text
from aekit.sample_quality import cached_mnist_classifier, frechet_distance

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AEKIT_SHARED_DATA", ROOT.parent / "shared" / "data"))
MNIST = SHARED / "mnist"
RESULTS = ROOT / "bench" / "results"
CACHE = RESULTS / "cache"

# name: (estimator parameters, default epochs). "minimal" is the minimal
# dense VAE, "careful" its careful hand-written one (warm-up over 10 epochs).
# The careful hand-written VAE; the IWAE configs train the same model.
_CAREFUL = dict(hidden=(512, 256), code_size=32, batch_size=128, lr=1e-3, kl_warmup=10)
CONFIGS = {
    "minimal": (
        dict(hidden=(512, 256), code_size=16, batch_size=128, lr=1e-3, kl_warmup=0),
        20,
    ),
    "careful": (_CAREFUL, 40),
    "careful-b64": (
        dict(hidden=(512, 256), code_size=32, batch_size=64, lr=1e-3, kl_warmup=10),
        40,
    ),
    # The careful model trained on the importance-weighted bound with k = 5
    # (Burda et al. 2015) instead of the ELBO: 5 decoder passes per digit. As
    # measured (bench/results/vae.md, section 4): 2.6 nats better than the
    # ELBO at 10 epochs; 86.15 after 105 epochs (27 minutes on 2 threads).
    "iwae5": (dict(_CAREFUL, latent="variational:iw_samples=5"), 40),
    # IWAE-5 with the VampPrior (Tomczak & Welling 2018): the prior is a mixture
    # of the posteriors of 500 learned pseudo-inputs, as in their MNIST runs.
    # As measured (bench/results/vae.md, section 5): 84.55 nats after 55
    # epochs (26 minutes on 2 threads); an epoch costs 1.8x IWAE-5's.
    "iwae5-vamp": (
        dict(_CAREFUL, latent="variational:iw_samples=5,prior=vamp,pseudo_inputs=500"),
        40,
    ),
    # The convolutional VAE: strided convs 32-64 on 28x28 images, code 32. As
    # measured: 10 epochs took 14 CPU-min on 2 threads, and its k = 1000
    # evaluation about 8 CPU-min per 1,000 test digits.
    "conv": (
        dict(
            architecture="conv",
            channels=(32, 64),
            code_size=32,
            batch_size=128,
            lr=1e-3,
            kl_warmup=3,
        ),
        10,
    ),
}


def _images(params: dict, X: np.ndarray) -> np.ndarray:
    """Rows of 784 pixels as the model wants them: 1x28x28 images for conv."""
    return X.reshape(-1, 1, 28, 28) if params.get("architecture") == "conv" else X


def _arch(params: dict) -> str:
    if params.get("architecture") == "conv":
        return "conv " + "-".join(map(str, params["channels"]))
    return "dense " + "-".join(map(str, (784, *params["hidden"])))


def mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    ds = load(MNIST / f"{split}-images-idx3-ubyte.gz")
    return ds.X.reshape(len(ds.X), -1).astype(np.float32) / 255.0, ds.y


def pca_gaussian_samples(X: np.ndarray, d: int, n: int, seed: int) -> np.ndarray:
    """Samples of a Gaussian fitted to d-dimensional PCA codes, decoded."""
    from sklearn.decomposition import PCA

    pca = PCA(d, random_state=seed).fit(X)
    codes = pca.transform(X)
    rng = np.random.default_rng(seed)
    z = rng.multivariate_normal(codes.mean(0), np.cov(codes, rowvar=False), size=n)
    return np.clip(pca.inverse_transform(z), 0, 1).astype(np.float32)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="minimal,careful,conv", help="comma-separated")
    ap.add_argument("--epochs", type=int, help="epochs for every config")
    ap.add_argument(
        "--epochs-scale", type=float, default=1.0, help="multiply default epochs"
    )
    ap.add_argument("--kl-warmup", type=float, help="warm-up epochs for every config")
    ap.add_argument("--iw-samples", type=int, default=1000)
    ap.add_argument("--test-n", type=int, default=10_000, help="first N test digits")
    ap.add_argument("--fd-n", type=int, default=10_000, help="samples for FD-MNIST")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "vae.md"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    machine_line = machine()  # with the load average before the runs
    if not MNIST.exists():
        print(f"MNIST not found at {MNIST}; nothing to measure.")
        return 1

    X_train, y_train = mnist("train")
    X_test, _ = mnist("t10k")
    # The test digits are binarized once, with a fixed seed, for every model.
    Xb_test = binarize(X_test, random_state=1234)[: args.test_n]

    t0 = time.process_time()
    clf = cached_mnist_classifier(CACHE / "mnist_mlp.safetensors", X_train, y_train)
    clf_cpu = time.process_time() - t0
    acc = float((clf.predict(X_test) == mnist("t10k")[1]).mean())
    f_test = clf.features(X_test)
    rng = np.random.default_rng(args.seed)
    n_fd = min(args.fd_n, 10_000)
    ref_train = frechet_distance(
        clf.features(X_train[rng.choice(len(X_train), n_fd, replace=False)]), f_test
    )
    ref_pca = frechet_distance(
        clf.features(pca_gaussian_samples(X_train, 32, n_fd, args.seed)), f_test
    )

    rows = []
    for name in [c.strip() for c in args.configs.split(",") if c.strip()]:
        params, epochs = CONFIGS[name]
        epochs = args.epochs or max(1, round(epochs * args.epochs_scale))
        if args.kl_warmup is not None:
            params = {**params, "kl_warmup": args.kl_warmup}
        params = {"latent": "variational", **params}
        vae = Autoencoder(
            binarize="dynamic",
            epochs=epochs,
            lr_schedule="cosine",
            validation_fraction=0.0,  # train on all 60,000, as the papers do
            patience=None,
            random_state=args.seed,
            device="cpu",
            **params,
        )
        c0, w0 = time.process_time(), time.perf_counter()
        vae.fit(_images(params, X_train))
        fit_cpu, fit_wall = time.process_time() - c0, time.perf_counter() - w0
        c0 = time.process_time()
        ll = vae.log_likelihood(
            _images(params, Xb_test), iw_samples=args.iw_samples, random_state=0
        )
        eval_cpu = time.process_time() - c0
        e = vae.elbo(_images(params, Xb_test), random_state=0)
        samples = vae.sample(n_fd, random_state=args.seed).reshape(n_fd, -1)
        fd = frechet_distance(clf.features(samples), f_test)
        counts = np.bincount(clf.predict(samples), minlength=10)
        rows.append(
            dict(
                name=name,
                arch=_arch(params),
                code=params["code_size"],
                epochs=epochs,
                batch=params["batch_size"],
                warmup=params["kl_warmup"],
                fit_cpu=fit_cpu,
                fit_wall=fit_wall,
                nll=-float(ll.mean()),
                nll_se=float(ll.std(ddof=1) / np.sqrt(len(ll))),
                elbo=e["elbo"],
                recon=e["recon"],
                kl=e["kl"],
                au=e["active_units"],
                fd=fd,
                min_class=int(counts.min()),
                eval_cpu=eval_cpu,
            )
        )
        print(rows[-1], flush=True)

    test_desc = (
        "the 10,000 test digits"
        if args.test_n >= 10_000
        else f"the first {args.test_n} test digits"
    )
    lines = [
        "# Variational autoencoders on dynamically binarized MNIST",
        "",
        f"Test NLL: IWAE bound with k = {args.iw_samples} on {test_desc}, binarized "
        "once (seed 1234); lower is better, in nats. ELBO terms on the same digits "
        "(one sample). FD-MNIST: Fréchet distance of "
        f"{n_fd:,} samples (decoder means) to the 10,000 grey-level test digits in "
        f"the 256-d penultimate features of a cached MLP classifier (test accuracy "
        f"{acc:.2%}; trained once, {clf_cpu:.0f} CPU-s this run); lower is better.",
        "",
        "| model | code | epochs | batch | KL warm-up | train CPU (min) | train wall "
        "(min) | NLL (nats) | ELBO | recon | KL | active units | FD-MNIST | "
        "fewest samples per class |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} ({r['arch']}) | {r['code']} | {r['epochs']} | "
            f"{r['batch']} | {r['warmup']} | {r['fit_cpu'] / 60:.1f} | "
            f"{r['fit_wall'] / 60:.1f} | {r['nll']:.2f} ± {r['nll_se']:.2f} | "
            f"{r['elbo']:.2f} | {r['recon']:.2f} | {r['kl']:.2f} | {r['au']} | "
            f"{r['fd']:.2f} | {r['min_class']} |"
        )
    lines += [
        "",
        "FD-MNIST reference points (same features, same test set):",
        "",
        "| reference | FD-MNIST |",
        "|---|---|",
        f"| {n_fd:,} training digits vs test | {ref_train:.2f} |",
        f"| {n_fd:,} samples of a Gaussian fitted to 32-d PCA codes | {ref_pca:.2f} |",
        "",
        f"Machine: {machine_line}; {torch.get_num_threads()} torch thread(s). "
        "IWAE evaluation CPU: "
        + ", ".join(f"{r['name']} {r['eval_cpu']:.0f} s" for r in rows)
        + ".",
        "",
        "Command: `python bench/bench_vae.py " + " ".join(argv or sys.argv[1:]) + "`",
    ]
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(args.out), text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
