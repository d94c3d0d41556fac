"""``aekit evaluate RUN_DIR DATA``: reconstruction metrics as JSON."""

from __future__ import annotations

import json

import click

from aekit.cli.options import parse_image_size
from aekit.exceptions import ConfigError


@click.command("evaluate")
@click.argument("run_dir")
@click.argument("data")
@click.option("--key", help="Array name inside an .npz file.")
@click.option("--image-size", help="Resize images to HxW.")
@click.option(
    "--iw-samples",
    type=int,
    help="Variational models: estimate log p(x) by the IWAE bound with K samples.",
)
@click.option(
    "--binarize-seed",
    type=int,
    help="Variational models: binarize DATA once with this seed before scoring "
    "(default: 0 for models trained with binarize, else no binarization).",
)
def evaluate_command(run_dir, data, key, image_size, iw_samples, binarize_seed):
    """Print mse, mae, psnr, bce, compression ratio and n as JSON.

    For a variational model, also "likelihood": the ELBO with its reconstruction
    and KL terms and, with --iw-samples, the importance-weighted log p(x), in
    nats per sample.
    """
    import aekit
    from aekit.data import load
    from aekit.generation import is_variational, likelihood_report
    from aekit.workflows import evaluate

    model = aekit.load(run_dir)
    ds = load(data, key=key, image_size=parse_image_size(image_size))
    out = evaluate(model, ds)
    if is_variational(model):
        if binarize_seed is None and getattr(model, "binarize", None) is not None:
            binarize_seed = 0
        out["likelihood"] = likelihood_report(
            model,
            ds.X,
            iw_samples=iw_samples,
            binarize_seed=binarize_seed,
            data_name=ds.name or str(data),
        )
    elif iw_samples:
        raise ConfigError(
            "--iw-samples needs a variational model; this one has a "
            f"{model.module_.latent.kind!r} latent."
        )
    click.echo(json.dumps(out, indent=2))


COMMANDS = [evaluate_command]
