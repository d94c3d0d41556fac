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


def test_streaming_from_disk_matches_in_memory(tmp_path, digits):
    """in_memory=False reads batches from the .npy file and learns the same model."""
    path = _digits_npy(tmp_path, digits)
    X = np.load(path, mmap_mode="r")
    kw = dict(code_size=4, hidden=(32,), epochs=3, random_state=0, scaling="standard")
    streamed = Autoencoder(in_memory=False, **kw).fit(X)
    loaded = Autoencoder(in_memory=True, **kw).fit(np.asarray(X))
    np.testing.assert_allclose(
        streamed.scaler_.offset, loaded.scaler_.offset, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(streamed.scaler_.scale, loaded.scaler_.scale, rtol=1e-4)
    a = [r["train_loss"] for r in streamed.history_]
    b = [r["train_loss"] for r in loaded.history_]
    np.testing.assert_allclose(a, b, rtol=1e-4), (a, b)
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
    assert abs(a - b) / a < 0.05, f"fp32 {a:.5f} vs {precision} {b:.5f}"


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
    import json, sys, numpy as np, torch
    torch.set_num_threads(1)
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


RSS_CHILD = textwrap.dedent(
    """
    import resource, sys, numpy as np, torch
    torch.set_num_threads(1)
    from aekit import Autoencoder
    X = np.load(sys.argv[1], mmap_mode="r")
    ae = Autoencoder(code_size=8, hidden=(32,), epochs=1, batch_size=8192,
                     in_memory="auto", random_state=0, device="cpu").fit(X)
    assert np.isfinite(ae.history_[-1]["train_loss"])
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    """
)


@pytest.mark.slow
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
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    # Force streaming even on a machine with lots of free memory.
    code = RSS_CHILD.replace('in_memory="auto"', "in_memory=False")
    r = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    peak = int(r.stdout.split()[-1])
    size = path.stat().st_size
    assert peak < 700 * 2**20 < size / 2.9, (
        f"peak RSS {peak / 2**20:.0f} MiB for a {size / 2**30:.2f} GiB file "
        f"(available memory {available_memory() / 2**30:.1f} GiB)"
    )
