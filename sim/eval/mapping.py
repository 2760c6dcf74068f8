"""Map a network of layers onto the tiles of a design spec.

A layer's crossbar matrix is its weight (dense) or kernel matrix (convolution: every output position is
one MVM of it on an im2col patch, sim.eval.network.ConvLayer), in x out. Each layer gets its own grid of
ceil(in / tile.rows) x ceil(out / tile.cols) tiles (row tiles add their partial sums in the accumulators,
column tiles concatenate), i.e. the layer runs on a copy of the spec whose `array` is that grid; zero
padding fills the last tiles. Quantities, per layer:

    x_real  = x_scale * x_code + x_zero               input codes: sign-magnitude, |x_code| <= input max
    W       ~ w_scale[j] * w_code                     w_code in -levels..levels; w_scale: the clipping
                                                      point / levels of least expected output error
                                                      (sim.eval.quantize), or max |W[:, j]| / levels
    acc     ~ (x_code @ w_code) / 2^lsb_shift - bias  what the ADCs and shift-add deliver (bias: mean
                                                      floor error of sar/ramp ADCs, per row tile)
    y_real  = x_scale w_scale 2^lsb (acc + bias) + b + x_zero * sum_i W[i, :]
    y_code  = (y_real - y_zero) / y_scale             = (acc * scale + offset) / 2^scale_frac_bits
so scale = x_scale w_scale 2^lsb / y_scale and offset = scale * bias + (b_eff - y_zero) / y_scale (b_eff also
takes out the mean error of the quantized weights on the calibration inputs), both rounded to the spec's fixed
point. Output scales come from the float activations on calibration inputs (a percentile of the range): hidden
layers use the next layer's input range (the layer sequencer clamps outputs to it), the last layer the output
code range. When the hardware activation is relu/clip but the layer has none, y_zero shifts the outputs into
the non-negative codes (argmax and later layers are unaffected: the zero point is folded into the next layer's
bias). When the hardware has no activation but the layer has relu, the host applies relu to the output codes
(flagged in the report).

With device.ir_drop_order = "on" every layer's rows and columns are reordered inside their tiles against IR
drop (rule and index conventions in sim.eval.ir_drop_order, from the same calibration inputs): weight_codes,
scale and offset are then in physical order, `pad_input` drives physical row p with layer input row_order[p]
and `finish` returns the outputs in layer order. A mapping for a chip's grid (grid given) refuses it: the
layer sequencer hands one layer's physical outputs to the next layer without the host's reordering;
deployment quantizes with it off and places the layers in the chain orders of sim.deploy.ir_drop_chain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from aimcgen.contract.formats import datapath_formats
from aimcgen.spec import DesignSpec, SpecError
from aimcgen.sim.eval.ir_drop_order import inverse, ir_drop_orders
from aimcgen.sim.eval.network import Network
from aimcgen.sim.eval.quantize import DeviceLevels, quantize_layer


@dataclass
class LayerMapping:
    index: int
    in_features: int
    out_features: int
    activation: str                 # the layer's activation
    spec: DesignSpec                # the spec with array = this layer's tile grid
    weight_codes: np.ndarray        # (logical_rows, logical_cols) int64, zero padded
    w_scale: np.ndarray             # (out,) weight units per conductance code
    x_scale: float
    x_zero: float
    y_scale: float
    y_zero: float
    scale: np.ndarray               # (logical_cols,) int64 fixed-point scale codes
    offset: np.ndarray              # (logical_cols,) int64 fixed-point offset codes
    host_relu: bool                 # relu applied by the host after the post-processor
    hidden: bool                    # outputs feed the next layer (clamped to its input range)
    notes: list[str] = field(default_factory=list)
    scale_error: float = 0.0        # max relative rounding error of the scale codes
    scale_saturated: int = 0
    offset_saturated: int = 0
    positions: int = 1              # MVMs per input vector (output positions of a convolution)
    row_order: np.ndarray | None = None  # (in,) layer row on physical row p (device.ir_drop_order); None: as is
    col_order: np.ndarray | None = None  # (out,) layer column on physical column p; None: as is

    @property
    def row_tiles(self) -> int:
        return self.spec.array.row_tiles

    @property
    def col_tiles(self) -> int:
        return self.spec.array.col_tiles

    @property
    def tiles(self) -> int:
        return self.spec.tiles

    @property
    def utilization(self) -> float:
        return self.in_features * self.out_features / (self.spec.logical_rows * self.spec.logical_cols)

    def finish(self, out_codes: np.ndarray) -> np.ndarray:
        """Post-processor output codes (batch, logical_cols) -> this layer's codes (batch, out) in layer
        order: host relu, and for hidden layers the layer sequencer's clamp to the input range."""
        y = out_codes[:, :self.out_features]
        if self.col_order is not None:
            y = y[:, inverse(self.col_order)]
        if self.host_relu:
            y = np.maximum(y, 0)
        if self.hidden:
            m = self.spec.input.max_magnitude
            y = np.clip(y, -m, m)
        return y

    def dequantize(self, codes: np.ndarray) -> np.ndarray:
        return np.asarray(codes, dtype=np.float64) * self.y_scale + self.y_zero


@dataclass
class NetworkMapping:
    network: Network
    spec: DesignSpec
    layers: list[LayerMapping]

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        first = self.layers[0]
        m = self.spec.input.max_magnitude
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        return np.clip(np.round((x - first.x_zero) / first.x_scale), -m, m).astype(np.int64)

    def pad_input(self, layer: LayerMapping, x_codes: np.ndarray) -> np.ndarray:
        """Input codes in layer order (batch, in) -> the physical rows (batch, logical_rows), zero padded."""
        out = np.zeros((len(x_codes), layer.spec.logical_rows), dtype=np.int64)
        out[:, :x_codes.shape[1]] = x_codes if layer.row_order is None else x_codes[:, layer.row_order]
        return out

    def layer_input(self, layer: LayerMapping, codes: np.ndarray) -> np.ndarray:
        """The layer's input codes (batch, in_features) -> its MVM inputs (batch * positions, logical_rows)."""
        return self.pad_input(layer, self.network.layers[layer.index].patches(codes))

    def layer_output(self, layer: LayerMapping, out_codes: np.ndarray) -> np.ndarray:
        """Post-processor codes of the layer's MVMs -> the next layer's input codes (batch, out_features)."""
        return self.network.layers[layer.index].assemble(layer.finish(out_codes))

    @property
    def tiles(self) -> int:
        return sum(l.tiles for l in self.layers)

    def report(self) -> dict:
        s = self.spec
        rows = []
        for l in self.layers:
            rows.append({
                "layer": l.index, "shape": [l.in_features, l.out_features], "activation": l.activation,
                "mvms_per_input": l.positions,
                "tile_grid": [l.row_tiles, l.col_tiles], "tiles": l.tiles,
                "utilization": round(l.utilization, 4),
                "input_bits": s.input.bits, "weight_bits": s.tile.weight_bits, "adc_bits": s.adc.bits,
                "output_bits": s.postproc.output_bits if not l.hidden else s.input.bits,
                "x_scale": l.x_scale, "y_scale": l.y_scale, "y_zero": l.y_zero,
                "scale_code_range": [int(l.scale[:l.out_features].min()), int(l.scale[:l.out_features].max())],
                "scale_rounding_error_max": round(l.scale_error, 5),
                "scale_saturated": l.scale_saturated, "offset_saturated": l.offset_saturated,
                "host_relu": l.host_relu, "notes": l.notes,
            })
        return {"tiles_used": self.tiles, "tiles_in_spec_grid": s.tiles,
                "fits_spec_grid": self.tiles <= s.tiles,
                "tile": [s.tile.rows, s.tile.cols],
                "utilization": round(sum(l.in_features * l.out_features for l in self.layers)
                                     / (self.tiles * s.tile.rows * s.tile.cols), 4),
                "layers": rows}


def _percentile_abs(values: np.ndarray, q: float) -> float:
    v = float(np.percentile(np.abs(values), q)) if values.size else 0.0
    return v if v > 0 else (float(np.max(np.abs(values))) if values.size and np.max(np.abs(values)) > 0 else 1.0)


def adc_floor_bias(spec: DesignSpec) -> float:
    """Mean error (in accumulator units) of one tile's shift-added ADC codes: sar/ramp floor integer
    charges, losing (2^s - 1) / 2^(s+1) codes per step on average; flash rounds (no bias)."""
    if spec.adc.kind == "flash":
        return 0.0
    s = spec.adc.lsb_shift
    per_step = (1 - 2.0 ** -s) / 2 if s > 0 else 0.0
    return per_step * float(np.sum(2.0 ** np.arange(spec.input.steps))) if spec.input.encoding != "pwm" \
        else per_step


def map_network(net: Network, spec: DesignSpec, calib_x: np.ndarray, *, per_column: bool = True,
                act_percentile: float = 99.9, input_percentile: float = 100.0,
                bias_correction: bool = True, weight_quantization: str = "mse", device_aware: bool = True,
                weight_bias_correction: bool = True, grid: tuple[int, int] | None = None) -> NetworkMapping:
    """The network on the spec's tiles, scales from the calibration inputs calib_x.

    weight_quantization: "mse" picks each column's scale (clipping point) and codes for the least expected
    output error (sim.eval.quantize), with device_aware the error of the spec's devices read 1 day after
    programming; "max_abs" maps each column's (per_column, else the layer's) max |w| to the top code and
    rounds. bias_correction: the ADCs' mean floor loss; weight_bias_correction: the mean output error of
    the quantized (and, device_aware, the mean read) weights on the calibration inputs, folded into the
    offsets. grid = (row_tiles, col_tiles): every layer runs on that grid instead of its own smallest one
    (a whole chip, as sim.deploy places layers: each MVM passes through all its row tiles, which sets the
    ADC floor-bias correction); its weight codes sit at rows 0..in-1, columns 0..out-1 of that grid.
    """
    calib_x = np.asarray(calib_x, dtype=np.float64).reshape(len(calib_x), -1)
    acts = net.forward(calib_x, all_layers=True)
    fmt = datapath_formats(spec)
    post = spec.postproc
    f = post.scale_frac_bits
    m_in = spec.input.max_magnitude
    levels = spec.tile.conductance_levels
    hw_act = post.activation
    x_scale = _percentile_abs(calib_x, input_percentile) / m_in
    x_zero = 0.0
    reorder = spec.device.ir_drop_order == "on"
    if reorder and grid is not None:
        raise SpecError("device.ir_drop_order = 'on': a mapping for a chip's grid runs layers back to back "
                        "through the layer sequencer, which cannot undo the reordering between layers; map with "
                        "it 'off' (sim.deploy.compile then applies the chain orders of sim.deploy.ir_drop_chain)")
    if weight_quantization not in ("mse", "max_abs"):
        raise ValueError(f"weight_quantization = {weight_quantization!r}: 'mse' or 'max_abs'")
    dev_levels = (DeviceLevels.measure(spec.device, levels) if device_aware and weight_quantization == "mse"
                  else None)
    layers = []
    for i, layer in enumerate(net.layers):
        hidden = i < len(net.layers) - 1
        notes = []
        w = layer.weight
        rt = math.ceil(w.shape[0] / spec.tile.rows)
        ct = math.ceil(w.shape[1] / spec.tile.cols)
        if grid is not None:
            if rt > grid[0] or ct > grid[1]:
                raise ValueError(f"layer {i}: {w.shape[0]}x{w.shape[1]} needs {rt}x{ct} tiles, the grid is "
                                 f"{grid[0]}x{grid[1]}")
            rt, ct = grid
        try:
            lspec = spec.replace(array={"row_tiles": rt, "col_tiles": ct},
                                 noise={"seed": (spec.noise.seed + 7919 * i) % ((1 << 32) - 1) or 1})
        except SpecError as exc:         # the layer's own grid breaks a spec limit the user never set
            raise SpecError(f"layer {i} ({w.shape[0]} x {w.shape[1]}) needs a grid of {rt} x {ct} tiles of "
                            f"tile.rows x tile.cols = {spec.tile.rows} x {spec.tile.cols}, which no spec allows "
                            f"({exc}); use larger tiles (tile.rows, tile.cols)") from None
        x_in = layer.patches(calib_x if i == 0 else acts[i - 1]) - x_zero   # what the crossbar integrates
        if weight_quantization == "mse":
            w_scale, w_codes, w_eff = quantize_layer(w, levels, x_in, dev_levels, per_column=per_column)
        else:
            if per_column:
                w_scale = np.max(np.abs(w), axis=0) / levels
            else:
                w_scale = np.full(w.shape[1], np.max(np.abs(w)) / levels)
            w_scale = np.where(w_scale > 0, w_scale, 1.0)
            w_codes = np.clip(np.round(w / w_scale), -levels, levels).astype(np.int64)
            w_eff = w_codes * w_scale
        row_order = col_order = None
        if reorder:
            row_order, col_order = ir_drop_orders(w_codes, x_in, spec.tile.rows, spec.tile.cols,
                                                  spec.device.sense_amplifiers)
            notes.append("rows and columns reordered in their tiles against IR drop (device.ir_drop_order)")
        codes = np.zeros((lspec.logical_rows, lspec.logical_cols), dtype=np.int64)
        codes[:w.shape[0], :w.shape[1]] = w_codes if not reorder else w_codes[row_order][:, col_order]
        b_eff = layer.bias + x_zero * w.sum(axis=0)
        if weight_bias_correction and len(x_in):
            b_eff = b_eff - np.mean(x_in, axis=0) @ (w_eff - w)
        # Output code range and scale.
        y = acts[i]
        if hw_act == "none":
            lo_code, hi_code = post.output_min, post.output_max
        else:
            lo_code, hi_code = 0, post.clip_high if hw_act == "clip" else post.output_max
        if hidden:
            lo_code, hi_code = max(lo_code, -m_in), min(hi_code, m_in)
        host_relu = layer.activation == "relu" and hw_act == "none"
        if host_relu:
            notes.append("relu applied by the host: the design's postproc.activation is 'none'")
        if layer.activation == "none" and hw_act != "none":
            y_zero = float(np.percentile(y, 100 - act_percentile)) if y.size else 0.0
            y_scale = max(float(np.percentile(y, act_percentile)) - y_zero, 1e-12) / hi_code
            notes.append(f"zero point {y_zero:.4g}: outputs shifted into the codes of the '{hw_act}' activation")
        else:
            y_zero = 0.0
            y_scale = _percentile_abs(y, act_percentile) / hi_code
        lsb = float(1 << spec.adc.lsb_shift)
        bias_acc = adc_floor_bias(spec) * rt if bias_correction else 0.0
        scale_real = x_scale * w_scale * lsb / y_scale
        offset_real = scale_real * bias_acc + (b_eff - y_zero) / y_scale
        scale = np.round(scale_real * (1 << f)).astype(np.int64)
        offset = np.round(offset_real * (1 << f)).astype(np.int64)
        scale_c, sat_s = fmt.scale.saturate(scale)
        offset_c, sat_o = fmt.offset.saturate(offset)
        if sat_s.any():
            notes.append(f"{int(sat_s.sum())} scale codes saturated at {fmt.scale.max} (postproc.scale_bits)")
        if sat_o.any():
            notes.append(f"{int(sat_o.sum())} offset codes saturated (postproc.offset_bits)")
        err = float(np.max(np.abs(scale_c / (1 << f) - scale_real) / scale_real))
        if err > 0.05:
            notes.append(f"scale codes round with up to {100 * err:.0f} % error: postproc.scale_frac_bits "
                         f"= {f} is too coarse for scale {scale_real.min():.3g}..{scale_real.max():.3g}")
        pad = lspec.logical_cols - w.shape[1]
        if reorder:
            scale_c, offset_c = scale_c[col_order], offset_c[col_order]
        scale_full = np.concatenate([scale_c, np.zeros(pad, dtype=np.int64)])
        offset_full = np.concatenate([offset_c, np.zeros(pad, dtype=np.int64)])
        if layer.positions > 1 and x_zero != 0 and any(getattr(layer, "pads", ())):
            notes.append(f"zero padding reads as the input zero point {x_zero:.4g}, not 0")
        layers.append(LayerMapping(i, w.shape[0], w.shape[1], layer.activation, lspec, codes,
                                   w_scale, x_scale, x_zero, y_scale, y_zero, scale_full, offset_full,
                                   host_relu, hidden, notes, err, int(sat_s.sum()), int(sat_o.sum()),
                                   layer.positions, row_order, col_order))
        x_scale, x_zero = y_scale, y_zero
    return NetworkMapping(net, spec, layers)
