"""Denoise files: read samples, clean them with a fitted model, write the same kind.

The plain function behind ``aekit denoise``. Arrays go to arrays (``.npy``,
``.csv``), an image folder to a folder of PNGs with the same relative names
(``.png`` suffix) and bit depth, a single image to a PNG. Integer inputs
(pixels) come back rounded and clipped to their own dtype.
"""

from __future__ import annotations

import struct
import zlib
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from aekit.data.readers import Dataset, load
from aekit.exceptions import DataError
from aekit.io import atomic_write_bytes, atomic_write_text
from aekit.workflows import ARRAY_SUFFIXES, apply_to_file, write_array


def to_dtype(X: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``X`` in ``dtype``: rounded and clipped to its range for integer types."""
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return np.clip(np.rint(X), info.min, info.max).astype(dtype)
    if dtype.kind == "f":
        return X.astype(dtype, copy=False)
    return X.astype(np.float32, copy=False)


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    body = tag + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png_bytes(image: np.ndarray) -> bytes:
    """A PNG of a ``(C, H, W)`` uint8 or uint16 image, C in (1, 3, 4).

    Written directly (no filter, zlib), because Pillow cannot write 16-bit RGB.
    """
    c, h, w = image.shape
    if image.dtype not in (np.uint8, np.uint16) or c not in (1, 3, 4):
        raise DataError(
            f"Cannot write a PNG of {c} channel(s) of {image.dtype}; PNG takes 1, 3 "
            "or 4 channels of uint8 or uint16."
        )
    depth = 8 * image.dtype.itemsize
    colour = {1: 0, 3: 2, 4: 6}[c]
    rows = np.ascontiguousarray(image.transpose(1, 2, 0)).astype(
        image.dtype.newbyteorder(">")
    )  # (H, W, C), big-endian as PNG wants
    raw = b"".join(b"\x00" + rows[y].tobytes() for y in range(h))
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0)),
            _png_chunk(b"IDAT", zlib.compress(raw, 6)),
            _png_chunk(b"IEND", b""),
        ]
    )


def write_images(
    folder: str | Path, images: np.ndarray, names: list[str]
) -> list[Path]:
    """Write ``images`` (n, C, H, W) as PNGs ``folder/name`` (suffix ``.png``)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder} is a file; give a folder for the output images.")
    paths = []
    for image, name in zip(images, names, strict=True):
        path = (folder / name).with_suffix(".png")
        atomic_write_bytes(path, png_bytes(image))
        paths.append(path)
    return paths


def _write_table(path: Path, X: np.ndarray, columns: list[str] | None) -> None:
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    flat = X.reshape(len(X), -1)
    lines = [sep.join(columns)] if columns and len(columns) == flat.shape[1] else []
    fmt = "%d" if flat.dtype.kind in "ui" else "%.7g"
    lines += [sep.join(fmt % v for v in row) for row in flat]
    atomic_write_text(path, "\n".join(lines) + "\n")


def denoise_data(
    model,
    source: str | Path | Dataset,
    out: str | Path,
    *,
    key: str | None = None,
    image_size: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Denoise ``source`` with ``model`` and write the result to ``out``.

    A ``.npy`` output is denoised and written in chunks of rows
    (:func:`aekit.workflows.apply_to_file`), so a memory-mapped ``.npy`` input
    larger than memory works; the other outputs are made in memory.

    Parameters
    ----------
    model : fitted Autoencoder (anything with ``denoise(X)``)
    source : path of a .npy/.csv/... file, an image, a folder of images, or a
        Dataset
    out : path
        A folder for an image folder; a ``.png`` for a single image; ``.npy``,
        ``.csv`` or ``.tsv`` for arrays.
    key, image_size : as in :func:`aekit.data.load`

    Returns
    -------
    dict with ``n`` (samples), ``kind`` ("images" or "array") and ``out``.
    """
    from aekit.images import bit_depth_factor, check_pixel_type

    ds = load(source, key=key, image_size=image_size)
    out = Path(out)
    factor = 1.0
    if ds.kind == "image" and ds.files:
        # As restore() does for tiles: units matched, 8 and 16 bits scaled.
        check_pixel_type(model, ds.X.dtype, source)
        factor = bit_depth_factor(model, ds.X.dtype)
    if out.suffix.lower() == ".npy" and factor == 1:
        convert = partial(to_dtype, dtype=ds.X.dtype)
        shape = apply_to_file(model, "denoise", ds.X, out, convert=convert)
        return {"n": shape[0], "kind": "array", "out": str(out)}
    if factor == 1:
        clean = model.denoise(ds.X)  # (n, *sample_shape)
    else:
        clean = model.denoise(ds.X.astype(np.float32) * factor) / factor
    clean = to_dtype(clean, ds.X.dtype)
    src = None if isinstance(source, Dataset) else Path(source)
    if src is not None and src.is_dir():
        if out.suffix.lower() in ARRAY_SUFFIXES:
            write_array(out, clean)
            return {"n": len(clean), "kind": "array", "out": str(out)}
        names = [str(Path(f).relative_to(src)) for f in ds.files]
        write_images(out, _as_images(clean, src), names)
        return {"n": len(clean), "kind": "images", "out": str(out)}
    suffix = out.suffix.lower()
    if ds.files and len(ds.files) == 1 and suffix not in ARRAY_SUFFIXES:
        if suffix != ".png":
            raise DataError(
                f"Cannot write {out}: a denoised image is written as PNG; name the "
                "output *.png (or .npy for the array)."
            )
        atomic_write_bytes(out, png_bytes(_as_images(clean, src)[0]))
        return {"n": 1, "kind": "images", "out": str(out)}
    if suffix == ".npy":  # a 16-bit image given to an 8-bit model (or back)
        write_array(out, clean)
    elif suffix in (".csv", ".tsv"):
        _write_table(out, clean, ds.columns)
    else:
        raise DataError(
            f"Cannot write {out}: unknown output format {suffix or '(none)'!r}; use "
            ".npy, .csv or .tsv (or a folder, for a folder of images)."
        )
    return {"n": len(clean), "kind": "array", "out": str(out)}


def _as_images(clean: np.ndarray, src) -> np.ndarray:
    if clean.ndim != 4 or clean.dtype not in (np.uint8, np.uint16):
        raise DataError(
            f"{src}: the denoised data has shape {clean.shape[1:]} and dtype "
            f"{clean.dtype}, which cannot be written as PNG images."
        )
    return clean
