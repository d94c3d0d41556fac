"""Sequence autoencoders: the architecture, the estimator and the three uses.

Real data, small: statsmodels' co2 series (skipped when statsmodels, a bench
extra, is absent), matplotlib's bundled Stocks.csv (a core dependency),
MovieLens 100K and Moving MNIST made from MNIST digits.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from aekit import SequenceAutoencoder
from aekit.cli.main import cli
from aekit.data.moving_mnist import moving_mnist
from aekit.data.sequences import (
    item_sequences,
    leave_one_out,
    next_item_windows,
    read_interactions,
    read_series,
    sliding_windows,
)
from aekit.estimators.base import seed_from
from aekit.exceptions import ConfigError, DataError
from aekit.metrics import frame_mse, frame_ssim, hit_rate_ndcg
from aekit.model import AutoencoderModule
from aekit.ranking import top_k

from .conftest import ML100K

STOCKS = Path(__import__("matplotlib").get_data_path()) / "sample_data" / "Stocks.csv"


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _module(input_shape, **arch):
    spec = {
        "architecture": {"kind": "sequence", "hidden_size": 16, **arch},
        "latent": {"kind": "deterministic", "code_size": 8},
        "likelihood": {"kind": "gaussian"},
    }
    return AutoencoderModule(spec, input_shape).eval()


# -- architecture -----------------------------------------------------------------
def test_padding_does_not_reach_the_code():
    """A short window padded with NaN encodes as the same window unpadded."""
    torch.manual_seed(0)
    long = _module((8, 3), horizon=2)  # 6 observed steps
    short = _module((5, 3), horizon=2)  # 3 observed steps, same weights
    short.architecture.encoder.load_state_dict(long.architecture.encoder.state_dict())
    short.latent.load_state_dict(long.latent.state_dict())
    x = torch.randn(4, 3, 3)
    padded = torch.cat([x, torch.full((4, 5, 3), float("nan"))], dim=1)  # (4, 8, 3)
    a, b = long.encode(padded), short.encode(x)
    assert torch.allclose(a, b, atol=1e-6), f"max diff {(a - b).abs().max()}"
    # The future steps are never read: changing them leaves the code unchanged.
    full = torch.randn(4, 8, 3)
    other = full.clone()
    other[:, 6:] += 100.0
    assert torch.equal(long.encode(full), long.encode(other))


def test_padding_is_masked_out_of_the_loss():
    torch.manual_seed(0)
    model = _module((8, 2), horizon=3)
    x = torch.randn(5, 8, 2)
    x[0, 3:5] = float("nan")  # observed steps end early
    x[1, 7] = float("nan")  # a missing future step
    terms = model.loss(x)
    assert torch.isfinite(terms["loss"]), terms
    # Each window's loss is the mean over its observed values alone: the
    # padding is neither scored against 0 nor counted in the mean.
    with torch.no_grad():
        recon, _ = model.per_sample_terms(x)
        out = model.decoder_output(model.encode(x), x, x)  # eval: x is the input
        nll = model.likelihood.nll(out, torch.nan_to_num(x))  # (5, 8, 2)
    observed = ~torch.isnan(x)
    expected = torch.stack([nll[i][observed[i]].mean() for i in range(5)])
    torch.testing.assert_close(recon, expected)
    assert observed[0].sum() == 12 and observed[1].sum() == 14  # 2 and 1 steps gone


def test_future_only_model_decodes_only_the_future():
    model = _module((10, 2), horizon=4, reconstruct=False)
    z = model.encode(torch.randn(3, 10, 2))
    assert model.decode(z).shape == (3, 4, 2)
    target, mask = model.architecture.loss_target(torch.randn(3, 10, 2))
    assert target.shape == (3, 4, 2) and mask is None
    with pytest.raises(ConfigError, match="horizon > 0"):
        _module((10, 2), horizon=0, reconstruct=False)
    with pytest.raises(ConfigError, match="no observed step"):
        _module((4, 2), horizon=4)


def test_frames_shape_error_names_the_fix():
    with pytest.raises(ConfigError, match="divisible by 16"):
        _module((6, 1, 40, 40), frame_channels=(8, 8), frame_patch=4)


def test_conv_core_keeps_a_spatial_code_of_the_observed_frames_only():
    torch.manual_seed(0)
    conv = dict(frame_core="conv", frame_channels=(8, 8))
    model = _module((6, 1, 32, 32), horizon=2, **conv)
    x = torch.rand(5, 6, 1, 32, 32)
    z = model.encode(x)
    assert z.shape == (5, 8, 4, 4)  # code_size channels on the 8-pixel grid
    assert model.decode(z).shape == (5, 6, 1, 32, 32)  # observed, then future
    # The future frames are never read.
    other = x.clone()
    other[:, 4:] = 1 - other[:, 4:]
    assert torch.equal(model.encode(other), z)
    # A window's code does not depend on the batch it is in (per-sample norms).
    assert torch.allclose(model.encode(x[2:3]), z[2:3], atol=1e-5)
    future = _module((6, 1, 32, 32), horizon=2, reconstruct=False, **conv)
    assert future(x).shape == (5, 2, 1, 32, 32)
    with pytest.raises(ConfigError, match="frame_core must be"):
        _module((6, 1, 32, 32), horizon=2, frame_core="convlstm")
    # The conv core halves the patch grid once: sides divisible by 8.
    with pytest.raises(ConfigError, match="divisible by 8"):
        _module((6, 1, 36, 36), horizon=2, **conv)
    # Values and items have no frames: a frame core there is refused, not ignored.
    with pytest.raises(ConfigError, match="frame_core='conv' applies to frames"):
        _module((12, 1), horizon=2, frame_core="conv")


def test_ssim_weight_adds_one_minus_ssim_of_the_decoded_frames():
    from aekit.losses import ssim

    torch.manual_seed(0)
    conv = dict(frame_core="conv", frame_channels=(8, 8), reconstruct=False)
    model = _module((6, 1, 32, 32), horizon=2, ssim_weight=0.5, **conv)
    x = torch.rand(3, 6, 1, 32, 32)
    terms = model.loss(x)
    pred, future = model(x), x[:, 4:]  # (3, 2, 1, 32, 32)
    per_video = ssim(pred.flatten(0, 2), future.flatten(0, 2)).view(3, 2).mean(1)
    expected = (0.5 * (1 - per_video)).mean()
    assert torch.allclose(terms["ssim"], expected, atol=1e-6)
    assert torch.allclose(terms["loss"], terms["recon"] + terms["ssim"])
    assert "ssim" not in _module((6, 1, 32, 32), horizon=2, **conv).loss(x)
    with pytest.raises(ConfigError, match="scores predicted frames"):
        _module((12, 1), horizon=2, ssim_weight=0.5)
    with pytest.raises(ConfigError, match="ssim_weight must be >= 0"):
        _module((6, 1, 32, 32), horizon=2, ssim_weight=-1.0, **conv)
    spec = {
        "architecture": {"kind": "sequence", "horizon": 2, "ssim_weight": 0.5, **conv},
        "latent": {"kind": "variational", "code_size": 8, "iw_samples": 4},
        "likelihood": {"kind": "bernoulli"},
    }
    with pytest.raises(ConfigError, match="does not compose"):
        AutoencoderModule(spec, (6, 1, 32, 32))


def test_ar_lags_add_a_linear_forecast_of_the_last_observed_steps():
    """The autoregression adds ``W @ last p observed steps + b`` to the future
    steps only; a window whose observed steps end early uses its own last real
    steps, and lags before its first step read 0."""
    torch.manual_seed(0)
    model = _module((8, 2), horizon=3, ar_lags=2)  # 5 observed steps
    ar = model.architecture.autoregression
    torch.nn.init.normal_(ar.weight)
    torch.nn.init.normal_(ar.bias)
    x = torch.randn(4, 8, 2)
    with torch.no_grad():
        skip = model(x) - model.decode(model.encode(x))  # (4, 8, 2)
        want = ar(x[:, 3:5].flatten(1)).view(4, 3, 2)
        assert torch.allclose(skip[:, 5:], want, atol=1e-5)
        assert torch.equal(skip[:, :5], torch.zeros(4, 5, 2))
        short = x.clone()
        short[:, 3:5] = float("nan")  # observed steps end after step 2
        got = model.architecture.input_skip(short)[:, 5:]
        assert torch.allclose(got, ar(x[:, 1:3].flatten(1)).view(4, 3, 2), atol=1e-5)
        one = x.clone()
        one[:, 1:5] = float("nan")  # a single observed step
        lags = torch.cat([torch.zeros(4, 1, 2), x[:, :1]], dim=1)
        got = model.architecture.input_skip(one)[:, 5:]
        assert torch.allclose(got, ar(lags.flatten(1)).view(4, 3, 2), atol=1e-5)
    with pytest.raises(ConfigError, match="exceeds the 5 observed"):
        _module((8, 2), horizon=3, ar_lags=6)
    with pytest.raises(ConfigError, match="ar_lags needs windows of values"):
        _module((8, 2), horizon=0, ar_lags=2)


# -- time series ----------------------------------------------------------------------
def _co2_monthly():
    sm = pytest.importorskip(
        "statsmodels.api", reason="statsmodels (the bench extra) is not installed"
    )
    weekly = sm.datasets.co2.load_pandas().data["co2"]
    return weekly.resample("MS").mean().interpolate().to_numpy(np.float32)


def test_co2_forecast_beats_the_last_value():
    """12-month forecasts of held-out co2 windows: better than repeating the last."""
    series = _co2_monthly()
    W = sliding_windows(series, 36 + 12)
    n_train = int(0.8 * len(W))
    train, test = W[:n_train], W[n_train + 48 :]  # no overlap with training steps
    model = SequenceAutoencoder(
        horizon=12,
        code_size=16,
        hidden_size=32,
        window_offset="last",
        epochs=40,
        lr=3e-3,
        batch_size=32,
        random_state=0,
        device="cpu",
    ).fit(train)
    pred = model.forecast(test[:, :36])
    true = test[:, 36:]
    mse = float(np.mean((pred - true) ** 2))
    last = float(np.mean((test[:, 35:36] - true) ** 2))
    assert mse < 0.5 * last, f"model MSE {mse:.3f} vs last value {last:.3f}"
    # One code per window, whatever the batch the window is in.
    codes = model.transform(test[:, :36])
    alone = model.transform(test[7:8, :36])
    perm = np.random.default_rng(0).permutation(len(test))
    shuffled = model.transform(test[perm, :36])[np.argsort(perm)]
    assert codes.shape == (len(test), 16)
    np.testing.assert_allclose(codes[7:8], alone, atol=1e-5)
    np.testing.assert_allclose(codes, shuffled, atol=1e-5)
    # Per-window errors: a window with a spike stands out.
    spiked = test[:10].copy()
    spiked[3, 10] += 5.0
    err = model.reconstruction_error(spiked)
    assert err.argmax() == 3, err


def test_ar_lags_forecast_macrodata_growth_better_than_without(tmp_path):
    """statsmodels' macrodata (quarterly growth of real GDP, consumption and
    investment, in %): 4-quarter forecasts of the last 20%, rolling origin,
    as in bench_sequence.py. A small model with a linear autoregression on the
    last 3 quarters beats the last value (5.96 there) and the same model
    without it; saved and loaded, it forecasts the same."""
    sm = pytest.importorskip(
        "statsmodels.api", reason="statsmodels (the bench extra) is not installed"
    )
    macro = sm.datasets.macrodata.load_pandas().data
    levels = macro[["realgdp", "realcons", "realinv"]].to_numpy(np.float64)
    growth = (100 * np.diff(np.log(levels), axis=0)).astype(np.float32)
    n_train = int(0.8 * len(growth))
    W = sliding_windows(growth[:n_train], 16)
    test = sliding_windows(growth[n_train - 12 :], 16)  # observed 12, future 4
    params = dict(
        horizon=4,
        hidden_size=4,
        code_size=2,
        lr=3e-3,
        batch_size=16,
        weight_decay=1e-4,
        patience=20,
        epochs=300,
        noise="gaussian:0.3",
        random_state=0,
        device="cpu",
    )
    mse = {}
    for lags in (0, 3):
        model = SequenceAutoencoder(ar_lags=lags, **params).fit(W)
        pred = model.forecast(test[:, :12])
        mse[lags] = float(np.mean((pred - test[:, 12:]) ** 2))
    last = float(np.mean((test[:, 11:12] - test[:, 12:]) ** 2))
    # Measured: 4.86 with the autoregression, 5.21 without, last value 5.96.
    assert mse[3] < 0.9 * last and mse[3] < mse[0], (mse, last)
    model.save(tmp_path / "run")
    loaded = SequenceAutoencoder.load(tmp_path / "run")
    np.testing.assert_allclose(loaded.forecast(test[:, :12]), pred, atol=1e-5)


def test_variational_and_denoising_compose(tmp_path):
    series = _stocks()[:, :2]
    W = sliding_windows(series, 16)
    model = SequenceAutoencoder(
        horizon=4,
        code_size=4,
        hidden_size=16,
        latent="variational:beta=0.1",
        noise="gaussian:0.1",
        window_offset="last",
        epochs=2,
        random_state=0,
        device="cpu",
    ).fit(W)
    assert "train_kl" in model.history_[0]
    # The ELBO's reconstruction term is log p(x|z) in nats per window, summed
    # over the scored elements like the KL: a unit-variance Gaussian density.
    module = model.module_.eval()
    xs = torch.as_tensor(model._prepare(W[:8]))
    torch.manual_seed(0)
    recon, _ = module.per_sample_terms(xs)
    torch.manual_seed(0)  # the same posterior draw
    z, _ = module.latent(module.architecture.encoder(xs))
    target, mask = module.architecture.loss_target(xs)
    mean = module.likelihood.mean(module.decoder_output(z, xs, xs))
    nats = 0.5 * ((mean - target).square() + np.log(2 * np.pi))
    if mask is not None:
        nats = nats * mask
    torch.testing.assert_close(recon, nats.flatten(1).sum(1), rtol=1e-4, atol=1e-3)
    codes = model.transform(W[:20])
    np.testing.assert_array_equal(codes, model.transform(W[:20]))  # posterior mean
    model.save(tmp_path / "run")
    import aekit

    again = aekit.load(tmp_path / "run")
    np.testing.assert_array_equal(again.forecast(W[:20]), model.forecast(W[:20]))
    np.testing.assert_array_equal(again.transform(W[:20]), codes)


def _stocks():
    values, columns, times = read_series(STOCKS)
    assert columns[0] == "IBM" and times[0] == "1990-01-01"
    return values


def test_estimator_errors_say_what_to_do():
    W = sliding_windows(np.sin(np.arange(60.0)), 10)
    with pytest.raises(ConfigError, match="no observed step"):
        SequenceAutoencoder(horizon=10).fit(W)
    model = SequenceAutoencoder(horizon=2, epochs=1, device="cpu", random_state=0)
    model.fit(W)
    with pytest.raises(DataError, match="takes 8 .observed. or 10"):
        model.transform(W[:, :5])
    with pytest.raises(DataError, match="steps of shape"):
        model.transform(np.zeros((3, 10, 2)))
    with pytest.raises(ConfigError, match="fitted horizon 2"):
        model.forecast(W, horizon=3)
    with pytest.raises(ConfigError, match="fitted on values"):
        model.recommend([[1, 2]])


def test_cli_fit_sequence_and_forecast_on_a_csv(tmp_path):
    runner = CliRunner()
    run = tmp_path / "run"
    res = runner.invoke(
        cli,
        [
            "fit-sequence", str(STOCKS), "--out", str(run), "--window", "14",
            "--horizon", "2", "--epochs", "1", "--hidden-size", "8",
            "--code-size", "4", "--window-offset", "last", "--ar-lags", "3",
            "--device", "cpu", "-q",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    loaded = SequenceAutoencoder.load(run)
    ar = loaded.module_.architecture.autoregression  # 3 lags of every column
    assert loaded.ar_lags == 3 and ar.in_features == 3 * loaded.step_shape_[0]
    out = tmp_path / "f.csv"
    res = runner.invoke(cli, ["forecast", str(run), str(STOCKS), "-o", str(out)])
    assert res.exit_code == 0, res.output
    lines = out.read_text().splitlines()
    assert lines[0].startswith("step,IBM,AAPL") and len(lines) == 3
    res = runner.invoke(cli, ["forecast", str(run), str(STOCKS), "--horizon", "5"])
    assert res.exit_code == 2 and "fitted horizon 2" in res.output


# -- next item ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def movielens():
    if not ML100K.exists():
        pytest.skip(f"MovieLens 100K not found at {ML100K}")
    return item_sequences(read_interactions(ML100K))


def test_item_sequences_break_timestamp_ties_by_item_id(movielens):
    inter = read_interactions(ML100K)
    user = int(inter[0, 0])
    rows = inter[inter[:, 0] == user]
    rows = rows[np.lexsort((rows[:, 1], rows[:, 2]))]
    np.testing.assert_array_equal(movielens[user], rows[:, 1])
    train, val, test = leave_one_out(movielens)
    assert len(test) == 943 and test[user] == rows[-1, 1] and val[user] == rows[-2, 1]


def test_next_item_beats_popularity(movielens, tmp_path):
    """Trained briefly on 200 users' histories, the model ranks better than
    popularity for their validation items."""
    train, val, _ = leave_one_out(movielens)
    users = sorted(train)[:200]
    W = next_item_windows([train[u] for u in users], 10)
    model = SequenceAutoencoder(
        horizon=1,
        reconstruct=False,
        code_size=32,
        hidden_size=32,
        embedding_dim=32,
        epochs=3,
        batch_size=128,
        lr=3e-3,
        validation_fraction=0.0,
        random_state=0,
        device="cpu",
    ).fit(W)
    target = np.array([val[u] for u in users])
    items, scores = model.recommend([train[u] for u in users], 10)
    assert items.shape == (200, 10) and np.all(np.diff(scores, axis=1) <= 0)
    for u, row in zip(users, items, strict=True):
        assert not set(row) & set(train[u].tolist()), "a seen item was recommended"
    hr, ndcg = hit_rate_ndcg(items, target)
    counts = np.bincount(np.concatenate([train[u] for u in users]), minlength=1700)
    pop = []
    for u in users:
        c = counts.astype(float)
        c[train[u]] = -1
        pop.append(np.argsort(-c, kind="stable")[:10])
    hr_pop, ndcg_pop = hit_rate_ndcg(np.array(pop), target)
    assert ndcg > ndcg_pop, f"NDCG@10 {ndcg:.3f} vs popularity {ndcg_pop:.3f}"

    # The CLI recommends from a file of histories, order-aware.
    model.save(tmp_path / "run")
    hist = tmp_path / "h.txt"
    a, b = train[users[0]][-5:], train[users[1]][-5:]
    hist.write_text(" ".join(map(str, a)) + "\n" + ",".join(map(str, b[::-1])) + "\n")
    res = CliRunner().invoke(
        cli, ["recommend", str(tmp_path / "run"), "--history", str(hist), "-n", "5"]
    )
    assert res.exit_code == 0, res.output
    rows = res.output.strip().splitlines()
    assert len(rows) == 2 and all(len(r.split()) == 5 for r in rows)
    ranked = model.recommend([list(a)], 5)[0][0]
    assert [int(p.split(":")[0]) for p in rows[0].split()] == ranked.tolist()
    reversed_rank = model.recommend([list(a[::-1])], 5)[0][0]
    assert ranked.tolist() != reversed_rank.tolist(), "order did not matter"


def test_item_transitions_count_pairs_and_leave_one_out():
    """The chain counts (last observed item, next item) pairs; in training a
    window's own pair is left out, so a pair seen once scores as unseen."""
    spec = {
        "architecture": {"kind": "sequence", "hidden_size": 8, "n_items": 5,
                         "horizon": 1, "reconstruct": False,
                         "item_transitions": True},
        "latent": {"kind": "deterministic", "code_size": 4},
        "likelihood": {"kind": "categorical", "n_classes": 6},
    }  # fmt: skip
    model = AutoencoderModule(spec, (4,))
    arch = model.architecture
    W = torch.tensor(
        [[1, 2, 0, 3], [2, 0, 0, 3], [4, 2, 0, 3], [1, 0, 0, 2], [1, 0, 0, 3]]
    )
    arch.fit_transitions(W)  # pairs: (2, 3) x 3, (1, 2), (1, 3)
    counts = arch.transition_counts
    assert counts[2, 3] == 3 and counts[1, 2] == 1 and counts[1, 3] == 1
    assert counts.sum() == 5 and arch.next_counts.tolist() == [0, 0, 1, 4, 0, 0]
    x = torch.tensor([[4, 2, 0, 3], [1, 0, 0, 2]])
    pop = arch.next_counts / 5
    model.eval()
    skip = arch.input_skip(x, x)[:, :, 0]  # (2, K): the only (future) step
    rows = counts[[2, 1]]  # the last items of x: 2 and 1
    expect = torch.log(((rows + pop) / torch.tensor([[4], [3]])).clamp_min(1e-12))
    assert torch.allclose(skip, expect), "evaluation must not leave anything out"
    model.train()
    loo = arch.input_skip(x, x)[:, :, 0]
    assert torch.isclose(loo[0, 3], torch.log((2 + pop[3]) / 3))
    assert torch.isclose(loo[1, 2], torch.log(pop[2] / 2)), "own pair not left out"
    assert torch.isclose(loo[1, 3], torch.log((1 + pop[3]) / 2))
    # Corruption hid the 2 of the clean window (1, 2 | 3): the chain reads row
    # 1, where (1, 3) is another window's pair, so nothing is left out.
    clean = torch.tensor([[1, 2, 0, 3]])
    hidden = torch.tensor([[1, 0, 0, 3]])
    loo = arch.input_skip(hidden, clean)[:, :, 0]
    assert torch.isclose(loo[0, 3], torch.log((1 + pop[3]) / 3))
    # The chain's weight is learned: the loss reaches it.
    model.loss(W)["loss"].backward()
    assert arch.transition_weight.grad is not None
    assert arch.transition_weight.grad.abs() > 0
    with pytest.raises(ConfigError, match="item windows"):
        _module((8, 2), horizon=2, item_transitions=True)


def test_item_transitions_add_to_the_recurrent_model(movielens, tmp_path):
    """Trained briefly on 300 users' histories, the model with the Markov chain
    ranks their validation items better than the same model without it (on
    all users, bench/results/sequence_items.md has it beating the chain's own
    ranking too; here, on 300 users, the chain alone still wins)."""
    train, val, _ = leave_one_out(movielens)
    users = sorted(train)[:300]
    hists = [train[u] for u in users]
    W = next_item_windows(hists, 10)
    target = np.array([val[u] for u in users])
    kw = dict(
        horizon=1, reconstruct=False, code_size=32, hidden_size=32, embedding_dim=32,
        epochs=3, batch_size=128, lr=3e-3, validation_fraction=0.0, random_state=0,
        device="cpu",
    )  # fmt: skip
    both = SequenceAutoencoder(item_transitions=True, **kw).fit(W)
    alone = SequenceAutoencoder(**kw).fit(W)
    ndcg = {
        name: hit_rate_ndcg(m.recommend(hists, 10)[0], target)[1]
        for name, m in (("both", both), ("alone", alone))
    }
    assert ndcg["both"] > ndcg["alone"] + 0.01, ndcg
    # The counts and the learned weight travel with the saved model.
    both.save(tmp_path / "run")
    again = SequenceAutoencoder.load(tmp_path / "run")
    np.testing.assert_array_equal(
        again.next_item_scores(W[:50, :10]), both.next_item_scores(W[:50, :10])
    )


def test_transition_weight_is_chosen_by_held_out_ranking(movielens, tmp_path):
    """transition_weight="ranking" sets the chain's weight to the tried one
    whose ranking of the held-out windows' next items has the best NDCG@10
    (recomputed here on the held-out windows, drawn again); "learned" keeps
    training's weight."""
    train, _, _ = leave_one_out(movielens)
    hists = [train[u] for u in sorted(train)[:300]]
    W = next_item_windows(hists, 10)
    kw = dict(
        horizon=1, reconstruct=False, code_size=16, hidden_size=16, embedding_dim=16,
        item_transitions=True, epochs=2, batch_size=128, lr=3e-3,
        validation_fraction=0.2, random_state=0, device="cpu",
    )  # fmt: skip
    model = SequenceAutoencoder(**kw).fit(W)
    info = model.transition_weight_
    tried = {float(w): v for w, v in info["validation_ndcg10"].items()}
    assert set(tried) == {info["learned"], 0.0, 0.25, 0.5, 1.0, 2.0, 4.0}
    assert tried[info["chosen"]] == max(tried.values())
    assert len(set(tried.values())) > 1  # the weight matters to the ranking
    weight = model.module_.architecture.transition_weight
    assert float(weight.detach()) == info["chosen"]
    # The held-out windows, as fit drew them; their NDCG@10 at the chosen weight.
    order = np.random.default_rng(seed_from(0)).permutation(len(W))
    val = W[np.sort(order[: int(round(len(W) * 0.2))])]
    val = val[val[:, 10] > 0]
    scores = model.next_item_scores(val[:, :10])
    for i, row in enumerate(val[:, :10]):
        scores[i, row] = -np.inf
    ndcg = hit_rate_ndcg(top_k(scores, 10), val[:, 10])[1]
    assert ndcg == pytest.approx(tried[info["chosen"]])
    model.save(tmp_path / "run")
    again = SequenceAutoencoder.load(tmp_path / "run")
    assert again.transition_weight_ == info
    assert (
        float(again.module_.architecture.transition_weight.detach()) == info["chosen"]
    )
    learned = SequenceAutoencoder(**kw, transition_weight="learned").fit(W)
    assert learned.transition_weight_["validation_ndcg10"] == {}
    assert learned.transition_weight_["learned"] == info["learned"]
    assert (
        float(learned.module_.architecture.transition_weight.detach())
        == info["learned"]
    )
    with pytest.raises(ConfigError, match="transition_weight must be"):
        SequenceAutoencoder(**kw, transition_weight="best").fit(W)


def test_hit_rate_and_ndcg_by_hand():
    ranked = np.array([[5, 3, 9], [1, 2, 4], [7, 8, 6]])
    hr, ndcg = hit_rate_ndcg(ranked, np.array([3, 4, 0]), k=3)
    assert hr == pytest.approx(2 / 3)
    assert ndcg == pytest.approx((1 / np.log2(3) + 1 / np.log2(4)) / 3)


# -- video ---------------------------------------------------------------------
def test_moving_mnist_is_deterministic_and_keeps_the_digits(mnist_test):
    digits = mnist_test.X[:50, 0]
    a = moving_mnist(digits, 8, seed=3)
    assert a.shape == (8, 20, 1, 64, 64) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, moving_mnist(digits, 8, seed=3))
    assert not np.array_equal(a, moving_mnist(digits, 8, seed=4))
    one = moving_mnist(digits, 4, n_digits=1, seed=0)
    # Every frame holds the whole digit: its ink is constant over time.
    ink = one.reshape(4, 20, -1).astype(np.int64).sum(2)
    assert np.all(ink == ink[:, :1])
    # Consecutive positions differ by at most one step of 0.1 * (64 - 28) px.
    ys = [np.argwhere(f[0]).mean(0) for f in one[0]]
    jumps = np.abs(np.diff(np.array(ys), axis=0))
    assert jumps.max() <= 0.1 * 36 * np.sqrt(2) + 1, jumps.max()


def _small_videos(digits, n, *, seed, n_frames=10):
    """Moving MNIST small enough for CI: one MNIST digit (n, 1, 28, 28)
    averaged down to 14x14, bouncing in 32x32 frames."""
    d = digits[:, 0].astype(np.float32)
    half = d.reshape(-1, 14, 2, 14, 2).mean((2, 4)).astype(np.uint8)
    return moving_mnist(half, n, n_frames=n_frames, size=32, n_digits=1, seed=seed)


def test_video_model_beats_all_black_and_writes_a_gif(
    mnist_train, mnist_test, tmp_path
):
    """Small frames (32x32, digits halved to 14x14) to fit the CI budget."""
    train = _small_videos(mnist_train.X[:2000], 600, seed=0)
    test = _small_videos(mnist_test.X[:500], 100, seed=1)
    model = SequenceAutoencoder(
        horizon=5,
        reconstruct=False,
        code_size=64,
        hidden_size=64,
        frame_channels=(16, 32),
        frame_features=64,
        epochs=12,
        batch_size=32,
        lr=3e-3,
        validation_fraction=0.0,
        random_state=0,
        device="cpu",
    ).fit(train)
    pred = model.forecast(test[:, :5]) / 255.0
    true = test[:, 5:] / 255.0
    mse = frame_mse(true, pred).mean()
    black = frame_mse(true, np.zeros_like(true)).mean()
    assert mse < 0.85 * black, f"MSE per frame {mse:.1f} vs all-black {black:.1f}"

    model.save(tmp_path / "run")
    np.save(tmp_path / "videos.npy", test[:3])
    gif = tmp_path / "pred.gif"
    res = CliRunner().invoke(
        cli,
        ["predict", str(tmp_path / "run"), str(tmp_path / "videos.npy"),
         "--frames", "5", "--out", str(gif), "--index", "2"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["predicted"] == 5
    from PIL import Image

    with Image.open(gif) as im:
        assert im.size == (3 * 32 * 3 + 2 * 2 * 3, 32 * 3)  # 3 panels, zoom 3
        # Pillow merges identical consecutive frames (a digit resting on an
        # edge) and adds up their durations: 10 frames of 200 ms in all.
        total = 0
        for i in range(im.n_frames):
            im.seek(i)
            total += im.info["duration"]
        assert total == 10 * 200 and im.n_frames >= 6


def test_conv_core_video_beats_all_black_on_mse_and_ssim(
    mnist_train, mnist_test, tmp_path
):
    """The conv core with the SSIM term on small frames (32x32, one digit
    halved to 14x14). Without the term (ssim_weight=0) the same fit scored
    MSE 10.1 but SSIM 0.732, below all-black frames' 0.745."""
    train = _small_videos(mnist_train.X[:2000], 2000, seed=0)
    test = _small_videos(mnist_test.X[:500], 100, seed=1)
    model = SequenceAutoencoder(
        horizon=5,
        reconstruct=False,
        frame_core="conv",
        code_size=32,
        hidden_size=64,
        num_layers=1,
        frame_channels=(16, 16),
        loss="bce",
        ssim_weight=0.4,
        epochs=8,
        batch_size=16,
        precision="bf16",
        validation_fraction=0.0,
        random_state=0,
        device="cpu",
    ).fit(train)
    assert model.transform(test[:4, :5]).shape == (4, 32, 4, 4)
    pred = model.forecast(test[:, :5]) / 255.0
    true = test[:, 5:] / 255.0
    black = np.zeros_like(true)
    mse, mse_black = frame_mse(true, pred).mean(), frame_mse(true, black).mean()
    ssim, ssim_black = frame_ssim(true, pred).mean(), frame_ssim(true, black).mean()
    # Measured: MSE 11.4 vs 15.8, SSIM 0.788 vs 0.745.
    assert mse < 0.8 * mse_black, f"MSE/frame {mse:.1f} vs all-black {mse_black:.1f}"
    assert ssim > ssim_black + 0.02, f"SSIM {ssim:.3f} vs all-black {ssim_black:.3f}"
    model.save(tmp_path / "run")
    import aekit

    again = aekit.load(tmp_path / "run")
    assert again.module_.architecture.config.frame_core == "conv"
    obs = test[:8, :5]
    np.testing.assert_array_equal(again.forecast(obs), model.forecast(obs))


def test_cli_fits_a_conv_core_video_model(mnist_test, tmp_path):
    videos = _small_videos(mnist_test.X[:100], 40, seed=2, n_frames=6)
    np.save(tmp_path / "videos.npy", videos)
    run = tmp_path / "run"
    res = CliRunner().invoke(
        cli,
        ["fit-sequence", str(tmp_path / "videos.npy"), "--horizon", "2",
         "--frame-core", "conv", "--frame-channels", "8,8", "--hidden-size", "16",
         "--code-size", "8", "--loss", "bce", "--precision", "bf16", "--epochs", "1",
         "--ssim-weight", "0.5",
         "--device", "cpu", "-q", "--out", str(run)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    import aekit

    model = aekit.load(run)
    assert model.kind_ == "frames" and model.frame_core == "conv"
    assert model.precision == "bf16" and model.loss_ == "bce"
    assert model.module_.architecture.config.ssim_weight == 0.5
    assert model.forecast(videos[:3, :4]).shape == (3, 2, 1, 32, 32)
    res = CliRunner().invoke(
        cli, ["fit-sequence", str(tmp_path / "videos.npy"), "--horizon", "2",
              "--frame-core", "convlstm", "--out", str(tmp_path / "bad")],
    )  # fmt: skip
    assert res.exit_code == 2 and "convlstm" in res.output


def test_cli_fits_items_from_an_interaction_log(tmp_path):
    if not ML100K.exists():
        pytest.skip(f"MovieLens 100K not found at {ML100K}")
    small = tmp_path / "u.data"
    small.write_text("".join(ML100K.read_text().splitlines(True)[:3000]))
    run = tmp_path / "run"
    res = CliRunner().invoke(
        cli,
        ["fit-sequence", str(small), "--kind", "items", "--window", "6",
         "--horizon", "1", "--no-reconstruct", "--epochs", "1", "--hidden-size",
         "8", "--code-size", "8", "--item-transitions", "--transition-weight",
         "learned", "--device", "cpu", "-q", "--out", str(run)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    import aekit

    model = aekit.load(run)
    assert model.kind_ == "items" and model.n_observed_ == 5
    assert model.item_transitions and model.module_.architecture.next_counts.sum() > 0
    assert model.transition_weight == "learned"
    assert model.transition_weight_["validation_ndcg10"] == {}
    hist = tmp_path / "h.txt"
    hist.write_text("# one history per line\n242 302 377\n")
    res = CliRunner().invoke(cli, ["recommend", str(run), "--history", str(hist)])
    assert res.exit_code == 0, res.output
    items = [int(p.split(":")[0]) for p in res.output.split()]
    assert len(items) == 10 and not {242, 302, 377} & set(items)
    hist.write_text("242 abc\n")
    res = CliRunner().invoke(cli, ["recommend", str(run), "--history", str(hist)])
    assert res.exit_code == 2 and "must be integers" in res.output


def test_clone_and_params():
    from sklearn.base import clone

    model = SequenceAutoencoder(horizon=3, cell="lstm", frame_channels=(8, 16))
    twin = clone(model)
    assert twin.get_params() == model.get_params()
    W = sliding_windows(np.cos(np.arange(80.0) / 3), 12)
    twin.set_params(epochs=1, device="cpu", random_state=0).fit(W)
    assert twin.forecast(W[:4, :9]).shape == (4, 3, 1)
    assert not hasattr(clone(twin), "module_")
