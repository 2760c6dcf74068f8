"""The analog macro in a cocotb bench: serve the analog boundary ports of generated Verilog from Python.

Amaranth flattens every port to one vector named by its path: `analog.cmd.payload` becomes the Verilog port
`analog__cmd__payload`, `analog.resp` becomes `analog__resp`. Their bits follow the Amaranth layouts of
rtl.boundary (`command_layout(spec)`, `response_layout(spec)`); `unpack` and `pack` read and write any
`lib.data` layout by the layout's own field offsets, so no bit position is written twice.

`CocotbAnalogMacro` has the semantics of sim.verify.amaranth_macro.serve_macro: each cycle it drives cmd.ready
(low on seeded random stall cycles), samples valid, payload, row_en and row_sign once they have settled
(ReadOnly), and when the command was accepted at the clock edge it calls `model.execute` and drives the
response right after that edge: the response is registered and holds until the next accepted command.

Models: `sim.verify.macro_model.MacroModel` is the deterministic emulated tile (bit-exact to the golden model);
`PhysicsMacroModel` answers from the float device physics (sim.models.physics), the noisy analog the periphery
must also work with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data

from aimcgen.rtl.boundary import command_layout, response_layout
from aimcgen.sim.verify.cocotb_task import StallingTask
from aimcgen.sim.verify.macro_model import AnalogMacroModel, MacroResponse, SettledColSel
from aimcgen.sim.models.physics import PhysicsCrossbar, codes_to_conductances, conductance_at, drift_exponents, program
from aimcgen.spec import DesignSpec


# ----------------------------------------------------------------------------- layouts <-> integers

def _as_layout(shape):
    return shape if isinstance(shape, data.Layout) else None


def unpack(shape, raw: int):
    """The value of the bits `raw` under an Amaranth shape: dict for a StructLayout, list for an
    ArrayLayout, int for a plain or enum shape (signed shapes sign-extend)."""
    layout = _as_layout(shape)
    if layout is not None:
        if isinstance(layout, data.ArrayLayout):
            return [unpack(f.shape, (raw >> f.offset) & ((1 << f.width) - 1)) for _, f in layout]
        return {name: unpack(f.shape, (raw >> f.offset) & ((1 << f.width) - 1)) for name, f in layout}
    s = Shape.cast(shape)
    raw &= (1 << s.width) - 1
    if s.signed and s.width and raw >> (s.width - 1):
        raw -= 1 << s.width
    return raw


def pack(shape, value) -> int:
    """The bits (as a non-negative int) of `value` under an Amaranth shape; the inverse of `unpack`.
    Fields missing from a dict are zero; ints are truncated to the field width (two's complement)."""
    layout = _as_layout(shape)
    if layout is not None:
        raw = 0
        if isinstance(layout, data.ArrayLayout):
            items = [(i, f, value[i]) for i, f in layout]
        else:
            items = [(name, f, value[name]) for name, f in layout if name in value]
        for _, f, v in items:
            raw |= pack(f.shape, v) << f.offset
        return raw
    s = Shape.cast(shape)
    return int(getattr(value, "value", value)) & ((1 << s.width) - 1)


# ----------------------------------------------------------------------------- cocotb server

def read_unsigned(handle) -> int:
    """A port's value as a non-negative int (a 1-bit port reads as a Logic, wider ones as a LogicArray);
    X or Z bits raise ValueError naming the port."""
    value = handle.value
    if not value.is_resolvable:
        raise ValueError(f"{handle._name} is not resolvable: {value}")
    return value.to_unsigned() if hasattr(value, "to_unsigned") else int(value)


def read_signed(handle) -> int:
    """A port's value as a two's complement int."""
    raw, width = read_unsigned(handle), len(handle)
    return raw - (1 << width) if width and raw >> (width - 1) else raw


class CocotbAnalogMacro(StallingTask):
    """Serve the analog boundary `prefix` (e.g. "analog") of `dut` from `model` (the MacroModel API).

    `stall_probability` holds cmd.ready low on that fraction of cycles, drawn from random.Random(seed).
    Start it with `start()` after the clock runs; `commands` counts accepted commands, `cycles` clock edges.
    """

    def __init__(self, dut, prefix: str, model, *, clock=None, stall_probability: float = 0.0,
                 seed: int | None = None):
        super().__init__(stall_probability, seed)
        self.dut, self.model, self.spec = dut, model, model.spec
        self.clock = dut.clk if clock is None else clock
        self.command_layout = command_layout(self.spec)
        self.response_layout = response_layout(self.spec)

        def port(*path):
            name = "__".join((prefix, *path))
            handle = getattr(dut, name, None)
            if handle is None:
                raise AttributeError(f"{dut._name} has no port {name}: is `{prefix}` the analog boundary?")
            return handle

        self.valid, self.ready = port("cmd", "valid"), port("cmd", "ready")
        self.payload, self.resp = port("cmd", "payload"), port("resp")
        self.row_en, self.row_sign = port("row_en"), port("row_sign")
        for handle, width in ((self.payload, self.command_layout.size), (self.resp, self.response_layout.size)):
            if len(handle) != width:
                raise ValueError(f"{handle._name} is {len(handle)} bits wide, the layout of {self.spec.name} "
                                 f"says {width}: Verilog and spec disagree")
        self.commands = 0
        self.cycles = 0
        self.ready.value = 0
        self.resp.value = 0

    def decode(self, raw: int) -> dict:
        return unpack(self.command_layout, raw)

    def encode(self, response: MacroResponse) -> int:
        return pack(self.response_layout, {"comp": response.comp, "code": list(response.code),
                                           "read_data": response.read_data})

    async def _run(self) -> None:
        from cocotb.triggers import ReadOnly, RisingEdge

        ready = 0 if self.stall() else 1
        self.ready.value = ready
        rule = SettledColSel(self.spec)
        while True:
            await ReadOnly()
            valid = read_unsigned(self.valid)
            accepted = ready and valid
            if accepted or rule.on:                 # the rule reads col_sel on every cycle
                cmd = self.decode(read_unsigned(self.payload))
                rule.see(valid, cmd["op"], cmd["start"], cmd["col_sel"])
            if accepted:
                row_en, row_sign = read_unsigned(self.row_en), read_unsigned(self.row_sign)
            await RisingEdge(self.clock)
            self.cycles += 1
            if accepted:
                self.commands += 1
                r = self.model.execute(cmd["op"], start=cmd["start"], col_sel=cmd["col_sel"], trial=cmd["trial"],
                                       row=cmd["row"], col=cmd["col"], target=cmd["target"], row_en=row_en,
                                       row_sign=row_sign)
                self.resp.value = self.encode(r)
            ready = 0 if self.stall() else 1
            self.ready.value = ready


# ----------------------------------------------------------------------------- physics macro

def pin_drive(row_en: int, row_sign: int, rows: int) -> np.ndarray:
    """Row pins (bit i = row i) to the signed drive vector: +1 enabled, -1 enabled negative, 0 off."""
    enabled = np.array([(row_en >> i) & 1 for i in range(rows)], dtype=np.float64)
    negative = np.array([(row_sign >> i) & 1 for i in range(rows)], dtype=bool)
    return np.where(negative, -enabled, enabled)


@dataclass
class IntegrationRecord:
    start: int
    row_en: int
    row_sign: int
    conductances: np.ndarray        # (rows, cols) effective conductance codes read for this integration


class PhysicsMacroModel(AnalogMacroModel):
    """The analog macro as float device physics, through the command dispatch of AnalogMacroModel.

    The weights are programmed once into a `PhysicsCrossbar` (programming noise, per-device drift
    exponents) drawn from `seed`; every INTEGRATE reads the conductances at `t_s` seconds after programming
    (drift plus a fresh 1/f read-noise draw) and adds drive @ G to float column charges. COMPARE (start) and
    CONVERT hold the float charge of the selected columns; the comparator answers 2 * held >= the same
    threshold as contract.adc (comparator_threshold_x2), CONVERT answers adc_code(held), so a SAR or ramp search
    over the held sample finds adc_code(held) of the float charge. There is no sample noise beyond the
    device noise (the emulated tile's LFSR noise stands in for exactly this device noise).

    PROG_WRITE reprograms one device pair (fresh programming noise and drift exponent; its time since
    programming is taken as t_s like the others'); PROG_READ reads it back once (drift and read noise)
    rounded to the nearest code, as a program-and-verify loop would see it.

    With `record` (default), `integrations` keeps every INTEGRATE's drive and conductance read and
    `samples` every held sample (column select, held charges), so a bench can recompute the exact codes.
    """

    def __init__(self, spec: DesignSpec, weights, seed: int, t_s: float = 1.0, *, record: bool = True):
        if not t_s >= 0:
            raise ValueError(f"t_s = {t_s}: time since programming must be >= 0 s")
        super().__init__(spec, np.float64)
        self.t_s = float(t_s)
        self.crossbar = PhysicsCrossbar(spec, weights, np.random.default_rng(seed))
        self.weights = self.crossbar.weights            # the integer targets, updated by PROG_WRITE
        self.record = record
        self.integrations: list[IntegrationRecord] = []
        self.samples: list[tuple[int, np.ndarray]] = []

    def drive(self, row_en: int, row_sign: int) -> np.ndarray:
        """The signed drive of each row (-1, 0, 1) as float64, from the row pins."""
        return pin_drive(row_en, row_sign, self.spec.tile.rows)

    def _integrate(self, start: int, row_en: int, row_sign: int) -> None:
        if start:
            self.charge = np.zeros(self.spec.tile.cols, dtype=np.float64)
        g = self.crossbar.conductances(self.t_s)
        self.charge = self.charge + self.drive(row_en, row_sign) @ g
        if self.record:
            self.integrations.append(IntegrationRecord(int(start), int(row_en), int(row_sign), g))

    def _sample_noise(self):
        return 0.0                  # the device noise is in the conductances each INTEGRATE reads

    def _sample(self, col_sel: int) -> None:
        super()._sample(col_sel)
        if self.record:
            self.samples.append((col_sel, self.held.copy()))

    def _program(self, row: int, col: int, target: int) -> None:
        xb, dev, levels = self.crossbar, self.spec.device, self.spec.tile.conductance_levels
        target = int(np.clip(target, -levels, levels))
        xb.weights[row, col] = target
        g_plus, g_minus = codes_to_conductances(max(target, 0), max(-target, 0), levels, dev)
        g_target = np.array([g_plus, g_minus], dtype=np.float64)
        xb.g_target[:, row, col] = g_target
        # Reprogramming does not unstick a device: it keeps its stuck value.
        xb.g_prog[:, row, col] = program(g_target, dev, xb.rng, stuck=xb.stuck[:, row, col])
        xb.nu[:, row, col] = drift_exponents(g_target, dev, xb.rng)
        xb.relax_z[:, row, col] = xb.rng.standard_normal(2)

    def _read(self, row: int, col: int) -> int:
        xb, levels = self.crossbar, self.spec.tile.conductance_levels
        flicker = xb.flicker_z(self.t_s)
        g = conductance_at(xb.g_prog[:, row, col], xb.g_target[:, row, col], xb.nu[:, row, col], self.t_s,
                           self.spec.device, xb.rng, relax_z=xb.relax_z[:, row, col], stuck=xb.stuck[:, row, col],
                           flicker_z=None if flicker is None else flicker[:, row, col])
        deviation = (g[0] - xb.g_target[0, row, col]) - (g[1] - xb.g_target[1, row, col])
        code = xb.weights[row, col] + deviation / (self.spec.device.g_max_us / levels)
        return int(np.clip(np.floor(code + 0.5), -levels, levels))
