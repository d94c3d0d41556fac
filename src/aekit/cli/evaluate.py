"""``aekit evaluate RUN_DIR DATA``: reconstruction metrics as JSON."""

from __future__ import annotations

import json

import click

from aekit.cli.encode import data_options
from aekit.cli.options import parse_image_size


@click.command("evaluate")
@click.argument("run_dir")
@click.argument("data")
@click.option("--key", help="Array name inside an .npz file.")
@click.option("--image-size", help="Resize images to HxW.")
@data_options
def evaluate_command(run_dir, data, key, image_size, strict, nan_policy):
    """Print mse, mae, psnr, bce, compression ratio and n as JSON."""
    import aekit
    from aekit.data import load
    from aekit.workflows import evaluate

    model = aekit.load(run_dir)
    ds = load(
        data,
        key=key,
        image_size=parse_image_size(image_size),
        strict=strict,
        nan_policy=nan_policy,
    )
    click.echo(json.dumps(evaluate(model, ds), indent=2))


COMMANDS = [evaluate_command]
