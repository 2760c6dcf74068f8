"""Layers of a network as the evaluation sees them: y = act(x @ W + b) on crossbars.

W has shape (rows, cols) -- rows are inputs, as on a crossbar. Activations: "relu" or "none".
DenseLayer: one MVM per input vector. ConvLayer (2D, NCHW, groups 1): im2col -- every output position is
one MVM of the kernel matrix (C*kh*kw, F) on that position's input patch, so a crossbar holds the kernel
once and is used positions times. Every layer maps its flat input (batch, in_features) to MVM rows with
`patches` and the MVM results back to its flat output (batch, out_features) with `assemble`. Network is
their chain; sim.eval.network reads and writes model files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ACTIVATIONS = ("relu", "none")


class NetworkError(ValueError):
    """A model file cannot be read as a chain of dense layers; the message says why."""


def _finite(what: str, values: np.ndarray) -> None:
    """NaN or inf weights would map to meaningless conductances and report a meaningless accuracy."""
    bad = ~np.isfinite(values)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise NetworkError(f"{what}: {int(bad.sum())} value(s) are NaN or inf (first at index {list(first)}); "
                           f"weights and biases must be finite")


def _numbers(what: str, values) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise NetworkError(f"{what}: must be an array of numbers, got "
                           f"{getattr(values, 'dtype', type(values).__name__)}") from None


@dataclass
class DenseLayer:
    weight: np.ndarray              # (in, out)
    bias: np.ndarray                # (out,)
    activation: str = "none"

    def __post_init__(self):
        self.weight = _numbers("dense layer weight", self.weight)
        if self.weight.ndim != 2 or 0 in self.weight.shape:
            raise NetworkError(f"dense layer weight: expected a non-empty matrix, got shape {self.weight.shape}")
        self.bias = (np.zeros(self.weight.shape[1]) if self.bias is None
                     else _numbers("dense layer bias", self.bias).reshape(-1))
        if self.bias.shape != (self.weight.shape[1],):
            raise NetworkError(f"dense layer bias: expected shape ({self.weight.shape[1]},), "
                               f"got {self.bias.shape}")
        _finite("dense layer weight", self.weight)
        _finite("dense layer bias", self.bias)
        if self.activation not in ACTIVATIONS:
            raise NetworkError(f"activation {self.activation!r}: must be one of {ACTIVATIONS}")

    @property
    def in_features(self) -> int:
        return self.weight.shape[0]

    @property
    def out_features(self) -> int:
        return self.weight.shape[1]

    positions = 1                    # MVMs per input vector

    def patches(self, x: np.ndarray) -> np.ndarray:
        return x

    def assemble(self, y: np.ndarray) -> np.ndarray:
        return y

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = np.asarray(x, dtype=np.float64) @ self.weight + self.bias
        return np.maximum(y, 0.0) if self.activation == "relu" else y

    def describe(self) -> str:
        return f"{self.out_features}{'(relu)' if self.activation == 'relu' else ''}"


def _check_geometry(pads: tuple, strides: tuple, dilations: tuple) -> None:
    """Four pads >= 0, two strides and two dilations >= 1: others divide by zero or index backwards."""
    if len(pads) != 4 or min(pads) < 0:
        raise NetworkError(f"conv layer: pads {pads}: expected 4 values >= 0 (top, left, bottom, right)")
    for name, pair in (("strides", strides), ("dilations", dilations)):
        if len(pair) != 2 or min(pair) < 1:
            raise NetworkError(f"conv layer: {name} {pair}: expected 2 values >= 1 (h, w)")


@dataclass
class ConvLayer:
    """2D convolution (ONNX Conv, NCHW, group 1) computed by im2col on the kernel matrix."""
    kernel: np.ndarray              # (F, C, kh, kw)
    bias: np.ndarray                # (F,)
    in_shape: tuple                 # (C, H, W)
    activation: str = "none"
    pads: tuple = (0, 0, 0, 0)      # top, left, bottom, right
    strides: tuple = (1, 1)
    dilations: tuple = (1, 1)

    def __post_init__(self):
        self.kernel = _numbers("conv layer kernel", self.kernel)
        if self.kernel.ndim != 4 or 0 in self.kernel.shape:
            raise NetworkError(f"conv layer kernel: expected (F, C, kh, kw), got shape {self.kernel.shape}")
        f, c, kh, kw = self.kernel.shape
        self.in_shape = tuple(int(v) for v in self.in_shape)
        if len(self.in_shape) != 3 or self.in_shape[0] != c or min(self.in_shape) < 1:
            raise NetworkError(f"conv layer: input shape {self.in_shape} is not (C={c}, H, W) with H, W >= 1")
        self.pads, self.strides, self.dilations = (tuple(int(v) for v in t)
                                                   for t in (self.pads, self.strides, self.dilations))
        _check_geometry(self.pads, self.strides, self.dilations)
        self.bias = np.zeros(f) if self.bias is None else _numbers("conv layer bias", self.bias).reshape(-1)
        if self.bias.shape != (f,):
            raise NetworkError(f"conv layer bias: expected shape ({f},), got {self.bias.shape}")
        _finite("conv layer kernel", self.kernel)
        _finite("conv layer bias", self.bias)
        if self.activation not in ACTIVATIONS:
            raise NetworkError(f"activation {self.activation!r}: must be one of {ACTIVATIONS}")
        if min(self.out_hw) < 1:
            raise NetworkError(f"conv layer: a {kh}x{kw} kernel does not fit the padded input {self.in_shape}")

    @property
    def weight(self) -> np.ndarray:
        """The kernel matrix (C*kh*kw, F): rows in the patch order (channel, kernel row, kernel column)."""
        return self.kernel.reshape(len(self.kernel), -1).T

    @property
    def out_hw(self) -> tuple[int, int]:
        (_, h, w), (_, kh, kw) = self.in_shape, self.kernel.shape[1:]
        t, l, b, r = self.pads
        return ((h + t + b - self.dilations[0] * (kh - 1) - 1) // self.strides[0] + 1,
                (w + l + r - self.dilations[1] * (kw - 1) - 1) // self.strides[1] + 1)

    @property
    def positions(self) -> int:
        return self.out_hw[0] * self.out_hw[1]

    @property
    def in_features(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def out_features(self) -> int:
        return len(self.kernel) * self.positions

    def patches(self, x: np.ndarray) -> np.ndarray:
        """(batch, C*H*W) -> (batch * positions, C*kh*kw), positions in row-major order; padding is 0."""
        c, h, w = self.in_shape
        kh, kw = self.kernel.shape[2:]
        t, l, b, r = self.pads
        x = np.pad(np.asarray(x).reshape(len(x), c, h, w), ((0, 0), (0, 0), (t, b), (l, r)))
        oh, ow = self.out_hw
        rows = (np.arange(oh) * self.strides[0])[:, None] + np.arange(kh) * self.dilations[0]     # (oh, kh)
        cols = (np.arange(ow) * self.strides[1])[:, None] + np.arange(kw) * self.dilations[1]     # (ow, kw)
        p = x[:, :, rows[:, None, :, None], cols[None, :, None, :]]         # (batch, C, oh, ow, kh, kw)
        return p.transpose(0, 2, 3, 1, 4, 5).reshape(len(x) * oh * ow, c * kh * kw)

    def assemble(self, y: np.ndarray) -> np.ndarray:
        """(batch * positions, F) -> (batch, F*oh*ow) in NCHW order, as ONNX's Flatten sees it."""
        oh, ow = self.out_hw
        y = np.asarray(y)
        return y.reshape(-1, oh, ow, y.shape[1]).transpose(0, 3, 1, 2).reshape(-1, y.shape[1] * oh * ow)

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = self.patches(np.asarray(x, dtype=np.float64)) @ self.weight + self.bias
        return self.assemble(np.maximum(y, 0.0) if self.activation == "relu" else y)

    def geometry(self) -> np.ndarray:
        return np.array([*self.in_shape, *self.pads, *self.strides, *self.dilations], dtype=np.int64)

    def describe(self) -> str:
        kh, kw = self.kernel.shape[2:]
        return (f"conv{kh}x{kw} {len(self.kernel)}x{self.out_hw[0]}x{self.out_hw[1]}"
                f"{'(relu)' if self.activation == 'relu' else ''}")


@dataclass
class Network:
    layers: list
    name: str = "network"
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.layers:
            raise NetworkError("network: no layers")
        for i in range(1, len(self.layers)):
            if self.layers[i].in_features != self.layers[i - 1].out_features:
                raise NetworkError(f"layer {i}: {self.layers[i].in_features} inputs, but layer {i - 1} has "
                                   f"{self.layers[i - 1].out_features} outputs")

    @property
    def in_features(self) -> int:
        return self.layers[0].in_features

    @property
    def out_features(self) -> int:
        return self.layers[-1].out_features

    def forward(self, x: np.ndarray, *, all_layers: bool = False):
        """Outputs (batch, out); with all_layers the list of every layer's output (after activation)."""
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        outs = []
        for layer in self.layers:
            x = layer.forward(x)
            outs.append(x)
        return outs if all_layers else x

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.forward(x), axis=1)

    def describe(self) -> str:
        first = self.layers[0]
        head = "x".join(map(str, first.in_shape)) if isinstance(first, ConvLayer) else str(self.in_features)
        return " -> ".join([head] + [l.describe() for l in self.layers])
