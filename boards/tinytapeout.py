"""The Tiny Tapeout (TT) top: the emulation core on TT's fixed pins.

TT user projects are one module `tt_um_<name>` with eight-bit `ui_in`/`uo_out`/`uio_*` pins, `ena`, `clk`
and an active-low `rst_n`. `TinyTapeoutTop(spec)` puts `EmulationCore(spec)` (boards.emulation: the
accelerator with emulated tiles, the UART and the UART-to-Wishbone bridge) on them:

  ui_in[3]   UART RX (TT's pin for the demo board RP2040's TX; the core's UartRx has its own 2-flop
             synchronizer)
  uo_out[4]  UART TX (to the RP2040's RX)
  uo_out[0]  busy: an MVM or program-and-verify is running, or a host frame is in flight
  uo_out[1]  error: the last frame was answered with an error, or a sticky ERRORS bit is set
  uo_out[2]  heartbeat: the top bit of a free-running counter (about 1 s period at the spec's clock)
  uio        unused inputs (uio_oe = 0)
  rst_n      reset, asserted asynchronously and released synchronously (two flip-flops)
  ena        ignored (TT holds it high while the project is selected; the core then runs from reset)

The UART runs at `baud` from the spec's clock (design.clock_mhz), as on the FPGA boards. The project folder
around this top is written by flows.tinytapeout.
"""

from __future__ import annotations

import math

from amaranth.hdl import ClockDomain, ClockSignal, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.cdc import ResetSynchronizer
from amaranth.lib.wiring import In, Out

from aimcgen.boards.emulation import DEFAULT_BAUD, EmulationCore
from aimcgen.spec import DesignSpec

RX_PIN, TX_PIN = 3, 4                      # ui_in[3] / uo_out[4]: TT's UART pins to the demo board's RP2040
BUSY_PIN, ERROR_PIN, HEARTBEAT_PIN = 0, 1, 2


def top_name(spec: DesignSpec) -> str:
    return f"tt_um_{spec.name}"


class TinyTapeoutTop(wiring.Component):
    """`EmulationCore(spec)` on the TT pins (see the module doc); `divisor` overrides the baud's divisor."""

    def __init__(self, spec: DesignSpec, *, baud: float = DEFAULT_BAUD, divisor: int | None = None,
                 heartbeat_bits: int | None = None, init_weights=None):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        self.spec = spec
        self.core = EmulationCore(spec, baud=baud, divisor=divisor, init_weights=init_weights,
                                  coefficient_copy=False)
        self.regmap, self.frame_timeout = self.core.regmap, self.core.frame_timeout
        if heartbeat_bits is None:
            heartbeat_bits = max(1, round(math.log2(spec.design.clock_mhz * 1e6)))
        if heartbeat_bits < 1:
            raise ValueError(f"heartbeat_bits must be at least 1, not {heartbeat_bits}")
        self.heartbeat_bits = heartbeat_bits
        super().__init__({"ui_in": In(8), "uo_out": Out(8), "uio_in": In(8), "uio_out": Out(8),
                          "uio_oe": Out(8), "ena": In(1), "clk": In(1), "rst_n": In(1)})

    def elaborate(self, platform):
        m = Module()
        # The wrapper owns the sync domain, so the module's ports are exactly TT's (no Amaranth clk/rst).
        m.domains.sync = ClockDomain("sync")
        m.d.comb += ClockSignal("sync").eq(self.clk)
        m.submodules.reset_sync = ResetSynchronizer(~self.rst_n, domain="sync")
        m.submodules.core = core = self.core
        heartbeat = Signal(self.heartbeat_bits)
        m.d.sync += heartbeat.eq(heartbeat + 1)
        m.d.comb += [
            core.rx.eq(self.ui_in[RX_PIN]),
            self.uo_out[TX_PIN].eq(core.tx),
            self.uo_out[BUSY_PIN].eq(core.busy),
            self.uo_out[ERROR_PIN].eq(core.error),
            self.uo_out[HEARTBEAT_PIN].eq(heartbeat[-1]),
            self.uio_out.eq(0),
            self.uio_oe.eq(0),
        ]
        return m
