"""``aekit generate`` and ``aekit interpolate``: new data from a variational model."""

from __future__ import annotations

from pathlib import Path

import click

from aekit.cli.options import given, load_run, parse_image_size
from aekit.exceptions import ConfigError, DataError


def _variational_model(run_dir, command: str):
    from aekit.generation import is_variational

    model = load_run(run_dir, command, "Autoencoder")
    if not is_variational(model):
        raise ConfigError(
            f"{run_dir} holds a model with a "
            f"{model.module_.latent.kind!r} latent, which cannot generate; fit "
            "one with --latent variational."
        )
    return model


@click.command("generate")
@click.argument("run_dir")
@click.option(
    "--n",
    "n",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Samples.",
)
@click.option("--out", "-o", required=True, help="Output: .png (a grid), .npy or .csv.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--draw",
    is_flag=True,
    help="Draw from p(x|z) too (binary pixels); default: the decoder's mean.",
)
@click.option(
    "--grid",
    type=click.IntRange(min=2),
    help="For a 2-D latent: decode an N x N grid over the latent space instead.",
)
@click.option(
    "--cols", type=click.IntRange(min=1), help="Images per row of the picture."
)
@click.pass_context
def generate_command(ctx, run_dir, n, out, seed, draw, grid, cols):
    """Sample new data from the prior of the variational model in RUN_DIR."""
    from aekit.generation import write_samples

    if grid is not None:
        # The grid is fixed by N: the options that shape random samples would
        # be ignored without a word.
        ignored = [f"--{name}" for name in ("n", "seed", "draw") if given(ctx, name)]
        if ignored:
            raise ConfigError(
                f"--grid decodes a fixed N x N grid of codes, so it takes no "
                f"{', '.join(ignored)}; drop {'it' if len(ignored) == 1 else 'them'}, "
                "or drop --grid to sample from the prior."
            )
    model = _variational_model(run_dir, "generate")
    if grid is not None:
        X = model.latent_grid(grid)
        cols = grid
        what = f"a {grid} x {grid} latent-space grid"
    else:
        X = model.sample(n, random_state=seed, draw=draw)
        what = f"{n} samples"
    write_samples(model, X, out, ncols=cols)
    click.echo(f"Wrote {what} to {out}")


def _endpoint(spec: str, data, key, image_size, name: str):
    """One sample: an index into --data, or a file holding one sample."""
    from aekit.data import load

    if data is not None:
        try:
            i = int(spec)
        except ValueError:
            raise ConfigError(
                f"--{name} must be an index into --data (an integer). Got {spec!r}."
            ) from None
        if not -len(data) <= i < len(data):
            raise DataError(
                f"--{name} {i} is out of range: --data has {len(data)} samples."
            )
        return data.X[i]
    if not Path(spec).exists():
        raise DataError(
            f"--{name} {spec!r} is not a file; give a file holding one sample (an "
            "image, .npy, ...) or pass --data and an index."
        )
    ds = load(spec, key=key, image_size=image_size)
    if len(ds) != 1:
        raise DataError(
            f"--{name} {spec} holds {len(ds)} samples; give a file with one, or pass "
            "--data and an index."
        )
    return ds.X[0]


@click.command("interpolate")
@click.argument("run_dir")
@click.option("--from", "start", required=True, help="Index into --data, or a file.")
@click.option("--to", "end", required=True, help="Index into --data, or a file.")
@click.option("--steps", type=click.IntRange(min=2), default=10, show_default=True)
@click.option("--out", "-o", required=True, help="Output: .png (a strip), .npy, .csv.")
@click.option("--data", help="Data set that --from and --to index into.")
@click.option("--key", help="Array name inside an .npz file.")
@click.option("--image-size", help="Resize images to HxW.")
@click.option(
    "--spherical", is_flag=True, help="Follow a great circle (slerp), not a line."
)
def interpolate_command(
    run_dir, start, end, steps, out, data, key, image_size, spherical
):
    """Decode codes on the path between two inputs' posterior means."""
    import numpy as np

    from aekit.data import load
    from aekit.generation import write_samples
    from aekit.workflows import check_out

    check_out(out, data)
    model = _variational_model(run_dir, "interpolate")
    size = parse_image_size(image_size)
    ds = load(data, key=key, image_size=size) if data is not None else None
    a = _endpoint(start, ds, key, size, "from")
    b = _endpoint(end, ds, key, size, "to")
    X = model.interpolate(a, b, steps, spherical=spherical)
    if Path(out).suffix.lower() == ".png":
        # The picture shows the two inputs at the ends of the path.
        strip = np.concatenate([a[None].astype(np.float32), X, b[None]], axis=0)
        write_samples(model, strip, out, ncols=len(strip))
    else:
        write_samples(model, X, out)
    click.echo(f"Wrote {steps} interpolation steps to {out}")


COMMANDS = [generate_command, interpolate_command]
