"""The accelerator top with noisy device models behind its analog ports: the PhysicsMacroModel tiles, inputs
whose outputs stay inside the output range, the outputs recomputed exactly from what the macros read, and
the RMS error the device statistics predict. No golden model applies (device noise and drift), so the
accelerator bench's test_physics_macro checks against these instead; the per-tile pieces come from the tile
controller bench (sim.verify.benches.tile_controller_bench).
"""

from __future__ import annotations

import numpy as np

from aimcgen.contract.formats import datapath_formats
from aimcgen.contract.postproc import postprocess
from aimcgen.contract.tile_gain import combine_row_tiles
from aimcgen.sim.verify.benches.tile_controller_bench import physics_error_budget, physics_expected, \
    physics_stimulus
from aimcgen.sim.verify.cocotb_macro import PhysicsMacroModel
from aimcgen.spec import DesignSpec


def tile_block(spec: DesignSpec, w: np.ndarray, i: int) -> np.ndarray:
    """Tile i's block (row-major over the tile grid) of the logical weight matrix."""
    R, C = spec.tile.rows, spec.tile.cols
    r, c = divmod(i, spec.array.col_tiles)
    return w[r * R:(r + 1) * R, c * C:(c + 1) * C]


def physics_models(spec: DesignSpec, weights: np.ndarray, seed: int, t_s: float) -> list[PhysicsMacroModel]:
    """One PhysicsMacroModel per tile, holding its block of `weights`, read at t_s after programming."""
    return [PhysicsMacroModel(spec, tile_block(spec, weights, i), seed=seed + i, t_s=t_s)
            for i in range(spec.tiles)]


def physics_bias(spec: DesignSpec) -> tuple[int, int]:
    """(offset in output codes, room around it): an offset that keeps negative results away from the
    activation and the clamp, and how far outputs may stray from it before they clamp."""
    fmt = datapath_formats(spec)
    bias = 0 if spec.postproc.activation == "none" else fmt.output.max // 2
    return bias, min(fmt.output.max - bias, bias if bias else -fmt.output.min)


def physics_inputs(spec: DesignSpec, w: np.ndarray, rng: np.random.Generator, count: int, room: int) -> list:
    """Up to `count` sparse inputs (tried in batches) whose ideal outputs stay within 0.6 x `room`."""
    R = spec.tile.rows
    lsb = 1 << spec.adc.lsb_shift
    xs = []
    for _ in range(200):
        parts = [physics_stimulus(spec, w[r * R:(r + 1) * R], rng, count, density=0.3)
                 for r in range(spec.array.row_tiles)]
        cand = np.concatenate(parts, axis=1)
        ideal = np.abs(cand @ w) / lsb
        xs += [x for x, q in zip(cand, ideal) if q.max() <= 0.6 * room]
        if len(xs) >= count:
            break
    return xs


def physics_recomputed(spec: DesignSpec, xs: np.ndarray, models, scale, offset) -> tuple[np.ndarray, np.ndarray]:
    """(outputs, accumulators) recomputed exactly from the macros' recorded conductance reads: per tile, then
    the saturating partial sums over the row tiles, then the post-processing."""
    R, C = spec.tile.rows, spec.tile.cols
    tile_acc = []
    for i, model in enumerate(models):
        r = i // spec.array.col_tiles
        acc, ovf, _ = physics_expected(spec, xs[:, r * R:(r + 1) * R], model)
        tile_acc.append((acc, ovf))
    acc = np.zeros((len(xs), spec.logical_cols), dtype=np.int64)
    ct = spec.array.col_tiles
    for c in range(ct):
        group = tile_acc[c::ct]                 # its row tiles, in r order
        acc[:, c * C:(c + 1) * C], _ = combine_row_tiles([a for a, _ in group], [o for _, o in group], None, spec)
    expected, _ = postprocess(acc, scale, offset, spec)
    return expected, acc


def physics_predicted_rms(spec: DesignSpec, w: np.ndarray, xs: np.ndarray, t_s: float) -> float:
    """RMS error of the accumulators (charge units) against x @ W predicted by the device statistics."""
    R, C = spec.tile.rows, spec.tile.cols
    shape = (len(xs), spec.logical_cols)
    bias_p = np.zeros(shape, dtype=np.float64)
    var_p = np.zeros(shape, dtype=np.float64)
    for i in range(spec.tiles):
        r, c = divmod(i, spec.array.col_tiles)
        b, v = physics_error_budget(spec, tile_block(spec, w, i), xs[:, r * R:(r + 1) * R], t_s)
        bias_p[:, c * C:(c + 1) * C] += b
        var_p[:, c * C:(c + 1) * C] += v
    return float(np.sqrt(np.mean(bias_p ** 2 + var_p)))
