"""Readers for every data format aekit accepts, one function per format.

``load(source)`` returns a :class:`Dataset`: the samples as an array of shape
``(n, *sample_shape)`` in their stored dtype (uint8 images stay uint8 until a
batch needs them), plus what preprocessing needs to know (the known value
range of integer data) and labels where the format carries them.

A Parquet file or a folder of images too large to hold in memory is read in
chunks into a scratch .npy file in the temp folder and comes back memory-mapped,
like a .npy file, so that training and ``apply_to_file`` stream it.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import itertools
import os
import shutil
import struct
import tempfile
import tokenize
import warnings
import weakref
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from aekit.data.validation import check_array, check_layout
from aekit.exceptions import ConfigError, DataError, WriteError
from aekit.io import atomic_write_rows

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
# Rows of a Parquet file read at a time: about CHUNK_BYTES of float32 (Arrow
# holds a few times that while it decodes them).
CHUNK_BYTES = 2 * 2**20
CHUNK_IMAGES = 256  # images per chunk copied into the scratch file
BUILTINS = {
    "digits": "scikit-learn's 1,797 handwritten digits, 8x8 grayscale, values 0-16",
}


@dataclasses.dataclass
class Dataset:
    """Samples read from one source.

    Attributes
    ----------
    X : ndarray of shape (n, *sample_shape)
        Images are channels first, ``(n, C, H, W)``.
    kind : "table" or "image"
    value_range : (low, high) or None
        The range the values can take when the format says so (integer pixels,
        the digits' 0-16); preprocessing scales it to [0, 1].
    y : ndarray or None
        Labels, where the source carries them.
    columns : list of str or None
        Column names of a table with a header.
    name : str
        Where the data came from.
    """

    X: np.ndarray
    kind: str = "table"
    value_range: tuple[float, float] | None = None
    y: np.ndarray | None = None
    columns: list[str] | None = None
    name: str = ""
    files: list[str] | None = None

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.X.shape[1:])

    def __len__(self) -> int:
        return self.X.shape[0]


def _integer_range(arr: np.ndarray) -> tuple[float, float] | None:
    if arr.dtype.kind in "ui":
        info = np.iinfo(arr.dtype)
        return (float(min(info.min, 0)), float(info.max))
    return None


# -- data larger than memory ------------------------------------------------
def _held_in_memory(n_values: int, in_memory: bool | str) -> bool:
    """Whether to read ``n_values`` values into memory: the rule of
    ``Autoencoder(in_memory="auto")``, which streams data that would take more
    than a quarter of the available memory in float32."""
    if in_memory == "auto":
        from aekit.data.sources import fits_in_memory

        return fits_in_memory(n_values)
    return bool(in_memory)


def _scratch_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="aekit-"))  # in $TMPDIR


def _write_scratch(folder: Path, chunks: Iterable[np.ndarray], n_rows: int):
    """The row ``chunks`` written to ``folder/data.npy``, as a read-only memory map.

    The folder is removed when the map (and every view of it) is garbage
    collected, or at exit; on any failure it is removed at once.
    """
    try:
        atomic_write_rows(folder / "data.npy", chunks, n_rows)
        X = np.load(folder / "data.npy", mmap_mode="r")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    weakref.finalize(X, shutil.rmtree, folder, ignore_errors=True)
    return X


# -- built-in ---------------------------------------------------------------
def load_builtin(name: str) -> Dataset:
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        X = d.images.astype(np.float32)[:, None]  # (1797, 1, 8, 8)
        return Dataset(X, "image", (0.0, 16.0), d.target, name="digits")
    raise DataError(_unknown_source_message(name))


def _unknown_source_message(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(BUILTINS), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (
        f"{name!r} is neither an existing file or folder nor a built-in data set "
        f"({', '.join(BUILTINS)}).{hint} Check the path; run 'aekit datasets' for "
        "the formats aekit reads."
    )


# What a damaged file makes the parsers raise; each becomes a DataError.
PARSE_ERRORS = (
    ValueError,
    EOFError,
    OSError,
    zlib.error,
    zipfile.BadZipFile,
    struct.error,
    KeyError,
    IndexError,
    TypeError,
    OverflowError,
    SyntaxError,  # a damaged .npy header (numpy parses it with ast.literal_eval)
    tokenize.TokenError,
    NotImplementedError,  # zipfile: "zip file version 6.4", found by fuzzing
    RuntimeError,  # zipfile: "File 'a.npy' is encrypted", found by fuzzing
)


# -- arrays -----------------------------------------------------------------
def read_npy(path: Path, **_) -> Dataset:
    try:
        X = np.load(path, mmap_mode="r", allow_pickle=False)
    except PARSE_ERRORS as exc:
        raise DataError(f"{path} is not a numeric .npy array ({exc}).") from None
    return Dataset(X, _array_kind(X), _integer_range(X), name=str(path))


def read_npz(path: Path, *, key: str | None = None, **_) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = list(npz.keys())
            if not keys:
                raise DataError(
                    f"{path} is empty: it holds no arrays. Save the data into it, "
                    "e.g. numpy.savez(path, X=X)."
                )
            if key is None:
                if len(keys) != 1:
                    raise DataError(
                        f"{path} holds {len(keys)} arrays ({_shown(keys)}); "
                        "name one with --key."
                    )
                key = keys[0]
            if key not in keys:
                raise DataError(
                    f"{path} has no array {key!r}; it has {_shown(keys, 10)}."
                )
            X = npz[key]
    except DataError:
        raise
    except PARSE_ERRORS as exc:
        raise DataError(f"{path} is not a readable .npz archive ({exc}).") from None
    return Dataset(X, _array_kind(X), _integer_range(X), name=f"{path}:{key}")


def _array_kind(X: np.ndarray) -> str:
    return "image" if X.ndim == 4 and X.shape[1] in (1, 3) else "table"


def _shown(names, limit: int = 5, width: int = 40) -> str:
    """The first ``limit`` names for a message, each cut to ``width`` characters
    (a header read with the wrong separator is one name thousands long)."""
    cut = [n if len(n) <= width else n[: width - 3] + "..." for n in map(str, names)]
    return ", ".join(map(repr, cut[:limit])) + (", ..." if len(cut) > limit else "")


# -- tables -----------------------------------------------------------------
def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return text.strip().lower() in ("", "nan", "inf", "-inf", "na")


def read_csv(path: Path, *, delimiter: str | None = None, **_) -> Dataset:
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(
            f"{path} is not a UTF-8 text file; is it really a CSV?"
        ) from None
    try:
        rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if r]
    except csv.Error as exc:  # e.g. a line longer than csv's field limit
        _check_separator(path, text, delimiter)
        raise DataError(f"{path} is not a readable CSV file ({exc}).") from None
    if not rows:
        raise DataError(f"{path} is empty: it has no rows.")
    header = None
    if not all(_is_number(c) for c in rows[0]):
        header, rows = [c.strip() for c in rows[0]], rows[1:]
    if not rows:
        raise DataError(f"{path} has a header but no data rows.")
    width = len(header) if header else len(rows[0])
    for i, r in enumerate(rows):
        if len(r) != width:
            _check_separator(path, text, delimiter)
            line = i + 1 + (header is not None)
            raise DataError(
                f"{path}: line {line} has {len(r)} fields, but the file has {width} "
                "columns; fix or remove the ragged rows."
            )
    columns = header or [f"column {j}" for j in range(width)]
    cols = list(zip(*rows, strict=True))
    bad = [
        columns[j] for j, col in enumerate(cols) if not all(_is_number(c) for c in col)
    ]
    if bad:
        _check_separator(path, text, delimiter)
        raise DataError(
            f"{path} has non-numeric column(s) {_shown(bad)}; drop them or encode "
            "them as numbers first."
        )
    X = np.array(
        [
            [float(c) if c.strip() not in ("", "NA", "na") else np.nan for c in r]
            for r in rows
        ],
        dtype=np.float64,
    )
    return Dataset(X.astype(np.float32), "table", None, columns=header, name=str(path))


# The separators a table is checked against, in the order they are tried.
SEPARATORS = {
    ",": "commas",
    "\t": "tabs",
    ";": "semicolons",
    "|": "bars",
    " ": "spaces",
}


def _check_separator(path: Path, text: str, delimiter: str) -> None:
    """Raise when ``text`` does not split evenly on ``delimiter`` but its first
    lines split evenly into several fields on another separator: the likely
    cause of a table that reads as one column, or as ragged rows."""

    def fields(line: str, sep: str) -> int:  # a guess: quotes are not parsed
        return len(line.split(None if sep == " " else sep))  # runs of spaces

    nonblank = (ln.rstrip("\r\n") for ln in io.StringIO(text) if ln.strip())
    lines = list(itertools.islice(nonblank, 5))
    if len(lines) < 2:
        return  # one line is too little to tell
    given = {fields(ln, delimiter) for ln in lines}
    if len(given) == 1 and given.pop() > 1:
        return  # the delimiter splits the lines evenly: not the problem
    for sep, name in SEPARATORS.items():
        counts = {fields(ln, sep) for ln in lines}
        if sep == delimiter or len(counts) != 1 or (n := counts.pop()) < 2:
            continue
        fix = {
            ",": "Rename it to .csv",
            "\t": "Rename it to .tsv",
            ";": "Save it with commas between fields and points in decimals",
        }.get(sep, "Save it with commas (numpy.savetxt(path, X, delimiter=','))")
        raise DataError(
            f"{path} looks separated by {name}, not "
            f"{SEPARATORS.get(delimiter, repr(delimiter))}: its first lines split "
            f"into {n} fields on {name}. {fix}, or save the array as .npy."
        )


def read_parquet(
    path: Path, *, in_memory: bool | str = "auto", nan_policy: str = "error", **_
) -> Dataset:
    import pyarrow as pa

    try:
        return _read_parquet(path, in_memory, nan_policy)
    except (DataError, WriteError):
        raise
    except (pa.ArrowException, *PARSE_ERRORS) as exc:
        # A damaged file can fail late: decoding a column name, a page...
        raise DataError(f"{path} is not a readable Parquet file ({exc}).") from None


def _read_parquet(path: Path, in_memory: bool | str, nan_policy: str) -> Dataset:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # pre_buffer would keep every row group read so far in memory; a small
    # buffer reads each column's pages in pieces.
    file = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 16)
    schema = file.schema_arrow
    bad = [
        f.name
        for f in schema
        if not (
            pa.types.is_integer(f.type)
            or pa.types.is_floating(f.type)
            or pa.types.is_boolean(f.type)
        )
    ]
    if bad:
        raise DataError(
            f"{path} has non-numeric column(s) {_shown(bad)}; drop them or encode "
            "them as numbers first."
        )
    if len(schema) == 0:
        raise DataError(f"{path} has no columns.")
    n, width = file.metadata.num_rows, len(schema)
    if n == 0 or _held_in_memory(n * width, in_memory):
        table = pq.read_table(path)
        X = _parquet_columns(table)
        return Dataset(X, "table", None, columns=table.column_names, name=str(path))

    def chunks():
        start = 0
        for batch in file.iter_batches(batch_size=max(CHUNK_BYTES // (4 * width), 1)):
            x = _parquet_columns(batch)
            if nan_policy == "error":  # here, while the chunk is in memory
                where = f"{path} (rows {start:,} to {start + len(x) - 1:,})"
                x = check_array(x, name=where, first_row=start)
            start += len(x)
            yield x

    X = _write_scratch(_scratch_folder(), chunks(), n)
    return Dataset(X, "table", None, columns=schema.names, name=str(path))


def _parquet_columns(table) -> np.ndarray:
    """A pyarrow Table or RecordBatch as a float32 array (rows, columns)."""
    X = np.empty((table.num_rows, table.num_columns), np.float32)
    for i in range(table.num_columns):
        # Cast into place: no float64 or per-column copies on the way.
        X[:, i] = table.column(i).to_numpy(zero_copy_only=False)
    return X


# -- images -----------------------------------------------------------------
def _check_resize(path: Path, image_size: tuple[int, int], bands: int) -> None:
    """Refuse a --image-size whose resized image cannot fit in memory (the
    kernel would kill the process instead): float32 pixels, twice over (the
    resize and the copy made of it). A ConfigError: the option is at fault,
    not the image, which a folder must not skip as unreadable."""
    from aekit.data.sources import allocatable_memory, format_bytes

    need = 2 * 4 * bands * image_size[0] * image_size[1]
    free = allocatable_memory()
    if need > free:
        raise ConfigError(
            f"Resizing {path} to {image_size[0]}x{image_size[1]} needs "
            f"{format_bytes(need)} of memory for that image alone, more than the "
            f"{format_bytes(free)} available; choose a smaller --image-size."
        )


def read_image(
    path: Path,
    image_size: tuple[int, int] | None = None,
    *,
    narrowed: list[Path] | None = None,
) -> np.ndarray:
    """One image as (C, H, W) in its stored depth.

    8-bit images come as uint8 and 16-bit ones as uint16, whose full ranges
    (0-255, 0-65535) scale to [0, 1]; 16-bit colour TIFFs too, read with
    tifffile (Pillow would cut them to 8 bits). 32-bit float images (TIFF
    mode "F") come as float32 with their values kept, and so do 32-bit
    integer ones (TIFF mode "I"), which declare no range to scale by: a
    model scales them as it scales any float data.

    TIFFs that Pillow cannot open (float or 32-bit colour) are read with
    tifffile too. Pillow reads 16-bit colour PNGs (and PPMs) at 8 bits per
    channel only: they come as uint8 with a warning that names the file,
    or, given a list ``narrowed``, appended to it for the caller to report
    once.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if image_size:
                _check_resize(path, image_size, len(im.getbands()))
            if _wide_colour(im):
                if im.format == "TIFF":
                    return _resized(_tiff_pixels(path), image_size)
                if narrowed is None:
                    warnings.warn(f"{path}: {NARROWED}", stacklevel=2)
                else:
                    narrowed.append(path)
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                return _resized(_wide_pixels(im)[None], image_size)
            if im.mode not in ("L", "RGB"):
                im = im.convert(
                    "RGB" if im.mode in ("RGBA", "P", "CMYK", "YCbCr") else "L"
                )
            if image_size:
                im = im.resize(image_size[::-1], Image.Resampling.BILINEAR)
            arr = np.asarray(im)
    except ConfigError:
        raise  # the --image-size, not the image
    except UnidentifiedImageError as exc:
        if Path(path).suffix.lower() not in (".tif", ".tiff"):
            raise DataError(f"{path} is not a readable image ({exc}).") from None
        if image_size:
            _check_resize(path, image_size, 3)
        return _resized(_tiff_pixels(path), image_size)
    except (Image.DecompressionBombError, *PARSE_ERRORS) as exc:
        raise DataError(f"{path} is not a readable image ({exc}).") from None
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def image_height_width(path: Path) -> tuple[int, int] | None:
    """An image file's (height, width), its pixels left undecoded; None when
    neither Pillow nor (for TIFFs) tifffile can read it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.height, im.width
    except UnidentifiedImageError:
        pass  # a float or 32-bit colour TIFF, which Pillow cannot open
    except OSError:
        return None
    if Path(path).suffix.lower() not in (".tif", ".tiff"):
        return None
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            return page.imagelength, page.imagewidth
    except (tifffile.TiffFileError, ValueError, OSError):
        return None


NARROWED = (
    "16 bits per colour channel, read at 8 (Pillow reads no more of this "
    "format); convert it to a 16-bit TIFF to keep its full depth."
)


def _wide_colour(im) -> bool:
    """True for a colour image of more than 8 bits per channel, which Pillow
    opens as 8-bit RGB or RGBA."""
    if im.mode not in ("RGB", "RGBA"):
        return False
    if im.format == "TIFF":
        bits = im.tag_v2.get(258, 8)  # BitsPerSample, one per channel
        return max(bits if isinstance(bits, tuple) else (bits,)) > 8
    rawmodes = (t.args[0] if isinstance(t.args, tuple) else t.args for t in im.tile)
    return any(";16" in str(raw) for raw in rawmodes)


def _tiff_pixels(path: Path) -> np.ndarray:
    """The first page of a TIFF that Pillow cuts or cannot open (16-bit or
    float colour), through tifffile, as (C, H, W): uint8, uint16 or float32,
    RGB with alpha dropped as Pillow's conversion to RGB drops it."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            arr, axes = page.asarray(), page.axes
    except (tifffile.TiffFileError, ValueError, OSError) as exc:
        raise DataError(f"{path} is not a readable image ({exc}).") from None
    if axes == "YX":
        arr = arr[None]
    elif axes in ("YXS", "SYX") and arr.shape[axes.index("S")] in (3, 4):
        arr = np.moveaxis(arr, axes.index("S"), 0)[:3]
    else:
        raise DataError(
            f"{path} is a TIFF of axes {axes!r} and shape {arr.shape}, which aekit "
            "does not read; save it as one grayscale or RGB image."
        )
    if arr.dtype.kind == "f":
        return np.ascontiguousarray(arr, np.float32)
    if arr.dtype not in (np.uint8, np.uint16):
        raise DataError(
            f"{path} holds {arr.dtype} pixels; aekit reads 8- and 16-bit "
            "and float images. Convert it to one of those."
        )
    return np.ascontiguousarray(arr)


def _resized(arr: np.ndarray, image_size) -> np.ndarray:
    """A (C, H, W) uint16 or float32 image resized to ``image_size``
    (bilinear, channel by channel in float32; 16 bits rounded back)."""
    from PIL import Image

    if not image_size:
        return arr
    out = np.stack(
        [
            np.asarray(
                Image.fromarray(band.astype(np.float32)).resize(
                    image_size[::-1], Image.Resampling.BILINEAR
                )
            )
            for band in arr
        ]
    )
    if arr.dtype == np.uint16:
        out = out.round().clip(0, 65535)
    return out.astype(arr.dtype)


def _wide_pixels(im) -> np.ndarray:
    """The (H, W) pixels of a 16- or 32-bit grayscale image: uint16 or float32."""
    # Older Pillow opens 16-bit PNGs in mode "I" (pillow PR 7849); PNG and PPM
    # hold 16 bits at most, so those are 16-bit images whatever the mode says.
    if im.mode.startswith("I;16") or (im.mode == "I" and im.format in ("PNG", "PPM")):
        return np.asarray(im).astype(np.uint16)
    # 32-bit pixels in aekit's working type: integers beyond 2**24 are
    # rounded there as in any float32 computation.
    return np.asarray(im).astype(np.float32)


def read_image_folder(
    path: Path,
    *,
    image_size=None,
    strict: bool = False,
    in_memory: bool | str = "auto",
    **_,
) -> Dataset:
    """Every image under ``path`` (recursively), stacked as (n, C, H, W).

    Images stack in their stored depth (see :func:`read_image`); grayscale
    ones among colour ones are repeated to RGB. 8-bit images among 16-bit
    ones are scaled into the 16-bit range (x257, so that 255 becomes 65535)
    with a warning that names one of each: left at 0-255 they would be near
    black once the 16-bit range is scaled to [0, 1]. Float images among
    integer ones are refused, naming one of each: no scale relates their
    values to 0-255 or 0-65535. Subfolders are classes and give the labels
    ``y``; an unreadable image is skipped with a warning, or fails with
    ``strict=True``.
    """
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(
            f"{path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); point to "
            "a folder of images or to a data file."
        )
    classes = sorted({f.parent.relative_to(path).as_posix() for f in files})
    kept, skipped, narrowed = [], [], []
    images = _decode_images(files, image_size, strict, kept, skipped, narrowed)
    first = next(images, None)
    images = itertools.chain([] if first is None else [first], images)
    folder = None
    if first is None or _held_in_memory(first.size * len(files), in_memory):
        images = list(images)
        layouts = [(im.shape, im.dtype) for im in images]
    else:
        # Decoded images go to disk one by one: their common size is known
        # only once all are read.
        folder = _scratch_folder()
        try:
            layouts = _spill_images(images, folder / "decoded.raw")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    try:
        if narrowed:
            warnings.warn(narrowed_message(path, narrowed), stacklevel=3)
        if skipped:
            names = ", ".join(str(f.relative_to(path)) for f, _ in skipped[:10])
            warnings.warn(
                f"Skipped {len(skipped)} unreadable image(s) in {path}: {names}"
                + (", ..." if len(skipped) > 10 else ""),
                stacklevel=3,
            )
        if not kept:
            raise DataError(f"None of the {len(files)} images in {path} could be read.")
        shape, dtype = _image_layout(path, layouts, kept)
    except BaseException:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    if folder is None:
        X = np.stack([_conform(im, shape, dtype) for im in images])
    else:
        chunks = _unspill_images(folder / "decoded.raw", layouts, shape, dtype)
        X = _write_scratch(folder, chunks, len(kept))
        (folder / "decoded.raw").unlink()
    y = None
    if len(classes) > 1:
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[f.parent.relative_to(path).as_posix()] for f in kept])
    return Dataset(
        X,
        "image",
        _integer_range(X),
        y=y,
        name=str(path),
        files=[str(f) for f in kept],
    )


def narrowed_message(path: Path, narrowed: list[Path]) -> str:
    """One warning for the 16-bit colour PNGs of a folder (:func:`read_image`),
    ``narrowed`` holding paths under ``path``."""
    return (
        f"{len(narrowed)} image(s) in {path} (e.g. "
        f"{Path(narrowed[0]).relative_to(path)}) have 16 bits per colour "
        "channel, read at 8 (Pillow reads no more of their format); convert "
        "them to 16-bit TIFFs to keep their full depth."
    )


def _decode_images(files, image_size, strict, kept, skipped, narrowed):
    """Yield the readable images of ``files``; append to ``kept``, ``skipped``
    and ``narrowed`` (:func:`read_image`)."""
    for f in files:
        try:
            im = read_image(f, image_size, narrowed=narrowed)
        except DataError as exc:
            if strict:
                raise
            skipped.append((f, exc))
            continue
        kept.append(f)
        yield im


def _image_layout(path: Path, layouts, files) -> tuple[tuple[int, ...], np.dtype]:
    """The (C, H, W) and dtype that images of these (shape, dtype) stack in,
    with the warning or the error on mixed depths that
    :func:`read_image_folder` describes."""
    shapes = {shape for shape, _ in layouts}
    if len({s[0] for s in shapes}) > 1:
        # Mixed grayscale and colour: promote grayscale to RGB.
        shapes = {(3, *s[1:]) for s in shapes}
    if len(shapes) > 1:
        raise DataError(
            f"The images in {path} have different sizes "
            f"({', '.join(f'{s[2]}x{s[1]}' for s in sorted(shapes)[:4])}); pass "
            "--image-size HxW to resize them to one size."
        )
    dtypes = [np.dtype(dtype) for _, dtype in layouts]
    if len(set(dtypes)) == 1:
        return shapes.pop(), dtypes[0]

    def example(*wanted) -> Path:  # the first image of one of these dtypes
        f = next(f for f, d in zip(files, dtypes, strict=True) if d in wanted)
        return Path(f).relative_to(path)

    if np.float32 in dtypes:
        raise DataError(
            f"The images in {path} mix 32-bit float pixels (e.g. "
            f"{example(np.float32)}) with 8- or 16-bit integer ones (e.g. "
            f"{example(np.uint8, np.uint16)}), whose scales cannot be matched; "
            "convert them all to one type first."
        )
    n8 = dtypes.count(np.dtype(np.uint8))
    warnings.warn(
        f"{path} mixes {n8} 8-bit and {len(dtypes) - n8} 16-bit images (e.g. "
        f"{example(np.uint8)} and {example(np.uint16)}); the 8-bit ones were "
        "scaled to 16 bits (x257: 255 becomes 65535).",
        stacklevel=4,
    )
    return shapes.pop(), np.dtype(np.uint16)


def _conform(im: np.ndarray, shape, dtype) -> np.ndarray:
    if im.shape[0] != shape[0]:
        im = np.repeat(im, shape[0], 0)  # grayscale among colour images
    if im.dtype == np.uint8 and dtype == np.uint16:
        return im.astype(np.uint16) * np.uint16(257)  # 8-bit among 16-bit images
    return im.astype(dtype, copy=False)


def _spill_images(images, raw: Path) -> list:
    """Write each image's bytes to ``raw`` in turn; return their (shape, dtype)."""
    layouts = []
    with open(raw, "wb") as fh:
        for im in images:
            fh.write(np.ascontiguousarray(im).tobytes())
            layouts.append((im.shape, im.dtype))
    return layouts


def _unspill_images(raw: Path, layouts, shape, dtype):
    """Yield chunks of ``CHUNK_IMAGES`` images read back from ``raw``, conformed."""
    with open(raw, "rb") as fh:
        for start in range(0, len(layouts), CHUNK_IMAGES):
            chunk = []
            for s, d in layouts[start : start + CHUNK_IMAGES]:
                im = np.frombuffer(fh.read(int(np.prod(s)) * d.itemsize), d)
                chunk.append(_conform(im.reshape(s), shape, dtype))
            yield np.stack(chunk)


def read_single_image(path: Path, *, image_size=None, **_) -> Dataset:
    im = read_image(path, image_size)
    return Dataset(
        im[None], "image", _integer_range(im), name=str(path), files=[str(path)]
    )


# -- MNIST IDX --------------------------------------------------------------
_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


def read_idx_array(path: Path) -> np.ndarray:
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except PARSE_ERRORS as exc:
        raise DataError(f"{path} is not a readable IDX file ({exc}).") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"{path} does not start with an IDX header.")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"{path} is truncated: its IDX header is incomplete.")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    body = data[4 + 4 * ndim :]
    if len(body) != expected:
        raise DataError(
            f"{path} is truncated or padded: its header promises {expected} bytes of "
            f"data, the file has {len(body)}."
        )
    return (
        np.frombuffer(body, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))
    )


def read_idx(path: Path, **_) -> Dataset:
    path = Path(path)
    X = read_idx_array(path)
    y = None
    labels = Path(str(path).replace("-images-idx3-", "-labels-idx1-"))
    if labels != path and labels.exists():
        y = read_idx_array(labels)
    if X.ndim == 3:
        X = X[:, None]  # (n, 1, H, W)
        kind = "image"
    else:
        kind = _array_kind(X) if X.ndim > 1 else "table"
    return Dataset(X, kind, _integer_range(X), y=y, name=str(path))


# -- dispatch ---------------------------------------------------------------
READERS = {
    ".npy": read_npy,
    ".npz": read_npz,
    ".csv": read_csv,
    ".tsv": read_csv,
    ".tab": read_csv,
    ".txt": read_csv,
    ".parquet": read_parquet,
    ".pq": read_parquet,
}


def _reader_for(path: Path):
    name = path.name.lower()
    if name.endswith("-ubyte") or name.endswith("-ubyte.gz") or ".idx" in name:
        return read_idx
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return read_single_image
    return READERS.get(path.suffix.lower())


def load(
    source,
    *,
    key: str | None = None,
    image_size: tuple[int, int] | None = None,
    strict: bool = False,
    min_samples: int = 1,
    nan_policy: str = "error",
    in_memory: bool | str = "auto",
) -> Dataset:
    """Read ``source``: a built-in name, a file, or a folder of images.

    Parameters
    ----------
    strict : bool
        In a folder of images, fail on the first unreadable image instead of
        skipping it with a warning.
    nan_policy : {"error", "drop", "zero"}
        NaN and inf values: an error saying how many and where, drop the rows
        that hold them, or replace them by 0 (both with a warning).
    in_memory : bool or "auto"
        False reads a Parquet file or a folder of images in chunks into a
        scratch .npy file (float32, or the images' own uint8/uint16) in the
        temp folder (``$TMPDIR``) and returns it memory-mapped, as a .npy file
        is; the file is removed when the array is garbage collected or at exit.
        "auto" does so when the data in float32 would take more than a quarter
        of the available memory, the rule of ``Autoencoder(in_memory="auto")``.

    Raises :class:`aekit.exceptions.DataError` with one clear line on a missing,
    unreadable, empty or non-numeric source, or on NaN/inf values.
    """
    if isinstance(source, Dataset):
        ds = source
    else:
        path = Path(source)
        if str(source) in BUILTINS and not path.exists():
            ds = load_builtin(str(source))
        elif path.is_dir():
            ds = read_image_folder(
                path, image_size=image_size, strict=strict, in_memory=in_memory
            )
        elif not path.exists():
            raise DataError(_unknown_source_message(str(source)))
        elif not path.is_file():
            # A pipe or a device would block or never end.
            raise DataError(
                f"{path} is not a regular file (a pipe, socket or device); save the "
                "data to a file first."
            )
        else:
            reader = _reader_for(path)
            if reader is None:
                raise DataError(
                    f"{path}: unknown format "
                    f"{path.suffix or '(no extension)'!r}. aekit "
                    f"reads {', '.join(sorted(READERS))}, images and MNIST IDX files; "
                    "run 'aekit datasets' for details."
                )
            if not os.access(path, os.R_OK):
                raise DataError(f"{path} cannot be read: permission denied.")
            try:
                ds = reader(
                    path,
                    key=key,
                    image_size=image_size,
                    strict=strict,
                    nan_policy=nan_policy,
                    in_memory=in_memory,
                )
            except PermissionError:
                raise DataError(f"{path} cannot be read: permission denied.") from None
            except IsADirectoryError:
                raise DataError(f"{path} is a folder, not a file.") from None
    if isinstance(ds.X, np.ndarray):  # dtype and shape, before rows are cut
        check_layout(ds.X, ds.name or "The data", min_samples)
    if nan_policy == "error":
        # A memory-mapped file may be larger than memory: check its first rows
        # here; the estimator checks the rest chunk by chunk as it reads them.
        head = ds.X[: max(min_samples, 1)] if isinstance(ds.X, np.memmap) else ds.X
        check_array(head, name=ds.name or "The data", min_samples=min_samples)
        return ds
    # drop/zero need every value (and make an in-memory copy when they act).
    finite = None
    if ds.X.dtype.kind == "f" and len(ds.X):
        finite = np.isfinite(ds.X).reshape(len(ds.X), -1).all(axis=1)
    X = check_array(
        ds.X, name=ds.name or "The data", min_samples=min_samples, nan_policy=nan_policy
    )
    if finite is not None and not finite.all():
        y, files = ds.y, ds.files
        if nan_policy == "drop":  # keep labels and file names aligned with rows
            y = None if y is None else np.asarray(y)[finite]
            if files is not None:
                files = [f for f, k in zip(files, finite, strict=True) if k]
        ds = dataclasses.replace(ds, X=X, y=y, files=files)
    return ds


def describe_formats() -> str:
    lines = ["Built-in data sets:"]
    lines += [f"  {k:<10} {v}" for k, v in BUILTINS.items()]
    lines += [
        "",
        "Files and folders:",
        "  .npy              an array (n, features) or images (n, C, H, W);",
        "                    memory-mapped",
        "  .npz              the only array inside, or the one named with --key",
        "  .csv .tsv .txt    numeric table; a header row is detected",
        "  .parquet          numeric columns",
        "  folder/           PNG/JPEG/BMP/TIFF images, grayscale or RGB, 8 or 16 bit",
        "                    (8-bit among 16-bit ones scaled x257; 16-bit colour",
        "                    PNGs only at 8 bits), or float/32-bit TIFFs, read as",
        "                    float32 values; one size, or resized with",
        "                    --image-size HxW; class subfolders become labels",
        "  *-ubyte[.gz]      MNIST IDX files (labels found beside images)",
        "",
        "Integer data (pixels) is scaled to [0, 1]; the scaling is stored with the",
        "model, so decoded output comes back in your units.",
    ]
    return "\n".join(lines)
