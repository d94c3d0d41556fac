"""The CLI's mistakes of use: one line on stderr, exit code 2, no traceback.

A run folder of the wrong estimator, an option out of range, click's own
usage errors: each names the problem and the fix on one line.
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import aekit
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
    image = tmp / "image.png"  # for the image commands
    Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(image)
    out = {"table": table, "series": series, "image": image, "tmp": tmp}
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


# -- a run folder of another estimator -----------------------------------------
def _arg(files, a):
    """'table', 'series' and 'image' are the fixture's files; 'out.*' an
    output in it."""
    if a in ("table", "series", "image"):
        return files[a]
    return files["tmp"] / a if str(a).startswith("out.") else a


WRONG_KIND = [
    # (command, run, more arguments, what the line must say after the run folder)
    (
        ["generate"],
        "anomaly",
        ["-o", "out.npy"],
        "holds an AnomalyDetector; 'aekit generate' needs an Autoencoder run",
    ),
    (
        ["interpolate"],
        "anomaly",
        ["--from", 0, "--to", 1, "--data", "table", "-o", "out.npy"],
        "holds an AnomalyDetector; 'aekit interpolate' needs an Autoencoder run",
    ),
    (
        ["evaluate"],
        "anomaly",
        ["table"],
        "holds an AnomalyDetector; 'aekit evaluate' needs an Autoencoder or "
        "Recommender run (fit one with 'aekit fit DATA --out RUN')",
    ),
    (
        ["evaluate"],
        "sequence",
        ["table"],
        "holds a SequenceAutoencoder; 'aekit evaluate' needs",
    ),
    (
        ["report"],
        "sequence",
        ["--no-data", "-o", "out.html"],
        "holds a SequenceAutoencoder; 'aekit report' needs an Autoencoder or "
        "AnomalyDetector run",
    ),
    (
        ["plot", "codes"],
        "sequence",
        ["table", "-o", "out.png"],
        "holds a SequenceAutoencoder; 'aekit plot codes' needs",
    ),
    (
        ["anomalies"],
        "ae",
        ["table", "-o", "out.csv"],
        "holds an Autoencoder; 'aekit anomalies' needs an AnomalyDetector run "
        "(fit one with 'aekit fit DATA --task anomaly --out RUN')",
    ),
    (
        ["recommend"],
        "anomaly",
        ["--user", 1],
        "holds an AnomalyDetector; 'aekit recommend' needs a Recommender or "
        "SequenceAutoencoder run",
    ),
    (
        ["forecast"],
        "anomaly",
        ["series"],
        "holds an AnomalyDetector; 'aekit forecast' needs a SequenceAutoencoder "
        "run (fit one with 'aekit fit-sequence",
    ),
    (
        ["predict"],
        "ae",
        ["table", "-o", "out.gif"],
        "holds an Autoencoder; 'aekit predict' needs a SequenceAutoencoder run",
    ),
    (
        ["encode"],
        "anomaly",
        ["table", "-o", "out.npy"],
        "holds an AnomalyDetector; 'aekit encode' needs an Autoencoder or "
        "SequenceAutoencoder run",
    ),
    (
        ["decode"],
        "sequence",
        ["table", "-o", "out.npy"],
        "holds a SequenceAutoencoder; 'aekit decode' needs an Autoencoder run",
    ),
    (
        ["reconstruct"],
        "sequence",
        ["table", "-o", "out.npy"],
        "holds a SequenceAutoencoder; 'aekit reconstruct' needs an Autoencoder run",
    ),
    (
        ["denoise"],
        "anomaly",
        ["table", "-o", "out.npy"],
        "holds an AnomalyDetector; 'aekit denoise' needs an Autoencoder run",
    ),
    (
        ["inpaint"],
        "sequence",
        ["image", "--mask", "image", "-o", "out.png"],
        "holds a SequenceAutoencoder; 'aekit inpaint' needs an Autoencoder run",
    ),
    (
        ["deblur"],
        "anomaly",
        ["image", "-o", "out.png"],
        "holds an AnomalyDetector; 'aekit deblur' needs an Autoencoder run",
    ),
]


@pytest.mark.parametrize(
    "command, run, more, says", WRONG_KIND, ids=[" ".join(w[0]) for w in WRONG_KIND]
)
def test_wrong_estimator_is_one_line(files, command, run, more, says):
    line = error_line(invoke(*command, files[run], *[_arg(files, a) for a in more]))
    assert f"{files[run]} {says}" in line, line


def test_loss_plot_still_draws_any_run(files):
    out = files["tmp"] / "loss.png"
    r = invoke("plot", "loss", files["sequence"], "-o", out)
    assert r.exit_code == 0 and out.stat().st_size > 0, r.output


# -- option values -------------------------------------------------------------
@pytest.mark.parametrize("dpi", [0, -5, 100000])
def test_dpi_out_of_range(files, dpi):
    r = invoke("plot", "loss", files["ae"], "--dpi", dpi, "-o", files["tmp"] / "l.png")
    assert "Invalid value for '--dpi'" in error_line(r)


@pytest.mark.parametrize("n", [0, -1])
def test_max_samples_out_of_range(files, n):
    out = files["tmp"] / "out.html"
    r = invoke("report", files["ae"], files["table"], "--max-samples", n, "-o", out)
    assert "Invalid value for '--max-samples'" in error_line(r)


@pytest.mark.parametrize("k", [0, -5])
def test_iw_samples_zero_and_negative_alike(files, k):
    r = invoke("evaluate", files["variational"], files["table"], "--iw-samples", k)
    assert "Invalid value for '--iw-samples'" in error_line(r)


def test_grid_names_itself(files):
    r = invoke(
        "generate", files["variational"], "--grid", 0, "-o", files["tmp"] / "g.npy"
    )
    assert "Invalid value for '--grid'" in error_line(r)


def test_grid_and_n_are_exclusive(files):
    out = files["tmp"] / "g.npy"
    line = error_line(
        invoke("generate", files["variational"], "--grid", 3, "--n", 5, "-o", out)
    )
    assert "--grid decodes a fixed N x N grid of codes, so it takes no --n;" in line
    assert not out.exists()
    r = invoke("generate", files["variational"], "--grid", 3, "-o", out)
    assert r.exit_code == 0 and np.load(out).shape == (9, 64), r.output


def test_negative_top(files):
    out = files["tmp"] / "out.csv"
    r = invoke("anomalies", files["anomaly"], files["table"], "--top", -3, "-o", out)
    assert "Invalid value for '--top': -3" in error_line(r)


# -- the report of a detector that held out one sample -------------------------
def test_report_with_one_held_out_score(files):
    det = aekit.load(files["anomaly"])
    assert len(det.held_out_scores_) == 1  # what the fixture is for
    out = files["tmp"] / "report.html"
    r = invoke("report", files["anomaly"], "--no-data", "-o", out)
    assert r.exit_code == 0, r.output
    assert 'data-section="anomaly"' in out.read_text()


# -- an AnomalyDetector names itself -------------------------------------------
def test_anomalies_on_wrong_data_names_the_detector(files):
    other = files["tmp"] / "seven.npy"
    np.save(other, np.zeros((4, 7), np.float32))
    r = invoke("anomalies", files["anomaly"], other, "-o", files["tmp"] / "out.csv")
    line = error_line(r)
    assert "AnomalyDetector in" in line and "(64,)" in line, line
    assert "Autoencoder" not in line.replace("AnomalyDetector", ""), line


# -- an --out that is the input --------------------------------------------------
@pytest.mark.parametrize(
    "command, run, data, more",
    [
        (["anomalies"], "anomaly", "table.csv", []),
        (["forecast"], "sequence", "series.csv", []),
        (["interpolate"], "variational", "table.csv", ["--from", 0, "--to", 1]),
    ],
)
def test_out_that_is_the_input_is_refused(files, command, run, data, more):
    """The input is left as it was (it would have been replaced by the output)."""
    path = files["tmp"] / f"in_{run}_{data}"
    src = files["series" if data == "series.csv" else "table"]
    if data == "table.csv":
        np.savetxt(path, np.load(src), delimiter=",")
    else:
        path.write_bytes(src.read_bytes())
    before = path.read_bytes()
    data_flag = ["--data"] if command == ["interpolate"] else []
    r = invoke(*command, files[run], *more, *data_flag, path, "-o", path)
    assert "--out is the input file" in error_line(r)
    assert path.read_bytes() == before


# -- options that contradict each other ---------------------------------------------
def test_contamination_and_target_fpr_are_exclusive(files):
    """Both set the threshold; --target-fpr used to win without a word."""
    out = files["tmp"] / "both"
    r = invoke(
        "fit", files["table"], "--task", "anomaly", "--contamination", 0.1,
        "--target-fpr", 0.05, "--epochs", 1, "-q", "--out", out,
    )  # fmt: skip
    assert "--contamination and --target-fpr both set" in error_line(r)
    assert not out.exists()


def test_task_and_named_model_are_exclusive(files):
    out = files["tmp"] / "taskmodel"
    r = invoke("fit", files["table"], "--task", "anomaly", "--model", "multvae",
               "--epochs", 1, "-q", "--out", out)  # fmt: skip
    assert "--task anomaly and --model multvae name two" in error_line(r)
    assert not out.exists()


def test_resume_on_other_data_is_refused(files):
    """--resume continues a fit on its own data, whatever DATA says."""
    out = files["tmp"] / "resumed"
    r = invoke("fit", files["table"], "--code-size", 2, "--hidden", 8,
               "--epochs", 1, "--no-report", "-q", "--out", out)  # fmt: skip
    assert r.exit_code == 0, r.output
    before = (out / "fit.json").read_bytes()
    r = invoke("fit", files["series"], "--resume", "-q", "--out", out)
    assert "--resume continues a fit on the same data" in error_line(r)
    assert (out / "fit.json").read_bytes() == before
    # The same file under another name is the same data: nothing to resume.
    same = files["tmp"] / "table_link.npy"
    same.symlink_to(files["table"])
    r = invoke("fit", same, "--resume", "-q", "--out", out)
    assert r.exit_code == 0, r.output
