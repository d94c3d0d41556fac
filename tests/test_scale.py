"""Scale: streaming from disk, mixed precision, compile, torchrun with gloo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from aekit import Autoencoder

REPO = Path(__file__).resolve().parents[1]


def _digits_npy(tmp_path, digits):
    path = tmp_path / "digits.npy"
    np.save(path, (digits.X.reshape(len(digits), -1)).astype(np.float32) / 16.0)
    return path


def test_streaming_from_disk_matches_in_memory(tmp_path, digits, monkeypatch):
    """in_memory=False reads batches from the .npy file and learns the same model."""
    from aekit.data.sources import NpyFile

    path = _digits_npy(tmp_path, digits)
    X = np.load(path, mmap_mode="r")
    kw = dict(code_size=4, hidden=(32,), epochs=3, random_state=0, scaling="standard")
    reads, rows = [], NpyFile.rows
    monkeypatch.setattr(
        NpyFile,
        "rows",
        lambda self, idx: (reads.append(len(idx)), rows(self, idx))[1],
    )
    streamed = Autoencoder(in_memory=False, **kw).fit(X)
    n_streamed = len(reads)
    loaded = Autoencoder(in_memory=True, **kw).fit(np.asarray(X))
    # Every training row was read from the file, epoch after epoch, in batches;
    # the in-memory fit read none.
    n_train = len(X) - len(streamed.validation_indices_)
    assert sum(reads[:n_streamed]) >= 3 * n_train and len(reads) == n_streamed
    np.testing.assert_allclose(
        streamed.scaler_.offset, loaded.scaler_.offset, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(streamed.scaler_.scale, loaded.scaler_.scale, rtol=1e-4)
    a = [r["train_loss"] for r in streamed.history_]
    b = [r["train_loss"] for r in loaded.history_]
    np.testing.assert_allclose(a, b, rtol=1e-4, err_msg=str((a, b)))
    np.testing.assert_allclose(streamed.transform(X), loaded.transform(X), atol=1e-4)


def test_streaming_reports_nan_in_a_later_chunk(tmp_path):
    X = np.random.default_rng(0).random((70000, 3)).astype(np.float32)
    X[69000, 2] = np.nan
    np.save(tmp_path / "x.npy", X)
    from aekit.exceptions import DataError

    with pytest.raises(DataError, match="1 NaN"):
        Autoencoder(in_memory=False, epochs=1, validation_fraction=0.0).fit(
            np.load(tmp_path / "x.npy", mmap_mode="r")
        )


@pytest.mark.parametrize("precision", ["bf16"])
def test_mixed_precision_stays_finite_and_close(digits, precision):
    X = digits.X.reshape(len(digits), -1) / 16.0
    kw = dict(code_size=8, hidden=(64,), epochs=5, random_state=0)
    full = Autoencoder(**kw).fit(X)
    mixed = Autoencoder(precision=precision, **kw).fit(X)
    assert all(np.isfinite(r["train_loss"]) for r in mixed.history_)
    a, b = full.history_[-1]["val_loss"], mixed.history_[-1]["val_loss"]
    assert a != b, "the same loss as fp32: was bf16 used at all?"
    assert abs(a - b) / a < 0.01, f"fp32 {a:.5f} vs {precision} {b:.5f}"


def test_fp16_needs_cuda(digits):
    from aekit.exceptions import ConfigError

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="fp16' needs a CUDA device"):
        Autoencoder(precision="fp16", epochs=1, device="cpu").fit(
            digits.X.reshape(len(digits), -1)
        )


@pytest.mark.slow
def test_compile_stays_finite_and_close(digits):
    X = digits.X.reshape(len(digits), -1) / 16.0
    kw = dict(code_size=8, hidden=(64,), epochs=3, random_state=0)
    eager = Autoencoder(**kw).fit(X)
    compiled = Autoencoder(compile=True, **kw).fit(X)
    a = [r["train_loss"] for r in eager.history_]
    b = [r["train_loss"] for r in compiled.history_]
    np.testing.assert_allclose(a, b, rtol=1e-3)


DDP_SCRIPT = textwrap.dedent(
    """
    import atexit, json, os, sys, numpy as np, torch
    import torch.distributed as dist
    torch.set_num_threads(1)
    def still_joined():  # registered first, so it runs after aekit's handler
        if "RANK" in os.environ:  # under torchrun
            task, names = "/proc/self/task", None  # the process's threads (Linux)
            if os.path.isdir(task):
                names = sorted(
                    open(f"{task}/{t}/comm").read().strip() for t in os.listdir(task)
                )
            with open(f"{sys.argv[2]}.exit{os.environ['RANK']}", "w") as fh:
                json.dump([dist.is_initialized(), names], fh)
    atexit.register(still_joined)
    from aekit.model import AutoencoderModule, default_spec
    from aekit.training import Trainer, TrainerConfig
    from aekit.training.distributed import is_main_process
    x = torch.from_numpy(np.load(sys.argv[1]))
    torch.manual_seed(0)
    spec = {**default_spec(), "architecture": {"kind": "dense", "hidden": (32,)},
            "latent": {"kind": "deterministic", "code_size": 4}}
    model = AutoencoderModule(spec, (64,))
    cfg = TrainerConfig(epochs=3, batch_size=64, seed=0, patience=None,
                        lr_schedule="constant", device="cpu")
    hist = Trainer(cfg).fit(model, x[:1600], x[1600:])
    if is_main_process():
        with open(sys.argv[2], "w") as fh:
            json.dump([r["train_loss"] for r in hist], fh)
    """
)


def test_torchrun_gloo_matches_single_process(tmp_path, digits):
    """2 processes x 32 rows = 1 process x 64 rows: the same loss per epoch."""
    data = tmp_path / "x.npy"
    np.save(data, (digits.X.reshape(len(digits), -1) / 16.0).astype(np.float32))
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    single = tmp_path / "single.json"
    subprocess.run(
        [sys.executable, script, data, single], check=True, env=env, timeout=300
    )
    multi = tmp_path / "multi.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            "2",
            "--master-port",
            "0",
            "--rdzv-backend",
            "c10d",
            "--rdzv-endpoint",
            "localhost:0",
            script,
            data,
            multi,
        ],
        env=env,
        timeout=300,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = json.loads(single.read_text()), json.loads(multi.read_text())
    # Same global batches and averaged gradients: equal up to float reordering.
    np.testing.assert_allclose(b, a, rtol=2e-3)
    # The group aekit joined is left at exit, before the interpreter's
    # teardown, and its threads with it: nothing holds it any more.
    for rank in (0, 1):
        joined, threads = json.loads((tmp_path / f"multi.json.exit{rank}").read_text())
        assert joined is False
        if threads is not None:  # None: no /proc to list them (not Linux)
            assert not [t for t in threads if "gloo" in t], threads


# Prepended to every child that measures its own memory. Its peak is VmHWM:
# getrusage's ru_maxrss in a child that subprocess starts (vfork, then exec)
# begins at the parent's peak.
PEAK_RSS = textwrap.dedent(
    """
    def peak_rss():  # this process's peak resident memory, in bytes
        with open("/proc/self/status") as fh:
            kib = next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM"))
        return kib * 1024

    def reset_peak():  # start the peak over from the current RSS (Linux 4.0+);
        try:  # where that fails, the baseline is the peak so far: a looser bound
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            pass
    """
)


def _child_output(code: str, *argv, timeout: int = 300, **env) -> list[str]:
    """Run ``code`` after PEAK_RSS in a fresh Python on one thread; the words of
    the last line it prints."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "OMP_NUM_THREADS": "1",
        **env,
    }
    r = subprocess.run(
        [sys.executable, "-c", PEAK_RSS + code, *map(str, argv)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.splitlines()[-1].split()


RSS_CHILD = textwrap.dedent(
    """
    import sys, numpy as np, torch
    torch.set_num_threads(1)
    from aekit import Autoencoder
    X = np.load(sys.argv[1], mmap_mode="r")
    ae = Autoencoder(code_size=8, hidden=(32,), epochs=1, batch_size=8192,
                     in_memory="auto", random_state=0, device="cpu").fit(X)
    assert np.isfinite(ae.history_[-1]["train_loss"])
    print(peak_rss())
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_fit_on_npy_larger_than_peak_memory(tmp_path):
    """A 2 GiB float32 .npy trains with a peak RSS under 700 MiB (< 1/3 of it)."""
    from aekit.data.sources import available_memory

    path = tmp_path / "big.npy"
    rows, cols = 2 * 2**30 // (4 * 128), 128
    out = np.lib.format.open_memmap(path, "w+", np.float32, (rows, cols))
    rng = np.random.default_rng(0)
    for i in range(0, rows, 2**18):
        out[i : i + 2**18] = rng.random((min(2**18, rows - i), cols), np.float32)
    out.flush()
    del out
    # Force streaming even on a machine with lots of free memory.
    code = RSS_CHILD.replace('in_memory="auto"', "in_memory=False")
    (peak,) = map(int, _child_output(code, path, timeout=1800))
    size = path.stat().st_size
    assert peak < 700 * 2**20 < size / 2.9, (
        f"peak RSS {peak / 2**20:.0f} MiB for a {size / 2**30:.2f} GiB file "
        f"(available memory {available_memory() / 2**30:.1f} GiB)"
    )


IN_MEMORY_CHILD = textwrap.dedent(
    """
    import sys, numpy as np, torch
    torch.set_num_threads(1)
    from aekit import Autoencoder
    X = np.random.default_rng(0).integers(0, 256, (150_000, 784), dtype=np.uint8)
    Autoencoder(code_size=8, hidden=(64,), epochs=1, random_state=0).fit(X[:500])
    reset_peak()
    with open("/proc/self/status") as fh:
        rss = next(int(ln.split()[1]) for ln in fh if ln.startswith("VmRSS")) * 1024
    ae = Autoencoder(code_size=8, hidden=(64,), epochs=1, batch_size=512,
                     validation_fraction=float(sys.argv[1]), random_state=0,
                     device="cpu").fit(X)
    assert np.isfinite(ae.history_[-1]["train_loss"])
    print(peak_rss() - rss, X.nbytes)
    """
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
@pytest.mark.parametrize("validation", [0.1, 0.0])
def test_in_memory_uint8_fit_makes_no_float32_copy_of_the_data(validation):
    """uint8 rows are scaled batch by batch as the trainer draws them: the fit
    holds the training rows once more as uint8 (the split; none without
    validation) and the held-out tenth in float32, not a float32 copy of all
    of them (4 times the data)."""
    grew, size = map(int, _child_output(IN_MEMORY_CHILD, validation))
    # With validation: the split (0.9) and the scaled validation rows
    # (0.1 x 4), 1.3 times the data, plus the model, its batches and the
    # allocator's slack: 1.9 in all here; a float32 copy of the training rows
    # made it 5.4. Without validation: 0.56 here, 5.6 with the copies.
    limit = 3.0 if validation else 1.5
    assert grew < limit * size, f"peak grew by {grew / size:.2f} times the data"


# -- chunked outputs: apply_to_file ---------------------------------------------


@pytest.fixture(scope="module")
def small_digits_model(digits):
    X = (digits.X.reshape(len(digits), -1) / 16.0).astype(np.float32)
    ae = Autoencoder(code_size=4, hidden=(16,), epochs=3, random_state=0).fit(X)
    return ae, X


def _temps(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp"))


@pytest.mark.parametrize(
    "method", ["transform", "reconstruct", "denoise", "inverse_transform"]
)
def test_chunked_npy_output_equals_in_memory(tmp_path, small_digits_model, method):
    from aekit.data import load
    from aekit.workflows import apply_to_file

    ae, X = small_digits_model
    if method == "inverse_transform":
        X = ae.transform(X)
    np.save(tmp_path / "x.npy", X)
    X_disk = load(tmp_path / "x.npy").X  # memory-mapped, as the CLI reads it
    assert isinstance(X_disk, np.memmap)
    # 1797 rows in chunks of 500: three full chunks and a partial one.
    shape = apply_to_file(ae, method, X_disk, tmp_path / "out.npy", chunk_size=500)
    got = np.load(tmp_path / "out.npy")
    want = getattr(ae, method)(X)
    assert shape == want.shape == got.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert _temps(tmp_path) == []


def test_chunked_output_warns_once_with_the_in_memory_verdict(
    tmp_path, small_digits_model
):
    import warnings

    from aekit.guard import DataGuardWarning
    from aekit.workflows import apply_to_file

    ae, X = small_digits_model
    noise = np.random.default_rng(0).random((3000, 64), np.float32) * 4

    def guard_warnings(fn, *args, **kwargs):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fn(*args, **kwargs)
        return [str(w.message) for w in caught if w.category is DataGuardWarning]

    for method in ("transform", "reconstruct"):
        out = tmp_path / f"{method}.npy"
        # 3000 rows in 6 chunks: one warning, worded as the in-memory one.
        got = guard_warnings(apply_to_file, ae, method, noise, out, chunk_size=500)
        want = guard_warnings(getattr(ae, method), noise)
        assert len(got) == 1 and got == want, (got, want)
        assert ae.guard is True  # switched back on after the chunks
        assert guard_warnings(apply_to_file, ae, method, X, out, chunk_size=500) == []
    ae.guard = False
    try:
        assert guard_warnings(apply_to_file, ae, "reconstruct", noise, out) == []
    finally:
        ae.guard = True


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failure_in_a_later_chunk_leaves_no_output_and_no_temp(
    tmp_path, small_digits_model, monkeypatch, error
):
    from aekit.workflows import apply_to_file

    ae, X = small_digits_model
    real, calls = Autoencoder.reconstruct, []

    def fails_second_time(self, Xc):
        calls.append(len(Xc))
        if len(calls) == 2:
            raise error("in the second chunk")
        return real(self, Xc)

    monkeypatch.setattr(Autoencoder, "reconstruct", fails_second_time)
    out = tmp_path / "sub" / "r.npy"
    with pytest.raises(error, match="second chunk"):
        apply_to_file(ae, "reconstruct", X, out, chunk_size=500)
    assert calls == [500, 500]
    assert not out.exists() and _temps(out.parent) == []
    # An older file at the destination stays as it was.
    np.save(out, np.zeros(3))
    before, calls[:] = out.read_bytes(), []
    with pytest.raises(error, match="second chunk"):
        apply_to_file(ae, "reconstruct", X, out, chunk_size=500)
    assert out.read_bytes() == before and _temps(out.parent) == []


@pytest.mark.skipif(not hasattr(os, "posix_fallocate"), reason="needs fallocate")
def test_full_disk_fails_before_the_memory_map(
    tmp_path, small_digits_model, monkeypatch
):
    """The output's space is reserved first: a full disk is a WriteError, not
    the SIGBUS a write into a memory map of a sparse file would get."""
    import errno

    from aekit.exceptions import WriteError
    from aekit.workflows import apply_to_file

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    ae, X = small_digits_model
    out = tmp_path / "r.npy"
    with pytest.raises(WriteError, match="No space left on device"):
        apply_to_file(ae, "reconstruct", X, out, chunk_size=500)
    assert not out.exists() and _temps(tmp_path) == []


def test_nan_in_a_later_chunk_names_its_row(tmp_path, small_digits_model):
    from aekit.exceptions import DataError
    from aekit.workflows import apply_to_file

    ae, X = small_digits_model
    bad = X.copy()
    bad[1234, 5] = np.nan
    out = tmp_path / "z.npy"
    with pytest.raises(DataError, match=r"rows 1,000 to 1,499\) .* at row 1234 col"):
        apply_to_file(ae, "transform", bad, out, chunk_size=500)
    assert not out.exists() and _temps(tmp_path) == []


RSS_APPLY_CHILD = textwrap.dedent(
    """
    import sys, numpy as np, torch
    torch.set_num_threads(1)
    import aekit
    from aekit.data import load
    from aekit.workflows import apply_to_file

    run, data, folder, chunk = sys.argv[1:5]  # chunk 0: the default size
    model = aekit.load(run)
    X = load(data).X  # memory-mapped, as the CLI reads it
    model.transform(np.asarray(X[:2048]))  # warm up torch before the baseline
    reset_peak()
    base = peak_rss()
    for method in ("reconstruct", "transform"):
        apply_to_file(model, method, X, f"{folder}/{method}.npy",
                      chunk_size=int(chunk) or None, progress=False)
    print(base, peak_rss())
    """
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_reconstruct_npy_larger_than_the_memory_it_uses(tmp_path):
    """Reconstructing (and encoding) a 512 MiB float32 .npy in chunks of the
    default size grows the peak RSS by under 128 MiB, a quarter of the input
    (and of the reconstruction); about 70 MiB on a 2-core Linux machine.

    The bound is on the growth past a baseline taken after loading the model,
    because importing torch alone takes some 300 MiB. Reading the input through
    its memory map, or writing the output through one map, each added about
    600 MiB when tried; one chunk of all rows added 2.5 GiB.
    """
    rows, cols = 2**19, 256  # 512 MiB of float32
    rng = np.random.default_rng(0)
    ae = Autoencoder(code_size=4, hidden=(16,), epochs=1, random_state=0)
    ae.fit(rng.random((2000, cols), np.float32)).save(tmp_path / "run")
    path = tmp_path / "big.npy"
    big = np.lib.format.open_memmap(path, "w+", np.float32, (rows, cols))
    for i in range(0, rows, 2**16):
        big[i : i + 2**16] = rng.random((2**16, cols), np.float32)
    big.flush()
    del big
    argv = [tmp_path / "run", path, tmp_path, 0]
    base, peak = map(int, _child_output(RSS_APPLY_CHILD, *argv))
    size = path.stat().st_size
    assert peak - base < 128 * 2**20 <= size / 4, (
        f"peak RSS grew by {(peak - base) / 2**20:.0f} MiB (from "
        f"{base / 2**20:.0f} MiB) for a {size / 2**20:.0f} MiB input"
    )
    recon = np.load(tmp_path / "reconstruct.npy", mmap_mode="r")
    codes = np.load(tmp_path / "transform.npy", mmap_mode="r")
    assert recon.shape == (rows, cols) and codes.shape == (rows, 4)
    X = np.load(path, mmap_mode="r")
    for i in (0, rows // 2, rows - 100):
        part = np.asarray(X[i : i + 100])
        np.testing.assert_allclose(recon[i : i + 100], ae.reconstruct(part), atol=1e-5)
        np.testing.assert_allclose(codes[i : i + 100], ae.transform(part), atol=1e-5)
    assert _temps(tmp_path) == []


# A fit in memory holds the data about once as float32, plus the model.
RSS_FIT_CHILD = textwrap.dedent(
    """
    import sys, numpy as np, torch
    torch.set_num_threads(1)
    from sklearn.datasets import load_digits
    from aekit import Autoencoder

    X = load_digits().data.astype(np.uint8)
    X = X[np.arange(int(sys.argv[1])) % len(X)]  # uint8, as images come
    Autoencoder(code_size=4, hidden=(16,), epochs=1, random_state=0).fit(X[:500])
    reset_peak()
    base = peak_rss()
    Autoencoder(code_size=4, hidden=(16,), epochs=1, batch_size=1024,
                random_state=0).fit(X)
    print(base, peak_rss())
    """
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_fit_in_memory_holds_the_data_about_once():
    """Fitting 400,000 rows of 64 uint8 pixels (98 MiB as float32) grows the
    peak RSS by under 2.5x the float32 data: the scaled training copy, the
    uint8 split and the model. Reconstruction-error statistics over the whole
    reconstruction in float64 once took 8x (a 1M-row MNIST fit ran out of 24 GB).
    """
    rows = 400_000
    base, peak = map(int, _child_output(RSS_FIT_CHILD, rows))
    data = rows * 64 * 4
    assert peak - base < 2.5 * data, (
        f"peak RSS grew by {(peak - base) / 2**20:.0f} MiB for "
        f"{data / 2**20:.0f} MiB of float32 data"
    )


# -- chunked inputs: Parquet files read into a scratch .npy ------------------------

RSS_PARQUET_CHILD = textwrap.dedent(
    """
    import sys, numpy as np, torch
    torch.set_num_threads(1)
    import pyarrow.parquet
    from aekit import Autoencoder
    from aekit.data import load

    x = np.random.default_rng(0).random((500, 64), np.float32)
    Autoencoder(code_size=4, hidden=(16,), epochs=1, random_state=0).fit(x)
    reset_peak()
    base = peak_rss()
    ds = load(sys.argv[1], in_memory=False)
    read = peak_rss()
    ae = Autoencoder(code_size=4, hidden=(16,), epochs=1, batch_size=8192,
                     in_memory=False, random_state=0, device="cpu").fit(ds)
    assert np.isfinite(ae.history_[-1]["train_loss"])
    print(ds.X.filename, base, read, peak_rss())
    """
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_fit_on_parquet_larger_than_the_memory_it_uses(tmp_path):
    """Reading a 512 MiB Parquet file (2M rows, 64 float32 columns) in chunks
    grows the peak RSS by under 64 MiB, an eighth of it (about 40 MiB on a
    2-core Linux machine; reading it whole takes twice the data), and a
    streamed fit of one epoch on it by under 256 MiB in all: the fit's own
    streaming takes about 130 MiB here, as it does on a .npy file.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, cols = 2**21, 64  # 512 MiB of float32
    path = tmp_path / "big.parquet"
    names = [f"c{j}" for j in range(cols)]
    block = np.random.default_rng(0).random((2**16, cols), np.float32)
    schema = pa.schema([(name, pa.float32()) for name in names])
    with pq.ParquetWriter(path, schema, compression="none") as writer:
        for i in range(rows // 2**16):  # shifted copies of one block: quicker
            x = block + np.float32(i / 32)
            writer.write_table(pa.table(dict(zip(names, x.T, strict=True))))
    # The scratch file goes to TMPDIR, and must be removed.
    scratch, *sizes = _child_output(RSS_PARQUET_CHILD, path, TMPDIR=str(tmp_path))
    base, read, peak = map(int, sizes)
    data = rows * cols * 4
    assert read - base < 64 * 2**20 <= data / 8, (
        f"reading grew the peak RSS by {(read - base) / 2**20:.0f} MiB "
        f"(from {base / 2**20:.0f} MiB) for {data / 2**20:.0f} MiB of data"
    )
    assert peak - base < 256 * 2**20 <= data / 2, (
        f"reading and fitting grew the peak RSS by {(peak - base) / 2**20:.0f} MiB "
        f"(reading: {(read - base) / 2**20:.0f} MiB) for {data / 2**20:.0f} MiB"
    )
    assert Path(scratch).parent.parent == tmp_path
    assert not Path(scratch).parent.exists(), "the scratch file outlived the run"


def test_auto_precision_follows_the_hardware(monkeypatch):
    """precision="auto": bf16 on a CPU with native bf16, fp32 on one without."""
    from aekit.training import trainer

    cpu = torch.device("cpu")
    monkeypatch.setattr(trainer, "cpu_has_native_bf16", lambda: True)
    assert trainer.autocast_dtype("auto", cpu) is torch.bfloat16
    monkeypatch.setattr(trainer, "cpu_has_native_bf16", lambda: False)
    assert trainer.autocast_dtype("auto", cpu) is None
    assert trainer.autocast_dtype("fp32", cpu) is None
