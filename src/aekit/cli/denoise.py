"""``aekit denoise RUN_DIR INPUT --out OUTPUT``: clean data with a fitted model."""

from __future__ import annotations

from pathlib import Path

import click

from aekit.cli.options import (
    load_run,
    overlap_option,
    parse_image_size,
    self_ensemble_option,
)


def _is_images(path: str) -> bool:
    """Whether ``path`` is an image file or a folder (of images)."""
    from aekit.data.readers import IMAGE_SUFFIXES

    p = Path(path)
    return p.is_dir() or p.suffix.lower() in IMAGE_SUFFIXES


def _needs_tiles(model, path: str) -> bool:
    """Whether ``path`` holds images of another size than the model's input."""
    from aekit.data.readers import IMAGE_SUFFIXES, image_height_width

    if not _is_images(path):
        return False
    p = Path(path)
    shape = tuple(getattr(model, "input_shape_", ()))
    if len(shape) != 3:
        return False  # not an image model: nothing to tile
    files = (
        [p]
        if p.is_file()
        else [f for f in sorted(p.rglob("*")) if f.suffix.lower() in IMAGE_SUFFIXES]
    )
    # Unreadable files (None) are left to the reader, which reports them.
    sizes = (image_height_width(f) for f in files)
    return any(hw is not None and hw != shape[1:] for hw in sizes)


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
@overlap_option
@self_ensemble_option
def denoise_command(run_dir, data, out, key, image_size, overlap, self_ensemble):
    """Denoise DATA (npy, csv, an image or a folder of images) with RUN_DIR's model.

    The output is the same kind as the input: images with the same names and
    bit depth (images of another size than the training size go through
    overlapping tiles, blended smoothly), the same format and dtype for arrays.
    """
    from aekit.denoising import denoise_data
    from aekit.exceptions import ConfigError
    from aekit.images import restore_files
    from aekit.workflows import check_image_out, check_out

    if _is_images(data):
        check_image_out(out, data)
    else:
        check_out(out, data)
    if self_ensemble and (image_size is not None or not _is_images(data)):
        raise ConfigError(
            "--self-ensemble restores image files and folders whole; drop it "
            "for arrays and for --image-size."
        )
    model = load_run(run_dir, "denoise", "Autoencoder")
    if image_size is None and (self_ensemble or _needs_tiles(model, data)):
        # Any size, in overlapping tiles of the training size blended
        # smoothly; each output keeps its input's bit depth (8 or 16).
        written = restore_files(
            model, data, out, overlap=overlap, self_ensemble=self_ensemble
        )
        click.echo(f"Denoised {len(written)} image(s) in tiles; wrote {out}")
        return
    result = denoise_data(
        model,
        data,
        out,
        key=key,
        image_size=parse_image_size(image_size),
    )
    what = "images" if result["kind"] == "images" else "samples"
    click.echo(f"Denoised {result['n']} {what}; wrote {result['out']}")


COMMANDS = [denoise_command]
