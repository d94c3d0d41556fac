"""Faults: divergence, Ctrl-C, SIGKILL, a full disk, determinism across processes.

The signal tests run the real CLI in subprocesses (``python -m aekit fit``) and
send real signals; the disk tests inject an ``ENOSPC`` failure into the atomic
writer or set a real file-size limit (``RLIMIT_FSIZE``) on this process.
"""

from __future__ import annotations

import errno
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

import aekit
from aekit import Autoencoder
from aekit.cli import cli
from aekit.exceptions import TrainingError, WriteError
from aekit.training.checkpoint import load_checkpoint

SRC = Path(__file__).resolve().parents[1] / "src"
CKPT = "checkpoint.safetensors"
# A small fit on the built-in digits; early stopping (patience 10) may act.
FIT_ARGS = ["--code-size", "3", "--hidden", "16", "--seed", "7", "-q"]


def _fit_argv(out: Path, epochs: int) -> list[str]:
    return ["fit", "digits", "--out", str(out), "--epochs", str(epochs), *FIT_ARGS]


def _default_sigint() -> None:
    # A shell without job control starts background commands with SIGINT
    # ignored, and Python then never turns it into KeyboardInterrupt: give
    # the child the default disposition, whoever started the tests.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _spawn(out: Path, epochs: int, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "aekit", *_fit_argv(out, epochs), *extra]
    return subprocess.Popen(
        argv,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "model.safetensors")


def _assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), (
            f"{k} differs: max diff {(wa[k].double() - wb[k].double()).abs().max()}"
        )


def _checkpoint_epoch(path: Path) -> int | None:
    try:
        return load_checkpoint(path)["state"]["epoch"] + 1
    except Exception:
        return None


EPOCHS = 20


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Two uninterrupted runs, each in its own process, with the same seed."""
    root = tmp_path_factory.mktemp("reference")
    procs = [_spawn(root / name, EPOCHS) for name in ("a", "b")]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    return {"a": root / "a", "b": root / "b"}


def _epoch_seconds(run: Path) -> float:
    """The median wall time of one of the run's epochs (history.csv)."""
    import csv

    with open(run / "history.csv") as fh:
        return float(np.median([float(r["seconds"]) for r in csv.DictReader(fh)]))


def test_same_seed_same_weights_across_processes(reference):
    _assert_same_weights(reference["a"], reference["b"])
    hist = (reference["a"] / "history.csv").read_text().splitlines()
    assert len(hist) > 2  # it trained


def _interrupt_with_sigint(out: Path) -> None:
    """Start a fit, send SIGINT mid-run (past epoch 2), check what it says."""
    p = _spawn(out, EPOCHS)
    deadline = time.monotonic() + 600
    while (_checkpoint_epoch(out / CKPT) or 0) < 2:
        assert p.poll() is None, "the fit ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=600)
    assert p.returncode == 130, err
    assert "Traceback" not in err
    done = _checkpoint_epoch(out / CKPT)
    assert done is not None and 2 <= done < EPOCHS
    assert f"aekit: interrupted; epoch {done} is saved" in err and "--resume" in err
    assert not (out / "config.json").exists()  # no half-written run folder


def _history(run: Path) -> list[dict]:
    """history.csv without the wall-clock column."""
    import csv

    with open(run / "history.csv") as fh:
        return [
            {k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(fh)
        ]


def _kill_and_inspect(out: Path, rng: random.Random, window: float) -> str:
    """Start (or resume) the fit; once it has saved an epoch of its own, so
    that it is training and not still starting up, SIGKILL it at a random
    moment in the next ``window`` seconds: in an epoch or in a checkpoint's
    write. Then check that whatever it left loads."""
    before = _checkpoint_epoch(out / CKPT) or 0
    resume = (out / "fit.json").exists()
    p = _spawn(out, EPOCHS, *(["--resume"] if resume else []))
    deadline = time.monotonic() + 600
    while (_checkpoint_epoch(out / CKPT) or 0) <= before:
        assert p.poll() is None, "the fit ended before it saved an epoch"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    time.sleep(rng.uniform(0.0, window))
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=600)
    assert p.returncode == -signal.SIGKILL, "the fit ended before it was killed"
    # Whatever is left must load: the checkpoint, and a run folder if complete.
    if (out / CKPT).exists():
        ckpt = load_checkpoint(out / CKPT)
        assert 1 <= ckpt["state"]["epoch"] + 1 <= EPOCHS
    if (out / "config.json").exists():
        assert aekit.load(out).transform(np.zeros((1, 1, 8, 8))).shape == (1, 3)
    return f"rc={p.returncode} ckpt={_checkpoint_epoch(out / CKPT)}"


def _finish_and_compare(out: Path, reference, log) -> None:
    p = _spawn(out, EPOCHS, *(["--resume"] if (out / "fit.json").exists() else []))
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, (err, log)
    _assert_same_weights(out, reference["a"])
    assert _history(out) == _history(reference["a"])
    assert not (out / CKPT).exists()
    assert not list(out.glob(".*.tmp")), "temp files were left behind"


def test_sigint_then_sigkill_then_resume_is_bit_identical(reference, tmp_path):
    """Ctrl-C mid-run: exit 130 and a checkpoint; then --resume, killed with
    SIGKILL at a random moment of its training; then --resume to the end: the
    weights and the history equal the uninterrupted run's, bit for bit."""
    out = tmp_path / "run"
    _interrupt_with_sigint(out)
    window = 3 * _epoch_seconds(reference["a"])
    log = [_kill_and_inspect(out, random.Random(20261129), window)]
    _finish_and_compare(out, reference, log)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_sigkill_many_times(reference, tmp_path, seed):
    rng = random.Random(seed)
    out = tmp_path / "run"
    window = 2 * _epoch_seconds(reference["a"])  # 6 kills, 20 epochs: room for all
    log = [_kill_and_inspect(out, rng, window) for _ in range(6)]
    _finish_and_compare(out, reference, log)


# -- in-process faults --------------------------------------------------------------
def _invoke(*argv):
    return CliRunner().invoke(cli, [str(a) for a in argv])


SMALL_ARGV = ["--code-size", "3", "--hidden", "16", "--seed", "1", "-q"]


@pytest.fixture(scope="module")
def small_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("small") / "run"
    r = _invoke("fit", "digits", "--out", out, "--epochs", 5, *SMALL_ARGV)
    assert r.exit_code == 0, r.output
    return out


def _failing_fsync(monkeypatch, should_fail):
    """os.fsync that raises ENOSPC when ``should_fail(path, n_call)`` says so."""
    real = os.fsync
    calls = []

    def fsync(fd):
        path = os.readlink(f"/proc/self/fd/{fd}")
        calls.append(path)
        if should_fail(path, len(calls)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
def test_full_disk_during_checkpoint_keeps_the_previous_one(
    small_reference, tmp_path, monkeypatch
):
    out = tmp_path / "run"
    saved = {}

    def fail_third_checkpoint(path, n):
        if Path(path).name.startswith(f".{CKPT}."):
            saved["n"] = saved.get("n", 0) + 1
            if saved["n"] == 3:
                saved["before"] = (out / CKPT).read_bytes()
                return True
        return False

    _failing_fsync(monkeypatch, fail_third_checkpoint)
    r = _invoke("fit", "digits", "--out", out, "--epochs", 5, *SMALL_ARGV)
    assert r.exit_code == 2, r.output
    assert "No space left on device" in r.stderr and "previous file is intact" in (
        r.stderr
    )
    assert (out / CKPT).read_bytes() == saved["before"]
    assert load_checkpoint(out / CKPT)["state"]["epoch"] + 1 == 2
    assert not list(out.glob(".*.tmp"))
    monkeypatch.undo()
    r = _invoke("fit", "digits", "--out", out, "--resume", "-q")
    assert r.exit_code == 0, r.output
    _assert_same_weights(out, small_reference)


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
def test_full_disk_while_saving_keeps_the_previous_run(
    small_reference, tmp_path, monkeypatch
):
    import shutil

    out = Path(shutil.copytree(small_reference, tmp_path / "run"))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    _failing_fsync(monkeypatch, lambda path, n: ".config.json." in path)
    r = _invoke("fit", "digits", "--out", out, "--epochs", 2, "--code-size", 5, "-q")
    assert r.exit_code == 2 and "Could not write" in r.stderr, r.output
    monkeypatch.undo()
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "fit.json"}
    assert after.keys() - {CKPT} == before.keys() - {"fit.json"}
    for name in before.keys() - {"fit.json"}:
        assert after[name] == before[name], f"{name} changed"
    assert aekit.load(out).transform(np.zeros((2, 1, 8, 8))).shape == (2, 3)


def test_file_size_limit_is_a_clear_error(small_reference, tmp_path):
    """A real write failure from the kernel (EFBIG), no injection."""
    import shutil

    out = Path(shutil.copytree(small_reference, tmp_path / "run"))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
        r = _invoke("fit", "digits", "--out", out, "--epochs", 2, *SMALL_ARGV)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    assert r.exit_code == 2, r.output
    assert "File too large" in r.stderr and "ulimit -f" in r.stderr, r.stderr
    for name, data in before.items():
        if name != "fit.json":
            assert (out / name).read_bytes() == data, f"{name} changed"
    assert not list(out.glob(".*.tmp"))


def test_write_error_is_an_oserror_and_keeps_the_old_file(tmp_path, monkeypatch):
    from aekit.io import atomic_write_bytes

    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")
    _failing_fsync(monkeypatch, lambda path, n: True)
    with pytest.raises(WriteError, match="No space left") as info:
        atomic_write_bytes(target, b"new")
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert target.read_bytes() == b"old" and len(list(tmp_path.iterdir())) == 1


def test_writes_go_through_symbolic_links(tmp_path):
    """A symlinked output keeps its link: the file it points to is replaced
    (a rename over the link replaced the link with a new file beside it)."""
    from aekit.io import (
        KeptFile,
        atomic_write_bytes,
        atomic_write_many,
        atomic_write_rows,
    )

    store = tmp_path / "store"
    store.mkdir()
    (store / "a.bin").write_bytes(b"old")
    links = tmp_path / "links"
    links.mkdir()
    for name in ("a.bin", "b.npy", "c.bin"):
        (links / name).symlink_to(store / name)
    atomic_write_bytes(links / "a.bin", b"new")
    atomic_write_rows(links / "b.npy", [np.ones((2, 3)), np.zeros((1, 3))], 3)
    atomic_write_many({links / "c.bin": b"many"})
    assert all((links / name).is_symlink() for name in ("a.bin", "b.npy", "c.bin"))
    assert (store / "a.bin").read_bytes() == b"new"
    assert np.load(store / "b.npy").tolist() == [[1, 1, 1], [1, 1, 1], [0, 0, 0]]
    assert (store / "c.bin").read_bytes() == b"many"
    kept = KeptFile(links / "a.bin")
    atomic_write_bytes(links / "a.bin", b"newer")
    kept.restore()
    assert (links / "a.bin").is_symlink() and (store / "a.bin").read_bytes() == b"new"
    assert sorted(p.name for p in links.iterdir()) == ["a.bin", "b.npy", "c.bin"]
    assert sorted(p.name for p in store.iterdir()) == ["a.bin", "b.npy", "c.bin"]


# -- divergence ---------------------------------------------------------------------
class Poison:
    """Makes the loss NaN from epoch ``at`` (1-based), ``times`` times."""

    def __init__(self, at: int, times: int = 1):
        self.at, self.left = at, times

    def on_epoch_start(self, model, epoch, n_epochs):
        if epoch + 1 == self.at and self.left:
            self.left -= 1
            with torch.no_grad():
                next(model.parameters()).fill_(float("nan"))


def test_divergence_names_the_epoch_and_keeps_the_last_good_checkpoint(
    tmp_path, monkeypatch
):
    out = tmp_path / "run"
    monkeypatch.setattr(Autoencoder, "_callbacks", lambda self: [Poison(at=3)])
    r = _invoke("fit", "digits", "--out", out, "--epochs", 5, *SMALL_ARGV)
    assert r.exit_code == 2, r.output
    msg = r.stderr.strip()
    assert "Training diverged at epoch 3: the loss is nan." in msg
    assert f"after epoch 2, is kept at {out / CKPT}" in msg
    assert load_checkpoint(out / CKPT)["state"]["epoch"] + 1 == 2
    ckpt = load_checkpoint(out / CKPT)
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())
    monkeypatch.undo()
    r = _invoke("fit", "digits", "--out", out, "--resume", "--lr", "5e-4", "-q")
    assert r.exit_code == 0, r.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["params"]["lr"] == 5e-4
    assert len((out / "history.csv").read_text().splitlines()) == 1 + 5


def _digits_table():
    from aekit.data import load

    return load("digits").X.reshape(1797, 64)[:300] / 16.0


def test_divergence_retry_halves_the_lr_and_continues(monkeypatch):
    X = _digits_table()
    kw = dict(code_size=3, hidden=(16,), epochs=4, random_state=0, device="cpu")
    kw |= dict(patience=None, lr_schedule="constant", lr=2e-3)
    monkeypatch.setattr(Autoencoder, "_callbacks", lambda self: [Poison(at=3)])
    with pytest.raises(TrainingError, match="divergence_retries=1"):
        Autoencoder(**kw).fit(X)
    monkeypatch.setattr(Autoencoder, "_callbacks", lambda self: [Poison(at=3)])
    with pytest.warns(
        UserWarning, match=r"diverged at epoch 3 .*over from epoch 1.*halved.*1 of 1"
    ):
        ae = Autoencoder(**kw, divergence_retries=1).fit(X)
    assert [row["lr"] for row in ae.history_] == [1e-3] * 4
    assert np.isfinite(ae.transform(X)).all()
    # retries run out: the error still comes, after the warnings
    monkeypatch.setattr(Autoencoder, "_callbacks", lambda self: [Poison(3, times=9)])
    with pytest.warns(UserWarning, match=r"retry \d of 2"):
        with pytest.raises(TrainingError, match="diverged at epoch 3"):
            Autoencoder(**kw, divergence_retries=2).fit(X)


def test_divergence_retry_rescues_a_too_high_learning_rate():
    """A real divergence (SGD, lr far too high), no injection."""
    X = _digits_table()
    kw = dict(code_size=3, hidden=(16,), epochs=3, random_state=0, device="cpu")
    kw |= dict(optimizer="sgd", lr=40.0, loss="mse", patience=None)
    with pytest.raises(TrainingError, match="diverged at epoch"):
        Autoencoder(**kw).fit(X)
    with pytest.warns(UserWarning, match="halved"):
        ae = Autoencoder(**kw, divergence_retries=12).fit(X)
    assert ae.history_[0]["lr"] < 40.0
    assert np.isfinite([row["train_loss"] for row in ae.history_]).all()


def test_ctrl_c_in_the_first_epoch_then_resume_starts_over(
    small_reference, tmp_path, monkeypatch
):
    from aekit.training import trainer as trainer_mod

    def interrupted(self, model, train, *a, **kw):
        raise KeyboardInterrupt  # before any epoch completes

    out = tmp_path / "run"
    monkeypatch.setattr(trainer_mod.Trainer, "fit", interrupted)
    r = _invoke("fit", "digits", "--out", out, "--epochs", 5, *SMALL_ARGV)
    assert r.exit_code == 130
    assert "no epoch had completed" in r.stderr and not (out / CKPT).exists()
    monkeypatch.undo()
    r = _invoke("fit", "digits", "--out", out, "--resume", "-q")
    assert r.exit_code == 0, r.output
    assert "no checkpoint (no epoch had completed); starting from the first" in (
        r.stderr
    )
    _assert_same_weights(out, small_reference)


def test_resume_of_a_finished_fit_changes_nothing(small_reference, tmp_path):
    import shutil

    out = Path(shutil.copytree(small_reference, tmp_path / "run"))
    # fit.json records the call; a report (where there is one) is rewritten
    skip = {"fit.json", "report.html"}
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name not in skip}
    r = _invoke("fit", "digits", "--out", out, "--resume", "-q")
    assert r.exit_code == 0, r.output
    assert "had finished: nothing to resume" in r.stderr
    for name, data in before.items():
        assert (out / name).read_bytes() == data, f"{name} changed"
