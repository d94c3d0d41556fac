"""Fuzzing and fault injection at bench scale (many more examples than CI).

Runs tests/test_fuzz.py with ``AEKIT_FUZZ_EXAMPLES`` random (not derandomized)
examples per test, and the slow SIGKILL test (more kills, more seeds), each in
its own pytest process. Writes bench/results/fuzz.md: per test, the examples
asked for, the outcome, wall and CPU seconds (CPU includes child processes).

Usage: python bench/bench_fuzz.py [EXAMPLES]   (default 500)
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

TESTS = [
    ("tests/test_fuzz.py::test_estimator_on_random_arrays", True),
    ("tests/test_fuzz.py::test_loaders_on_random_bytes", True),
    ("tests/test_fuzz.py::test_run_folder_with_damaged_config_or_weights", True),
    ("tests/test_fuzz.py::test_cli_on_random_files", True),
    ("tests/test_fuzz.py::test_cli_on_random_option_values", True),
    ("tests/test_faults.py::test_sigkill_many_times", False),
]


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main() -> int:
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    env = {**os.environ, "AEKIT_FUZZ_EXAMPLES": str(examples), "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    rows, failed = [], 0
    for test, fuzzed in TESTS:
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test]
        argv += ["-m", "slow"] if not fuzzed else []
        cpu0, t0 = _children_cpu(), time.perf_counter()
        proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
        wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
        summary = (proc.stdout.strip().splitlines() or ["(no output)"])[-1]
        failed += proc.returncode != 0
        rows.append(
            (
                test.split("::")[-1],
                f"{examples} per test" if fuzzed else "3 seeds x 6 kills",
                summary,
                f"{wall:.0f}",
                f"{cpu:.0f}",
            )
        )
        if proc.returncode != 0:
            print(proc.stdout[-4000:], file=sys.stderr)
    lines = [
        "# Fuzzing and fault injection",
        "",
        "Every outcome must be a success or a clean aekit error (no other "
        "exception, no hang); SIGKILL at random moments must leave a loadable "
        "checkpoint and resume to bit-identical weights.",
        "",
        "| test | examples | outcome | wall s | CPU s |",
        "|---|---|---|---|---|",
        *[f"| {' | '.join(r)} |" for r in rows],
        "",
        f"Command: `python bench/bench_fuzz.py {examples}` "
        "(wall times are inflated on a shared machine; CPU includes subprocesses).",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    from aekit.io import atomic_write_text

    atomic_write_text(RESULTS / "fuzz.md", text)
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
