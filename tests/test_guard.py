"""The data-specific guard: it warns for input unlike the training data (noise,
photographs, another digits data set) and stays quiet for held-out data."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import aekit
from aekit import Autoencoder, guard
from aekit.cli import cli
from aekit.data.readers import Dataset
from aekit.exceptions import DataError
from aekit.guard import DataGuardWarning


def _guard_warnings(fn, *args):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args)
    return out, [w for w in caught if issubclass(w.category, DataGuardWarning)]


def _photo_patches(size: int, n: int, high: float, seed: int = 0) -> np.ndarray:
    """Random size x size crops of scikit-image's bundled photographs."""
    from skimage import color
    from skimage import data as skdata

    rng = np.random.default_rng(seed)
    photos = [skdata.camera(), skdata.coins(), color.rgb2gray(skdata.astronaut())]
    out = []
    for i in range(n):
        img = np.asarray(photos[i % len(photos)], np.float64)
        img = (img - img.min()) / (img.max() - img.min())
        r = rng.integers(0, img.shape[0] - size)
        c = rng.integers(0, img.shape[1] - size)
        out.append(img[r : r + size, c : c + size])
    return (np.stack(out)[:, None] * high).astype(np.float32)


@pytest.fixture(scope="module")
def digits_model(digits):
    rng = np.random.default_rng(0)
    order = rng.permutation(len(digits))
    train = Dataset(digits.X[order[:1400]], "image", (0.0, 16.0))
    model = Autoencoder(
        code_size=8, hidden=(64,), epochs=40, batch_size=64, random_state=0
    ).fit(train)
    return model, digits.X[order[1400:]]


def test_quiet_on_held_out_digits(digits_model):
    model, held_out = digits_model
    _, caught = _guard_warnings(model.transform, held_out)
    assert not caught, caught[0].message
    _, caught = _guard_warnings(model.reconstruct, held_out)
    assert not caught, caught[0].message
    # One held-out sample at a time is quiet too.
    for x in held_out[:20]:
        _, caught = _guard_warnings(model.transform, x[None])
        assert not caught, caught[0].message


def test_fires_for_noise_with_counts_and_can_be_silenced(digits_model):
    model, _ = digits_model
    noise = np.random.default_rng(1).uniform(0, 16, (50, 1, 8, 8)).astype(np.float32)
    codes, caught = _guard_warnings(model.transform, noise)
    assert len(caught) == 1
    msg = str(caught[0].message)
    assert "50 of 50 samples given to transform" in msg, msg
    assert "percentile" in msg and "guard=False" in msg, msg
    # The warning points at the caller's line, not inside aekit.
    assert caught[0].filename == __file__, caught[0].filename
    _, caught = _guard_warnings(model.reconstruct, noise)
    assert len(caught) == 1 and "given to reconstruct" in str(caught[0].message)

    model.set_params(guard=False)
    try:
        quiet_codes, caught = _guard_warnings(model.transform, noise)
    finally:
        model.set_params(guard=True)
    assert not caught
    # The guard only watches: outputs are the same with it on or off.
    np.testing.assert_array_equal(codes, quiet_codes)


def test_fires_for_photographs_and_for_mnist_digits(digits_model, mnist_test):
    model, _ = digits_model
    _, caught = _guard_warnings(model.transform, _photo_patches(8, 60, 16.0))
    assert len(caught) == 1, "photograph patches went unnoticed"

    # Another digits data set: MNIST's 28x28 digits shrunk to 8x8 on 0-16.
    from skimage.transform import resize

    mnist8 = np.stack(
        [resize(x[0] / 255.0, (8, 8), anti_aliasing=True) for x in mnist_test.X[:200]]
    )[:, None]
    report = guard.assess(
        model.reconstruction_error(16 * mnist8), model.error_quantiles_, 200
    )
    assert report.fired, report
    assert report.n_above > 100, report


def test_mnist_model_quiet_on_all_test_digits_fires_on_photos(mnist_train, mnist_test):
    model = Autoencoder(
        code_size=16, hidden=(128,), epochs=6, batch_size=128, random_state=0
    ).fit(Dataset(mnist_train.X[:3000], "image", (0.0, 255.0)))
    # All 10,000 test digits: the guard subsamples and must not cry wolf.
    _, caught = _guard_warnings(model.transform, mnist_test.X)
    assert not caught, caught[0].message
    photos = _photo_patches(28, 40, 255.0).round().astype(np.uint8)
    _, caught = _guard_warnings(model.reconstruct, photos)
    assert len(caught) == 1, "28x28 photograph crops went unnoticed"


def test_assess_rule():
    rng = np.random.default_rng(0)
    reference = rng.exponential(1.0, 5000)
    q = np.quantile(reference, np.linspace(0, 1, 201))
    same = rng.exponential(1.0, 100_000)

    def assess(errors):
        return guard.assess(errors, q, len(errors), n_reference=10_000)

    assert not assess(same).fired
    # A mild shift (3% above the 99th percentile instead of 1%) is significant
    # in a large batch but not "far outside": no warning.
    mild = np.where(rng.random(100_000) < 0.02, 6.0, same)
    assert not assess(mild).fired
    report = assess(same[:200] * 10)
    assert report.fired and report.median_quantile > 0.99, report
    threshold, far = guard.thresholds(q)
    assert not assess(np.array([threshold * 1.5])).fired
    assert assess(np.array([far * 1.01])).fired  # one sample, far out
    assert not guard.assess(np.array([far * 1.01]), q, 1, 1000).fired
    assert assess(np.array([threshold * 1.5] * 2)).fired
    # A small reference (30 held-out errors) pins its 99th percentile down
    # poorly: the same batch of two is no evidence then, nor are 8 of 30.
    assert not guard.assess(np.array([threshold * 1.5] * 2), q, 2, 30).fired
    assert not guard.assess(np.r_[np.full(8, 5.0), np.ones(22)], q, 30, 30).fired
    assert guard.assess(same[:30] * 10, q, 30, 30).fired


def test_large_inputs_are_subsampled(digits_model, monkeypatch):
    """All of a small batch is measured; past 256 samples, 1% of them, at
    least 256 and at most 512, evenly spaced from the first to the last."""
    model, held_out = digits_model
    for n, want in ((1, 1), (256, 256), (1_000, 256), (30_000, 300), (10**6, 512)):
        rows = guard.checked_rows(n)
        assert rows.sum() == want == guard.n_checked(n) and rows[0] and rows[-1]
        gaps = np.diff(np.flatnonzero(rows))
        assert n == 1 or gaps.max() - gaps.min() <= 1  # evenly spaced
    assert guard.checked_rows(10, enabled=False) is None
    monkeypatch.setattr(guard, "MIN_CHECKED", 100)
    monkeypatch.setattr(guard, "MAX_CHECKED", 100)
    noise = np.random.default_rng(2).uniform(0, 16, (500, 1, 8, 8))
    _, caught = _guard_warnings(model.transform, noise)
    assert len(caught) == 1
    assert "measured on 100 evenly spaced samples" in str(caught[0].message)


def test_summary_save_load_and_cli(digits_model, tmp_path):
    model, held_out = digits_model
    run = tmp_path / "run"
    model.save(run)
    summary = json.loads((run / "summary.json").read_text())
    g = summary["guard"]
    assert g["enabled"] is True and 0 < g["threshold"] < g["far_threshold"], g
    assert g["reference_samples"] == 140  # 10% of the 1,400 training digits
    loaded = aekit.load(run)
    noise = np.random.default_rng(3).uniform(0, 16, (30, 1, 8, 8)).astype(np.float32)
    _, caught = _guard_warnings(loaded.transform, noise)
    assert len(caught) == 1

    np.save(tmp_path / "noise.npy", noise)
    runner = CliRunner()
    for command in ("encode", "reconstruct"):
        args = [command, str(run), str(tmp_path / "noise.npy")]
        args += ["--out", str(tmp_path / "out.npy")]
        r = runner.invoke(cli, args, catch_exceptions=False)
        assert r.exit_code == 0, r.output
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("aekit: warning: 30 of 30"), (
            r.stderr
        )
        r = runner.invoke(cli, [*args, "--no-guard"], catch_exceptions=False)
        assert r.exit_code == 0 and r.stderr == "", r.stderr


def test_transform_and_reconstruct_measure_the_same_errors(digits_model):
    """transform decodes the checked rows of every batch in one call at the
    end; reconstruct gets them from its own pass. Both give the errors of
    reconstruction_error, row for row, across batch boundaries."""
    model, held_out = digits_model
    X = np.concatenate([held_out] * 8)  # 3,176 rows: four batches of 1,024
    rows = guard.checked_rows(len(X))
    expected = model.reconstruction_error(X[rows])
    for make in (guard.encoding, guard.reconstruction):
        _, errors = guard.batched_with_errors(
            make(model.module_),
            X,
            device=model._device,
            rows=rows,
            prepare=model.scaler_.transform_tensor,
        )
        np.testing.assert_allclose(errors, expected, rtol=1e-5, atol=1e-9)


def test_transform_leaves_float32_input_unchanged(digits_model):
    """Batches are scaled in place on the device: never the caller's array."""
    model, held_out = digits_model
    X = np.ascontiguousarray(held_out, dtype=np.float32)
    before = X.copy()
    model.transform(X)
    model.reconstruct(X)
    np.testing.assert_array_equal(X, before)


def test_transform_takes_big_endian_input(digits_model):
    """Batches go to torch, which takes only native byte order: a big-endian
    array (a .npy written on such a machine, FITS data) is converted first."""
    model, held_out = digits_model
    for dtype in (">f4", ">f8", ">i2"):
        X = held_out.astype(dtype)
        np.testing.assert_array_equal(model.transform(X), model.transform(held_out))
        np.testing.assert_array_equal(model.reconstruct(X), model.reconstruct(held_out))


def test_read_only_memory_map_gives_no_warning(digits_model, tmp_path):
    """A memory-mapped .npy is read-only; torch warns when it shares one, and
    the CLI prints that as 'aekit: warning: ...' before its JSON. The batches
    are only read, so no warning may reach the user."""
    model, held_out = digits_model
    np.save(tmp_path / "x.npy", np.ascontiguousarray(held_out, dtype=np.float32))
    X = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert not X.flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails, not only the first
        codes = model.transform(X)
        recon = model.reconstruct(X)
    np.testing.assert_array_equal(codes, model.transform(held_out))
    np.testing.assert_array_equal(recon, model.reconstruct(held_out))


@pytest.fixture
def finite_checks(monkeypatch):
    """The FiniteCheck of every batched_with_errors call, to see which way
    each batch was checked."""
    made = []

    class Recorded(guard.FiniteCheck):
        def __init__(self, module):
            super().__init__(module)
            made.append(self)

    monkeypatch.setattr(guard, "FiniteCheck", Recorded)
    return made


@pytest.mark.parametrize("input_norm", [None, "l2"])
def test_transform_finds_nan_and_inf_in_any_batch(digits, finite_checks, input_norm):
    """transform and reconstruct check float input for NaN and inf batch by
    batch: on the first dense layer's first unit where the batch reaches it
    unchanged (a zero weight still gives NaN: 0 * inf), by a sum of the batch
    where it does not (input normalization); either way the error names the
    place, in any batch, the last partial one too."""
    X = np.concatenate([digits.X.reshape(len(digits.X), -1) / 16.0] * 2)
    X = X.astype(np.float32)  # 3,594 rows: 2 batches of 2,048, the last partial
    assert guard.batch_rows(X) == 2048
    model = Autoencoder(
        code_size=4,
        hidden=(16,),
        epochs=2,
        random_state=0,
        architecture={"kind": "dense", "input_norm": input_norm},
    ).fit(X[:300])
    first = next(m for m in model.module_.modules() if isinstance(m, torch.nn.Linear))
    with torch.no_grad():
        first.weight[:, 5] = 0.0  # input 5 reaches no unit
    for row, col, value in [(0, 5, np.inf), (2100, 5, -np.inf), (3593, 0, np.nan)]:
        bad = X.copy()
        bad[row, col] = value
        for method in (model.transform, model.reconstruct):
            finite_checks.clear()
            with pytest.raises(DataError, match=f"at row {row} column {col};"):
                method(bad)
            (check,) = finite_checks
            expected = (2, 0) if input_norm is None else (0, 2)
            assert (check.by_layer, check.by_sum) == expected
            assert not first._forward_hooks and not first._forward_pre_hooks
    finite_checks.clear()
    assert model.transform(X).shape == (len(X), 4)  # clean input passes
    assert finite_checks[0].passed()


def test_finite_check_passes_finite_input_whose_sum_overflows(
    digits_model, finite_checks, monkeypatch
):
    """Huge finite values make the first unit's sum inf: the exact check then
    runs, finds no NaN or inf, and transform goes on."""
    model, held_out = digits_model
    X = held_out.astype(np.float32)
    X[:50] = np.finfo(np.float32).max / 4  # one row stays finite after scaling
    exact, real = [], guard.check_finite
    monkeypatch.setattr(
        guard, "check_finite", lambda a: (exact.append(a.shape), real(a))
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataGuardWarning)
        assert model.transform(X).shape == (len(X), 8)
    assert [c.passed() for c in finite_checks] == [False]  # the sum overflowed
    assert exact == [X.shape]  # ... so the exact check ran, and let it through


def test_inference_batches_hold_a_few_mib_of_input(digits_model):
    """About 4.5 MiB of float32 input: at most 2,048 rows of small samples,
    fewer of large ones (never below 256); the codes do not depend on the
    batching."""
    assert guard.batch_rows(np.empty((10, 64))) == 2048
    assert guard.batch_rows(np.empty((10, 784))) == 1504
    assert guard.batch_rows(np.empty((10, 3, 32, 32))) == 384
    assert guard.batch_rows(np.empty((10, 1, 256, 256))) == 256
    model, held_out = digits_model
    X = np.concatenate([held_out] * 8)  # 3,176 rows: two batches of up to 2,048
    with torch.inference_mode():
        xs = torch.from_numpy(model.scaler_.transform(X))
        expected = model.module_.encode(xs).numpy()
    np.testing.assert_allclose(model.transform(X), expected, rtol=1e-5, atol=1e-6)


def test_float64_input_is_checked_once_up_front(digits_model, finite_checks):
    """float64 is checked for NaN and inf by check_array (its float32 range
    check reads it all anyway), so the batch loop does not check it again."""
    model, held_out = digits_model
    bad = held_out.astype(np.float64)
    bad.reshape(len(bad), -1)[7, 3] = np.nan  # a view: bad is contiguous
    with pytest.raises(DataError, match="1 NaN, 0 inf"):
        model.transform(bad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataGuardWarning)
        model.transform(held_out.astype(np.float64))
        assert not finite_checks
        model.transform(held_out.astype(np.float32))
    assert len(finite_checks) == 1
