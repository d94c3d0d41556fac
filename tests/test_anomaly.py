"""AnomalyDetector on real data: one-class MNIST, breast cancer; its conventions,
files and CLI."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score

import aekit
from aekit import AnomalyDetector
from aekit.cli import cli
from aekit.data import Dataset
from aekit.estimators.anomaly import PIXEL_LR, TABLE_LR, auto_epochs, auto_sizes
from aekit.exceptions import ConfigError, DataError, NotFittedError
from aekit.report.html import make_context
from aekit.report.sections import anomaly_section

FAST = {"epochs": 30}


@pytest.fixture(scope="module")
def cancer():
    """Benign tumours to fit on; held-out benign + all malignant to score."""
    d = load_breast_cancer()
    benign, malignant = d.data[d.target == 1], d.data[d.target == 0]
    order = np.random.default_rng(0).permutation(len(benign))
    fit_X = benign[order[:250]]
    test_X = np.vstack([benign[order[250:]], malignant])
    y = np.r_[np.zeros(len(benign) - 250), np.ones(len(malignant))]
    return fit_X, test_X, y


@pytest.fixture(scope="module")
def cancer_detector(cancer):
    return AnomalyDetector(FAST, contamination=0.05, random_state=0).fit(cancer[0])


def _pca_auc(train, test, labels) -> float:
    """ROC-AUC of the reconstruction error of a 32-component PCA of ``train``."""
    flat = train.reshape(len(train), -1) / 255.0
    flat_test = test.reshape(len(test), -1) / 255.0
    pca = PCA(32, random_state=0).fit(flat)
    err = ((pca.inverse_transform(pca.transform(flat_test)) - flat_test) ** 2).mean(1)
    return roc_auc_score(labels, err)


def test_one_class_mnist_beats_pca(mnist_train, mnist_test):
    # Ruff et al.'s protocol on a subset: fit on digit 8, score test digits.
    digit = 8
    train = mnist_train.X[mnist_train.y == digit][:2000]
    test, labels = mnist_test.X[:3000], (mnist_test.y[:3000] != digit).astype(int)
    det = AnomalyDetector(random_state=0).fit(train)  # the defaults
    assert det.score_ == "normalized"  # pixels: the MSE over the sample's RMS
    assert det.autoencoder_.epochs == auto_epochs(1800, 256) == 13
    auc = roc_auc_score(labels, det.decision_function(test))
    auc_pca = _pca_auc(train, test, labels)
    assert auc > auc_pca + 0.03, f"autoencoder {auc:.4f} vs PCA {auc_pca:.4f}"
    # The same model (same seed) scored by the plain MSE judges the thin,
    # faint digits (1s, 7s) normal: the normalization is what lifts digit 8.
    plain = AnomalyDetector(score="mse", random_state=0).fit(train)
    auc_plain = roc_auc_score(labels, plain.decision_function(test))
    assert auc > auc_plain + 0.02, f"normalized {auc:.4f} vs plain {auc_plain:.4f}"

    # The normalized score is the scaled MSE over the sample's RMS, floored:
    # an all-black image gets a finite score.
    X = np.concatenate([test[:50], np.zeros_like(test[:1])])
    ae = det.autoencoder_
    x = ae.scaler_.transform(X.reshape(len(X), -1)).astype(np.float64)
    r = ae.scaler_.transform(ae.reconstruct(X).reshape(len(X), -1))
    expected = ((x - r) ** 2).mean(1) / np.maximum(np.sqrt((x**2).mean(1)), 1e-3)
    scores = det.decision_function(X)
    np.testing.assert_allclose(scores, expected, rtol=1e-4)
    assert np.isfinite(scores[-1]) and scores[-1] > 0


def test_convolutional_detector(mnist_train, mnist_test):
    digit = 8
    train = mnist_train.X[mnist_train.y == digit][:1000]
    test, labels = mnist_test.X[:2000], (mnist_test.y[:2000] != digit).astype(int)
    det = AnomalyDetector({"architecture": "conv"}, random_state=0).fit(train)
    spec = det.autoencoder_.module_.spec()["architecture"]
    assert spec["kind"] == "conv" and tuple(spec["channels"]) == (16, 32)
    assert det.autoencoder_.batch_size == 64 and det.score_ == "normalized"
    auc = roc_auc_score(labels, det.decision_function(test))
    auc_pca = _pca_auc(train, test, labels)
    assert auc > auc_pca + 0.03, f"conv {auc:.4f} vs PCA {auc_pca:.4f}"
    # Given settings win over the conv defaults.
    det = AnomalyDetector(
        {"architecture": "conv", "channels": (8,), "batch_size": 100, "epochs": 1},
        random_state=0,
    ).fit(train[:200])
    assert det.autoencoder_.module_.spec()["architecture"]["channels"] in ([8], (8,))
    assert det.autoencoder_.batch_size == 100


def test_defaults_follow_the_data(cancer, cancer_detector):
    assert auto_epochs(5300, 256) == 5  # one MNIST digit: the floor
    assert auto_epochs(225, 256) == 100  # a 250-row table: one step an epoch
    assert auto_epochs(10**7, 256) == 5
    assert auto_epochs(2600, 256) == 10  # 11 steps an epoch: >= 100 steps
    # Tables: lr 1e-3 and the plain MSE; pixels (integers, or floats whose
    # data set names a value range): lr 2e-3 and the normalized score.
    assert cancer_detector.autoencoder_.lr == TABLE_LR
    digits = aekit.data.load("digits")
    named = Dataset(digits.X[:300], value_range=(0, 16))  # float32 0-16
    for X in (digits.X[:300].astype(np.uint8), named):
        det = AnomalyDetector({"epochs": 1}, random_state=0).fit(X)
        assert det.autoencoder_.lr == PIXEL_LR and det.score_ == "normalized"
    # The same floats without a named range are a table.
    det = AnomalyDetector({"epochs": 1}, random_state=0).fit(digits.X[:300])
    assert det.autoencoder_.lr == TABLE_LR and det.score_ == "mse"


def test_breast_cancer_and_conventions(cancer, cancer_detector):
    fit_X, test_X, y = cancer
    det = cancer_detector
    # Small tables get an undercomplete model sized to them.
    assert det.autoencoder_.code_size == auto_sizes(30)["code_size"] == 7
    assert det.score_ == "mse"  # standardized tables: the plain MSE
    scores = det.decision_function(test_X)
    auc = roc_auc_score(y, scores)
    assert auc > 0.93, f"ROC-AUC {auc:.4f}"
    np.testing.assert_array_equal(det.score_samples(test_X), -scores)
    pred = det.predict(test_X)
    assert set(np.unique(pred)) <= {0, 1}
    np.testing.assert_array_equal(pred, (scores > det.threshold_).astype(int))
    # contamination=0.05: 5% of the training samples lie above the threshold.
    assert abs(det.labels_.mean() - 0.05) < 0.01, det.labels_.mean()
    assert det.decision_scores_.shape == (250,)
    # Malignant tumours are flagged far more often than held-out benign ones.
    assert pred[y == 1].mean() > 0.6 > 0.2 > pred[y == 0].mean(), (
        pred[y == 1].mean(),
        pred[y == 0].mean(),
    )


def test_target_fpr_on_held_out_normal_data(cancer):
    fit_X, test_X, y = cancer
    det = AnomalyDetector(FAST, target_fpr=0.1, random_state=0).fit(fit_X)
    held = det.held_out_scores_
    assert len(held) == 25  # the autoencoder's validation split, 10% of 250
    # The threshold is a held-out score with as many above it as the target
    # allows: floor(0.1 * 25) = 2, no fewer (a threshold set too high, e.g.
    # the largest held-out score, would keep the FPR under 0.1 too).
    assert det.threshold_ in held
    assert np.sum(held > det.threshold_) == 2
    # On unseen benign tumours the rate is near the target, not near 0 or 1.
    fpr = det.predict(test_X)[y == 0].mean()
    assert 0.02 < fpr < 0.3, fpr


def test_feature_weights(cancer, cancer_detector):
    fit_X, test_X, _ = cancer
    ae = cancer_detector.autoencoder_
    # Per-feature squared errors in the model's scaled units.
    sq = ae.scaler_.transform(test_X) - ae.scaler_.transform(ae.reconstruct(test_X))
    sq = sq.astype(np.float64) ** 2
    det = clone(cancer_detector)
    det.autoencoder_, det.threshold_, det.score_ = ae, 0.0, "mse"
    det.n_features_in_ = ae.n_features_in_
    for w, expected in [
        (np.full(30, 2.0), sq.mean(1)),  # equal weights: the plain MSE
        (np.eye(30)[3], sq[:, 3]),  # one-hot: that column's error alone
        (np.r_[np.zeros(15), np.ones(15)], sq[:, 15:].mean(1)),
    ]:
        det.set_params(feature_weights=w)
        det._weights = det._check_weights()
        np.testing.assert_allclose(
            det.decision_function(test_X), expected, rtol=1e-4, atol=1e-7
        )
    np.testing.assert_allclose(
        cancer_detector.decision_function(test_X), sq.mean(1), rtol=1e-4
    )
    with pytest.raises(ConfigError, match="feature_weights has shape"):
        AnomalyDetector(FAST, feature_weights=np.ones(5)).fit(fit_X)


def test_variational_scores_with_the_negative_elbo(cancer):
    fit_X, test_X, y = cancer
    det = AnomalyDetector({"latent": "variational", "epochs": 30}, random_state=0).fit(
        fit_X
    )
    assert det.score_ == "elbo"
    s1, s2 = det.decision_function(test_X), det.decision_function(test_X)
    np.testing.assert_array_equal(s1, s2)  # fixed draws: reproducible scores
    assert np.all(np.isfinite(s1))
    assert roc_auc_score(y, s1) > 0.9
    with pytest.raises(ConfigError, match="variational"):
        AnomalyDetector(FAST, score="elbo").fit(fit_X)


def test_bad_input_and_params(cancer, cancer_detector):
    fit_X = cancer[0]
    with pytest.raises(ConfigError, match="contamination"):
        AnomalyDetector(contamination=0.7).fit(fit_X)
    with pytest.raises(ConfigError, match="target_fpr"):
        AnomalyDetector(target_fpr=1.5).fit(fit_X)
    with pytest.raises(ConfigError, match="'bogus'"):
        AnomalyDetector({"bogus": 1}).fit(fit_X)
    with pytest.raises(NotFittedError):
        AnomalyDetector().decision_function(fit_X)
    with pytest.raises(DataError, match="7 features"):
        cancer_detector.predict(fit_X[:, :7])
    twin = clone(cancer_detector)
    assert twin.get_params() == cancer_detector.get_params()
    assert not hasattr(twin, "threshold_")


def test_a_detector_without_held_out_rows_saves_and_loads(cancer, tmp_path):
    """With no validation split the training scores stand in for held-out
    ones; saving stopped with safetensors' error about shared memory."""
    fit_X, test_X, _ = cancer
    det = AnomalyDetector(
        autoencoder={"validation_fraction": 0.0, "epochs": 2}, random_state=0
    ).fit(fit_X)
    assert len(det.autoencoder_.validation_indices_) == 0
    np.testing.assert_array_equal(det.held_out_scores_, det.decision_scores_)
    det.save(tmp_path / "det")
    loaded = aekit.load(tmp_path / "det")
    np.testing.assert_array_equal(loaded.held_out_scores_, det.held_out_scores_)
    assert loaded.threshold_ == det.threshold_


def test_save_load_and_cli(cancer, cancer_detector, tmp_path):
    fit_X, test_X, _ = cancer
    cancer_detector.save(tmp_path / "det")
    loaded = aekit.load(tmp_path / "det")
    assert isinstance(loaded, AnomalyDetector)
    np.testing.assert_allclose(
        loaded.decision_function(test_X), cancer_detector.decision_function(test_X)
    )
    assert loaded.threshold_ == cancer_detector.threshold_

    np.savetxt(tmp_path / "benign.csv", fit_X, delimiter=",")
    np.savetxt(tmp_path / "test.csv", test_X, delimiter=",")
    runner = CliRunner()
    run = tmp_path / "run"
    r = runner.invoke(
        cli,
        ["fit", str(tmp_path / "benign.csv"), "--task", "anomaly", "--out", str(run)]
        + ["--epochs", "20", "--contamination", "0.05", "--quiet"],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    assert "Anomaly threshold" in r.output
    assert "could not write the report" not in r.output, r.output
    # The report describes the inner autoencoder and the detector's scores.
    page = (run / "report.html").read_text()
    assert 'href="#anomaly"' in page and 'href="#errors"' in page
    assert "AnomalyDetector (around an Autoencoder)" in page
    summary = json.loads((run / "summary.json").read_text())
    assert summary["estimator"] == "AnomalyDetector"
    assert summary["autoencoder"]["epochs_run"] <= 20
    out = tmp_path / "scores.csv"
    r = runner.invoke(
        cli,
        ["anomalies", str(run), str(tmp_path / "test.csv"), "--out", str(out)]
        + ["--top", "5"],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    rows = np.genfromtxt(out, delimiter=",", names=True)
    assert rows.dtype.names == ("index", "score", "flag")
    assert len(rows) == len(test_X)
    det = aekit.load(run)
    np.testing.assert_allclose(rows["score"], det.decision_function(test_X), rtol=1e-5)
    np.testing.assert_array_equal(rows["flag"], det.predict(test_X))
    ctx = make_context(run, str(tmp_path / "test.csv"))
    note = f"{det.predict(test_X).mean() * 100:.1f}% of this data lies above it"
    assert note in anomaly_section(ctx)
    top = r.output.splitlines()[-5:]
    assert int(top[0].split("\t")[0]) == int(np.argmax(rows["score"])), r.output

    # --score picks the score: digits would get the normalized one by default.
    for flag, expected in (([], "normalized"), (["--score", "mse"], "mse")):
        out_dir = tmp_path / f"digits{len(flag)}"
        r = runner.invoke(
            cli,
            ["fit", "digits", "--task", "anomaly", "--epochs", "1", "--quiet"]
            + ["--out", str(out_dir), *flag],
        )
        assert r.exit_code == 0, r.output
        assert json.loads((out_dir / "summary.json").read_text())["score"] == expected

    # A plain autoencoder run is not a detector; an unknown flag for a task.
    r = runner.invoke(
        cli,
        ["fit", "digits", "--out", str(tmp_path / "ae")]
        + ["--epochs", "1", "--quiet", "--contamination", "0.1"],
    )
    assert r.exit_code == 2 and "contamination" in r.output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runner.invoke(
            cli, ["fit", "digits", "--out", str(tmp_path / "ae"), "--epochs", "1"]
        )
    r = runner.invoke(
        cli, ["anomalies", str(tmp_path / "ae"), "digits", "--out", str(out)]
    )
    assert r.exit_code == 2 and "--task anomaly" in r.output, r.output


def test_wrong_shaped_data_names_the_detector(cancer_detector):
    """The check runs in the wrapped autoencoder, which named itself."""
    from aekit.exceptions import DataError

    for bad, says in [
        (np.zeros((3, 7)), "X has 7 features, but AnomalyDetector is expecting 30"),
        (np.zeros((3, 5, 6)), "but this AnomalyDetector was fitted on samples of"),
    ]:
        with pytest.raises(DataError, match=says):
            cancer_detector.decision_function(bad)
