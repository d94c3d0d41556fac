"""The CLI's mistakes of use: one line on stderr, exit code 2, no traceback.

A run folder of the wrong estimator, an option out of range, click's own
usage errors: each names the problem and the fix on one line.
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from aekit.cli import cli


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def error_line(r) -> str:
    """The one stderr line of a command that failed on the user's input."""
    lines = r.stderr.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1, (r.exit_code, r.output)
    assert lines[0].startswith("aekit: error: "), lines[0]
    assert not r.stdout, r.stdout
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Tiny data and a run folder of each estimator kind, fitted for 1 epoch."""
    tmp = tmp_path_factory.mktemp("cli_errors")
    rng = np.random.default_rng(0)
    table = tmp / "table.npy"
    np.save(table, rng.random((10, 64), dtype=np.float32))
    t = np.arange(40) / 5
    series = tmp / "series.csv"
    series.write_text(
        "a,b\n" + "".join(f"{np.sin(v):.5f},{np.cos(v):.5f}\n" for v in t)
    )
    small = ["--code-size", 2, "--hidden", 8, "--epochs", 1, "--no-report", "-q"]
    fits = {
        "ae": ["fit", table, *small],
        "anomaly": ["fit", table, "--task", "anomaly", *small],
        "variational": ["fit", table, "--latent", "variational", *small],
        "sequence": ["fit-sequence", series, "--window", 6, "--horizon", 1]
        + ["--hidden-size", 4, "--code-size", 2, "--epochs", 1, "-q"],
    }
    out = {"table": table, "series": series, "tmp": tmp}
    for name, args in fits.items():
        out[name] = tmp / name
        r = invoke(*args, "--out", out[name])
        assert r.exit_code == 0, r.output
    return out


# -- click's usage errors ------------------------------------------------------
USAGE = [
    (
        ["fit", "digits", "--epoch", 1, "-o", "x"],
        "No such option '--epoch'. Did you mean '--epochs'",
        "(see aekit fit --help)",
    ),
    (["fitt"], "No such command 'fitt'. Did you mean 'fit'?", "(see aekit --help)"),
    (["encode", "run"], "Missing argument 'DATA'.", "(see aekit encode --help)"),
    (
        ["fit", "digits", "--epochs", "abc", "-o", "x"],
        "Invalid value for '--epochs': 'abc' is not a valid integer.",
        "(see aekit fit --help)",
    ),
    (["--bogus"], "No such option '--bogus'.", "(see aekit --help)"),
]


@pytest.mark.parametrize(
    "args, starts, ends", USAGE, ids=[" ".join(map(str, u[0])) for u in USAGE]
)
def test_usage_errors_are_one_line(args, starts, ends):
    line = error_line(invoke(*args))
    assert line.startswith(f"aekit: error: {starts}") and line.endswith(ends), line


def test_bad_path_is_one_line(files):
    r = invoke("report", files["ae"] / "config.json")
    assert "Invalid value for 'RUN_DIR'" in error_line(r)


def test_plot_kind_is_named(files):
    r = invoke("plot", "nonsuch", files["ae"], "-o", files["tmp"] / "out.png")
    assert "Invalid value for 'KIND': 'nonsuch' is not one of" in error_line(r)


@pytest.mark.parametrize("args", [["--help"], ["fit", "--help"], ["plot", "--help"]])
def test_help_still_prints(args):
    r = invoke(*args)
    assert r.exit_code == 0 and r.output.startswith("Usage: aekit"), r.output
