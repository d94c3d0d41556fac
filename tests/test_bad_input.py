"""Bad input, one case per row: a clear aekit error (or warning), never a traceback.

Each CLI case checks: exit code 2, exactly one line on stderr that names the
problem, no traceback. Each Python case checks the aekit exception type (a
``ValueError`` or ``OSError`` subclass, as scikit-learn users catch) and its
message.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import aekit
from aekit import Autoencoder
from aekit.cli import cli
from aekit.data import load
from aekit.exceptions import (
    AekitError,
    ConfigError,
    DataError,
    ModelFileError,
    NotFittedError,
)

SMALL = dict(code_size=3, hidden=(16,), epochs=1, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def digits64():
    return load("digits").X.reshape(1797, 64)[:200].astype(np.float32)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A small fitted model on the digits images (1, 8, 8)."""
    ae = Autoencoder(**SMALL).fit(load("digits"))
    return ae.save(tmp_path_factory.mktemp("fitted") / "run")


def _copy_run(run_dir: Path, tmp: Path) -> Path:
    return Path(shutil.copytree(run_dir, tmp / "copy"))


def _write_png_folder(tmp: Path, *, corrupt: bool) -> Path:
    from skimage import data as skdata

    folder = tmp / "imgs"
    folder.mkdir()
    cam = skdata.camera()
    for i in range(4):
        Image.fromarray(cam[i * 12 : i * 12 + 12, :12]).save(folder / f"ok{i}.png")
    if corrupt:
        good = (folder / "ok0.png").read_bytes()
        (folder / "cut.png").write_bytes(good[: len(good) // 2])  # truncated
        (folder / "junk.jpg").write_bytes(b"not an image at all")
    return folder


# -- the CLI table --------------------------------------------------------------
# Each entry: id, a function (tmp, run_dir) -> (argv, expected text in stderr).
def _missing(tmp, run):
    return ["fit", tmp / "nope.csv", "--out", tmp / "o"], "neither an existing file"


def _not_regular(tmp, run):
    os.mkfifo(tmp / "pipe.csv")  # reading it would block forever
    return ["fit", tmp / "pipe.csv", "--out", tmp / "o"], "not a regular file"


def _unknown_format(tmp, run):
    (tmp / "x.xlsx").write_bytes(b"PK\x03\x04")
    return ["fit", tmp / "x.xlsx", "--out", tmp / "o"], "unknown format '.xlsx'"


def _unknown_builtin(tmp, run):
    return ["fit", "digitz", "--out", tmp / "o"], "Did you mean 'digits'?"


def _empty_csv(tmp, run):
    (tmp / "e.csv").write_text("")
    return ["fit", tmp / "e.csv", "--out", tmp / "o"], "is empty"


def _header_only_csv(tmp, run):
    (tmp / "h.csv").write_text("a,b,c\n")
    return ["fit", tmp / "h.csv", "--out", tmp / "o"], "a header but no data rows"


def _empty_npy(tmp, run):
    np.save(tmp / "e.npy", np.zeros((0, 4), np.float32))
    return ["fit", tmp / "e.npy", "--out", tmp / "o"], "0 sample"


def _empty_folder(tmp, run):
    (tmp / "imgs").mkdir()
    return ["fit", tmp / "imgs", "--out", tmp / "o"], "holds no images"


def _single_row(tmp, run):
    (tmp / "one.csv").write_text("a,b,c\n1,2,3\n")
    return ["fit", tmp / "one.csv", "--out", tmp / "o"], "1 sample, but fitting"


def _nan_values(tmp, run):
    (tmp / "n.csv").write_text("a,b\n1,2\n3,nan\ninf,4\n5,6\n")
    return (
        ["fit", tmp / "n.csv", "--out", tmp / "o"],
        "(1 NaN, 1 inf) at row 1 column 1, row 2 column 0; drop or fill",
    )


def _non_numeric(tmp, run):
    (tmp / "s.csv").write_text("age,city,score\n31,Oslo,2\n40,Rome,3\n")
    return ["fit", tmp / "s.csv", "--out", tmp / "o"], "non-numeric column(s) 'city'"


def _ragged(tmp, run):
    (tmp / "r.csv").write_text("1,2,3\n4,5,6\n7,8\n")
    return ["fit", tmp / "r.csv", "--out", tmp / "o"], "line 3 has 2 fields"


def _wrong_features(tmp, run):
    np.save(tmp / "x.npy", np.zeros((3, 10), np.float32))
    return (
        ["encode", run, tmp / "x.npy", "--out", tmp / "z.npy"],
        f"x.npy has samples of shape (10,), but the Autoencoder in {run} was "
        "fitted on samples of shape (1, 8, 8); pass data like its training data",
    )


def _wrong_image_size(tmp, run):
    folder = _write_png_folder(tmp, corrupt=False)
    return (
        ["encode", run, folder, "--out", tmp / "z.npy"],
        f"has samples of shape (1, 12, 12), but the Autoencoder in {run} was "
        "fitted on samples of shape (1, 8, 8); pass --image-size 8x8 to resize",
    )


def _wrong_image_size_evaluate(tmp, run):
    folder = _write_png_folder(tmp, corrupt=False)
    return (
        ["evaluate", run, folder],
        f"has samples of shape (1, 12, 12), but the Autoencoder in {run} was "
        "fitted on samples of shape (1, 8, 8); pass --image-size 8x8 to resize",
    )


def _wrong_code_width(tmp, run):
    np.save(tmp / "z.npy", np.zeros((2, 5), np.float32))
    return (
        ["decode", run, tmp / "z.npy", "--out", tmp / "x.npy"],
        "codes of shape (5,), but this Autoencoder has codes of shape (3,)",
    )


def _bce_outside_unit(tmp, run):
    np.save(tmp / "x.npy", np.linspace(-3, 3, 40, dtype=np.float32).reshape(10, 4))
    return (
        [
            "fit",
            tmp / "x.npy",
            "--out",
            tmp / "o",
            "--loss",
            "bce",
            "--scaling",
            "none",
        ],
        "loss='bce' needs data in [0, 1]",
    )


def _corrupt_image_strict(tmp, run):
    folder = _write_png_folder(tmp, corrupt=True)
    return (
        ["fit", folder, "--out", tmp / "o", "--strict"],
        "cut.png is not a readable image",
    )


def _truncated_weights(tmp, run):
    run = _copy_run(run, tmp)
    data = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(data[: len(data) // 3])
    return ["encode", run, "digits", "--out", tmp / "z.npy"], "corrupt or truncated"


def _tampered_weights(tmp, run):
    """Weights edited in place: still a valid safetensors file, other numbers."""
    from safetensors.torch import load_file, save_file

    run = _copy_run(run, tmp)
    tensors = load_file(run / "model.safetensors")
    key = next(k for k in tensors if k.startswith("module."))
    tensors[key] = tensors[key] + 1.0
    save_file(tensors, run / "model.safetensors")
    return ["encode", run, "digits", "--out", tmp / "z.npy"], "SHA-256 differs"


def _truncated_config(tmp, run):
    run = _copy_run(run, tmp)
    text = (run / "config.json").read_text()
    (run / "config.json").write_text(text[: len(text) // 2])
    return ["encode", run, "digits", "--out", tmp / "z.npy"], "corrupt or truncated"


def _tampered_config(tmp, run):
    run = _copy_run(run, tmp)
    cfg = json.loads((run / "config.json").read_text())
    cfg["model"]["latent"]["code_size"] = "three"
    (run / "config.json").write_text(json.dumps(cfg))
    return (
        ["encode", run, "digits", "--out", tmp / "z.npy"],
        "does not describe a model this aekit can rebuild",
    )


def _unknown_component(tmp, run):
    run = _copy_run(run, tmp)
    cfg = json.loads((run / "config.json").read_text())
    cfg["model"]["latent"]["kind"] = "__import__('os').system('echo pwned')"
    (run / "config.json").write_text(json.dumps(cfg))
    return ["encode", run, "digits", "--out", tmp / "z.npy"], "Unknown latent"


def _newer_format(tmp, run):
    run = _copy_run(run, tmp)
    cfg = json.loads((run / "config.json").read_text())
    cfg["format_version"] = 99
    cfg["versions"]["aekit"] = "9.0.0"
    (run / "config.json").write_text(json.dumps(cfg))
    return (
        ["encode", run, "digits", "--out", tmp / "z.npy"],
        "written by aekit 9.0.0 (run format 99); this aekit reads format 1",
    )


def _validation_leaves_nothing(tmp, run):
    np.save(tmp / "x.npy", np.random.default_rng(0).random((10, 4), np.float32))
    return (
        ["fit", tmp / "x.npy", "--out", tmp / "o", "--validation-fraction", "0.95"],
        "leaving 0 to train on",
    )


def _batch_norm_batch_of_one(tmp, run):
    cfg = tmp / "bn.toml"
    cfg.write_text("batch_norm = true\nbatch_size = 1\n")
    return (
        ["fit", "digits", "--out", tmp / "o", "--config", cfg],
        "batch_norm=True needs batch_size >= 2",
    )


def _topk_larger_than_code(tmp, run):
    import aekit.regularizers  # noqa: F401  (registers what this build has)
    from aekit.registry import REGULARIZERS

    if "topk" not in REGULARIZERS:
        pytest.skip("this build has no topk regularizer")
    return (
        ["fit", "digits", "--out", tmp / "o", "--code-size", "3"]
        + ["--regularizer", "topk:8"],
        "The 'k' of the topk regularizer must be an int in [1, 3]",
    )


def _bad_option_value(tmp, run):
    return ["fit", "digits", "--out", tmp / "o", "--lr", "-0.1"], "'lr' training option"


def _negative_seed(tmp, run):  # found by fuzzing the options
    return ["fit", "digits", "--out", tmp / "o", "--seed", "-1"], "random_state"


def _patience_zero(tmp, run):
    return ["fit", "digits", "--out", tmp / "o", "--patience", "0"], "'patience'"


def _beyond_float32(tmp, run):
    np.save(tmp / "x.npy", np.full((4, 3), 1e300))
    return ["fit", tmp / "x.npy", "--out", tmp / "o"], "beyond float32's range"


def _npy_1d(tmp, run):
    np.save(tmp / "x.npy", np.arange(5.0))
    return ["fit", tmp / "x.npy", "--out", tmp / "o"], "Expected 2D array"


def _pickled_npy(tmp, run):
    np.save(tmp / "x.npy", np.array([{"a": 1}, None], dtype=object))
    return ["fit", tmp / "x.npy", "--out", tmp / "o"], "not a numeric .npy array"


def _corrupt_resume_state(tmp, run):
    (tmp / "o").mkdir()
    (tmp / "o" / "fit.json").write_text("{not json")
    return ["fit", "digits", "--out", tmp / "o", "--resume"], "fit.json is corrupt"


def _out_is_a_file(tmp, run):
    (tmp / "o").write_text("x")
    return ["encode", run, "digits", "--out", tmp / "o" / "z.npy"], "Could not write"


def _out_under_a_file(tmp, run):
    (tmp / "f").write_text("x")
    return ["fit", "digits", "--out", tmp / "f" / "run"], "Cannot create the run folder"


CLI_CASES = [
    _missing,
    _not_regular,
    _unknown_format,
    _unknown_builtin,
    _empty_csv,
    _header_only_csv,
    _empty_npy,
    _empty_folder,
    _single_row,
    _nan_values,
    _non_numeric,
    _ragged,
    _wrong_features,
    _wrong_image_size,
    _wrong_image_size_evaluate,
    _wrong_code_width,
    _bce_outside_unit,
    _corrupt_image_strict,
    _truncated_weights,
    _tampered_weights,
    _truncated_config,
    _tampered_config,
    _unknown_component,
    _newer_format,
    _validation_leaves_nothing,
    _batch_norm_batch_of_one,
    _topk_larger_than_code,
    _bad_option_value,
    _patience_zero,
    _negative_seed,
    _beyond_float32,
    _npy_1d,
    _pickled_npy,
    _corrupt_resume_state,
    _out_is_a_file,
    _out_under_a_file,
]


@pytest.mark.parametrize("case", CLI_CASES, ids=lambda f: f.__name__.strip("_"))
def test_cli_bad_input_one_line_exit_2(case, tmp_path, run_dir):
    argv, expected = case(tmp_path, run_dir)
    r = CliRunner().invoke(cli, [str(a) for a in argv])
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    lines = r.stderr.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("aekit: error:")]
    assert len(errors) == 1, r.stderr
    assert expected in errors[0], errors[0]
    assert "Traceback" not in r.output


def test_unreadable_file(tmp_path, monkeypatch):
    (tmp_path / "x.csv").write_text("1,2\n3,4\n")
    (tmp_path / "x.csv").chmod(0)
    if os.geteuid() == 0:  # root reads anything: simulate the denied check
        import aekit.data.readers as readers

        monkeypatch.setattr(readers.os, "access", lambda path, mode: False)
    r = CliRunner().invoke(
        cli, ["fit", str(tmp_path / "x.csv"), "--out", str(tmp_path / "o")]
    )
    assert r.exit_code == 2
    assert r.stderr.strip().endswith("x.csv cannot be read: permission denied.")


# -- the Python table -------------------------------------------------------------
def test_python_errors_subclass_what_sklearn_users_catch(digits64, tmp_path):
    X = digits64
    cases = [
        (lambda: Autoencoder(**SMALL).fit(X[:1]), DataError, "1 sample"),
        (lambda: Autoencoder().transform(X), NotFittedError, "not fitted yet"),
        (
            lambda: Autoencoder(**SMALL, validation_fraction=0.9).fit(X[:3]),
            ConfigError,
            "leaving 0 to train on",
        ),
        (lambda: Autoencoder(**SMALL, nan_policy="skip").fit(X), ConfigError, "skip"),
        (lambda: Autoencoder(**{**SMALL, "lr": 0}).fit(X), ConfigError, "'lr'"),
        (
            lambda: Autoencoder(**{**SMALL, "hidden": "a,b"}).fit(X),
            ConfigError,
            "tuple of ints",
        ),
        (
            lambda: Autoencoder(**{**SMALL, "random_state": "seed"}).fit(X),
            ConfigError,
            "random_state",
        ),
        (lambda: Autoencoder(**SMALL).fit(X.astype(complex)), DataError, "Complex"),
        (lambda: aekit.load(tmp_path / "none"), ModelFileError, "not a run folder"),
        (lambda: load(tmp_path / "none.csv"), DataError, "neither"),
    ]
    for fn, exc, match in cases:
        with pytest.raises(exc, match=match) as info:
            fn()
        assert isinstance(info.value, AekitError)
        assert isinstance(info.value, ValueError | OSError)


def test_single_row_transform_works_after_fit(digits64):
    ae = Autoencoder(**SMALL).fit(digits64)
    one = ae.transform(digits64[7:8])
    assert one.shape == (1, 3)
    np.testing.assert_allclose(one, ae.transform(digits64)[7:8], atol=1e-6)
    assert ae.reconstruct(digits64[:1]).shape == (1, 64)


def test_two_rows_fit(digits64):
    """The smallest data set fit accepts (no validation split possible)."""
    ae = Autoencoder(**{**SMALL, "batch_norm": True}).fit(digits64[:2])
    assert np.isfinite(ae.transform(digits64[:2])).all()


def test_finite_check_is_exact_where_its_one_pass_sum_is_not():
    """check_array tests finiteness by one sum of the data: NaN and inf make
    it NaN or inf, but so does overflow of finite values, which must pass;
    +inf and -inf together make it NaN, which must fail."""
    from aekit.data.validation import check_array

    big = np.full((4, 3), np.finfo(np.float32).max / 2, np.float32)
    with np.errstate(over="ignore"):
        assert not np.isfinite(big.sum())  # the sum overflows ...
    both = np.zeros((4, 3), np.float32)
    both[1, 2], both[3, 0] = np.inf, -np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and numpy's RuntimeWarnings stay quiet
        assert check_array(big) is big  # ... and the finite data passes
        with pytest.raises(DataError, match=r"\(0 NaN, 2 inf\) at row 1 column 2"):
            check_array(both)


def test_nan_policy_drop_and_zero_python(digits64):
    X = digits64[:50].copy()
    X[[3, 9], 5] = np.nan
    X[20, 0] = np.inf
    with pytest.raises(DataError, match=r"2 NaN, 1 inf\) at row 3 column 5"):
        Autoencoder(**SMALL).fit(X)
    with pytest.warns(
        UserWarning, match=r"Dropped 3 of 50 rows .*row 3, row 9, row 20"
    ):
        ae = Autoencoder(**SMALL, nan_policy="drop").fit(X)
    # Inference keeps one row per input: dropping there is refused.
    with pytest.raises(DataError, match="NaN or infinity"):
        ae.transform(X)
    with pytest.warns(UserWarning, match=r"Replaced 2 NaN and 1 inf value\(s\)"):
        zero = Autoencoder(**SMALL, nan_policy="zero").fit(X)
    with pytest.warns(UserWarning, match="Replaced"):
        Z = zero.transform(X)
    fixed = np.where(np.isfinite(X), X, 0)
    np.testing.assert_allclose(Z, zero.transform(fixed), atol=1e-6)
    all_bad = np.full((4, 3), np.nan)
    with pytest.raises(DataError, match="leaves no data"):
        Autoencoder(**SMALL, nan_policy="drop").fit(all_bad)


def test_nan_policy_cli(tmp_path, run_dir):
    rows = ["a,b,c", "1,2,3", "4,nan,6", "7,8,9", "1,1,1", "inf,2,2", "3,3,3"]
    (tmp_path / "n.csv").write_text("\n".join(rows) + "\n")
    runner = CliRunner()
    base = ["fit", str(tmp_path / "n.csv"), "--code-size", "2", "--hidden", "4"]
    base += ["--epochs", "1", "-q", "--validation-fraction", "0"]
    r = runner.invoke(
        cli, [*base, "--out", str(tmp_path / "d"), "--nan-policy", "drop"]
    )
    assert r.exit_code == 0, r.output
    assert "Dropped 2 of 6 rows" in r.stderr and "row 1, row 4" in r.stderr
    summary = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert summary["data"]["n"] == 4
    r = runner.invoke(
        cli, [*base, "--out", str(tmp_path / "z"), "--nan-policy", "zero"]
    )
    assert r.exit_code == 0, r.output
    assert "Replaced 1 NaN and 1 inf value(s)" in r.stderr
    assert json.loads((tmp_path / "z" / "summary.json").read_text())["data"]["n"] == 6
    # encode with drop: the dropped rows are named, the rest are encoded
    r = runner.invoke(
        cli,
        ["encode", str(tmp_path / "d"), str(tmp_path / "n.csv")]
        + ["--out", str(tmp_path / "c.npy"), "--nan-policy", "drop"],
    )
    assert r.exit_code == 0, r.output
    assert "Dropped 2 of 6 rows" in r.stderr and "row 1, row 4" in r.stderr
    assert np.load(tmp_path / "c.npy").shape == (4, 2)


def test_corrupt_images_are_listed_and_skipped(tmp_path):
    folder = _write_png_folder(tmp_path, corrupt=True)
    r = CliRunner().invoke(
        cli,
        ["fit", str(folder), "--out", str(tmp_path / "o")]
        + ["--code-size", "2", "--hidden", "8", "--epochs", "1", "-q"],
    )
    assert r.exit_code == 0, r.output
    warning = [ln for ln in r.stderr.splitlines() if "aekit: warning" in ln]
    assert len(warning) == 1 and "Skipped 2 unreadable image(s)" in warning[0]
    assert "cut.png" in warning[0] and "junk.jpg" in warning[0]
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["data"]["n"] == 4


def test_overcomplete_code_without_regularizer_warns(digits64):
    with pytest.warns(UserWarning, match="can learn the identity"):
        Autoencoder(**{**SMALL, "code_size": 64, "hidden": ()}).fit(digits64[:20])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a regularized overcomplete code is fine
        Autoencoder(
            **{**SMALL, "code_size": 64, "hidden": ()}, noise="gaussian:0.1"
        ).fit(digits64[:20])


def test_history_csv_damage_keeps_the_model_loadable(run_dir, tmp_path):
    run = _copy_run(run_dir, tmp_path)
    (run / "history.csv").write_text("epoch,train_loss\n1,abc\n")
    with pytest.warns(UserWarning, match="without its training history"):
        ae = aekit.load(run)
    assert ae.history_ == [] and ae.transform(np.zeros((1, 1, 8, 8))).shape == (1, 3)


# -- never unpickle, never execute ------------------------------------------------
class _Payload:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _payload_bytes(marker: Path) -> bytes:
    data = pickle.dumps(_Payload(marker))
    pickle.loads(data).close()  # the payload works: it creates the marker...
    assert marker.exists()
    marker.unlink()  # ...and aekit must not let it run again
    return data


def test_pickle_payloads_never_run(run_dir, tmp_path):
    marker = tmp_path / "pwned"
    payload = _payload_bytes(marker)

    def refused(call, error=ModelFileError, match=None):
        with pytest.raises(error, match=match):
            call()
        assert not marker.exists(), "a payload ran"

    # model.safetensors replaced by a pickle (a torch.save file is one too),
    # with no hash in config.json, so that the loader reaches the weights
    run = _copy_run(run_dir, tmp_path)
    cfg = json.loads((run / "config.json").read_text())
    del cfg["weights_sha256"]
    (run / "config.json").write_text(json.dumps(cfg))
    (run / "model.safetensors").write_bytes(payload)
    refused(lambda: aekit.load(run), match="corrupt or truncated")
    torch.save({"x": _Payload(marker)}, run / "model.safetensors")
    assert not marker.exists()  # torch.save pickles without running it
    refused(lambda: aekit.load(run), match="corrupt or truncated")

    # the same file with a matching hash in config.json: still never unpickled
    import hashlib

    cfg["weights_sha256"] = hashlib.sha256(
        (run / "model.safetensors").read_bytes()
    ).hexdigest()
    (run / "config.json").write_text(json.dumps(cfg))
    refused(lambda: aekit.load(run), match="corrupt or truncated")

    # config.json whose fields hold a pickle or code: read as plain strings
    run2 = Path(shutil.copytree(run_dir, tmp_path / "run2"))
    cfg = json.loads((run2 / "config.json").read_text())
    cfg["estimator"] = payload.decode("latin-1")
    (run2 / "config.json").write_text(json.dumps(cfg))
    refused(lambda: aekit.load(run2), match="unknown estimator")
    cfg["estimator"] = "Autoencoder"
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    cfg["model"]["architecture"]["activation"] = code
    (run2 / "config.json").write_text(json.dumps(cfg))
    refused(lambda: aekit.load(run2))

    # a checkpoint that is a pickle, and data files that hold pickles
    from aekit.training.checkpoint import load_checkpoint

    (tmp_path / "ck.safetensors").write_bytes(payload)
    refused(lambda: load_checkpoint(tmp_path / "ck.safetensors"), match="unreadable")
    np.save(tmp_path / "obj.npy", np.array([_Payload(marker)], dtype=object))
    assert not marker.exists()  # np.save pickles without running it
    refused(lambda: load(tmp_path / "obj.npy"), DataError, "not a numeric .npy")
    np.savez(tmp_path / "obj.npz", a=np.array([_Payload(marker)], dtype=object))
    refused(lambda: load(tmp_path / "obj.npz"), DataError, "not a readable .npz")
    r = CliRunner().invoke(cli, ["encode", str(run), "digits", "--out", "z.npy"])
    assert r.exit_code == 2
    assert not marker.exists(), "a payload ran"


def test_feature_with_a_spread_below_float32_is_not_divided_by_zero():
    """Found by the fuzzer: std 3e-69 became 0 in float32 and the loss NaN."""
    X = np.array([[2702.3, 436.8, 6.1e-69], [-3511.3, 0.2, 2.3e-225]])
    ae = Autoencoder(**{**SMALL, "code_size": 2, "validation_fraction": 0}).fit(X)
    assert np.isfinite(ae.transform(X)).all()
    assert np.isfinite(ae.history_[-1]["train_loss"])


# -- component specs: every field type- and range-checked -----------------------
# The CLI table's form; each case must fail before any training.
def _noise_not_a_number(tmp, run):
    return (
        ["fit", "digits", "--out", tmp / "o", "--noise", "gaussian:abc"],
        "The gaussian corruption's sigma must be a finite number. Got 'abc' instead.",
    )


def _masking_not_a_number(tmp, run):
    return (
        ["fit", "digits", "--out", tmp / "o", "--noise", "masking:abc"],
        "The masking corruption's fraction must be a finite number. Got 'abc'",
    )


def _salt_pepper_not_a_number(tmp, run):
    return (
        ["fit", "digits", "--out", tmp / "o", "--noise", "salt_pepper:abc"],
        "The salt_pepper corruption's fraction must be a finite number. Got 'abc'",
    )


def _blur_not_a_number(tmp, run):
    return (
        ["fit", "digits", "--out", tmp / "o", "--noise", "blur:abc"],
        "The blur corruption's sigma must be a finite number. Got 'abc'",
    )


def _beta_not_a_number(tmp, run):
    return (
        ["fit", "digits", "--out", tmp / "o", "--latent", "variational:beta=abc"],
        "The variational latent's beta must be a finite number. Got 'abc'",
    )


def _free_bits_not_a_number(tmp, run):
    return (
        ["fit", "digits", "--out", tmp / "o"]
        + ["--latent", "variational:free_bits=abc"],
        "The variational latent's free_bits must be a finite number. Got 'abc'",
    )


def _beta_negative(tmp, run):
    return (
        ["fit", "digits", "--out", tmp / "o", "--latent", "variational:beta=-1"],
        "The variational latent's beta must be >= 0. Got -1 instead.",
    )


def _noise_colon_without_value(tmp, run):
    return (
        ["fit", "digits", "--out", tmp / "o", "--noise", "gaussian:"],
        "The corruption 'gaussian:' has an empty value",
    )


SPEC_CASES = [
    _noise_not_a_number,
    _masking_not_a_number,
    _salt_pepper_not_a_number,
    _blur_not_a_number,
    _beta_not_a_number,
    _free_bits_not_a_number,
    _beta_negative,
    _noise_colon_without_value,
]


@pytest.mark.parametrize("case", SPEC_CASES, ids=lambda f: f.__name__.strip("_"))
def test_cli_bad_spec_value_one_line_exit_2(case, tmp_path, run_dir):
    test_cli_bad_input_one_line_exit_2(case, tmp_path, run_dir)


def _wrong_type(annotation: str):
    """A value that the annotation ``annotation`` (a string) does not allow."""
    if "tuple" in annotation:
        return 1.5 if "str" in annotation else "abc"
    return (1,) if "str" in annotation else "abc"


def test_every_field_of_every_component_is_type_checked():
    import aekit.model  # noqa: F401  (registers every component)
    from aekit import registry

    axes = [
        registry.ARCHITECTURES,
        registry.LATENTS,
        registry.REGULARIZERS,
        registry.CORRUPTIONS,
        registry.LIKELIHOODS,
    ]
    n = 0
    for axis in axes:
        for kind in axis.names():
            for field in dataclasses.fields(axis.get(kind).Config):
                bad = _wrong_type(str(field.type))
                with pytest.raises(ConfigError) as info:
                    axis.config({"kind": kind, field.name: bad})
                message = str(info.value)
                assert message.startswith(
                    f"The {kind} {axis.axis}'s {field.name} must be "
                ), message
                assert message.endswith(f"Got {bad!r} instead."), message
                n += 1
    assert n > 50, n


def test_python_component_configs_are_checked_at_construction():
    from aekit.corruption import GaussianNoise

    with pytest.raises(ConfigError, match="gaussian corruption's sigma .* 'abc'"):
        GaussianNoise(GaussianNoise.Config(sigma="abc"))


@pytest.mark.parametrize(
    "spec,match",
    [
        ("gaussian:", "has an empty value"),
        ("gaussian:0.3,", "has an empty value"),
        ("gaussian:sigma=", "has an empty value"),
        ("gaussian:clip=true,0.3", "a value without a name after a named one"),
        ("gaussian:0.3,sigma=0.5", "gives sigma twice"),
        (
            "gaussian:nan",
            "gaussian corruption's sigma must be a finite number. Got nan",
        ),
        ("gaussian:-1", "gaussian corruption's sigma must be >= 0. Got -1"),
        ("masking:1", "masking corruption's fraction must be in \\[0, 1\\). Got 1"),
        (
            "salt_pepper:0.1,salt=2",
            "salt_pepper corruption's salt must be in \\[0, 1\\]",
        ),
        (
            "blur:1,sigma_min=2",
            "blur corruption's sigma_min must be None or in \\[0, sigma=1\\]",
        ),
        ("blocks:-1", "blocks corruption's n_blocks must be an int >= 0. Got -1"),
        ("blocks:1.5", "blocks corruption's n_blocks must be an int. Got 1.5"),
    ],
)
def test_corruption_spec_errors_name_the_field(spec, match):
    from aekit.corruption import corrupt

    with pytest.raises(ConfigError, match=match):
        corrupt(np.zeros((2, 16), np.float32), spec)


def test_a_colon_less_spec_keeps_the_defaults():
    from aekit.registry import CORRUPTIONS

    assert CORRUPTIONS.parse("gaussian") == {"kind": "gaussian"}


# -- estimator parameters: the type each __init__ declares ----------------------
def _toml_guard_string(tmp, run):
    (tmp / "c.toml").write_text('guard = "no"\n')  # a string: true to Python
    return (
        ["fit", "digits", "--out", tmp / "o", "--config", tmp / "c.toml"],
        "The 'guard' parameter of Autoencoder must be True or False. Got 'no'",
    )


def _toml_in_memory_string(tmp, run):
    (tmp / "c.toml").write_text('in_memory = "yes"\n')  # streamed, as False was
    return (
        ["fit", "digits", "--out", tmp / "o", "--config", tmp / "c.toml"],
        "The 'in_memory' parameter of Autoencoder must be True, False or 'auto'",
    )


@pytest.mark.parametrize(
    "case",
    [_toml_guard_string, _toml_in_memory_string],
    ids=lambda f: f.__name__.strip("_"),
)
def test_cli_bad_param_type_one_line_exit_2(case, tmp_path, run_dir):
    test_cli_bad_input_one_line_exit_2(case, tmp_path, run_dir)


def test_every_plain_estimator_parameter_is_type_checked_in_fit():
    import typing

    import aekit.estimators  # noqa: F401  (registers every estimator)
    from aekit.estimators.base import ESTIMATORS

    n = 0
    for cls in ESTIMATORS.values():
        hints = typing.get_type_hints(cls.__init__)
        for name in cls().get_params():
            hint = str(hints.get(name, "tuple"))  # unannotated: checked in use
            if "tuple" in hint:  # widths: checked where they are converted
                continue
            bad = _wrong_type(hint)
            # The check comes first: fit fails before it looks at X.
            with pytest.raises(ConfigError) as info:
                cls(**{name: bad}).fit(None)
            assert str(info.value).startswith(
                f"The {name!r} parameter of {cls.__name__} must be "
            ), str(info.value)
            n += 1
    assert n > 60, n


def test_numpy_scalars_pass_the_parameter_check(digits64):
    ae = Autoencoder(
        **{**SMALL, "code_size": np.int64(3), "lr": np.float32(1e-3)},
        batch_norm=np.bool_(False),
    )
    assert ae.fit(digits64).transform(digits64).shape == (200, 3)


@pytest.mark.parametrize(
    "params,match",
    [
        ({"decoder_hidden": ("a",)}, "'decoder_hidden' parameter must be a tuple"),
        ({"architecture": "conv", "channels": ("a",)}, "'channels' parameter must"),
    ],
)
def test_width_parameters_are_checked(digits64, params, match):
    with pytest.raises(ConfigError, match=match):
        Autoencoder(**{**SMALL, **params}).fit(load("digits"))


# -- sizes: refused before they are allocated -----------------------------------
def _code_size_beyond_memory(tmp, run):
    return (
        ["fit", "digits", "--out", tmp / "o", "--code-size", "100000000000"],
        "This model needs 191,107.4 GiB for its 51,300,000,329,280 parameters, "
        "more than the",
    )


def _hidden_beyond_memory(tmp, run):
    return (
        ["fit", "digits", "--out", tmp / "o", "--hidden", "100000000000"],
        "(by part: architecture 'dense' 84%, latent 'deterministic' 16%)",
    )


@pytest.mark.parametrize(
    "case",
    [_code_size_beyond_memory, _hidden_beyond_memory],
    ids=lambda f: f.__name__.strip("_"),
)
def test_cli_model_beyond_memory_one_line_exit_2(case, tmp_path, run_dir):
    test_cli_bad_input_one_line_exit_2(case, tmp_path, run_dir)


def test_training_beyond_memory_is_refused_before_it_starts(digits64, monkeypatch):
    import aekit.model

    ae = Autoencoder(**SMALL).fit(digits64)
    weights = sum(p.numel() * p.element_size() for p in ae.module_.parameters())
    # Room for the weights, not for their gradients and Adam's moments as well.
    monkeypatch.setattr(aekit.model, "allocatable_memory", lambda: 2 * weights)
    with pytest.raises(ConfigError, match="Training this model on the CPU needs"):
        ae.fit(digits64)
    monkeypatch.setattr(aekit.model, "allocatable_memory", lambda: 3 * weights)
    ae.fit(digits64)  # three copies fit: the check is not off by one copy


def test_an_allocation_failure_at_construction_is_one_clear_error(monkeypatch):
    import aekit.model

    def fail(self, *args, **kwargs):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't "
            "allocate memory: you tried to allocate 102400000000000 bytes."
        )

    monkeypatch.setattr(torch.nn.Linear, "reset_parameters", fail)
    with pytest.raises(ConfigError, match="Could not allocate the model's weights"):
        aekit.model.AutoencoderModule({}, (64,))
