"""``aekit report`` and ``aekit plot``: look at a run."""

from __future__ import annotations

import click

from aekit.cli.options import parse_image_size


def _data_options(f):
    f = click.option(
        "--max-samples",
        default=2000,
        show_default=True,
        help="Samples drawn from DATA for the figures.",
    )(f)
    f = click.option("--image-size", help="Resize images to HxW.")(f)
    f = click.option("--key", help="Array name inside an .npz file.")(f)
    f = click.option(
        "--labels",
        type=click.Path(dir_okay=False),
        help="One label per sample of DATA (.npy, .csv, .txt) to colour the codes; "
        "default: the labels DATA carries (MNIST, class folders, digits).",
    )(f)
    return f


@click.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("data", required=False)
@_data_options
@click.option("--out", "-o", help="HTML file to write (default: RUN_DIR/report.html).")
def report_command(run_dir, data, labels, key, image_size, max_samples, out):
    """Write a self-contained HTML report of the run in RUN_DIR.

    With DATA, the report adds reconstructions, codes, per-sample errors and
    what else needs data; without, it shows what the run folder holds.
    """
    from aekit.report.html import write_report

    path = write_report(
        run_dir,
        data,
        out=out,
        labels=labels,
        key=key,
        image_size=parse_image_size(image_size),
        max_samples=max_samples,
    )
    click.echo(f"Report: {path}")


def _plot_names() -> list[str]:
    from aekit.report.html import PLOTS, _load_section_modules

    _load_section_modules()
    return sorted(PLOTS)


@click.command("plot")
@click.argument("kind", type=click.Choice(_plot_names()))
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("data", required=False)
@_data_options
@click.option("--out", "-o", required=True, help="Figure file: .png, .pdf or .svg.")
@click.option("--dpi", default=200, show_default=True, help="Resolution of a PNG.")
def plot_command(kind, run_dir, data, labels, key, image_size, max_samples, out, dpi):
    """Write one figure of the run in RUN_DIR (for a paper or a slide).

    KIND is one of the report's figures; those about data need DATA.
    """
    from aekit.report.html import write_plot

    path = write_plot(
        kind,
        run_dir,
        data,
        out=out,
        dpi=dpi,
        labels=labels,
        key=key,
        image_size=parse_image_size(image_size),
        max_samples=max_samples,
    )
    click.echo(f"Wrote {path}")


COMMANDS = [report_command, plot_command]
