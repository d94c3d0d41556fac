"""Property-based fuzzing: every outcome is a success or a clean aekit error.

Random small arrays of random shapes and dtypes go to the estimator; random and
mutated bytes go to every loader (each suffix), to the run-folder loader and to
the CLI; random option values go to ``aekit fit``. No other exception type may
escape and no example may hang (each runs under an alarm).

CI runs a bounded, derandomized number of examples; ``make bench`` runs
``bench/bench_fuzz.py``, which sets ``AEKIT_FUZZ_EXAMPLES`` for many more.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import signal
import warnings
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import aekit
from aekit import Autoencoder
from aekit.cli import cli
from aekit.data import load
from aekit.exceptions import AekitError

EXAMPLES = int(os.environ.get("AEKIT_FUZZ_EXAMPLES", "0"))
HANG_SECONDS = 60


def fuzz_settings(ci_examples: int):
    """CI: a fixed, derandomized sample; bench: AEKIT_FUZZ_EXAMPLES random ones."""
    return settings(
        max_examples=EXAMPLES or ci_examples,
        derandomize=not EXAMPLES,
        deadline=timedelta(seconds=20),
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
        ],
    )


class Hang(BaseException):
    """Raised by the alarm; a BaseException so no ``except Exception`` eats it."""


@contextlib.contextmanager
def no_hang(seconds: int = HANG_SECONDS):
    def on_alarm(signum, frame):
        raise Hang(f"no result after {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def clean(fn):
    """Run ``fn``; return its value, or the AekitError it raised. Anything else
    (another exception type, a hang) fails the test."""
    with no_hang(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = fn()
        except AekitError as exc:
            assert str(exc).strip(), "an aekit error without a message"
            event(f"{type(exc).__name__}")
            return exc
    event("success")
    return result


# -- the estimator on random arrays ---------------------------------------------------
DTYPES = ["float16", "float32", "float64", "int8", "uint8", "int64", "bool"]
DTYPES += ["complex64", "uint64"]


@st.composite
def arrays(draw):
    """Mostly plausible data (>= 2 rows, finite), often not."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    n = draw(st.integers(0, 7) if draw(st.booleans()) else st.integers(2, 7))
    dims = st.integers(0, 4) if draw(st.booleans()) else st.integers(1, 4)
    sample = draw(st.lists(dims, min_size=0 if n % 3 == 0 else 1, max_size=3))
    elements = None
    if dtype.kind == "f" and draw(st.booleans()):
        elements = hnp.from_dtype(
            dtype, allow_nan=False, allow_infinity=False, min_value=-1e4, max_value=1e4
        )
    return draw(hnp.arrays(dtype, (n, *sample), elements=elements))


@fuzz_settings(40)
@given(
    X=arrays(),
    validation_fraction=st.sampled_from([0.0, 0.1, 0.5]),
    nan_policy=st.sampled_from(["error", "drop", "zero"]),
    batch_norm=st.booleans(),
    loss=st.sampled_from(["auto", "mse", "bce"]),
)
def test_estimator_on_random_arrays(
    X, validation_fraction, nan_policy, batch_norm, loss
):
    ae = Autoencoder(
        code_size=2,
        hidden=(3,),
        epochs=1,
        batch_size=3,
        device="cpu",
        random_state=0,
        validation_fraction=validation_fraction,
        nan_policy=nan_policy,
        batch_norm=batch_norm,
        loss=loss,
    )
    fitted = clean(lambda: ae.fit(X))
    if isinstance(fitted, AekitError):
        return
    codes = clean(lambda: ae.transform(X))
    if not isinstance(codes, AekitError):
        assert codes.shape == (len(X), 2)
        assert np.isfinite(codes).all(), "finite input gave non-finite codes"
        back = clean(lambda: ae.inverse_transform(codes))
        assert not isinstance(back, AekitError)
        assert back.shape == (len(X), *X.shape[1:])
    # other shapes and dtypes at inference: a clean error or a result
    clean(lambda: ae.transform(X[:, None] if X.ndim else X))
    clean(lambda: ae.transform(X.astype(np.float64) * 1e300))


# -- every loader on random and mutated bytes ---------------------------------------
def _valid_files() -> dict[str, bytes]:
    """One small valid file per suffix: seeds that mutations reach deep from."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    X = (np.arange(24, dtype=np.uint8).reshape(2, 3, 4) * 7).astype(np.uint8)
    out = {}
    buf = io.BytesIO()
    np.save(buf, X.reshape(2, -1).astype(np.float32))
    out[".npy"] = buf.getvalue()
    buf = io.BytesIO()
    np.savez(buf, a=X.reshape(2, -1))
    out[".npz"] = buf.getvalue()
    out[".csv"] = b"a,b,c\n1,2,3\n4,5,6\n"
    out[".tsv"] = b"1\t2\n3\t4\n"
    out[".txt"] = b"1,2\n3,4\n"
    buf = io.BytesIO()
    pq.write_table(pa.table({"x": [1.0, 2.0], "y": [3, 4]}), buf)
    out[".parquet"] = buf.getvalue()
    for suffix, fmt in [(".png", "PNG"), (".jpg", "JPEG"), (".bmp", "BMP")]:
        buf = io.BytesIO()
        Image.fromarray(X[0]).save(buf, format=fmt)
        out[suffix] = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray(X[0]).save(buf, format="TIFF")
    out[".tif"] = buf.getvalue()
    idx = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in X.shape)
    idx += X.tobytes()
    out["-images-idx3-ubyte"] = idx
    out["-images-idx3-ubyte.gz"] = gzip.compress(idx)
    return out


VALID = _valid_files()


@st.composite
def file_bytes(draw, suffix: str):
    """Random bytes, or a valid file, maybe truncated, with a few bytes changed."""
    if draw(st.integers(0, 2)) == 0:
        return draw(st.binary(max_size=400))
    data = bytearray(VALID[suffix])
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    for _ in range(draw(st.integers(0, 3))):
        if data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
    return bytes(data)


@fuzz_settings(12)
@pytest.mark.parametrize("suffix", sorted(VALID))
@given(data=st.data())
def test_loaders_on_random_bytes(suffix, data, tmp_path):
    raw = data.draw(file_bytes(suffix))
    path = tmp_path / f"f{suffix}"
    path.write_bytes(raw)
    result = clean(lambda: load(path))
    if not isinstance(result, AekitError):
        assert len(result) >= 1 and result.X.ndim >= 2
    folder = tmp_path / "folder"
    folder.mkdir(exist_ok=True)
    if suffix in (".png", ".jpg", ".bmp", ".tif"):
        (folder / f"f{suffix}").write_bytes(raw)
        (folder / "ok.png").write_bytes(VALID[".png"])
        clean(lambda: load(folder))
        clean(lambda: load(folder, strict=True))


# -- the run folder on damaged files ----------------------------------------------
@pytest.fixture(scope="module")
def fitted_run(tmp_path_factory):
    X = np.random.default_rng(0).random((30, 5), dtype=np.float32)
    ae = Autoencoder(code_size=2, hidden=(4,), epochs=1, device="cpu", random_state=0)
    return ae.fit(X).save(tmp_path_factory.mktemp("fuzz") / "run")


def _json_values():
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 10**6),
        st.floats(allow_nan=True),
        st.text(max_size=8),
    )
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=6,
    )


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


@fuzz_settings(40)
@given(data=st.data())
def test_run_folder_with_damaged_config_or_weights(fitted_run, data, tmp_path):
    import hashlib
    import shutil

    run = Path(shutil.copytree(fitted_run, tmp_path / "run", dirs_exist_ok=True))
    config = json.loads((run / "config.json").read_text())
    what = data.draw(st.sampled_from(["config-value", "config-bytes", "weights"]))
    if what == "config-value":  # replace one value anywhere in config.json
        path = data.draw(st.sampled_from(list(_paths(config))[1:]))
        node = config
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = data.draw(_json_values())
        (run / "config.json").write_text(json.dumps(config))
    elif what == "config-bytes":
        (run / "config.json").write_bytes(data.draw(st.binary(max_size=300)))
    else:  # crafted weights with a matching hash: only parsing stands guard
        weights = bytearray((run / "model.safetensors").read_bytes())
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, min(len(weights) - 1, 400)))
            weights[i] = data.draw(st.integers(0, 255))
        weights = weights[: data.draw(st.integers(0, len(weights)))]
        (run / "model.safetensors").write_bytes(bytes(weights))
        config["weights_sha256"] = hashlib.sha256(weights).hexdigest()
        (run / "config.json").write_text(json.dumps(config))
    model = clean(lambda: aekit.load(run))
    if not isinstance(model, AekitError):
        clean(lambda: model.transform(np.zeros((2, 5), np.float32)))


# -- the CLI --------------------------------------------------------------------
def _invoke(argv):
    with no_hang():
        r = CliRunner().invoke(cli, [str(a) for a in argv])
    assert r.exception is None or isinstance(r.exception, SystemExit), (
        f"{type(r.exception).__name__}: {r.exception}"
    )
    assert r.exit_code in (0, 2), (r.exit_code, r.output)
    event(f"{argv[0]}: exit {r.exit_code}")
    assert "Traceback" not in r.output
    if r.exit_code == 2:
        assert r.stderr.strip(), "exit 2 without a message"
    return r


@fuzz_settings(15)
@given(suffix=st.sampled_from(sorted(VALID)), data=st.data())
def test_cli_on_random_files(fitted_run, suffix, data, tmp_path):
    raw = data.draw(file_bytes(suffix))
    path = tmp_path / f"in{suffix}"
    path.write_bytes(raw)
    small = ["--code-size", "2", "--hidden", "3", "--epochs", "1", "-q"]
    _invoke(["fit", path, "--out", tmp_path / "out", *small])
    _invoke(["encode", fitted_run, path, "--out", tmp_path / "z.npy"])
    _invoke(["evaluate", fitted_run, path])


OPTION_VALUES = ["0", "-1", "1", "3", "0.5", "1e-3", "nan", "inf", "-inf", ""]
OPTION_VALUES += ["abc", "1,2", "a,b", "none", "gaussian:0.3", "masking:2"]
OPTION_VALUES += ["variational", "relu", "cpu", "drop", "zero", "3x3"]
FLAGS = ["--code-size", "--hidden", "--decoder-hidden", "--activation", "--loss"]
FLAGS += ["--code-activation", "--latent", "--noise", "--dropout", "--batch-size"]
FLAGS += ["--lr", "--optimizer", "--lr-schedule", "--weight-decay", "--patience"]
FLAGS += ["--validation-fraction", "--scaling", "--seed", "--device", "--nan-policy"]
FLAGS += ["--divergence-retries", "--image-size", "--key", "--regularizer"]


@fuzz_settings(30)
@given(
    options=st.lists(
        st.tuples(
            st.sampled_from(FLAGS),
            st.one_of(st.sampled_from(OPTION_VALUES), st.text(max_size=6)),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_cli_on_random_option_values(options, tmp_path):
    table = tmp_path / "t.csv"
    rng = np.random.default_rng(0)
    table.write_text("\n".join(",".join(map(str, r)) for r in rng.random((12, 4))))
    argv = ["fit", table, "--out", tmp_path / "out"]
    for flag, value in options:
        argv += [flag, value]
    # last: keep every run small whatever the fuzzed values say
    argv += ["--epochs", "1", "-q"]
    if not any(flag in ("--hidden", "--code-size") for flag, _ in options):
        argv += ["--hidden", "3", "--code-size", "2"]
    _invoke(argv)
