"""A network and a chip spec -> the chip program: placement, quantization for the chip's grid, embedding.

The layers are quantized by sim.eval.mapping.map_network with grid = the chip's (row_tiles, col_tiles): on
the chip every MVM passes through all row tiles, and the ADC floor-bias correction in the offsets depends on
how many. Each layer's codes (rows 0..in-1, columns 0..out-1 of its mapping) move to its column range of the
chip's one weight matrix, its scale/offset codes to the same columns of the chip's column vectors. With
device.ir_drop_order = "on" the layers are quantized in layer order and then their rows and columns take the
chain orders of sim.deploy.ir_drop_chain (weights, scale and offset move with their column), so the host's
inputs and outputs keep layer order and the program format is unchanged.
"""

from __future__ import annotations

import numpy as np

from aimcgen.contract.aimc_registers import spec_hash
from aimcgen.sim.deploy.ir_drop_chain import chain_orders
from aimcgen.sim.deploy.placement import Placement, place
from aimcgen.contract.chip_program import ChipProgram, ProgramLayer, ProgramSegment
from aimcgen.sim.eval.mapping import NetworkMapping, map_network
from aimcgen.sim.eval.network import ConvLayer, Network
from aimcgen.spec import DesignSpec


def compile_network(net: Network, spec: DesignSpec, calib_x, placement: Placement | None = None) -> ChipProgram:
    """The chip program of `net` on `spec`, scales from the calibration inputs; PlacementError if it does
    not fit."""
    placement = placement or place(net, spec)
    reorder = spec.device.ir_drop_order == "on"
    # The evaluation's reordering needs host permutations the program has none of: quantize in layer order,
    # then place in the chain orders.
    quantized = spec.replace(device={"ir_drop_order": "off"}) if reorder else spec
    mapping = map_network(net, quantized, calib_x, grid=(spec.array.row_tiles, spec.array.col_tiles))
    orders = _orders(net, spec, calib_x, placement, mapping) if reorder else None
    weights = np.zeros((spec.logical_rows, spec.logical_cols), dtype=np.int16)
    scale = np.zeros(spec.logical_cols, dtype=np.int32)
    offset = np.zeros(spec.logical_cols, dtype=np.int32)
    layers = []
    for lp, lm, layer in zip(placement.layers, mapping.layers, net.layers):
        if lm.host_relu != lp.shape.host_relu:
            raise AssertionError(f"layer {lp.index}: placement and mapping disagree on the host relu")
        (r0, r1), (c0, c1) = lp.row_range, lp.col_range
        rows, cols = orders[lp.index] if orders else (np.arange(r1 - r0), np.arange(c1 - c0))
        weights[r0:r1, c0:c1] = lm.weight_codes[rows][:, cols]
        scale[c0:c1] = lm.scale[cols]
        offset[c0:c1] = lm.offset[cols]
        layers.append(ProgramLayer(
            lp.index, "conv" if lp.shape.conv else "dense", lp.segment, lp.row_range, lp.col_range,
            lp.tiles(spec), layer.in_features, layer.out_features, layer.activation, lm.host_relu,
            layer.positions, conv_geometry(layer), lm.x_scale, lm.x_zero, lm.y_scale, lm.y_zero))
    segments = []
    for seg in placement.segments:
        last = layers[seg.layers[-1]]
        is_last = seg.index == len(placement.segments) - 1
        after = (["relu"] if last.host_relu else []) + ([] if is_last else ["clamp"]) \
            + (["flatten"] if last.kind == "conv" else [])
        segments.append(ProgramSegment(seg.index, list(seg.layers), seg.driver, seg.descriptors(placement),
                                       ["im2col"] if last.kind == "conv" else [], after))
    first = mapping.layers[0]
    return ChipProgram(net.name, spec.name, spec_hash(spec), (spec.logical_rows, spec.logical_cols),
                       (spec.tile.rows, spec.tile.cols), (spec.array.row_tiles, spec.array.col_tiles),
                       {"max_magnitude": spec.input.max_magnitude, "x_scale": first.x_scale,
                        "x_zero": first.x_zero},
                       layers, segments, ["argmax"], weights, scale, offset)


def _orders(net: Network, spec: DesignSpec, calib_x, placement: Placement, mapping: NetworkMapping) -> list:
    """The chain orders (sim.deploy.ir_drop_chain) from the layers' codes and calibration inputs, taken as the
    evaluation's mapping takes them (the float network's activations)."""
    acts = net.forward(calib_x, all_layers=True)
    inputs = [layer.patches(calib_x if i == 0 else acts[i - 1]) for i, layer in enumerate(net.layers)]
    codes = [lm.weight_codes[:lp.shape.rows, :lp.shape.cols] for lp, lm in zip(placement.layers, mapping.layers)]
    return chain_orders(placement, codes, inputs, spec)


def conv_geometry(layer) -> dict | None:
    """What the host needs for im2col and flatten of a convolution (None for a dense layer)."""
    if not isinstance(layer, ConvLayer):
        return None
    return {"kernel_shape": list(layer.kernel.shape), "in_shape": list(layer.in_shape),
            "pads": list(layer.pads), "strides": list(layer.strides), "dilations": list(layer.dilations)}
