"""The accelerator bench: clock and reset, a Wishbone master that speaks register names, an input stream
driver and an output stream monitor with random stalls, Python macros behind the analog ports of the
periphery top, and the scoreboard; plus the stimulus (random weights, inputs, coefficients, layer chains)
and the coverage of what the bench did. The cocotb tests (sim.verify.benches.accelerator_bench) are
scenarios written with it.

The DUT's memories (weights, coefficients) keep their contents across resets and so across tests: the bench
keeps a shadow of them (module state) and programs only what changes. With the digital twin on (spec
[twin]) the shadow holds the weights' targets and, beside them, the golden model's device state, which
every test's scoreboard adopts (sim.verify.accelerator_scoreboard).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from amaranth.hdl import signed

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, SimTimeoutError, with_timeout

from aimcgen.contract.aimc_registers import aimc_register_map, col_stride
from aimcgen.contract.device_twin import twin_active
from aimcgen.contract.formats import datapath_formats
from aimcgen.contract.postproc import unity_scale
from aimcgen.contract.register_map import RegisterMap
from aimcgen.rtl.accelerator_core import output_layout
from aimcgen.sim.verify.accelerator_config import emulated_mvm_cycles, setting
from aimcgen.sim.verify.accelerator_coverage import global_coverage
from aimcgen.sim.verify.accelerator_scoreboard import Expectation, Scoreboard
from aimcgen.sim.verify.cocotb_macro import CocotbAnalogMacro
from aimcgen.sim.verify.cocotb_run import CONFIG_ENV, load_bench_config, record_bench_report
from aimcgen.sim.verify.cocotb_streams import StreamDriver, StreamMonitor, sim_cycle
from aimcgen.sim.verify.cocotb_wishbone import RegisterAccess, WishboneMaster
from aimcgen.sim.verify.macro_model import MacroModel
from aimcgen.spec import DesignSpec

CLOCK_NS = 10

_SHADOW: dict = {}          # "weights", "scale", "offset": what the DUT's memories hold


def memory_shadow(spec: DesignSpec) -> dict:
    """What the DUT's memories hold ("weights", "scale", "offset"), kept across the tests of a run."""
    if not _SHADOW:
        _SHADOW["weights"] = np.zeros((spec.logical_rows, spec.logical_cols), dtype=np.int64)
        _SHADOW["scale"] = np.full(spec.logical_cols, unity_scale(spec), dtype=np.int64)
        _SHADOW["offset"] = np.zeros(spec.logical_cols, dtype=np.int64)
    return _SHADOW


class AcceleratorBench:
    """Clock, reset, Wishbone master (by register name), input driver, output monitor, scoreboard."""

    def __init__(self, dut, spec: DesignSpec, cfg: dict, test: str, *, models=None):
        self.dut, self.spec, self.cfg, self.test = dut, spec, cfg, test
        self.coverage = global_coverage(spec)
        self.seed = int(cfg.get("seed", 1)) * 1000 + sum(map(ord, test))
        self.rng = np.random.default_rng(self.seed)
        self.wb = WishboneMaster(dut, timeout_cycles=200_000)
        if cfg.get("regmap_json"):
            self.regs = RegisterAccess.from_json(self.wb, Path(cfg["regmap_json"]))
        else:
            self.regs = RegisterAccess(self.wb, aimc_register_map(spec))
        self.map: RegisterMap = self.regs.map
        self.driver = StreamDriver(dut, "inp", shape=spec_input_shape(spec),
                                   stall_probability=float(setting(cfg, spec, "stall_in")), seed=self.seed + 1,
                                   period_ns=CLOCK_NS)
        self.monitor = StreamMonitor(dut, "out", shape=output_layout(spec),
                                     stall_probability=float(setting(cfg, spec, "stall_out")), seed=self.seed + 2,
                                     period_ns=CLOCK_NS, on_packet=self._on_packet)
        shadow = memory_shadow(spec)
        self.shadow = shadow
        self.twin = twin_active(spec)
        self.scoreboard = Scoreboard(spec, test, self.coverage, shadow["weights"], shadow["scale"],
                                     shadow["offset"], shadow.get("devices"))
        if self.twin:
            shadow["devices"] = self.scoreboard.devices()
        self.analog = hasattr(dut, "analog_0__cmd__valid")
        self.macros = []
        self.models = models
        if self.analog:
            if self.models is None:
                self.models = [MacroModel(spec, self.tile_weights(i), tile_index=i) for i in range(spec.tiles)]
            for i, model in enumerate(self.models):
                self.macros.append(CocotbAnalogMacro(dut, f"analog_{i}", model,
                                                     stall_probability=float(setting(cfg, spec, "macro_stall")),
                                                     seed=self.seed + 10 + i))
        self.out_stream = True              # CONFIG.out_stream after reset
        self.expected_out_count = 0
        self.stream_inputs = 0              # input packets queued on the driver
        self.in_flight: list[Expectation] = []
        self._between: set[str] = set()
        self._last_mode: str | None = None
        self._had_mvm = False
        self._started_only = False
        self.start_cycle = 0
        dut.rst.value = 1

    # -- helpers
    def tile_weights(self, i: int) -> np.ndarray:
        spec = self.spec
        R, C = spec.tile.rows, spec.tile.cols
        r, c = divmod(i, spec.array.col_tiles)
        return self.shadow["weights"][r * R:(r + 1) * R, c * C:(c + 1) * C].copy()

    @property
    def cycle(self) -> int:
        return sim_cycle(CLOCK_NS)

    def hit(self, point: str, b: str, count: int = 1) -> None:
        self.coverage.hit(point, b, count)

    async def within(self, awaitable, cycles: int, what: str):
        try:
            return await with_timeout(awaitable, int(cycles) * CLOCK_NS, "ns")
        except SimTimeoutError:
            self.scoreboard.raise_failures()
            raise AssertionError(
                f"{self.test}: {what}: timed out after {int(cycles)} cycles; {self.progress()}") from None

    def progress(self) -> str:
        return (f"input packets sent {self.driver.stats.packets} of {self.stream_inputs}, output vectors "
                f"received {self.monitor.stats.packets} (+{len(self.monitor.partial.values)} beats of an "
                f"unfinished one), {len(self.scoreboard.stream_queue)} still expected, "
                f"{self.wb.accesses} bus accesses")

    def mvm_budget(self, count: int = 1) -> int:
        spec = self.spec
        slow = (1 - float(setting(self.cfg, spec, "stall_in"))) * (1 - float(setting(self.cfg, spec, "stall_out")))
        if self.analog:
            slow *= 1 - float(setting(self.cfg, spec, "macro_stall"))
        per = emulated_mvm_cycles(spec) / max(slow, 0.05)
        return int(4 * per * count + 20 * spec.logical_rows + 5000)

    # -- start and finish
    async def start(self) -> None:
        dut = self.dut
        Clock(dut.clk, CLOCK_NS, unit="ns").start()
        dut.rst.value = 1
        for _ in range(3):
            await RisingEdge(dut.clk)
        dut.rst.value = 0
        for macro in self.macros:
            macro.start()
        self.driver.start()
        self.monitor.start()
        await RisingEdge(dut.clk)
        self.start_cycle = self.cycle

    async def finish(self, *, check_flags: bool = True, **report) -> dict:
        """Wait until idle, check OUT_COUNT and the sticky error flags, record stats and coverage."""
        await self.wait_idle()
        self.scoreboard.raise_failures()
        count = await self.regs.read("OUT_COUNT")
        assert count == self.expected_out_count, (
            f"{self.test}: OUT_COUNT = {count}, expected {self.expected_out_count} output vectors")
        if check_flags:
            await self.check_error_flags()
        self.record_stream_coverage()
        data = {"cycles": self.cycle - self.start_cycle, "checked_vectors": self.scoreboard.checked,
                "bus_accesses": self.wb.accesses, "input": self.driver.stats.as_dict(),
                "output": self.monitor.stats.as_dict(), **report}
        record_bench_report(self.test, data)
        self.dut._log.info("%s: %s", self.test, data)
        self.driver.stop()
        self.monitor.stop()
        for macro in self.macros:
            macro.stop()
        return data

    def record_stream_coverage(self) -> None:
        i, o = self.driver.stats, self.monitor.stats
        for b, n in (("source_stall", i.stall_cycles), ("backpressure", i.backpressure_cycles),
                     ("back_to_back", i.back_to_back), ("vector_waited", i.packet_start_waits)):
            if n:
                self.hit("stall.input", b, n)
        for b, n in (("sink_stall", o.stall_cycles), ("back_to_back", o.back_to_back)):
            if n:
                self.hit("stall.output", b, n)

    async def check_error_flags(self, *, bus_error: bool = False, prog_verify_fail: bool | None = None,
                                start_dropped: bool = False) -> dict:
        flags = await self.regs.read_fields("ERRORS")
        if prog_verify_fail is None:            # what the golden model's program-and-verify saw
            prog_verify_fail = self.scoreboard.any_prog_failure
        expected = {"acc_overflow": int(self.scoreboard.any_overflow),
                    "output_saturated": int(self.scoreboard.any_saturated),
                    "prog_verify_fail": int(prog_verify_fail), "bus_error": int(bus_error),
                    "start_dropped": int(start_dropped)}
        assert flags == expected, (f"{self.test}: ERRORS = {flags}, expected {expected} (the golden model saw "
                                   f"accumulator overflow: {self.scoreboard.any_overflow}, output saturation: "
                                   f"{self.scoreboard.any_saturated})")
        return flags

    async def clear_errors(self) -> None:
        await self.regs.write("ERRORS", acc_overflow=1, output_saturated=1, prog_verify_fail=1, bus_error=1,
                              start_dropped=1)
        self.scoreboard.any_overflow = self.scoreboard.any_saturated = self.scoreboard.any_prog_failure = False

    # -- sequences (coverage of what the bench did)
    def _begin_mvm(self, mode: str) -> None:
        if self._had_mvm:
            if "PROG" in self._between:
                self.hit("sequence", "MVM->PROG->MVM")
            if "COEF" in self._between:
                self.hit("sequence", "MVM->COEF->MVM")
        if "BUS_ERROR" in self._between:
            self.hit("sequence", "BUS_ERROR->MVM")
        if self._last_mode == "stream" and mode == "register":
            self.hit("sequence", "STREAM->REGISTER")
        elif self._last_mode == "register" and mode == "stream":
            self.hit("sequence", "REGISTER->STREAM")
        self._between.clear()
        self._last_mode = mode
        self._had_mvm = True

    def _on_packet(self, packet) -> None:
        e = self.scoreboard.on_stream_packet(packet)
        if packet.cycles[-1] - packet.cycles[0] + 1 > len(packet.cycles):
            self.hit("stall.output", "stall_then_resume")
        if e is None:
            return
        if e in self.in_flight:
            self.in_flight.remove(e)
        if e.input_packet is not None:
            sent = self.driver.sent
            nxt = e.input_packet + 1
            if nxt < len(sent) and sent[nxt].last_cycle < packet.first_cycle:
                self.hit("sequence", "MVM->MVM")
            if e.input_packet < len(sent):
                prev_out = getattr(self, "_prev_out_cycle", None)
                first_in = sent[e.input_packet].first_cycle
                if prev_out is None or first_in > prev_out:
                    self.hit("sequence", "IDLE->MVM")
        self._prev_out_cycle = packet.last_cycle

    # -- weights and coefficients
    async def write_weight(self, row: int, col: int, value: int, *, lands_as: int | None = None) -> None:
        """One WEIGHTS window write (program-and-verify in the DUT and in the golden model); `lands_as`: the
        code an exact device holds (checked against the golden model when the twin is off)."""
        await self.regs.write_window("WEIGHTS", row * col_stride(self.spec) + col, int(value))
        result = self.scoreboard.write_weight(row, col, int(value))
        if not self.twin:
            landed = int(value) if lands_as is None else lands_as
            assert result.read_back == landed, (f"{self.test}: the golden model lands weight {value} at ({row}, "
                                                f"{col}) as {result.read_back}, the bench expected {landed}")
        # The twin's shadow holds the target (as a device pair can hold it), the golden devices what landed.
        levels = self.spec.tile.conductance_levels
        self.shadow["weights"][row, col] = max(int(value), -levels) if self.twin else result.read_back
        if self._had_mvm:
            self._between.add("PROG")

    async def program_weights(self, w: np.ndarray) -> int:
        """Write every weight that differs from what the DUT holds; returns the number of writes."""
        w = np.asarray(w, dtype=np.int64)
        changed = np.argwhere(w != self.shadow["weights"])
        for r, c in changed:
            await self.write_weight(int(r), int(c), int(w[r, c]))
        return len(changed)

    async def load_coefficients(self, scale=None, offset=None, *, read_back: bool = False) -> int:
        spec = self.spec
        scale = self.shadow["scale"] if scale is None else np.broadcast_to(np.asarray(scale, np.int64),
                                                                            (spec.logical_cols,))
        offset = self.shadow["offset"] if offset is None else np.broadcast_to(np.asarray(offset, np.int64),
                                                                               (spec.logical_cols,))
        writes = 0
        for name, new, key in (("SCALE", scale, "scale"), ("OFFSET", offset, "offset")):
            for c in np.flatnonzero(new != self.shadow[key]):
                await self.regs.write_window(name, int(c), int(new[c]))
                self.shadow[key][c] = new[c]
                writes += 1
        self.scoreboard.set_coefficients(self.shadow["scale"].copy(), self.shadow["offset"].copy())
        if writes and self._had_mvm:
            self._between.add("COEF")
        if read_back:
            for name, key in (("SCALE", "scale"), ("OFFSET", "offset")):
                for c in range(spec.logical_cols):
                    got = await self.regs.read_window(name, c)
                    assert got == self.shadow[key][c], (f"{self.test}: {name}[{c}] reads back {got}, expected "
                                                        f"{int(self.shadow[key][c])} (the value written)")
        return writes

    async def set_out_stream(self, enable: bool) -> None:
        await self.regs.write("CONFIG", out_stream=int(enable))
        self.out_stream = enable

    # -- MVMs
    def stream_mvms(self, xs, label: str = "stream MVM") -> list[Expectation]:
        """Queue vectors on the input stream (each an MVM); outputs are checked as they arrive."""
        out = []
        for x in np.asarray(xs, dtype=np.int64):
            self._begin_mvm("stream")
            e = self.scoreboard.mvm(x, f"{label} {self.scoreboard.issued}", stream=self.out_stream,
                                    input_packet=self.stream_inputs)
            self.driver.send([int(v) for v in x], tag=e.number)
            self.stream_inputs += 1
            self.expected_out_count += 1
            self.in_flight.append(e)
            out.append(e)
        return out

    def stream_unchecked(self, xs) -> None:
        """Queue vectors with no golden model behind them (the scoreboard stops listening): the caller checks
        what arrives in monitor.packets."""
        self.monitor.on_packet = None
        for x in np.asarray(xs, dtype=np.int64):
            self.driver.send([int(v) for v in x])
            self.stream_inputs += 1
            self.expected_out_count += 1

    def stream_chain(self, x, layers, label: str) -> Expectation:
        self._begin_mvm("stream")
        e = self.scoreboard.chain(x, layers, label, stream=self.out_stream, input_packet=self.stream_inputs)
        self.driver.send([int(v) for v in np.asarray(x)], tag=e.number)
        self.stream_inputs += 1
        self.expected_out_count += 1
        self.in_flight.append(e)
        return e

    async def wait_outputs(self) -> None:
        """Wait until every vector issued so far has been taken and every expected output has arrived."""
        pending = len(self.scoreboard.stream_queue)
        target = self.monitor.stats.packets + pending
        await self.within(self.driver.wait_idle(), self.mvm_budget(max(1, self.driver.pending)),
                          "input stream")
        await self.within(self.monitor.wait_packets(target), self.mvm_budget(max(1, pending)),
                          f"waiting for {pending} output vector(s)")
        self.scoreboard.raise_failures()

    async def wait_idle(self) -> None:
        await self.wait_outputs()
        for _ in range(100_000):
            status = await self.regs.read_fields("STATUS")
            if not status["busy"] and not status["prog_busy"]:
                break
        else:
            raise AssertionError(f"{self.test}: STATUS stays busy: {status}")
        self.in_flight.clear()

    async def wait_out_count(self, count: int) -> None:
        for _ in range(self.mvm_budget()):
            if await self.regs.read("OUT_COUNT") >= count:
                return
        raise AssertionError(f"{self.test}: OUT_COUNT never reached {count}; {self.progress()}")

    async def register_mvm(self, x, *, layers=None, label: str | None = None, start_only: bool = False):
        """INPUT window writes + CTRL.start, then (unless start_only) wait for OUT_COUNT and read OUTPUT."""
        x = np.asarray(x, dtype=np.int64)
        mode_before = self._last_mode
        self._begin_mvm("register")
        if mode_before == "register":
            self.hit("sequence", "REGISTER->REGISTER")
        if self._started_only:
            self.hit("sequence", "MVM->MVM")            # loaded while the previous register MVM runs
        elif not self.in_flight and not self.driver.pending:
            self.hit("sequence", "IDLE->MVM")
        for i, v in enumerate(x):
            await self.regs.write_window("INPUT", i, int(v))
        label = label or f"register MVM {self.scoreboard.issued}"
        if layers is None:
            e = self.scoreboard.mvm(x, label, stream=self.out_stream)
        else:
            e = self.scoreboard.chain(x, layers, label, stream=self.out_stream)
        await self.regs.write("CTRL", start=1)
        self.expected_out_count += 1
        self._started_only = start_only
        if start_only:
            return e
        await self.read_outputs(e)
        return e

    async def read_outputs(self, e: Expectation) -> None:
        await self.wait_out_count(self.expected_out_count)
        self._started_only = False
        got = [await self.regs.read_window("OUTPUT", i) for i in range(len(e.outputs))]
        self.scoreboard.compare(e, got, "OUTPUT window")
        self.scoreboard.raise_failures()

    # -- stimulus
    def active_rows(self) -> int:
        return min(self.spec.tile.rows, int(setting(self.cfg, self.spec, "active_rows")))

    def row_mask(self) -> np.ndarray:
        """Logical rows that random stimulus drives: the first active_rows of every row tile."""
        spec = self.spec
        local = np.arange(spec.logical_rows) % spec.tile.rows
        return local < self.active_rows()

    def random_weights(self) -> np.ndarray:
        spec = self.spec
        levels = spec.tile.conductance_levels
        density = float(setting(self.cfg, spec, "weight_density"))
        w = self.rng.integers(-levels, levels + 1, (spec.logical_rows, spec.logical_cols))
        w = w * (self.rng.random(w.shape) < density)
        return np.where(self.row_mask()[:, None], w, self.shadow["weights"]).astype(np.int64)

    def random_inputs(self, count: int, *, extremes: bool = True) -> np.ndarray:
        spec = self.spec
        m = spec.input.max_magnitude
        xs = self.rng.integers(-m, m + 1, (count, spec.logical_rows)) * self.row_mask()[None]
        if extremes and count >= 3:
            xs[0] = m * self.row_mask()
            xs[1] = 0
            xs[2] = -m * self.row_mask()
        return xs.astype(np.int64)

    def random_coefficients(self) -> tuple[np.ndarray, np.ndarray]:
        """Scales around 1.0 (0.5..2.0 where the format allows), offsets of a few output codes."""
        spec, fmt = self.spec, datapath_formats(self.spec)
        unity = unity_scale(spec)
        lo, hi = max(fmt.scale.min, unity // 2), min(fmt.scale.max, 2 * unity)
        scale = self.rng.integers(lo, hi + 1, spec.logical_cols)
        span = min(fmt.offset.max, 8 << spec.postproc.scale_frac_bits)
        offset = self.rng.integers(-span, span + 1, spec.logical_cols)
        return scale.astype(np.int64), offset.astype(np.int64)

    def mvms(self) -> int:
        return int(setting(self.cfg, self.spec, "mvms"))


def spec_input_shape(spec: DesignSpec):
    """The Amaranth shape of one input beat."""
    return signed(spec.input.bits)


def random_layers(spec: DesignSpec, rng, count: int, max_rows: int) -> list[tuple[int, int]]:
    """`count` layer descriptors (start column, column count) within the design, at most `max_rows` wide."""
    layers = []
    cols = spec.logical_cols
    for _ in range(count):
        start = int(rng.integers(0, cols))
        n = int(rng.integers(1, min(cols - start, max_rows) + 1))
        layers.append((start, n))
    return layers


async def start_bench(dut, test: str, **kw) -> AcceleratorBench:
    """An AcceleratorBench for `test` from the run's configuration, started (clock, reset, streams)."""
    spec, cfg = load_bench_config()
    tb = AcceleratorBench(dut, spec, cfg, test, **kw)
    await tb.start()
    return tb


def analog_top() -> bool:
    """Whether the DUT is the periphery top, its tiles served from Python through analog ports."""
    top = getattr(cocotb, "top", None)
    return top is not None and hasattr(top, "analog_0__cmd__valid")


def twin_drift_top() -> bool:
    """Whether the DUT is an emulated top whose spec has twin.drift on (its DRIFT_EPOCH register exists)."""
    if analog_top() or not os.environ.get(CONFIG_ENV):
        return False
    spec, _ = load_bench_config()
    return spec.twin.drift == "on"
