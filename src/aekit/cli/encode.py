"""``aekit encode``, ``decode`` and ``reconstruct``: apply a fitted model.

A .npy output is computed and written in chunks of rows, with a progress bar
on a terminal (:func:`aekit.workflows.apply_to_file`).
"""

from __future__ import annotations

import click

from aekit.cli.options import check_samples, load_run, parse_image_size


def _model(run_dir, command: str, *kinds: str, guard: bool = True):
    model = load_run(run_dir, command, *kinds)
    if not guard and hasattr(model, "guard"):
        model.guard = False
    return model


_no_guard = click.option(
    "--no-guard",
    is_flag=True,
    help="Do not warn when DATA does not look like the training data.",
)


def _data(data, key, image_size, strict=False, nan_policy="error"):
    from aekit.data import load

    return load(
        data,
        key=key,
        image_size=parse_image_size(image_size),
        strict=strict,
        nan_policy=nan_policy,
    )


def data_options(f):
    """--strict and --nan-policy: how to read imperfect data."""
    f = click.option(
        "--nan-policy",
        type=click.Choice(["error", "drop", "zero"]),
        default="error",
        help="NaN/inf values: error, drop their rows (with a warning), or use 0.",
    )(f)
    f = click.option(
        "--strict",
        is_flag=True,
        help="Fail on an unreadable image in a folder instead of skipping it.",
    )(f)
    return f


def _io_options(f):
    f = data_options(f)
    f = click.option("--image-size", help="Resize images to HxW.")(f)
    f = click.option("--key", help="Array name inside an .npz file.")(f)
    f = click.option("--out", "-o", required=True, help="Output file (.npy or .csv).")(
        f
    )
    return f


@click.command("encode")
@click.argument("run_dir")
@click.argument("data")
@_io_options
@_no_guard
def encode_command(run_dir, data, out, key, image_size, strict, nan_policy, no_guard):
    """Encode DATA with the model in RUN_DIR; write the codes to --out."""
    from aekit.images import check_image_data
    from aekit.workflows import apply_to_file, check_out

    check_out(out, data)
    ds = _data(data, key, image_size, strict, nan_policy)
    model = _model(
        run_dir, "encode", "Autoencoder", "SequenceAutoencoder", guard=not no_guard
    )
    if type(model).__name__ == "Autoencoder":  # a sequence model reads windows
        check_samples(model, ds.X, data, run_dir)
    check_image_data(model, ds, data)
    shape = apply_to_file(model, "transform", ds.X, out)
    click.echo(f"Wrote codes of shape {shape} to {out}")


@click.command("decode")
@click.argument("run_dir")
@click.argument("codes")
@_io_options
def decode_command(run_dir, codes, out, key, image_size, strict, nan_policy):
    """Decode CODES (.npy, .csv) with the model in RUN_DIR; write data to --out."""
    from aekit.workflows import apply_to_file, check_out

    check_out(out, codes)
    model = _model(run_dir, "decode", "Autoencoder")
    Z = _data(codes, key, image_size, strict, nan_policy).X
    shape = apply_to_file(model, "inverse_transform", Z, out)
    click.echo(f"Wrote decoded data of shape {shape} to {out}")


@click.command("reconstruct")
@click.argument("run_dir")
@click.argument("data")
@_io_options
@_no_guard
def reconstruct_command(
    run_dir, data, out, key, image_size, strict, nan_policy, no_guard
):
    """Encode then decode DATA; write the reconstruction to --out."""
    from aekit.images import check_image_data
    from aekit.workflows import apply_to_file, check_out

    check_out(out, data)
    ds = _data(data, key, image_size, strict, nan_policy)
    model = _model(run_dir, "reconstruct", "Autoencoder", guard=not no_guard)
    check_samples(model, ds.X, data, run_dir)
    check_image_data(model, ds, data)
    shape = apply_to_file(model, "reconstruct", ds.X, out)
    click.echo(f"Wrote reconstructions of shape {shape} to {out}")


COMMANDS = [encode_command, decode_command, reconstruct_command]
