"""Single figures (matplotlib, Agg backend), written atomically.

Each function takes plain arrays and returns a matplotlib ``Figure``; the
report embeds them as PNG and ``aekit plot`` saves one for a paper
(``save_figure``: PNG, PDF or SVG by the file's suffix). Images are shown in
[0, 1] units; every axis says what it measures and in which units.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aekit.exceptions import ConfigError
from aekit.io import atomic_write_bytes

# Readable at the size the report shows them (about 800 px wide) and in print.
STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "figure.titlesize": 12,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 110,
}
TRAIN_COLOUR, VAL_COLOUR = "#1f77b4", "#d62728"


def _tight(fig) -> None:
    """tight_layout, quietly: a figure whose labels do not fit still renders, and
    matplotlib's warning would be a confusing extra line on the CLI's stderr."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Tight layout not applied")
        fig.tight_layout()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update(STYLE)
    return plt


def to_display(img: np.ndarray) -> tuple[np.ndarray, str | None]:
    """(C, H, W) or (H, W) to something imshow takes, with its colour map.

    Three channels are shown as RGB; one (or any other count, first channel)
    as grayscale. Values are clipped to [0, 1].
    """
    img = np.asarray(img, dtype=np.float32)
    if img.ndim == 3 and img.shape[0] == 3:
        return np.clip(img.transpose(1, 2, 0), 0, 1), None
    if img.ndim == 3:
        img = img[0]
    return np.clip(img, 0, 1), "gray"


def figure_png(fig, *, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def save_figure(fig, path: str | Path, *, dpi: int = 200) -> Path:
    """Write ``fig`` to ``path`` as PNG, PDF or SVG (by suffix), atomically."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "pdf", "svg"):
        _pyplot().close(fig)
        raise ConfigError(
            f"Cannot write a figure to {path}: use a .png, .pdf or .svg file name."
        )
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    _pyplot().close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def save_png(fig, path: str | Path) -> Path:
    atomic_write_bytes(path, figure_png(fig))
    return Path(path)


# -- images -----------------------------------------------------------------
def mosaic(images: Sequence[np.ndarray], ncols: int, *, gap: int = 1) -> np.ndarray:
    """Tile images into one (H, W[, 3]) array in [0, 1], white between tiles.

    One ``imshow`` of a mosaic draws many times faster than one axes per image
    and keeps the pixels crisp.
    """
    shown = [to_display(im)[0] for im in images]
    h, w = shown[0].shape[:2]
    rgb = shown[0].ndim == 3
    nrows = math.ceil(len(shown) / ncols)
    canvas = np.ones(
        (nrows * h + (nrows - 1) * gap, ncols * w + (ncols - 1) * gap)
        + ((3,) if rgb else ()),
        dtype=np.float32,
    )
    for k, im in enumerate(shown):
        i, j = divmod(k, ncols)
        canvas[i * (h + gap) : i * (h + gap) + h, j * (w + gap) : j * (w + gap) + w] = (
            im
        )
    return canvas


def _gap(images: np.ndarray) -> int:
    return max(1, to_display(images[0])[0].shape[0] // 8)


def image_rows(
    rows: Sequence[tuple[str, np.ndarray]],
    *,
    col_titles: Sequence[str] | None = None,
    title: str = "",
    cell: float = 0.8,
):
    """Rows of images with a label on the left of each row ([0, 1] units).

    ``rows`` is a list of ``(label, images)`` with the same number of images in
    each; ``col_titles`` puts a caption above each column.
    """
    plt = _pyplot()
    n = max(len(imgs) for _, imgs in rows)
    gap = _gap(rows[0][1])
    top = 0.1 + 0.35 * bool(title) + 0.22 * bool(col_titles)
    left, row_gap = 1.0, 0.08
    width = left + n * cell * 1.04 + 0.1
    height = top + len(rows) * (cell + row_gap) + 0.05
    fig = plt.figure(figsize=(width, height))
    for i, (label, imgs) in enumerate(rows):
        y0 = height - top - (i + 1) * cell - i * row_gap
        ax = fig.add_axes(
            (left / width, y0 / height, (width - left - 0.1) / width, cell / height)
        )
        tile = mosaic(imgs, n, gap=gap)
        ax.imshow(tile, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(label, fontsize=9, rotation=0, ha="right", va="center")
        if i == 0 and col_titles is not None:
            w = (tile.shape[1] + gap) / n
            for j, t in enumerate(col_titles[:n]):
                ax.text(
                    j * w + (w - gap) / 2 - 0.5,
                    -0.6,
                    t,
                    ha="center",
                    va="bottom",
                    fontsize=8,
                )
    if title:
        fig.suptitle(title, y=1 - 0.05 / height, va="top")
    return fig


def reconstruction_grid(
    originals: np.ndarray,
    reconstructions: np.ndarray,
    *,
    title: str = "",
    labels=("original", "reconstruction"),
    col_titles: Sequence[str] | None = None,
):
    """Two rows of images: originals above, reconstructions below ([0, 1] units)."""
    return image_rows(
        [(labels[0], originals), (labels[1], reconstructions)],
        title=title,
        col_titles=col_titles,
    )


def image_grid(
    images: np.ndarray, *, ncols: int = 8, title: str = "", cell: float = 0.8
):
    """Images in a grid of ``ncols`` columns, no labels ([0, 1] units)."""
    plt = _pyplot()
    nrows = math.ceil(len(images) / ncols)
    tile = mosaic(images, ncols, gap=_gap(images))
    top = 0.1 + 0.35 * bool(title)
    width = ncols * cell + 0.2
    height = top + nrows * cell * tile.shape[0] / tile.shape[1] * ncols / nrows + 0.1
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes(
        (
            0.1 / width,
            0.05 / height,
            ncols * cell / width,
            (height - top - 0.1) / height,
        )
    )
    ax.imshow(tile, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        fig.suptitle(title, y=1 - 0.05 / height, va="top")
    return fig


# -- training ---------------------------------------------------------------
def _wants_log(values: np.ndarray) -> bool:
    """Log scale helps when positive values span more than a decade."""
    v = values[np.isfinite(values)]
    return len(v) > 1 and v.min() > 0 and v.max() / v.min() > 10


def _zoom_past_first_epochs(ax, curves: list[np.ndarray]) -> None:
    """Keep the first epochs' large values from flattening the rest.

    When the values after the first tenth of training fill less than half of
    the axis, the axis is cut there and the title says so.
    """
    n = len(curves[0])
    if n < 20:
        return
    allv = np.concatenate(curves)
    later = np.concatenate([c[n // 10 :] for c in curves])
    allv, later = allv[np.isfinite(allv)], later[np.isfinite(later)]
    if not len(later):
        return
    lo, hi, top = float(allv.min()), float(allv.max()), float(later.max())
    if hi - lo > 0 and (top - lo) / (hi - lo) < 0.5:
        margin = 0.08 * (top - lo if top > lo else abs(top) or 1.0)
        ax.set_ylim(lo - margin, top + margin)
        ax.set_title(ax.get_title() + " (first epochs off scale)", fontsize=9)


def loss_curves(
    history: Sequence[dict],
    *,
    best_epoch: int | None = None,
    units: dict[str, str] | None = None,
):
    """One panel per loss term: training (solid) and validation (dashed).

    Terms come from the ``train_*``/``val_*`` keys of ``history``; ``units``
    maps a term to its y-axis label. A panel switches to a log scale when its
    values span more than a decade. The learning rate gets the last panel.
    """
    plt = _pyplot()
    units = units or {}
    terms: list[str] = []
    for row in history:
        for k in row:
            for prefix in ("train_", "val_"):
                if k.startswith(prefix) and k[len(prefix) :] not in terms:
                    terms.append(k[len(prefix) :])
    # "loss" first (what was minimised), then the terms it sums, then stats.
    terms.sort(key=lambda t: (t != "loss", t.startswith("stat_"), t))
    series = {
        f"{p}{t}": np.array(
            [np.nan if r.get(p + t) is None else r[p + t] for r in history], float
        )
        for t in terms
        for p in ("train_", "val_")
    }
    # A lone term equals the total: draw it once, under the term's name.
    same = [
        t
        for t in terms
        if t != "loss"
        and not t.startswith("stat_")
        and all(
            np.allclose(series[p + t], series[p + "loss"], equal_nan=True)
            for p in ("train_", "val_")
        )
    ]
    if "loss" in terms and same:
        terms.remove("loss")
    has_lr = any(row.get("lr") is not None for row in history)
    panels = terms + (["lr"] if has_lr else [])
    ncols = len(panels) if len(panels) <= 4 else 3
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.3 * ncols, 2.9 * nrows), squeeze=False
    )
    epochs = np.array([row.get("epoch", i + 1) for i, row in enumerate(history)])
    for ax, term in zip(axes.flat, panels, strict=False):
        if term == "lr":
            lr = np.array([np.nan if r.get("lr") is None else r["lr"] for r in history])
            ax.plot(epochs, lr, color="0.3")
            ax.set_title("learning rate")
            ax.set_ylabel("learning rate")
            if _wants_log(lr):
                ax.set_yscale("log")
        else:
            both = []
            for prefix, colour, style, name in (
                ("train_", TRAIN_COLOUR, "-", "training"),
                ("val_", VAL_COLOUR, "--", "validation"),
            ):
                vals = series[prefix + term]
                if np.isfinite(vals).any():
                    ax.plot(epochs, vals, style, color=colour, label=name)
                    both.append(vals)
            ax.set_title(f"{term} (= loss)" if term in same[:1] else term)
            ax.set_ylabel(units.get(term, term))
            if both and _wants_log(np.concatenate(both)):
                ax.set_yscale("log")
            elif both:
                _zoom_past_first_epochs(ax, both)
            if len(both) > 1:
                ax.legend(frameon=False)
        if best_epoch and best_epoch > 0 and term != "lr":
            ax.axvline(best_epoch, color="0.5", lw=0.8, ls=":")
        ax.set_xlabel("epoch")
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    _tight(fig)
    return fig


# -- codes ------------------------------------------------------------------
def _label_colours(labels: np.ndarray):
    """Discrete colours for up to 20 classes, else None (use a colour map)."""
    classes = np.unique(labels)
    if len(classes) > 20:
        return classes, None
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(classes) <= 10 else "tab20"]
    return classes, [cmap(i) for i in range(len(classes))]


def code_scatter(
    points: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    xlabel: str = "code 1",
    ylabel: str = "code 2",
    title: str = "",
    label_name: str = "label",
):
    """Codes in 2-D, coloured by ``labels`` (classes or a continuous value)."""
    plt = _pyplot()
    points = np.asarray(points, dtype=float)
    fig, ax = plt.subplots(figsize=(6.2, 5.0))
    size = max(2.0, min(18.0, 3000.0 / max(len(points), 1)))
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=size, alpha=0.6, color=TRAIN_COLOUR)
    else:
        labels = np.asarray(labels)
        classes, colours = _label_colours(labels)
        if colours is None:
            # Many distinct values: a colour map (by rank for names).
            values = (
                labels.astype(float)
                if labels.dtype.kind in "uifb"
                else np.unique(labels, return_inverse=True)[1].astype(float)
            )
            sc = ax.scatter(points[:, 0], points[:, 1], c=values, s=size, alpha=0.7)
            fig.colorbar(
                sc,
                ax=ax,
                label=label_name
                if labels.dtype.kind in "uifb"
                else f"{label_name} (rank)",
            )
        else:
            for c, colour in zip(classes, colours, strict=True):
                m = labels == c
                ax.scatter(
                    points[m, 0],
                    points[m, 1],
                    s=size,
                    alpha=0.7,
                    color=colour,
                    label=str(c),
                )
            ax.legend(
                title=label_name,
                loc="center left",
                bbox_to_anchor=(1.0, 0.5),
                frameon=False,
                markerscale=max(1.0, 20 / size) ** 0.5,
            )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    _tight(fig)
    return fig


def code_histogram(
    values: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    xlabel: str = "code value",
    title: str = "",
    label_name: str = "label",
):
    """A one-dimensional code: its histogram, one per class when labelled."""
    plt = _pyplot()
    values = np.asarray(values, dtype=float).ravel()
    fig, ax = plt.subplots(figsize=(6.2, 3.6))
    bins = np.histogram_bin_edges(values, bins=min(60, max(10, len(values) // 20)))
    if labels is None:
        ax.hist(values, bins=bins, color=TRAIN_COLOUR)
    else:
        labels = np.asarray(labels)
        classes, colours = _label_colours(labels)
        for k, c in enumerate(classes[:20]):
            ax.hist(
                values[labels == c],
                bins=bins,
                histtype="step",
                color=None if colours is None else colours[k],
                label=str(c),
            )
        ax.legend(
            title=label_name,
            frameon=False,
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("samples")
    if title:
        ax.set_title(title)
    _tight(fig)
    return fig


# -- errors -----------------------------------------------------------------
def error_histogram(
    errors: np.ndarray | None,
    *,
    quantile_levels: np.ndarray | None = None,
    quantiles: np.ndarray | None = None,
    marks: Sequence[float] = (0.5, 0.9, 0.99),
    threshold: float | None = None,
    data_label: str = "this data",
    unit: str = "per-sample MSE (scaled units)",
    reference_label: str = "held-out errors at fit time",
):
    """Histogram of per-sample reconstruction errors.

    ``quantiles`` at ``quantile_levels`` describe the held-out errors of the
    fit; evenly spaced quantiles are equally likely values, so they are binned
    like the errors and drawn as a step outline, their ``marks`` as vertical
    lines. Bars are shares of samples, comparable on one scale also when the
    bins are logarithmic. ``threshold`` (an anomaly threshold) is drawn in red. With
    ``errors=None`` the figure shows the fit's distribution alone.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.0, 3.8))
    values = [] if errors is None else [np.asarray(errors, float)]
    if quantiles is not None:
        values.append(np.asarray(quantiles, float))
    allv = np.concatenate(values) if values else np.array([0.0, 1.0])
    lo, hi = float(allv.min()), float(allv.max())
    use_log = lo > 0 and hi / lo > 50
    if use_log:
        bins = np.geomspace(lo, hi, 50)
        ax.set_xscale("log")
    else:
        bins = np.linspace(lo, hi if hi > lo else lo + 1e-12, 50)
    if errors is not None:
        errors = np.asarray(errors, float)
        ax.hist(
            errors,
            bins=bins,
            weights=np.full(len(errors), 100.0 / len(errors)),
            color=TRAIN_COLOUR,
            alpha=0.55,
            label=f"{data_label} (n={len(errors)})",
        )
    if quantiles is not None and quantile_levels is not None:
        q = np.asarray(quantiles, float)
        lv = np.asarray(quantile_levels, float)
        # Quantiles at evenly spaced levels are equally likely values: binned
        # like the data, they draw the fit's distribution on the same scale.
        # One level (one held-out sample) is evenly spaced too.
        steps = np.diff(lv)
        if steps.size == 0 or np.allclose(steps, steps[0]):
            ax.hist(
                q,
                bins=bins,
                weights=np.full(len(q), 100.0 / len(q)),
                histtype="step",
                color="0.15",
                lw=1.4,
                label=reference_label,
            )
        for m, style in zip(marks, (":", "--", "-."), strict=False):
            v = float(np.interp(m, lv, q))
            ax.axvline(v, color="0.35", ls=style, lw=1.0, label=f"fit q{m * 100:g}%")
    if threshold is not None:
        ax.axvline(threshold, color="#d62728", lw=2.0, label="anomaly threshold")
    ax.set_xlabel(unit)
    ax.set_ylabel("samples per bin (%)")
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _tight(fig)
    return fig


def feature_errors(
    per_feature: np.ndarray,
    names: Sequence[str] | None = None,
    *,
    top: int = 40,
    unit: str = "MSE (scaled units)",
):
    """Bar chart of the reconstruction error per feature (the ``top`` worst)."""
    plt = _pyplot()
    per_feature = np.asarray(per_feature, float)
    names = (
        list(names) if names is not None else [str(i) for i in range(len(per_feature))]
    )
    order = np.argsort(per_feature)[::-1][:top]
    fig, ax = plt.subplots(figsize=(7.0, 0.5 + 0.2 * len(order)))
    ax.barh(np.arange(len(order)), per_feature[order], color=TRAIN_COLOUR)
    ax.set_yticks(np.arange(len(order)), [names[i] for i in order], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    ax.set_ylabel("feature")
    shown = f"the {len(order)} worst of {len(per_feature)} features"
    ax.set_title(shown if len(order) < len(per_feature) else "every feature")
    ax.grid(axis="y", visible=False)
    _tight(fig)
    return fig


# -- variational --------------------------------------------------------------
def kl_per_dimension(kl: np.ndarray, *, active_threshold: float = 0.01):
    """Mean KL divergence of each latent dimension from the prior (nats)."""
    plt = _pyplot()
    kl = np.asarray(kl, float)
    fig, ax = plt.subplots(figsize=(max(4.5, min(12.0, 0.25 * len(kl) + 2)), 3.2))
    colours = [TRAIN_COLOUR if v > active_threshold else "0.7" for v in kl]
    ax.bar(np.arange(len(kl)), kl, color=colours)
    ax.axhline(active_threshold, color="0.4", ls=":", lw=1.0)
    n_active = int((kl > active_threshold).sum())
    ax.set_title(
        f"{n_active} of {len(kl)} dimensions in use (KL > {active_threshold:g} nats)"
        + ("\ngrey: collapsed to the prior" if n_active < len(kl) else ""),
        fontsize=10,
    )
    ax.set_xlabel("latent dimension")
    ax.set_ylabel("KL(q(z|x) || p(z)), nats")
    if len(kl) <= 32:
        ax.set_xticks(np.arange(len(kl)))
    ax.grid(axis="x", visible=False)
    _tight(fig)
    return fig
