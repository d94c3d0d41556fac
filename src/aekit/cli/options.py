"""Options and helpers shared by several commands."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import Any

import click

from aekit.exceptions import ConfigError, DataError


def parse_ints(text: str | None, *, name: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    text = text.strip()
    if text in ("", "none", "()"):
        return ()
    try:
        values = tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        raise ConfigError(
            f"--{name} takes comma-separated integers such as 512,256. Got {text!r}."
        ) from None
    return values


def parse_image_size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    size = parse_ints(text.lower().replace("x", ","), name="image-size")
    if not size or len(size) not in (1, 2) or min(size) < 1:
        raise ConfigError(f"--image-size takes HxW such as 28x28. Got {text!r}.")
    return (size[0], size[0]) if len(size) == 1 else (size[0], size[1])


def read_toml(path: str | Path, known: set[str]) -> dict[str, Any]:
    """Estimator parameters from a TOML file; tables are flattened."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}.") from None
    flat: dict[str, Any] = {}

    def walk(d):
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v)
            else:
                flat[k.replace("-", "_")] = v

    walk(doc)
    for k in flat:
        if k not in known:
            close = difflib.get_close_matches(k, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"Config file {path}: unknown option {k!r}.{hint}")
    return flat


# How to fit a run folder of each estimator, for the message that asks for one.
FIT_COMMANDS = {
    "Autoencoder": "aekit fit DATA --out RUN",
    "AnomalyDetector": "aekit fit DATA --task anomaly --out RUN",
    "Recommender": "aekit fit DATA --model multvae --out RUN",
    "SequenceAutoencoder": "aekit fit-sequence DATA --window W --horizon H --out RUN",
}


def _a(word: str) -> str:
    return f"{'an' if word[0] in 'AEIOU' else 'a'} {word}"


def load_run(run_dir: str, command: str, *kinds: str):
    """The fitted estimator in ``run_dir``, if its class is one of ``kinds``.

    A run of another kind (an AnomalyDetector given to ``aekit encode``) is a
    ConfigError that names what the folder holds and how to fit what the
    command needs, not an AttributeError halfway through the command.
    """
    import aekit

    model = aekit.load(run_dir)
    name = type(model).__name__
    if name not in kinds:
        raise ConfigError(
            f"{run_dir} holds {_a(name)}; 'aekit {command}' needs "
            f"{_a(' or '.join(kinds))} run (fit one with "
            f"'{FIT_COMMANDS[kinds[0]]}')."
        )
    return model


def check_samples(model, X, data, run_dir, *, shape=None) -> None:
    """The model's shape check, made where the files can be named: DATA and
    RUN_DIR, with the option that fixes it. ``shape``: the fitted sample
    shape, when it is not ``model.input_shape_`` (a detector's autoencoder)."""
    shape = tuple(shape if shape is not None else getattr(model, "input_shape_", ()))
    got = tuple(X.shape[1:])
    if not shape or got == shape:
        return
    if len(shape) == 3 and len(got) == 3:
        hint = (
            f"pass --image-size {shape[1]}x{shape[2]} to resize the images ('aekit "
            "denoise', 'inpaint' and 'deblur' take any size, in tiles)"
        )
    else:
        hint = "pass data like its training data (same --key, --image-size)"
    raise DataError(
        f"{data} has samples of shape {got}, but the {type(model).__name__} in "
        f"{run_dir} was fitted on samples of shape {shape}; {hint}."
    )


def given(ctx: click.Context, name: str) -> bool:
    """Whether the user typed option ``name`` (not its default)."""
    src = ctx.get_parameter_source(name)
    return src is not None and src != click.core.ParameterSource.DEFAULT


# The tiling options of the image restoration commands (denoise, deblur, inpaint).
overlap_option = click.option(
    "--overlap", type=int, help="Tile overlap in pixels (default: tile/2)."
)
self_ensemble_option = click.option(
    "--self-ensemble",
    is_flag=True,
    help="Average the outputs for the 8 flips and quarter turns of each image "
    "(8x the time; cleaner with models trained on flipped, turned patches).",
)
