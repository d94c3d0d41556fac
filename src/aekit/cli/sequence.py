"""``aekit fit-sequence``, ``forecast`` and ``predict``: sequence models.

Thin wrappers over :class:`aekit.SequenceAutoencoder` and the plain functions
of :mod:`aekit.data.sequences` and :mod:`aekit.report.animation`.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import click
import numpy as np

from aekit.cli.options import load_run, parse_ints
from aekit.exceptions import ConfigError, DataError
from aekit.runs import remove_stale, run_files

TEXT_SUFFIXES = {".csv", ".tsv", ".txt", ".data"}


def sequence_windows(
    data: str,
    *,
    window: int | None,
    horizon: int,
    kind: str = "auto",
    time_column: str | None = None,
    stride: int = 1,
    key: str | None = None,
) -> np.ndarray:
    """Training windows from a file: a CSV series, interactions, or arrays.

    - a CSV/TSV series with a header (and a time column): sliding windows of
      ``window`` steps;
    - with ``kind="items"``, a user/item/[rating/]timestamp table: one window
      per position, ``window - horizon`` items then the next ``horizon``;
    - .npy/.npz: the windows as stored, (n, steps, ...).
    """
    from aekit.data import sequences

    path = Path(data)
    if path.suffix.lower() in TEXT_SUFFIXES or kind == "items":
        if window is None:
            raise ConfigError(f"--window is needed to cut {data} into windows.")
        if kind == "items":
            if horizon != 1:
                raise ConfigError("Item sequences are fitted with --horizon 1.")
            seqs = sequences.item_sequences(sequences.read_interactions(path))
            return sequences.next_item_windows(list(seqs.values()), window - 1)
        values, _, _ = sequences.read_series(path, time_column=time_column)
        return sequences.sliding_windows(values, window, stride=stride)
    from aekit.data import load

    X = np.asarray(load(data, key=key).X)
    if window is not None and X.shape[1] != window:
        raise DataError(
            f"{data} holds windows of {X.shape[1]} steps, not --window {window}."
        )
    return X


@click.command("fit-sequence")
@click.argument("data")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False))
@click.option("--window", type=int, help="Steps per window (observed + horizon).")
@click.option("--horizon", type=int, default=0, show_default=True)
@click.option(
    "--kind",
    type=click.Choice(["auto", "values", "items", "frames"]),
    default="auto",
    show_default=True,
    help="What one step is; 'items' reads a user/item/timestamp table.",
)
@click.option("--time-column", help="Name of the CSV's time column.")
@click.option("--stride", type=int, default=1, show_default=True)
@click.option("--key", help="Array name inside an .npz file.")
@click.option("--cell", type=click.Choice(["gru", "lstm"]), default="gru")
@click.option("--hidden-size", type=int, default=64, show_default=True)
@click.option("--num-layers", type=int, default=1, show_default=True)
@click.option("--code-size", type=int, default=32, show_default=True)
@click.option(
    "--no-reconstruct", is_flag=True, help="Future decoder only (no autoencoding)."
)
@click.option(
    "--window-offset",
    type=click.Choice(["none", "last", "mean"]),
    default="none",
    show_default=True,
)
@click.option(
    "--item-transitions",
    is_flag=True,
    help="Items: add a first-order Markov chain of the training pairs, "
    "weighted jointly with the recurrent model.",
)
@click.option(
    "--transition-weight",
    type=click.Choice(["ranking", "learned"]),
    default="ranking",
    show_default=True,
    help="With --item-transitions: the chain's weight as learned, or the one "
    "that ranks the held-out windows' next items best (NDCG@10).",
)
@click.option(
    "--ar-lags",
    type=int,
    default=0,
    show_default=True,
    help="Values: add a linear autoregression on the last N observed steps "
    "to the forecast (0: none).",
)
@click.option("--latent", default="deterministic", show_default=True)
@click.option(
    "--loss",
    type=click.Choice(["auto", "mse", "bce"]),
    default="auto",
    show_default=True,
    help="Values and frames: reconstruction loss (bce needs values in [0, 1]).",
)
@click.option("--noise", help="Input corruption, e.g. gaussian:0.1 or masking:0.2.")
@click.option("--frame-channels", help="Per-frame conv widths, e.g. 16,32,64.")
@click.option(
    "--frame-core",
    type=click.Choice(["recurrent", "conv"]),
    default="recurrent",
    show_default=True,
    help="Frames: per-frame vectors into the GRU/LSTM, or stacked feature maps "
    "mixed by convolutions into a spatial code.",
)
@click.option(
    "--ssim-weight",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Frames: add this weight times (1 - SSIM) of the decoded frames to the loss.",
)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16", "fp16", "auto"]),
    default="fp32",
    show_default=True,
    help="Training precision (mixed precision with autocast).",
)
@click.option("--epochs", type=int, default=50, show_default=True)
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--quiet", "-q", is_flag=True)
def fit_sequence_command(
    data, out, window, horizon, kind, time_column, stride, key, cell, hidden_size,
    num_layers, code_size, no_reconstruct, window_offset, item_transitions,
    transition_weight, ar_lags, latent, loss, noise, frame_channels, frame_core,
    ssim_weight, precision,
    epochs, batch_size, lr, seed, device, quiet,
):  # fmt: skip
    """Fit a SequenceAutoencoder on DATA; write the run folder --out."""
    from aekit import SequenceAutoencoder

    X = sequence_windows(
        data,
        window=window,
        horizon=horizon,
        kind=kind,
        time_column=time_column,
        stride=stride,
        key=key,
    )
    params = dict(
        horizon=horizon,
        code_size=code_size,
        cell=cell,
        hidden_size=hidden_size,
        num_layers=num_layers,
        reconstruct=not no_reconstruct,
        kind=kind,
        window_offset=window_offset,
        item_transitions=item_transitions,
        transition_weight=transition_weight,
        ar_lags=ar_lags,
        latent=latent,
        loss=loss,
        noise=noise,
        frame_core=frame_core,
        ssim_weight=ssim_weight,
        precision=precision,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        random_state=seed,
        device=device,
        verbose=0 if quiet else 1,
    )
    if frame_channels:
        params["frame_channels"] = parse_ints(frame_channels, name="frame-channels")
    t0 = time.perf_counter()
    est = SequenceAutoencoder(**params).fit(X)
    earlier = run_files(out)  # an earlier run's files: removed unless written again
    est.save(
        out,
        extra_summary={
            "data": {"source": str(data), "n_windows": len(X)},
            "wall_seconds": time.perf_counter() - t0,
        },
    )
    remove_stale(out, earlier)
    last = est.history_[-1]
    click.echo(
        f"Fitted SequenceAutoencoder ({est.kind_}) on {len(X)} windows of "
        f"{est.window_length_} steps in {est.fit_seconds_:.1f} s "
        f"({len(est.history_)} epochs); validation loss "
        f"{last.get('val_loss', last['train_loss']):.5g}."
    )
    click.echo(f"Run folder: {out}")


def _write_table(path: Path, rows: np.ndarray, header: list[str]) -> None:
    from aekit.io import atomic_write_text

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([f"{v:.7g}" for v in row])
    atomic_write_text(path, buf.getvalue())


@click.command("forecast")
@click.argument("run_dir")
@click.argument("data")
@click.option("--horizon", type=int, help="Steps to predict (default: the model's).")
@click.option("--out", "-o", help="Output .csv or .npy (default: print).")
@click.option("--time-column", help="Name of the CSV's time column.")
@click.option("--key", help="Array name inside an .npz file.")
def forecast_command(run_dir, data, horizon, out, time_column, key):
    """Predict the steps after DATA with the sequence model in RUN_DIR.

    DATA is a CSV series (its last observed steps are the history) or an
    .npy/.npz of windows (n, steps, ...), one forecast per window.
    """
    from aekit.data import sequences
    from aekit.workflows import check_out

    if out is not None:
        check_out(out, data)
    model = load_run(run_dir, "forecast", "SequenceAutoencoder")
    path = Path(data)
    columns = None
    if path.suffix.lower() in TEXT_SUFFIXES:
        values, columns, _ = sequences.read_series(path, time_column=time_column)
        T = model.n_observed_
        if len(values) < T:
            raise DataError(
                f"{data} has {len(values)} steps; the model reads {T} observed steps."
            )
        X = values[None, -T:]
    else:
        from aekit.data import load

        X = np.asarray(load(data, key=key).X)
    pred = model.forecast(X, horizon=horizon)
    if columns is not None:
        pred = pred[0]  # (H, d)
        header = ["step", *columns]
        table = np.column_stack([np.arange(1, len(pred) + 1), pred])
        if out is None:
            click.echo(",".join(header))
            for row in table:
                click.echo(",".join(f"{v:.7g}" for v in row))
            return
        _write_table(Path(out), table, header)
    else:
        if out is None:
            raise ConfigError("Forecasts of many windows need --out FILE.npy.")
        from aekit.workflows import write_array

        write_array(out, pred)
    click.echo(f"Wrote a forecast of shape {pred.shape} to {out}")


@click.command("predict")
@click.argument("run_dir")
@click.argument("input_path", metavar="INPUT")
@click.option("--frames", type=int, help="Frames to predict (default: the model's).")
@click.option("--out", "-o", required=True, help="Output .gif (or .npy).")
@click.option("--index", type=int, default=0, show_default=True, help="Which video.")
@click.option("--key", help="Array name inside an .npz file.")
def predict_command(run_dir, input_path, frames, out, index, key):
    """Predict the next frames of a video in INPUT; write a GIF.

    INPUT is an .npy/.npz of videos (n, steps, [C,] H, W). The GIF shows
    observed | true | predicted frames (true is black when INPUT holds only
    the observed frames).
    """
    from aekit.data import load
    from aekit.report.animation import prediction_gif
    from aekit.workflows import check_out, write_array

    check_out(out, input_path)

    model = load_run(run_dir, "predict", "SequenceAutoencoder")
    if model.kind_ != "frames":
        raise ConfigError(
            f"{run_dir} does not hold a video model; fit one with 'aekit "
            "fit-sequence VIDEOS.npy --horizon H'."
        )
    X = np.asarray(load(input_path, key=key).X)
    if not 0 <= index < len(X):
        raise DataError(f"--index {index} is out of range: INPUT has {len(X)} videos.")
    video = X[index : index + 1]
    pred = model.forecast(video, horizon=frames)[0]  # (F, [C,] H, W)
    T = model.n_observed_
    observed = video[0, :T]
    true = video[0, T : T + len(pred)] if video.shape[1] > T else None
    if Path(out).suffix.lower() == ".npy":
        write_array(out, pred)
    else:
        scale = 255.0 if model.input_dtype_ == "uint8" else 1.0
        prediction_gif(
            out,
            observed.astype(np.float32) / scale,
            pred / scale,
            None if true is None else true.astype(np.float32) / scale,
        )
    click.echo(
        json.dumps({"out": str(out), "observed": int(T), "predicted": len(pred)})
    )


COMMANDS = [fit_sequence_command, forecast_command, predict_command]
