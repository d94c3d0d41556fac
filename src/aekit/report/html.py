"""The HTML report of a run: one self-contained file.

A report is a list of sections. Each section is a function of a
:class:`ReportContext` (the fitted model, its run folder's ``config.json`` and
``summary.json``, and optionally data and labels) that returns its HTML, or
raises :class:`NotApplicable` when it does not apply to that model (a
variational section on a plain autoencoder) or lacks what it needs (data).
The report renders every section that applies, in order, and lists those
left out for want of data.

Adding a section for a new capability is one function::

    from aekit.report.html import NotApplicable, section

    @section("topk", "Top-k recommendations", order=45)
    def topk(ctx):
        if not hasattr(ctx.model, "recommend"):
            raise NotApplicable("not a recommender")
        X = ctx.require_data("top-k lists")
        return ctx.image(my_figure(...), alt="top-k lists") + ctx.table(rows)

in a module listed in ``SECTION_MODULES``. ``plot(name)`` registers a
function ``ctx -> Figure`` that ``aekit plot NAME`` can write on its own.

Self-contained means: figures are PNG data URIs, the CSS is inline, there
is no script, and a Content-Security-Policy forbids loading anything else, so
the file renders the same offline, from an e-mail attachment or a CI artifact.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import datetime
import functools
import html
import importlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aekit.exceptions import ConfigError, DataError
from aekit.io import atomic_write_text

# Modules whose import registers sections and plots; append yours.
SECTION_MODULES = ["aekit.report.sections"]
DEFAULT_MAX_SAMPLES = 2000


class NotApplicable(Exception):
    """A section or plot does not apply to this model (the message says why)."""


class NeedsData(NotApplicable):
    """A section that applies to the model but needs data that was not given."""


@dataclasses.dataclass(frozen=True)
class SectionSpec:
    key: str  # anchor in the page; also how tests find a section
    title: str
    order: float  # place in the page, smaller first
    render: Callable[[ReportContext], str]


SECTIONS: dict[str, SectionSpec] = {}
PLOTS: dict[str, Callable[[ReportContext], Any]] = {}


def section(key: str, title: str, *, order: float):
    """Register ``fn(ctx) -> html`` as a report section."""

    def register(fn):
        if key in SECTIONS:
            raise ValueError(f"A report section named {key!r} is already registered.")
        SECTIONS[key] = SectionSpec(key, title, order, fn)
        return fn

    return register


def plot(name: str):
    """Register ``fn(ctx) -> matplotlib Figure`` as ``aekit plot NAME``."""

    def register(fn):
        if name in PLOTS:
            raise ValueError(f"A plot named {name!r} is already registered.")
        PLOTS[name] = fn
        return fn

    return register


def _load_section_modules() -> None:
    for name in SECTION_MODULES:
        importlib.import_module(name)


# -- the context ----------------------------------------------------------------
def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}


def read_labels(path: str | Path, n: int | None = None) -> tuple[np.ndarray, str]:
    """Labels from .npy (one per sample) or a one-column text file.

    A text file may start with a header line, which becomes the labels' name.
    Numbers stay numbers; anything else is a class name.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Labels file {path} does not exist.")
    name = "label"
    if path.suffix.lower() == ".npy":
        try:
            y = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise DataError(f"{path} is not a readable .npy array ({exc}).") from None
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise DataError(
                f"{path} holds an array of shape {y.shape}; labels need one value "
                "per sample, shape (n,)."
            )
    else:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
        if any(len(r) != 1 for r in rows):
            raise DataError(
                f"{path} has rows with several columns; a labels file has one label "
                "per line."
            )
        values = [r[0].strip() for r in rows]

        def number(v):
            try:
                return float(v)
            except ValueError:
                return None

        if (
            values
            and number(values[0]) is None
            and all(number(v) is not None for v in values[1:])
        ):
            name, values = values[0], values[1:]
        elif n is not None and len(values) == n + 1:
            name, values = values[0], values[1:]
        nums = [number(v) for v in values]
        if values and all(v is not None for v in nums):
            y = np.array(nums)
            if np.all(y == np.round(y)):
                y = y.astype(np.int64)
        else:
            y = np.array(values)
    if n is not None and len(y) != n:
        raise DataError(
            f"{path} has {len(y)} labels, but the data has {n} samples; give one "
            "label per sample, in the data's order."
        )
    return y, name


class ReportContext:
    """What sections look at: the fitted model, its run files, data, labels.

    Parameters
    ----------
    model : fitted aekit estimator
    run_dir : path or None
        The run folder (its ``config.json``, ``summary.json``).
    data : aekit.data.Dataset, array or None
        Data to reconstruct, encode and score; sampled down to ``max_samples``.
    labels : array or None
        One label per sample of ``data`` (else the Dataset's ``y``, if any).
    data_note : str
        Where the data comes from, shown in the report.
    """

    def __init__(
        self,
        model,
        *,
        run_dir: str | Path | None = None,
        config: dict | None = None,
        summary: dict | None = None,
        data=None,
        labels: np.ndarray | None = None,
        label_name: str = "label",
        data_note: str = "",
        max_samples: int = DEFAULT_MAX_SAMPLES,
        seed: int = 0,
    ):
        from aekit.data.readers import Dataset

        self.run_dir = Path(run_dir) if run_dir is not None else None
        # An AnomalyDetector wraps an autoencoder (saved in a subfolder): the
        # model's sections describe that autoencoder, the anomaly section the
        # detector's scores and threshold.
        self.detector = None
        model_dir = self.run_dir
        if hasattr(model, "autoencoder_"):
            self.detector, model = model, model.autoencoder_
            if self.run_dir is not None:
                sub = _read_json(self.run_dir / "config.json").get("autoencoder")
                model_dir = self.run_dir / sub if sub else None
        self.model = model
        if config is None:
            config = _read_json(model_dir / "config.json") if model_dir else {}
        if summary is None:
            summary = _read_json(model_dir / "summary.json") if model_dir else {}
        self.config, self.summary = config, summary
        self.seed = seed
        self.label_name = label_name
        self.dataset = None
        self.X = self.y = self.indices = None
        self.n_data = 0
        self.data_note = data_note
        if data is not None:
            ds = data if isinstance(data, Dataset) else Dataset(np.asarray(data))
            self.dataset = ds
            if labels is None and ds.y is not None and len(ds.y) == len(ds):
                labels = np.asarray(ds.y)
            if labels is not None and len(labels) != len(ds):
                raise DataError(
                    f"There are {len(labels)} labels for {len(ds)} samples; give one "
                    "label per sample."
                )
            shape = getattr(model, "input_shape_", None)
            if shape is not None and tuple(ds.X.shape[1:]) != tuple(shape):
                raise DataError(
                    f"The data has samples of shape {tuple(ds.X.shape[1:])}, but the "
                    f"model was fitted on samples of shape {tuple(shape)}; pass the "
                    "kind of data it was fitted on (same --image-size, --key)."
                )
            self.n_data = len(ds)
            idx = np.arange(len(ds))
            if len(ds) > max_samples:
                rng = np.random.default_rng(seed)
                idx = np.sort(rng.choice(len(ds), max_samples, replace=False))
            self.indices = idx
            self.X = np.asarray(ds.X[idx])
            self.y = None if labels is None else np.asarray(labels)[idx]
            if not self.data_note:
                self.data_note = ds.name or "the given data"

    # -- what sections ask for ------------------------------------------------
    @property
    def module(self):
        module = getattr(self.model, "module_", None)
        if module is None:
            raise NotApplicable("the estimator has no torch module")
        return module

    @property
    def device(self):
        import torch

        return getattr(self.model, "_device", None) or torch.device("cpu")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(getattr(self.model, "input_shape_", ()))

    @property
    def is_image(self) -> bool:
        """Samples shaped (C, H, W): shown as pictures rather than numbers."""
        shape = self.input_shape
        return len(shape) == 3 and shape[1] >= 4 and shape[2] >= 4

    def require_data(self, what: str) -> np.ndarray:
        if self.X is None:
            raise NeedsData(what)
        return self.X

    @functools.cached_property
    def Xs(self) -> np.ndarray:
        """The data in the model's scaled units."""
        return self.model.scaler_.transform(self.require_data("scaled data"))

    def apply(self, fn, Xs: np.ndarray) -> np.ndarray:
        """Run ``fn`` (a module method) on scaled data in batches, in eval mode."""
        from aekit.estimators.base import batched

        self.module.eval()
        return batched(fn, Xs, device=self.device)

    @functools.cached_property
    def recon_s(self) -> np.ndarray:
        """Reconstructions of the data, in scaled units."""
        return self.apply(self.module, self.Xs)

    @functools.cached_property
    def errors(self) -> np.ndarray:
        """Per-sample reconstruction MSE in scaled units (what the model reports)."""
        from aekit.metrics import per_sample_mse

        return per_sample_mse(self.Xs, self.recon_s)

    @functools.cached_property
    def anomaly_scores(self) -> np.ndarray:
        """The detector's anomaly scores of the data (higher: more anomalous)."""
        if self.detector is None:
            raise NotApplicable("the estimator is not an anomaly detector")
        return self.detector.decision_function(self.require_data("anomaly scores"))

    @functools.cached_property
    def codes(self) -> np.ndarray:
        """Codes of the data, flattened to (n, code values)."""
        return self.apply(self.module.encode, self.Xs).reshape(len(self.Xs), -1)

    @functools.cached_property
    def _display_range(self) -> tuple[float, float] | None:
        scaler = self.model.scaler_
        if getattr(scaler, "fitted_mode", None) in ("range", "minmax", "none"):
            return None  # scaled values are already [0, 1] pixels
        X = self.require_data("image display range").astype(np.float64)
        return float(X.min()), float(X.max())

    def display(self, Xs: np.ndarray) -> np.ndarray:
        """Scaled samples to [0, 1] for showing as images."""
        rng = self._display_range
        if rng is None:
            return np.clip(Xs, 0, 1)
        orig = self.model.scaler_.inverse_transform(Xs)
        lo, hi = rng
        return np.clip((orig - lo) / (hi - lo if hi > lo else 1.0), 0, 1)

    @property
    def unit(self) -> str:
        scaler = getattr(self.model, "scaler_", None)
        mode = getattr(scaler, "fitted_mode", None)
        if mode in ("range", "minmax"):
            return "scaled units: [0, 1] over the value range"
        if mode == "standard":
            return "scaled units: standard deviations"
        return "data units"

    # -- building HTML --------------------------------------------------------
    @staticmethod
    def image(fig, *, alt: str, caption: str = "", dpi: int = 110) -> str:
        """A matplotlib figure as an embedded PNG, with an optional caption."""
        from aekit.report.figures import figure_png

        data = base64.b64encode(figure_png(fig, dpi=dpi)).decode("ascii")
        cap = f"<figcaption>{caption}</figcaption>" if caption else ""
        return (
            f'<figure><img alt="{html.escape(alt)}" '
            f'src="data:image/png;base64,{data}">{cap}</figure>'
        )

    @staticmethod
    def table(
        rows: Sequence[Sequence[Any]],
        header: Sequence[str] | None = None,
        *,
        caption: str = "",
        cls: str = "",
    ) -> str:
        """An HTML table; cells are escaped and numbers formatted."""
        out = [f'<table class="{cls}">' if cls else "<table>"]
        if caption:
            out.append(f"<caption>{html.escape(caption)}</caption>")
        if header:
            out.append(
                "<thead><tr>"
                + "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
                + "</tr></thead>"
            )
        out.append("<tbody>")
        for row in rows:
            cells = []
            for k, v in enumerate(row):
                tag = "th" if (k == 0 and not header) else "td"
                num = isinstance(v, int | float | np.number) and not isinstance(v, bool)
                cells.append(
                    f"<{tag}{' class=num' if num else ''}>{html.escape(fmt(v))}</{tag}>"
                )
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</tbody></table>")
        return "".join(out)


def fmt(v: Any) -> str:
    """A value as a short readable string."""
    if v is None:
        return "–"
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return f"{int(v):,}"
    if isinstance(v, float | np.floating):
        v = float(v)
        if v == 0 or np.isinf(v) or np.isnan(v):
            return f"{v:g}"
        return f"{v:.4g}" if 1e-3 <= abs(v) < 1e5 else f"{v:.3e}"
    if isinstance(v, list | tuple):
        return ", ".join(fmt(x) for x in v) if v else "()"
    if isinstance(v, dict):
        return ", ".join(f"{k}={fmt(x)}" for k, x in v.items())
    return str(v)


# -- the page -------------------------------------------------------------------
CSS = """
:root{--fg:#1d232b;--muted:#5b6672;--line:#dfe3e8;--accent:#1f5fa8;--bg:#fff}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 -apple-system,"Segoe UI",Roboto,"DejaVu Sans",
Helvetica,Arial,sans-serif;color:var(--fg);background:var(--bg)}
header{padding:20px 32px 12px;border-bottom:1px solid var(--line);background:#f6f8fa}
header h1{margin:0 0 4px;font-size:24px}
header p{margin:0;color:var(--muted)}
nav{padding:8px 32px;border-bottom:1px solid var(--line);font-size:14px;
display:flex;flex-wrap:wrap;gap:4px 18px}
nav a{color:var(--accent);text-decoration:none;white-space:nowrap}
.keys{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0 14px}
.key{border:1px solid var(--line);border-radius:6px;padding:6px 12px;min-width:120px}
.key b{display:block;font-size:19px;font-variant-numeric:tabular-nums}
.key span{color:var(--muted);font-size:12.5px}
main{padding:8px 32px 32px;max-width:1200px}
section{margin:24px 0 8px;padding-top:8px;border-top:1px solid var(--line)}
section h2{font-size:19px;margin:4px 0 10px}
h3{font-size:15px;margin:14px 0 6px}
p.note,figcaption{color:var(--muted);font-size:13.5px}
figure{margin:10px 0 16px}
figure img{max-width:100%;height:auto;display:block}
table{border-collapse:collapse;margin:6px 0 14px;font-size:13.5px}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{border-bottom:1px solid var(--line);padding:3px 10px 3px 0;text-align:left;
vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
thead th{border-bottom:2px solid var(--line)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(330px,1fr));
gap:4px 28px}
.skipped{background:#fff8e6;border:1px solid #f0d890;padding:8px 12px;
font-size:13.5px}
footer{padding:12px 32px;color:var(--muted);font-size:12.5px;
border-top:1px solid var(--line)}
"""

# Nothing but this file: inline styles, images as data URIs, no scripts.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def render(ctx: ReportContext, *, title: str | None = None) -> str:
    """The report of ``ctx`` as one HTML string."""
    from aekit import __version__

    _load_section_modules()
    parts: list[tuple[SectionSpec, str]] = []
    needs_data: list[str] = []
    for spec in sorted(SECTIONS.values(), key=lambda s: (s.order, s.key)):
        try:
            body = spec.render(ctx)
        except NeedsData:
            needs_data.append(spec.title)
            continue
        except NotApplicable:
            continue
        if body:
            parts.append((spec, body))
    estimator = type(ctx.detector or ctx.model).__name__
    run = ctx.run_dir.name if ctx.run_dir else estimator
    title = title or f"aekit report: {run}"
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sub = [estimator]
    if ctx.run_dir:
        sub.append(f"run folder <code>{html.escape(str(ctx.run_dir))}</code>")
    if ctx.X is not None:
        sub.append(
            f"data: {html.escape(ctx.data_note)} ({len(ctx.X):,} of "
            f"{ctx.n_data:,} samples shown)"
        )
    nav = "".join(
        f'<a href="#{spec.key}">{html.escape(spec.title)}</a>' for spec, _ in parts
    )
    body = []
    if needs_data:
        body.append(
            '<p class="skipped">Left out for want of data: '
            + html.escape(", ".join(needs_data))
            + ". Pass data: <code>aekit report RUN_DIR DATA</code>.</p>"
        )
    for spec, content in parts:
        body.append(
            f'<section id="{spec.key}" data-section="{spec.key}">'
            f"<h2>{html.escape(spec.title)}</h2>{content}</section>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{' · '.join(sub)}</p></header>"
        f"<nav>{nav}</nav><main>{''.join(body)}</main>"
        f"<footer>Written by aekit {html.escape(__version__)} on {when}. "
        "Self-contained: no network access needed.</footer></body></html>\n"
    )


def sections_in(page: str) -> list[str]:
    """Keys of the sections a rendered report holds, in order."""
    import re

    return re.findall(r'<section id="[^"]*" data-section="([^"]+)"', page)


def make_context(
    run_dir: str | Path | None = None,
    data=None,
    *,
    model=None,
    labels=None,
    key: str | None = None,
    image_size=None,
    max_samples: int = DEFAULT_MAX_SAMPLES,
    data_note: str = "",
) -> ReportContext:
    """A :class:`ReportContext` from a run folder and optional data and labels.

    ``data`` is a path, a built-in name, a Dataset or an array; ``labels`` a
    path (.npy, .csv, .txt) or an array. ``model`` skips loading the run
    folder's weights (``aekit fit`` passes the estimator it just fitted).
    """
    if run_dir is None and model is None:
        raise ConfigError("make_context needs a run folder or a fitted model.")
    if model is None:
        import aekit

        model = aekit.load(run_dir)
    ds = None
    if data is not None:
        from aekit.data import load

        ds = load(data, key=key, image_size=image_size)
    label_name = "label"
    if isinstance(labels, str | Path):
        if ds is None:
            raise ConfigError("--labels needs DATA: the labels belong to its samples.")
        labels, label_name = read_labels(labels, len(ds))
    elif labels is not None:
        labels = np.asarray(labels)
    return ReportContext(
        model,
        run_dir=run_dir,
        data=ds,
        labels=labels,
        label_name=label_name,
        data_note=data_note,
        max_samples=max_samples,
    )


def write_report(
    run_dir: str | Path,
    data=None,
    *,
    out: str | Path | None = None,
    model=None,
    labels=None,
    key: str | None = None,
    image_size=None,
    max_samples: int = DEFAULT_MAX_SAMPLES,
    data_note: str = "",
) -> Path:
    """Write the HTML report of the run in ``run_dir`` (default: its report.html).

    Parameters
    ----------
    run_dir : path
        A run folder written by ``aekit fit`` or ``Autoencoder.save``.
    data : path, str, Dataset, array or None
        Data for the sections that need it (reconstructions, codes, errors).
    out : path, optional
        Where to write; default ``run_dir / "report.html"``.
    model : fitted estimator, optional
        Use this instead of loading the run folder's weights.
    labels : path or array, optional
        One label per sample of ``data``, to colour the codes.
    max_samples : int
        Samples drawn from ``data`` (at random, seed 0) for the figures.

    Example
    -------
    >>> write_report("runs/demo", "digits")  # doctest: +SKIP
    PosixPath('runs/demo/report.html')
    """
    ctx = make_context(
        run_dir,
        data,
        model=model,
        labels=labels,
        key=key,
        image_size=image_size,
        max_samples=max_samples,
        data_note=data_note,
    )
    out = Path(out) if out is not None else Path(run_dir) / "report.html"
    atomic_write_text(out, render(ctx))
    return out


def write_plot(
    name: str,
    run_dir: str | Path,
    data=None,
    *,
    out: str | Path,
    dpi: int = 200,
    **kwargs,
) -> Path:
    """Write one figure (``name`` from ``PLOTS``) to ``out`` (.png, .pdf, .svg)."""
    from aekit.report.figures import save_figure

    _load_section_modules()
    if name not in PLOTS:
        raise ConfigError(
            f"Unknown plot {name!r}; choose one of {', '.join(sorted(PLOTS))}."
        )
    if Path(out).suffix.lower() not in (".png", ".pdf", ".svg"):
        raise ConfigError(
            f"Cannot write a figure to {out}: use a .png, .pdf or .svg file name."
        )
    ctx = make_context(run_dir, data, **kwargs)
    try:
        fig = PLOTS[name](ctx)
    except NeedsData as exc:
        raise ConfigError(
            f"The {name!r} plot needs data ({exc}); pass DATA after RUN_DIR."
        ) from None
    except NotApplicable as exc:
        raise ConfigError(
            f"The {name!r} plot does not apply to this model: {exc}."
        ) from None
    return save_figure(fig, out, dpi=dpi)
