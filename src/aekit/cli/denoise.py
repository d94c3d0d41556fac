"""``aekit denoise RUN_DIR INPUT --out OUTPUT``: clean data with a fitted model."""

from __future__ import annotations

from pathlib import Path

import click

from aekit.cli.options import parse_image_size


def denoise_images(
    run_dir: str | Path, input_path: str | Path, out: str | Path, *, overlap=None
) -> list[Path]:
    """Denoise an image file or a folder of them with the model in ``run_dir``.

    Images of any size go through overlapping tiles of the training size,
    blended smoothly; each output keeps its input's bit depth (8 or 16).
    """
    import aekit
    from aekit.images import restore_files

    return restore_files(aekit.load(run_dir), input_path, out, overlap=overlap)


def _is_images(path: str) -> bool:
    from aekit.data.readers import IMAGE_SUFFIXES

    p = Path(path)
    return p.is_dir() or p.suffix.lower() in IMAGE_SUFFIXES


@click.command("denoise")
@click.argument("run_dir")
@click.argument("data")
@click.option(
    "--out",
    "-o",
    required=True,
    help="Output: .npy/.csv for arrays, a folder for an image folder, an image "
    "file for one image.",
)
@click.option("--key", help="Array name inside an .npz file.")
@click.option(
    "--image-size",
    help="Resize images to HxW and denoise them whole (default: tile images of "
    "any size).",
)
@click.option("--overlap", type=int, help="Tile overlap in pixels (default: tile/2).")
def denoise_command(run_dir, data, out, key, image_size, overlap):
    """Denoise DATA (npy, csv, an image or a folder of images) with RUN_DIR's model.

    The output is the same kind as the input: images with the same names and
    bit depth (any size: overlapping tiles of the training size), the same
    format and dtype for arrays.
    """
    import aekit
    from aekit.denoising import denoise_data

    if _is_images(data) and image_size is None:
        written = denoise_images(run_dir, data, out, overlap=overlap)
        click.echo(f"Denoised {len(written)} image(s); wrote {out}")
        return
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
