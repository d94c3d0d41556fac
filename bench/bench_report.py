"""What a report costs: time and size of the HTML report per model kind.

``aekit fit`` writes a report by default, so its cost adds to every fit. For
each model kind (plain, variational, denoising) this fits a small model on an
MNIST subset (28x28; digits when MNIST is absent), then writes the report with
the default 2,000 samples and measures CPU time (``time.process_time``), wall
time, file size and the number of embedded figures. One thread; wall times on
a shared machine are inflated.

    PYTHONPATH=src python bench/bench_report.py [MNIST_IMAGES_IDX]
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

import torch

import aekit
from aekit import Autoencoder
from aekit.data import load
from aekit.io import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist" / "t10k-images-idx3-ubyte.gz"
OUT = ROOT / "bench" / "results" / "report.md"
KINDS = {
    "plain": dict(code_size=16),
    "variational": dict(code_size=16, latent="variational"),
    "denoising": dict(code_size=16, noise="gaussian:0.3"),
}


def main(mnist: str | Path = MNIST) -> None:
    torch.set_num_threads(1)
    if Path(mnist).exists():
        data = load(mnist)
        name = "MNIST t10k (10,000 images, 28x28)"
    else:
        data = load("digits")
        name = "digits (MNIST absent)"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, params in KINDS.items():
            est = Autoencoder(
                hidden=(256,), epochs=3, batch_size=256, random_state=0, **params
            ).fit(data)
            run = Path(tmp) / kind
            est.save(run)
            for source, label in ((None, "run folder only"), (data, "with data")):
                c0, w0 = time.process_time(), time.perf_counter()
                path = aekit.write_report(run, source, out=run / "r.html", model=est)
                cpu, wall = time.process_time() - c0, time.perf_counter() - w0
                page = path.read_text()
                n_img = len(re.findall(r"<img ", page))
                n_sec = len(re.findall(r"<section ", page))
                rows.append((kind, label, n_sec, n_img, len(page) / 1024, cpu, wall))
    lines = [
        f"# Report cost ({name}; 2,000 samples shown; 1 thread)",
        "",
        "| model | report | sections | figures | size (KB) | CPU (s) | wall (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {k} | {lab} | {s} | {i} | {kb:.0f} | {c:.2f} | {w:.2f} |"
        for k, lab, s, i, kb, c, w in rows
    ]
    lines += [
        "",
        "Reproduce: `PYTHONPATH=src python bench/bench_report.py`. Wall times on a "
        "shared machine are inflated; CPU time is the cost.",
    ]
    text = "\n".join(lines) + "\n"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT, text)
    print(text)


if __name__ == "__main__":
    main(*sys.argv[1:])
