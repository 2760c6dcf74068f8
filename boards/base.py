"""What an FPGA board gives the emulation top: a platform, a device capacity, clocking, reset, LEDs, a UART.

A `Board` wraps an amaranth-boards platform class (build-only: programmer tools are not required) and
adds:
- `capacity`: the device's LUTs, flip-flops, block RAMs and DSPs, and the nextpnr cell names they are
  reported under (the FPGA report compares the use against it);
- `plan_clock(target_hz)`: the PLL settings that come closest to the target without exceeding it (or
  the board clock when no PLL is needed / possible), with the frequency actually reached;
- `add_clocking(m, platform, plan)`: the `sync` domain from that plan, held in reset until the PLL locks
  and while the reset button is pressed (through a reset synchronizer; on an ECP5 the synchronized reset
  goes out on a global network through a DCCA buffer);
- `led_busy`, `led_error`, `reset`, `uart`: the resources the emulation top requests.

The PLL calculators follow the vendors' ranges (the same ones icepll and ecppll use).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from amaranth.hdl import ClockDomain, ClockSignal, Const, Instance, Module, ResetSignal, Signal
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer


@dataclass(frozen=True)
class DeviceCapacity:
    """Resources of one FPGA device, and the nextpnr cell types that use them."""
    device: str
    family: str                      # "ecp5" | "ice40"
    luts: int
    ffs: int
    brams: int
    bram_kbits: int                  # per block
    dsps: int
    lut_cell: str                    # nextpnr utilisation line for LUTs (iCE40: logic cells, LUT+FF)
    ff_cell: str | None              # None: flip-flops are counted from the Yosys statistics
    bram_cell: str
    dsp_cell: str

    def as_dict(self) -> dict:
        return {"device": self.device, "family": self.family, "luts": self.luts, "ffs": self.ffs,
                "brams": self.brams, "bram_kbits": self.bram_kbits, "dsps": self.dsps}


ECP5_85F = DeviceCapacity("LFE5U-85F", "ecp5", luts=83640, ffs=83640, brams=208, bram_kbits=18, dsps=156,
                          lut_cell="TRELLIS_COMB", ff_cell="TRELLIS_FF", bram_cell="DP16KD",
                          dsp_cell="MULT18X18D")
ECP5_5G_85F = DeviceCapacity("LFE5UM5G-85F", "ecp5", luts=83640, ffs=83640, brams=208, bram_kbits=18, dsps=156,
                             lut_cell="TRELLIS_COMB", ff_cell="TRELLIS_FF", bram_cell="DP16KD",
                             dsp_cell="MULT18X18D")
ICE40_UP5K = DeviceCapacity("iCE40UP5K", "ice40", luts=5280, ffs=5280, brams=30, bram_kbits=4, dsps=8,
                            lut_cell="ICESTORM_LC", ff_cell=None, bram_cell="ICESTORM_RAM",
                            dsp_cell="ICESTORM_DSP")


@dataclass(frozen=True)
class ClockPlan:
    """How the board reaches the emulation clock: `pll` parameters (None: the board clock directly)."""
    input_hz: float
    target_hz: float
    achieved_hz: float
    pll: dict | None = field(default=None)

    @property
    def note(self) -> str:
        how = "PLL" if self.pll else "board clock"
        off = "" if abs(self.achieved_hz - self.target_hz) < 1 else \
            f" (spec asks {self.target_hz / 1e6:g} MHz)"
        return f"{self.achieved_hz / 1e6:.4g} MHz from the {self.input_hz / 1e6:g} MHz board clock via {how}{off}"


def ice40_pll(fin_hz: float, target_hz: float) -> dict | None:
    """SB_PLL40 settings (SIMPLE feedback) with the highest output <= target; None if none in range."""
    fin = fin_hz / 1e6
    best = None
    for divr in range(16):
        fpfd = fin / (divr + 1)
        if not 10 <= fpfd <= 133:
            continue
        for divf in range(128):
            fvco = fpfd * (divf + 1)
            if not 533 <= fvco <= 1066:
                continue
            for divq in range(1, 7):
                fout = fvco / (1 << divq)
                if not 16 <= fout <= 275 or fout > target_hz / 1e6 + 1e-9:
                    continue
                if best is None or fout > best["fout_mhz"] + 1e-9:
                    filt = next(i for i, lim in enumerate((17, 26, 44, 66, 101, 1e9), start=1) if fpfd < lim)
                    best = {"DIVR": divr, "DIVF": divf, "DIVQ": divq, "FILTER_RANGE": filt, "fout_mhz": fout}
    return best


def ecp5_pll(fin_hz: float, target_hz: float) -> dict | None:
    """EHXPLLL settings (CLKOP feedback) with the highest output <= target; None if none in range."""
    fin = fin_hz / 1e6
    best = None
    for clki in range(1, 129):
        fpfd = fin / clki
        if not 3.125 <= fpfd <= 400:
            continue
        for clkfb in range(1, 81):
            fout = fpfd * clkfb
            if not 3.125 <= fout <= 400 or fout > target_hz / 1e6 + 1e-9:
                continue
            for clkop in range(1, 129):
                if 400 <= fout * clkop <= 800:
                    if best is None or fout > best["fout_mhz"] + 1e-9:
                        best = {"CLKI_DIV": clki, "CLKFB_DIV": clkfb, "CLKOP_DIV": clkop, "fout_mhz": fout}
                    break
    return best


class Board:
    """Base class: subclasses set the class attributes below."""
    name: str = ""
    title: str = ""
    platform_class: type = None
    capacity: DeviceCapacity = None
    clock: str = ""                  # resource name of the board clock
    clock_hz: float = 0.0
    uart: tuple = ("uart", 0)
    led_busy: tuple = ("led", 0)
    led_error: tuple = ("led", 1)
    reset: tuple | None = None       # active-high (amaranth-boards inverts PinsN) reset button
    dropped_tools: tuple = ()        # programmer tools a build does not need

    @property
    def family(self) -> str:
        return self.capacity.family

    def platform(self):
        """A fresh platform instance for one build (platforms are single use), programmer tools dropped."""
        base, dropped = self.platform_class, self.dropped_tools

        class BuildOnly(base):
            @property
            def required_tools(self):
                return [t for t in super().required_tools if t not in dropped]

        BuildOnly.__name__ = f"{base.__name__}BuildOnly"
        return BuildOnly()

    def plan_clock(self, target_hz: float) -> ClockPlan:
        if abs(target_hz - self.clock_hz) < 1:
            return ClockPlan(self.clock_hz, target_hz, self.clock_hz)
        calc = ice40_pll if self.family == "ice40" else ecp5_pll
        pll = calc(self.clock_hz, target_hz)
        if pll is None:
            return ClockPlan(self.clock_hz, target_hz, self.clock_hz)
        return ClockPlan(self.clock_hz, target_hz, pll["fout_mhz"] * 1e6, pll)

    def add_clocking(self, m: Module, platform, plan: ClockPlan) -> None:
        """Create the `sync` domain of `plan` in `m`."""
        m.domains.sync = ClockDomain("sync")
        clk_port = platform.request(self.clock, 0, dir="-")
        if plan.pll is not None and self.family == "ice40":
            # The iCE40 PLL sits on the clock pad: it takes the raw pin (SB_PLL40_PAD), no input buffer.
            clk_in = clk_port.io
        else:
            m.submodules.clk_buf = clk_buf = io.Buffer("i", clk_port)
            clk_in = clk_buf.i
        locked = Signal()
        clk_pll = Signal()
        if plan.pll is None:
            m.d.comb += [ClockSignal("sync").eq(clk_in), locked.eq(1)]
        elif self.family == "ice40":
            p = plan.pll
            m.submodules.pll = Instance(
                "SB_PLL40_PAD",
                p_FEEDBACK_PATH="SIMPLE", p_DIVR=p["DIVR"], p_DIVF=p["DIVF"], p_DIVQ=p["DIVQ"],
                p_FILTER_RANGE=p["FILTER_RANGE"],
                i_PACKAGEPIN=clk_in, i_RESETB=Const(1), i_BYPASS=Const(0),
                o_PLLOUTGLOBAL=clk_pll, o_LOCK=locked)
        else:
            p = plan.pll
            m.submodules.pll = Instance(
                "EHXPLLL",
                a_FREQUENCY_PIN_CLKI=f"{plan.input_hz / 1e6:g}", a_FREQUENCY_PIN_CLKOP=f"{plan.achieved_hz / 1e6:g}",
                a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
                p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
                p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
                p_CLKI_DIV=p["CLKI_DIV"], p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=p["CLKOP_DIV"],
                p_CLKOP_CPHASE=p["CLKOP_DIV"] - 1, p_CLKOP_FPHASE=0,
                p_FEEDBK_PATH="CLKOP", p_CLKFB_DIV=p["CLKFB_DIV"],
                i_CLKI=clk_in, i_CLKFB=clk_pll, i_RST=Const(0), i_STDBY=Const(0),
                i_PHASESEL0=Const(0), i_PHASESEL1=Const(0), i_PHASEDIR=Const(1), i_PHASESTEP=Const(1),
                i_PHASELOADREG=Const(1), i_PLLWAKESYNC=Const(0), i_ENCLKOP=Const(0),
                o_CLKOP=clk_pll, o_LOCK=locked)
        if plan.pll is not None:
            # nextpnr derives the PLL output's clock constraint from the board clock's and the settings.
            m.d.comb += ClockSignal("sync").eq(clk_pll)
        button = Const(0)
        if self.reset:
            m.submodules.reset_buf = reset_buf = io.Buffer("i", platform.request(*self.reset, dir="-"))
            button = reset_buf.i
        if self.family == "ecp5":
            # The synchronized reset reaches nearly every register: on an ECP5 it goes through a DCCA
            # buffer onto a global network (nextpnr promotes only clocks by itself), so that net leaves
            # the fabric's routing; in the fabric it was the worst path of a tile64 build (8.9 ns of
            # routing to the far bus registers) and a crowd of wires besides. nextpnr still times it: the
            # DCCA is a 0 ns arc and the global wires count as the net's delay.
            m.domains.sync_reset = ClockDomain("sync_reset")
            m.d.comb += ClockSignal("sync_reset").eq(ClockSignal("sync"))
            m.submodules.reset_sync = ResetSynchronizer(~locked | button, domain="sync_reset")
            m.submodules.reset_global = Instance("DCCA", i_CLKI=ResetSignal("sync_reset"), i_CE=Const(1),
                                                 o_CLKO=ResetSignal("sync"))
        else:
            m.submodules.reset_sync = ResetSynchronizer(~locked | button, domain="sync")
