"""Metrics of reconstruction quality and of lossy compression."""

from __future__ import annotations

import math

import numpy as np

QUANTILE_LEVELS = (0.5, 0.9, 0.95, 0.99, 0.999)


def per_sample_mse(
    x: np.ndarray, x_hat: np.ndarray, *, block: int = 4096
) -> np.ndarray:
    """Mean squared error of each sample, in float64.

    Computed ``block`` rows at a time, so the float64 temporaries stay small
    whatever the number of samples (a whole-array float64 difference of a
    million MNIST rows would take 6 GB).
    """
    n = len(x)
    out = np.empty(n, np.float64)
    for start in range(0, n, block):
        a = np.asarray(x[start : start + block], np.float64)
        b = np.asarray(x_hat[start : start + block], np.float64)
        d = (a - b).reshape(len(a), -1)  # (rows, features)
        out[start : start + block] = np.mean(d * d, axis=1)
    return out


def psnr(x: np.ndarray, x_hat: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, from the mean squared error."""
    mse = float(
        np.mean((np.asarray(x, np.float64) - np.asarray(x_hat, np.float64)) ** 2)
    )
    return math.inf if mse == 0 else 10 * math.log10(data_range**2 / mse)


def bce(x: np.ndarray, x_hat: np.ndarray, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy, for x and x_hat in [0, 1]."""
    p = np.clip(np.asarray(x_hat, np.float64), eps, 1 - eps)
    x = np.asarray(x, np.float64)
    return float(-np.mean(x * np.log(p) + (1 - x) * np.log1p(-p)))


def error_summary(errors: np.ndarray) -> dict[str, float]:
    """Mean, std and quantiles of per-sample reconstruction errors."""
    errors = np.asarray(errors, np.float64)
    out = {
        "mean": float(errors.mean()),
        "std": float(errors.std()),
        "min": float(errors.min()),
        "max": float(errors.max()),
    }
    for q in QUANTILE_LEVELS:
        out[f"q{q * 100:g}"] = float(np.quantile(errors, q))
    return out


def compression(input_shape, input_dtype, code_shape) -> dict[str, float]:
    """How much smaller the code is than the input it stands for."""
    n_in, n_code = int(np.prod(input_shape)), int(np.prod(code_shape))
    in_bytes = n_in * np.dtype(input_dtype).itemsize
    return {
        "input_values": n_in,
        "code_values": n_code,
        "dimension_ratio": n_in / n_code,
        "input_bytes": in_bytes,
        "code_bytes_float32": 4 * n_code,
        "compression_ratio": in_bytes / (4 * n_code),
    }


# -- sequences ------------------------------------------------------------------
def hit_rate_ndcg(ranked: np.ndarray, target: np.ndarray, k: int = 10):
    """HR@k and NDCG@k of one held-out item per row (leave-one-out).

    ``ranked`` (n, >= k) holds each row's items best first; with one relevant
    item, NDCG@k is ``1 / log2(rank + 2)`` when it is in the top k, else 0.
    """
    ranked = np.asarray(ranked)[:, :k]
    hits = ranked == np.asarray(target)[:, None]  # (n, k)
    found = hits.any(1)
    rank = hits.argmax(1)
    ndcg = np.where(found, 1.0 / np.log2(rank + 2.0), 0.0)
    return float(found.mean()), float(ndcg.mean())


def frame_mse(true: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Squared error per frame summed over pixels, averaged over sequences.

    ``true`` and ``pred`` are (n, frames, ...) in [0, 1]; returns (frames,).
    This is the convention of published Moving MNIST tables.
    """
    d = np.asarray(true, np.float64) - np.asarray(pred, np.float64)
    return (d * d).reshape(d.shape[0], d.shape[1], -1).sum(2).mean(0)


def frame_ssim(true: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Mean SSIM per frame (scikit-image, data range 1); returns (frames,)."""
    from skimage.metrics import structural_similarity

    true, pred = np.asarray(true, np.float64), np.asarray(pred, np.float64)
    n, T = true.shape[:2]
    out = np.zeros(T)
    for t in range(T):
        for i in range(n):
            a = true[i, t].reshape(true.shape[-2:])
            b = pred[i, t].reshape(true.shape[-2:])
            out[t] += structural_similarity(a, b, data_range=1.0)
    return out / n
