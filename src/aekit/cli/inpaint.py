"""``aekit inpaint RUN_DIR INPUT --mask MASK --out OUTPUT``: fill missing pixels."""

from __future__ import annotations

import click

from aekit.cli.options import load_run, overlap_option, self_ensemble_option


@click.command("inpaint")
@click.argument("run_dir")
@click.argument("input_path", metavar="INPUT")
@click.option(
    "--mask",
    "-m",
    required=True,
    help="Missing pixels: an image (nonzero = missing) or .npy; or a folder of "
    "masks named like the inputs.",
)
@click.option("--out", "-o", required=True, help="Output image file or folder.")
@click.option(
    "--iterations", default=1, show_default=True, help="Feed the result back N times."
)
@overlap_option
@self_ensemble_option
def inpaint_command(run_dir, input_path, mask, out, iterations, overlap, self_ensemble):
    """Fill the masked pixels of INPUT (a file or folder); keep the others exactly."""
    from aekit.images import restore_files
    from aekit.workflows import check_image_out

    check_image_out(out, input_path, mask)
    model = load_run(run_dir, "inpaint", "Autoencoder")
    written = restore_files(
        model,
        input_path,
        out,
        mask=mask,
        iterations=iterations,
        overlap=overlap,
        self_ensemble=self_ensemble,
    )
    click.echo(f"Inpainted {len(written)} image(s) into {out}")


COMMANDS = [inpaint_command]
