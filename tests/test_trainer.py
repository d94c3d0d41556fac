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
    Trainer(cfg, checkpoint=tmp_path / "a.ckpt").fit(full, train, val)

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
