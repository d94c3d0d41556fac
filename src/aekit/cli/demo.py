"""``aekit demo``: the main job on the built-in digits, end to end."""

from __future__ import annotations

import time
from pathlib import Path

import click


def run_demo(out: str | Path = "runs/demo", *, verbose: int = 1, epochs: int = 200):
    """Fit on digits, compare with PCA, write the run folder and a figure.

    Returns a dict with the measured numbers and the paths written.
    """
    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split

    from aekit import Autoencoder
    from aekit.data import load
    from aekit.metrics import compression, per_sample_mse
    from aekit.report.figures import reconstruction_grid, save_png
    from aekit.report.html import write_report

    out = Path(out)
    ds = load("digits")
    X_train, X_test, _, y_test = train_test_split(
        ds.X, ds.y, test_size=0.2, random_state=0
    )
    code_size = 8
    t0 = time.perf_counter()
    ae = Autoencoder(
        code_size=code_size,
        hidden=(256, 128),
        epochs=epochs,
        batch_size=64,
        patience=30,
        random_state=0,
        verbose=verbose,
    )
    # value_range (0-16) travels with the Dataset, so the model scales to [0, 1].
    ae.fit(type(ds)(X_train, ds.kind, ds.value_range, name="digits (train split)"))
    t_ae = time.perf_counter() - t0
    scaled = lambda a: ae.scaler_.transform(a)  # noqa: E731  [0, 1] units
    mse_ae = float(
        per_sample_mse(scaled(X_test), scaled(ae.reconstruct(X_test))).mean()
    )

    t0 = time.perf_counter()
    flat_train = scaled(X_train).reshape(len(X_train), -1)
    flat_test = scaled(X_test).reshape(len(X_test), -1)
    pca = PCA(code_size, random_state=0).fit(flat_train)
    pca_recon = pca.inverse_transform(pca.transform(flat_test))
    t_pca = time.perf_counter() - t0
    mse_pca = float(per_sample_mse(flat_test, pca_recon).mean())

    ae.save(
        out,
        extra_summary={
            "demo": {"test_mse": mse_ae, "pca_test_mse": mse_pca},
            "data": {
                "source": "digits, train split",
                "n": len(X_train),
                "sample_shape": list(ds.sample_shape),
                "kind": ds.kind,
            },
        },
    )
    figure = save_png(
        reconstruction_grid(
            scaled(X_test[:12]),
            scaled(ae.reconstruct(X_test[:12])),
            title=f"digits test set, code size {code_size}",
        ),
        out / "reconstructions.png",
    )
    report = write_report(
        out,
        type(ds)(X_test, ds.kind, ds.value_range, y_test, name="digits"),
        model=ae,
        data_note="digits, held-out test split",
    )
    ratio = compression(ae.input_shape_, np.float32, ae.module_.code_shape)
    return {
        "rows": [
            ("aekit", mse_ae, ratio["dimension_ratio"], t_ae),
            ("PCA", mse_pca, ratio["dimension_ratio"], t_pca),
        ],
        "n_train": len(X_train),
        "n_test": len(X_test),
        "code_size": code_size,
        "run_dir": out,
        "figure": figure,
        "report": report,
    }


@click.command("demo")
@click.option(
    "--out", "-o", default="runs/demo", show_default=True, help="Run folder to write."
)
@click.option("--epochs", default=200, show_default=True, help="Most epochs.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def demo_command(out, epochs, quiet):
    """Fit an autoencoder on the built-in digits and compare it with PCA."""
    r = run_demo(out, verbose=0 if quiet else 1, epochs=epochs)
    click.echo(
        f"\nDigits: {r['n_train']} train / {r['n_test']} test images (8x8), "
        f"code size {r['code_size']}.\n"
    )
    click.echo(
        "| method | test MSE (pixels in [0, 1]) | compression (64 -> code) "
        "| wall time |"
    )
    click.echo("|---|---|---|---|")
    for name, mse, ratio, secs in r["rows"]:
        click.echo(f"| {name} | {mse:.5f} | {ratio:.0f}x | {secs:.2f} s |")
    click.echo(f"\nRun folder:      {r['run_dir']}")
    click.echo(f"Reconstructions: {r['figure']}")
    click.echo(f"Report:          {r['report']}")


COMMANDS = [demo_command]
