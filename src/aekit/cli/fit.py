"""``aekit fit DATA --out RUN_DIR``: train a model and write its run folder."""

from __future__ import annotations

import contextlib
import json
import time
import warnings
from pathlib import Path
from typing import Any

import click

from aekit.cli.options import given, parse_image_size, parse_ints, read_toml
from aekit.exceptions import ConfigError, WriteError
from aekit.io import KeptFile, atomic_write_json, remove_stale_temps
from aekit.runs import file_key, remove_stale, run_files
from aekit.training.distributed import is_main_process

CHECKPOINT = "checkpoint.safetensors"
FIT_STATE = "fit.json"


def _ints(name):
    return lambda v: parse_ints(v, name=name)


def _optional_str(v):
    return None if v in (None, "none", "None", "") else v


# flag, estimator parameter, click type, help, converter of the flag's text
FIT_OPTIONS: list[tuple[str, str, Any, str, Any]] = [
    ("--code-size", "code_size", int, "Units in the code (bottleneck).", None),
    (
        "--hidden",
        "hidden",
        str,
        "Encoder widths toward the code, e.g. 512,256.",
        _ints("hidden"),
    ),
    (
        "--decoder-hidden",
        "decoder_hidden",
        str,
        "Decoder widths (default: mirror).",
        _ints("decoder-hidden"),
    ),
    (
        "--activation",
        "activation",
        str,
        "Hidden activation: relu, gelu, tanh, ...",
        None,
    ),
    (
        "--loss",
        "loss",
        str,
        "Reconstruction loss: auto, mse, bce, or a likelihood such as "
        "gaussian:variance=learned.",
        None,
    ),
    (
        "--code-activation",
        "code_activation",
        str,
        "Activation on the code (none).",
        _optional_str,
    ),
    (
        "--latent",
        "latent",
        str,
        "Code kind: deterministic or variational[:beta=..].",
        None,
    ),
    (
        "--kl-warmup",
        "kl_warmup",
        float,
        "Variational latent: epochs of linear KL warm-up from 0 to 1.",
        None,
    ),
    (
        "--binarize",
        "binarize",
        click.Choice(["dynamic", "static", "none"]),
        "Data in [0, 1]: train on Bernoulli draws (dynamic: fresh every batch).",
        _optional_str,
    ),
    (
        "--noise",
        "noise",
        str,
        "Denoising: input corruption such as gaussian:0.3, masking:0.25, "
        "salt_pepper:0.1, blur:1.5 or blocks:2.",
        _optional_str,
    ),
    (
        "--sparsity",
        "sparsity",
        str,
        "Sparse code: kl:0.05 (target mean activation), l1:1e-3 or topk:25.",
        _optional_str,
    ),
    (
        "--contractive",
        "contractive",
        str,
        "Contractive penalty weight, e.g. 1e-3 (or 1e-3,method=hutchinson).",
        _optional_str,
    ),
    ("--dropout", "dropout", float, "Dropout after hidden layers.", None),
    (
        "--architecture",
        "architecture",
        str,
        "dense, or conv for images (options: conv:blocks=1,upsample=transposed).",
        None,
    ),
    (
        "--channels",
        "channels",
        str,
        "Conv: channels per level, e.g. 32,64,128.",
        _ints("channels"),
    ),
    ("--kernel-size", "kernel_size", int, "Conv: odd kernel size.", None),
    (
        "--norm",
        "norm",
        click.Choice(["none", "batch", "group", "instance"]),
        "Conv: normalization after each convolution.",
        _optional_str,
    ),
    (
        "--spatial-code",
        "spatial_code",
        click.BOOL,
        "Conv: spatial code (true) for denoising/repair, or flat (false).",
        None,
    ),
    ("--epochs", "epochs", int, "Most epochs (early stopping may end sooner).", None),
    ("--batch-size", "batch_size", int, "Samples per step.", None),
    ("--lr", "lr", float, "Peak learning rate.", None),
    (
        "--optimizer",
        "optimizer",
        click.Choice(["adam", "adamw", "sgd"]),
        "Optimizer.",
        None,
    ),
    (
        "--lr-schedule",
        "lr_schedule",
        click.Choice(["cosine", "constant"]),
        "Learning-rate schedule.",
        None,
    ),
    ("--weight-decay", "weight_decay", float, "Weight decay.", None),
    (
        "--validation-fraction",
        "validation_fraction",
        float,
        "Held-out fraction for early stopping.",
        None,
    ),
    (
        "--patience",
        "patience",
        int,
        "Epochs without improvement before stopping.",
        None,
    ),
    (
        "--scaling",
        "scaling",
        click.Choice(["auto", "none", "range", "minmax", "standard"]),
        "Input scaling.",
        None,
    ),
    ("--seed", "random_state", int, "Random seed (default 0).", None),
    (
        "--nan-policy",
        "nan_policy",
        click.Choice(["error", "drop", "zero"]),
        "NaN/inf values: error (default), drop their rows, or replace by 0.",
        None,
    ),
    (
        "--divergence-retries",
        "divergence_retries",
        int,
        "On a NaN/inf loss, start over at half the lr, up to N times.",
        None,
    ),
    (
        "--precision",
        "precision",
        click.Choice(["fp32", "bf16", "fp16", "auto"]),
        "Training precision (mixed precision with autocast).",
        None,
    ),
    (
        "--compile/--no-compile",
        "compile",
        bool,
        "torch.compile the training step.",
        None,
    ),
    (
        "--contamination",
        "contamination",
        float,
        "--task anomaly: expected anomaly fraction; sets the threshold.",
        None,
    ),
    (
        "--target-fpr",
        "target_fpr",
        float,
        "--task anomaly: threshold flagging this fraction of held-out data.",
        None,
    ),
    (
        "--score",
        "score",
        click.Choice(["auto", "mse", "normalized", "elbo"]),
        "--task anomaly: the anomaly score (auto: normalized for images, mse "
        "for tables, elbo for a variational latent).",
        None,
    ),
    ("--device", "device", str, "auto, cpu, cuda, cuda:N or mps.", None),
]


# --task: the estimator each task fits (a class with from_flat_params takes the
# autoencoder's flags as well as its own).
TASKS = {"autoencoder": "Autoencoder", "anomaly": "AnomalyDetector"}


def _estimator_class(task: str = "autoencoder", model: str | None = None):
    """The estimator a --task (or a --model name such as multvae) selects."""
    from aekit.estimators.base import ESTIMATORS, estimator_for_model

    if model not in (None, "autoencoder"):
        if task not in (None, "autoencoder"):
            raise ConfigError(
                f"--task {task} and --model {model} name two different estimators; "
                "give one of them."
            )
        return estimator_for_model(model)
    if task not in TASKS:
        raise ConfigError(f"Unknown task {task!r}. Choose one of: {', '.join(TASKS)}.")
    return ESTIMATORS[TASKS[task]]


def _known_params(cls) -> set[str]:
    from aekit import Autoencoder

    known = set(cls().get_params())
    if hasattr(cls, "from_flat_params"):
        known |= set(Autoencoder().get_params())
    return known


def _model_options(attr: str) -> list[tuple]:
    """CLI options that registered estimators declare (``CLI_OPTIONS``: estimator
    parameters; ``CLI_DATA_OPTIONS``: options of their ``read_data``)."""
    import aekit.estimators  # noqa: F401  (registers the named models)
    from aekit.estimators.base import MODELS

    seen = {opt[0] for opt in FIT_OPTIONS}
    out = []
    for cls in dict.fromkeys(MODELS.values()):
        for opt in getattr(cls, attr, ()):
            if opt[0] not in seen:
                seen.add(opt[0])
                out.append(opt)
    return out


MODEL_OPTIONS = _model_options("CLI_OPTIONS")
DATA_OPTIONS = _model_options("CLI_DATA_OPTIONS")


def fit_run(
    data: str,
    out: str | Path,
    params: dict[str, Any],
    *,
    key: str | None = None,
    image_size=None,
    resume: bool = False,
    verbose: int = 1,
    task: str = "autoencoder",
    data_options: dict[str, Any] | None = None,
    patch_size: int | None = None,
    patches: int | None = None,
    strict: bool = False,
):
    """Fit on ``data`` and write the run folder ``out``; returns the estimator.

    With ``patch_size``, ``data`` is an image file or folder (sizes may differ)
    and training draws ``patches`` random patches per epoch from it. A
    checkpoint is written after every epoch; an interruption (Ctrl-C, a kill, a
    full disk) leaves the last completed epoch's, which ``resume`` continues
    from. A fit that fails before it saves an epoch leaves ``out`` as it was
    (and removes a folder it made). Over an earlier run, the files of that run
    which the new one does not write again (an old report.html, say) are
    removed once the new run is saved; other files in ``out`` are kept.
    """
    from aekit.data import load

    out = Path(out)
    cls = _estimator_class(task, params.get("model"))
    unknown = set(params) - _known_params(cls)
    if unknown:
        others = [t for t, c in TASKS.items() if t != task]
        raise ConfigError(
            f"Unknown option(s) {', '.join(sorted(unknown))} for {cls.__name__}"
            f" (other tasks: {', '.join(others)}; named models: --model)."
        )
    reader = getattr(cls, "read_data", None)
    if reader is not None:  # estimators with their own data (interactions)
        ds = reader(data, **(data_options or {}))
    elif data_options:
        raise ConfigError(
            f"Option(s) {', '.join(sorted(data_options))} apply to named models "
            "(--model) only."
        )
    elif patch_size:
        from aekit.images import PatchSource

        ds = PatchSource.from_path(
            data, patch_size, patches or 4096, seed=params.get("random_state") or 0
        )
    else:
        ds = load(
            data,
            key=key,
            image_size=image_size,
            strict=strict,
            nan_policy=params.get("nan_policy", "error"),
        )
    build = getattr(cls, "from_flat_params", cls)
    est = build(**{"random_state": 0, **params, "verbose": verbose})
    main = is_main_process()  # under torchrun, only rank 0 writes files
    created = [p for p in (out, *out.parents) if not p.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(
            f"Cannot create the run folder {out}: {exc.strerror or exc}. Choose "
            "another --out."
        ) from None
    if main:
        remove_stale_temps(out)  # left by a process that was killed mid-write
    if resume and not (out / CHECKPOINT).exists():
        finished = _finished_run(out)
        if finished is not None:
            warnings.warn(
                f"The fit in {out} had finished: nothing to resume.", stacklevel=2
            )
            return finished, ds
        # Killed before the first epoch ended: starting over is the same run.
        warnings.warn(
            f"{out} has no checkpoint (no epoch had completed); starting from the "
            "first epoch.",
            UserWarning,
            stacklevel=2,
        )
        resume = False
    if not main:
        est.fit(ds, checkpoint=out / CHECKPOINT, resume=resume)
        return est, ds
    earlier = run_files(out)  # an earlier run's files: removed unless written again
    checkpoint_key = file_key(out / CHECKPOINT)
    kept = KeptFile(out / FIT_STATE)
    try:
        atomic_write_json(
            out / FIT_STATE,
            {
                "data": str(data),
                "key": key,
                "image_size": image_size,
                "task": task,
                "data_options": data_options or {},
                "patch_size": patch_size,
                "patches": patches,
                "strict": strict,
                "params": {
                    k: list(v) if isinstance(v, tuple) else v for k, v in params.items()
                },
            },
        )
        t0 = time.perf_counter()
        est.fit(ds, checkpoint=out / CHECKPOINT, resume=resume)
        est.save(
            out,
            extra_summary={
                "data": {
                    "source": str(data),
                    "n": len(ds),
                    "sample_shape": list(getattr(ds, "sample_shape", ())),
                    "kind": getattr(ds, "kind", "interactions"),
                },
                "wall_seconds": time.perf_counter() - t0,
            },
        )
    except BaseException as exc:
        # Options the estimator checks in fit, and data that fails there, end
        # the fit before any epoch is saved: there is nothing to resume, so
        # --out goes back as it was. A saved epoch is kept for --resume, and
        # so is fit.json after Ctrl-C in a folder that held no finished run
        # (--resume then starts over).
        saved = file_key(out / CHECKPOINT) != checkpoint_key
        resumable = saved or (
            isinstance(exc, KeyboardInterrupt) and out / "config.json" not in earlier
        )
        if not resumable:
            kept.restore()
            for folder in created:  # the folders this fit made, if empty again
                with contextlib.suppress(OSError):
                    folder.rmdir()
        raise
    finally:
        kept.discard()
    (out / CHECKPOINT).unlink(missing_ok=True)
    remove_stale(out, earlier)
    return est, ds


@click.command("fit")
@click.argument("data")
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(file_okay=False),
    help="Run folder to write; an earlier run's files there are replaced.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="TOML file of options; flags override it.",
)
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --out.")
@click.option(
    "--task",
    type=click.Choice(sorted(TASKS)),
    default=None,
    help="What to fit: an autoencoder (default) or an anomaly detector.",
)
@click.option(
    "--model",
    "model_name",
    help="A named model instead of an autoencoder: multvae or multdae "
    "(recommenders on interaction files).",
)
@click.option("--key", help="Array name inside an .npz file.")
@click.option("--image-size", help="Resize images to HxW, e.g. 28x28.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option(
    "--no-report", is_flag=True, help="Skip the HTML report (RUN_DIR/report.html)."
)
@click.option(
    "--patch-size",
    type=int,
    help="Train on random PxP patches of the images in DATA (any sizes).",
)
@click.option("--patches", type=int, help="Patches per epoch with --patch-size (4096).")
@click.option(
    "--strict",
    is_flag=True,
    default=None,
    help="Fail on an unreadable image in a folder instead of skipping it.",
)
@click.option(
    "--regularizer",
    "regularizer",
    multiple=True,
    help="Penalty on the code, e.g. l1:1e-3; repeat for several.",
)
@click.pass_context
def fit_command(
    ctx,
    data,
    out,
    config_file,
    resume,
    task,
    key,
    image_size,
    quiet,
    no_report,
    strict,
    regularizer,
    model_name,
    patch_size,
    patches,
    **flags,
):
    """Fit an autoencoder (or, with --task anomaly, an anomaly detector) on DATA
    and write the run folder --out."""
    params: dict[str, Any] = {}
    data_options: dict[str, Any] = {}
    out_path = Path(out)
    if resume:
        state_file = out_path / FIT_STATE
        if not state_file.exists():
            raise ConfigError(
                f"Nothing to resume in {out}: it has no {FIT_STATE}. Run without "
                "--resume to start."
            )
        try:
            state = json.loads(state_file.read_text(encoding="utf-8"))
            params |= state["params"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{state_file} is corrupt ({exc}); run without --resume to start over."
            ) from None
        from aekit.workflows import same_file

        if not same_file(state.get("data", data), data):
            raise ConfigError(
                f"{out} was fitted on {state['data']}, not {data}: --resume "
                "continues a fit on the same data. Give that data, or fit "
                "without --resume."
            )
        key = key or state.get("key")
        image_size = image_size or state.get("image_size")
        strict = state.get("strict", False) if strict is None else strict
        task = task or state.get("task")
        data_options |= state.get("data_options") or {}
        patch_size = patch_size or state.get("patch_size")
        patches = patches or state.get("patches")
    task = task or "autoencoder"
    if model_name is not None:
        params["model"] = model_name
    known = _known_params(_estimator_class(task, params.get("model"))) - {"verbose"}
    if config_file:
        params |= read_toml(config_file, known)
    for flag, name, _type, _help, convert in FIT_OPTIONS + MODEL_OPTIONS:
        dest = flag.split("/")[0].lstrip("-").replace("-", "_")
        if given(ctx, dest):
            value = flags[dest]
            params[name] = convert(value) if convert else value
    for flag, name, _type, _help in DATA_OPTIONS:
        dest = flag.lstrip("-").replace("-", "_")
        if given(ctx, dest):
            data_options[name] = flags[dest]
    if "contamination" in params and params.get("target_fpr") is not None:
        raise ConfigError(
            "--contamination and --target-fpr both set the anomaly threshold (the "
            "first from the training data, the second from held-out data); give "
            "one of them."
        )
    if regularizer:
        params["regularizers"] = tuple(regularizer)
    for name in ("hidden", "decoder_hidden", "regularizers", "channels"):
        if isinstance(params.get(name), list):
            params[name] = tuple(params[name])
    try:
        est, ds = fit_run(
            data,
            out_path,
            params,
            key=key,
            image_size=parse_image_size(image_size)
            if isinstance(image_size, str)
            else image_size,
            resume=resume,
            verbose=0 if quiet else 1,
            task=task,
            data_options=data_options,
            patch_size=patch_size,
            patches=patches,
            strict=bool(strict),
        )
    except KeyboardInterrupt:
        click.echo(f"aekit: interrupted; {_resume_hint(data, out_path)}", err=True)
        ctx.exit(130)
    if not is_main_process():
        return
    summary = json.loads((out_path / "summary.json").read_text())
    last = est.history_[-1]
    monitor = getattr(est, "monitor_", None)
    if monitor and 0 < est.best_epoch_ <= len(est.history_):
        score = f"best {monitor} {est.history_[est.best_epoch_ - 1][monitor]:.5g}"
    else:
        score = f"validation loss {last.get('val_loss', last['train_loss']):.5g}"
    click.echo(
        f"Fitted {type(est).__name__} on {len(ds)} samples in "
        f"{summary['fit_seconds']:.1f} s ({len(est.history_)} epochs); {score}."
    )
    if hasattr(est, "threshold_"):
        click.echo(
            f"Anomaly threshold {est.threshold_:.5g} ({summary['threshold_rule']}); "
            f"{summary['held_out_flagged_fraction']:.1%} of held-out samples are "
            "above it."
        )
    click.echo(f"Run folder: {out_path}")
    # The HTML report covers autoencoders and anomaly detectors; a
    # Recommender's numbers are in summary.json and `aekit evaluate`.
    if not no_report and type(est).__name__ in ("Autoencoder", "AnomalyDetector"):
        from aekit.report.html import write_report

        try:
            report = write_report(
                out_path, ds, model=est, data_note=f"{data} (the training data)"
            )
        except Exception as exc:  # the run folder is written; keep the fit
            click.echo(
                f"aekit: warning: could not write the report ({type(exc).__name__}: "
                f"{exc}); the run folder is complete. Try 'aekit report {out_path}'.",
                err=True,
            )
        else:
            click.echo(f"Report: {report}")


def _finished_run(out: Path):
    """The fitted estimator in ``out`` if its fit had already finished."""
    import aekit
    from aekit.exceptions import ModelFileError

    if not (out / "config.json").exists():
        return None
    try:
        return aekit.load(out)
    except ModelFileError:
        return None  # damaged: fit again


def _resume_hint(data, out: Path) -> str:
    """Where an interrupted fit stands, read from its checkpoint's header."""
    ckpt = out / CHECKPOINT
    try:
        with open(ckpt, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            meta = json.loads(json.loads(fh.read(n))["__metadata__"]["aekit"])
        done = f"epoch {meta['state']['epoch'] + 1} is saved in {ckpt}"
    except (OSError, ValueError, KeyError, TypeError):
        return f"no epoch had completed; run 'aekit fit {data} --out {out}' again."
    return f"{done}; continue with 'aekit fit {data} --out {out} --resume'."


for _flag, _name, _type, _help, _conv in reversed(FIT_OPTIONS + MODEL_OPTIONS):
    fit_command = click.option(_flag, type=_type, default=None, help=_help)(fit_command)
for _flag, _name, _type, _help in reversed(DATA_OPTIONS):
    fit_command = click.option(_flag, type=_type, default=None, help=_help)(fit_command)

COMMANDS = [fit_command]
