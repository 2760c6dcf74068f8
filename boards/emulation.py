"""The FPGA emulation top: the accelerator with its emulated tiles, reached over a UART.

`EmulationCore(spec, clk_freq=..., baud=...)` is everything but the board: `Accelerator(spec,
emulated=True)`, a UART (rtl.uart) and the UART-to-Wishbone bridge (rtl.uart_bridge) on the accelerator's
register bus. Its ports are the UART pins `rx`/`tx` and the status outputs `busy`/`error`; simulations
drive it directly (sim.verify.uart_sim_transport).

`EmulationTop(spec, board)` puts the core on a board (aimcgen.boards): the board's clocking (a PLL to the
spec's clock where the board clock differs), a reset synchronizer (PLL lock and reset button), the UART
pins and two LEDs:
  busy   an MVM or program-and-verify is running (the accelerator's core), or a host frame is in flight
  error  the last host frame was answered with an error status, or ERRORS.prog_verify_fail or
         ERRORS.bus_error is set (they are sticky: cleared by writing 1 to them)
The accelerator's streams are not used on boards: the input stream never offers data and the output
stream is always drained (so CONFIG.out_stream may stay 1).

`emulated=False` (both classes) builds the timing harness of the periphery alone, for the flow's
periphery build: `Accelerator(spec, emulated=False)` with every analog-boundary port registered at a
stand-in instead of the emulated tiles (inputs from a free-running LFSR, outputs folded into the busy LED
through two pipelined XOR stages), so that nextpnr's Fmax is the periphery's (with the bridge and the
register bank), not the emulated tile's. Such a bitstream computes nothing useful.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Elaboratable, Module, Signal, Value
from amaranth.lib import io, wiring
from amaranth.lib.wiring import In, Out

from aimcgen.contract import uart_protocol as proto
from aimcgen.contract.uart_protocol import DEFAULT_BAUD
from aimcgen.rtl.accelerator import Accelerator
from aimcgen.rtl.uart import UartRx, UartTx, uart_divisor
from aimcgen.rtl.uart_bridge import UartBridge
from aimcgen.spec import DesignSpec


class EmulationCore(wiring.Component):
    """Accelerator + UART + bridge; `divisor` (clock cycles per UART bit) or `clk_freq` and `baud`.

    `coefficient_copy` (default, for FPGAs) reads SCALE/OFFSET back from block RAM copies, so that the core's
    coefficient memories fit block RAM too; on an ASIC (Tiny Tapeout) the copies are only extra flip-flops."""

    def __init__(self, spec: DesignSpec, *, clk_freq: float | None = None, baud: float = DEFAULT_BAUD,
                 divisor: int | None = None, bus_timeout: int | None = None, init_weights=None,
                 emulated: bool = True, coefficient_copy: bool = True):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        if divisor is None:
            if clk_freq is None:
                clk_freq = spec.design.clock_mhz * 1e6
            divisor = uart_divisor(clk_freq, baud)
        self.spec, self.divisor = spec, divisor
        self.emulated = emulated
        self.accelerator = Accelerator(spec, emulated=emulated, init_weights=init_weights,
                                       coefficient_copy=coefficient_copy)
        self.accelerator._MustUse__silence = True     # elaborated through its module (see elaborate)
        self.regmap = self.accelerator.regmap
        self.frame_timeout = proto.FRAME_TIMEOUT_BYTES * 10 * divisor
        self.bus_timeout = bus_timeout
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "busy": Out(1), "error": Out(1)})

    def elaborate(self, platform):
        m = Module()
        # The accelerator's own module, so the LEDs can watch its core and register bank.
        m.submodules.accelerator = acc = self.accelerator.elaborate(platform)
        m.submodules.uart_rx = urx = UartRx(divisor=self.divisor)
        m.submodules.uart_tx = utx = UartTx(divisor=self.divisor)
        kw = {} if self.bus_timeout is None else {"bus_timeout": self.bus_timeout}
        m.submodules.bridge = bridge = UartBridge(self.regmap.addr_width, frame_timeout=self.frame_timeout, **kw)
        wiring.connect(m, urx.data, bridge.rx)
        wiring.connect(m, bridge.tx, utx.data)
        wiring.connect(m, bridge.bus, self.accelerator.bus)
        m.d.comb += [
            urx.rx.eq(self.rx),
            self.tx.eq(utx.tx),
            self.accelerator.inp.valid.eq(0),
            self.accelerator.out.ready.eq(1),
        ]
        busy, error = bridge.busy, bridge.error
        try:
            core, regs = acc.submodules.core, acc.submodules.regs
            busy = busy | core.busy | core.pv_busy
            error = error | regs.errors_prog_verify_fail | regs.errors_bus_error
        except AttributeError:                  # a future accelerator layout: the bridge's status only
            pass
        if not self.emulated:
            busy = busy ^ self._stand_ins(m)
        m.d.comb += [self.busy.eq(busy), self.error.eq(error)]
        return m

    def _stand_ins(self, m):
        """Registered stand-ins for the analog macros (timing harness): returns a 1-bit probe."""
        lfsr = Signal(32, init=1)
        m.d.sync += lfsr.eq(Cat(lfsr[1:], lfsr[0] ^ lfsr[2] ^ lfsr[6] ^ lfsr[7]))    # x^32+x^22+x^2+x+1
        outputs = []
        k = 0
        for i in range(self.spec.tiles):
            port = getattr(self.accelerator, f"analog_{i}")
            for path, member, value in port.signature.flatten(port):
                value = Value.cast(value)
                reg = Signal(len(value), name=f"analog_{i}_{'_'.join(map(str, path))}_reg")
                if member.flow == Out:          # driven by the periphery: register it
                    m.d.sync += reg.eq(value)
                    outputs.append(reg)
                else:                           # into the periphery: from a register fed by the LFSR
                    bits = [lfsr[(k + j) % 32] for j in range(len(value))]
                    k += 7
                    m.d.sync += reg.eq(Cat(*bits))
                    m.d.comb += value.eq(reg)
        bits = Cat(*outputs)
        groups = [bits[j:j + 16].xor() for j in range(0, len(bits), 16)]
        stage = Signal(len(groups))
        probe = Signal()
        m.d.sync += [stage.eq(Cat(*groups)), probe.eq(stage.xor())]
        return probe


class EmulationTop(Elaboratable):
    """`EmulationCore` on `board` (a aimcgen.boards Board class or instance), clocked at the spec's clock."""

    def __init__(self, spec: DesignSpec, board, *, baud: float = DEFAULT_BAUD, emulated: bool = True):
        self.spec = spec
        self.board = board() if isinstance(board, type) else board
        self.clock = self.board.plan_clock(spec.design.clock_mhz * 1e6)
        self.baud = baud
        self.core = EmulationCore(spec, clk_freq=self.clock.achieved_hz, baud=baud, emulated=emulated)

    def elaborate(self, platform):
        m = Module()
        board = self.board
        board.add_clocking(m, platform, self.clock)
        m.submodules.core = core = self.core
        uart = platform.request(*board.uart, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.submodules.led_busy = busy = io.Buffer("o", platform.request(*board.led_busy, dir="-"))
        m.submodules.led_error = error = io.Buffer("o", platform.request(*board.led_error, dir="-"))
        m.d.comb += [core.rx.eq(rx.i), tx.o.eq(core.tx), busy.o.eq(core.busy), error.o.eq(core.error)]
        return m
