"""``aekit report`` and ``aekit plot``: look at a run."""

from __future__ import annotations

import click

from aekit.cli.options import load_run, parse_image_size

# The report reads an autoencoder's scaling and network (an AnomalyDetector's
# own); the loss plot reads only history.csv, which every run folder has.
REPORTED = ("Autoencoder", "AnomalyDetector")


def _recorded_data(run_dir, data, key, image_size, no_data):
    """DATA, else the training data that ``aekit fit`` recorded in fit.json."""
    if data is not None or no_data:
        return data, key, image_size, ""
    import json
    from pathlib import Path

    from aekit.data.readers import BUILTINS

    try:
        state = json.loads((Path(run_dir) / "fit.json").read_text())
    except (OSError, ValueError):
        return None, key, image_size, ""
    source = state.get("data")
    if not isinstance(source, str) or not (source in BUILTINS or Path(source).exists()):
        return None, key, image_size, ""
    size = state.get("image_size")
    click.echo(f"Using the training data recorded in the run: {source}")
    return (
        source,
        key or state.get("key"),
        image_size or (tuple(size) if size else None),
        f"{source} (the training data)",
    )


def _data_options(f):
    f = click.option(
        "--max-samples",
        type=click.IntRange(min=1),
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
    f = click.option(
        "--no-data",
        is_flag=True,
        help="Without DATA, do not fall back to the training data of the run.",
    )(f)
    return f


@click.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("data", required=False)
@_data_options
@click.option("--out", "-o", help="HTML file to write (default: RUN_DIR/report.html).")
def report_command(run_dir, data, labels, key, image_size, max_samples, no_data, out):
    """Write a self-contained HTML report of the run in RUN_DIR.

    DATA adds reconstructions, codes, per-sample errors and what else needs
    data. Without DATA, the training data that 'aekit fit' recorded is used
    when it can still be read (--no-data: only what the run folder holds).
    """
    from aekit.report.html import write_report

    model = load_run(run_dir, "report", *REPORTED)
    data, key, size, note = _recorded_data(
        run_dir, data, key, parse_image_size(image_size), no_data
    )
    path = write_report(
        run_dir,
        data,
        out=out,
        model=model,
        labels=labels,
        key=key,
        image_size=size,
        max_samples=max_samples,
        data_note=note,
    )
    click.echo(f"Report: {path}")


def _plot_names() -> list[str]:
    from aekit.report.html import PLOTS, _load_section_modules

    _load_section_modules()
    return sorted(PLOTS)


@click.command("plot", epilog=f"KIND: {', '.join(_plot_names())}.")
@click.argument("kind", metavar="KIND", type=click.Choice(_plot_names()))
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("data", required=False)
@_data_options
@click.option("--out", "-o", required=True, help="Figure file: .png, .pdf or .svg.")
@click.option(
    "--dpi",
    type=click.IntRange(10, 1200),
    default=200,
    show_default=True,
    help="Resolution of a PNG.",
)
def plot_command(
    kind, run_dir, data, labels, key, image_size, max_samples, no_data, out, dpi
):
    """Write one figure of the run in RUN_DIR (for a paper or a slide).

    KIND is one of the report's figures; those about data use DATA, else the
    training data that 'aekit fit' recorded (as 'aekit report' does).
    """
    from aekit.report.html import write_plot

    model = None if kind == "loss" else load_run(run_dir, f"plot {kind}", *REPORTED)
    data, key, size, note = _recorded_data(
        run_dir, data, key, parse_image_size(image_size), no_data
    )
    path = write_plot(
        kind,
        run_dir,
        data,
        out=out,
        dpi=dpi,
        model=model,
        labels=labels,
        key=key,
        image_size=size,
        max_samples=max_samples,
        data_note=note,
    )
    click.echo(f"Wrote {path}")


COMMANDS = [report_command, plot_command]
