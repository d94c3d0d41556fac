"""Issues 2 (a) and 7: training speed against a minimal hand-written PyTorch loop,
fraction of the CPU's matmul peak, transform throughput, scaling with rows, and
peak memory of a streamed fit.

    python bench/bench_speed.py [--rows 20000] [--rounds 3] [--scaling 10000,100000]
    python bench/bench_speed.py --only-transform [--transform-rounds 24]

Contenders run interleaved in one process (round-robin, order alternating), so
a noisy machine slows both alike; rates are given per CPU second
(time.process_time) and per wall second.
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import torch
from torch import nn

from _common import (
    ROOT,
    Timer,
    best_round_ratio,
    interleaved,
    interleaved_rounds,
    mnist,
    paired_ratio,
    totals,
    write_table,
)
from aekit import Autoencoder
from aekit.model import AutoencoderModule, default_spec
from aekit.training import Trainer, TrainerConfig

WIDTHS = (784, 512, 256, 32)
CONV_CHANNELS = (16, 32)
TRANSFORM_BASE = {
    "uint8": "bare module encode, each batch scaled by hand",
    "float32": "bare module encode",
}
TRANSFORM_CONTENDERS = ("transform, guard on (default)", "transform, guard off")
TRANSFORM_HEADER = [
    "threads",
    "rows",
    "input",
    "contender",
    "rows per CPU s",
    "rows per wall s",
    "ratio (CPU)",
    "ratio (wall)",
    "median per-round ratio (CPU; min-max)",
    "best-round ratio (CPU)",
    "ratio (CPU) to the bare module on pre-scaled float32",
]
HEADER = [
    "threads",
    "contender",
    "samples per CPU s",
    "samples per wall s",
    "ratio (CPU)",
    "ratio (wall)",
    "median per-round ratio (CPU; min-max)",
    "fraction of matmul peak",
    "matmul peak GFLOP/s",
]


def flops_per_sample() -> float:
    """Forward 2P + backward 4P multiply-adds of the matmuls, less the unneeded
    gradient of the input layer (2 * 784 * 512)."""
    p = sum(a * b for a, b in zip(WIDTHS[:-1], WIDTHS[1:], strict=True)) * 2
    return 6 * p - 2 * WIDTHS[0] * WIDTHS[1]


def matmul_peak(threads: int) -> float:
    torch.set_num_threads(threads)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(5):
        with Timer() as t:
            for _ in range(10):
                a @ b
        best = max(best, 10 * 2 * 1024**3 / t.wall)
    return best


def hand_model() -> nn.Module:
    layers = []
    for a, b in zip(WIDTHS[:-1], WIDTHS[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers = layers[:-1]  # linear code
    rev = WIDTHS[::-1]
    for a, b in zip(rev[:-1], rev[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def hand_epoch(model, opt, x, batch):
    """The minimal loop people write: shuffle, slice, BCE with logits, Adam."""
    perm = torch.randperm(len(x))
    loss_fn = nn.BCEWithLogitsLoss()
    for i in range(0, len(x), batch):
        xb = x[perm[i : i + batch]]
        loss = loss_fn(model(xb), xb)
        opt.zero_grad()
        loss.backward()
        opt.step()


def aekit_module() -> AutoencoderModule:
    spec = {
        **default_spec(),
        "architecture": {"kind": "dense", "hidden": WIDTHS[1:-1]},
        "latent": {"kind": "deterministic", "code_size": WIDTHS[-1]},
        "likelihood": {"kind": "bernoulli"},
    }
    return AutoencoderModule(spec, (784,))


def conv_module() -> AutoencoderModule:
    spec = {
        **default_spec(),
        "architecture": {"kind": "conv", "channels": CONV_CHANNELS},
        "latent": {"kind": "deterministic", "code_size": 32},
        "likelihood": {"kind": "bernoulli"},
    }
    return AutoencoderModule(spec, (1, 28, 28))


def hand_conv_epoch(m, opt, x, batch):
    """The same minimal loop on aekit's conv module, called part by part, so
    both contenders run identical layers (and the same channels_last layout)."""
    perm = torch.randperm(len(x))
    arch = m.architecture
    for i in range(0, len(x), batch):
        xb = x[perm[i : i + batch]]
        logits = arch.decoder(m.latent.mean(arch.encoder(xb)))
        loss = nn.functional.binary_cross_entropy_with_logits(logits, xb)
        opt.zero_grad()
        loss.backward()
        opt.step()


def _trainer(batch: int, **kw) -> Trainer:
    """One epoch at a constant learning rate: what a speed round runs."""
    cfg = TrainerConfig(
        epochs=1,
        batch_size=batch,
        lr_schedule="constant",
        patience=None,
        device="cpu",
        **kw,
    )
    return Trainer(cfg)


def training_rates(x, threads, rounds, batches=(128,), conv_x=None):
    torch.set_num_threads(threads)
    contenders = {}
    torch.manual_seed(0)
    # Each round, like each aekit fit, starts a fresh Adam on the weights so
    # far. With one Adam kept over all rounds (its moments free to go
    # subnormal), aekit's per-round ratio to the hand loop ranged 1.28-2.16.
    hm = hand_model()
    contenders["hand-written loop, batch 128"] = lambda: hand_epoch(
        hm, torch.optim.Adam(hm.parameters(), lr=1e-3), x, 128
    )
    for b in batches:
        torch.manual_seed(0)
        m, tr = aekit_module(), _trainer(b)
        contenders[f"aekit, batch {b}"] = lambda m=m, tr=tr: tr.fit(m, x)
    rows = dict.fromkeys(contenders, len(x))
    if conv_x is not None:
        torch.manual_seed(0)
        cm = conv_module()
        contenders["conv: hand-written loop, batch 128"] = lambda: hand_conv_epoch(
            cm, torch.optim.Adam(cm.parameters(), lr=1e-3), conv_x, 128
        )
        torch.manual_seed(0)
        m, tr = conv_module(), _trainer(128)
        contenders["conv: aekit, batch 128"] = lambda m=m, tr=tr: tr.fit(m, conv_x)
        rows |= dict.fromkeys(list(contenders)[-2:], len(conv_x))
    spent = interleaved_rounds(contenders, rounds)
    return {
        k: (*(rows[k] * rounds / t for t in totals(ts)), ts) for k, ts in spent.items()
    }


def transform_rounds(X, threads, rounds=10):
    """Per-round (CPU s, wall s) of ``transform`` (data guard on, the default,
    and off) and of the bare module's encode in batches of 1,024, on the same
    rows given two ways: the uint8 pixels (the bare module scales each batch
    by hand, as a user of the module alone must) and float32 already in
    [0, 1] (a model fitted on such data scales nothing); interleaved, after a
    warm-up round. Returns ``{input: {contender: rounds}}``."""
    torch.set_num_threads(threads)
    X32 = X.astype(np.float32) / 255.0
    contenders = {}
    for kind, data in (("uint8", X), ("float32", X32)):
        ae = Autoencoder(code_size=32, epochs=1, random_state=0, device="cpu")
        ae.fit(data[:5000])
        unguarded = copy.copy(ae).set_params(guard=False)  # the same module

        def bare(module=ae.module_, data=data, kind=kind):
            with torch.no_grad():
                for i in range(0, len(data), 1024):
                    xb = torch.from_numpy(data[i : i + 1024])
                    module.encode(xb.float().div_(255.0) if kind == "uint8" else xb)

        names = [TRANSFORM_BASE[kind], *TRANSFORM_CONTENDERS]
        fns = [bare, lambda ae=ae, d=data: ae.transform(d)]
        fns.append(lambda ae=unguarded, d=data: ae.transform(d))
        contenders |= {(kind, name): f for name, f in zip(names, fns, strict=True)}
    spent = interleaved_rounds(contenders, rounds)
    out = {}
    for (kind, name), per_round in spent.items():
        out.setdefault(kind, {})[name] = per_round
    return out


def transform_table(X, sizes, rounds) -> None:
    """speed_transform.md: ``transform`` against the bare module's encode on
    the same input, at 1 and 2 threads and each of ``sizes`` rows."""
    rows = []
    for threads in (1, 2):
        for n in sizes:
            spent = transform_rounds(X[:n], threads, rounds)
            float_base = spent["float32"][TRANSFORM_BASE["float32"]]
            for kind, contenders in spent.items():
                base = contenders[TRANSFORM_BASE[kind]]
                base_cpu, base_wall = totals(base)
                for name, per_round in contenders.items():
                    cpu, wall = totals(per_round)
                    med, lo, hi = paired_ratio(base, per_round)
                    rows.append(
                        [
                            threads,
                            f"{n:,}",
                            kind,
                            name,
                            n * rounds / cpu,
                            n * rounds / wall,
                            base_cpu / cpu,
                            base_wall / wall,
                            f"{med:.3f} ({lo:.3f}-{hi:.3f})",
                            best_round_ratio(base, per_round),
                            totals(float_base)[0] / cpu,
                        ]
                    )
    write_table(
        "speed_transform",
        "Inference speed: transform vs the bare module",
        TRANSFORM_HEADER,
        rows,
        [
            "Dense 784-512-256-32 (mirrored) fitted for 1 epoch on 5,000 MNIST "
            "digits, once on the uint8 pixels and once on float32 pixels in "
            "[0, 1]; transform is given the first MNIST training digits the same "
            f"way. {rounds} interleaved rounds after a warm-up round. Ratios "
            "(> 1: faster) are against the bare module given the same input: "
            "the median per-round ratio pairs the runs of each round; the "
            "best-round ratio divides the base's fastest round by the "
            "contender's fastest. The last column compares with the bare module "
            "on pre-scaled float32, which skips the uint8 rows' conversion.",
            "The bare module encodes batches of 1,024 rows; transform takes "
            "about 4.5 MiB of float32 input per batch (1,504 of these rows). "
            "transform validates the input (float32: NaN and inf are found "
            "through the sum of the first dense layer's first unit, batch by "
            "batch, not by a pass of their own), scales each batch on the "
            "device (uint8: a float32 copy, divided by 255; float32 in [0, 1]: "
            "nothing) and, with the guard on, decodes evenly spaced rows to "
            "measure their reconstruction errors (1% of the rows, at least 256 "
            "and at most 512: 256 of 20,000, 512 of 60,000); the bare module "
            "encodes only.",
            "Command: `python bench/bench_speed.py " + " ".join(sys.argv[1:]) + "`.",
        ],
    )


def precision_rates(x, threads: int = 2, rounds: int = 3) -> dict:
    """Samples per CPU s and per wall s of one epoch of aekit's trainer at fp32,
    bf16 autocast and torch.compile, interleaved after a warm-up round (which
    also pays compile's one-time cost): what the CPU defaults rest on."""
    torch.set_num_threads(threads)
    contenders = {}
    for label, kw in (
        ("fp32", {}),
        ("bf16 autocast", {"precision": "bf16"}),
        ("torch.compile", {"compile": True}),
    ):
        torch.manual_seed(0)
        m, tr = aekit_module(), _trainer(128, **kw)
        contenders[label] = lambda m=m, tr=tr: tr.fit(m, x)
    n = len(x) * rounds
    spent = interleaved(contenders, rounds)
    return {k: (n / cpu, n / wall) for k, (cpu, wall) in spent.items()}


def precision_quality(X, Xt, epochs: int = 10) -> dict:
    """Test MSE after ``epochs`` epochs (cosine over them) and training CPU/wall
    seconds of aekit's trainer at fp32 and at bf16 autocast, 2 threads; the
    test MSE is computed in fp32."""
    torch.set_num_threads(2)
    x = torch.from_numpy(X.astype(np.float32) / 255.0)
    xt = torch.from_numpy(Xt.astype(np.float32) / 255.0)
    out = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        m = aekit_module()
        cfg = TrainerConfig(
            epochs=epochs, patience=None, device="cpu", precision=precision
        )
        with Timer() as t:
            Trainer(cfg).fit(m, x)
        m.eval()
        with torch.no_grad():
            out[precision] = (float(((m(xt) - xt) ** 2).mean()), t.cpu, t.wall)
    return out


class _Reached(Exception):
    pass


def time_to_quality(X, Xt, target: float = 0.0088, max_epochs: int = 30):
    """CPU and wall seconds of training (evaluation excluded) until the test MSE
    reaches ``target``: the hand-written loop vs aekit's default trainer."""
    torch.set_num_threads(2)
    x = torch.from_numpy(X.astype(np.float32) / 255.0)
    xt = torch.from_numpy(Xt.astype(np.float32) / 255.0)
    out = {}

    def test_mse(forward):
        with torch.no_grad():
            return float(((forward(xt) - xt) ** 2).mean())

    torch.manual_seed(0)
    hm = hand_model()
    opt = torch.optim.Adam(hm.parameters(), lr=1e-3)
    cpu = wall = 0.0
    for epoch in range(1, max_epochs + 1):
        with Timer() as t:
            hand_epoch(hm, opt, x, 128)
        cpu, wall, done_epochs = cpu + t.cpu, wall + t.wall, epoch
        if test_mse(lambda v: torch.sigmoid(hm(v))) <= target:
            break
    out["hand-written loop (batch 128, Adam 1e-3)"] = (done_epochs, cpu, wall)

    torch.manual_seed(0)
    m = aekit_module()
    spent = {"cpu": 0.0, "wall": 0.0, "epoch": 0}
    clock = Timer().__enter__()

    def check(row):
        clock.__exit__()
        spent["cpu"] += clock.cpu
        spent["wall"] += clock.wall
        spent["epoch"] = row["epoch"]
        m.eval()
        done = test_mse(m) <= target
        m.train()
        if done:
            raise _Reached
        clock.__enter__()

    # aekit's defaults: batch 128, Adam 1e-3 (fused), cosine decay over 30 epochs.
    tr = Trainer(
        TrainerConfig(epochs=max_epochs, patience=None, device="cpu"),
        on_epoch_end=check,
    )
    try:
        tr.fit(m, x)
    except _Reached:
        pass
    out["aekit defaults (batch 128, fused Adam 1e-3, cosine)"] = (
        spent["epoch"],
        spent["cpu"],
        spent["wall"],
    )
    return out


CHILD = textwrap.dedent(
    """
    import sys, numpy as np, torch
    torch.set_num_threads(2)
    from aekit import Autoencoder
    X = np.load(sys.argv[1], mmap_mode="r")
    Autoencoder(code_size=8, hidden=(64,), epochs=1, batch_size=4096,
                in_memory=False, random_state=0, device="cpu").fit(X)
    # VmHWM: ru_maxrss in a child of subprocess starts at the parent's peak.
    with open("/proc/self/status") as fh:
        print(next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM")) * 1024)
    """
)


def streamed_peak_rss(gigabytes: float) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory(dir=ROOT) as d:
        path = os.path.join(d, "big.npy")
        cols = 256
        rows = int(gigabytes * 2**30 / (4 * cols))
        out = np.lib.format.open_memmap(path, "w+", np.float32, (rows, cols))
        rng = np.random.default_rng(0)
        for i in range(0, rows, 262144):
            out[i : i + 262144] = rng.random((min(262144, rows - i), cols), np.float32)
        out.flush()
        del out
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        with Timer() as t:
            r = subprocess.run(
                [sys.executable, "-c", CHILD, path],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
        return os.path.getsize(path) / 2**30, int(r.stdout.split()[-1]) / 2**30, t.wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conv-rows", type=int, default=5000)
    ap.add_argument("--transform-rounds", type=int, default=10)
    ap.add_argument(
        "--transform-sizes",
        default="20000,60000",
        help="rows given to transform (comma-separated)",
    )
    ap.add_argument(
        "--only-transform",
        action="store_true",
        help="measure only transform against the bare module (speed_transform.md)",
    )
    ap.add_argument(
        "--precision",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure bf16 autocast and torch.compile on the CPU too",
    )
    ap.add_argument("--scaling", default="10000,100000,1000000")
    ap.add_argument("--stream-gb", type=float, default=2.0)
    args = ap.parse_args()
    X, _, _, _ = mnist()
    sizes = [int(v) for v in args.transform_sizes.split(",")]
    transform_table(X, sizes, args.transform_rounds)
    if args.only_transform:
        return
    x = torch.from_numpy(X[: args.rows].astype(np.float32) / 255.0)
    fps = flops_per_sample()
    hand = "hand-written loop, batch 128"
    conv_x = x[: args.conv_rows].reshape(-1, 1, 28, 28)
    rows, notes = [], []
    for threads in (1, 2):
        peak = matmul_peak(threads)
        rates = training_rates(
            x, threads, args.rounds, batches=(128, 512), conv_x=conv_x
        )
        for name, (cpu_rate, wall_rate, per_round) in rates.items():
            conv = name.startswith("conv")
            base = "conv: hand-written loop, batch 128" if conv else hand
            base_cpu, base_wall, base_rounds = rates[base]
            med, lo, hi = paired_ratio(base_rounds, per_round)
            rows.append(
                [
                    threads,
                    name,
                    cpu_rate,
                    wall_rate,
                    cpu_rate / base_cpu,
                    wall_rate / base_wall,
                    f"{med:.3f} ({lo:.3f}-{hi:.3f})",
                    "not counted" if conv else wall_rate * fps / peak,
                    peak / 1e9,
                ]
            )
        write_table(
            "speed",
            "Training speed: aekit vs a hand-written loop",
            HEADER,
            rows,
            notes,
        )
    notes.append(
        f"Dense 784-512-256-32 (mirrored), BCE, Adam 1e-3, {args.rows} MNIST rows per "
        f"epoch, {args.rounds} interleaved rounds after a warm-up round, each "
        "one epoch from the weights so far with a fresh Adam (both contenders); "
        f"{fps / 1e6:.2f} MFLOP per sample (forward + backward matmuls). The "
        "fraction of peak uses wall rates against a 1024x1024 float32 matmul peak "
        "measured at the same thread count. The conv rows: channels "
        f"{CONV_CHANNELS}, code 32 (flattened), {args.conv_rows} rows, ratio against "
        "the hand-written loop over the same conv module's layers; their FLOPs "
        "are not counted."
    )
    _, _, Xt, _ = mnist()
    for name, (epochs, cpu, wall) in time_to_quality(X, Xt).items():
        notes.append(
            f"time to test MSE 0.0088 (code 32, 60,000 training images, "
            f"2 threads): {name}: {epochs} epochs, {cpu:.0f} s CPU, "
            f"{wall:.0f} s wall."
        )
    notes.append(
        "The time to a test MSE is one run of each, one after the other (not "
        "interleaved), each as a user would write it: the hand-written loop "
        "keeps one Adam over its epochs, aekit runs its default fit. The "
        "interleaved rates in the table are the speed comparison; these times "
        "are context."
    )
    if args.precision:
        rates = precision_rates(x)
        base = rates["fp32"][0]
        notes.append(
            "dense training on the CPU, 2 threads, batch 128, 3 interleaved rounds: "
            + "; ".join(
                f"{k} {c:,.0f} samples per CPU s ({w:,.0f} per wall s, x{c / base:.2f})"
                for k, (c, w) in rates.items()
            )
            + "."
        )
        _, _, Xt, _ = mnist()
        q = precision_quality(X, Xt)
        notes.append(
            "fp32 vs bf16 autocast, 10 epochs on all 60,000 images, 2 threads: "
            + "; ".join(
                f"{k} test MSE {mse_:.5f}, {cpu:.0f} s CPU, {wall:.0f} s wall"
                for k, (mse_, cpu, wall) in q.items()
            )
            + ". precision='auto' picks bf16 on CPUs with native bf16 "
            "(AVX512-BF16 or AMX); compile stays off."
        )
    torch.set_num_threads(2)
    times = []
    for n in [int(s) for s in args.scaling.split(",")]:
        idx = np.arange(n) % len(X)
        with Timer() as t:
            Autoencoder(
                code_size=32,
                epochs=1,
                validation_fraction=0.0,
                random_state=0,
                device="cpu",
            ).fit(X[idx])
        times.append((n, t.wall, t.cpu))
    base = times[0]
    notes.append(
        "fit of 1 epoch, 2 threads: "
        + "; ".join(
            f"{n:,} rows {w:.1f} s wall / {c:.1f} s CPU "
            f"(CPU per row x{(c / n) / (base[2] / base[0]):.2f} of the first)"
            for n, w, c in times
        )
    )
    if args.stream_gb > 0:
        size, rss, wall = streamed_peak_rss(args.stream_gb)
        notes.append(
            f"streamed fit (in_memory=False, 1 epoch) of a {size:.2f} GiB "
            f"float32 .npy: peak RSS of the child {rss:.2f} GiB, {wall:.0f} s."
        )
    write_table(
        "speed",
        "Training speed: aekit vs a hand-written loop",
        HEADER,
        rows,
        notes,
    )


if __name__ == "__main__":
    main()
