"""Image workflows on real photographs and digits: patches, tiles, inpainting,
bit depths, metrics and the compression report."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data

import aekit
from aekit.exceptions import DataError
from aekit.images import (
    PatchSource,
    _starts,
    bit_depth_factor,
    compression_report,
    encode_image,
    inpaint,
    psnr,
    read_mask,
    restore,
    restore_image,
    ssim,
    write_image,
)


def _noisy(clean: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.clip(clean / 255.0 + rng.normal(0, sigma, clean.shape), 0, 1)
    return np.rint(x * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def photo_denoiser():
    """A small conv denoiser trained on noisy patches of camera and coins only."""
    torch.manual_seed(0)
    src = PatchSource([data.camera(), data.coins()], 32, 1024, seed=0)
    ae = aekit.Autoencoder(
        code_size=16,
        architecture="conv",
        channels=(16, 32),
        spatial_code=True,
        noise="gaussian:0.1",
        loss="mse",
        epochs=3,
        batch_size=32,
        patience=None,
        random_state=0,
        device="cpu",
    )
    return ae.fit(src)


# -- patches ----------------------------------------------------------------
def test_patches_are_crops_of_the_images():
    img = np.arange(40 * 50, dtype=np.float32).reshape(40, 50)  # unique values
    small = np.full((1, 5, 6), 7, np.uint16).astype(np.float32)  # padded up
    src = PatchSource([img, small], (8, 9), 64, seed=1, augment=False)
    assert len(src) == 64
    p = src.take(torch.arange(64)).numpy()
    assert p.shape == (64, 1, 8, 9)
    from_img = p[p[:, 0, 0, 0] != 7]
    assert len(from_img), "no patch came from the large image"
    for patch in from_img:
        y, x = divmod(int(patch[0, 0, 0]), 50)
        np.testing.assert_array_equal(patch[0], img[y : y + 8, x : x + 9])
    # Fresh places on every draw.
    assert not np.array_equal(p, src.take(torch.arange(64)).numpy())


def test_patch_source_checks_its_images():
    with pytest.raises(DataError, match="channel counts"):
        PatchSource([np.zeros((1, 9, 9)), np.zeros((3, 9, 9))], 4)
    with pytest.raises(DataError, match="dtypes"):
        PatchSource([np.zeros((9, 9), np.uint8), np.zeros((9, 9), np.uint16)], 4)


# -- restoration ------------------------------------------------------------
def test_model_trained_on_noisy_patches_denoises_an_unseen_photograph(photo_denoiser):
    clean = data.moon()[100:260, 50:250]  # never seen in training
    noisy = _noisy(clean, 0.1)
    out = restore_image(photo_denoiser, noisy)
    assert out.dtype == np.uint8 and out.shape == clean.shape
    before, after = psnr(clean, noisy), psnr(clean, out)
    assert after > before + 3, f"PSNR {before:.2f} -> {after:.2f} dB"
    assert ssim(clean, out) > ssim(clean, noisy) + 0.2


def _seam_ratio(model, clean, noisy, overlap, tile=32, width=2):
    """Mean error within ``width`` px of tile edges / mean error elsewhere."""
    err = np.abs(restore(model, noisy, overlap=overlap) - clean)
    H, W = clean.shape
    band = np.zeros((H, W), bool)
    for s in _starts(H, tile, tile - overlap)[1:]:  # edges inside the image
        band[s - width : s + width] = True
        band[s + overlap - width : s + overlap + width] = True
    for s in _starts(W, tile, tile - overlap)[1:]:
        band[:, s - width : s + width] = True
        band[:, s + overlap - width : s + overlap + width] = True
    inner = ~band
    for m in (band, inner):  # the image's own border is no seam
        m[:3], m[-3:], m[:, :3], m[:, -3:] = False, False, False, False
    return err[band].mean() / err[inner].mean()


def test_tiled_output_has_no_seams(photo_denoiser):
    clean = data.moon()[100:260, 50:250].astype(np.float32)
    noisy = _noisy(clean, 0.1)
    blended = _seam_ratio(photo_denoiser, clean, noisy, overlap=16)  # the default
    # Without overlap the tile edges show: the check can fail.
    hard = _seam_ratio(photo_denoiser, clean, noisy, overlap=0)
    assert hard > 1.5, f"hard tiling edge/interior error ratio {hard:.2f}"
    assert blended < 1.1, f"blended tiling edge/interior error ratio {blended:.2f}"
    default = restore(photo_denoiser, noisy)
    np.testing.assert_allclose(default, restore(photo_denoiser, noisy, overlap=16))


def test_self_ensemble_averages_the_eight_symmetries(photo_denoiser):
    # Not square and not a multiple of the tile, so quarter turns change the
    # shape and the tiling: a view turned back the wrong way cannot line up.
    clean = data.moon()[100:250, 40:240].astype(np.float32)  # 150 x 200
    noisy = _noisy(clean, 0.1).astype(np.float32)
    views = []
    for k in range(4):
        for flip in (False, True):
            v = np.rot90(noisy, k)
            v = v[:, ::-1] if flip else v
            out = restore(photo_denoiser, np.ascontiguousarray(v))
            out = out[:, ::-1] if flip else out
            views.append(np.rot90(out, -k))
    ens = restore(photo_denoiser, noisy, self_ensemble=True)
    assert ens.shape == clean.shape and ens.dtype == np.float32
    np.testing.assert_allclose(ens, np.mean(views, axis=0), atol=1e-3)
    plain = restore(photo_denoiser, noisy)
    np.testing.assert_array_equal(plain, views[0])
    # The 8 views differ (the model is not exactly symmetric), and their mean
    # is closer to the clean image than the plain output.
    assert np.abs(views[1] - plain).mean() > 0.1
    assert psnr(clean, ens, 255) > psnr(clean, plain, 255) + 0.1


def test_self_ensemble_inpainting_keeps_known_pixels(photo_denoiser):
    clean = data.moon()[100:180, 50:170]
    mask = np.random.default_rng(0).random(clean.shape) < 0.25
    out = inpaint(photo_denoiser, clean, mask, self_ensemble=True)
    np.testing.assert_array_equal(out[~mask], clean[~mask])
    assert out.dtype == np.uint8 and not np.array_equal(out[mask], clean[mask])
    # The 8 views were used: the filled pixels differ from one view's.
    one = inpaint(photo_denoiser, clean, mask)
    assert not np.array_equal(out[mask], one[mask])


@pytest.mark.parametrize("shape", [(1, 37, 53), (3, 45, 19), (29, 31), (3, 101, 77)])
def test_restored_shape_equals_input_shape(shape):
    c = shape[0] if len(shape) == 3 else 1
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (8, c, 20, 20), dtype=np.uint8)
    if len(shape) == 2:
        X = X[:, 0]
    ae = aekit.Autoencoder(
        code_size=2,
        architecture="conv",
        channels=(4,),
        spatial_code=True,
        epochs=1,
        random_state=0,
        device="cpu",
    ).fit(X)
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    out = restore_image(ae, img)
    assert out.shape == img.shape and out.dtype == np.uint8
    mask = np.zeros(shape[-2:], bool)
    mask[5:9, 3:12] = True
    out = inpaint(ae, img, mask)
    assert out.shape == img.shape


def test_channel_mismatch_is_one_clear_error(photo_denoiser):
    with pytest.raises(DataError, match="1-channel images"):
        restore(photo_denoiser, data.astronaut().transpose(2, 0, 1))


@pytest.fixture(scope="module")
def mnist_inpainter(mnist_train):
    torch.manual_seed(0)
    ae = aekit.Autoencoder(
        code_size=16,
        architecture="conv",
        channels=(16, 32),
        spatial_code=True,
        noise="masking:0.25",
        epochs=3,
        batch_size=64,
        patience=None,
        random_state=0,
        device="cpu",
    )
    return ae.fit(mnist_train.X[:3000])


def test_inpainting_keeps_known_pixels_and_fills_holes(mnist_inpainter, mnist_test):
    X = mnist_test.X[:100]  # (100, 1, 28, 28) uint8
    rng = np.random.default_rng(0)
    masks = rng.random((100, 28, 28)) < 0.25
    filled = np.stack(
        [inpaint(mnist_inpainter, x, m) for x, m in zip(X, masks, strict=True)]
    )
    assert filled.dtype == np.uint8
    known = ~np.broadcast_to(masks[:, None], X.shape)
    np.testing.assert_array_equal(filled[known], X[known])
    holes = ~known
    zero_fill = np.where(holes, 0, X)
    gain = psnr(X, filled) - psnr(X, zero_fill)
    # Measured with this small model: +3.9 dB, and +5.8 dB over blind repair.
    assert gain > 2.5, f"inpainting gains only {gain:.2f} dB over zero-filled holes"
    blind = np.clip(mnist_inpainter.reconstruct(zero_fill), 0, 255)
    assert psnr(X, filled) > psnr(X, blind) + 3, "the mask does not help"
    # Feeding the result back also keeps the known pixels.
    again = inpaint(mnist_inpainter, X[0], masks[0], iterations=3)
    np.testing.assert_array_equal(again[known[0]], X[0][known[0]])


# -- files, bit depths, metrics ---------------------------------------------
def test_16_bit_images_round_trip_and_keep_their_depth(photo_denoiser, tmp_path):
    from aekit.data.readers import read_image

    clean = data.moon()[:64, :80]
    img16 = clean.astype(np.uint16) * 257
    write_image(tmp_path / "m16.png", img16)
    back = read_image(tmp_path / "m16.png")
    assert back.dtype == np.uint16 and np.array_equal(back[0], img16)
    assert bit_depth_factor(photo_denoiser, np.uint16) == pytest.approx(1 / 257)
    noisy8 = _noisy(clean, 0.1)
    out8 = restore_image(photo_denoiser, noisy8)
    out16 = restore_image(photo_denoiser, noisy8.astype(np.uint16) * 257)
    assert out16.dtype == np.uint16
    # The 16-bit result is the 8-bit one at 16-bit depth (up to rounding).
    assert np.abs(out16 / 257.0 - out8).max() <= 1.0
    with pytest.raises(DataError, match="16-bit"):
        encode_image(img16, ".jpg")


def test_mask_files(tmp_path):
    m = np.zeros((10, 12), np.uint8)
    m[2:4, 5:9] = 255
    write_image(tmp_path / "mask.png", m)
    got = read_mask(tmp_path / "mask.png", (3, 10, 12))
    assert got.shape == (3, 10, 12) and got.sum() == 3 * 8
    with pytest.raises(DataError, match="mask of 11x12 pixels"):
        read_mask(tmp_path / "mask.png", (1, 11, 12))


def test_psnr_and_ssim_are_scikit_images():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    clean = data.camera()[:100, :100]
    noisy = _noisy(clean, 0.2)
    assert psnr(clean, noisy) == pytest.approx(peak_signal_noise_ratio(clean, noisy))
    ref = structural_similarity(
        clean,
        noisy,
        data_range=255,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    assert ssim(clean, noisy) == pytest.approx(ref)
    assert ssim(clean, clean) == pytest.approx(1.0)


def test_differentiable_ssim_is_scikit_images_default():
    """aekit.losses.ssim, the training loss, against skimage's defaults (7x7
    uniform window, sample covariance) on photographs, and its gradient."""
    from skimage.metrics import structural_similarity

    from aekit.losses import ssim as ssim_loss

    pairs = [
        (data.camera()[:96, :80], _noisy(data.camera()[:96, :80], 0.1)),
        (data.coins()[:64, :64], _noisy(data.coins()[:64, :64], 0.3, seed=1)),
        (data.moon()[:64, :64], np.zeros((64, 64), np.uint8)),
    ]
    for clean, other in pairs:
        a, b = clean / 255.0, other / 255.0
        ref = structural_similarity(a, b, data_range=1.0)
        got = ssim_loss(torch.tensor(a)[None], torch.tensor(b)[None]).item()
        assert got == pytest.approx(ref, abs=1e-4), (ref, got)
    a = torch.tensor(pairs[0][0] / 255.0, dtype=torch.float32)[None]
    b = torch.tensor(pairs[0][1] / 255.0, dtype=torch.float32)[None]
    b.requires_grad_(True)
    ssim_loss(a, b).sum().backward()
    # Moving the noisy image toward the clean one raises SSIM.
    step = ssim_loss(a, (b - 0.01 * (b - a)).detach()).item()
    assert step > ssim_loss(a, b).item()
    assert torch.isfinite(b.grad).all() and (b.grad * (a - b)).sum() > 0
    with pytest.raises(aekit.exceptions.ConfigError, match="7x7"):
        ssim_loss(a[:, :5, :5], a[:, :5, :5])


def test_compression_report(mnist_inpainter, mnist_test):
    X = mnist_test.X[:50]
    rep = compression_report(mnist_inpainter, X)
    n = rep["code_values"]
    assert n == int(np.prod(mnist_inpainter.module_.code_shape))
    assert rep["float32"]["bytes"] == 4 * n and rep["float16"]["bytes"] == 2 * n
    assert rep["uint8"]["bytes"] == n + 8
    assert 50 < rep["png_bytes"] < 784
    # float16 loses almost nothing; 8 bits loses some but stays useful.
    assert abs(rep["float16"]["psnr"] - rep["float32"]["psnr"]) < 0.1
    assert rep["float32"]["psnr"] - 6 < rep["uint8"]["psnr"] <= rep["float32"]["psnr"]
