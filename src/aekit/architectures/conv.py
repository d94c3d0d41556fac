"""Convolutional encoder and mirrored decoder, for images of any size.

The convolutional autoencoder (Masci et al. 2011,
https://doi.org/10.1007/978-3-642-21735-7_7) slides the same filters over the
whole image, so what it learns on one part applies everywhere, and a model
trained on patches cleans photographs of any size (see :mod:`aekit.images`).

The encoder is one block per entry of ``channels``: a strided convolution that
halves height and width, then ``blocks`` more convolutions at that resolution
(with ``residual=True``, each inside a skip connection, ``x + act(conv(x))``, so
a deeper model still trains like a shallow one at first; He et al. 2016,
https://arxiv.org/abs/1512.03385). Skips stay within a level: nothing passes
from the encoder to the decoder but the code.
The decoder mirrors it with nearest-neighbour (or bilinear) upsampling followed
by a convolution, which avoids the checkerboard artefacts of transposed
convolutions (Odena et al. 2016, https://distill.pub/2016/deconv-checkerboard/);
``upsample="transposed"`` uses a transposed convolution whose kernel (4) is a
multiple of its stride (2), the form that does not produce them.

Input of any height and width is padded (replicating its border) to a multiple
of ``2 ** len(channels)`` inside the encoder and cropped back inside the
decoder, so the output has exactly the input's shape. The code is spatial
(``code_size`` channels x h x w, through the latent's 1x1 convolution) with
``spatial_code=True``, for denoising and repair; otherwise the features are
flattened and the latent maps them to ``code_size`` units through a dense
layer, for dimensionality reduction and generation.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from aekit.exceptions import ConfigError
from aekit.layers import make_activation
from aekit.registry import ARCHITECTURES, Component

NORMS = (None, "batch", "group", "instance")
UPSAMPLES = ("nearest", "bilinear", "transposed")


def _norm(kind: str | None, channels: int) -> nn.Module:
    if kind is None:
        return nn.Identity()
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(8, channels), channels)
    return nn.InstanceNorm2d(channels, affine=True)


def _conv_block(c_in, c_out, cfg, *, stride: int = 1) -> list[nn.Module]:
    k = cfg.kernel_size
    # A biased conv followed by batch/group norm wastes its bias.
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=not cfg.norm)
    return [conv, _norm(cfg.norm, c_out), make_activation(cfg.activation)]


class _Residual(nn.Module):
    """``x + body(x)``: a stride-1 block with a skip connection around it."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _extra_blocks(c: int, cfg) -> list[nn.Module]:
    """The ``cfg.blocks`` stride-1 convolutions of one level."""
    blocks = [_conv_block(c, c, cfg) for _ in range(cfg.blocks)]
    if cfg.residual:
        return [_Residual(b) for b in blocks]
    return [layer for b in blocks for layer in b]


class _Encoder(nn.Module):
    """Pad to a multiple of the total stride, convolve down, maybe flatten."""

    def __init__(self, layers: list[nn.Module], pad: tuple[int, int, int, int], flat):
        super().__init__()
        self.pad = pad  # (left, right, top, bottom), F.pad's order
        self.body = nn.Sequential(*layers)
        self.flat = flat
        self.channels_last = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3:
            x = x.unsqueeze(1)  # (B, H, W) -> (B, 1, H, W)
        if any(self.pad):
            x = F.pad(x, self.pad, mode="replicate")  # (B, C, Hp, Wp)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        h = self.body(x)  # (B, C_L, h, w)
        return h.flatten(1) if self.flat else h.contiguous()


class _Decoder(nn.Module):
    """Dense or conv stem, upsampling blocks, output conv, crop to the input."""

    def __init__(self, stem, body, head, crop, out_shape):
        super().__init__()
        self.stem, self.body, self.head = stem, body, head
        self.crop = crop  # (top, left, H, W)
        self.out_shape = out_shape  # (n_params, C, H, W) or (C, H, W)
        self.channels_last = False

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.stem(z)  # (B, C_L, h, w)
        if self.channels_last:
            h = h.contiguous(memory_format=torch.channels_last)
        y = self.head(self.body(h))  # (B, n_params * C, Hp, Wp)
        top, left, H, W = self.crop
        y = y[:, :, top : top + H, left : left + W]  # (B, n_params * C, H, W)
        return y.reshape(y.shape[0], *self.out_shape)


@ARCHITECTURES.register("conv")
class Conv(Component):
    """Strided-convolution encoder, upsampling-convolution decoder.

    Input samples are ``(C, H, W)`` (channels first; 1 or 3 channels, or any
    other number) or ``(H, W)`` (one channel implied).

    Example
    -------
    >>> from aekit.model import AutoencoderModule, default_spec
    >>> spec = {**default_spec(), "architecture": {"kind": "conv",
    ...     "channels": (8, 16)}, "latent": {"kind": "deterministic", "code_size": 4}}
    >>> AutoencoderModule(spec, (1, 27, 30)).encode(torch.zeros(2, 1, 27, 30)).shape
    torch.Size([2, 4])
    """

    @dataclasses.dataclass(frozen=True)
    class Config:
        channels: tuple[int, ...] = (32, 64, 128)  # per level; each halves H and W
        kernel_size: int = 3  # odd, so "same" padding is symmetric
        blocks: int = 0  # extra stride-1 convolutions per level (both halves)
        norm: str | None = None  # None, "batch", "group" or "instance"
        activation: str = "relu"  # after every convolution but the last
        spatial_code: bool = False  # True: code C x h x w; False: flattened
        upsample: str = "nearest"  # "nearest", "bilinear" (+ conv) or "transposed"
        # NHWC memory layout: 0.6-0.8x the CPU time of NCHW here (bench_images.py)
        channels_last: bool = True
        # A skip connection around each of the extra convolutions (last, so the
        # short form's positional fields keep their order).
        residual: bool = False

    def __init__(self, config: Config, *, input_shape: tuple[int, ...]):
        super().__init__(config)
        cfg = config
        self._check(cfg, input_shape)
        self.input_shape = tuple(int(s) for s in input_shape)
        # (H, W) samples are one-channel images.
        c_in, H, W = (
            self.input_shape if len(self.input_shape) == 3 else (1, *self.input_shape)
        )
        self.image_shape = (c_in, H, W)
        f = 2 ** len(cfg.channels)
        Hp, Wp = math.ceil(H / f) * f, math.ceil(W / f) * f
        top, left = (Hp - H) // 2, (Wp - W) // 2
        self._crop = (top, left, H, W)
        pad = (left, Wp - W - left, top, Hp - H - top)

        layers: list[nn.Module] = []
        prev = c_in
        for c in cfg.channels:
            layers += _conv_block(prev, c, cfg, stride=2)
            layers += _extra_blocks(c, cfg)
            prev = c
        self._grid = (cfg.channels[-1], Hp // f, Wp // f)
        self.encoder = _Encoder(layers, pad, flat=not cfg.spatial_code)
        self.feature_shape = (
            self._grid if cfg.spatial_code else (math.prod(self._grid),)
        )

    def _check(self, cfg: Config, input_shape) -> None:
        if not cfg.channels or min(cfg.channels) < 1:
            raise self.invalid(
                "channels", "a non-empty tuple of ints >= 1, such as (32, 64, 128)"
            )
        if cfg.kernel_size < 1 or cfg.kernel_size % 2 == 0:
            raise self.invalid("kernel_size", "an odd int >= 1")
        if cfg.blocks < 0:
            raise self.invalid("blocks", "an int >= 0")
        if cfg.norm not in NORMS:
            raise self.invalid("norm", "None, 'batch', 'group' or 'instance'")
        if cfg.upsample not in UPSAMPLES:
            raise self.invalid("upsample", "'nearest', 'bilinear' or 'transposed'")
        make_activation(cfg.activation)
        if len(input_shape) not in (2, 3):
            raise ConfigError(
                "The conv architecture needs images: samples of shape (C, H, W) or "
                f"(H, W). Got samples of shape {tuple(input_shape)}; use "
                "architecture='dense' for tables, or reshape the data to images."
            )

    def _up(self, c_in: int, c_out: int) -> list[nn.Module]:
        cfg = self.config
        if cfg.upsample == "transposed":
            up = nn.ConvTranspose2d(
                c_in, c_out, 4, stride=2, padding=1, bias=not cfg.norm
            )
            return [up, _norm(cfg.norm, c_out), make_activation(cfg.activation)]
        return [nn.Upsample(scale_factor=2, mode=cfg.upsample)] + _conv_block(
            c_in, c_out, cfg
        )

    def build_decoder(self, code_shape: tuple[int, ...], n_params: int = 1) -> None:
        cfg = self.config
        c_top = self._grid[0]
        if len(code_shape) == 1:
            stem = nn.Sequential(
                nn.Linear(code_shape[0], math.prod(self._grid)),
                make_activation(cfg.activation),
                nn.Unflatten(1, self._grid),
            )
        else:
            stem = nn.Sequential(*_conv_block(code_shape[0], c_top, cfg))
        targets = [*reversed(cfg.channels[:-1]), cfg.channels[0]]
        body: list[nn.Module] = []
        prev = c_top
        for c in targets:
            body += self._up(prev, c)
            body += _extra_blocks(c, cfg)
            prev = c
        c_img = self.image_shape[0]
        k = cfg.kernel_size
        head = nn.Conv2d(prev, n_params * c_img, k, padding=k // 2)
        out_shape = self.input_shape if n_params == 1 else (n_params, *self.input_shape)
        self.decoder = _Decoder(stem, nn.Sequential(*body), head, self._crop, out_shape)
        if cfg.channels_last:
            self.encoder.channels_last = self.decoder.channels_last = True
            self.to(memory_format=torch.channels_last)
