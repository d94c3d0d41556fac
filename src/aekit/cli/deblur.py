"""``aekit deblur RUN_DIR INPUT --out OUTPUT``: sharpen images with a model
trained on blurred copies (``aekit fit ... --noise blur:1.5``)."""

from __future__ import annotations

import warnings

import click

from aekit.cli.options import load_run, overlap_option, self_ensemble_option


@click.command("deblur")
@click.argument("run_dir")
@click.argument("input_path", metavar="INPUT")
@click.option("--out", "-o", required=True, help="Output image file or folder.")
@overlap_option
@self_ensemble_option
def deblur_command(run_dir, input_path, out, overlap, self_ensemble):
    """Deblur INPUT (an image file or a folder); write to --out in its bit depth."""
    from aekit.images import restore_files
    from aekit.workflows import check_image_out

    check_image_out(out, input_path)
    model = load_run(run_dir, "deblur", "Autoencoder")
    corruption = model.module_.corruption
    if corruption is None or corruption.kind != "blur":
        warnings.warn(
            f"{run_dir} was not trained on blurred images (its corruption is "
            f"{corruption.kind if corruption else 'none'}); fit with "
            "--noise blur:SIGMA for a deblurring model.",
            stacklevel=1,
        )
    written = restore_files(
        model, input_path, out, overlap=overlap, self_ensemble=self_ensemble
    )
    click.echo(f"Deblurred {len(written)} image(s) into {out}")


COMMANDS = [deblur_command]
