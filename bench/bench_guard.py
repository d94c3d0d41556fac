"""The data-specific guard: when it fires, and what it costs.

1. How often the guard warns, per batch size, for a model fitted on 10,000
   MNIST training digits: held-out test digits (it should stay quiet), uniform
   noise, crops of scikit-image's photographs, and another digits data set
   (scikit-learn's 8x8 digits, upscaled to 28x28).
2. How often it warns for held-out digits with a few percent of noise mixed
   in, under the rule for how many samples it measures per call and under
   the earlier rule (all, up to 512).
3. The cost: ``transform`` and ``reconstruct`` on the 10,000 test digits with
   the guard on and off, run interleaved, CPU time on one thread.

Writes bench/results/guard.md. Usage: ``python bench/bench_guard.py``.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _common import command_line  # noqa: E402
from aekit import Autoencoder, guard  # noqa: E402
from aekit.data import load  # noqa: E402
from aekit.guard import DataGuardWarning  # noqa: E402
from aekit.io import atomic_write_text  # noqa: E402

torch.set_num_threads(1)
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
MNIST = Path(
    os.environ.get("AEKIT_MNIST_DIR", HERE.parents[1] / "shared" / "data" / "mnist")
)


def photo_crops(n, rng):
    from skimage import color
    from skimage import data as skdata

    photos = [
        skdata.camera(),
        skdata.coins(),
        color.rgb2gray(skdata.astronaut()),
        color.rgb2gray(skdata.coffee()),
        color.rgb2gray(skdata.chelsea()),
    ]
    out = []
    for i in range(n):
        img = np.asarray(photos[i % len(photos)], np.float64)
        img = (img - img.min()) / (img.max() - img.min())
        r, c = rng.integers(0, img.shape[0] - 28), rng.integers(0, img.shape[1] - 28)
        out.append(img[r : r + 28, c : c + 28])
    return (np.stack(out)[:, None] * 255).round().astype(np.uint8)


def sklearn_digits_28(rng):
    from skimage.transform import resize

    X = load("digits").X  # (1797, 1, 8, 8), 0-16
    big = np.stack([resize(x[0] / 16.0, (28, 28), order=1) for x in X])
    return (big[:, None] * 255).round().astype(np.uint8)


def fires(model, X) -> bool:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.transform(X)
    return any(issubclass(w.category, DataGuardWarning) for w in caught)


# How many samples the guard measures: (MIN_CHECKED, CHECKED_FRACTION,
# MAX_CHECKED) of aekit.guard now, and the earlier rule (all, up to 512).
RULES = {
    "1% of the samples, 256 to 512 (aekit now)": (
        guard.MIN_CHECKED,
        guard.CHECKED_FRACTION,
        guard.MAX_CHECKED,
    ),
    "all, up to 512 (aekit before)": (512, 0.0, 512),
}


def mixed_table(model, digits, noise, rng, draws: int = 10) -> str:
    """Warned / draws for batches of held-out digits with a share of noise
    rows mixed in, under each rule of RULES (the same batches for each)."""
    fractions, sizes = (0.05, 0.1, 0.15, 0.2), (1000, 10000)
    batches = {}
    for n in sizes:
        for f in fractions:
            batches[f, n] = []
            for _ in range(draws):
                X = digits[rng.permutation(len(digits))[:n]].copy()
                bad = rng.choice(n, round(f * n), replace=False)
                X[bad] = noise[rng.choice(len(noise), len(bad))]
                batches[f, n].append(X)
    header = " | ".join(f"{f:.0%} noise" for f in fractions)
    lines = [
        f"| samples measured | batch | {header} |",
        "|---" * (len(fractions) + 2) + "|",
    ]
    saved = guard.MIN_CHECKED, guard.CHECKED_FRACTION, guard.MAX_CHECKED
    try:
        for name, rule in RULES.items():
            guard.MIN_CHECKED, guard.CHECKED_FRACTION, guard.MAX_CHECKED = rule
            for n in sizes:
                cells = [
                    f"{sum(fires(model, X) for X in batches[f, n])}/{draws}"
                    for f in fractions
                ]
                label = f"{name}: {guard.n_checked(n)}"
                lines.append(f"| {label} | {n:,} | " + " | ".join(cells) + " |")
    finally:
        guard.MIN_CHECKED, guard.CHECKED_FRACTION, guard.MAX_CHECKED = saved
    return "\n".join(lines)


def main() -> int:
    if not MNIST.exists():
        print(f"MNIST not found at {MNIST}; nothing to do.")
        return 0
    rng = np.random.default_rng(0)
    train = load(str(MNIST / "train-images-idx3-ubyte.gz"))
    test = load(str(MNIST / "t10k-images-idx3-ubyte.gz"))
    c0 = time.process_time()
    model = Autoencoder(random_state=0, epochs=10).fit(train.X[:10000])
    fit_cpu = time.process_time() - c0
    sources = {
        "held-out MNIST test digits": test.X,
        "uniform noise": rng.integers(0, 256, (2000, 1, 28, 28), dtype=np.uint8),
        "photograph crops (scikit-image)": photo_crops(2000, rng),
        "scikit-learn digits upscaled to 28x28": sklearn_digits_28(rng),
    }
    sizes = (1, 3, 10, 100, 1000)
    n_batches = {1: 200, 3: 100, 10: 50, 100: 20, 1000: 5}
    lines = [
        "| input | " + " | ".join(f"batch {s}" for s in sizes) + " |",
        "|---" * (len(sizes) + 1) + "|",
    ]
    for name, X in sources.items():
        cells = []
        for s in sizes:
            k = n_batches[s]
            hits = sum(
                fires(model, X[rng.choice(len(X), s, replace=False)]) for _ in range(k)
            )
            cells.append(f"{hits}/{k}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    fire_table = "\n".join(lines)
    mixed = mixed_table(model, test.X, sources["uniform noise"], rng)

    # Cost: interleaved, guard on and off, the whole test set per call.
    X = test.X
    times = {(m, g): [] for m in ("transform", "reconstruct") for g in (True, False)}
    for method in ("transform", "reconstruct"):  # warm-up, not timed
        getattr(model, method)(X)
    for i in range(5):
        for method in ("transform", "reconstruct"):
            for g in (True, False) if i % 2 else (False, True):  # alternate
                model.set_params(guard=g)
                c0 = time.process_time()
                getattr(model, method)(X)
                times[(method, g)].append(time.process_time() - c0)
    model.set_params(guard=True)
    # How far noise images lie, against the reference the guard compares with.
    q99, far = guard.thresholds(model.error_quantiles_)
    ratio = model.reconstruction_error(sources["uniform noise"]) / q99
    lo, hi = np.percentile(ratio, [5, 95])
    above = guard.rates(guard.reference_size(model))[0]
    cost = [
        "| method (10,000 MNIST test digits) | guard on, CPU s | guard off, CPU s | "
        "on / off |",
        "|---|---|---|---|",
    ]
    for method in ("transform", "reconstruct"):
        on = float(np.median(times[(method, True)]))
        off = float(np.median(times[(method, False)]))
        cost.append(f"| {method} | {on:.3f} | {off:.3f} | {on / off:.2f} |")
    text = "\n".join(
        [
            "# The data-specific guard",
            "",
            "Model: `Autoencoder(random_state=0, epochs=10)` (dense 784-512-256-32) "
            f"fitted on the first 10,000 MNIST training digits ({fit_cpu:.0f} s CPU). "
            "1 torch thread; the machine is shared, so only CPU times are given.",
            "",
            "## How often `transform` warns (batches drawn at random; warned / "
            "batches)",
            "",
            fire_table,
            "",
            "## Held-out digits with noise mixed in (warned / batches, samples "
            "measured per call)",
            "",
            mixed,
            "",
            "Each batch: held-out test digits drawn at random, the given share "
            "of them replaced by uniform-noise images; the same batches under "
            f"both rules. Noise images have {lo:.1f}-{hi:.1f} times (5th to 95th "
            "percentile) the 99th-percentile error of held-out digits, "
            f"{'short of' if hi * q99 < far else 'partly past'} the guard's far "
            "threshold, so only the share of samples above it can fire, and "
            "only when it is at least 5 times the share held-out data may have "
            f"({above:.1%} for this model): about {5 * above:.0%} of the samples "
            "measured.",
            "",
            "## What it costs (median of 5 interleaved runs after a warm-up)",
            "",
            "\n".join(cost),
            "",
            "The guard measures the errors of 1% of the samples of a call, at "
            f"least {guard.MIN_CHECKED} (all of a smaller call) and at most "
            f"{guard.MAX_CHECKED}, evenly spaced ({guard.n_checked(len(X))} of "
            "these 10,000); `transform` decodes only those, `reconstruct` gets "
            "them from its own pass.",
            "",
            f"Command: `{command_line()}`.",
            "",
        ]
    )
    RESULTS.mkdir(exist_ok=True)
    atomic_write_text(RESULTS / "guard.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
