"""Per-column read-noise variance of the emulated tile, and the noise gain of each sample (the digital twin).

With twin.read_noise on (contract.device_read_noise) a sample's noise grows with the conductance and the
drive of the devices its column integrated. Each column keeps a variance V_j beside its integrator: every
integrated row adds its weight's table entry VT[|w|] times the command's odd factor 2c + 1 (c the INTEGRATE
command number since `start`, so a PWM window sums x^2 per row). The factors times the table are L + 1
shared registers stepped by 2 VT[k] per command (constants for bit-serial, whose steps are one command
each), so a device pays one small mux, no multiplier. With twin drift the row words are fine weights
(contract.device_twin_drift, 2^-F code): a device's table index is its whole weight's magnitude,
(|fine| + 2^(F-1)) >> F, capped at L (the parallel layouts store it beside the weight, computed when the
weight is written). A column's V goes through a leading-one detector and a shift to its
variance class, and a constant ROM gives the gain: at a sample, for each ADC's selected column (SampleGain:
the serial layout, and one- or two-cycle conversions), or for every column in a register (PositionGains:
the parallel layouts with the noise generators' value pipeline, rtl/noise.py, so no class logic and no
multiplier lie on a sample's path).

Two accumulators, as the integrators: ReadNoiseVariance adds one weight row per cycle (twin.integrate
serial); with the parallel layouts rtl/parallel_integrator.py sums every row's entry in an adder tree beside
the charge's, with the same pipeline, so a column's V is whole in the same cycle as its charge.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from aimcgen.contract.adc_columns import adc_column
from aimcgen.contract.device_read_noise import CLASS_BITS, gain_max, gain_table, variance_bits, variance_table
from aimcgen.contract.device_twin_drift import device_top, fine_weight_bits, fraction_bits, whole_weight
from aimcgen.rtl.lane_copies import lane_flip
from aimcgen.spec import DesignSpec


def scaled_entries(m: Module, spec: DesignSpec, begin, start) -> Array:
    """(2c + 1) VT[k], k = 0..L, for the INTEGRATE accepted last (`begin` with its `start`): registers that
    hold the accepted command's values from the next cycle on (PWM), or constants (bit-serial)."""
    width = variance_bits(spec)
    table = variance_table(spec)
    if spec.input.encoding != "pwm":
        return Array(Const(v, width) for v in table)
    scaled = []
    for k, v in enumerate(table):
        reg = Signal(width, name=f"scaled_{k}", init=v)
        with m.If(begin):
            m.d.sync += reg.eq(Mux(start, v, reg + 2 * v))
        scaled.append(reg)
    return Array(scaled)


def table_index(m: Module, spec: DesignSpec, weight, name: str) -> Signal:
    """min(|whole weight|, L) of a (fine, with drift) weight: the entry of VT a device reads with."""
    levels, fraction = spec.tile.conductance_levels, fraction_bits(spec)
    magnitude = Signal(range(device_top(spec) + 2), name=f"magnitude_{name}")     # drift: up to L + H
    if fraction:
        fine = Signal(len(weight), name=f"fine_magnitude_{name}")
        m.d.comb += [fine.eq(Mux(weight < 0, -weight, weight)),
                     magnitude.eq((fine + (1 << (fraction - 1))) >> fraction)]
    else:
        m.d.comb += magnitude.eq(Mux(weight < 0, -weight, weight))
    index = Signal(entry_shape(spec), name=f"entry_{name}")
    m.d.comb += index.eq(Mux(magnitude > levels, levels, magnitude))
    return index


def table_indices(spec: DesignSpec, weights) -> list:
    """table_index of each (fine) weight of a nested list or array, in Python: the initial contents of the
    parallel layouts' stored table indices (rtl/parallel_integrator.py)."""
    levels = spec.tile.conductance_levels
    return np.minimum(np.abs(whole_weight(weights, fraction_bits(spec), levels)), levels).tolist()


def entry_shape(spec: DesignSpec) -> unsigned:
    """A table index 0..L."""
    return unsigned(spec.tile.conductance_levels.bit_length())


def variance_layout(spec: DesignSpec) -> data.ArrayLayout:
    """The column variances grouped by ADC, as the integrators: [a][p] is the column at position p of ADC a."""
    return data.ArrayLayout(data.ArrayLayout(unsigned(variance_bits(spec)), spec.columns_per_adc),
                            spec.adc.count)


def gain_shape(spec: DesignSpec) -> unsigned:
    return unsigned(max(gain_max(spec), 1).bit_length())


def capped_gains(spec: DesignSpec) -> list[int]:
    """The gain ROM's entries: classes above that of the largest reachable V are never addressed, so capped
    to keep the port narrow."""
    return [min(g, gain_max(spec)) for g in gain_table(spec)]


def class_gain(m: Module, spec: DesignSpec, variance, name: str):
    """The gain of a variance V: the ROM entry of its class s * 2^P + (V >> s), s = max(bit_length(V) - P, 0).

    Built flat, for depth: each class s >= 1 (V's leading one at bit s + P - 1) has its own small ROM of
    the P - 1 bits below that one, s = 0 one of V's low P bits; one-hot selects from the leading one pick
    among them (a leading-one detector, a shift and one ROM of the whole index in series had put some
    dozen LUT levels on the worst path of the tile64 build with read noise)."""
    width = variance_bits(spec)
    gains = capped_gains(spec)
    shape = gain_shape(spec)

    def rom(first, index):
        """Entries first, first + 1, ... of the gain table, picked by index."""
        return Array(Const(g, shape) for g in gains[first:first + (1 << len(index))])[index]

    top_shift = max(width - CLASS_BITS, 0)
    if not top_shift:
        return rom(0, variance)
    # (whether V is in class s, the entry of class s)
    classes = [(~variance[CLASS_BITS:].any(), rom(0, variance[:CLASS_BITS]))]
    for s in range(1, top_shift + 1):
        lead = s + CLASS_BITS - 1                           # V's leading one
        chosen = variance[lead] & ~variance[lead + 1:].any() if lead + 1 < width else variance[lead]
        classes.append((chosen, rom((s << CLASS_BITS) + (1 << (CLASS_BITS - 1)), variance[s:lead])))
    picked = Const(0, shape)
    for s, (chosen, entry) in enumerate(classes):
        term = Signal(shape, name=f"class_{s}_gain_{name}")
        m.d.comb += term.eq(Mux(chosen, entry, 0))
        picked = picked | term
    gain = Signal(shape, name=f"gain_{name}")
    m.d.comb += gain.eq(picked)
    return gain


class SampleGain(wiring.Component):
    """The gain of each ADC's sample: the variance class of its selected column's V, through a constant ROM.

    Ports: `variance` (variance_layout), `col_sel` (the position each ADC samples), `gain` (per ADC)."""

    def __init__(self, spec: DesignSpec):
        self.spec = spec
        super().__init__({
            "variance": In(variance_layout(spec)),
            "col_sel": In(range(max(2, spec.columns_per_adc))),
            "gain": Out(data.ArrayLayout(gain_shape(spec), spec.adc.count)),
        })

    def elaborate(self, platform):
        spec = self.spec
        m = Module()
        width, group = variance_bits(spec), spec.columns_per_adc
        for a in range(spec.adc.count):
            picked = Signal(width, name=f"picked_{a}")
            served = [self.variance[a][p] for p in range(group)]
            m.d.comb += picked.eq(Array(served)[self.col_sel] if group > 1 else served[0])
            m.d.comb += self.gain[a].eq(class_gain(m, spec, picked, str(a)))
        return m


class PositionGains(wiring.Component):
    """The gain of every column's V in a register, for the noise generators' value pipeline (rtl/noise.py):
    a sample then picks its column's scaled value, with no class logic or multiplier on its path.

    Ports: `variance` ("parallel": variance_layout), or ("parallel_adc") `landing_step` (the parallel
    integrator's sweep step whose V, if any, is written at this cycle's edge) and `landed_variance` (per ADC,
    the V of that step's position as it stands after the edge, from the integrator's register); `gain`
    ([a][p]: the gain of V[a][p], from the second cycle after the V was written; from reset, that of V = 0).
    twin.integrate "parallel_adc" writes one position per ADC per cycle, so each ADC has one class logic and
    ROM: each cycle it refreshes the gain of the position that landed last from `landed_variance` (the other
    positions keep their V, so rewriting their gain changes nothing). Reading that V through a select across
    the ADC's V registers had put the select and their routes on the worst path of the tile64 build with
    read noise. The position comes from a register per ADC beside its logic, holding the step XORed with an
    ADC constant (rtl/lane_copies.py) so that synthesis keeps the copies apart: a shared one had put a
    cross-chip route on the EVN's worst path. "parallel" writes every position at once, so each has its own
    class logic and ROM.
    """

    def __init__(self, spec: DesignSpec):
        self.spec = spec
        self.swept = spec.twin.integrate == "parallel_adc" and spec.columns_per_adc > 1
        layout = data.ArrayLayout(data.ArrayLayout(gain_shape(spec), spec.columns_per_adc), spec.adc.count)
        zero = capped_gains(spec)[0]                # the gain of V = 0 (class 0)
        landed = {"landing_step": In(range(max(2, spec.columns_per_adc))),
                  "landed_variance": In(data.ArrayLayout(unsigned(variance_bits(spec)), spec.adc.count))}
        super().__init__({
            **(landed if self.swept else {"variance": In(variance_layout(spec))}),
            "gain": Out(layout, init=[[zero] * spec.columns_per_adc] * spec.adc.count),
        })

    def elaborate(self, platform):
        spec = self.spec
        m = Module()
        group = spec.columns_per_adc
        for a in range(spec.adc.count):
            if not self.swept:
                for p in range(group):
                    m.d.sync += self.gain[a][p].eq(class_gain(m, spec, self.variance[a][p], f"{a}_{p}"))
                continue
            depth, flip = lane_flip(group, a)               # rtl/lane_copies.py
            landed = Signal(range(depth), init=flip, name=f"landed_{a}", attrs={"keep": 1})  # step ^ flip
            m.d.sync += landed.eq(self.landing_step ^ flip)
            gain = Signal(gain_shape(spec), name=f"landed_gain_{a}")
            m.d.comb += gain.eq(class_gain(m, spec, self.landed_variance[a], str(a)))
            for k in range(depth):
                if k ^ flip < group:
                    with m.If(landed == k):
                        m.d.sync += self.gain[a][k ^ flip].eq(gain)
        return m


class ReadNoiseVariance(wiring.Component):
    """Column variances (one weight row per cycle) and per-ADC sample gains of one serial emulated tile.

    Ports: `begin` (an INTEGRATE is accepted this cycle) with its `start` bit (start: every V_j = 0 and
    c = 0; else c + 1); `add` (add the row `word`, signed weights of every column, to the variances);
    `col_sel` (the column position each ADC samples; `word` holds fine weights with twin drift); `gain`
    (per ADC, the gain of that column's variance class, contract.device_read_noise).
    """

    def __init__(self, spec: DesignSpec):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        self.spec = spec
        super().__init__({
            "begin": In(1), "start": In(1), "add": In(1),
            "word": In(data.ArrayLayout(signed(fine_weight_bits(spec)), spec.tile.cols)),
            "col_sel": In(range(max(2, spec.columns_per_adc))),
            "gain": Out(data.ArrayLayout(gain_shape(spec), spec.adc.count)),
        })

    def elaborate(self, platform):
        spec = self.spec
        m = Module()
        scaled = scaled_entries(m, spec, self.begin, self.start)
        m.submodules.gain = gain = SampleGain(spec)
        for a in range(spec.adc.count):
            for p in range(spec.columns_per_adc):
                j = adc_column(spec, a, p)                  # contract.adc_columns
                v = gain.variance[a][p]
                entry = table_index(m, spec, self.word[j], str(j))
                with m.If(self.begin & self.start):
                    m.d.sync += v.eq(0)
                with m.Elif(self.add):
                    m.d.sync += v.eq(v + scaled[entry])
        m.d.comb += [gain.col_sel.eq(self.col_sel), self.gain.eq(gain.gain)]
        return m
