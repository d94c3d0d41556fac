"""``aekit evaluate RUN_DIR DATA``: metrics of a fitted model as JSON."""

from __future__ import annotations

import json

import click

from aekit.cli.encode import data_options as reader_options
from aekit.cli.fit import DATA_OPTIONS
from aekit.cli.options import check_samples, load_run, parse_image_size
from aekit.exceptions import ConfigError


@click.command("evaluate")
@click.argument("run_dir")
@click.argument("data")
@click.option("--key", help="Array name inside an .npz file.")
@click.option("--image-size", help="Resize images to HxW.")
@click.option(
    "--iw-samples",
    type=click.IntRange(min=1),
    help="Variational models: estimate log p(x) by the IWAE bound with K samples.",
)
@click.option(
    "--binarize-seed",
    type=int,
    help="Variational models: binarize DATA once with this seed before scoring "
    "(default: 0 for models trained with binarize, else no binarization).",
)
@click.option(
    "--protocol",
    type=click.Choice(["weak", "strong"]),
    help="Recommenders: DATA holds held-out items of training users (weak) or "
    "held-out users (strong).",
)
@click.option("--seed", default=0, show_default=True, help="Fold-in split seed.")
@reader_options
def evaluate_command(
    run_dir,
    data,
    key,
    image_size,
    iw_samples,
    binarize_seed,
    protocol,
    seed,
    strict,
    nan_policy,
    **data_options,
):
    """Print mse, mae, psnr, bce, compression ratio and n as JSON.

    For a variational model, also "likelihood": the ELBO with its reconstruction
    and KL terms and, with --iw-samples, the importance-weighted log p(x), in
    nats per sample. For a recommender: ranking metrics under --protocol.
    """
    from aekit.data import load
    from aekit.generation import is_variational, likelihood_report
    from aekit.images import check_image_data
    from aekit.workflows import evaluate

    model = load_run(run_dir, "evaluate", "Autoencoder", "Recommender")
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
    ds = load(
        data,
        key=key,
        image_size=parse_image_size(image_size),
        strict=strict,
        nan_policy=nan_policy,
    )
    check_samples(model, ds.X, data, run_dir)
    check_image_data(model, ds, data)
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


for _flag, _name, _type, _help in reversed(DATA_OPTIONS):
    evaluate_command = click.option(_flag, _name, type=_type, help=_help)(
        evaluate_command
    )


COMMANDS = [evaluate_command]
