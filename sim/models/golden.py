"""The golden model: the exact integer datapath of the RTL with the emulated analog tile, noise included.

One tile, per MVM and per drive step k (see contract.encoding):
    charge[j]  = sum_i drive_k[i] * W[i, j]                      (integer charge, conductance code x cycle)
    sample[j]  = charge[j] + noise                               (contract.noise: one draw per ADC sample)
    code[j]    = ADC(sample[j])                                  (contract.adc: per ADC kind; with the
                                                                  spec's ADC errors contract.adc_errors)
    acc[j]     = sat(acc[j] + (code[j] << k))                    (saturating, sticky overflow)
ADC a serves G = cols / adc.count columns through its column mux (which ones: contract.adc_columns, by
adc.column_assignment; blocks: the contiguous columns a*G .. a*G+G-1) and samples its positions 0..G-1 in
that order in every step, steps in order, MVMs in order.

The accelerator is a grid of row_tiles x col_tiles tiles: tile (r, c) holds weight block (r, c) and has tile
index r * col_tiles + c (its noise seed). Partial sums of the tiles of one column group are added in r order
with saturation at the accumulator width (row tiles r >= 1 first scaled by their TILE_GAIN trims, when the
chip has them: contract.tile_gain); then each logical column is post-processed (contract.postproc).
Everything is vectorized over the batch; the state (noise generators) carries over between calls exactly as
the hardware's does between MVMs.

With the digital twin on (spec [twin], contract.device_twin) each tile also holds its devices' state: the
stuck map, applied to the weights it is built with, and the programming-noise generator, which `program`
(one PROG_WRITE) and `program_verify` (the engine's write/read/retry loop) advance exactly as the emulated
tile's does; with drift, every device's drift code, read at the epoch `set_drift_epoch` sets
(contract.device_twin_drift; a change of epoch is a refresh, which with 1/f noise draws each device's
shared 1/f part anew, contract.device_twin_flicker). `set_weight` stays an exact write (no draw; a stuck
device still holds its stuck value); a WEIGHTS window write of the chip is `program_verify`, which replays the twin's draws when
called in the order the writes reach each tile (the accelerator bench's scoreboard and sim.deploy do).
With twin.read_noise on, each sample's noise is sized by its column (contract.device_read_noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aimcgen.contract.formats import datapath_formats
from aimcgen.contract.adc import adc_code
from aimcgen.contract.adc_errors import column_thresholds, convert
from aimcgen.contract.adc_columns import adc_major_index
from aimcgen.contract.encoding import check_inputs, drive_steps, step_weights
from aimcgen.contract.device_twin import DeviceState, DeviceTwin, analog_yield, verify_passes
from aimcgen.contract.device_twin_drift import EPOCH_SECONDS
from aimcgen.contract.device_read_noise import RAW_GAIN, read_noise_on
from aimcgen.contract import device_read_noise
from aimcgen.contract.noise import TileNoise, noise_dtype
from aimcgen.contract.weight_codes import check_weights
from aimcgen.contract.postproc import check_coefficients, postprocess, unity_scale
from aimcgen.contract.sparsity import ConversionPlan, conversion_plan, local_columns
from aimcgen.contract.tile_gain import check_gains, combine_row_tiles, unity_gain
from aimcgen.spec import DesignSpec, SpecError


@dataclass
class TileResult:
    codes: np.ndarray        # (steps, batch, cols) ADC codes
    accumulator: np.ndarray  # (batch, cols) shift-add result
    overflow: np.ndarray     # (batch, cols) the accumulator saturated during this MVM
    plan: ConversionPlan | None = None   # the drive and conversions performed ([sparsity] options on)


@dataclass(frozen=True)
class VerifyResult:
    """One weight's program-and-verify outcome, as the engine's result stream reports it."""
    row: int
    col: int
    ok: bool
    attempts: int            # writes issued: 1 + retries
    read_back: int           # the stored weight after the last write


class GoldenTile:
    """One emulated tile and its ADCs and shift-add accumulators."""

    def __init__(self, spec: DesignSpec, weights: np.ndarray, tile_index: int = 0):
        self.spec = spec
        self.twin = DeviceTwin(spec, tile_index, check_weights(weights, spec, (spec.tile.rows, spec.tile.cols)))
        self._charge_dtype = charge_dtype(spec)
        self._adopt_weights()
        self._work: tuple[np.ndarray, ...] = ()      # the dense path's work arrays (_work_arrays)
        self.noise = TileNoise(spec, tile_index)
        # The chip's ADC errors (contract.adc_errors.chip_draws from noise.seed): each column's ADC table.
        self.adc_table = column_thresholds(spec, tile_index)
        if read_noise_on(spec):
            self.noise.multiplier = RAW_GAIN    # draws are the centred sums c, sized per sample in _sized

    def set_weight(self, row: int, col: int, code: int) -> None:
        """Reprogram one device pair (a weight write between MVMs); keeps the float copy the charges are
        computed from in step, which writing `weights` directly would not."""
        code = int(check_weights(np.array([[code]]), self.spec, (1, 1))[0, 0])
        self._store(row, col, self.twin.set(row, col, code))

    def _store(self, row: int, col: int, code: int) -> None:
        self.weights[row, col] = code
        self._weights_f[row, col] = code

    def _adopt_weights(self) -> None:
        """Read the devices' weights (at the current epoch) and their float copy for the charge matmul."""
        self.weights = self.twin.weights()
        self._weights_f = self.weights.astype(self._charge_dtype)

    def program(self, row: int, col: int, target: int) -> int:
        """One PROG_WRITE of the emulated tile: the devices land with their programming error (two draws of
        the tile's generator) unless stuck; returns the stored weight, which PROG_READ reads back. A target
        may be -2^(weight_bits-1), which the WEIGHTS window accepts and no device pair holds: it lands as
        -levels (contract.device_twin)."""
        target = _write_target(self.spec, target)
        stored = self.twin.write(row, col, target)
        self._store(row, col, stored)
        return stored

    def keep_devices(self, devices: DeviceState) -> None:
        """Adopt devices that outlived a reset of the chip (the emulated tile's memories keep them while its
        generators restart and DRIFT_EPOCH returns to 0): the object is shared, later writes update it."""
        self.twin.devices = devices
        self.twin.epoch = 0
        self._adopt_weights()

    def set_drift_epoch(self, epoch: int) -> None:
        """The chip's drift epoch (DRIFT_EPOCH, contract.device_twin_drift): every read sees the devices then."""
        if not self.twin.drift:
            raise SpecError("drift epoch: the spec has twin.drift = 'off'; set it 'on' to emulate drift")
        valid = isinstance(epoch, (int, np.integer)) and not isinstance(epoch, bool)
        if not valid or not 0 <= epoch < len(EPOCH_SECONDS):
            raise SpecError(f"drift epoch = {epoch!r}: must be an integer in 0..{len(EPOCH_SECONDS) - 1}")
        self.twin.set_epoch(int(epoch))     # a change refreshes: new shared 1/f draws (device_twin_flicker)
        self._adopt_weights()

    def program_verify(self, row: int, col: int, target: int, tolerance: int, max_retries: int) -> VerifyResult:
        """The program-and-verify engine's loop: write, read back, retry up to max_retries times."""
        for attempt in range(1, max_retries + 2):
            read_back = self.program(row, col, target)
            if verify_passes(read_back, target, tolerance, self.spec.tile.weight_bits):
                return VerifyResult(row, col, True, attempt, read_back)
        return VerifyResult(row, col, False, max_retries + 1, read_back)

    def charges(self, x: np.ndarray) -> np.ndarray:
        """Noise-free integrated charge per step: (steps, batch, cols), int64."""
        drive = np.empty((self.spec.input.steps,) + x.shape, dtype=self._charge_dtype)
        out = np.empty((self.spec.input.steps, x.shape[0], self.spec.tile.cols), dtype=self._charge_dtype)
        return self._charges_into(x, drive, out).astype(np.int64)

    def _charges_into(self, x: np.ndarray, drive: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The charges into `out` (steps, batch, cols) in the charge dtype, `drive` a work array like x per
        step: one BLAS matmul, which is the integer matmul exactly (charge_dtype)."""
        rows, cols = self.spec.tile.rows, self.spec.tile.cols
        narrow = np.int8 if self.spec.input.encoding == "bit_serial" else np.int32
        np.copyto(drive, drive_steps(x, self.spec.input, dtype=narrow), casting="unsafe")
        if self.twin.fraction_bits:     # twin drift: the fine weights summed, each charge rounded once
            out[...] = self.twin.charges(drive)         # (contract.device_twin_drift)
            return out
        np.matmul(drive.reshape(-1, rows), self._weights_f, out=out.reshape(-1, cols))
        return out

    def sample_noise(self, batch: int, out: np.ndarray | None = None) -> np.ndarray:
        """Noise added to each sampled charge, in the ADCs' sampling order: (steps, batch, cols) (into `out`,
        a work array of contract.noise's dtype, when given)."""
        spec = self.spec
        by_adc = self.noise.draw_samples(batch, spec.input.steps, spec.columns_per_adc, out=out)
        if spec.adc.column_assignment == "blocks":              # adc-major order is the column order
            return by_adc
        return by_adc[..., adc_major_index(spec)]               # contract.adc_columns: to tile columns

    def run(self, x: np.ndarray, columns: tuple[int, int] | None = None) -> TileResult:
        """MVMs of x (batch, rows); `columns` is the layer's local column range [lo, hi) (sparsity)."""
        spec = self.spec
        x = check_inputs(x, spec.input, spec.tile.rows)
        if spec.sparsity.any:
            return self._run_sparse(x, conversion_plan(x, spec, columns))
        drive, samples, noise = self._work_arrays(x.shape[0])
        self._charges_into(x, drive, samples)
        samples += self._sized(x, self.sample_noise(x.shape[0], out=noise))
        codes = self._adc_codes(samples)
        acc, overflow = shift_add(codes, step_weights(spec.input), spec)
        return TileResult(codes, acc, overflow)

    def _work_arrays(self, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Drive, samples and noise arrays for a batch, kept for the next call of the same size: fresh
        multi-megabyte arrays on every call cost more in page faults than the arithmetic on them."""
        steps, rows, cols = self.spec.input.steps, self.spec.tile.rows, self.spec.tile.cols
        if not self._work or self._work[0].shape[1] != batch:
            self._work = (np.empty((steps, batch, rows), dtype=self._charge_dtype),
                          np.empty((steps, batch, cols), dtype=self._charge_dtype),
                          np.empty((steps, batch, cols), dtype=noise_dtype(self.noise.multiplier)))
        return self._work

    def _adc_codes(self, samples: np.ndarray) -> np.ndarray:
        """Codes of the samples (..., cols): contract.adc's ideal rule, or with the spec's ADC errors this
        chip's ADCs (contract.adc_errors.convert on the tables the emulated tile compares against)."""
        if self.adc_table is None:
            return adc_code(samples, self.spec.adc)
        return convert(samples, self.adc_table, self.spec.adc)

    def _sized(self, x: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """With twin.read_noise on, each sample's raw draw sized by its column's devices and drive
        (contract.device_read_noise); the draws themselves otherwise."""
        if not read_noise_on(self.spec):
            return noise
        return device_read_noise.sample_noise(self.spec, drive_steps(x, self.spec.input), self.weights, noise)

    def _run_sparse(self, x: np.ndarray, plan: ConversionPlan) -> TileResult:
        """contract.sparsity: only the planned samples draw noise and add into the accumulators."""
        spec = self.spec
        adcs, group = spec.adc.count, spec.columns_per_adc
        order = np.broadcast_to(plan.conversion_order()[:, None, :], plan.samples.shape)
        taken = np.take_along_axis(plan.samples, order, axis=2)          # (batch, steps, j): draw order
        drawn = np.zeros((adcs,) + taken.shape, dtype=np.int64)
        drawn[:, taken] = self.noise.draw(int(taken.sum()))
        noise = np.zeros_like(drawn)
        np.put_along_axis(noise, np.broadcast_to(order, drawn.shape), drawn, axis=3)   # back to positions
        taken = plan.samples
        by_column = adc_major_index(spec)                                # contract.adc_columns
        noise = noise.transpose(2, 1, 0, 3).reshape(spec.input.steps, x.shape[0], adcs * group)[..., by_column]
        codes = self._adc_codes(self.charges(x) + self._sized(x, noise))
        converted = taken.transpose(1, 0, 2)[..., by_column % group]     # (steps, batch, cols)
        codes = np.where(converted, codes, 0)
        fmt = datapath_formats(spec).accumulator
        acc = np.zeros(codes.shape[1:], dtype=np.int64)
        overflow = np.zeros(codes.shape[1:], dtype=bool)
        for code, shift, done in zip(codes, step_weights(spec.input), converted):
            total, clipped = fmt.saturate(acc + (code << shift))
            acc = np.where(done, total, acc)
            overflow |= clipped & done
        return TileResult(codes, acc, overflow, plan)


def _write_target(spec: DesignSpec, target) -> int:
    """A PROG_WRITE target: an integer in -2^(weight_bits-1)..levels (the PROG_WRITE target's range)."""
    low, high = -(1 << (spec.tile.weight_bits - 1)), spec.tile.conductance_levels
    valid = isinstance(target, (int, np.integer)) and not isinstance(target, bool)
    if not valid or not low <= target <= high:
        raise SpecError(f"weight write: target {target!r} must be an integer in {low}..{high} "
                        f"(tile.weight_bits = {spec.tile.weight_bits})")
    return int(target)


def charge_dtype(spec: DesignSpec) -> type:
    """The float type the charges are computed in: float32 when every charge plus noise, and every sum the
    ADC forms from it (q + 2^(lsb_shift-1)), stays below 2^24 in magnitude, so float32 holds each partial sum
    of the matmul exactly and BLAS's result is the integer matmul bit for bit at float32's speed; else float64
    (exact below 2^53; the spec bounds every charge below 2^40)."""
    bound = -datapath_formats(spec).charge.min + (1 << spec.adc.lsb_shift)
    return np.float32 if bound <= 1 << 24 else np.float64


def shift_add(codes: np.ndarray, shifts: np.ndarray, spec: DesignSpec):
    """Saturating accumulation of codes << shift, step by step as the RTL's accumulator does."""
    fmt = datapath_formats(spec).accumulator
    reach = max(-spec.adc.code_min, spec.adc.code_max) * sum(1 << int(k) for k in shifts)
    if -reach >= fmt.min and reach <= min(fmt.max, (1 << 31) - 1):    # nothing can saturate: a weighted sum
        return _weighted_sum(codes, shifts), np.zeros(codes.shape[1:], dtype=bool)
    acc = np.zeros(codes.shape[1:], dtype=np.int64)
    overflow = np.zeros(codes.shape[1:], dtype=bool)
    for code, shift in zip(codes, shifts):                    # steps: at most input.bits - 1
        acc, clipped = fmt.saturate(acc + (code << shift))
        overflow |= clipped
    return acc, overflow


def _weighted_sum(codes: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """sum over steps of codes[k] << shifts[k], int64, through one int32 work array (the caller has checked
    that every partial sum fits both the accumulator and 32 bits)."""
    acc = np.left_shift(codes[0], int(shifts[0]), dtype=np.int64)
    term = np.empty(codes.shape[1:], dtype=np.int32) if len(codes) > 1 else None
    for code, shift in zip(codes[1:], shifts[1:]):
        np.left_shift(code, int(shift), out=term, dtype=np.int32)
        acc += term
    return acc


@dataclass
class AcceleratorResult:
    outputs: np.ndarray            # (batch, logical_cols) output codes
    accumulator: np.ndarray        # (batch, logical_cols) partial sums added over row tiles
    overflow: np.ndarray           # (batch, logical_cols) accumulator saturated somewhere
    output_saturated: np.ndarray   # (batch, logical_cols) output clamped to its width
    tiles: list[TileResult]        # per tile, in tile index order


class GoldenAccelerator:
    """The whole accelerator: a grid of tiles, partial-sum accumulation, per-column post-processing."""

    def __init__(self, spec: DesignSpec, weights: np.ndarray, scale=None, offset=None):
        self.spec = spec
        rows, cols = spec.tile.rows, spec.tile.cols
        w = check_weights(weights, spec, (spec.logical_rows, spec.logical_cols))
        self.tiles = [GoldenTile(spec, w[r * rows:(r + 1) * rows, c * cols:(c + 1) * cols],
                                 r * spec.array.col_tiles + c)
                      for r in range(spec.array.row_tiles) for c in range(spec.array.col_tiles)]
        self.set_coefficients(unity_scale(spec) if scale is None else scale, 0 if offset is None else offset)
        self.tile_gains = None          # the TILE_GAIN window's trims (contract.tile_gain); None: all unity

    def set_coefficients(self, scale, offset) -> None:
        self.scale, self.offset = check_coefficients(self.spec, scale, offset, self.spec.logical_cols)

    def set_tile_gains(self, gains) -> None:
        """The per-row-tile gain trims (TILE_GAIN window, shape (row_tiles - 1, logical_cols))."""
        gains = check_gains(self.spec, gains)
        self.tile_gains = None if np.all(gains == unity_gain(self.spec)) else gains

    def set_weight(self, row: int, col: int, code: int) -> None:
        """Reprogram the weight at logical (row, col): it lives in tile (row // rows, col // cols)."""
        tile, r, c = self._locate(row, col)
        tile.set_weight(r, c, code)

    def program_verify(self, row: int, col: int, target: int, tolerance: int | None = None,
                       max_retries: int | None = None) -> VerifyResult:
        """Program-and-verify of the weight at logical (row, col), as a write of the WEIGHTS window runs it;
        tolerance and max_retries default to the spec's PROG_CTRL reset values (spec.program_verify)."""
        pv = self.spec.program_verify
        tolerance = pv.tolerance if tolerance is None else tolerance
        max_retries = pv.max_retries if max_retries is None else max_retries
        tile, r, c = self._locate(row, col)
        result = tile.program_verify(r, c, target, tolerance, max_retries)
        return VerifyResult(row, col, result.ok, result.attempts, result.read_back)

    def set_drift_epoch(self, epoch: int) -> None:
        """DRIFT_EPOCH of every tile (the register is one for the chip)."""
        for tile in self.tiles:
            tile.set_drift_epoch(epoch)

    def program_weights(self, weights: np.ndarray, tolerance: int | None = None,
                        max_retries: int | None = None) -> "ProgramReport":
        """Program a whole logical matrix in row-major order (the order of the WEIGHTS window's words)."""
        w = check_weights(weights, self.spec, (self.spec.logical_rows, self.spec.logical_cols))
        return ProgramReport([self.program_verify(i, j, int(w[i, j]), tolerance, max_retries)
                              for i in range(w.shape[0]) for j in range(w.shape[1])])

    def _locate(self, row: int, col: int):
        if not (0 <= row < self.spec.logical_rows and 0 <= col < self.spec.logical_cols):
            raise IndexError(f"weight ({row}, {col}) lies outside the {self.spec.logical_rows} x "
                             f"{self.spec.logical_cols} logical matrix")
        rows, cols = self.spec.tile.rows, self.spec.tile.cols
        return self.tiles[(row // rows) * self.spec.array.col_tiles + col // cols], row % rows, col % cols

    def run(self, x: np.ndarray, layer: tuple[int, int] | None = None) -> AcceleratorResult:
        """MVMs of x on the whole grid; `layer` = (start, count) logical columns of the layer descriptor the
        MVM runs under (only sparsity.layer_columns reads it; None: every column)."""
        spec = self.spec
        x = check_inputs(x, spec.input, spec.logical_rows)
        rows, ct = spec.tile.rows, spec.array.col_tiles
        results = [tile.run(x[:, (i // ct) * rows:(i // ct + 1) * rows], local_columns(spec, i % ct, layer))
                   for i, tile in enumerate(self.tiles)]
        cols = spec.tile.cols
        column_groups = []
        for c in range(ct):
            group = results[c::ct]                      # its row tiles, in r order
            column_groups.append(combine_row_tiles([g.accumulator for g in group], [g.overflow for g in group],
                                                   self.tile_gains, spec, slice(c * cols, (c + 1) * cols)))
        if ct == 1:                                     # one column group: its arrays are the chip's
            acc, overflow = column_groups[0]
        else:
            acc = np.concatenate([g[0] for g in column_groups], axis=1)
            overflow = np.concatenate([g[1] for g in column_groups], axis=1)
        outputs, saturated = postprocess(acc, self.scale, self.offset, spec)
        return AcceleratorResult(outputs, acc, overflow, saturated, results)

    def run_layers(self, x: np.ndarray, layers: list[tuple[int, int]]) -> np.ndarray:
        """The layer sequencer: per input vector, layer i is one MVM on the whole grid whose outputs in
        logical columns start..start+count-1 are the layer's result; a result that is not the last becomes
        the next input (rows 0..count-1, the other rows 0, clamped to the input range); count 0 means up to
        the last column, as in the hardware's layer descriptors. Returns the last
        layer's results, shape (batch, last count), and advances the noise exactly as the RTL's MVMs do."""
        spec = self.spec
        if not 1 <= len(layers) <= spec.array.max_layers:
            raise SpecError(f"layers: 1..{spec.array.max_layers} (array.max_layers) layers, got {len(layers)}")
        layers = [(start, count or spec.logical_cols - start) for start, count in layers]
        for i, (start, count) in enumerate(layers):
            if not (0 <= start and 1 <= count and start + count <= spec.logical_cols):
                raise SpecError(f"layer {i}: columns {start}..{start + count - 1} must lie within "
                                f"0..{spec.logical_cols - 1}")
        x = check_inputs(x, spec.input, spec.logical_rows)
        m = spec.input.max_magnitude
        results = []
        for vector in x:
            v = vector[None]
            for i, (start, count) in enumerate(layers):
                out = self.run(v, (start, count)).outputs[0, start:start + count]
                if i < len(layers) - 1:
                    v = np.zeros((1, spec.logical_rows), dtype=np.int64)
                    n = min(count, spec.logical_rows)
                    v[0, :n] = np.clip(out[:n], -m, m)
            results.append(out)
        return np.array(results)


@dataclass
class ProgramReport:
    """Program-and-verify of many weights: what the PROG_* registers report, and the analog yield."""
    results: list[VerifyResult]

    @property
    def failures(self) -> list[VerifyResult]:
        return [r for r in self.results if not r.ok]

    @property
    def writes(self) -> int:
        return sum(r.attempts for r in self.results)

    @property
    def analog_yield(self) -> float:
        return analog_yield(len(self.results), len(self.failures))
