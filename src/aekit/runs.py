"""The run folder: the files that together are a fitted model.

- ``config.json``: everything needed to rebuild the model (components and their
  fields, preprocessing, estimator parameters, aekit and torch versions);
- ``model.safetensors``: weights and fitted arrays (never pickled);
- ``summary.json``: final metrics and reconstruction-error statistics;
- ``history.csv``: one row per epoch.

Every file is written atomically. A fit over an earlier run removes the files
of that run it does not write again (:func:`run_files`, :func:`remove_stale`):
only aekit's own, never a user's.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import platform
import stat
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save

from aekit.exceptions import ModelFileError
from aekit.io import atomic_write_many

RUN_FORMAT = "aekit-run"
FORMAT_VERSION = 1
# What aekit writes in a run folder (the fit, its report, the demo's figure) and
# in a sub-run folder (an AnomalyDetector's autoencoder/).
RUN_FILES = (
    "config.json",
    "model.safetensors",
    "summary.json",
    "history.csv",
    "ids.json",
    "fit.json",
    "checkpoint.safetensors",
    "report.html",
    "reconstructions.png",
)
SUB_RUNS = ("autoencoder",)


def versions() -> dict[str, str]:
    import numpy
    import sklearn

    from aekit import __version__

    return {
        "aekit": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "python": platform.python_version(),
    }


def write_run(
    path: str | Path,
    *,
    config: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    summary: dict[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
) -> Path:
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ModelFileError(
            f"{path} exists and is not a folder; choose another --out."
        )
    path.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    weights = save(tensors)
    config = {
        "format": RUN_FORMAT,
        "format_version": FORMAT_VERSION,
        "versions": versions(),
        **config,
        # The config names its weights: a folder whose write was cut between
        # the two files, or whose weights were swapped or edited, fails to load.
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
    }
    # All files are written in full before any old one is replaced (a full
    # disk leaves the previous run intact); weights first, config last.
    files = {path / "model.safetensors": weights}
    if history:
        files[path / "history.csv"] = history_csv(history).encode()
    if summary is not None:
        files[path / "summary.json"] = _json_bytes(summary)
    files[path / "config.json"] = _json_bytes(config)
    atomic_write_many(files)
    return path


def file_key(path: Path) -> tuple[int, int, int] | None:
    """What tells a file apart from a rewrite of it (inode, modification time,
    size; an atomic write makes a new inode), or None where there is none."""
    try:
        st = path.lstat()
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def run_files(path: str | Path) -> dict[Path, tuple[int, int, int]]:
    """aekit's own files (``RUN_FILES``) in the run folder ``path`` and its
    sub-runs, each with its :func:`file_key`; ``{}`` for a folder that holds
    no run (neither config.json nor fit.json), whose files are all a user's."""
    path = Path(path)
    if file_key(path / "config.json") is None and file_key(path / "fit.json") is None:
        return {}
    found = {}
    for folder in (path, *(path / sub for sub in SUB_RUNS)):
        for name in RUN_FILES:
            key = file_key(folder / name)
            if key is not None:
                found[folder / name] = key
    return found


def remove_stale(
    path: str | Path, before: dict[Path, tuple[int, int, int]]
) -> list[Path]:
    """Remove the files of ``before`` (:func:`run_files` of the run folder
    ``path`` before a fit) that are still as they were: the earlier run's,
    which the new one did not write again. A sub-run folder left empty goes
    too."""
    removed = [f for f, key in before.items() if file_key(f) == key]
    for f in removed:
        f.unlink(missing_ok=True)
    emptied = {f.parent for f in removed}
    for sub in SUB_RUNS:
        if Path(path) / sub in emptied:
            with contextlib.suppress(OSError):
                (Path(path) / sub).rmdir()  # only if empty: a user's files stay
    return removed


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode()


def history_csv(history: list[dict[str, Any]]) -> str:
    fields: list[str] = []
    for row in history:
        fields += [k for k in row if k not in fields]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return buf.getvalue()


def read_run(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read and check ``config.json`` and ``model.safetensors`` of a run folder."""
    path = Path(path)
    if not path.is_dir():
        raise ModelFileError(
            f"{path} is not a run folder (it does not exist or is a file); pass the "
            "folder that 'aekit fit --out' wrote."
        )
    cfg_path = path / "config.json"
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(
            f"{path} has no config.json: it is not a finished run folder."
        ) from None
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise ModelFileError(f"{cfg_path} is corrupt or truncated ({exc}).") from None
    if not isinstance(config, dict) or config.get("format") != RUN_FORMAT:
        raise ModelFileError(f"{cfg_path} is not an aekit run configuration.")
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        written = config.get("versions")
        written = (
            written.get("aekit") if isinstance(written, dict) else None
        ) or "an unknown version"
        raise ModelFileError(
            f"{path} was written by aekit {written} (run format {version!r}); this "
            f"aekit reads format {FORMAT_VERSION} or older. Upgrade aekit to load it."
        )
    weights_path = path / "model.safetensors"
    try:
        weights = weights_path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"{path} has no model.safetensors.") from None
    except OSError as exc:
        raise ModelFileError(f"{weights_path} cannot be read ({exc}).") from None
    expected = config.get("weights_sha256")
    if expected is not None and hashlib.sha256(weights).hexdigest() != expected:
        raise ModelFileError(
            f"{weights_path} is corrupt or truncated, or was modified: it does not "
            f"match {cfg_path} (its SHA-256 differs). Restore the folder as it was "
            "written, or fit again."
        )
    try:
        tensors = load_tensors(weights)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(
            f"{weights_path} is corrupt or truncated ({exc})."
        ) from None
    return config, tensors


def load(path: str | Path):
    """Load any fitted aekit estimator from its run folder."""
    from aekit.estimators.base import ESTIMATORS

    config, _ = read_run(path)
    name = config.get("estimator")
    if not isinstance(name, str) or name not in ESTIMATORS:
        raise ModelFileError(f"{path}: unknown estimator {name!r} in config.json.")
    return ESTIMATORS[name].load(path)
