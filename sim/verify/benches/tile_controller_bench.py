"""cocotb bench of the Verilog of `TileController(spec)` (top module `tile_controller`) with a Python macro.

Run it with aimcgen.sim.verify.cocotb_run.run_bench(test_module="aimcgen.sim.verify.benches.tile_controller_bench", ...)
on Verilog from `amaranth.back.verilog.convert(TileController(spec), name="tile_controller")`.

Configuration ($AIMCGEN_BENCH_CONFIG, written by cocotb_run.write_bench_config(path, spec, **fields));
every field is optional:
  seed                        stimulus seed (weights, inputs, bank delays)           default 1
  mvms                        MVMs of the golden tests                                default 12
  weights, vectors            explicit golden-test weights (rows x cols) and inputs (mvms x rows)
  stall_probability           macro ready-low probability in the golden test         default 0.3
  stall_seed                  seed of the macro stalls                                default seed + 1
  bank_delay_max              each result bank is read after 0..this many cycles     default 12
  physics_mvms                MVMs of the physics test                                default 16
  physics_seed                device seed (programming, drift and read noise)         default 7
  physics_t_s                 read time after programming, seconds                    default 1.0
  physics_stall_probability   macro stalls in the physics test                        default 0.1
  physics_tolerance           MAE bound as a multiple of the predicted RMS error      default 1.25

Tests (each records its measured numbers in $AIMCGEN_BENCH_REPORT under its own name):
- test_golden_with_random_stalls: the deterministic MacroModel behind random ready stalls and random bank
  read delays; accumulators and overflow flags equal GoldenTile(spec, w).run(xs) bit for bit.
- test_at_command_bound: no stalls, banks read at once: MVMs start every serial_schedule_commands(spec) cycles
  (the first one tail_commands(spec) sooner: it ends before its last conversion's final comparisons) and
  the macro executes exactly that many commands per MVM (and results still equal the golden model).
- test_programming_port: PROG writes and read-backs through the prog stream, then an MVM on the new
  weights equals the golden model.
- test_physics_macro: PhysicsMacroModel (spec.device, e.g. the PCM preset, read at t = physics_t_s):
  (1) exact: the accumulators equal the codes recomputed in Python from the macro's recorded conductance
  reads (drive pattern from x, float charges, contract.adc thresholds, saturating shift-add);
  (2) statistical: mean |acc * LSB - x @ W| (charge units) <= physics_tolerance x the RMS error predicted
  from the device statistics (programming noise, drift, 1/f read noise per integration) and the ADC's
  quantization (see `physics_error_budget`). Inputs are drawn so that no ideal step charge comes within
  25 % of the ADC's clipping range, which the budget does not model. Calibration of the budget on the
  two test specs (Python reference, 100 device seeds x 48 MVMs): MAE / predicted RMS = 0.55..0.94 at
  t = 1 s and 0.71..0.90 at t = 1 day (a Gaussian error gives 0.80), hence the default factor 1.25.
"""

from __future__ import annotations

import math

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge, SimTimeoutError, Timer, with_timeout

from aimcgen.rtl.row_driver import input_vector_layout
from aimcgen.contract.schedule import drive_cycles, serial_schedule_commands, tail_commands
from aimcgen.rtl.tile_controller import ProgOp, prog_request_layout
from aimcgen.contract.adc import adc_code, conversion_cycles
from aimcgen.sim.verify.cocotb_macro import CocotbAnalogMacro, PhysicsMacroModel, pack, read_signed, read_unsigned
from aimcgen.sim.verify.cocotb_run import load_bench_config, record_bench_report
from aimcgen.contract.encoding import step_weights
from aimcgen.sim.models.golden import GoldenTile, shift_add
from aimcgen.sim.verify.macro_model import MacroModel
from aimcgen.sim.models.physics import codes_to_conductances, programming_noise_sigma, white_read_sigma_us
from aimcgen.spec import DesignSpec

CLOCK_NS = 10


class TileBench:
    """Clock, reset, input and start driver, result bank reader, programming host and macro server."""

    def __init__(self, dut, spec: DesignSpec, model, *, stall_probability: float = 0.0, stall_seed=None,
                 bank_delays=None):
        self.dut, self.spec, self.model = dut, spec, model
        self.x_layout = input_vector_layout(spec)
        self.prog_layout = prog_request_layout(spec)
        self.macro = CocotbAnalogMacro(dut, "analog", model, stall_probability=stall_probability,
                                       seed=stall_seed)
        self.bank_delays = list(bank_delays or [])
        self.cycle = 0
        self.starts: list[int] = []
        for name, value in (("rst", 1), ("start__valid", 0), ("x", 0), ("bank_release", 0), ("rd_col", 0),
                            ("prog__valid", 0), ("prog__payload", 0), ("prog_resp__ready", 0)):
            getattr(dut, name).value = value

    async def _count_cycles(self):
        while True:
            await RisingEdge(self.dut.clk)
            self.cycle += 1

    async def reset(self, cycles: int = 3):
        Clock(self.dut.clk, CLOCK_NS, unit="ns").start()
        cocotb.start_soon(self._count_cycles())
        self.dut.rst.value = 1
        for _ in range(cycles):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0
        self.macro.start()

    async def _until(self, handle) -> None:
        """Wait for the clock edge at which `handle` is high (sampled settled, before the edge)."""
        while True:
            await ReadOnly()
            high = read_unsigned(handle)
            await RisingEdge(self.dut.clk)
            if high:
                return

    # -- MVMs
    async def feed(self, xs) -> None:
        dut = self.dut
        for x in xs:
            dut.x.value = pack(self.x_layout, [int(v) for v in x])
            dut.start__valid.value = 1
            await self._until(dut.start__ready)
            self.starts.append(self.cycle)
            dut.start__valid.value = 0
            await self._until(dut.x_done)

    async def read_banks(self, count: int):
        """Read `count` result banks: all columns in the cycle bank_valid is seen (after its delay), then a
        one-cycle bank_release. Columns are read through the combinational rd_col -> rd_acc path at 1 ps
        steps inside that cycle."""
        dut, cols = self.dut, self.spec.tile.cols
        acc = np.zeros((count, cols), dtype=np.int64)
        ovf = np.zeros((count, cols), dtype=bool)
        for m in range(count):
            while True:
                await ReadOnly()
                if read_unsigned(dut.bank_valid):
                    break
                await RisingEdge(dut.clk)
            delay = self.bank_delays[m] if m < len(self.bank_delays) else 0
            for _ in range(delay):
                await RisingEdge(dut.clk)
            await Timer(1, unit="ps")                    # leave ReadOnly: writes are allowed again
            for c in range(cols):
                dut.rd_col.value = c
                await Timer(1, unit="ps")
                acc[m, c], ovf[m, c] = read_signed(dut.rd_acc), bool(read_unsigned(dut.rd_overflow))
            dut.bank_release.value = 1
            await RisingEdge(dut.clk)
            dut.bank_release.value = 0
        return acc, ovf

    async def run_mvms(self, xs, *, timeout_cycles: int | None = None):
        """MVMs xs back to back; returns (accumulators, overflow flags), both (len(xs), cols)."""
        if timeout_cycles is None:
            stall = self.macro.stall_probability
            per_mvm = serial_schedule_commands(self.spec) / (1.0 - stall) + self.spec.tile.cols
            timeout_cycles = int(4 * per_mvm * len(xs) + 2 * sum(self.bank_delays) + 200)
        feeder = cocotb.start_soon(self.feed(xs))
        try:
            acc, ovf = await with_timeout(self.read_banks(len(xs)), timeout_cycles * CLOCK_NS, "ns")
        except SimTimeoutError:
            raise AssertionError(f"timed out after {timeout_cycles} cycles: {len(self.starts)} of {len(xs)} "
                                 f"MVMs started, macro accepted {self.macro.commands} commands") from None
        await feeder
        return acc, ovf

    # -- programming port
    async def prog(self, op: ProgOp, row: int, col: int, target: int = 0) -> int | None:
        dut = self.dut
        dut.prog__payload.value = pack(self.prog_layout, {"op": op.value, "row": row, "col": col,
                                                          "target": target})
        dut.prog__valid.value = 1
        await self._until(dut.prog__ready)
        dut.prog__valid.value = 0
        if op != ProgOp.READ:
            return None
        dut.prog_resp__ready.value = 1
        while True:
            await ReadOnly()
            valid = read_unsigned(dut.prog_resp__valid)
            data = read_signed(dut.prog_resp__payload)
            await RisingEdge(dut.clk)
            if valid:
                dut.prog_resp__ready.value = 0
                return data


# ----------------------------------------------------------------------------- stimulus and checks

def random_weights(spec: DesignSpec, rng: np.random.Generator) -> np.ndarray:
    levels = spec.tile.conductance_levels
    return rng.integers(-levels, levels + 1, (spec.tile.rows, spec.tile.cols))


def golden_stimulus(spec: DesignSpec, cfg: dict):
    rng = np.random.default_rng(cfg.get("seed", 1))
    w = np.array(cfg["weights"], dtype=np.int64) if "weights" in cfg else random_weights(spec, rng)
    m = spec.input.max_magnitude
    if "vectors" in cfg:
        xs = np.array(cfg["vectors"], dtype=np.int64)
    else:
        xs = rng.integers(-m, m + 1, (cfg.get("mvms", 12), spec.tile.rows))
        xs[0] = m                                  # the extremes too: all rows full scale, then all zero
        if len(xs) > 1:
            xs[1] = 0
    return w, xs


def _cycle_drive(spec: DesignSpec, x: np.ndarray, step: int, cycle: int) -> np.ndarray:
    """Signed drive (-1, 0, 1) of each row in drive cycle `cycle` of step `step` (contract.encoding, per cycle)."""
    top = spec.input.max_magnitude
    magnitude = np.minimum(np.abs(x), top)
    if spec.input.encoding == "pwm":
        enabled = (magnitude > cycle).astype(np.float64)
    else:
        enabled = ((magnitude >> step) & 1).astype(np.float64)
    return np.where(x < 0, -enabled, enabled)


def _ideal_step_charges(spec: DesignSpec, w: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.array([sum(_cycle_drive(spec, x, k, c) for c in range(drive_cycles(spec))) @ w
                     for k in range(spec.input.steps)])


def physics_stimulus(spec: DesignSpec, w: np.ndarray, rng: np.random.Generator, count: int,
                     margin: float = 0.75, density: float = 0.5) -> np.ndarray:
    """Sparse random inputs whose ideal step charges stay within `margin` of the ADC range (no clipping)."""
    adc = spec.adc
    lsb = 1 << adc.lsb_shift
    low, high = margin * adc.code_min * lsb, margin * (adc.code_max + 1) * lsb
    m = spec.input.max_magnitude
    xs = []
    for _ in range(2000 * count):
        x = rng.integers(-m, m + 1, spec.tile.rows) * (rng.random(spec.tile.rows) < density)
        q = _ideal_step_charges(spec, w, x)
        if q.min() >= low and q.max() <= high and np.any(x):
            xs.append(x)
            if len(xs) == count:
                return np.array(xs, dtype=np.int64)
    raise ValueError(f"{spec.name}: found only {len(xs)} of {count} inputs that keep every ideal step charge "
                     f"inside {margin:.0%} of the ADC range; lower the density or widen adc.full_scale")


def check_equal(got_acc, got_ovf, expected_acc, expected_ovf, xs, what: str) -> None:
    """Assert bit equality; the message names the first mismatching vector, column, expected and got."""
    bad = np.argwhere((got_acc != expected_acc) | (got_ovf != expected_ovf))
    if len(bad):
        m, c = bad[0]
        raise AssertionError(
            f"{what}: {len(bad)} mismatching accumulator(s); first at vector {m} (x = {xs[m].tolist()}), "
            f"column {c}: expected acc {expected_acc[m, c]} overflow {bool(expected_ovf[m, c])}, got acc "
            f"{got_acc[m, c]} overflow {bool(got_ovf[m, c])}")


def physics_expected(spec: DesignSpec, xs: np.ndarray, model: PhysicsMacroModel):
    """The exact accumulators the RTL must produce with this physics macro: recomputed from x (the drive
    pattern the row drivers must produce) and the macro's recorded conductance reads."""
    steps, drive, cols = spec.input.steps, drive_cycles(spec), spec.tile.cols
    records = model.integrations
    if len(records) != len(xs) * steps * drive:
        raise AssertionError(f"physics macro saw {len(records)} INTEGRATE commands, expected "
                             f"{len(xs)} MVMs x {steps} steps x {drive} = {len(xs) * steps * drive}")
    charges = np.zeros((steps, len(xs), cols))
    i = 0
    for m, x in enumerate(xs):
        for k in range(steps):
            charge = np.zeros(cols, dtype=np.float64)
            for c in range(drive):
                rec = records[i]
                i += 1
                d = _cycle_drive(spec, x, k, c)
                pins = (sum(1 << r for r in range(len(d)) if d[r] != 0),
                        sum(1 << r for r in range(len(x)) if x[r] < 0))
                if rec.start != (c == 0) or (rec.row_en, rec.row_sign) != pins:
                    raise AssertionError(
                        f"vector {m} (x = {x.tolist()}) step {k} drive cycle {c}: expected INTEGRATE start="
                        f"{int(c == 0)} row_en={pins[0]:#x} row_sign={pins[1]:#x}, got start={rec.start} "
                        f"row_en={rec.row_en:#x} row_sign={rec.row_sign:#x}")
                charge = charge + d @ rec.conductances
            charges[k, m] = charge
    codes = adc_code(charges, spec.adc)
    acc, ovf = shift_add(codes, step_weights(spec.input), spec)
    return acc, ovf, charges


def _rectified(mu, sigma):
    """Mean and variance of max(mu + sigma N(0,1), 0) (programming noise clamped at 0 uS)."""
    mu, sigma = np.broadcast_arrays(np.asarray(mu, float), np.asarray(sigma, float))
    s = np.where(sigma > 0, sigma, 1.0)
    a = -mu / s
    phi = np.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + np.vectorize(math.erf)(a / math.sqrt(2)))
    mean = mu * (1 - cdf) + s * phi
    second = (mu * mu + s * s) * (1 - cdf) + mu * s * phi
    mean = np.where(sigma > 0, mean, np.maximum(mu, 0))
    var = np.where(sigma > 0, np.maximum(second - mean * mean, 0), 0)
    return mean, var


def physics_error_budget(spec: DesignSpec, w: np.ndarray, xs: np.ndarray, t_s: float):
    """Predicted bias and variance of (acc * LSB - x @ W), charge units, per (vector, column).

    Device part, per device pair in code units (1 code = g_max / levels): programming noise (the
    spec's polynomial sigma, clamped at 0: a rectified Gaussian), drift ((t + t0)/t0)^-nu with a Gaussian
    exponent nu ~ N(mu(g), sigma(g)) (a log-normal factor: bias and spread), and the accumulated 1/f read
    noise Q(g) sqrt(ln((t + t0 + t_r)/2t_r)) |G| plus white read noise, drawn afresh in every integration.
    Programming noise adds with weight x_i; read noise adds per drive cycle with the step's shift-add
    weight 4^k. Quantization: a floor ADC (sar, ramp) loses U(0, 1) LSB per step (mean -LSB/2), a flash
    ADC rounds (mean 0); variance LSB^2/12; step k weighs 2^k. Neglected: stuck devices and relaxation (zero in the PCM preset), the drift of a
    device's read noise and clipping (the stimulus avoids it). No drift compensation is applied, so at
    long t_s the drift bias dominates the budget.
    """
    dev, levels = spec.device, spec.tile.conductance_levels
    unit = dev.g_max_us / levels
    g_plus, g_minus = codes_to_conductances(np.maximum(w, 0), np.maximum(-w, 0), levels, dev)
    t0 = dev.drift_t0_s
    c, e, q_max = dev.read_noise_q
    read_scale = math.sqrt(math.log((t_s + t0 + dev.t_read_s) / (2.0 * dev.t_read_s)))
    pair_mean, prog_var, read_var = 0.0, 0.0, 0.0
    for sign, g_t in ((1, g_plus), (-1, g_minus)):
        mean, var = _rectified(g_t, programming_noise_sigma(g_t, dev))
        g = np.maximum(g_t / dev.g_max_us, 1e-7)
        a, b, lo, hi = dev.drift_mu
        nu_mu = np.clip(a * np.log(g) + b, lo, hi)
        a, b, lo, hi = dev.drift_sigma
        nu_sigma = np.clip(a * np.log(g) + b, lo, hi)
        # G_prog ((t + t0)/t0)^-nu with nu ~ N(mu, sigma) (|nu| ignored: mu >> sigma): a log-normal factor.
        log_t = math.log((t_s + t0) / t0)
        factor = np.exp(-nu_mu * log_t + 0.5 * (nu_sigma * log_t) ** 2)
        factor_var = factor ** 2 * np.expm1((nu_sigma * log_t) ** 2)
        pair_mean = pair_mean + sign * mean * factor
        prog_var = prog_var + (var + mean ** 2) * (factor ** 2 + factor_var) - (mean * factor) ** 2
        q = np.minimum(c / np.maximum((mean / dev.g_max_us) ** e, 1e-3), q_max) if c else 0.0
        # 1/f: the whole accumulated part (shared by the reads of a time point, still an error against the
        # ideal product); white read noise: additive, read_noise_rel g_max / sqrt(2) per device.
        read_sigma = q * read_scale * mean * factor
        read_var = read_var + read_sigma ** 2 + white_read_sigma_us(dev) ** 2
    bias_w = pair_mean / unit - w                       # (rows, cols) mean deviation in codes
    prog_var, read_var = prog_var / unit ** 2, read_var / unit ** 2

    steps, drive = spec.input.steps, drive_cycles(spec)
    shifts = 2.0 ** step_weights(spec.input)
    lsb = float(1 << spec.adc.lsb_shift)
    q_mean = 0.0 if spec.adc.kind == "flash" else -lsb / 2 * shifts.sum()
    q_var = lsb ** 2 / 12 * (shifts ** 2).sum()
    bias = np.zeros((len(xs), spec.tile.cols))
    var = np.zeros_like(bias)
    for m, x in enumerate(xs):
        x = x.astype(np.float64)
        bias[m] = x @ bias_w + q_mean
        read = sum(shifts[k] ** 2 * _cycle_drive(spec, xs[m], k, cyc) ** 2
                   for k in range(steps) for cyc in range(drive))
        var[m] = (x * x) @ prog_var + read @ read_var + q_var
    return bias, var


# ----------------------------------------------------------------------------- tests

@cocotb.test()
async def test_golden_with_random_stalls(dut):
    spec, cfg = load_bench_config()
    w, xs = golden_stimulus(spec, cfg)
    seed = cfg.get("seed", 1)
    delays = np.random.default_rng(seed + 2).integers(0, cfg.get("bank_delay_max", 12) + 1, len(xs))
    tb = TileBench(dut, spec, MacroModel(spec, w), stall_probability=cfg.get("stall_probability", 0.3),
                   stall_seed=cfg.get("stall_seed", seed + 1), bank_delays=delays.tolist())
    await tb.reset()
    start = tb.cycle
    acc, ovf = await tb.run_mvms(xs)
    golden = GoldenTile(spec, w).run(xs)
    check_equal(acc, ovf, golden.accumulator, golden.overflow, xs, f"{spec.name} golden, random stalls")
    assert tb.macro.commands == serial_schedule_commands(spec) * len(xs), (
        f"macro executed {tb.macro.commands} commands for {len(xs)} MVMs, expected "
        f"{serial_schedule_commands(spec)} per MVM")
    record_bench_report("test_golden_with_random_stalls", {
        "mvms": len(xs), "cycles": tb.cycle - start, "commands": tb.macro.commands,
        "overflows": int(ovf.sum())})


@cocotb.test()
async def test_at_command_bound(dut):
    spec, cfg = load_bench_config()
    w, xs = golden_stimulus(spec, {**cfg, "seed": cfg.get("seed", 1) + 10})
    tb = TileBench(dut, spec, MacroModel(spec, w))
    await tb.reset()
    acc, ovf = await tb.run_mvms(xs)
    golden = GoldenTile(spec, w).run(xs)
    check_equal(acc, ovf, golden.accumulator, golden.overflow, xs, f"{spec.name} golden, no stalls")
    bound, tail = serial_schedule_commands(spec), tail_commands(spec)
    periods = np.diff(tb.starts).tolist()
    assert periods == [bound - tail] + [bound] * (len(xs) - 2), (
        f"MVM start periods {periods}, expected {bound} cycles each (the serial command bound: "
        f"{spec.input.steps} steps x ({drive_cycles(spec)} INTEGRATE + {spec.columns_per_adc} x "
        f"{conversion_cycles(spec.adc)} ADC commands)), the first {tail} fewer")
    assert tb.macro.commands == bound * len(xs)
    record_bench_report("test_at_command_bound", {"mvms": len(xs), "cycles_per_mvm": bound})


@cocotb.test()
async def test_programming_port(dut):
    spec, cfg = load_bench_config()
    rng = np.random.default_rng(cfg.get("seed", 1) + 20)
    w = random_weights(spec, rng)
    model = MacroModel(spec, w)
    tb = TileBench(dut, spec, model, stall_probability=0.2, stall_seed=cfg.get("seed", 1) + 21)
    await tb.reset()
    levels = spec.tile.conductance_levels
    cells = {(int(rng.integers(spec.tile.rows)), int(rng.integers(spec.tile.cols))) for _ in range(6)}
    cells |= {(0, 0), (spec.tile.rows - 1, spec.tile.cols - 1)}
    written = {}
    for row, col in sorted(cells):
        target = int(rng.integers(-levels, levels + 1))
        await tb.prog(ProgOp.WRITE, row, col, target)
        written[(row, col)] = target
    for (row, col), target in written.items():
        got = await tb.prog(ProgOp.READ, row, col)
        assert got == target, f"PROG_READ ({row}, {col}): expected {target}, got {got}"
        w[row, col] = target
    np.testing.assert_array_equal(model.weights, w)
    _, xs = golden_stimulus(spec, {**cfg, "seed": cfg.get("seed", 1) + 22, "mvms": 3})
    acc, ovf = await tb.run_mvms(xs)
    golden = GoldenTile(spec, w).run(xs)
    check_equal(acc, ovf, golden.accumulator, golden.overflow, xs, f"{spec.name} after programming")
    record_bench_report("test_programming_port", {"cells": len(written)})


@cocotb.test()
async def test_physics_macro(dut):
    spec, cfg = load_bench_config()
    rng = np.random.default_rng(cfg.get("seed", 1) + 30)
    w = random_weights(spec, rng)
    xs = physics_stimulus(spec, w, rng, cfg.get("physics_mvms", 16))
    t_s = float(cfg.get("physics_t_s", 1.0))
    model = PhysicsMacroModel(spec, w, seed=cfg.get("physics_seed", 7), t_s=t_s)
    tb = TileBench(dut, spec, model, stall_probability=cfg.get("physics_stall_probability", 0.1),
                   stall_seed=cfg.get("seed", 1) + 31)
    await tb.reset()
    acc, ovf = await tb.run_mvms(xs)

    # (1) exact, against the same physics draws
    expected, expected_ovf, charges = physics_expected(spec, xs, model)
    check_equal(acc, ovf, expected, expected_ovf, xs, f"{spec.name} physics ({spec.device.model}, t={t_s} s)")

    # (2) statistical, against the ideal x @ W
    lsb = 1 << spec.adc.lsb_shift
    error = acc * lsb - xs @ w
    bias, var = physics_error_budget(spec, w, xs, t_s)
    rms_pred = float(np.sqrt(np.mean(bias ** 2 + var)))
    mae = float(np.mean(np.abs(error)))
    tolerance = float(cfg.get("physics_tolerance", 1.25)) * rms_pred
    ideal = float(np.mean(np.abs(xs @ w)))
    report = {"mvms": len(xs), "mae_charge": mae, "predicted_rms_charge": rms_pred, "tolerance": tolerance,
              "mean_error": float(error.mean()), "predicted_mean_error": float(bias.mean()),
              "mean_abs_ideal": ideal, "lsb": lsb, "device": spec.device.model, "t_s": t_s}
    record_bench_report("test_physics_macro", report)
    dut._log.info("physics macro: %s", report)
    assert mae <= tolerance, (
        f"{spec.name} physics: mean |acc x LSB - x @ W| = {mae:.3f} charge units exceeds {tolerance:.3f} "
        f"(= {cfg.get('physics_tolerance', 1.25)} x predicted RMS error {rms_pred:.3f} from device noise, "
        f"drift and ADC quantization); mean error {error.mean():.3f}, predicted {bias.mean():.3f}")
