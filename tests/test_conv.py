"""The convolutional architecture: shapes, options, estimator and CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import aekit
from aekit.cli import cli
from aekit.exceptions import ConfigError
from aekit.model import AutoencoderModule, default_spec


def _spec(code_size=4, latent="deterministic", likelihood="gaussian", **arch):
    return {
        **default_spec(),
        "architecture": {"kind": "conv", "channels": (4, 8), **arch},
        "latent": {"kind": latent, "code_size": code_size},
        "likelihood": {"kind": likelihood},
    }


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 27, 31), (1, 5, 64), (13, 17)])
@pytest.mark.parametrize("spatial", [False, True])
@pytest.mark.parametrize("upsample", ["nearest", "bilinear", "transposed"])
def test_output_has_the_input_shape(shape, spatial, upsample):
    m = AutoencoderModule(
        _spec(spatial_code=spatial, upsample=upsample, norm="group"), shape
    )
    x = torch.rand(3, *shape)
    assert m(x).shape == x.shape
    h, w = -(-shape[-2] // 4), -(-shape[-1] // 4)  # two halvings, padded up
    assert m.code_shape == ((4, h, w) if spatial else (4,))
    assert torch.isfinite(m.loss(x)["loss"])


def test_channels_last_gives_the_same_outputs():
    torch.manual_seed(0)
    a = AutoencoderModule(
        _spec(spatial_code=True, blocks=1, channels_last=False), (3, 19, 23)
    )
    b = AutoencoderModule(
        _spec(spatial_code=True, blocks=1, channels_last=True), (3, 19, 23)
    )
    b.load_state_dict(a.state_dict(), strict=True)

    # The option took effect: b's convolutions hold channels_last weights (of
    # 1x1 kernels the two layouts coincide).
    def weights(m):
        return [
            c.weight
            for c in m.modules()
            if isinstance(c, torch.nn.Conv2d) and c.weight.shape[-1] > 1
        ]

    assert len(weights(b)) == 10
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in weights(b))
    assert not any(w.is_contiguous() for w in weights(b))
    assert all(w.is_contiguous() for w in weights(a))
    x = torch.rand(4, 3, 19, 23)
    a.eval(), b.eval()
    d = (a(x) - b(x)).abs().max()
    assert d < 1e-5, f"max diff {d}"


def test_residual_blocks_skip_around_each_extra_conv():
    """With residual=True each extra conv is x + act(conv(x)): zero its weights
    and the model computes what it computes with those blocks taken out.
    Without the skip, zeroed extra convs cut the signal (act(0) = 0)."""
    import copy

    from aekit.architectures.conv import _Residual

    torch.manual_seed(0)
    kw = dict(spatial_code=True, activation="gelu", upsample="transposed")
    x, other = torch.rand(3, 1, 16, 20), torch.rand(3, 1, 16, 20)
    for residual in (True, False):
        m = AutoencoderModule(_spec(blocks=2, residual=residual, **kw), (1, 16, 20))
        m.eval()
        convs = [c for c in m.modules() if isinstance(c, torch.nn.Conv2d)]
        extra = [c for c in convs if c.stride == (1, 1) and c.kernel_size == (3, 3)]
        extra = [c for c in extra if c.in_channels == c.out_channels]
        assert len(extra) == 8  # 2 per level x 2 levels x 2 halves
        with torch.no_grad():
            for c in extra[:2]:  # the first level's extra convs, in the encoder
                c.weight.zero_(), c.bias.zero_()
        if not residual:  # the code no longer depends on the input
            torch.testing.assert_close(m.encode(x), m.encode(other))
            continue
        blocks = [b for b in m.modules() if isinstance(b, _Residual)]
        assert len(blocks) == 8
        stripped = copy.deepcopy(m)
        for seq in stripped.modules():
            if isinstance(seq, torch.nn.Sequential):
                for i, layer in enumerate(seq):
                    if isinstance(layer, _Residual) and not any(
                        p.abs().sum() for p in layer.parameters()
                    ):
                        seq[i] = torch.nn.Identity()
        n_left = sum(isinstance(b, _Residual) for b in stripped.modules())
        assert n_left == 6  # the two zeroed blocks are out
        torch.testing.assert_close(m(x), stripped(x), rtol=0, atol=1e-6)
        assert not torch.allclose(m.encode(x), m.encode(other))
    with pytest.raises(ConfigError, match="residual must be True or False"):
        AutoencoderModule(_spec(blocks=1, residual="yes"), (1, 16, 20))


def test_padding_is_cropped_back_not_leaked():
    """The crop takes back exactly the padding, and the pixel next to it
    depends on the input."""
    torch.manual_seed(0)
    m = AutoencoderModule(_spec(code_size=8, spatial_code=True), (1, 9, 11))
    x = torch.rand(1, 1, 9, 11, requires_grad=True)
    m(x)[0, 0, -1, -1].backward()  # the bottom-right corner, next to the padding
    assert x.grad[0, 0, -1, -1] != 0
    # The crop takes back the very rows and columns the encoder padded: 9x11
    # is padded to 12x12 (two halvings), 1 row on top, 2 below, 1 column right.
    enc, dec = m.architecture.encoder, m.architecture.decoder
    left, right, top, bottom = enc.pad
    assert (left, right, top, bottom) == (0, 1, 1, 2)
    h = torch.randn(1, *m.architecture.feature_shape)
    with torch.no_grad():
        full = dec.head(dec.body(dec.stem(h)))  # (1, 1, 12, 12), before the crop
        torch.testing.assert_close(dec(h), full[:, :, top : top + 9, left : left + 11])


@pytest.mark.parametrize(
    "arch,match",
    [
        ({"channels": ()}, "channels must be"),
        ({"kernel_size": 4}, "odd"),
        ({"norm": "layer"}, "norm must be"),
        ({"upsample": "pixelshuffle"}, "upsample must be"),
        ({"activation": "rleu"}, "Did you mean 'relu'"),
    ],
)
def test_bad_options_are_clear_errors(arch, match):
    with pytest.raises(ConfigError, match=match):
        AutoencoderModule(_spec(**arch), (1, 8, 8))


def test_conv_on_a_table_says_what_to_do():
    with pytest.raises(ConfigError, match="architecture='dense'"):
        AutoencoderModule(_spec(), (12,))


def test_estimator_conv_composes_with_noise_and_variational(digits, tmp_path):
    X = digits.X  # (1797, 1, 8, 8), values 0-16
    kw = dict(epochs=4, batch_size=64, random_state=0, device="cpu")
    flat = aekit.Autoencoder(
        code_size=8, architecture="conv", channels=(16, 32), lr=3e-3,
        **(kw | {"epochs": 10, "batch_size": 32}),
    ).fit(digits)  # fmt: skip
    assert flat.transform(X).shape == (1797, 8)
    assert flat.module_.architecture.kind == "conv"
    # Learns: the reconstruction error falls well below the data's variance.
    Xs = flat.scaler_.transform(X)
    mse, var = -flat.score(X), Xs.var()
    assert mse < 0.3 * var, f"conv autoencoder did not learn: mse {mse}, var {var}"

    vae = aekit.Autoencoder(
        code_size=4,
        architecture="conv:blocks=1,upsample=transposed,residual=true",
        channels=(16,),
        spatial_code=True,
        latent="variational",
        noise="gaussian:0.1",
        norm="batch",
        **kw,
    ).fit(X)
    spec = vae.module_.spec()
    assert spec["architecture"]["blocks"] == 1
    assert spec["architecture"]["residual"] is True  # and the run saves it
    assert spec["architecture"]["norm"] == "batch"
    assert spec["latent"]["kind"] == "variational"
    assert vae.transform(X[:5]).shape == (5, 4, 4, 4)
    first, last = vae.history_[0]["val_recon"], vae.history_[-1]["val_recon"]
    assert last < first, f"val recon {first:.4f} -> {last:.4f}"

    vae.save(tmp_path / "run")
    back = aekit.load(tmp_path / "run")
    np.testing.assert_allclose(back.reconstruct(X[:20]), vae.reconstruct(X[:20]))


def test_cli_fit_conv_on_patches_then_denoise_inpaint_deblur(tmp_path):
    from skimage import data

    from aekit.data.readers import read_image
    from aekit.images import write_image

    photos, test = tmp_path / "photos", tmp_path / "test"
    write_image(photos / "camera.png", data.camera()[:200, :220])
    write_image(photos / "sub" / "coins.png", data.coins()[:150, :170])
    moon = data.moon()[:70, :90]
    write_image(test / "moon.png", moon)
    write_image(test / "moon16.png", moon.astype(np.uint16) * 257)
    mask = np.zeros(moon.shape, np.uint8)
    mask[30:40, 20:50] = 255
    write_image(tmp_path / "mask.png", mask)

    runner = CliRunner()

    def run(*args):
        r = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        return r

    run_dir = tmp_path / "run"
    run(
        "fit", photos, "--out", run_dir, "--architecture", "conv",
        "--channels", "8,16", "--kernel-size", "3", "--norm", "none",
        "--spatial-code", "true", "--code-size", "8", "--noise", "blur:1.0",
        "--patch-size", "24", "--patches", "256", "--epochs", "1", "--loss", "mse",
        "--quiet",
    )  # fmt: skip
    cfg = json.loads((run_dir / "config.json").read_text())
    arch = cfg["model"]["architecture"]
    assert arch["kind"] == "conv" and arch["channels"] == [8, 16]
    assert arch["spatial_code"] is True
    assert cfg["model"]["input_shape"] == [1, 24, 24]
    assert cfg["model"]["corruption"]["kind"] == "blur"

    run("denoise", run_dir, test, "--out", tmp_path / "den")
    assert read_image(tmp_path / "den" / "moon.png").dtype == np.uint8
    out16 = read_image(tmp_path / "den" / "moon16.png")
    assert out16.dtype == np.uint16 and out16.shape == (1, 70, 90)

    run("deblur", run_dir, test / "moon.png", "--out", tmp_path / "sharp.jpg")
    assert read_image(tmp_path / "sharp.jpg").shape == (1, 70, 90)

    run(
        "inpaint", run_dir, test / "moon.png", "--mask", tmp_path / "mask.png",
        "--out", tmp_path / "filled.png",
    )  # fmt: skip
    filled = read_image(tmp_path / "filled.png")[0]
    keep = mask == 0
    np.testing.assert_array_equal(filled[keep], moon[keep])

    r = runner.invoke(
        cli, ["inpaint", str(run_dir), str(test), "--mask", str(tmp_path / "nope.png"),
              "--out", str(tmp_path / "x")],
    )  # fmt: skip
    assert r.exit_code == 2 and "does not exist" in r.output

    # --self-ensemble reaches restore: the file is the API's 8-view result.
    import aekit
    from aekit.images import restore_image

    model = aekit.load(run_dir)
    for cmd in ("denoise", "deblur"):
        run(cmd, run_dir, test / "moon.png", "--out", tmp_path / f"{cmd}8.png",
            "--self-ensemble")  # fmt: skip
        got = read_image(tmp_path / f"{cmd}8.png")[0]
        np.testing.assert_array_equal(
            got, restore_image(model, moon, self_ensemble=True)
        )
        assert not np.array_equal(got, restore_image(model, moon))
    run(
        "inpaint", run_dir, test / "moon.png", "--mask", tmp_path / "mask.png",
        "--out", tmp_path / "filled8.png", "--self-ensemble",
    )  # fmt: skip
    filled8 = read_image(tmp_path / "filled8.png")[0]
    np.testing.assert_array_equal(filled8[keep], moon[keep])
    assert not np.array_equal(filled8, filled)
    np.save(tmp_path / "arr.npy", np.zeros((2, 1, 24, 24), np.float32))
    r = runner.invoke(
        cli, ["denoise", str(run_dir), str(tmp_path / "arr.npy"), "--out",
              str(tmp_path / "arr_out.npy"), "--self-ensemble"],
    )  # fmt: skip
    assert r.exit_code == 2 and "--self-ensemble" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "arr_out.npy").exists()


def test_cli_evaluate_reports_ssim_and_compression(tmp_path, digits):
    runner = CliRunner()
    out = tmp_path / "run"
    r = runner.invoke(
        cli,
        ["fit", "digits", "--out", str(out), "--architecture", "conv",
         "--channels", "8", "--code-size", "8", "--epochs", "2", "--quiet"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["evaluate", str(out), "digits"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.output)
    assert 0 < m["ssim"] < 1
    comp = m["image_compression"]
    assert comp["float32"]["bytes"] == 32 and comp["uint8"]["bytes"] == 16
    assert comp["png_bytes"] > 0 and comp["float32"]["psnr"] > 5


def test_resume_with_channels_last_matches_an_uninterrupted_fit(tmp_path):
    """Restored Adam moments take the channels_last layout of their weights."""
    from aekit.training.trainer import Trainer, TrainerConfig

    spec = _spec(spatial_code=True, channels_last=True)
    x = torch.rand(128, 1, 12, 12)
    cfg = TrainerConfig(epochs=3, batch_size=32, device="cpu", patience=None)

    class Stop(Exception):
        pass

    def stop_after_2(row):
        if row["epoch"] == 2:
            raise Stop

    models, ran = [], []
    for resume in (False, True):
        torch.manual_seed(0)
        m = AutoencoderModule(spec, (1, 12, 12))
        if resume:
            ckpt = tmp_path / "ck.safetensors"
            with pytest.raises(Stop):
                Trainer(cfg, checkpoint=ckpt, on_epoch_end=stop_after_2).fit(m, x)
            torch.manual_seed(99)  # other weights: only the checkpoint can match
            m = AutoencoderModule(spec, (1, 12, 12))
            history = Trainer(
                cfg, checkpoint=ckpt, on_epoch_end=lambda r: ran.append(r["epoch"])
            ).fit(m, x, resume=True)
            assert ran == [3] and [r["epoch"] for r in history] == [1, 2, 3]
        else:
            Trainer(cfg).fit(m, x)
        models.append(m.eval())
    d = (models[0](x) - models[1](x)).abs().max()
    assert d == 0, f"max diff {d}"
