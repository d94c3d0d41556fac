"""``aekit denoise RUN_DIR INPUT --out OUTPUT``: denoise image files or folders.

Merge note: issue 3 adds ``aekit denoise`` for arrays (cli/denoise.py). Its
command should call :func:`denoise_images` when INPUT is an image file or a
folder of images, and this module's command should then be dropped.
"""

from __future__ import annotations

from pathlib import Path

import click


def denoise_images(
    run_dir: str | Path, input_path: str | Path, out: str | Path, *, overlap=None
) -> list[Path]:
    """Denoise an image file or a folder of them with the model in ``run_dir``.

    Images of any size go through overlapping tiles of the training size;
    each output keeps its input's bit depth (8 or 16) and layout.
    """
    import aekit
    from aekit.images import restore_files

    return restore_files(aekit.load(run_dir), input_path, out, overlap=overlap)


@click.command("denoise")
@click.argument("run_dir")
@click.argument("input_path", metavar="INPUT")
@click.option("--out", "-o", required=True, help="Output image file or folder.")
@click.option("--overlap", type=int, help="Tile overlap in pixels (default: tile/2).")
def denoise_command(run_dir, input_path, out, overlap):
    """Denoise INPUT (an image file or a folder); write to --out in its bit depth."""
    written = denoise_images(run_dir, input_path, out, overlap=overlap)
    click.echo(f"Denoised {len(written)} image(s) into {out}")


COMMANDS = [denoise_command]
