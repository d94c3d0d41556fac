"""Recurrent sequence encoder with a reconstruction and a future decoder.

The composite model of Srivastava et al. 2015 (https://arxiv.org/abs/1502.04681):
an encoder RNN reads the observed steps of a window into one fixed-length
vector; a reconstruction decoder rebuilds the observed steps from it (in
reverse order by default, as in the paper) and a future decoder predicts the
steps that follow. Both decoders are unconditioned: each unrolls from a state
computed from the code and is fed the code at every step, so decoding is one
parallel pass and the code must carry everything.

One window is ``observed + horizon`` steps; the encoder never reads the last
``horizon`` steps, which are the future the loss scores the forecast against.
The model thus keeps the one contract of :mod:`aekit.model`: ``loss(x)``
compares the decoder's whole window to the clean ``x``.

A step is one of three things, decided by the input shape and ``n_items``:

- values, ``input_shape = (L, d)``: a vector of ``d`` numbers per step;
- items, ``input_shape = (L,)`` and ``n_items > 0``: item ids ``1..n_items``
  embedded per step (0 is padding); pair with the ``categorical`` likelihood;
- frames, ``input_shape = (L, C, H, W)``: a small convolutional encoder per
  frame feeds the recurrent core and a mirrored transposed-convolution decoder
  draws each output frame (the conv encoder-recurrent-decoder of Srivastava et
  al.; it duplicates a little of what a single-image conv architecture does, on
  purpose, so the per-frame network stays small).

Variable length: the observed steps of a window may end early. Padding is the
value 0 for items and NaN for values (a NaN inside the observed steps is a
missing value, read as 0); the encoder stops at the last real step (packed
sequences), so a window's code does not depend on how much padding follows it,
and :meth:`Sequence.loss_target` tells the loss which steps to score. A
model without a reconstruction decoder decodes only the future steps.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from aekit.architectures.conv import _norm
from aekit.exceptions import ConfigError
from aekit.losses import ssim
from aekit.registry import ARCHITECTURES, Component

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}
FRAME_CORES = ("recurrent", "conv")
MAX_TRANSITION_ITEMS = 10_000  # the item transition table is dense: 400 MB here


def _last_valid_length(valid: torch.Tensor) -> torch.Tensor:
    """Index of the last True step + 1 per row of ``valid`` (B, T); at least 1."""
    steps = torch.arange(1, valid.shape[1] + 1, device=valid.device)
    return (valid * steps).amax(1).clamp_min(1)


class FrameEncoder(nn.Module):
    """(N, C, H, W) -> (N, features): pixels to patches, strided convs, linear.

    Folding ``patch x patch`` pixels into channels first (pixel unshuffle)
    makes the convolutions run on a grid ``patch**2`` times smaller, which is
    what keeps a video model trainable on a CPU.
    """

    def __init__(self, frame_shape, channels, features, patch):
        super().__init__()
        c, h, w = frame_shape
        c, h, w = c * patch * patch, h // patch, w // patch
        layers: list[nn.Module] = [nn.PixelUnshuffle(patch)] if patch > 1 else []
        for c_out in channels:
            layers += [nn.Conv2d(c, c_out, 4, stride=2, padding=1), nn.ReLU()]
            c, h, w = c_out, h // 2, w // 2
        self.net = nn.Sequential(
            *layers, nn.Flatten(), nn.Linear(c * h * w, features), nn.ReLU()
        )

    def forward(self, x):
        return self.net(x)


class FrameDecoder(nn.Module):
    """(N, in) -> (N, C_out, H, W): linear, transposed convs, patches to pixels."""

    def __init__(self, n_in, frame_shape, channels, out_channels, patch):
        super().__init__()
        _, h, w = frame_shape
        scale = patch * 2 ** len(channels)
        widths = list(reversed(channels))
        layers: list[nn.Module] = [
            nn.Linear(n_in, widths[0] * (h // scale) * (w // scale)),
            nn.ReLU(),
            nn.Unflatten(1, (widths[0], h // scale, w // scale)),
        ]
        for c_in, c_out in zip(widths, widths[1:], strict=False):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)]
            layers += [nn.ReLU()]
        last = out_channels * patch * patch
        layers.append(nn.ConvTranspose2d(widths[-1], last, 4, 2, padding=1))
        if patch > 1:
            layers.append(nn.PixelShuffle(patch))
        self.net = nn.Sequential(*layers)

    def forward(self, h):
        return self.net(h)


def _conv_norm_act(c_in: int, c_out: int, kernel: int = 3, stride: int = 1):
    pad = (kernel - 1) // 2
    conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=pad)
    return [conv, _norm("group", c_out), nn.SiLU()]


class _Residual(nn.Module):
    """x + conv(act(norm(conv(x)))), at one resolution."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(
            *_conv_norm_act(c, c), nn.Conv2d(c, c, 3, padding=1), _norm("group", c)
        )

    def forward(self, x):
        return x + self.body(x)


class ConvCoreEncoder(nn.Module):
    """(B, L or T, C, H, W) -> (B, hidden, H / 2p, W / 2p), ``frame_core="conv"``.

    Each observed frame becomes a feature map on the patch grid (pixel
    unshuffle, one 3x3 convolution per ``frame_channels`` entry); the T maps
    are stacked along channels, so the next convolution sees every time step
    at once; a strided convolution halves the grid and ``num_layers``
    residual blocks follow.
    """

    def __init__(self, arch: Sequence):
        super().__init__()
        cfg = arch.config
        self.observed, p = arch.observed, cfg.frame_patch
        c = arch.step_shape[0] * p * p
        frame: list[nn.Module] = [nn.PixelUnshuffle(p)] if p > 1 else []
        for c_out in cfg.frame_channels:
            frame += _conv_norm_act(c, c_out)
            c = c_out
        self.frame = nn.Sequential(*frame)
        wide, half = cfg.hidden_size, max(cfg.hidden_size // 2, 1)
        self.core = nn.Sequential(
            *_conv_norm_act(self.observed * c, half),
            *_conv_norm_act(half, wide, kernel=4, stride=2),
            *[_Residual(wide) for _ in range(cfg.num_layers)],
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, : self.observed]  # (B, T, C, H, W)
        B, T = x.shape[:2]
        maps = self.frame(x.reshape(B * T, *x.shape[2:]))  # (B*T, c, g, g')
        return self.core(maps.reshape(B, T * maps.shape[1], *maps.shape[2:]))


class ConvCoreDecoder(nn.Module):
    """(B, code, H / 2p, W / 2p) -> (B, [P,] S, C, H, W), ``frame_core="conv"``.

    The encoder mirrored: ``num_layers`` residual blocks, a transposed
    convolution back to the patch grid, one map per decoded step (S maps
    stacked along channels), then each map drawn as a frame.
    """

    def __init__(self, arch: Sequence, code_channels: int, n_params: int):
        super().__init__()
        cfg = arch.config
        self.n_params, self.step_shape = n_params, arch.step_shape
        self.steps = arch.horizon + (arch.observed if cfg.reconstruct else 0)
        wide, half = cfg.hidden_size, max(cfg.hidden_size // 2, 1)
        widths = list(reversed(cfg.frame_channels))
        self.core = nn.Sequential(
            *_conv_norm_act(code_channels, wide),
            *[_Residual(wide) for _ in range(cfg.num_layers)],
            nn.ConvTranspose2d(wide, half, 4, stride=2, padding=1),
            _norm("group", half),
            nn.SiLU(),
            nn.Conv2d(half, self.steps * widths[0], 3, padding=1),
        )
        frame: list[nn.Module] = []
        for c_in, c_out in zip(widths, widths[1:], strict=False):
            frame += [_norm("group", c_in), nn.SiLU()]
            frame.append(nn.Conv2d(c_in, c_out, 3, padding=1))
        p = cfg.frame_patch
        last = self.step_shape[0] * n_params * p * p
        frame += [_norm("group", widths[-1]), nn.SiLU()]
        frame.append(nn.Conv2d(widths[-1], last, 3, padding=1))
        if p > 1:
            frame.append(nn.PixelShuffle(p))
        self.frame = nn.Sequential(*frame)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        B, S = z.shape[0], self.steps
        maps = self.core(z)  # (B, S*c, g, g')
        maps = maps.reshape(B * S, -1, *maps.shape[2:])  # (B*S, c, g, g')
        out = self.frame(maps)  # (B*S, C*P, H, W)
        out = out.view(B, S, self.n_params, *self.step_shape)  # (B, S, P, C, H, W)
        return out.squeeze(2) if self.n_params == 1 else out.transpose(1, 2)


class SequenceEncoder(nn.Module):
    """Reads the first ``observed`` steps: (B, L or observed, *step) -> (B, hidden)."""

    def __init__(self, arch: Sequence):
        super().__init__()
        cfg = arch.config
        self.mode, self.observed = arch.mode, arch.observed
        self.step_shape = arch.step_shape
        if self.mode == "items":
            self.embed = nn.Embedding(cfg.n_items + 1, cfg.embedding_dim, padding_idx=0)
            n_in = cfg.embedding_dim
        elif self.mode == "frames":
            self.embed = FrameEncoder(
                self.step_shape, cfg.frame_channels, cfg.frame_features, cfg.frame_patch
            )
            n_in = cfg.frame_features
        else:
            self.embed = nn.Identity()
            n_in = self.step_shape[0]
        self.rnn = CELLS[cfg.cell](
            n_in,
            cfg.hidden_size,
            num_layers=cfg.num_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, : self.observed]  # (B, T, *step)
        B, T = x.shape[:2]
        if self.mode == "items":
            valid = x != 0  # (B, T)
            e = self.embed(x.long().clamp_min(0))  # (B, T, E)
        elif self.mode == "frames":
            valid = None
            e = self.embed(x.reshape(B * T, *x.shape[2:])).view(B, T, -1)  # (B, T, F)
        else:
            nan = torch.isnan(x)
            valid = ~nan.all(-1) if nan.any() else None  # (B, T)
            e = torch.where(nan, torch.zeros_like(x), x)  # (B, T, d)
        if valid is not None and not bool(valid.all()):
            lengths = _last_valid_length(valid)
            e = pack_padded_sequence(
                e, lengths.cpu(), batch_first=True, enforce_sorted=False
            )
        _, state = self.rnn(e)
        h = state[0] if isinstance(state, tuple) else state  # (layers, B, hidden)
        return h[-1]  # (B, hidden)


class _Unroll(nn.Module):
    """An unconditioned decoder RNN: state and every input come from the code."""

    def __init__(self, code_size: int, cfg, steps: int):
        super().__init__()
        self.steps, self.cell = steps, cfg.cell
        self.layers, self.hidden = cfg.num_layers, cfg.hidden_size
        n_states = 2 if cfg.cell == "lstm" else 1
        self.init = nn.Linear(code_size, n_states * cfg.num_layers * cfg.hidden_size)
        self.rnn = CELLS[cfg.cell](
            code_size,
            cfg.hidden_size,
            num_layers=cfg.num_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        B = z.shape[0]
        s = torch.tanh(self.init(z)).view(B, -1, self.layers, self.hidden)
        s = s.permute(1, 2, 0, 3).contiguous()  # (n_states, layers, B, hidden)
        state = (s[0], s[1]) if self.cell == "lstm" else s[0]
        inputs = z.unsqueeze(1).expand(B, self.steps, z.shape[1])  # (B, S, code)
        out, _ = self.rnn(inputs, state)
        return out  # (B, S, hidden)


class SequenceDecoder(nn.Module):
    """(B, code) -> (B, [n_params,] S, *step): reconstruction, then the future.

    S is the whole window (L steps), or only the H future steps for a model
    without a reconstruction decoder: with thousands of items a softmax over
    steps nobody scores would cost most of the training time.
    """

    def __init__(self, arch: Sequence, code_size: int, n_params: int):
        super().__init__()
        cfg = arch.config
        self.mode, self.n_params = arch.mode, n_params
        self.observed, self.horizon = arch.observed, arch.horizon
        self.step_shape, self.reverse = arch.step_shape, cfg.reverse_reconstruction
        self.recon = _Unroll(code_size, cfg, self.observed) if cfg.reconstruct else None
        self.future = _Unroll(code_size, cfg, self.horizon) if self.horizon else None
        if self.mode == "frames":
            c = self.step_shape[0]
            self.head = FrameDecoder(
                cfg.hidden_size,
                self.step_shape,
                cfg.frame_channels,
                c * n_params,
                cfg.frame_patch,
            )
        else:
            per_step = n_params * math.prod(self.step_shape)
            self.head = nn.Linear(cfg.hidden_size, per_step)

    def _emit(self, h: torch.Tensor) -> torch.Tensor:
        B, S = h.shape[:2]  # h: (B, S, hidden)
        out = self.head(h.reshape(B * S, -1))
        return out.view(B, S, self.n_params, *self.step_shape)  # (B, S, P, *step)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        parts = []
        if self.recon is not None:
            r = self._emit(self.recon(z))  # (B, T, P, *step)
            parts.append(r.flip(1) if self.reverse else r)
        if self.future is not None:
            parts.append(self._emit(self.future(z)))  # (B, H, P, *step)
        out = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]  # (B, S, P, ..)
        if self.n_params == 1:
            return out.squeeze(2)  # (B, S, *step)
        return out.transpose(1, 2)  # (B, P, S, *step)


@ARCHITECTURES.register("sequence")
class Sequence(Component):
    """GRU/LSTM encoder of the observed steps; reconstruction and future decoders."""

    @dataclasses.dataclass(frozen=True)
    class Config:
        cell: str = "gru"  # recurrent cell: "gru" or "lstm"
        hidden_size: int = 64  # units of every recurrent layer
        num_layers: int = 1  # stacked recurrent layers (encoder and each decoder)
        horizon: int = 0  # last steps of a window that are future, never encoded
        reconstruct: bool = True  # decode the observed steps too (autoencoding)
        reverse_reconstruction: bool = True  # rebuild observed steps last-first
        dropout: float = 0.0  # between stacked recurrent layers
        n_items: int = 0  # > 0: steps are item ids 1..n_items, 0 is padding
        embedding_dim: int = 64  # item embedding size (items only)
        frame_channels: tuple[int, ...] = (32, 64)  # per-frame conv widths
        frame_features: int = 256  # per-frame feature vector fed to the RNN
        frame_patch: int = 4  # pixels folded into channels before the convs
        frame_core: str = "recurrent"  # frames: "recurrent" (flat code) or "conv"
        item_transitions: bool = False  # items: add a first-order Markov chain
        ar_lags: int = 0  # values: a linear autoregression on the last lags
        ssim_weight: float = 0.0  # frames: add weight * (1 - SSIM) to the loss

    def __init__(self, config: Config, *, input_shape: tuple[int, ...]):
        super().__init__(config)
        cfg = config
        if cfg.cell not in CELLS:
            raise self.invalid("cell", "'gru' or 'lstm'")
        for name in (
            "hidden_size",
            "num_layers",
            "embedding_dim",
            "frame_features",
            "frame_patch",
        ):
            if getattr(cfg, name) < 1:
                raise self.invalid(name, "an int >= 1")
        for name in ("horizon", "n_items", "ar_lags"):
            if getattr(cfg, name) < 0:
                raise self.invalid(name, "an int >= 0")
        if not 0 <= cfg.dropout < 1:
            raise self.invalid("dropout", "in [0, 1)")
        if cfg.frame_channels and min(cfg.frame_channels) < 1:
            raise self.invalid("frame_channels", "a tuple of ints >= 1")
        if cfg.frame_core not in FRAME_CORES:
            raise self.invalid("frame_core", "'recurrent' or 'conv'")
        if cfg.ssim_weight < 0:
            raise self.invalid("ssim_weight", ">= 0")
        self.input_shape = tuple(int(s) for s in input_shape)
        if len(self.input_shape) == 1 and cfg.n_items > 0:
            self.mode, self.step_shape = "items", ()
        elif len(self.input_shape) == 2 and cfg.n_items == 0:
            self.mode, self.step_shape = "values", self.input_shape[1:]
        elif len(self.input_shape) == 4 and cfg.n_items == 0:
            self.mode, self.step_shape = "frames", self.input_shape[1:]
            # The recurrent core halves the grid once per conv layer, the
            # conv core once in all.
            halvings = len(cfg.frame_channels) if cfg.frame_core == "recurrent" else 1
            scale = cfg.frame_patch * 2**halvings
            h, w = self.step_shape[1:]
            if not cfg.frame_channels or h % scale or w % scale:
                raise ConfigError(
                    f"Frames of {h}x{w} pixels cannot be cut into {cfg.frame_patch}"
                    f"-pixel patches and halved {halvings} times "
                    f"(frame_core={cfg.frame_core!r}, frame_channels="
                    f"{cfg.frame_channels!r}); use sides divisible by {scale}, "
                    "fewer conv layers or a smaller frame_patch."
                )
        else:
            raise ConfigError(
                "The sequence architecture takes windows of shape (steps, features), "
                "(steps, channels, height, width), or (steps,) item ids with "
                f"n_items > 0. Got samples of shape {self.input_shape} with "
                f"n_items={cfg.n_items}."
            )
        if cfg.ssim_weight and self.mode != "frames":
            raise ConfigError(
                "ssim_weight scores predicted frames; this model's steps are "
                f"{self.mode}. Leave ssim_weight at 0."
            )
        if cfg.frame_core != "recurrent" and self.mode != "frames":
            raise ConfigError(
                f"frame_core={cfg.frame_core!r} applies to frames; this model's "
                f"steps are {self.mode}. Leave frame_core at 'recurrent'."
            )
        self.has_output_terms = bool(cfg.ssim_weight)  # see output_terms
        self.discrete_input = self.mode == "items"  # ids, not values
        self.length = self.input_shape[0]
        self.horizon = cfg.horizon
        self.observed = self.length - cfg.horizon
        if self.observed < 1:
            raise ConfigError(
                f"A window of {self.length} steps leaves no observed step with "
                f"horizon={cfg.horizon}; use windows longer than the horizon."
            )
        if not cfg.reconstruct and not cfg.horizon:
            raise ConfigError(
                "reconstruct=False needs horizon > 0: the model would decode nothing."
            )
        self.conv_core = self.mode == "frames" and cfg.frame_core == "conv"
        if self.conv_core:
            self.encoder = ConvCoreEncoder(self)
            scale = 2 * cfg.frame_patch
            h, w = self.step_shape[1:]
            self.feature_shape = (cfg.hidden_size, h // scale, w // scale)
        else:
            self.encoder = SequenceEncoder(self)
            self.feature_shape = (cfg.hidden_size,)
        self.transition_weight = None
        self.autoregression = None
        if cfg.ar_lags:
            if self.mode != "values" or not cfg.horizon:
                raise ConfigError(
                    "ar_lags needs windows of values and horizon > 0. Got "
                    f"{self.mode} with horizon={cfg.horizon}."
                )
            if cfg.ar_lags > self.observed:
                raise ConfigError(
                    f"ar_lags={cfg.ar_lags} exceeds the {self.observed} observed "
                    "steps of a window; use at most that many lags."
                )
            d = self.step_shape[0]
            # Starts at zero: the forecast is the recurrent model's until the
            # linear part learns what it can carry.
            self.autoregression = nn.Linear(cfg.ar_lags * d, cfg.horizon * d)
            nn.init.zeros_(self.autoregression.weight)
            nn.init.zeros_(self.autoregression.bias)
        if cfg.item_transitions:
            if self.mode != "items" or not cfg.horizon:
                raise ConfigError(
                    "item_transitions needs item windows (n_items > 0) and "
                    f"horizon > 0. Got {self.mode} with horizon={cfg.horizon}."
                )
            if cfg.n_items > MAX_TRANSITION_ITEMS:
                raise ConfigError(
                    f"item_transitions keeps a dense {cfg.n_items} x {cfg.n_items} "
                    f"table; it allows at most {MAX_TRANSITION_ITEMS} items. Use "
                    "item_transitions=False for this catalog."
                )
            n = cfg.n_items + 1
            # Counts of (last observed item, next item) pairs and of next items,
            # filled by fit_transitions; the weight of the chain's log-probability
            # is learned with the rest of the model.
            self.register_buffer("transition_counts", torch.zeros(n, n))
            self.register_buffer("next_counts", torch.zeros(n))
            self.transition_weight = nn.Parameter(torch.ones(()))

    def build_decoder(self, code_shape: tuple[int, ...], n_params: int = 1) -> None:
        if self.conv_core:
            self.decoder = ConvCoreDecoder(self, code_shape[0], n_params)
            return
        if len(code_shape) != 1:
            raise ConfigError(
                f"The sequence architecture needs a flat code. Got {code_shape}."
            )
        self.decoder = SequenceDecoder(self, code_shape[0], n_params)

    def _last_item(self, x: torch.Tensor) -> torch.Tensor:
        """The last observed item of each window (B, L) -> (B,); 0 if none."""
        obs = x[:, : self.observed].long().clamp_min(0)  # (B, T)
        return obs.gather(1, _last_valid_length(obs != 0)[:, None] - 1)[:, 0]

    def fit_transitions(self, windows: torch.Tensor) -> None:
        """Count each window's (last observed item, first future item) pair.

        ``windows``: (n, L) item ids, the training windows; replaces the counts.
        """
        last = self._last_item(windows)  # (n,)
        nxt = windows[:, self.observed].long()  # (n,)
        keep = (last > 0) & (nxt > 0)
        last, nxt = last[keep], nxt[keep]
        counts = torch.zeros_like(self.transition_counts)
        counts.index_put_((last, nxt), torch.ones_like(last, dtype=counts.dtype), True)
        self.transition_counts.copy_(counts)
        self.next_counts.copy_(torch.bincount(nxt, minlength=len(self.next_counts)))

    def input_skip(
        self, x: torch.Tensor, clean: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """A term added to the decoder's output that bypasses the code, or None.

        With ``ar_lags``: a linear autoregression (:meth:`_autoregression`).
        With ``item_transitions``: ``w * log p(next | last observed item)``
        added to the first future step's logits, where ``p`` is a first-order
        Markov chain of the counted training pairs, smoothed towards item
        popularity, ``(c_ij + pop_j) / (n_i + 1)``, and ``w`` is learned. The
        recurrent model learns what the chain misses; the product is one
        softmax. In training a window's own pair is left out of the counts
        (leave one out), or the chain would look better than it is on new data.
        The pair is read from the ``clean`` window, since ``x`` may be
        corrupted; where corruption hid the last item, the chain reads another
        pair, which holds no count of this window, and nothing is left out.
        """
        if self.autoregression is not None:
            return self._autoregression(x)
        if self.transition_weight is None:
            return None
        last = self._last_item(x)  # (B,)
        rows = self.transition_counts[last]  # (B, K)
        if self.training and clean is not None:
            own = clean[:, self.observed].long().clamp_min(0)  # (B,) the next item
            same = (self._last_item(clean) == last) & (last > 0)  # (B,)
            hit = same[:, None] & (rows.gather(1, own[:, None]) > 0)  # (B, 1)
            rows = rows.scatter_add(1, own[:, None], -hit.to(rows.dtype))
        pop = self.next_counts / self.next_counts.sum().clamp_min(1)  # (K,)
        p = (rows + pop) / (rows.sum(1, keepdim=True) + 1)  # (B, K)
        logits = self.transition_weight * torch.log(p.clamp_min(1e-12))  # (B, K)
        S = self.horizon + (self.observed if self.config.reconstruct else 0)
        first = S - self.horizon  # the step right after the observed ones
        out = logits.new_zeros(len(x), logits.shape[1], S)  # (B, K, S)
        out[:, :, first] = logits
        return out

    def _autoregression(self, x: torch.Tensor) -> torch.Tensor:
        """With ``ar_lags``: a linear map of the last ``ar_lags`` observed steps
        to the future steps, added to the decoder's forecast (the "highway" of
        LSTNet, Lai et al. 2018, https://arxiv.org/abs/1703.07015). Both
        train together, so the recurrent model learns what a linear
        autoregression misses. A window whose
        observed steps end early (NaN padding) uses its last real steps; a
        missing value reads as 0, as in the encoder.
        """
        p, T, H = self.config.ar_lags, self.observed, self.horizon
        obs = x[:, :T]  # (B, T, d)
        nan = torch.isnan(obs)
        end = _last_valid_length(~nan.all(-1)) if nan.any() else None  # (B,)
        obs = torch.where(nan, torch.zeros_like(obs), obs)
        if end is None:
            lags = obs[:, T - p :]  # (B, p, d)
        else:
            steps = end[:, None] - p + torch.arange(p, device=x.device)  # (B, p)
            index = steps.clamp_min(0)[:, :, None].expand(-1, -1, obs.shape[2])
            # Lags before a short window's first step read 0.
            lags = obs.gather(1, index) * (steps >= 0)[:, :, None]  # (B, p, d)
        future = self.autoregression(lags.flatten(1)).view(len(x), H, -1)  # (B, H, d)
        S = H + (T if self.config.reconstruct else 0)
        n_params = self.decoder.n_params
        out = future.new_zeros(len(x), n_params, S, future.shape[2])  # (B, P, S, d)
        out[:, 0, S - H :] = future  # the mean only
        return out[:, 0] if n_params == 1 else out

    def output_terms(
        self, mean: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        """Loss terms on the decoded frames beyond the likelihood: with
        ``ssim_weight > 0``, ``ssim_weight * (1 - SSIM)`` per sample (B,),
        SSIM averaged over the decoded frames and channels.

        The likelihood alone (MSE or BCE) is minimised by the average of the
        futures the model cannot tell apart: a haze around each digit. SSIM
        punishes faint values on a blank background hard, so this term trades
        a little squared error for predictions with a clean background.
        """
        w, B = self.config.ssim_weight, mean.shape[0]
        score = ssim(mean.flatten(0, -3), target.flatten(0, -3))  # (B * S * C,)
        return {"ssim": w * (1 - score.view(B, -1).mean(1))}

    def loss_target(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(target, mask): what the decoder's output is scored against.

        The target is the clean window (only its future steps for a model
        without a reconstruction decoder); the mask leaves out padding (NaN
        values, item 0). ``None``: every element counts.
        """
        if not self.config.reconstruct:
            x = x[:, self.observed :]  # (B, H, *step)
        mask = None
        if self.mode == "items":
            mask = x != 0  # (B, S)
        elif self.mode == "values":
            nan = torch.isnan(x)
            if nan.any():
                mask, x = ~nan, torch.where(nan, torch.zeros_like(x), x)  # (B, S, d)
        return x, mask
