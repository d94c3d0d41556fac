"""Sparse, contractive and denoising autoencoders on MNIST: what each one buys.

Writes bench/results/regularized.md. Public API only. Every model trains on the
first N_TRAIN MNIST training digits with one thread; PSNR is on pixels in
[0, 1] over the first N_TEST test digits; corrupted test inputs are drawn with
``aekit.corruption.corrupt`` and a fixed seed. Wall times are inflated when
the machine is shared; CPU time (``time.process_time``) is the steadier one.

Environment: AEKIT_BENCH_N_TRAIN (default 10000), AEKIT_BENCH_EPOCHS (10).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from aekit import Autoencoder
from aekit.corruption import corrupt
from aekit.data import load
from aekit.io import atomic_write_text
from aekit.metrics import psnr
from aekit.regularizers.contractive import jacobian_frobenius_sq

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist"
if not MNIST.exists():  # a worktree sits one level deeper than the main checkout
    MNIST = ROOT.parents[1] / "shared" / "data" / "mnist"
OUT = ROOT / "bench" / "results" / "regularized.md"
N_TRAIN = int(os.environ.get("AEKIT_BENCH_N_TRAIN", 10000))
N_TEST = 2000
EPOCHS = int(os.environ.get("AEKIT_BENCH_EPOCHS", 10))
FAST = dict(batch_size=64, epochs=EPOCHS, random_state=0)


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def fit(X, **kw):
    return timed(lambda: Autoencoder(**{**FAST, **kw}).fit(X))


def jac_norm(ae, X) -> float:
    """Mean over samples of ||dz/dx||_F (exact), in the model's scaled units."""
    xs = torch.from_numpy(ae.scaler_.transform(X))
    with torch.no_grad():
        return float(
            torch.cat(
                [
                    jacobian_frobenius_sq(ae.module_.encode, xs[i : i + 250]).sqrt()
                    for i in range(0, len(xs), 250)
                ]
            ).mean()
        )


def code_motion(ae, X, eps=0.05) -> float:
    """Mean code displacement under Gaussian input noise of eps x pixel range."""
    rng = np.random.default_rng(0)
    Xp = X + eps * 255 * rng.standard_normal(X.shape)
    return float(np.linalg.norm(ae.transform(Xp) - ae.transform(X), axis=1).mean())


def probe(features, Xl, yl, Xt, yt) -> float:
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=3000).fit(features(Xl), yl)
    return float(clf.score(features(Xt), yt))


def recon_psnr(ae, Xt) -> float:
    return psnr(Xt / 255.0, np.clip(ae.reconstruct(Xt) / 255.0, 0, 1))


def denoise_psnr(ae, clean01, corrupted01) -> float:
    return psnr(clean01, np.clip(ae.denoise(corrupted01 * 255.0) / 255.0, 0, 1))


def main() -> int:
    torch.set_num_threads(1)
    if not MNIST.exists():
        print(f"MNIST not found at {MNIST}; nothing to measure.")
        return 1
    train = load(MNIST / "train-images-idx3-ubyte.gz")
    test = load(MNIST / "t10k-images-idx3-ubyte.gz")
    X, Xt, yt = train.X[:N_TRAIN], test.X[:N_TEST], test.y[:N_TEST]
    Xl, yl = train.X[:1000], train.y[:1000]  # the probe's 1,000 labelled digits
    clean = Xt / 255.0
    rows: list[list[str]] = []

    def row(variant, measure, value, baseline, ae_time):
        _, wall, cpu = ae_time
        rows.append([variant, measure, value, baseline, f"{wall:.1f}", f"{cpu:.1f}"])
        print(" | ".join(rows[-1]), flush=True)

    pixels = lambda A: A.reshape(len(A), -1) / 255.0  # noqa: E731
    acc_raw = probe(pixels, Xl, yl, Xt, yt)

    # -- sparse ---------------------------------------------------------------
    rho = 0.05
    res = fit(X, code_size=64, hidden=(256,), sparsity=f"kl:{rho},weight=0.03", lr=3e-3)
    ae = res[0]
    z = ae.transform(Xt)
    row(
        f"KL sparse, rho={rho}, code 64",
        "mean activation (test); active >0.1; PSNR",
        f"{z.mean():.4f}; {(z > 0.1).mean():.3f}; {recon_psnr(ae, Xt):.2f} dB",
        f"target {rho} (accept {0.5 * rho:.3f}-{1.5 * rho:.3f})",
        res,
    )
    for name, kw in (
        ("top-k k=50", dict(sparsity="topk:50", code_activation="relu")),
        ("L1 3e-4", dict(sparsity="l1:3e-4", code_activation="relu")),
    ):
        res = fit(X, code_size=1024, hidden=(), lr=3e-3, **kw)
        ae = res[0]
        z = ae.transform(Xt)
        acc = probe(ae.transform, Xl, yl, Xt, yt)
        row(
            f"{name}, overcomplete 1024 > 784",
            "non-zeros/sample; probe acc.; PSNR",
            f"{(z != 0).sum(1).mean():.1f}; {acc:.4f}; {recon_psnr(ae, Xt):.2f} dB",
            f"pixels probe {acc_raw:.4f}",
            res,
        )

    # -- contractive ------------------------------------------------------------
    one_layer = dict(
        code_size=64, hidden=(), code_activation="sigmoid", lr=1e-2,
        lr_schedule="constant",
    )  # fmt: skip
    res_plain = fit(X, **one_layer)
    j0, m0 = jac_norm(res_plain[0], Xt), code_motion(res_plain[0], Xt)
    p0 = recon_psnr(res_plain[0], Xt)
    row(
        "plain, 1 sigmoid layer, code 64",
        "mean ‖J‖_F; code motion; PSNR",
        f"{j0:.3f}; {m0:.4f}; {p0:.2f} dB",
        "-",
        res_plain,
    )
    for w in (3e-4, 1e-3):
        res = fit(X, contractive=w, **one_layer)
        j, m = jac_norm(res[0], Xt), code_motion(res[0], Xt)
        row(
            f"contractive {w:g} (closed form), same",
            "mean ‖J‖_F; code motion; PSNR",
            f"{j:.3f} ({j0 / j:.1f}x smaller); {m:.4f} ({m0 / m:.1f}x); "
            f"{recon_psnr(res[0], Xt):.2f} dB",
            f"plain {j0:.3f}; {m0:.4f}; {p0:.2f} dB",
            res,
        )
    deep = dict(code_size=16, hidden=(128, 64), lr=3e-3)
    res_plain = fit(X, **deep)
    j0, p0 = jac_norm(res_plain[0], Xt), recon_psnr(res_plain[0], Xt)
    row("plain, 784-128-64-16", "mean ‖J‖_F; PSNR", f"{j0:.3f}; {p0:.2f} dB", "-",
        res_plain)  # fmt: skip
    for method in ("exact", "hutchinson"):
        res = fit(X, contractive=f"1e-2,method={method}", **deep)
        j = jac_norm(res[0], Xt)
        row(
            f"contractive 1e-2 ({method}), same",
            "mean ‖J‖_F; PSNR",
            f"{j:.3f} ({j0 / j:.1f}x smaller); {recon_psnr(res[0], Xt):.2f} dB",
            f"plain {j0:.3f}; {p0:.2f} dB",
            res,
        )

    # -- denoising --------------------------------------------------------------
    linear128 = dict(code_size=128, hidden=(), lr=1e-2)
    noisy = corrupt(clean, "gaussian:0.3", random_state=1)
    res_plain = fit(X, **linear128)
    res = fit(X, noise="gaussian:0.3", **linear128)
    p_in = psnr(clean, noisy)
    p_plain, p_dae = (
        denoise_psnr(res_plain[0], clean, noisy),
        denoise_psnr(res[0], clean, noisy),
    )
    row(
        "denoising, gaussian 0.3, linear code 128",
        "PSNR of noisy test digits after the model",
        f"{p_dae:.2f} dB (+{p_dae - p_in:.2f})",
        f"input {p_in:.2f} dB; plain AE {p_plain:.2f} dB",
        res,
    )
    wide = dict(code_size=256, hidden=(1024,), lr=2e-3)
    for spec in ("masking:0.25", "salt_pepper:0.2", "blur:1.5", "blocks:1"):
        bad = corrupt(clean, spec, random_state=1)
        res = fit(X, noise=spec, **wide)
        p_in, p = psnr(clean, bad), denoise_psnr(res[0], clean, bad)
        row(
            f"denoising, {spec}, 784-1024-256",
            "PSNR of corrupted test digits after the model",
            f"{p:.2f} dB ({p - p_in:+.2f})",
            f"input {p_in:.2f} dB",
            res,
        )

    # -- cost of the Jacobian methods ---------------------------------------------
    cost = jacobian_costs()

    header = (
        "# Sparse, contractive and denoising autoencoders on MNIST\n\n"
        f"Trained on the first {N_TRAIN} MNIST training digits, {EPOCHS} epochs, "
        f"batch 64, seed 0, one thread; measured on the first {N_TEST} test digits "
        "(PSNR on pixels in [0, 1]). Probe: logistic regression on 1,000 labelled "
        "training digits. Code motion: mean ‖z(x + e) - z(x)‖ for Gaussian e of "
        "0.05 x the pixel range. Times are for the fit alone; wall times are "
        "inflated on a shared machine, CPU times less so.\n\n"
        f"Reproduce: `python bench/bench_regularized.py` (AEKIT_BENCH_N_TRAIN="
        f"{N_TRAIN}, AEKIT_BENCH_EPOCHS={EPOCHS}).\n\n"
    )
    table = [
        "| variant | measure | value | baseline | fit wall s | fit CPU s |",
        "|---|---|---|---|---:|---:|",
    ] + ["| " + " | ".join(r) + " |" for r in rows]
    text = header + "\n".join(table) + "\n\n" + cost + "\n"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT, text)
    print(text)
    return 0


def jacobian_costs() -> str:
    """Seconds per training step of each contractive method, interleaved."""
    from aekit.model import AutoencoderModule, default_spec

    def model(method, hidden, code):
        spec = {
            **default_spec(),
            "architecture": {"kind": "dense", "hidden": hidden},
            "latent": {"kind": "deterministic", "code_size": code,
                       "activation": "sigmoid"},
            "regularizers": [{"kind": "contractive", "method": method}],
        }  # fmt: skip
        return AutoencoderModule(spec, (784,))

    torch.manual_seed(0)
    x = torch.rand(64, 784)
    cases = [
        ("1 layer, code 64", (), 64, ["none", "closed_form", "exact", "hutchinson"]),
        ("784-256-64", (256,), 64, ["none", "exact", "hutchinson"]),
        ("784-256-256", (256,), 256, ["none", "exact", "hutchinson"]),
    ]
    lines = [
        "## Cost of the contractive penalty: one training step, batch 64",
        "",
        "Median of 15 interleaved repetitions (CPU seconds, one thread); 'none' is "
        "the same model without the penalty.",
        "",
        "| encoder | method | CPU s / step | x plain |",
        "|---|---|---:|---:|",
    ]
    for label, hidden, code, methods in cases:
        models = {}
        for m in methods:
            if m == "none":
                mm = model("closed_form", hidden, code)
                mm.regularizers = torch.nn.ModuleList()
            else:
                mm = model(m, hidden, code)
            models[m] = mm.train()
        times: dict[str, list[float]] = {m: [] for m in methods}
        for _ in range(15):
            for m in methods:
                c = time.process_time()
                models[m].loss(x)["loss"].backward()
                times[m].append(time.process_time() - c)
        base = float(np.median(times["none"]))
        for m in methods:
            t = float(np.median(times[m]))
            lines.append(f"| {label} | {m} | {t:.4f} | {t / base:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
