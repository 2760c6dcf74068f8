"""The emulated analog tile: a synthesizable stand-in for the analog macro behind the boundary (rtl.boundary).

It lets the whole accelerator run on an FPGA or in RTL simulation before (or instead of) silicon, and it
reproduces the golden model (sim.golden.GoldenTile) bit for bit, noise included, so every periphery test can
compare against Python. Integration is digital and exact: one weight row per cycle from a BRAM-friendly
memory (one word per tile row), all columns in parallel.

Timing (cycles from acceptance to the next possible acceptance):
- INTEGRATE: 1 + (index of the highest enabled row + 1); a cycle with no enabled row takes 1.
- COMPARE, CONVERT, PROG_READ: 1 (ready stays high); the response is valid the cycle after acceptance.
- PROG_WRITE: 2 (read-modify-write of the row word; ready is low for one cycle).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory

from aimcgen.formats import SignedFormat, datapath_formats
from aimcgen.rtl.boundary import AnalogBoundarySignature, AnalogOp, adc_codes_layout
from aimcgen.rtl.noise import NoiseGenerator
from aimcgen.sim.golden import check_weights
from aimcgen.spec import DesignSpec


class EmulatedCrossbar(wiring.Component):
    """One emulated tile: weights, column integrators, and one noisy ADC front end per ADC.

    The signature is the flipped `AnalogBoundarySignature(spec)` (members row_en, row_sign, cmd, resp), so
    `wiring.connect(m, periphery.analog, tile)` joins it to the periphery. `tile_index` selects the noise
    seeds (the golden model's tile index); `init_weights` (rows x cols conductance codes in
    -levels..levels) preloads the memory, which otherwise starts at zero.

    PROG_WRITE programs exactly; the code -2^(weight_bits-1), which no device pair can hold, is programmed
    as -levels. Rows and columns beyond the tile are ignored by PROG_WRITE and read as 0 by PROG_READ.
    The integrators are sized (datapath_formats) for one drive step of at most input.max_magnitude PWM
    cycles; integrating more without `start` wraps.
    """

    def __init__(self, spec: DesignSpec, tile_index: int = 0, init_weights=None):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        if isinstance(tile_index, bool) or not isinstance(tile_index, int):
            raise TypeError(f"tile_index must be an integer, not {type(tile_index).__name__}")
        if not 0 <= tile_index < spec.tiles:
            raise ValueError(f"tile_index = {tile_index}: must lie in 0..{spec.tiles - 1} "
                             f"(the spec has {spec.tiles} tiles)")
        shape = (spec.tile.rows, spec.tile.cols)
        self.spec = spec
        self.tile_index = tile_index
        self.init_weights = (np.zeros(shape, dtype=np.int64) if init_weights is None
                             else check_weights(init_weights, spec, shape).copy())
        super().__init__(AnalogBoundarySignature(spec).flip())

    def elaborate(self, platform):
        spec = self.spec
        fmt = datapath_formats(spec)
        rows, cols = spec.tile.rows, spec.tile.cols
        adcs, group = spec.adc.count, spec.columns_per_adc
        levels = spec.tile.conductance_levels
        cmd = self.cmd.payload
        m = Module()

        accept = Signal()
        integrating = Signal()      # walking the latched rows, one memory word per cycle
        writing = Signal()          # second cycle of PROG_WRITE: the row word is on the read port
        m.d.comb += [
            self.cmd.ready.eq(~integrating & ~writing),
            accept.eq(self.cmd.valid & self.cmd.ready),
        ]
        op = cmd.op

        # --- Weight memory: one word per row, so integration reads every column of a row at once.
        word = data.ArrayLayout(signed(fmt.weight.bits), cols)
        m.submodules.weights = weights = Memory(shape=word, depth=rows, init=self.init_weights.tolist())
        rd = weights.read_port()
        wr = weights.write_port()

        # --- Column integrators, grouped by ADC so the column mux is a plain index.
        charge = Signal(data.ArrayLayout(data.ArrayLayout(signed(fmt.charge.bits), group), adcs))

        next_row = Signal(range(rows))
        en_left = Signal(rows)      # bit 0: enable of the row whose word is on the read port
        sign_left = Signal(rows)

        prog_row = Signal.like(cmd.row)
        prog_col = Signal.like(cmd.col)
        prog_target = Signal.like(cmd.target)
        prog_in_range = Signal()

        with m.If(integrating):
            m.d.comb += [rd.addr.eq(next_row), rd.en.eq(1)]
        with m.Elif(accept & (op == AnalogOp.INTEGRATE)):
            m.d.comb += [rd.addr.eq(0), rd.en.eq(1)]
        with m.Elif(accept & ((op == AnalogOp.PROG_READ) | (op == AnalogOp.PROG_WRITE))):
            m.d.comb += [rd.addr.eq(cmd.row), rd.en.eq(1)]
        with m.Else():
            # Holding the read port keeps PROG_READ's answer until the next command.
            m.d.comb += rd.en.eq(0)

        with m.If(integrating):
            for j in range(cols):
                column = charge[j // group][j % group]
                w = rd.data[j]
                with m.If(en_left[0]):
                    m.d.sync += column.eq(column + Mux(sign_left[0], -w, w))
            m.d.sync += [
                en_left.eq(en_left >> 1),
                sign_left.eq(sign_left >> 1),
                next_row.eq(Mux(next_row == rows - 1, 0, next_row + 1)),
                # Rows above the highest enabled one add nothing: stop early.
                integrating.eq(en_left[1:].any()),
            ]
        with m.Elif(accept & (op == AnalogOp.INTEGRATE)):
            with m.If(cmd.start):
                m.d.sync += charge.eq(0)
            m.d.sync += [
                en_left.eq(self.row_en),
                sign_left.eq(self.row_sign),
                next_row.eq(1),
                integrating.eq(self.row_en.any()),
            ]

        # --- Programming: read-modify-write of one row word (a single write enable maps to any BRAM).
        with m.If(accept & (op == AnalogOp.PROG_WRITE)):
            m.d.sync += [
                prog_row.eq(cmd.row),
                prog_col.eq(cmd.col),
                # No device pair holds -2^(weight_bits-1): program the nearest code, as the device would.
                prog_target.eq(Mux(cmd.target < -levels, -levels, cmd.target)),
                writing.eq(1),
            ]
        with m.If(writing):
            m.d.sync += writing.eq(0)
            m.d.comb += [wr.addr.eq(prog_row), wr.en.eq(prog_in_range)]
            for j in range(cols):
                m.d.comb += wr.data[j].eq(Mux(prog_col == j, prog_target, rd.data[j]))
        m.d.comb += prog_in_range.eq((prog_row < rows) & (prog_col < cols))

        read_col = Signal.like(cmd.col)
        read_in_range = Signal()
        with m.If(accept & (op == AnalogOp.PROG_READ)):
            m.d.sync += [
                read_col.eq(cmd.col),
                read_in_range.eq((cmd.row < rows) & (cmd.col < cols)),
            ]
        m.d.comb += self.resp.read_data.eq(Mux(read_in_range, rd.data[read_col], 0))

        # --- ADC front ends. Every comparator threshold is a multiple of the LSB (flash: shifted down by
        # half an LSB), so `2*sample >= comparator_threshold_x2(trial)` is exactly `level >= trial` with
        # level = (sample + rounding) >> lsb_shift, the unclipped code of sim.adc.adc_code. Holding that
        # level instead of the sample saves lsb_shift bits per ADC.
        adc = spec.adc
        shift = adc.lsb_shift
        rounding = 1 << (shift - 1) if adc.kind == "flash" and shift > 0 else 0
        level_fmt = SignedFormat.holding((fmt.charge.min + rounding) >> shift,
                                         (fmt.charge.max + rounding) >> shift)

        sampling = Signal()
        m.d.comb += sampling.eq(accept & ((op == AnalogOp.CONVERT) | ((op == AnalogOp.COMPARE) & cmd.start)))

        comp = Signal(adcs)
        code = Signal(adc_codes_layout(spec))
        for a in range(adcs):
            m.submodules[f"noise_{a}"] = noise = NoiseGenerator(spec, self.tile_index, a)
            held = Signal(signed(level_fmt.bits), name=f"held_level_{a}")
            sample = Signal(signed(fmt.charge.bits), name=f"sample_{a}")
            level = Signal(signed(level_fmt.bits), name=f"level_{a}")
            m.d.comb += [
                noise.draw.eq(sampling),
                sample.eq((charge[a][cmd.col_sel] if group > 1 else charge[a][0]) + noise.value),
                level.eq(Mux(sampling, (sample + rounding) >> shift, held)),
            ]
            with m.If(sampling):
                m.d.sync += held.eq(level)
            with m.If(accept & (op == AnalogOp.COMPARE)):
                m.d.sync += comp[a].eq(level >= cmd.trial[a])
            with m.If(accept & (op == AnalogOp.CONVERT)):
                m.d.sync += code[a].eq(Mux(level > adc.code_max, adc.code_max,
                                           Mux(level < adc.code_min, adc.code_min, level)))
        m.d.comb += [self.resp.comp.eq(comp), self.resp.code.eq(code)]
        return m
