"""The periphery reached over the UART link, analog macros outside: the host driver's path to a chip whose
macros a bench serves (here: the column-error macros of per-column calibration).

`PeripheryUartTop(spec, divisor=N)` is rtl.uart's UartRx/UartTx and rtl.uart_bridge.UartBridge on the register
bus of `Accelerator(spec, emulated=False)`, wired as boards.emulation.EmulationCore wires them, with the
accelerator's analog ports `analog_<i>` as ports of the top (Verilog `analog_<i>__*`), so a cocotb bench serves
them (sim.verify.cocotb_macro.CocotbAnalogMacro) and talks to the bridge through `rx`/`tx`
(sim.verify.calibration_uart_transport). Why not EmulationCore: its periphery build replaces the macros
with timing stand-ins and its simulation build has the emulated tiles, neither of which has column errors.
"""

from __future__ import annotations

from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from aimcgen.contract import uart_protocol as proto
from aimcgen.rtl.accelerator import Accelerator
from aimcgen.rtl.boundary import analog_port_members
from aimcgen.rtl.uart import UartRx, UartTx
from aimcgen.rtl.uart_bridge import UartBridge
from aimcgen.spec import DesignSpec


class PeripheryUartTop(wiring.Component):
    """UART + bridge + the periphery, `divisor` clock cycles per UART bit."""

    def __init__(self, spec: DesignSpec, *, divisor: int = 4):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        self.spec, self.divisor = spec, divisor
        self.accelerator = Accelerator(spec, emulated=False)
        self.regmap = self.accelerator.regmap
        self.frame_timeout = proto.FRAME_TIMEOUT_BYTES * 10 * divisor
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), **analog_port_members(spec)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.accelerator = acc = self.accelerator
        m.submodules.uart_rx = urx = UartRx(divisor=self.divisor)
        m.submodules.uart_tx = utx = UartTx(divisor=self.divisor)
        m.submodules.bridge = bridge = UartBridge(self.regmap.addr_width, frame_timeout=self.frame_timeout)
        wiring.connect(m, urx.data, bridge.rx)
        wiring.connect(m, bridge.tx, utx.data)
        wiring.connect(m, bridge.bus, acc.bus)
        for i in range(self.spec.tiles):
            wiring.connect(m, getattr(acc, f"analog_{i}"), wiring.flipped(getattr(self, f"analog_{i}")))
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx), acc.inp.valid.eq(0), acc.out.ready.eq(1)]
        return m


def write_periphery_uart_top(spec: DesignSpec, folder, divisor: int = 4) -> tuple[Path, str]:
    """(Verilog path, top name) of PeripheryUartTop(spec) written to `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    top = f"{spec.name}_uart_periphery"
    path = folder / f"{top}.v"
    path.write_text(verilog.convert(PeripheryUartTop(spec, divisor=divisor), name=top, emit_src=False))
    return path, top
