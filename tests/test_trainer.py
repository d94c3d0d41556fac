"""The trainer: resume bit for bit, divergence, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aekit import Autoencoder
from aekit.exceptions import ModelFileError, TrainingError
from aekit.model import AutoencoderModule, default_spec
from aekit.training import Trainer, TrainerConfig


def _data(digits, n=400):
    return torch.tensor(
        digits.X.reshape(len(digits), -1)[:n] / 16.0, dtype=torch.float32
    )


def _model(seed=0):
    torch.manual_seed(seed)
    spec = {
        **default_spec(),
        "architecture": {"kind": "dense", "hidden": (32,)},
        "latent": {"kind": "deterministic", "code_size": 4},
    }
    return AutoencoderModule(spec, (64,))


def test_resume_is_bit_identical(tmp_path, digits):
    x = _data(digits)
    train, val = x[:320], x[320:]
    cfg = TrainerConfig(epochs=6, batch_size=32, seed=3, patience=None)
    full = _model()
    full_history = Trainer(cfg, checkpoint=tmp_path / "a.ckpt").fit(full, train, val)

    # Interrupt after 3 epochs (a shorter run writes the same first checkpoints),
    # then resume from the checkpoint in a fresh model and trainer.
    class Stop(Exception):
        pass

    def stop_after_3(row):
        if row["epoch"] == 3:
            raise Stop

    part = _model()
    with pytest.raises(Stop):
        Trainer(cfg, checkpoint=tmp_path / "b.ckpt", on_epoch_end=stop_after_3).fit(
            part, train, val
        )
    torch.manual_seed(12345)  # resuming must not depend on the global RNG state
    resumed = _model(seed=99)
    trainer = Trainer(cfg, checkpoint=tmp_path / "b.ckpt")
    history = trainer.fit(resumed, train, val, resume=True)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5, 6]
    loss = [r["val_loss"] for r in history]
    assert loss == [r["val_loss"] for r in full_history]
    # The best weights (restored at the end) come from the resumed epochs, so
    # the comparison below sees them.
    assert trainer.best_epoch > 3, loss
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), f"{k} differs after resume"


def test_divergence_stops_with_the_epoch_named(tmp_path, digits):
    x = _data(digits) * 1e30  # the loss overflows to inf
    cfg = TrainerConfig(epochs=3, batch_size=64, patience=None)
    with pytest.raises(TrainingError, match="diverged at epoch 1"):
        Trainer(cfg, checkpoint=tmp_path / "c.ckpt").fit(_model(), x)


def test_resume_without_checkpoint_is_a_clear_error(tmp_path, digits):
    cfg = TrainerConfig(epochs=1)
    with pytest.raises(ModelFileError, match="nothing to resume"):
        Trainer(cfg, checkpoint=tmp_path / "none.ckpt").fit(
            _model(), _data(digits), resume=True
        )


def test_batch_order_does_not_change_codes(digits):
    """A sample's code does not depend on the batch it is encoded in."""
    X = digits.X.reshape(len(digits), -1) / 16.0
    ae = Autoencoder(code_size=4, hidden=(32,), epochs=2, random_state=0).fit(X)
    full = ae.transform(X)
    order = np.random.default_rng(0).permutation(len(X))
    shuffled = ae.transform(X[order])
    np.testing.assert_allclose(shuffled, full[order], atol=1e-6)
    np.testing.assert_allclose(ae.transform(X[5:6]), full[5:6], atol=1e-6)


def test_flush_tiny_state_zeroes_only_what_would_go_subnormal():
    from aekit.training.trainer import FLUSH_BELOW, flush_tiny_state

    p = torch.nn.Parameter(torch.zeros(6))
    opt = torch.optim.Adam([p], fused=True)
    p.grad = torch.ones(6)
    opt.step()
    values = torch.tensor([1e-39, -1e-39, 5e-31, -5e-31, 2e-30, -1e-3])
    opt.state[p]["exp_avg"].copy_(values)
    opt.state[p]["exp_avg_sq"].copy_(values.abs())
    step = opt.state[p]["step"].clone()
    flush_tiny_state(opt)
    keep = values.abs() >= FLUSH_BELOW
    for key in ("exp_avg", "exp_avg_sq"):
        got = opt.state[p][key]
        assert torch.equal(got[~keep], torch.zeros(int((~keep).sum())))
        assert torch.equal(
            got[keep], (values if key == "exp_avg" else values.abs())[keep]
        )
    assert torch.equal(opt.state[p]["step"], step)  # the step count is left alone


@pytest.mark.parametrize("flush", [True, False])
def test_training_keeps_optimizer_state_free_of_subnormals(digits, monkeypatch, flush):
    """On digits, Adam moments of rarely non-zero pixels decay through
    float32's subnormal range (slow on x86 CPUs) unless the trainer zeroes
    them on the way: 900 steps leave hundreds of subnormals without it and
    none with it."""
    import aekit.training.trainer as trainer

    made = []

    def recorded(*args, **kwargs):
        made.append(make(*args, **kwargs))
        return made[-1]

    make = trainer._make_optimizer
    monkeypatch.setattr(trainer, "_make_optimizer", recorded)
    if not flush:
        monkeypatch.setattr(trainer, "flush_tiny_state", lambda optimizer: None)
    X = (digits.X.reshape(len(digits.X), -1)).astype(np.uint8)
    Autoencoder(
        code_size=8, hidden=(64,), epochs=60, random_state=0, validation_fraction=0.0
    ).fit(X)
    tiny = torch.finfo(torch.float32).tiny
    (opt,) = made
    n = sum(
        int(((v.abs() < tiny) & (v != 0)).sum())
        for state in opt.state.values()
        for v in state.values()
        if v.dim()
    )
    assert (n == 0) if flush else (n > 100), n
