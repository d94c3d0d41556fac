"""``aekit evaluate RUN_DIR DATA``: reconstruction metrics as JSON."""

from __future__ import annotations

import json

import click

from aekit.cli.fit import DATA_OPTIONS
from aekit.cli.options import parse_image_size
from aekit.exceptions import ConfigError


@click.command("evaluate")
@click.argument("run_dir")
@click.argument("data")
@click.option("--key", help="Array name inside an .npz file.")
@click.option("--image-size", help="Resize images to HxW.")
@click.option(
    "--protocol",
    type=click.Choice(["weak", "strong"]),
    help="Recommenders: DATA holds held-out items of training users (weak) or "
    "held-out users (strong).",
)
@click.option("--seed", default=0, show_default=True, help="Fold-in split seed.")
def evaluate_command(run_dir, data, key, image_size, protocol, seed, **data_options):
    """Print mse, mae, psnr, bce, compression ratio and n as JSON (ranking
    metrics for a recommender)."""
    import aekit
    from aekit.data import load
    from aekit.workflows import evaluate

    model = aekit.load(run_dir)
    data_options = {k: v for k, v in data_options.items() if v is not None}
    if hasattr(model, "evaluate_protocol"):  # estimators with their own protocol
        result = model.evaluate_protocol(
            data, protocol=protocol or "weak", seed=seed, **data_options
        )
        click.echo(json.dumps(result, indent=2))
        return
    if protocol or data_options:
        raise ConfigError(
            f"--protocol and the column options apply to recommenders; {run_dir} "
            f"holds a {type(model).__name__}."
        )
    ds = load(data, key=key, image_size=parse_image_size(image_size))
    click.echo(json.dumps(evaluate(model, ds), indent=2))


for _flag, _name, _type, _help in reversed(DATA_OPTIONS):
    evaluate_command = click.option(_flag, _name, type=_type, help=_help)(
        evaluate_command
    )


COMMANDS = [evaluate_command]
