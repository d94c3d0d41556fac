"""The CLI, invoked in-process: exit codes, outputs and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from aekit.cli import cli


@pytest.fixture
def run(tmp_path):
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke


@pytest.fixture
def fitted(run, tmp_path):
    out = tmp_path / "run"
    r = run(
        "fit",
        "digits",
        "--out",
        out,
        "--code-size",
        4,
        "--hidden",
        "32",
        "--epochs",
        3,
        "--quiet",
    )
    assert r.exit_code == 0, r.output
    return out


def test_help_on_every_command(run):
    for cmd in (
        "fit",
        "encode",
        "decode",
        "reconstruct",
        "evaluate",
        "demo",
        "datasets",
    ):
        r = run(cmd, "--help")
        assert r.exit_code == 0 and "Usage" in r.output, cmd


def test_fit_encode_decode_reconstruct_evaluate(run, fitted, tmp_path, digits):
    cfg = json.loads((fitted / "config.json").read_text())
    assert cfg["model"]["latent"]["code_size"] == 4
    assert cfg["model"]["architecture"]["hidden"] == [32]
    assert not (fitted / "checkpoint.safetensors").exists()

    r = run("encode", fitted, "digits", "--out", tmp_path / "z.npy")
    assert r.exit_code == 0, r.output
    z = np.load(tmp_path / "z.npy")
    assert z.shape == (1797, 4)
    r = run("decode", fitted, tmp_path / "z.npy", "--out", tmp_path / "x.npy")
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "x.npy").shape == (1797, 1, 8, 8)
    r = run("reconstruct", fitted, "digits", "--out", tmp_path / "r.csv")
    assert r.exit_code == 0, r.output
    assert np.loadtxt(tmp_path / "r.csv", delimiter=",").shape == (1797, 64)

    r = run("evaluate", fitted, "digits")
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.output)
    assert metrics["n"] == 1797 and 0 < metrics["mse"] < 0.2
    assert metrics["psnr"] > 5 and "bce" in metrics
    assert metrics["dimension_ratio"] == 16


def test_config_file_and_flags_override_it(run, tmp_path):
    toml = tmp_path / "ae.toml"
    toml.write_text("[model]\ncode_size = 6\nhidden = [16]\n[training]\nepochs = 2\n")
    out = tmp_path / "run"
    r = run("fit", "digits", "--out", out, "--config", toml, "--code-size", 5, "-q")
    assert r.exit_code == 0, r.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"]["latent"]["code_size"] == 5  # flag beats file
    assert cfg["model"]["architecture"]["hidden"] == [16]  # from the file
    assert cfg["params"]["epochs"] == 2
    toml.write_text("code_sise = 3\n")
    r = run("fit", "digits", "--out", out, "--config", toml)
    assert r.exit_code == 2
    assert "unknown option 'code_sise'. Did you mean 'code_size'" in r.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (("fit", "nothing.npy", "--out", "x"), "neither an existing file"),
        (("fit", "digits", "--out", "x", "--code-size", "0"), "'code_size' parameter"),
        (
            ("fit", "digits", "--out", "x", "--activation", "rleu"),
            "Did you mean 'relu'",
        ),
        (("fit", "digits", "--out", "x", "--hidden", "a,b"), "comma-separated"),
        (("encode", "no-such-run", "digits", "--out", "z.npy"), "not a run folder"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(run, tmp_path, args, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.output


def test_wrong_feature_count_and_nan(run, fitted, tmp_path):
    np.save(tmp_path / "seven.npy", np.zeros((3, 7), np.float32))
    r = run("encode", fitted, tmp_path / "seven.npy", "--out", tmp_path / "z.npy")
    assert r.exit_code == 2
    assert "shape (7,)" in r.stderr and "(1, 8, 8)" in r.stderr
    bad = np.ones((4, 64), np.float32)
    bad[2, 3] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    r = run("fit", tmp_path / "nan.npy", "--out", tmp_path / "r2")
    assert r.exit_code == 2 and "1 NaN, 0 inf) at row 2 column 3" in r.stderr


def test_resume_continues_an_interrupted_run(run, tmp_path, monkeypatch):
    """Interrupt fit after epoch 2 (Ctrl-C), then --resume finishes it."""
    from aekit.training import trainer as trainer_mod

    out = tmp_path / "run"
    real_fit = trainer_mod.Trainer.fit

    def interrupted_fit(self, *a, **kw):
        self.on_epoch_end = lambda row: (
            (_ for _ in ()).throw(KeyboardInterrupt) if row["epoch"] == 2 else None
        )
        return real_fit(self, *a, **kw)

    monkeypatch.setattr(trainer_mod.Trainer, "fit", interrupted_fit)
    r = run(
        "fit",
        "digits",
        "--out",
        out,
        "--epochs",
        5,
        "--hidden",
        "16",
        "--code-size",
        3,
        "-q",
    )
    assert r.exit_code == 130
    assert (out / "checkpoint.safetensors").exists()
    assert not (out / "config.json").exists()  # no half-written run folder
    ran = []  # the epochs the resumed run trains: not 1 and 2 again

    def recording_fit(self, *a, **kw):
        hook = self.on_epoch_end
        self.on_epoch_end = lambda row: (ran.append(row["epoch"]), hook and hook(row))
        return real_fit(self, *a, **kw)

    monkeypatch.setattr(trainer_mod.Trainer, "fit", recording_fit)
    r = run("fit", "digits", "--out", out, "--resume", "-q")
    assert r.exit_code == 0, r.output
    assert ran == [3, 4, 5]
    hist = (out / "history.csv").read_text().strip().splitlines()
    assert len(hist) == 1 + 5
    assert json.loads((out / "config.json").read_text())["params"]["epochs"] == 5


def test_datasets_lists_formats(run):
    r = run("datasets")
    assert r.exit_code == 0 and "digits" in r.output and ".parquet" in r.output


def test_demo_writes_run_and_figure(run, tmp_path):
    r = run("demo", "--out", tmp_path / "demo", "--epochs", 20, "-q")
    assert r.exit_code == 0, r.output
    assert "| aekit |" in r.output and "| PCA |" in r.output
    assert (tmp_path / "demo" / "config.json").exists()
    png = (tmp_path / "demo" / "reconstructions.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def _temps(folder):
    return sorted(folder.glob(".*.tmp"))


def test_npy_outputs_in_chunks_match_the_model(
    run, fitted, tmp_path, digits, monkeypatch
):
    """Past 1,024 rows a .npy output is written in chunks (the digits: two);
    it equals the in-memory result, and the guard warns once."""
    import aekit
    from aekit import Autoencoder

    model = aekit.load(fitted)
    X = digits.X.astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    chunks, transform = [], Autoencoder.transform
    monkeypatch.setattr(
        Autoencoder,
        "transform",
        lambda s, X: (chunks.append(len(X)), transform(s, X))[1],
    )
    r = run("encode", fitted, tmp_path / "x.npy", "--out", tmp_path / "z.npy")
    monkeypatch.setattr(Autoencoder, "transform", transform)
    assert chunks == [1024, 773]
    assert r.exit_code == 0, r.output
    assert "Wrote codes of shape (1797, 4) to" in r.output
    z = np.load(tmp_path / "z.npy")
    np.testing.assert_allclose(z, model.transform(X), rtol=1e-5, atol=1e-6)
    r = run("reconstruct", fitted, tmp_path / "x.npy", "--out", tmp_path / "r.npy")
    assert r.exit_code == 0 and "reconstructions of shape (1797, 1, 8, 8)" in r.output
    want = model.reconstruct(X)
    np.testing.assert_allclose(np.load(tmp_path / "r.npy"), want, atol=1e-5)
    r = run("decode", fitted, tmp_path / "z.npy", "--out", tmp_path / "d.npy")
    assert r.exit_code == 0 and "decoded data of shape (1797, 1, 8, 8)" in r.output
    want = model.inverse_transform(z)
    np.testing.assert_allclose(np.load(tmp_path / "d.npy"), want, atol=1e-5)
    assert _temps(tmp_path) == []

    # Three times the pixels' range: foreign even to this 3-epoch model.
    noise = np.random.default_rng(0).uniform(0, 48, (5000, 1, 8, 8))
    np.save(tmp_path / "noise.npy", noise.astype(np.float32))
    r = run("encode", fitted, tmp_path / "noise.npy", "--out", tmp_path / "n.npy")
    assert r.exit_code == 0, r.output
    warned = [ln for ln in r.stderr.splitlines() if ln.startswith("aekit: warning")]
    assert len(warned) == 1 and "256 of 256 samples given to transform" in warned[0]


def test_interrupted_chunked_output_leaves_no_file(run, fitted, tmp_path, monkeypatch):
    from aekit import Autoencoder

    real, calls = Autoencoder.reconstruct, []

    def interrupted(self, X):
        calls.append(len(X))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, X)

    monkeypatch.setattr(Autoencoder, "reconstruct", interrupted)
    out = tmp_path / "out" / "r.npy"
    r = CliRunner().invoke(cli, ["reconstruct", str(fitted), "digits", "-o", str(out)])
    assert r.exit_code == 130 and "aekit: interrupted" in r.stderr, r.output
    assert len(calls) == 2 and not out.exists() and _temps(out.parent) == []


def test_nan_in_a_later_chunk_is_one_line_naming_the_row(run, fitted, tmp_path):
    X = np.ones((3000, 1, 8, 8), np.float32)
    X[2500, 0, 3, 4] = np.nan
    np.save(tmp_path / "x.npy", X)
    r = CliRunner().invoke(
        cli, ["encode", str(fitted), str(tmp_path / "x.npy"), "-o", "z.npy"]
    )
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    # The first chunk has 1,024 rows, the second all the others.
    assert "X (rows 1,024 to 2,999) contains NaN" in r.stderr, r.stderr
    assert "(1 NaN, 0 inf) at row 2500 at (0, 3, 4);" in r.stderr, r.stderr
    assert not (tmp_path / "z.npy").exists() and _temps(tmp_path) == []


# -- outputs never replace inputs, failed fits leave --out as it was ----------------
def _files(folder):
    """Every file under ``folder``: its bytes, mode and modification time."""
    return {
        p.relative_to(folder): (p.read_bytes(), p.stat().st_mode, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def inputs(tmp_path):
    """Data that the digits model in ``fitted`` reads (an array, its codes, a
    symlink to the array) and a folder of 8x8 PNGs with a mask."""
    from PIL import Image

    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.uniform(0, 16, (10, 1, 8, 8)).astype(np.float32))
    np.save(tmp_path / "z.npy", rng.normal(size=(10, 4)).astype(np.float32))
    (tmp_path / "imgs").mkdir()
    for i in range(3):
        pixels = rng.integers(0, 256, (8, 8), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "imgs" / f"a{i}.png")
    Image.fromarray(np.eye(8, dtype=np.uint8) * 255).save(tmp_path / "mask.png")
    (tmp_path / "link.npy").symlink_to("x.npy")
    return tmp_path


@pytest.mark.parametrize(
    "args,message",
    [
        (("encode", "x.npy", "--out", "x.npy"), "--out is the input file (x.npy)"),
        (("encode", "x.npy", "--out", "link.npy"), "--out is the input file"),
        (("reconstruct", "x.npy", "--out", "no/../x.npy"), "--out is the input file"),
        (("decode", "z.npy", "--out", "z.npy"), "--out is the input file"),
        (("denoise", "x.npy", "--out", "./x.npy"), "--out is the input file"),
        (("denoise", "imgs", "--out", "imgs/"), "--out is the input folder (imgs)"),
        (("denoise", "imgs", "--out", "imgs/clean"), "inside the input folder"),
        (("deblur", "imgs/a0.png", "--out", "imgs"), "--out is the input file"),
        (("deblur", "imgs/a1.png", "--out", "imgs/a1.png"), "--out is the input file"),
        (
            ("inpaint", "imgs/a1.png", "--mask", "mask.png", "--out", "mask.png"),
            "--out is the input file (mask.png)",
        ),
    ],
)
def test_out_that_is_an_input_is_refused(
    run, fitted, inputs, args, message, monkeypatch
):
    monkeypatch.chdir(inputs)
    before = _files(inputs)
    r = run(args[0], fitted, *args[1:])
    assert r.exit_code == 2, r.output
    assert message in r.stderr and "choose another path" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert _files(inputs) == before


def test_out_beside_the_inputs_is_allowed(run, fitted, inputs, monkeypatch):
    monkeypatch.chdir(inputs)
    # The digits model learned from values 0-16, not from 8-bit PNGs.
    r = run("denoise", fitted, "imgs", "--out", "clean")
    assert r.exit_code == 2, r.output
    assert "imgs has 8-bit pixels, but the model learned from values in [0, 16]" in (
        r.stderr
    )
    small = ["--code-size", 2, "--hidden", 8, "--epochs", 1, "--no-report", "-q"]
    assert run("fit", "imgs", "--out", "run8", *small).exit_code == 0
    # An array inside an image folder is not read as one of its images.
    r = run("denoise", "run8", "imgs", "--out", "imgs/clean.npy")
    assert r.exit_code == 0, r.output
    assert np.load("imgs/clean.npy").shape == (3, 1, 8, 8)
    r = run("denoise", "run8", "imgs", "--out", "clean")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (inputs / "clean").iterdir()) == [
        "a0.png",
        "a1.png",
        "a2.png",
    ]
    r = run("encode", fitted, "link.npy", "--out", "z.npy")
    assert r.exit_code == 0 and np.load("z.npy").shape == (10, 4)


def test_failed_fit_leaves_the_run_folder_as_it_was(run, fitted, tmp_path):
    before = _files(fitted)
    np.save(tmp_path / "w63.npy", np.zeros((10, 63), np.float32))
    # The estimator checks epochs in fit, after fit.json would have been written.
    r = run("fit", tmp_path / "w63.npy", "--out", fitted, "--epochs", 0)
    assert r.exit_code == 2 and "'epochs' parameter" in r.stderr, r.output
    assert _files(fitted) == before
    r = run("fit", "digits", "--out", tmp_path / "new" / "run", "--epochs", 0)
    assert r.exit_code == 2 and "'epochs' parameter" in r.stderr, r.output
    assert not (tmp_path / "new").exists()


def test_ctrl_c_before_an_epoch_leaves_a_finished_run_as_it_was(
    run, fitted, monkeypatch
):
    from aekit.training import trainer as trainer_mod

    def interrupted(self, *a, **kw):
        raise KeyboardInterrupt

    before = _files(fitted)
    monkeypatch.setattr(trainer_mod.Trainer, "fit", interrupted)
    r = run("fit", "digits", "--out", fitted, "--code-size", 2, "-q")
    assert r.exit_code == 130 and "no epoch had completed" in r.stderr, r.output
    assert _files(fitted) == before


def test_fit_over_an_earlier_run_removes_its_files_only(run, fitted):
    import shutil

    # An anomaly detector's run holds its autoencoder's run in autoencoder/.
    shutil.copytree(fitted, fitted.parent / "inner")
    shutil.move(fitted.parent / "inner", fitted / "autoencoder")
    (fitted / "report.html").write_text("the earlier model's report")
    (fitted / "notes.txt").write_text("the user's")
    r = run("fit", "digits", "--out", fitted, "--epochs", 1, "--no-report", "-q")
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in fitted.iterdir())
    assert names == [
        "config.json",
        "fit.json",
        "history.csv",
        "model.safetensors",
        "notes.txt",
        "summary.json",
    ]
    assert (fitted / "notes.txt").read_text() == "the user's"
    assert json.loads((fitted / "config.json").read_text())["params"]["epochs"] == 1


def test_fit_sequence_over_an_earlier_run_removes_its_files_only(run, fitted, tmp_path):
    series = tmp_path / "series.csv"
    t = np.arange(40) / 5
    series.write_text(
        "a,b\n" + "".join(f"{np.sin(v):.5f},{np.cos(v):.5f}\n" for v in t)
    )
    (fitted / "report.html").write_text("the earlier model's report")
    (fitted / "notes.txt").write_text("the user's")
    r = run(
        "fit-sequence", series, "--out", fitted, "--window", 6, "--horizon", 1,
        "--hidden-size", 4, "--code-size", 2, "--epochs", 1, "-q",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in fitted.iterdir())
    # The dense run's fit.json and report are gone: `fit --resume` and
    # `aekit report` no longer mistake the folder for that run.
    assert names == [
        "config.json",
        "history.csv",
        "model.safetensors",
        "notes.txt",
        "summary.json",
    ]
    config = json.loads((fitted / "config.json").read_text())
    assert config["estimator"] == "SequenceAutoencoder"


def test_float_tiffs_are_denoised_into_float_tiffs(run, tmp_path):
    """Micrographs often come as float32 TIFFs: a model fitted on them
    writes float32 TIFFs back (grayscale through Pillow's reader, colour
    through tifffile), and refuses .png, which holds no floats, in one line,
    and so images of the other pixel type."""
    from PIL import Image
    from skimage import data as skdata

    from aekit.data.readers import read_image
    from aekit.images import encode_image

    cam = skdata.camera().astype(np.float32) / 255
    folder = tmp_path / "float"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.ascontiguousarray(cam[i * 90 : i * 90 + 80, :96])).save(
            folder / f"{i}.tif"
        )
    fit = ["--architecture", "conv", "--patch-size", 32, "--patches", 64]
    r = run("fit", folder, "--out", tmp_path / "run", *fit, "--epochs", 1, "-q")
    assert r.exit_code == 0, r.output
    r = run("denoise", tmp_path / "run", folder, "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    for i in range(3):
        got = read_image(tmp_path / "out" / f"{i}.tif")
        assert got.dtype == np.float32 and got.shape == (1, 80, 96)
        assert 0 <= got.min() and got.max() <= 1  # [0, 1] input stays in [0, 1]
    r = run("denoise", tmp_path / "run", folder / "0.tif", "--out", tmp_path / "o.png")
    assert r.exit_code == 2 and not (tmp_path / "o.png").exists()
    assert r.stderr.strip() == (
        "aekit: error: .png cannot hold float pixels; write .tif to keep them, or "
        "convert the image to 8 or 16 bits first."
    )
    # Colour: Pillow cannot open float RGB TIFFs, not even to tell their size.
    colour = tmp_path / "colour"
    colour.mkdir()
    for i in range(3):
        rgb = np.stack([np.roll(cam[:60, :70], i + c, axis=1) for c in range(3)])
        (colour / f"{i}.tif").write_bytes(encode_image(rgb, ".tif"))
        np.testing.assert_array_equal(read_image(colour / f"{i}.tif"), rgb)
    r = run("fit", colour, "--out", tmp_path / "rgb", *fit, "--epochs", 1, "-q")
    assert r.exit_code == 0, r.output
    r = run("denoise", tmp_path / "rgb", colour, "--out", tmp_path / "rgb_out")
    assert r.exit_code == 0 and "in tiles" in r.output, r.output
    got = read_image(tmp_path / "rgb_out" / "2.tif")
    assert got.dtype == np.float32 and got.shape == (3, 60, 70)
    # An 8-bit PNG given to the float model, and a float TIFF to an 8-bit
    # model: their units cannot be matched (the result was noise, exit 0).
    png = tmp_path / "cam.png"
    Image.fromarray((cam[:80, :96] * 255).round().astype(np.uint8)).save(png)
    r = run("denoise", tmp_path / "run", png, "--out", tmp_path / "o8.png")
    assert r.exit_code == 2 and not (tmp_path / "o8.png").exists()
    assert r.stderr.strip() == (
        f"aekit: error: {png} has 8-bit pixels, but the model learned from float "
        "ones, and no scale relates the two; convert the image to the training "
        "images' type first."
    )
    r = run("fit", png, "--out", tmp_path / "run8", *fit, "--epochs", 1, "-q")
    assert r.exit_code == 0, r.output
    r = run("denoise", tmp_path / "run8", folder, "--out", tmp_path / "o8")
    assert (
        r.exit_code == 2
        and "0.tif has float pixels, but the model learned from 8-bit" in r.stderr
    )


def test_images_of_the_model_size_keep_its_units(run, tmp_path):
    """Images of exactly the training size are denoised whole (no tiles), and
    like tiles they are matched to the model: a 16-bit copy of 8-bit images
    gives the 8-bit result at 16 bits (it was divided by 255 as if 8-bit,
    values up to 257), and float pixels given to an 8-bit model are refused."""
    from PIL import Image
    from skimage import data as skdata

    from aekit.data.readers import read_image

    cam = skdata.camera()
    Image.fromarray(cam[:128, :128]).save(tmp_path / "cam.png")
    fit = ["--architecture", "conv", "--patch-size", 32, "--patches", 64]
    r = run("fit", tmp_path / "cam.png", "--out", tmp_path / "run", *fit, "-q")
    assert r.exit_code == 0, r.output
    for bits, dtype in ((8, np.uint8), (16, np.uint16)):
        folder = tmp_path / f"in{bits}"
        folder.mkdir()
        for i in range(2):
            tile = cam[200 + 32 * i : 232 + 32 * i, 300:332].astype(dtype)
            Image.fromarray(tile * (257 if bits == 16 else 1)).save(folder / f"{i}.png")
        r = run("denoise", tmp_path / "run", folder, "--out", tmp_path / f"out{bits}")
        assert r.exit_code == 0 and "in tiles" not in r.output, r.output
    for i in range(2):
        out8 = read_image(tmp_path / "out8" / f"{i}.png").astype(float)
        out16 = read_image(tmp_path / "out16" / f"{i}.png")
        assert out16.dtype == np.uint16
        assert np.abs(out16 / 257 - out8).max() <= 1.0
    floats = tmp_path / "floats"
    floats.mkdir()
    Image.fromarray((cam[:32, :32] / 255).astype(np.float32)).save(floats / "0.tif")
    r = run("denoise", tmp_path / "run", floats, "--out", tmp_path / "outf")
    assert r.exit_code == 2 and not (tmp_path / "outf").exists()
    assert "floats has float pixels, but the model learned from 8-bit" in r.stderr


def test_image_commands_refuse_other_depths_and_pixel_types(run, inputs):
    """encode, reconstruct, evaluate and anomalies give the pixels to the
    model as they are: a 16-bit or float copy of the 8-bit images it learned
    from is refused in one line (it was read in the wrong units, exit 0)."""
    from PIL import Image

    small = ["--code-size", 2, "--hidden", 8, "--epochs", 1, "--no-report", "-q"]
    imgs = inputs / "imgs"
    for task in ("autoencoder", "anomaly"):
        r = run("fit", imgs, "--out", inputs / task, "--task", task, *small)
        assert r.exit_code == 0, r.output
    deep, floats = inputs / "imgs16", inputs / "floats"
    deep.mkdir()
    floats.mkdir()
    for f in sorted(imgs.glob("*.png")):
        pixels = np.asarray(Image.open(f))
        Image.fromarray(pixels.astype(np.uint16) * 257).save(deep / f.name)
        Image.fromarray((pixels / 255).astype(np.float32)).save(
            floats / f"{f.stem}.tif"
        )
    commands = [
        ("encode", inputs / "autoencoder", "--out", inputs / "z.npy"),
        ("reconstruct", inputs / "autoencoder", "--out", inputs / "r.npy"),
        ("evaluate", inputs / "autoencoder"),
        ("anomalies", inputs / "anomaly", "--out", inputs / "s.csv"),
    ]
    for command, run_dir, *rest in commands:
        assert run(command, run_dir, imgs, *rest).exit_code == 0, command
        r = run(command, run_dir, deep, *rest)
        assert r.exit_code == 2 and r.stderr.startswith(
            f"aekit: error: {deep} has 16-bit pixels, but the model learned from "
            "8-bit ones; convert the images first"
        ), (command, r.output)
        r = run(command, run_dir, floats, *rest)
        assert r.exit_code == 2 and r.stderr.startswith(
            f"aekit: error: {floats} has float pixels, but the model learned from "
            "8-bit ones"
        ), (command, r.output)


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_read_only_output_is_refused(run, fitted, tmp_path, suffix):
    import stat

    out = tmp_path / f"codes{suffix}"
    out.write_bytes(b"keep me")
    out.chmod(0o444)  # read-only even to root, who os.access lets write
    r = run("encode", fitted, "digits", "--out", out)
    assert r.exit_code == 2, r.output
    assert "is read-only (mode 444)" in r.stderr and "chmod u+w" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert out.read_bytes() == b"keep me" and stat.S_IMODE(out.stat().st_mode) == 0o444
    assert _temps(tmp_path) == []
    out.chmod(0o644)
    r = run("encode", fitted, "digits", "--out", out)
    assert r.exit_code == 0 and out.read_bytes() != b"keep me", r.output


def test_read_only_file_in_a_run_folder_stops_the_save(run, fitted):
    before = _files(fitted)
    (fitted / "summary.json").chmod(0o444)
    r = run("fit", "digits", "--out", fitted, "--epochs", 1, "--no-report", "-q")
    assert r.exit_code == 2 and "summary.json: it is read-only" in r.stderr, r.output
    # No file of the run was replaced (the weights come first in the save).
    for name in ("model.safetensors", "history.csv", "config.json"):
        assert (fitted / name).read_bytes() == before[Path(name)][0], name
