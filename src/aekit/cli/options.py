"""Options and helpers shared by several commands."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import Any

import click

from aekit.exceptions import ConfigError


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
