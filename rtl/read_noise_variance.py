"""Per-column read-noise variance of the emulated tile, and the noise gain of each sample (the digital twin).

With twin.read_noise on (contract.device_read_noise) a sample's noise grows with the conductance and the
drive of the devices its column integrated. This component accumulates, beside the column integrators,
each column's variance V_j: every integrated row adds its weight's table entry VT[|w|] times the command's
odd factor 2c + 1 (c the INTEGRATE command number since `start`, so a PWM window sums x^2 per row). The
factors times the table are L + 1 shared registers stepped by 2 VT[k] per command (constants for
bit-serial, whose steps are one command each), so a column pays one small mux and one adder, no
multiplier. With twin drift the row words are fine weights (contract.device_twin_drift, 2^-F code): a
column's table index is its whole weight's magnitude, (|fine| + 2^(F-1)) >> F. At a sample, each ADC's
selected column's V goes through a leading-one detector and a shift to its variance class, and a constant
ROM gives the gain.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from aimcgen.contract.adc_columns import adc_column
from aimcgen.contract.device_read_noise import CLASS_BITS, gain_max, gain_table, variance_bits, variance_table
from aimcgen.contract.device_twin_drift import device_top, fine_weight_bits, fraction_bits
from aimcgen.spec import DesignSpec


class ReadNoiseVariance(wiring.Component):
    """Column variances and per-ADC sample gains of one emulated tile.

    Ports: `begin` (an INTEGRATE is accepted this cycle) with its `start` bit (start: every V_j = 0 and
    c = 0; else c + 1); `add` (add the row `word`, signed weights of every column, to the variances);
    `col_sel` (the column position each ADC samples; `word` holds fine weights with twin drift); `gain`
    (per ADC, the gain of that column's variance class, contract.device_read_noise).
    """

    def __init__(self, spec: DesignSpec):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        self.spec = spec
        self.table = variance_table(spec)
        # Classes above that of the largest reachable V are never addressed: capped to keep the port narrow.
        self.gains = [min(g, gain_max(spec)) for g in gain_table(spec)]
        super().__init__({
            "begin": In(1), "start": In(1), "add": In(1),
            "word": In(data.ArrayLayout(signed(fine_weight_bits(spec)), spec.tile.cols)),
            "col_sel": In(range(max(2, spec.columns_per_adc))),
            "gain": Out(data.ArrayLayout(unsigned(max(gain_max(spec), 1).bit_length()), spec.adc.count)),
        })

    def elaborate(self, platform):
        spec = self.spec
        m = Module()
        levels, cols, group = spec.tile.conductance_levels, spec.tile.cols, spec.columns_per_adc
        width = variance_bits(spec)
        fraction = fraction_bits(spec)

        # (2c + 1) VT[k] for the command being integrated.
        if spec.input.encoding == "pwm":
            scaled = []
            for k, v in enumerate(self.table):
                reg = Signal(width, name=f"scaled_{k}", init=v)
                with m.If(self.begin):
                    m.d.sync += reg.eq(Mux(self.start, v, reg + 2 * v))
                scaled.append(reg)
        else:
            scaled = [Const(v, width) for v in self.table]
        scaled = Array(scaled)

        variance = [Signal(width, name=f"variance_{j}") for j in range(cols)]
        for j, v in enumerate(variance):
            w = self.word[j]
            magnitude = Signal(range(device_top(spec) + 2), name=f"magnitude_{j}")   # drift: up to L + H
            if fraction:
                fine = Signal(len(w), name=f"fine_magnitude_{j}")
                m.d.comb += [fine.eq(Mux(w < 0, -w, w)),
                             magnitude.eq((fine + (1 << (fraction - 1))) >> fraction)]
            else:
                m.d.comb += magnitude.eq(Mux(w < 0, -w, w))
            with m.If(self.begin & self.start):
                m.d.sync += v.eq(0)
            with m.Elif(self.add):
                m.d.sync += v.eq(v + scaled[Mux(magnitude > levels, levels, magnitude)])

        gains = Array(Const(g, len(self.gain[0])) for g in self.gains)
        top_shift = max(width - CLASS_BITS, 0)
        for a in range(spec.adc.count):
            picked = Signal(width, name=f"picked_{a}")
            served = [variance[adc_column(spec, a, p)] for p in range(group)]   # contract.adc_columns
            m.d.comb += picked.eq(Array(served)[self.col_sel] if group > 1 else served[0])
            # s = max(bit_length(V) - P, 0): the highest b with V >= 2^(P + b), plus one.
            shift = Signal(range(top_shift + 1), name=f"shift_{a}")
            s = Const(0, len(shift))
            for b in range(top_shift):
                s = Mux(picked[CLASS_BITS + b:].any(), b + 1, s)
            m.d.comb += shift.eq(s)
            top = Signal(CLASS_BITS, name=f"top_{a}")
            m.d.comb += top.eq(picked >> shift)
            m.d.comb += self.gain[a].eq(gains[Cat(top, shift)])
        return m
