"""``aekit anomalies RUN DATA --out scores.csv``: score samples with a detector."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from aekit.cli.options import check_samples, load_run, parse_image_size
from aekit.exceptions import DataError
from aekit.io import atomic_write_text


def score_file(run_dir, data, *, key=None, image_size=None):
    """(detector, dataset, scores, flags) for ``data`` under the model in
    ``run_dir``."""
    from aekit.data import load
    from aekit.images import check_image_data

    det = load_run(run_dir, "anomalies", "AnomalyDetector")
    ds = load(data, key=key, image_size=image_size)
    check_samples(det, ds.X, data, run_dir, shape=det.autoencoder_.input_shape_)
    check_image_data(det.autoencoder_, ds, data)
    scores = det.decision_function(ds.X)
    return det, ds, scores, (scores > det.threshold_).astype(np.int64)


def scores_csv(scores: np.ndarray, flags: np.ndarray) -> str:
    lines = ["index,score,flag"]
    lines += [
        f"{i},{s:.7g},{f}" for i, (s, f) in enumerate(zip(scores, flags, strict=True))
    ]
    return "\n".join(lines) + "\n"


@click.command("anomalies")
@click.argument("run_dir")
@click.argument("data")
@click.option(
    "--out", "-o", required=True, help="CSV to write: index, score, flag (1 = anomaly)."
)
@click.option(
    "--top", type=click.IntRange(min=0), default=0, help="Print the N top scores."
)
@click.option("--key", help="Array name inside an .npz file.")
@click.option("--image-size", help="Resize images to HxW.")
def anomalies_command(run_dir, data, out, top, key, image_size):
    """Score DATA with the anomaly detector in RUN_DIR; write --out (CSV).

    Scores are higher for more anomalous samples; flag is 1 above the
    detector's threshold.
    """
    if Path(out).suffix.lower() != ".csv":
        raise DataError(f"--out must be a .csv file. Got {out!r}.")
    from aekit.workflows import check_out

    check_out(out, data)
    det, ds, scores, flags = score_file(
        run_dir, data, key=key, image_size=parse_image_size(image_size)
    )
    atomic_write_text(out, scores_csv(scores, flags))
    click.echo(
        f"Scored {len(scores)} samples: {int(flags.sum())} flagged as anomalies "
        f"(threshold {det.threshold_:.5g}). Wrote {out}"
    )
    if top:
        order = np.argsort(-scores, kind="stable")[:top]
        click.echo("index\tscore\tflag")
        for i in order:
            click.echo(f"{i}\t{scores[i]:.5g}\t{flags[i]}")


COMMANDS = [anomalies_command]
