"""The report's sections and the single plots behind them.

Each ``@plot`` function builds one figure from a :class:`ReportContext` and
raises :class:`NotApplicable` (or :class:`NeedsData`) when it does not apply;
each ``@section`` function assembles figures and tables into HTML. Which
sections appear is decided from the fitted model alone: a variational latent
(``latent.posterior``) brings samples, interpolations and the KL per
dimension; a corruption brings denoising triplets; image-shaped samples get
pictures, tables get per-feature errors.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import torch

from aekit.metrics import QUANTILE_LEVELS, psnr
from aekit.report import figures
from aekit.report.html import NotApplicable, ReportContext, fmt, plot, section

N_SHOWN = 12  # images per row of a reconstruction figure


def _rng(ctx: ReportContext, salt: int = 0) -> np.random.Generator:
    return np.random.default_rng(ctx.seed + salt)


def _pick(ctx: ReportContext, k: int, salt: int = 0) -> np.ndarray:
    n = len(ctx.require_data("samples to show"))
    return np.sort(_rng(ctx, salt).choice(n, min(k, n), replace=False))


def _component(spec: dict | None) -> str:
    if not spec:
        return "none"
    fields = {k: v for k, v in spec.items() if k != "kind"}
    return f"{spec.get('kind')} ({fmt(fields)})" if fields else str(spec.get("kind"))


def _psnr_ok(Xs: np.ndarray) -> bool:
    return float(Xs.min()) >= 0.0 and float(Xs.max()) <= 1.0


# -- summary ------------------------------------------------------------------
def _metric_name(key: str) -> str:
    for prefix, split in (("train_", "training"), ("val_", "validation")):
        if key.startswith(prefix):
            return f"{key[len(prefix) :]}, {split}"
    return key


def _keys(items: list[tuple[str, str]]) -> str:
    return (
        '<div class="keys">'
        + "".join(
            f'<div class="key"><b>{html.escape(v)}</b>'
            f"<span>{html.escape(k)}</span></div>"
            for k, v in items
        )
        + "</div>"
    )


def _estimator_name(ctx: ReportContext) -> str:
    name = ctx.config.get("estimator", type(ctx.model).__name__)
    if ctx.detector is not None:
        return f"{type(ctx.detector).__name__} (around an {name})"
    return name


@section("summary", "Summary", order=10)
def summary_section(ctx: ReportContext) -> str:
    cfg, summ, model = ctx.config, ctx.summary, ctx.model
    data = summ.get("data", {})
    scaling = cfg.get("scaling", {})
    shape = data.get("sample_shape", list(ctx.input_shape))
    data_rows = [
        ("fitted on", data.get("source")),
        ("samples", data.get("n")),
        ("sample shape", " x ".join(map(str, shape))),
        ("kind", data.get("kind")),
        ("input dtype", cfg.get("input_dtype")),
        ("scaling", scaling.get("fitted_mode") or scaling.get("mode")),
    ]
    data_rows = [(k, v) for k, v in data_rows if v not in (None, "", "–")]
    if ctx.X is not None:
        data_rows.append(("this report's data", ctx.data_note))
        data_rows.append(("samples shown", f"{len(ctx.X):,} of {ctx.n_data:,}"))
        if ctx.y is not None:
            n_cls = len(np.unique(ctx.y))
            data_rows.append(("labels", f"{ctx.label_name} ({n_cls} distinct values)"))

    spec = cfg.get("model", {})
    comp = summ.get("compression", {})
    code_shape = getattr(getattr(model, "module_", None), "code_shape", None)
    regs = ", ".join(_component(r) for r in spec.get("regularizers") or [])
    model_rows = [
        ("estimator", _estimator_name(ctx)),
        ("architecture", _component(spec.get("architecture"))),
        ("latent", _component(spec.get("latent"))),
        ("code shape", " x ".join(map(str, code_shape)) if code_shape else None),
        ("corruption", _component(spec.get("corruption"))),
        ("regularizers", regs or "none"),
        ("likelihood", _component(spec.get("likelihood"))),
        ("parameters", summ.get("n_parameters")),
    ]
    if comp:
        model_rows += [
            (
                "values: input -> code",
                f"{comp.get('input_values'):,} -> {comp.get('code_values'):,}",
            ),
            ("compression (values)", f"{comp.get('dimension_ratio', 0):.4g}x"),
            ("compression (bytes)", f"{comp.get('compression_ratio', 0):.4g}x"),
        ]

    fit_s = summ.get("fit_seconds", getattr(model, "fit_seconds_", None))
    train_rows = [
        ("epochs run", summ.get("epochs_run", len(getattr(model, "history_", [])))),
        ("best epoch (weights kept)", summ.get("best_epoch")),
        ("stopped early", summ.get("stopped_early")),
        ("fit wall time", None if fit_s is None else f"{fit_s:.2f} s"),
    ]
    params = {k: v for k, v in cfg.get("params", {}).items() if k != "verbose"}
    hyper_rows = sorted(params.items())

    final = summ.get("final", {})
    metric_rows = [
        (_metric_name(k), v) for k, v in final.items() if k not in ("lr", "seconds")
    ]
    err = summ.get("reconstruction_error") or getattr(
        model, "reconstruction_error_", {}
    )
    for split, stats in err.items():
        metric_rows.append((f"MSE per sample, {split}, mean", stats.get("mean")))
        metric_rows.append((f"MSE per sample, {split}, q99", stats.get("q99")))
    for name, value in (summ.get("demo") or {}).items():
        metric_rows.append((f"demo: {name}", value))
    keys = []
    if code_shape:
        keys.append(("code size", " x ".join(map(str, code_shape))))
    if comp:
        keys.append(("compression (values)", f"{comp.get('dimension_ratio', 0):.3g}x"))
    if "validation" in err:
        keys.append(("validation MSE / sample", fmt(err["validation"].get("mean"))))
    if ctx.X is not None and hasattr(model, "scaler_"):
        e = ctx.errors
        metric_rows.append(("MSE per sample, this data, mean", float(e.mean())))
        keys.append(("MSE / sample, this data", fmt(float(e.mean()))))
        if _psnr_ok(ctx.Xs):
            value = psnr(ctx.Xs, np.clip(ctx.recon_s, 0, 1))
            metric_rows.append(("PSNR, this data (dB)", value))
            keys.append(("PSNR, this data", f"{value:.1f} dB"))
    if fit_s is not None:
        keys.append(("fit wall time", f"{fit_s:.1f} s"))

    versions = cfg.get("versions", {})
    cards = [
        ctx.table(data_rows, caption="Data"),
        ctx.table(model_rows, caption="Model"),
        ctx.table(metric_rows, caption="Metrics (scaled units; last epoch)"),
        ctx.table(train_rows, caption="Training")
        + ctx.table(list(versions.items()), caption="Versions"),
        ctx.table(hyper_rows, caption="Hyperparameters"),
    ]
    return (
        _keys(keys)
        + '<div class="cards">'
        + "".join(f"<div>{c}</div>" for c in cards)
        + "</div>"
    )


# -- training -----------------------------------------------------------------
def _term_units(ctx: ReportContext) -> dict[str, str]:
    lik = ctx.config.get("model", {}).get("likelihood", {}) or {}
    per = "per element" if lik.get("reduction", "mean") == "mean" else "per sample"
    recon = {
        "bernoulli": f"BCE, nats {per}",
        "gaussian": f"squared error {per} (scaled units²)",
        "multinomial": f"negative log-likelihood, nats {per}",
    }.get(lik.get("kind"), "reconstruction loss")
    return {
        "recon": recon,
        "kl": "β x KL, nats per sample",
        "loss": "minimised total",
    }


@plot("loss")
def plot_loss(ctx: ReportContext):
    history = getattr(ctx.model, "history_", None)
    if not history:
        raise NotApplicable("the run has no training history")
    return figures.loss_curves(
        history,
        best_epoch=getattr(ctx.model, "best_epoch_", None),
        units=_term_units(ctx),
    )


@section("training", "Training curves", order=20)
def training_section(ctx: ReportContext) -> str:
    fig = plot_loss(ctx)
    best = getattr(ctx.model, "best_epoch_", None)
    kept = (
        f" The dotted line marks epoch {best}, whose weights were kept."
        if best and best > 0
        else ""
    )
    return ctx.image(
        fig,
        alt="loss curves per term",
        caption="Each loss term per epoch, on the training data (solid) and the "
        "held-out validation split (dashed). A panel turns logarithmic when its "
        f"values span more than a factor of 10.{kept}",
    )


# -- reconstructions ------------------------------------------------------------
@plot("reconstructions")
def plot_reconstructions(ctx: ReportContext):
    if not ctx.is_image:
        raise NotApplicable("samples are not images; see the 'features' plot")
    idx = _pick(ctx, N_SHOWN)
    e = ctx.errors[idx]
    return figures.reconstruction_grid(
        ctx.display(ctx.Xs[idx]),
        ctx.display(ctx.recon_s[idx]),
        col_titles=[f"{v:.3g}" for v in e],
        title="random samples; above each: its MSE (scaled units)",
    )


@plot("worst")
def plot_worst(ctx: ReportContext):
    if not ctx.is_image:
        raise NotApplicable("samples are not images")
    e = ctx.errors
    idx = np.argsort(e)[::-1][: min(N_SHOWN // 3 * 2, len(e))]
    return figures.reconstruction_grid(
        ctx.display(ctx.Xs[idx]),
        ctx.display(ctx.recon_s[idx]),
        col_titles=[f"{v:.3g}" for v in e[idx]],
        title="the worst-reconstructed samples; above each: its MSE",
    )


@section("reconstructions", "Originals and reconstructions", order=30)
def reconstructions_section(ctx: ReportContext) -> str:
    if not ctx.is_image:
        raise NotApplicable("tables get the per-feature section")
    ctx.require_data("originals and reconstructions")
    return ctx.image(
        plot_reconstructions(ctx),
        alt="originals and reconstructions",
        caption="Random samples of the data (top) and the model's reconstructions "
        "(bottom), both in [0, 1] display units.",
    ) + ctx.image(
        plot_worst(ctx),
        alt="worst reconstructions",
        caption="The samples the model rebuilds worst: outliers, rare styles or "
        "label noise often show up here.",
    )


def _feature_names(ctx: ReportContext) -> list[str]:
    n = int(np.prod(ctx.input_shape)) if ctx.input_shape else ctx.Xs[0].size
    cols = getattr(ctx.dataset, "columns", None)
    if cols is not None and len(cols) == n:
        return [str(c) for c in cols]
    return [f"x{i}" for i in range(n)]


def _feature_stats(ctx: ReportContext) -> dict[str, np.ndarray]:
    Xs = ctx.Xs.reshape(len(ctx.Xs), -1).astype(np.float64)
    Rs = ctx.recon_s.reshape(len(Xs), -1).astype(np.float64)
    mse = np.mean((Xs - Rs) ** 2, axis=0)
    X = ctx.model.scaler_.inverse_transform(ctx.Xs).reshape(len(Xs), -1)
    R = ctx.model.scaler_.inverse_transform(ctx.recon_s).reshape(len(Xs), -1)
    X, R = X.astype(np.float64), R.astype(np.float64)
    rmse = np.sqrt(np.mean((X - R) ** 2, axis=0))
    sst = np.sum((X - X.mean(0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(sst > 0, 1 - np.sum((X - R) ** 2, axis=0) / sst, np.nan)
    return {"mse": mse, "rmse": rmse, "r2": r2}


@plot("features")
def plot_features(ctx: ReportContext):
    ctx.require_data("per-feature errors")
    stats = _feature_stats(ctx)
    return figures.feature_errors(
        stats["mse"], _feature_names(ctx), unit=f"MSE ({ctx.unit})"
    )


@section("features", "Reconstruction error per feature", order=30)
def features_section(ctx: ReportContext) -> str:
    if ctx.is_image:
        raise NotApplicable("images get the reconstructions section")
    ctx.require_data("per-feature errors")
    stats = _feature_stats(ctx)
    names = _feature_names(ctx)
    order = np.argsort(stats["mse"])[::-1][:25]
    rows = [
        (
            names[i],
            float(stats["mse"][i]),
            float(stats["rmse"][i]),
            float(stats["r2"][i]),
        )
        for i in order
    ]
    return ctx.image(
        plot_features(ctx),
        alt="reconstruction error per feature",
        caption="Mean squared reconstruction error of each feature over the data, "
        f"in the model's {ctx.unit}.",
    ) + ctx.table(
        rows,
        ["feature", "MSE (scaled)", "RMSE (data units)", "R²"],
        caption=f"The {len(rows)} worst-reconstructed features",
    )


# -- denoising --------------------------------------------------------------------
def _denoise(ctx: ReportContext) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, denoised) versions of the data, scaled units, fixed seed."""
    corruption = getattr(ctx.module, "corruption", None)
    if corruption is None:
        raise NotApplicable("the model was not trained with input corruption")
    Xs = ctx.Xs
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(ctx.seed)
        noisy = corruption(torch.from_numpy(np.ascontiguousarray(Xs))).numpy()
    return noisy, ctx.apply(ctx.module, noisy)


@plot("denoising")
def plot_denoising(ctx: ReportContext):
    noisy, denoised = _denoise(ctx)
    if not ctx.is_image:
        raise NotApplicable("triplets are shown for images; tables get a table")
    idx = _pick(ctx, 8, salt=1)
    Xs = ctx.Xs
    titles = [
        f"{psnr(Xs[i], np.clip(noisy[i], 0, 1)):.1f} → "
        f"{psnr(Xs[i], np.clip(denoised[i], 0, 1)):.1f} dB"
        for i in idx
    ]
    return figures.image_rows(
        [
            ("noisy", ctx.display(noisy[idx])),
            ("denoised", ctx.display(denoised[idx])),
            ("clean", ctx.display(Xs[idx])),
        ],
        col_titles=titles,
        cell=1.15,
        title="PSNR against the clean image: noisy → denoised",
    )


@section("denoising", "Denoising", order=40)
def denoising_section(ctx: ReportContext) -> str:
    if getattr(ctx.module, "corruption", None) is None:
        raise NotApplicable("no corruption")
    ctx.require_data("denoising examples")
    noisy, denoised = _denoise(ctx)
    Xs = ctx.Xs
    rng_ = float(Xs.max() - Xs.min()) or 1.0
    data_range = 1.0 if _psnr_ok(Xs) else rng_
    clip = (lambda a: np.clip(a, 0, 1)) if _psnr_ok(Xs) else (lambda a: a)
    rows = []
    for name, arr in (
        ("noisy input", noisy),
        ("denoised (noisy input through the model)", denoised),
        ("reconstruction of the clean input", ctx.recon_s),
    ):
        mse = float(np.mean((Xs.astype(np.float64) - clip(arr)) ** 2))
        rows.append((name, mse, psnr(Xs, clip(arr), data_range=data_range)))
    corr = _component(ctx.config.get("model", {}).get("corruption"))
    out = ctx.table(
        rows,
        ["", "MSE (scaled)", "PSNR (dB)"],
        caption=f"Corruption {corr}, applied to {len(Xs):,} samples (seed "
        f"{ctx.seed}); PSNR with peak {data_range:.3g}",
    )
    if ctx.is_image:
        out = (
            ctx.image(
                plot_denoising(ctx),
                alt="noisy, denoised and clean triplets",
                caption="The corruption the model was trained with, applied to "
                "held data (top), the model's output (middle) and the clean "
                "original (bottom).",
            )
            + out
        )
    return out


# -- codes ------------------------------------------------------------------------
@plot("codes")
def plot_codes(ctx: ReportContext):
    ctx.require_data("codes")
    Z = ctx.codes
    variational = hasattr(ctx.module.latent, "posterior")
    what = "posterior mean" if variational else "code"
    title = f"{len(Z):,} samples"
    if Z.shape[1] == 1:
        return figures.code_histogram(
            Z[:, 0],
            ctx.y,
            xlabel=f"{what} (1-D code)",
            title=title,
            label_name=ctx.label_name,
        )
    if Z.shape[1] == 2:
        return figures.code_scatter(
            Z,
            ctx.y,
            xlabel=f"{what} 1",
            ylabel=f"{what} 2",
            title=title,
            label_name=ctx.label_name,
        )
    from sklearn.decomposition import PCA

    pca = PCA(2, random_state=0).fit(Z)
    P = pca.transform(Z)
    ev = pca.explained_variance_ratio_ * 100
    return figures.code_scatter(
        P,
        ctx.y,
        xlabel=f"PC 1 of the {Z.shape[1]}-D codes ({ev[0]:.0f}% of variance)",
        ylabel=f"PC 2 ({ev[1]:.0f}% of variance)",
        title=title,
        label_name=ctx.label_name,
    )


@section("codes", "Codes", order=50)
def codes_section(ctx: ReportContext) -> str:
    fig = plot_codes(ctx)
    d = ctx.codes.shape[1]
    how = (
        "the code itself"
        if d <= 2
        else f"the first two principal components of the {d}-dimensional codes"
    )
    coloured = (
        f", coloured by {html.escape(ctx.label_name)}"
        if ctx.y is not None
        else " (pass --labels, or data that carries labels, to colour them)"
    )
    return ctx.image(fig, alt="codes in 2-D", caption=f"The codes: {how}{coloured}.")


# -- errors -----------------------------------------------------------------------
@plot("errors")
def plot_errors(ctx: ReportContext):
    model = ctx.model
    quantiles = getattr(model, "error_quantiles_", None)
    errors = None
    try:
        errors = ctx.errors
    except NotApplicable:
        if quantiles is None:
            raise
    levels = None
    if quantiles is not None:
        quantiles = np.asarray(quantiles, float)
        levels = np.linspace(0.0, 1.0, len(quantiles))
    return figures.error_histogram(
        errors,
        quantile_levels=levels,
        quantiles=quantiles,
        data_label=ctx.data_note or "data",
        unit=f"per-sample MSE ({ctx.unit})",
    )


@section("errors", "Reconstruction error per sample", order=60)
def errors_section(ctx: ReportContext) -> str:
    fig = plot_errors(ctx)
    out = ctx.image(
        fig,
        alt="histogram of per-sample reconstruction error",
        caption="Distribution of the per-sample reconstruction error. The dark "
        "outline and the grey lines are the held-out errors measured at fit time "
        "(its quantiles, stored with the model); a shift of the histogram away "
        "from them means this data differs from the training data.",
    )
    q = getattr(ctx.model, "error_quantiles_", None)
    if q is None:
        return out
    q = np.asarray(q, float)
    levels = np.linspace(0.0, 1.0, len(q))
    header = ["quantile", "fit (held-out)"]
    errors = None
    if ctx.X is not None:
        errors = ctx.errors
        header.append("this data")
    rows = []
    for lv in QUANTILE_LEVELS:
        row: list[Any] = [f"{lv * 100:g}%", float(np.interp(lv, levels, q))]
        if errors is not None:
            row.append(float(np.quantile(errors, lv)))
        rows.append(row)
    out += ctx.table(rows, header, caption="Per-sample MSE quantiles")
    if errors is not None:
        q99 = float(np.interp(0.99, levels, q))
        share = float(np.mean(errors > q99)) * 100
        out += (
            f'<p class="note">{share:.1f}% of this data lies above the fit\'s 99% '
            "quantile (about 1% is expected for data like the training data).</p>"
        )
    return out


# -- anomaly scores ---------------------------------------------------------------
@plot("anomaly_scores")
def plot_anomaly_scores(ctx: ReportContext):
    det = ctx.detector
    if det is None:
        raise NotApplicable("the estimator is not an anomaly detector")
    held = np.sort(np.asarray(det.held_out_scores_, float))
    return figures.error_histogram(
        ctx.anomaly_scores if ctx.X is not None else None,
        quantile_levels=np.linspace(0.0, 1.0, len(held)),
        quantiles=held,
        threshold=float(det.threshold_),
        data_label=ctx.data_note or "data",
        unit=f"anomaly score ({det.score_}; higher is more anomalous)",
        reference_label="held-out scores at fit time",
    )


@section("anomaly", "Anomaly scores", order=65)
def anomaly_section(ctx: ReportContext) -> str:
    fig = plot_anomaly_scores(ctx)
    det = ctx.detector
    out = ctx.image(
        fig,
        alt="histogram of anomaly scores with the threshold",
        caption=f"The detector's anomaly score ({det.score_}). The outline is "
        "the held-out normal samples' scores at fit time; the red line is the "
        "threshold above which a sample is predicted anomalous.",
    )
    held = np.asarray(det.held_out_scores_, float)
    lines = [
        f"Threshold {det.threshold_:.4g} "
        f"({det.threshold_rule}): "
        f"{np.mean(held > det.threshold_) * 100:.1f}% of the held-out normal "
        "samples lie above it."
    ]
    if ctx.X is not None:
        flagged = float(np.mean(ctx.anomaly_scores > det.threshold_)) * 100
        lines.append(f"{flagged:.1f}% of this data lies above it.")
    return out + "".join(f'<p class="note">{html.escape(t)}</p>' for t in lines)


# -- variational ------------------------------------------------------------------
def _variational(ctx: ReportContext):
    latent = ctx.module.latent
    if not hasattr(latent, "posterior"):
        raise NotApplicable("the latent is not variational")
    return latent


def _decode(ctx: ReportContext, z: np.ndarray) -> np.ndarray:
    return ctx.apply(ctx.module.decode, z.astype(np.float32))


@plot("samples")
def plot_samples(ctx: ReportContext):
    _variational(ctx)
    if not ctx.is_image:
        raise NotApplicable("samples are shown for image data")
    latent = ctx.module.latent
    gen = torch.Generator().manual_seed(int(_rng(ctx, 2).integers(2**31)))
    z = latent.sample_prior(32, generator=gen).numpy()
    prior = "N(0, I)" if latent.exact_kl else "the VampPrior"
    return figures.image_grid(
        ctx.display(_decode(ctx, z)),
        ncols=8,
        title=f"decoded draws z ~ {prior} from the prior",
    )


@plot("interpolation")
def plot_interpolation(ctx: ReportContext):
    _variational(ctx)
    if not ctx.is_image:
        raise NotApplicable("interpolations are shown for image data")
    steps = np.linspace(0.0, 1.0, 10)
    rng = _rng(ctx, 3)
    rows = []
    if ctx.X is not None:
        Z = ctx.apply(ctx.module.encode, ctx.Xs)
        y = ctx.y
        for _ in range(3):
            a = int(rng.integers(len(Z)))
            others = np.flatnonzero(y != y[a]) if y is not None else np.arange(len(Z))
            b = int(rng.choice(others if len(others) else np.arange(len(Z))))
            label = f"{y[a]} → {y[b]}" if y is not None else f"#{a} → #{b}"
            rows.append((label, Z[a], Z[b]))
    else:
        shape = ctx.module.code_shape
        for k in range(3):
            za, zb = rng.standard_normal((2, *shape))
            rows.append((f"prior {k + 1}", za, zb))
    strips = []
    for label, za, zb in rows:
        z = np.stack([(1 - t) * za + t * zb for t in steps])
        strips.append((label, ctx.display(_decode(ctx, z))))
    return figures.image_rows(
        strips,
        col_titles=[f"t={t:.2f}" for t in steps],
        title="decoded linear interpolation between two codes",
    )


@plot("kl")
def plot_kl(ctx: ReportContext):
    return figures.kl_per_dimension(_kl_per_dim(ctx))


def _kl_per_dim(ctx: ReportContext) -> np.ndarray:
    latent = _variational(ctx)
    if not latent.exact_kl:
        raise NotApplicable("the VampPrior's KL does not split by dimension")
    ctx.require_data("KL per dimension")
    module = ctx.module

    def kl(x):
        q = latent.posterior(module.architecture.encoder(x))
        k = q.kl_per_dim()  # (B, C, *spatial)
        return k.flatten(2).mean(2) if k.ndim > 2 else k

    return ctx.apply(kl, ctx.Xs).mean(0)


@section("samples", "Samples from the prior", order=70)
def samples_section(ctx: ReportContext) -> str:
    return ctx.image(
        plot_samples(ctx),
        alt="samples from the prior",
        caption="Codes drawn from the prior and decoded (the "
        "decoder's mean). Blurry or implausible samples mean the posterior does "
        "not cover the prior well.",
    )


@section("interpolation", "Interpolation in the latent space", order=71)
def interpolation_section(ctx: ReportContext) -> str:
    return ctx.image(
        plot_interpolation(ctx),
        alt="latent interpolation strips",
        caption="Each row decodes evenly spaced points on the straight line between "
        "the codes (posterior means) of two samples.",
    )


@section("kl", "KL divergence per latent dimension", order=72)
def kl_section(ctx: ReportContext) -> str:
    kl = _kl_per_dim(ctx)
    return ctx.image(
        figures.kl_per_dimension(kl),
        alt="KL per latent dimension",
        caption=f"Mean KL(q(z|x) || N(0, I)) of each dimension over the data, "
        f"nats; total {kl.sum():.3g} nats per sample. Dimensions near 0 are unused "
        "(posterior collapse).",
    )
