"""``aekit denoise RUN_DIR INPUT --out OUTPUT``: clean data with a fitted model."""

from __future__ import annotations

import click

from aekit.cli.options import parse_image_size


@click.command("denoise")
@click.argument("run_dir")
@click.argument("data")
@click.option(
    "--out",
    "-o",
    required=True,
    help="Output: .npy/.csv for arrays, a folder for an image folder, .png for "
    "one image.",
)
@click.option("--key", help="Array name inside an .npz file.")
@click.option("--image-size", help="Resize images to HxW.")
def denoise_command(run_dir, data, out, key, image_size):
    """Denoise DATA (npy, csv, an image or a folder of images) with RUN_DIR's model.

    The output is the same kind as the input: PNGs with the same names and bit
    depth for images, the same format and dtype for arrays.
    """
    import aekit
    from aekit.denoising import denoise_data

    result = denoise_data(
        aekit.load(run_dir),
        data,
        out,
        key=key,
        image_size=parse_image_size(image_size),
    )
    what = "images" if result["kind"] == "images" else "samples"
    click.echo(f"Denoised {result['n']} {what}; wrote {result['out']}")


COMMANDS = [denoise_command]
