"""Helpers shared by the bench scripts (public aekit API only)."""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results"


def mnist():
    """(X_train uint8 (60000, 784), y_train, X_test, y_test) or exit with a reason."""
    from aekit.data import load

    d = SHARED / "mnist"
    if not (d / "train-images-idx3-ubyte.gz").exists():
        raise SystemExit(f"MNIST not found in {d}: this bench needs ../shared/data")
    tr = load(d / "train-images-idx3-ubyte.gz")
    te = load(d / "t10k-images-idx3-ubyte.gz")
    return tr.X.reshape(60000, -1), tr.y, te.X.reshape(10000, -1), te.y


class Timer:
    """Wall and CPU seconds of a block."""

    def __enter__(self):
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


def interleaved_rounds(contenders: dict, rounds: int) -> dict[str, list[tuple]]:
    """Run each ``contenders[name]()`` once per round, in an order that
    alternates between rounds, after a warm-up round that is not counted;
    return each one's (CPU seconds, wall seconds) per round."""
    names = list(contenders)
    spent = {name: [] for name in names}
    for r in range(rounds + 1):
        for name in names if r % 2 else names[::-1]:
            with Timer() as t:
                contenders[name]()
            if r:
                spent[name].append((t.cpu, t.wall))
    return spent


def interleaved(contenders: dict, rounds: int) -> dict[str, tuple[float, float]]:
    """:func:`interleaved_rounds`, summed: each one's total (CPU s, wall s)."""
    return {
        name: totals(ts) for name, ts in interleaved_rounds(contenders, rounds).items()
    }


def totals(rounds: list[tuple]) -> tuple[float, float]:
    """(CPU s, wall s) summed over the rounds of :func:`interleaved_rounds`."""
    return sum(c for c, _ in rounds), sum(w for _, w in rounds)


def paired_ratio(base: list[tuple], other: list[tuple]) -> tuple[float, float, float]:
    """Speed of ``other`` relative to ``base`` (> 1: faster), per round of
    :func:`interleaved_rounds` from their CPU times: (median, min, max).

    Both ran back to back in each round, so a slow spell of a shared machine
    hits both; the median of the paired ratios is robust to the rounds it
    hit only one of, which move a ratio of totals by several percent."""
    r = np.array([b[0] / o[0] for b, o in zip(base, other, strict=True)])
    return float(np.median(r)), float(r.min()), float(r.max())


def best_round_ratio(base: list[tuple], other: list[tuple]) -> float:
    """``base``'s fastest round over ``other``'s (CPU time; > 1: faster).

    Time on a shared machine is only ever added by other tenants, so each
    contender's fastest round is its least disturbed one (the reading the
    ``timeit`` documentation recommends); a third estimate beside the ratio
    of totals and the median paired ratio."""
    return min(b[0] for b in base) / min(o[0] for o in other)


def machine() -> str:
    import os

    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, load average {load:.1f} at the start"
    )


def cpu_model() -> str:
    """The CPU's model name and whether it has native bf16 (speed results
    differ between machines: bf16 autocast is slower than fp32 without it)."""
    from aekit.training.trainer import cpu_has_native_bf16

    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name} ({'native' if cpu_has_native_bf16() else 'no native'} bf16)"


def command_line() -> str:
    """The command that runs this process's bench script, for its results."""
    script = Path(sys.argv[0]).name
    return " ".join(["python", f"bench/{script}", *sys.argv[1:]])


def write_table(name: str, title: str, header: list[str], rows: list[list], notes=()):
    """Write bench/results/<name>.md: the machine, the table, the notes, and
    (unless a note gives it) the command that produced it."""
    lines = [f"# {title}", "", f"Machine: {machine()}.", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for r in rows:
        lines.append("| " + " | ".join(_fmt(v) for v in r) + " |")
    notes = list(notes)
    if not any(n.startswith("Command:") for n in notes):
        notes.append(f"Command: `{command_line()}`.")
    lines += [""] + [f"- {n}" for n in notes]
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    from aekit.io import atomic_write_text

    atomic_write_text(RESULTS / f"{name}.md", text)
    print(text, flush=True)


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def mse(a, b) -> float:
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
