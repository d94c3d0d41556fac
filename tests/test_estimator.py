"""The Autoencoder estimator on real data: quality, errors, files, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

import aekit
from aekit import Autoencoder
from aekit.exceptions import ConfigError, DataError, ModelFileError, NotFittedError

SMALL = dict(code_size=8, hidden=(64,), epochs=40, batch_size=64, random_state=0)


def test_beats_pca_on_held_out_digits(digits):
    X = digits.X.reshape(len(digits), -1) / 16.0
    train, test = X[:1400], X[1400:]
    ae = Autoencoder(
        code_size=8,
        hidden=(256, 128),
        epochs=150,
        batch_size=64,
        patience=20,
        random_state=0,
    ).fit(train)
    mse_ae = -ae.score(test)
    pca = PCA(8).fit(train)
    mse_pca = np.mean((pca.inverse_transform(pca.transform(test)) - test) ** 2)
    assert mse_ae < 0.8 * mse_pca, f"autoencoder {mse_ae:.5f} vs PCA {mse_pca:.5f}"


def test_shapes_history_and_statistics(digits):
    ae = Autoencoder(**SMALL).fit(digits)  # a Dataset: images, value range 0-16
    assert ae.input_shape_ == (1, 8, 8) and ae.n_features_in_ == 64
    assert ae.loss_ == "bce"  # pixels scaled to [0, 1]
    Z = ae.transform(digits.X)
    assert Z.shape == (1797, 8) and Z.dtype == np.float32
    X_hat = ae.inverse_transform(Z)
    assert X_hat.shape == digits.X.shape
    # Decoded output is in the user's units (0-16), not the model's [0, 1].
    assert X_hat.max() > 8
    np.testing.assert_allclose(ae.reconstruct(digits.X), X_hat, atol=1e-5)
    row = ae.history_[0]
    assert {
        "epoch",
        "lr",
        "train_loss",
        "train_recon",
        "val_loss",
        "val_recon",
        "seconds",
    } <= set(row)
    stats = ae.reconstruction_error_
    assert stats["validation"]["q50"] <= stats["validation"]["q99"]
    assert len(ae.error_quantiles_) == 201
    assert np.all(np.diff(ae.error_quantiles_) >= 0)


def test_early_stopping_restores_best_weights(digits):
    X = digits.X.reshape(len(digits), -1) / 16.0
    ae = Autoencoder(
        code_size=8,
        hidden=(64,),
        epochs=200,
        lr=0.05,
        patience=3,
        lr_schedule="constant",
        random_state=0,
    ).fit(X)
    assert ae.stopped_early_
    assert len(ae.history_) < 200
    best = min(r["val_loss"] for r in ae.history_)
    assert ae.history_[ae.best_epoch_ - 1]["val_loss"] == best
    assert len(ae.history_) == ae.best_epoch_ + 3
    # The fitted weights are the best epoch's, not the last one's.
    from aekit.training.trainer import Trainer, TrainerConfig, as_source

    val = torch.from_numpy(ae.scaler_.transform(X[ae.validation_indices_]))
    final = Trainer(TrainerConfig(device="cpu")).evaluate(ae.module_, as_source(val))
    assert final["loss"] == pytest.approx(best, rel=1e-5)
    assert final["loss"] < ae.history_[-1]["val_loss"]


def test_same_seed_same_weights_other_seed_differs(digits):
    X = digits.X.reshape(len(digits), -1)[:300] / 16.0
    kw = dict(code_size=4, hidden=(32,), epochs=3)
    a = Autoencoder(**kw, random_state=1).fit(X).module_.state_dict()
    b = Autoencoder(**kw, random_state=1).fit(X).module_.state_dict()
    c = Autoencoder(**kw, random_state=2).fit(X).module_.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_save_load_round_trip(tmp_path, digits):
    ae = Autoencoder(**SMALL).fit(digits)
    ae.save(tmp_path / "run")
    for name in ("config.json", "model.safetensors", "history.csv", "summary.json"):
        assert (tmp_path / "run" / name).exists(), name
    again = aekit.load(tmp_path / "run")
    assert isinstance(again, Autoencoder)
    np.testing.assert_array_equal(again.transform(digits.X), ae.transform(digits.X))
    np.testing.assert_array_equal(again.error_quantiles_, ae.error_quantiles_)
    assert len(again.history_) == len(ae.history_)


def test_errors_are_clear(digits):
    X = digits.X.reshape(len(digits), -1)
    with pytest.raises(DataError, match=r"loss='bce' needs data in \[0, 1\]"):
        Autoencoder(loss="bce", scaling="standard", epochs=1).fit(X)
    with pytest.raises(ConfigError, match="'code_size' parameter .* Got 0"):
        Autoencoder(code_size=0).fit(X)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        Autoencoder().transform(X)
    ae = Autoencoder(**{**SMALL, "epochs": 1}).fit(X)
    with pytest.raises(
        DataError, match="X has 7 features, but Autoencoder is expecting 64"
    ):
        ae.transform(X[:, :7])
    img = Autoencoder(**{**SMALL, "epochs": 1}).fit(digits)
    with pytest.raises(DataError, match=r"shape \(1, 4, 4\).*shape \(1, 8, 8\)"):
        img.transform(np.zeros((2, 1, 4, 4)))
    bad = X.astype(float)
    bad[3, 5] = np.nan
    bad[7, 1] = np.inf
    with pytest.raises(DataError, match=r"1 NaN, 1 inf\) at row 3 column 5, row 7"):
        Autoencoder().fit(bad)
    with pytest.raises(
        ConfigError, match="Unknown activation 'rleu'. Did you mean 'relu'"
    ):
        Autoencoder(activation="rleu", epochs=1).fit(X)


def test_overcomplete_code_warns(digits):
    X = digits.X.reshape(len(digits), -1)[:100] / 16.0
    with pytest.warns(UserWarning, match="can learn the identity"):
        Autoencoder(code_size=64, hidden=(), epochs=1).fit(X)


def test_load_rejects_bad_folders(tmp_path, digits):
    with pytest.raises(ModelFileError, match="not a run folder"):
        aekit.load(tmp_path / "missing")
    ae = Autoencoder(**{**SMALL, "epochs": 1}).fit(digits)
    run = ae.save(tmp_path / "run")
    weights = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    with pytest.raises(ModelFileError, match="corrupt or truncated"):
        aekit.load(run)
    run2 = ae.save(tmp_path / "run2")
    text = (run2 / "config.json").read_text()
    (run2 / "config.json").write_text(
        text.replace('"format_version": 1', '"format_version": 99')
    )
    with pytest.raises(ModelFileError, match="upgrade aekit|Upgrade aekit"):
        aekit.load(run2)
    (run2 / "config.json").write_text(text[:40])
    with pytest.raises(ModelFileError, match="corrupt or truncated"):
        aekit.load(run2)


def test_feature_extraction_beats_pca_on_mnist(mnist_train, mnist_test):
    """make_pipeline(Autoencoder(32), LogisticRegression) beats PCA(32) on MNIST."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = mnist_train.X[:20000].reshape(20000, -1)
    y = mnist_train.y[:20000]
    Xt, yt = mnist_test.X[:3000].reshape(3000, -1), mnist_test.y[:3000]
    ae_pipe = make_pipeline(
        Autoencoder(code_size=32, epochs=15, random_state=0),
        StandardScaler(),
        LogisticRegression(max_iter=2000),
    )
    pca_pipe = make_pipeline(
        PCA(32, random_state=0), StandardScaler(), LogisticRegression(max_iter=2000)
    )
    acc_ae = ae_pipe.fit(X, y).score(Xt, yt)
    acc_pca = pca_pipe.fit(X / 255.0, y).score(Xt / 255.0, yt)
    assert acc_ae > acc_pca, f"autoencoder {acc_ae:.4f} vs PCA {acc_pca:.4f}"


def test_components_compose_from_short_strings(digits):
    X = digits.X.reshape(len(digits), -1) / 16.0
    ae = Autoencoder(
        code_size=4,
        hidden=(32,),
        epochs=2,
        latent="variational:beta=2",
        noise="masking:0.3",
        random_state=0,
    ).fit(X)
    spec = ae.module_.spec()
    assert spec["latent"] == {
        "kind": "variational",
        "code_size": 4,
        "beta": 2,
        "free_bits": 0.0,
        "iw_samples": 1,
        "prior": "normal",
        "pseudo_inputs": 500,
    }
    assert spec["corruption"] == {"kind": "masking", "fraction": 0.3, "rescale": False}
    assert "train_kl" in ae.history_[-1]
    with pytest.raises(ConfigError, match="Unknown corruption 'gausian'. Did you mean"):
        Autoencoder(noise="gausian:0.1", epochs=1).fit(X)
    with pytest.raises(ConfigError, match="no option 'sigmaa'"):
        Autoencoder(noise="gaussian:sigmaa=0.1", epochs=1).fit(X)
