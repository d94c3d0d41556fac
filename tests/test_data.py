"""Readers for every format, on real data, and their error messages."""

from __future__ import annotations

import gzip
import warnings

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from aekit.data import load
from aekit.exceptions import DataError


def test_builtin_digits(digits):
    assert digits.X.shape == (1797, 1, 8, 8)
    assert digits.value_range == (0.0, 16.0)
    assert digits.X.max() == 16 and len(digits.y) == 1797


def test_npy_is_memory_mapped(tmp_path, digits):
    path = tmp_path / "x.npy"
    np.save(path, digits.X.reshape(1797, -1))
    ds = load(path)
    assert isinstance(ds.X, np.memmap)
    np.testing.assert_array_equal(ds.X, digits.X.reshape(1797, -1))


def test_npz_single_and_key(tmp_path):
    np.savez(tmp_path / "one.npz", a=np.ones((3, 2)))
    assert load(tmp_path / "one.npz").X.shape == (3, 2)
    np.savez(tmp_path / "two.npz", a=np.ones((3, 2)), b=np.zeros((4, 5)))
    with pytest.raises(DataError, match="holds 2 arrays .* --key"):
        load(tmp_path / "two.npz")
    assert load(tmp_path / "two.npz", key="b").X.shape == (4, 5)


def test_csv_header_detected_and_tsv(tmp_path):
    (tmp_path / "h.csv").write_text("a,b,c\n1,2,3\n4,5,6\n")
    ds = load(tmp_path / "h.csv")
    assert ds.columns == ["a", "b", "c"]
    np.testing.assert_array_equal(ds.X, [[1, 2, 3], [4, 5, 6]])
    (tmp_path / "n.tsv").write_text("1\t2\n3\t4\n")
    ds = load(tmp_path / "n.tsv")
    assert ds.columns is None and ds.X.shape == (2, 2)


def test_csv_errors_name_the_problem(tmp_path):
    (tmp_path / "s.csv").write_text("a,name,c\n1,x,3\n4,y,6\n")
    with pytest.raises(DataError, match="non-numeric column.*'name'"):
        load(tmp_path / "s.csv")
    (tmp_path / "r.csv").write_text("1,2,3\n4,5\n")
    with pytest.raises(DataError, match="line 2 has 2 fields.*3 columns"):
        load(tmp_path / "r.csv")
    (tmp_path / "nan.csv").write_text("a,b\n1,2\n3,\n5,nan\n")
    with pytest.raises(DataError, match=r"2 NaN, 0 inf\) at row 1 column 1, row 2"):
        load(tmp_path / "nan.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        load(tmp_path / "empty.csv")


def test_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": [1.0, 2.0], "y": [3, 4]}), tmp_path / "t.parquet")
    ds = load(tmp_path / "t.parquet")
    np.testing.assert_array_equal(ds.X, [[1, 3], [2, 4]])
    pq.write_table(pa.table({"x": [1.0, 2.0], "s": ["a", "b"]}), tmp_path / "s.parquet")
    with pytest.raises(DataError, match="non-numeric column.*'s'"):
        load(tmp_path / "s.parquet")


def test_image_folder_gray_rgb_16bit_and_sizes(tmp_path):
    from skimage import data as skdata

    cam = skdata.camera()[:64, :48]
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(cam).save(folder / "a.png")
    Image.fromarray(cam[::-1].copy()).save(folder / "b.jpg")
    ds = load(folder)
    assert ds.X.shape == (2, 1, 64, 48) and ds.X.dtype == np.uint8
    assert ds.value_range == (0.0, 255.0)
    np.testing.assert_array_equal(ds.X[0, 0], cam)  # PNG is lossless

    Image.fromarray(cam[:32]).save(folder / "c.png")
    with pytest.raises(DataError, match="different sizes.*--image-size"):
        load(folder)
    assert load(folder, image_size=(16, 16)).X.shape == (3, 1, 16, 16)

    deep = tmp_path / "deep"
    deep.mkdir()
    Image.fromarray(cam.astype(np.uint16) * 257).save(deep / "d.png")
    ds16 = load(deep)
    assert ds16.X.dtype == np.uint16 and ds16.value_range == (0.0, 65535.0)
    assert int(ds16.X.max()) == int(cam.max()) * 257

    rgb = tmp_path / "rgb"
    rgb.mkdir()
    Image.fromarray(skdata.astronaut()[:32, :32]).save(rgb / "x.png")
    assert load(rgb).X.shape == (1, 3, 32, 32)


def test_corrupt_image_is_skipped_with_warning_or_fails_when_strict(tmp_path):
    from skimage import data as skdata

    Image.fromarray(skdata.camera()[:16, :16]).save(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.warns(UserWarning, match="Skipped 1 unreadable image.*bad.png"):
        assert len(load(tmp_path)) == 1
    with pytest.raises(DataError, match="bad.png is not a readable image"):
        load(tmp_path, strict=True)


def test_idx_gzipped_and_plain(tmp_path, mnist_test):
    assert mnist_test.X.shape == (10000, 1, 28, 28) and mnist_test.X.dtype == np.uint8
    assert len(mnist_test.y) == 10000 and set(np.unique(mnist_test.y)) == set(range(10))
    src = tmp_path / "t10k-images-idx3-ubyte"
    from tests.conftest import MNIST_DIR

    with gzip.open(MNIST_DIR / "t10k-images-idx3-ubyte.gz", "rb") as fh:
        raw = fh.read()
    src.write_bytes(raw)
    np.testing.assert_array_equal(load(src).X, mnist_test.X)
    (tmp_path / "cut-images-idx3-ubyte").write_bytes(raw[:5000])
    with pytest.raises(DataError, match="truncated"):
        load(tmp_path / "cut-images-idx3-ubyte")


def test_missing_unknown_and_empty(tmp_path):
    with pytest.raises(DataError, match="neither an existing file .* built-in"):
        load(tmp_path / "nope.npy")
    with pytest.raises(DataError, match="neither an existing file"):
        load("digitz")
    (tmp_path / "x.xyz").write_text("1")
    with pytest.raises(DataError, match="unknown format '.xyz'"):
        load(tmp_path / "x.xyz")
    np.save(tmp_path / "e.npy", np.zeros((0, 3)))
    with pytest.raises(DataError, match="0 sample"):
        load(tmp_path / "e.npy")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        load(tmp_path / "empty")


# -- Parquet files and image folders too large for memory: read in chunks --------


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """The temp folder scratch files go to, and a record of the ones made."""
    import tempfile

    from aekit.data import readers

    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))  # as $TMPDIR would
    made = []

    def recorded():
        made.append(real())
        return made[-1]

    real = readers._scratch_folder
    monkeypatch.setattr(readers, "_scratch_folder", recorded)
    return folder, made


def _digits_parquet(path, digits, nan_at=None):
    import pyarrow as pa
    import pyarrow.parquet as pq

    X = digits.X.reshape(len(digits), -1)
    cols = {
        f"p{j}": X[:, j].astype(np.float64 if j % 2 else np.int64) for j in range(64)
    }
    cols["odd"] = digits.y % 2 == 1  # a boolean column
    if nan_at is not None:
        cols[f"p{nan_at[1]}"][nan_at[0]] = np.nan
    pq.write_table(pa.table(cols), path, row_group_size=500)
    return path


def test_parquet_in_chunks_equals_in_memory(tmp_path, digits, scratch, monkeypatch):
    from aekit.data import readers

    monkeypatch.setattr(readers, "CHUNK_BYTES", 4 * 65 * 100)  # 100 rows a chunk
    path = _digits_parquet(tmp_path / "d.parquet", digits)
    whole = load(path, in_memory=True)
    chunked = load(path, in_memory=False)
    assert isinstance(chunked.X, np.memmap) and not isinstance(whole.X, np.memmap)
    assert chunked.X.dtype == whole.X.dtype == np.float32
    np.testing.assert_array_equal(chunked.X, whole.X)
    assert chunked.columns == whole.columns and chunked.name == whole.name
    folder, made = scratch
    assert len(made) == 1 and made[0].parent == folder
    assert sorted(p.name for p in made[0].iterdir()) == ["data.npy"]
    del chunked
    import gc

    gc.collect()
    assert list(folder.iterdir()) == [], "the scratch file outlived its array"


def test_parquet_nan_in_a_later_chunk_names_its_row(
    tmp_path, digits, scratch, monkeypatch
):
    from aekit.data import readers

    monkeypatch.setattr(readers, "CHUNK_BYTES", 4 * 65 * 100)
    path = _digits_parquet(tmp_path / "n.parquet", digits, nan_at=(1450, 7))
    tail = r"contains NaN or infinity \(1 NaN, 0 inf\) at row 1450 column 7; drop"
    with pytest.raises(DataError, match=tail):
        load(path, in_memory=True)
    with pytest.raises(DataError, match=r"\(rows 1,400 to 1,499\) " + tail):
        load(path, in_memory=False)
    folder, made = scratch
    assert len(made) == 1 and list(folder.iterdir()) == [], "a stray scratch file"
    # nan_policy='zero' reads on and replaces it, as in memory.
    with pytest.warns(UserWarning, match="Replaced 1 NaN"):
        zeroed = load(path, in_memory=False, nan_policy="zero")
        in_memory = load(path, in_memory=True, nan_policy="zero")
    np.testing.assert_array_equal(zeroed.X, in_memory.X)


def _digit_pngs(folder, digits, n=150, *, late=None):
    """PNGs of the digits in two class subfolders, 4x upscaled to 32x32."""
    for i in range(n):
        sub = folder / ("even" if digits.y[i] % 2 == 0 else "odd")
        sub.mkdir(parents=True, exist_ok=True)
        im = np.kron(digits.X[i, 0], np.ones((4, 4))) * 15
        Image.fromarray(im.astype(np.uint8)).save(sub / f"{i:04d}.png")
    if late is not None:  # sorts after every other file
        late(folder / "odd" / "zz_last.png")
    return folder


def _load_recording_warnings(*args, **kwargs):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load(*args, **kwargs)
    return ds, [str(w.message) for w in caught]


@pytest.mark.parametrize("extra", ["none", "rgb", "16bit"])
def test_image_folder_in_chunks_equals_in_memory(
    tmp_path, digits, scratch, monkeypatch, extra
):
    from skimage import data as skdata

    from aekit.data import readers

    monkeypatch.setattr(readers, "CHUNK_IMAGES", 16)
    folder = _digit_pngs(tmp_path / "imgs", digits)
    if extra == "rgb":  # grayscale among colour images becomes RGB
        Image.fromarray(skdata.astronaut()[:32, :32]).save(folder / "even" / "c.png")
    if extra == "16bit":  # 8-bit among 16-bit images becomes uint16, x257
        deep = skdata.camera()[:32, :32].astype(np.uint16) * 257
        Image.fromarray(deep).save(folder / "odd" / "d.png")
    (folder / "odd" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    whole, warned_whole = _load_recording_warnings(folder, in_memory=True)
    chunked, warned_chunked = _load_recording_warnings(folder, in_memory=False)
    assert isinstance(chunked.X, np.memmap) and not isinstance(whole.X, np.memmap)
    assert chunked.X.dtype == whole.X.dtype and chunked.X.shape == whole.X.shape
    assert whole.X.dtype == (np.uint16 if extra == "16bit" else np.uint8)
    assert whole.X.shape[1] == (3 if extra == "rgb" else 1)
    np.testing.assert_array_equal(chunked.X, whole.X)
    np.testing.assert_array_equal(chunked.y, whole.y)
    assert chunked.files == whole.files and chunked.value_range == whole.value_range
    assert warned_chunked == warned_whole
    assert len(warned_whole) == (2 if extra == "16bit" else 1)
    assert "Skipped 1 unreadable image(s)" in warned_whole[0]
    if extra == "16bit":
        assert "the 8-bit ones were scaled to 16 bits" in warned_whole[1]
        first = np.asarray(Image.open(folder / "even" / "0000.png"))
        np.testing.assert_array_equal(whole.X[0, 0], first.astype(np.uint16) * 257)
    folder_made = scratch[1][0]
    assert sorted(p.name for p in folder_made.iterdir()) == ["data.npy"]


def test_image_folder_errors_late_in_chunks(tmp_path, digits, scratch, monkeypatch):
    from skimage import data as skdata

    from aekit.data import readers

    monkeypatch.setattr(readers, "CHUNK_IMAGES", 16)
    root, made = scratch

    def truncated(path):
        path.write_bytes(b"\x89PNG\r\n\x1a\n truncated")

    folder = _digit_pngs(tmp_path / "cut", digits, late=truncated)
    with pytest.raises(DataError, match="zz_last.png is not a readable image"):
        load(folder, strict=True, in_memory=False)
    ds, warned = _load_recording_warnings(folder, in_memory=False)
    assert isinstance(ds.X, np.memmap) and len(ds) == 150
    assert warned == [f"Skipped 1 unreadable image(s) in {folder}: odd/zz_last.png"]

    def other_size(path):
        Image.fromarray(skdata.camera()[:20, :24]).save(path)

    folder = _digit_pngs(tmp_path / "size", digits, late=other_size)
    with pytest.raises(DataError, match=r"different sizes \(24x20, 32x32\); pass"):
        load(folder, in_memory=False)
    del ds
    import gc

    gc.collect()
    assert len(made) == 3 and list(root.iterdir()) == [], "a stray scratch file"


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.uint16, np.int16, np.int64, np.float32, np.float64]
)
@pytest.mark.parametrize("mode", ["range", "standard", "minmax", "none"])
def test_scaler_on_tensors_equals_scaler_on_arrays(digits, dtype, mode):
    """Scaler.transform_tensor (batches on the device) gives the float32 values
    of Scaler.transform, bit for bit, and never writes to its input."""
    import torch

    from aekit.data.preprocessing import Scaler

    X = np.asarray(digits.X, dtype=dtype)
    if np.issubdtype(dtype, np.floating):
        X = X + np.asarray(0.1, dtype=dtype)  # values that are not integers
    scaler = Scaler(mode).fit(X, (0.0, 16.0) if mode == "range" else None)
    before = X.copy()
    got = scaler.transform_tensor(torch.from_numpy(X)).numpy()
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, scaler.transform(X))
    np.testing.assert_array_equal(X, before)
    # A new array, except float32 input that nothing changes: it is passed on
    # as it is (the caller only reads it).
    unchanged = dtype == np.float32 and mode == "none"
    assert np.shares_memory(got, X) == unchanged


# -- images of other depths, arrays and tables that are not what they seem ----


def test_float_and_32bit_integer_tiffs_keep_their_values(tmp_path):
    """Mode "F" and "I" TIFFs come as float32 with their values (they used to
    be cut to uint8: every pixel of a 0-1 float image became 0)."""
    from skimage import data as skdata

    cam = skdata.camera()[:32, :24]
    unit = (cam / 255).astype(np.float32)
    folder = tmp_path / "float"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.roll(unit, i, axis=0)).save(folder / f"{i}.tif")
    ds = load(folder)
    assert ds.X.dtype == np.float32 and ds.value_range is None
    np.testing.assert_array_equal(ds.X[0, 0], unit)
    small = load(folder, image_size=(16, 12)).X
    assert small.dtype == np.float32 and small.shape == (3, 1, 16, 12)
    assert abs(small.mean() - unit.mean()) < 0.02, f"{small.mean()}, {unit.mean()}"

    counts = cam.astype(np.int32) * 1000  # up to 255,000: beyond 16 bits
    Image.fromarray(counts).save(tmp_path / "counts.tif")
    one = load(tmp_path / "counts.tif")
    assert one.X.dtype == np.float32 and one.value_range is None
    np.testing.assert_array_equal(one.X[0, 0], counts)


def test_16bit_and_float_colour_tiffs_keep_their_values(tmp_path):
    """Pillow opens 16-bit colour TIFFs as 8-bit RGB (3000 became 11) and
    float ones not at all: aekit reads them with tifffile, contiguous or
    planar, alpha dropped."""
    import tifffile

    from aekit.data.readers import read_image
    from aekit.images import encode_image

    rgb = (skdata.astronaut()[:20, :30].astype(np.uint16) * 257).transpose(2, 0, 1)
    rgb[0, 0, 0] = 3000  # not a multiple of 257: the low byte matters
    rgba = np.concatenate([rgb, np.full((1, 20, 30), 65535, np.uint16)])
    tifffile.imwrite(tmp_path / "contig.tif", rgb.transpose(1, 2, 0), photometric="rgb")
    tifffile.imwrite(
        tmp_path / "planar.tif", rgb, photometric="rgb", planarconfig="separate"
    )
    tifffile.imwrite(
        tmp_path / "alpha.tif",
        rgba.transpose(1, 2, 0),
        photometric="rgb",
        extrasamples=[2],
    )
    for name in ("contig.tif", "planar.tif", "alpha.tif"):
        got = read_image(tmp_path / name)
        assert got.dtype == np.uint16, name
        np.testing.assert_array_equal(got, rgb, err_msg=name)
    ds = load(tmp_path / "contig.tif", image_size=(10, 15))
    assert ds.X.dtype == np.uint16 and ds.X.shape == (1, 3, 10, 15)
    assert abs(ds.X.mean() - rgb.mean()) < 0.02 * 65535
    # Written back as TIFF through tifffile: the same 16 bits.
    (tmp_path / "out.tif").write_bytes(encode_image(rgb, ".tif"))
    np.testing.assert_array_equal(read_image(tmp_path / "out.tif"), rgb)
    with pytest.raises(DataError, match="16 bits per colour channel.*write .tif"):
        encode_image(rgb, ".png")
    # Float and 32-bit colour TIFFs, which Pillow cannot open at all.
    unit = (rgb / 65535).astype(np.float32)
    tifffile.imwrite(tmp_path / "float.tif", unit.transpose(1, 2, 0), photometric="rgb")
    got = read_image(tmp_path / "float.tif")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, unit)
    wide = rgb.astype(np.uint32).transpose(1, 2, 0)
    tifffile.imwrite(tmp_path / "u32.tif", wide, photometric="rgb")
    with pytest.raises(DataError, match="u32.tif holds uint32 pixels; aekit reads"):
        read_image(tmp_path / "u32.tif")


def test_16bit_colour_pngs_are_read_at_8_bits_with_a_warning(tmp_path):
    """Pillow reads no more than 8 bits of a 16-bit colour PNG: the loss is
    said, per file, or once for a folder."""
    from aekit.data.readers import read_image
    from aekit.denoising import png_bytes
    from aekit.images import PatchSource

    rgb = (skdata.astronaut()[:8, :10].astype(np.uint16) * 257).transpose(2, 0, 1)
    folder = tmp_path / "pngs"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes(png_bytes(rgb))
    (folder / "c.png").write_bytes(png_bytes((rgb >> 8).astype(np.uint8)))
    with pytest.warns(
        UserWarning, match=r"a.png: 16 bits per colour channel, read at 8"
    ):
        got = read_image(folder / "a.png")
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, rgb >> 8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load(folder)
    messages = [str(w.message) for w in caught]
    assert messages == [
        f"2 image(s) in {folder} (e.g. a.png) have 16 bits per colour channel, "
        "read at 8 (Pillow reads no more of their format); convert them to 16-bit "
        "TIFFs to keep their full depth."
    ]
    assert ds.X.dtype == np.uint8 and ds.X.shape == (3, 3, 8, 10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        PatchSource.from_path(folder, patch_size=4, n_patches=2)
    assert [str(w.message) for w in caught] == messages  # patches: the same
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 8-bit colour: nothing to say
        read_image(folder / "c.png")


def test_16bit_png_that_pillow_opens_as_mode_i_stays_16bit():
    """Older Pillow opens 16-bit PNGs in mode "I": still 16-bit pixels."""
    from aekit.data.readers import _wide_pixels

    im = Image.fromarray(np.arange(64, dtype=np.int32).reshape(8, 8) * 1000)
    assert im.mode == "I"
    im.format = "PNG"
    arr = _wide_pixels(im)
    assert arr.dtype == np.uint16 and int(arr.max()) == 63000


def test_mixed_depth_folders(tmp_path):
    """8-bit among 16-bit images is scaled x257 with a warning naming one of
    each; float among integer images is refused, naming one of each."""
    from skimage import data as skdata

    from aekit.images import PatchSource

    cam = skdata.camera()[:16, :16]
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(cam).save(folder / "a8.png")
    Image.fromarray(cam.astype(np.uint16) * 257).save(folder / "b16.png")
    with pytest.warns(UserWarning, match=r"1 8-bit and 1 16-bit images \(e.g. a8"):
        ds = load(folder)
    assert ds.X.dtype == np.uint16
    np.testing.assert_array_equal(ds.X[0], ds.X[1])  # the same picture

    Image.fromarray((cam / 255).astype(np.float32)).save(folder / "c.tif")
    with pytest.raises(DataError, match=r"float pixels \(e.g. c.tif\).*\(e.g. a8"):
        load(folder)
    # Patches of the folder: refused too, not float pixels cut to 0.
    with pytest.raises(DataError, match="different dtypes"):
        PatchSource.from_path(folder, patch_size=8)


def _npy(tmp_path, name, value):
    np.save(tmp_path / name, value)
    return tmp_path / name


def test_npy_of_no_samples_says_what_is_wrong_in_one_line(tmp_path):
    rng = np.random.default_rng(0)
    cases = [
        (np.float32(3), "scalar.npy: Expected 2D array, got a single number"),
        (rng.random(5), r"1d.npy: Expected 2D array, got 1D array of shape \(5,\)"),
        (np.array(["1.5", "2.5"]), "str.npy holds text .*x.astype"),
        (rng.random((4, 2)) + 1j, "cplx.npy holds complex .* not supported: pass"),
        (
            np.zeros(3, dtype=[("a", "f4"), ("b", "f4")]),
            r"struct.npy is a structured array \(fields a, b\).*structured_to_",
        ),
        (np.zeros((0, 4)), r"rows.npy has 0 sample\(s\).*add rows"),
        (np.zeros((3, 0)), r"cols.npy: Found array with 0 feature\(s\).*give each"),
    ]
    names = ["scalar", "1d", "str", "cplx", "struct", "rows", "cols"]
    for (value, match), name in zip(cases, names, strict=True):
        path = _npy(tmp_path, f"{name}.npy", value)
        for policy in ("error", "drop"):
            with pytest.raises(DataError, match=match) as info:
                load(path, nan_policy=policy)
            text = str(info.value)
            assert "\n" not in text and "[" not in text, text  # no data shown
    # In memory, from the estimator: the same messages, naming X.
    from aekit import Autoencoder

    for X in ([[0.5 + 1j, 2], [3, 4]], np.ones((3, 2)) + 1j):
        with pytest.raises(DataError, match="X holds complex") as info:
            Autoencoder().fit(X)
        assert "[" not in str(info.value), str(info.value)


def test_0d_npy_fails_in_one_line_on_the_cli(tmp_path):
    from click.testing import CliRunner

    from aekit.cli.main import cli

    path = _npy(tmp_path, "scalar.npy", np.float32(3))
    r = CliRunner().invoke(cli, ["fit", str(path), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2, r.output
    assert "a single number (a 0-d array)" in r.output
    assert "Traceback" not in r.output and r.output.count("\n") == 1, r.output


def test_tables_with_another_separator_say_so(tmp_path):
    X = np.random.default_rng(0).random((10, 64))
    np.savetxt(tmp_path / "x.txt", X)  # numpy's default: spaces
    with pytest.raises(DataError, match="x.txt looks separated by spaces, not com"):
        load(tmp_path / "x.txt")
    np.savetxt(tmp_path / "t.csv", X, delimiter="\t")
    with pytest.raises(DataError, match="tabs, not commas.*Rename it to .tsv"):
        load(tmp_path / "t.csv")
    (tmp_path / "s.csv").write_text("a;b;c\n1,5;2,5;3\n4;5;6\n")  # decimal commas
    with pytest.raises(DataError, match="semicolons, not commas: .* 3 fields") as info:
        load(tmp_path / "s.csv")
    assert len(str(info.value)) < 300, str(info.value)
    np.savetxt(tmp_path / "c.tsv", X, delimiter=",")
    with pytest.raises(DataError, match="commas, not tabs.*Rename it to .csv"):
        load(tmp_path / "c.tsv")
    # A text column with spaces in a comma table is a text column.
    (tmp_path / "n.csv").write_text("first name,age\nAda King,36\nAlan T,41\n")
    with pytest.raises(DataError, match="non-numeric column.*'first name'"):
        load(tmp_path / "n.csv")
    # Names echoed in a message are cut short.
    header = ",".join(f"c{i}_" + "x" * 200 for i in range(8))
    (tmp_path / "h.csv").write_text(header + "\n" + ",".join("a" * 8) + "\n")
    with pytest.raises(DataError, match=r"'c0_x+\.\.\.', .*, \.\.\.; drop") as info:
        load(tmp_path / "h.csv")
    assert len(str(info.value)) < 400, str(info.value)


def test_empty_npz_says_it_is_empty(tmp_path):
    np.savez(tmp_path / "e.npz")
    with pytest.raises(DataError, match=r"e.npz is empty: it holds no arrays"):
        load(tmp_path / "e.npz")


def test_image_size_too_large_for_memory_is_one_error_not_a_skip(tmp_path, monkeypatch):
    """A --image-size whose resized image cannot fit is refused before the
    resize (the kernel killed the process), naming the memory it needs; a
    folder does not skip its images as unreadable for it."""
    import aekit.data.sources
    from aekit.exceptions import ConfigError

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(folder / f"{i}.png")
    monkeypatch.setattr(aekit.data.sources, "allocatable_memory", lambda: 1 << 20)
    # 2 copies x 4 bytes x 1 band x 256 x 256 = 0.5 MiB: fits; 512 x 512 does not.
    assert load(str(folder), image_size=(256, 256)).X.shape == (2, 1, 256, 256)
    for path in (folder, folder / "0.png"):
        with pytest.raises(ConfigError, match=r"needs 2\.0 MiB .* 1\.0 MiB available"):
            load(str(path), image_size=(512, 512))
