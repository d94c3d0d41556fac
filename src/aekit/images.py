"""Image workflows: train on patches, restore images of any size, measure.

A convolutional autoencoder trained on small patches (``PatchSource``) applies
to photographs of any size: :func:`restore` cuts the image into overlapping
tiles of the training size, runs the model on each and blends the tiles with
weights that fall smoothly to the tile borders, where a convolution sees the
least context, so the seams vanish (the overlap-tile strategy of Ronneberger
et al. 2015, https://arxiv.org/abs/1505.04597, with soft blending).
:func:`inpaint` fills missing pixels and keeps the known ones exactly.

Images are ``(C, H, W)`` arrays (channels first, as aekit's readers return
them) or ``(H, W)``, in the units the model was trained on (e.g. uint8 pixels);
results come back in the input's dtype. PSNR and SSIM are scikit-image's.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aekit.data.readers import (
    IMAGE_SUFFIXES,
    NARROWED,
    narrowed_message,
    read_image,
)
from aekit.exceptions import ConfigError, DataError
from aekit.io import atomic_write_bytes

WRITE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}


# -- files ------------------------------------------------------------------
def image_files(path: str | Path) -> list[Path]:
    """The image files of a folder (recursively), or ``[path]`` for one file."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(
                f"{path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})."
            )
        return files
    if not path.exists():
        raise DataError(f"{path} does not exist; pass an image file or a folder.")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise DataError(
            f"{path} is not an image file ({', '.join(sorted(IMAGE_SUFFIXES))})."
        )
    return [path]


def encode_image(image: np.ndarray, suffix: str = ".png", **save_kwargs) -> bytes:
    """The bytes of ``image`` ((C, H, W) or (H, W), uint8, uint16 or float)
    as a file.

    8-bit images keep 8 bits; 16-bit grayscale keeps 16 bits in PNG and TIFF,
    16-bit colour and float32 pixels in TIFF (through tifffile). JPEG holds
    8 bits only, Pillow writes colour PNGs at 8 bits and no PNG holds
    floats: such input is rejected there rather than silently cut.
    """
    from PIL import Image

    arr = np.asarray(image)
    if arr.ndim == 3:
        arr = arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)
    suffix = suffix.lower()
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}.get(
        suffix, suffix.lstrip(".").upper()
    )
    if arr.dtype.kind == "f":
        if fmt != "TIFF":
            raise DataError(
                f"{suffix} cannot hold float pixels; write .tif to keep them, or "
                "convert the image to 8 or 16 bits first."
            )
        return _tiff_bytes(arr.astype(np.float32, copy=False))
    if arr.dtype == np.uint16:
        if arr.ndim == 3:
            if fmt != "TIFF":
                raise DataError(
                    f"The image has 16 bits per colour channel, which Pillow cannot "
                    f"write as {suffix}; write .tif to keep them, or convert to 8 "
                    "bits first."
                )
            return _tiff_bytes(arr)
        if fmt not in ("PNG", "TIFF"):
            raise DataError(
                f"{suffix} holds 8 bits per channel, but the image is 16-bit; write "
                ".png or .tif to keep its depth."
            )
        im = Image.fromarray(arr)  # mode I;16
    elif arr.dtype == np.uint8:
        im = Image.fromarray(arr)
    else:
        raise DataError(f"Images are written as uint8 or uint16. Got {arr.dtype}.")
    buf = io.BytesIO()
    im.save(buf, format=fmt, **save_kwargs)
    return buf.getvalue()


def _tiff_bytes(arr: np.ndarray) -> bytes:
    """An (H, W) or (H, W, 3) image as TIFF bytes, through tifffile: Pillow
    writes colour at 8 bits per channel only, and float pixels in grayscale
    only."""
    import tifffile

    buf = io.BytesIO()
    tifffile.imwrite(buf, arr, photometric="rgb" if arr.ndim == 3 else "minisblack")
    return buf.getvalue()


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write ``image`` atomically; the format follows the suffix."""
    path = Path(path)
    if path.suffix.lower() not in WRITE_SUFFIXES:
        raise DataError(
            f"Cannot write {path}: use one of {', '.join(sorted(WRITE_SUFFIXES))}."
        )
    kwargs = {"quality": 95} if path.suffix.lower() in (".jpg", ".jpeg") else {}
    atomic_write_bytes(path, encode_image(image, path.suffix, **kwargs))
    return path


def as_dtype(x: np.ndarray, dtype) -> np.ndarray:
    """Round and clip float pixels into an integer dtype; floats pass through."""
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return np.clip(np.rint(x), info.min, info.max).astype(dtype)
    return np.asarray(x, dtype=dtype)


def read_mask(path: str | Path, shape: tuple[int, ...]) -> np.ndarray:
    """A boolean mask of missing pixels from an image (nonzero = missing) or .npy.

    The mask is (H, W), applied to every channel, or the image's full shape.
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        m = np.load(path, allow_pickle=False)
    else:
        m = read_image(path)
        m = m.max(axis=0)  # any channel set marks the pixel missing
    m = np.asarray(m) != 0
    return check_mask(m, shape, name=str(path))


def check_mask(mask: np.ndarray, shape: tuple[int, ...], name="mask") -> np.ndarray:
    mask = np.asarray(mask, dtype=bool)
    hw = tuple(shape[-2:])
    if mask.shape == tuple(shape):
        return mask
    if mask.ndim == 3 and mask.shape[0] == 1 and mask.shape[1:] == hw:
        mask = mask[0]
    if mask.shape == hw:
        return np.broadcast_to(mask, shape) if len(shape) == 3 else mask
    raise DataError(
        f"{name} has shape {mask.shape}, but the image is {shape}; give a mask of "
        f"{hw[0]}x{hw[1]} pixels (nonzero = missing)."
    )


# -- metrics ----------------------------------------------------------------
def _range(ref: np.ndarray, data_range: float | None) -> float:
    if data_range is not None:
        return float(data_range)
    if ref.dtype.kind in "ui":
        return float(np.iinfo(ref.dtype).max)
    return 1.0


def psnr(ref, test, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB (scikit-image's).

    ``data_range`` defaults to the integer dtype's maximum, else 1 (floats in
    [0, 1]).
    """
    from skimage.metrics import peak_signal_noise_ratio

    ref = np.asarray(ref)
    return float(
        peak_signal_noise_ratio(
            ref.astype(np.float64),
            np.asarray(test, np.float64),
            data_range=_range(ref, data_range),
        )
    )


def ssim(ref, test, data_range: float | None = None) -> float:
    """Structural similarity (scikit-image's, Gaussian-weighted as in Wang 2004).

    One image ``(C, H, W)`` / ``(H, W)`` or a batch ``(N, C, H, W)``: the mean
    over images (and channels).
    """
    from skimage.metrics import structural_similarity

    ref, test = np.asarray(ref), np.asarray(test)
    rng = _range(ref, data_range)
    if ref.ndim == 4:
        return float(np.mean([ssim(a, b, rng) for a, b in zip(ref, test, strict=True)]))
    if ref.ndim == 3:
        return float(np.mean([ssim(a, b, rng) for a, b in zip(ref, test, strict=True)]))
    # Wang et al.'s 11x11 Gaussian window (sigma 1.5); smaller images (MNIST
    # is 28x28, digits 8x8) fall back to the largest odd uniform window <= 7.
    if min(ref.shape) >= 11:
        kw = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
    else:
        kw = {"win_size": min(7, (min(ref.shape) - 1) // 2 * 2 + 1)}
    if min(ref.shape) < 3:
        raise DataError(f"SSIM needs images of at least 3x3 pixels; got {ref.shape}.")
    return float(
        structural_similarity(
            ref.astype(np.float64), test.astype(np.float64), data_range=rng, **kw
        )
    )


# -- patches ----------------------------------------------------------------
class PatchSource:
    """Random patches of a few large images: a training source for ``fit``.

    Each ``take`` cuts fresh patches at random places (and, with
    ``augment=True``, random flips and quarter turns), so a model sees new
    crops every epoch. Images are picked in proportion to their area.

    Parameters
    ----------
    images : sequence of arrays (C, H, W) or (H, W)
        All with the same number of channels and dtype; sizes may differ.
        Images smaller than the patch are padded by reflection.
    patch_size : int or (int, int)
    n_patches : int
        Patches per epoch (``len``).
    seed : int
    augment : bool
        Random flips and 90-degree rotations (square patches only).

    Example
    -------
    >>> from skimage import data
    >>> src = PatchSource([data.camera()], patch_size=32, n_patches=100)
    >>> src.take(torch.arange(4)).shape
    torch.Size([4, 1, 32, 32])
    """

    kind = "image"

    def __init__(
        self,
        images: Sequence[np.ndarray],
        patch_size: int | tuple[int, int] = 64,
        n_patches: int = 4096,
        *,
        seed: int = 0,
        augment: bool = True,
        name: str = "",
    ):
        ph, pw = (patch_size, patch_size) if np.isscalar(patch_size) else patch_size
        ph, pw = int(ph), int(pw)
        if ph < 1 or pw < 1:
            raise ConfigError(f"patch_size must be positive. Got {patch_size!r}.")
        if int(n_patches) < 2:
            raise ConfigError(f"n_patches must be >= 2. Got {n_patches!r}.")
        if not len(images):
            raise DataError("PatchSource needs at least one image.")
        imgs = [
            np.asarray(im)[None] if np.ndim(im) == 2 else np.asarray(im)
            for im in images
        ]
        chans = {im.shape[0] for im in imgs}
        dtypes = {im.dtype for im in imgs}
        if len(chans) > 1:
            raise DataError(
                f"The images have different channel counts ({sorted(chans)}); "
                "convert them all to grayscale or all to RGB."
            )
        if len(dtypes) > 1:
            raise DataError(
                f"The images have different dtypes ({sorted(map(str, dtypes))}); "
                "use images of one bit depth."
            )
        self.images = [self._pad(im, ph, pw) for im in imgs]
        self.patch_size = (ph, pw)
        self.n_patches = int(n_patches)
        self.augment = bool(augment) and ph == pw
        self.name = name
        self.dtype = imgs[0].dtype
        self.value_range = (
            (0.0, float(np.iinfo(self.dtype).max)) if self.dtype.kind in "ui" else None
        )
        self.sample_shape = (imgs[0].shape[0], ph, pw)
        areas = np.array(
            [(im.shape[1] - ph + 1) * (im.shape[2] - pw + 1) for im in self.images],
            dtype=np.float64,
        )
        self._p = areas / areas.sum()
        self._rng = np.random.default_rng(seed)

    @staticmethod
    def _pad(im: np.ndarray, ph: int, pw: int) -> np.ndarray:
        dh, dw = max(0, ph - im.shape[1]), max(0, pw - im.shape[2])
        if not (dh or dw):
            return im
        mode = "reflect" if min(im.shape[1:]) > max(dh, dw) else "edge"
        return np.pad(im, ((0, 0), (0, dh), (0, dw)), mode=mode)

    @classmethod
    def from_path(cls, path: str | Path, patch_size=64, n_patches=4096, **kwargs):
        """Patches of the image file, or of every image in the folder."""
        files, narrowed = image_files(path), []
        images = [read_image(f, narrowed=narrowed) for f in files]
        if narrowed:
            warnings.warn(
                narrowed_message(Path(path), narrowed)
                if Path(path).is_dir()
                else f"{path}: {NARROWED}",
                stacklevel=2,
            )
        chans = {im.shape[0] for im in images}
        if len(chans) > 1:  # mixed grayscale and colour: promote to RGB
            images = [np.repeat(im, 3, 0) if im.shape[0] == 1 else im for im in images]
        dtypes = {im.dtype for im in images}
        if len(dtypes) > 1 and all(d.kind == "u" for d in dtypes):  # 8 and 16 bits
            images = [
                im.astype(np.uint16) * (257 if im.dtype == np.uint8 else 1)
                for im in images
            ]
        return cls(images, patch_size, n_patches, name=str(path), **kwargs)

    def __len__(self) -> int:
        return self.n_patches

    @property
    def X(self) -> np.ndarray:  # a fixed draw, for code that wants an array
        return self.take(torch.arange(min(self.n_patches, 2048))).numpy()

    def take(self, idx: torch.Tensor) -> torch.Tensor:
        n = len(idx)
        ph, pw = self.patch_size
        which = self._rng.choice(len(self.images), size=n, p=self._p)
        out = np.empty((n, *self.sample_shape), dtype=np.float32)
        for i, k in enumerate(which):
            im = self.images[k]
            y = self._rng.integers(0, im.shape[1] - ph + 1)
            x = self._rng.integers(0, im.shape[2] - pw + 1)
            patch = im[:, y : y + ph, x : x + pw]
            if self.augment:
                if self._rng.random() < 0.5:
                    patch = patch[:, :, ::-1]
                patch = np.rot90(patch, self._rng.integers(4), axes=(1, 2))
            out[i] = patch
        return torch.from_numpy(out)


# -- tiled inference --------------------------------------------------------
def _starts(size: int, tile: int, stride: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile + 1, stride))
    if starts[-1] != size - tile:
        starts.append(size - tile)  # the last tile sits flush with the border
    return starts


def _ramp(n: int, overlap: int) -> np.ndarray:
    """1 in the middle, falling linearly (but never to 0) over ``overlap`` pixels."""
    w = np.ones(n, dtype=np.float64)
    if overlap > 0:
        r = (np.arange(overlap, dtype=np.float64) + 0.5) / overlap
        m = min(overlap, n // 2)
        w[:m] = r[:m]
        w[n - m :] = np.minimum(w[n - m :], r[:m][::-1])
    return w


def _model_parts(model):
    """(module, scaler, input shape, device) of a fitted aekit estimator."""
    if not hasattr(model, "module_"):
        raise ConfigError(
            "Image restoration needs a fitted aekit Autoencoder (call fit, or "
            "aekit.load(run_dir))."
        )
    shape = tuple(model.input_shape_)
    if len(shape) not in (2, 3):
        raise ConfigError(
            f"This model was fitted on samples of shape {shape}, not images; fit a "
            "model on images (e.g. architecture='conv') to restore images."
        )
    return model.module_, model.scaler_, shape, model._device


# (quarter turns, then a left-right flip): the 8 symmetries of the square.
_SYMMETRIES = tuple((k, f) for f in (False, True) for k in range(4))


@torch.no_grad()
def restore(
    model,
    image: np.ndarray,
    *,
    overlap: int | None = None,
    batch_size: int = 16,
    fill: tuple[np.ndarray, float] | None = None,
    self_ensemble: bool = False,
) -> np.ndarray:
    """Run a fitted image model over ``image`` of any size, tile by tile.

    Tiles have the model's input size and overlap by ``overlap`` pixels
    (default: half the tile); each tile's output is weighted by a
    ramp that falls toward its borders, and the weighted outputs are
    averaged, so no seams show. Images smaller than a tile are padded by
    reflection and cropped back.

    With ``self_ensemble=True`` the image is also restored flipped and turned
    by quarter turns (the 8 symmetries of the square), each output is turned
    back, and the 8 are averaged: 8 passes (6.5-9.5 times the inference CPU
    time in the bench), and a cleaner result from a model that learned from
    flipped and turned patches (``PatchSource(augment=True)``), as the
    model's errors differ between
    orientations (the "geometric self-ensemble" of Timofte et al. 2016,
    https://arxiv.org/abs/1511.02228). Measured on four of scikit-image's
    photographs at sigma = 50/255: +0.13 to +0.20 dB
    (``bench/results/images.md``).

    Parameters
    ----------
    model : fitted aekit.Autoencoder on images (C, h, w) or (h, w)
    image : ndarray (C, H, W) or (H, W), in the model's training units
    overlap : int, optional
    batch_size : int
        Tiles per forward pass.
    fill : (mask, value), optional
        Used by :func:`inpaint`: pixels where ``mask`` is true are replaced by
        ``value`` before the model sees them.
    self_ensemble : bool
        Average the outputs of the 8 flipped and turned copies.

    Returns
    -------
    ndarray of float32, the shape of ``image``, in the same units.
    """
    module, scaler, shape, device = _model_parts(model)
    img = np.asarray(image)
    two_d = img.ndim == 2
    if img.ndim == 2:
        img = img[None]
    if img.ndim != 3:
        raise DataError(
            f"An image is (C, H, W) or (H, W); got an array of shape {image.shape}."
        )
    c_model = shape[0] if len(shape) == 3 else 1
    if img.shape[0] != c_model:
        raise DataError(
            f"The image has {img.shape[0]} channel(s), but the model was fitted on "
            f"{c_model}-channel images; convert the image "
            f"({'to grayscale' if c_model == 1 else 'to RGB'}) first."
        )
    th, tw = shape[-2:]
    # An 8-bit model cleans a 16-bit image (and back): match the bit depths.
    factor = bit_depth_factor(model, img.dtype)
    work = img.astype(np.float32) * factor
    if fill is not None:
        mask, value = fill
        work = np.where(np.broadcast_to(mask, img.shape), np.float32(value), work)
    if overlap is None:
        # Half a tile: every pixel is then far from the border of some tile
        # (measured: at a quarter, edge errors of 2-level models still show).
        overlap = min(th, tw) // 2
    overlap = int(overlap)
    if not 0 <= overlap < min(th, tw):
        raise ConfigError(
            f"overlap must be in [0, {min(th, tw)}) pixels for {th}x{tw} tiles. "
            f"Got {overlap}."
        )
    views = _SYMMETRIES if self_ensemble else _SYMMETRIES[:1]
    module.eval()
    acc = np.zeros(work.shape, np.float64)
    for turns, flip in views:
        view = np.rot90(work, turns, axes=(1, 2))
        view = view[:, :, ::-1] if flip else view
        out = _tiled(module, scaler, shape, device, view, overlap, batch_size)
        out = out[:, :, ::-1] if flip else out
        acc += np.rot90(out, -turns, axes=(1, 2))
    result = (acc / len(views)).astype(np.float32) / factor
    return result[0] if two_d else result


def _tiled(module, scaler, shape, device, work, overlap, batch_size) -> np.ndarray:
    """:func:`restore`'s tiling of one (C, H, W) float32 array, in the
    model's units; returns float64 (C, H, W)."""
    c_model = work.shape[0]
    th, tw = shape[-2:]
    H, W = work.shape[1:]
    # Smaller than a tile: pad by reflection up to the tile size.
    ph, pw = max(0, th - H), max(0, tw - W)
    if ph or pw:
        mode = "reflect" if min(H, W) > max(ph, pw) else "edge"
        work = np.pad(work, ((0, 0), (0, ph), (0, pw)), mode=mode)
    Hp, Wp = work.shape[1:]
    ys, xs = _starts(Hp, th, th - overlap), _starts(Wp, tw, tw - overlap)
    weight = np.outer(_ramp(th, overlap), _ramp(tw, overlap)).astype(np.float32)
    acc = np.zeros((c_model, Hp, Wp), np.float64)
    wsum = np.zeros((Hp, Wp), np.float64)
    coords = [(y, x) for y in ys for x in xs]
    for start in range(0, len(coords), batch_size):
        chunk = coords[start : start + batch_size]
        tiles = np.stack([work[:, y : y + th, x : x + tw] for y, x in chunk])
        if len(shape) == 2:
            tiles = tiles[:, 0]
        xb = torch.from_numpy(np.ascontiguousarray(scaler.transform(tiles)))
        out = module(xb.to(device)).float().cpu().numpy()
        out = scaler.inverse_transform(out).reshape(len(chunk), c_model, th, tw)
        for (y, x), o in zip(chunk, out, strict=True):
            acc[:, y : y + th, x : x + tw] += o * weight
            wsum[y : y + th, x : x + tw] += weight
    return (acc / wsum)[:, :H, :W]


def bit_depth_factor(model, dtype) -> float:
    """What multiplies ``dtype`` pixels into the pixel range the model trained on.

    A model trained on 8-bit pixels (range 0-255) sees a 16-bit image divided by
    257, and its output is multiplied back; 1 when the depths agree or the
    model did not learn from a known pixel range.
    """
    dtype = np.dtype(dtype)
    hi = _integer_range(model)
    if dtype.kind not in "ui" or hi is None:
        return 1.0
    return hi / float(np.iinfo(dtype).max)


def _pixel_range(model) -> tuple[float, float] | None:
    """(low, high) of the pixel values ``model`` learned from, when it scaled
    them from a known range (e.g. 0-255, or the digits' 0-16), else None."""
    scaler = model.scaler_
    if getattr(scaler, "fitted_mode", None) != "range":
        return None
    lo = float(np.min(scaler.offset))
    return lo, lo + float(np.max(scaler.scale))


def _integer_range(model) -> int | None:
    """255 or 65535 when ``model`` learned from 8- or 16-bit pixels (scaled
    from that full range), else None."""
    lo, hi = _pixel_range(model) or (None, None)
    return int(hi) if lo == 0 and hi in (255.0, 65535.0) else None


def restore_image(model, image: np.ndarray, **kwargs) -> np.ndarray:
    """:func:`restore`, returned in the input's dtype (rounded and clipped)."""
    image = np.asarray(image)
    out = restore(model, image, **kwargs)
    return as_dtype(_clip_to_range(out, image), image.dtype)


def _clip_to_range(out: np.ndarray, image: np.ndarray) -> np.ndarray:
    if image.dtype.kind in "ui":
        return out
    lo, hi = float(image.min()), float(image.max())
    if lo >= 0 and hi <= 1:  # [0, 1] pixels stay in [0, 1]
        return np.clip(out, 0, 1)
    return out


def inpaint(
    model,
    image: np.ndarray,
    mask: np.ndarray,
    *,
    iterations: int = 1,
    fill_value: float | None = None,
    **kwargs,
) -> np.ndarray:
    """Fill the pixels where ``mask`` is true; keep every other pixel exactly.

    Missing pixels are set to ``fill_value`` (default: the model's scaled zero,
    which is what masking corruption shows a model in training), the image is
    restored, and the model's output is pasted into the holes only. With
    ``iterations > 1`` the filled image is fed back, refining large holes.

    Parameters
    ----------
    model : fitted image aekit.Autoencoder
    image : ndarray (C, H, W) or (H, W)
    mask : bool ndarray (H, W) or the image's shape; true = missing
    iterations : int

    Returns
    -------
    ndarray, the image's shape and dtype.
    """
    image = np.asarray(image)
    mask = check_mask(mask, image.shape)
    if int(iterations) < 1:
        raise ConfigError(f"iterations must be >= 1. Got {iterations!r}.")
    if fill_value is None:
        fill_value = float(np.mean(model.scaler_.inverse_transform(np.zeros(1))))
    known = image.astype(np.float32)
    current, fill = known, (mask, fill_value)
    for _ in range(int(iterations)):
        out = restore(model, current, fill=fill, **kwargs)
        current = np.where(mask, out, known)
        fill = None  # later rounds start from the previous estimate in the holes
    result = np.where(mask, _clip_to_range(current, image), image)
    return as_dtype(result, image.dtype) if image.dtype.kind in "ui" else result


# -- compression --------------------------------------------------------------
def _png_bytes(image: np.ndarray) -> int:
    img = np.asarray(image)
    if img.dtype.kind not in "ui":
        img = as_dtype(np.clip(img, 0, 1) * 255, np.uint8)
    return len(encode_image(img, ".png", optimize=True))


def compression_report(
    model, X: np.ndarray, *, max_images: int = 500
) -> dict[str, Any]:
    """Code size per image (float32, float16, 8-bit) against PNG, with PSNR.

    Each image is encoded; the code is stored as float32, float16, or 8-bit
    integers with a per-image float32 minimum and step (8 bytes); each stored
    code is decoded and scored against the image (PSNR and SSIM in scaled
    units, [0, 1] for pixels). ``png_bytes`` is the mean size of the images
    saved as optimised PNG, the lossless baseline.
    """
    X = np.asarray(X)[:max_images]
    Xs = model.scaler_.transform(X)
    Z = model.transform(X).astype(np.float32)  # (N, *code_shape)
    n_code = int(np.prod(Z.shape[1:]))
    flat = Z.reshape(len(Z), -1)
    lo, hi = flat.min(1, keepdims=True), flat.max(1, keepdims=True)
    step = np.where(hi > lo, (hi - lo) / 255.0, 1.0)
    q8 = np.rint((flat - lo) / step).clip(0, 255) * step + lo
    variants = {
        "float32": (Z, 4 * n_code),
        "float16": (Z.astype(np.float16).astype(np.float32), 2 * n_code),
        "uint8": (q8.reshape(Z.shape).astype(np.float32), n_code + 8),
    }
    data_range = 1.0 if model.scaler_.unit_interval else float(Xs.max() - Xs.min())
    png = float(np.mean([_png_bytes(x) for x in X]))
    raw = int(np.prod(X.shape[1:])) * X.dtype.itemsize
    report: dict[str, Any] = {
        "n_images": int(len(X)),
        "raw_bytes": raw,
        "png_bytes": png,
        "code_values": n_code,
    }
    for name, (codes, nbytes) in variants.items():
        rec = np.clip(model.inverse_transform(codes), *_bounds(X))
        Rs = model.scaler_.transform(rec)
        report[name] = {
            "bytes": nbytes,
            "ratio_vs_png": png / nbytes,
            "bits_per_pixel": 8 * nbytes / math.prod(X.shape[-2:]),
            "psnr": psnr(
                np.clip(Xs, 0, 1) if data_range == 1.0 else Xs, Rs, data_range
            ),
            "ssim": ssim(Xs, Rs, data_range),
        }
    return report


def _bounds(X: np.ndarray) -> tuple[float, float]:
    if X.dtype.kind in "ui":
        info = np.iinfo(X.dtype)
        return float(info.min), float(info.max)
    return -np.inf, np.inf


# -- files in, files out ------------------------------------------------------
def output_paths(inp: str | Path, out: str | Path) -> list[tuple[Path, Path]]:
    """(input file, output file) pairs: file to file, or folder to folder.

    A folder keeps its layout under ``out``; one file goes to ``out`` (or into
    it, when ``out`` is an existing folder or has no suffix).
    """
    inp, out = Path(inp), Path(out)
    files = image_files(inp)
    if inp.is_dir():
        if out.exists() and not out.is_dir():
            raise DataError(
                f"{inp} is a folder, so --out must be a folder; {out} is a file."
            )
        return [(f, out / f.relative_to(inp)) for f in files]
    if out.is_dir() or not out.suffix:
        return [(inp, out / inp.name)]
    return [(inp, out)]


def restore_files(
    model,
    inp: str | Path,
    out: str | Path,
    *,
    mask: str | Path | None = None,
    iterations: int = 1,
    overlap: int | None = None,
    self_ensemble: bool = False,
) -> list[Path]:
    """Denoise, deblur or (with ``mask``) inpaint image files; write results.

    ``mask`` is one mask for every image, or a folder holding a mask per image
    under the same relative name (any image suffix, or .npy). Output keeps each
    input's bit depth; the format follows the output suffix. ``overlap`` and
    ``self_ensemble`` are :func:`restore`'s.
    """
    pairs = output_paths(inp, out)
    written = []
    for src, dst in pairs:
        image = read_image(src)
        check_pixel_type(model, image.dtype, src)
        if mask is None:
            result = restore_image(
                model, image, overlap=overlap, self_ensemble=self_ensemble
            )
        else:
            m = _mask_for(Path(mask), Path(inp), src)
            result = inpaint(
                model,
                image,
                read_mask(m, image.shape),
                iterations=iterations,
                overlap=overlap,
                self_ensemble=self_ensemble,
            )
        written.append(write_image(dst, result))
    return written


def check_pixel_type(model, dtype, name) -> None:
    """Refuse images (the file or folder ``name``) whose pixels are float
    where the model learned from 8- or 16-bit ones, or the other way round:
    no scale relates a float TIFF's values to 0-255 or 0-65535 (8 and 16
    bits are matched by :func:`bit_depth_factor`)."""
    dtype = np.dtype(dtype)
    trained = _integer_range(model)
    if (trained is not None) == (dtype.kind in "ui"):
        return
    has = "float" if trained is not None else f"{8 * dtype.itemsize}-bit"
    known = _pixel_range(model)
    if trained is not None:
        learned = f"{trained.bit_length()}-bit ones"
    elif known is not None:  # e.g. the digits' 0-16
        learned = f"values in [{known[0]:g}, {known[1]:g}]"
    else:
        learned = "float ones"
    raise DataError(
        f"{name} has {has} pixels, but the model learned from {learned}, and no "
        "scale relates the two; convert the image to the training images' type "
        "first."
    )


def check_image_data(model, ds, name) -> None:
    """For commands that give image files' pixels to ``model`` as they are
    (encode, reconstruct, anomalies, evaluate): refuse another pixel type
    (:func:`check_pixel_type`) or bit depth, which would be read in the
    wrong units. Arrays, and models without a scaler, pass. Callers check
    the samples' shape first (``cli.options.check_samples``)."""
    if ds.kind != "image" or not ds.files or not hasattr(model, "scaler_"):
        return
    check_pixel_type(model, ds.X.dtype, name)
    if bit_depth_factor(model, ds.X.dtype) != 1:
        bits = 8 * ds.X.dtype.itemsize
        raise DataError(
            f"{name} has {bits}-bit pixels, but the model learned from "
            f"{_integer_range(model).bit_length()}-bit ones; convert the images "
            "first ('aekit denoise', 'inpaint' and 'deblur' match the depths "
            "themselves)."
        )


def _mask_for(mask: Path, inp: Path, src: Path) -> Path:
    if not mask.is_dir():
        if not mask.exists():
            raise DataError(f"Mask {mask} does not exist.")
        return mask
    rel = src.relative_to(inp) if inp.is_dir() else Path(src.name)
    for suffix in (rel.suffix, *sorted(IMAGE_SUFFIXES), ".npy"):
        cand = mask / rel.with_suffix(suffix)
        if cand.exists():
            return cand
    raise DataError(f"No mask for {src} in {mask} (looked for {rel.stem}.*).")
