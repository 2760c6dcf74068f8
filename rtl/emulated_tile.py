"""The emulated analog tile: a synthesizable stand-in for the analog macro behind the boundary (rtl.boundary).

It lets the whole accelerator run on an FPGA or in RTL simulation before (or instead of) silicon, and it
reproduces the golden model (sim.models.golden.GoldenTile) bit for bit, noise included, so every periphery test can
compare against Python. Integration is digital and exact, in one of two structures (spec twin.integrate):
serial, one weight row per cycle from a BRAM-friendly memory (one word per tile row and polarity), all
columns in parallel; or parallel (parallel, parallel_adc), every row at once through pipelined adder trees
(rtl/parallel_integrator.py). All give the same sums.

Timing (cycles from acceptance to the next possible acceptance):
- INTEGRATE, serial: 1 + (index of the highest enabled row + 1); a cycle with no enabled row takes 1.
- INTEGRATE, parallel: 1, back to back; parallel_adc: columns_per_adc = G (the trees sweep the G column
  positions, one per cycle; 1 for the last INTEGRATE before another command). Position q's charge is whole
  rtl.parallel_integrator.latency(spec) + q cycles after the INTEGRATE's acceptance (latency = 1 +
  ceil(ceil(log2(rows)) / 2): tile64 4; q = 0 for parallel): a sampling command of position q waits for
  it, PROG_WRITE and PROG_READ wait until every position's is, COMPARE without start waits for nothing.
- COMPARE, CONVERT, PROG_READ: 1 (ready stays high); the response is valid the cycle after acceptance.
  A SAR or ramp loads its held sample and comparator register, and PROG_READ its answer register, on
  every cycle their command is offered (rtl.boundary: resp.comp and resp.read_data are defined only on the
  cycle after their command's acceptance).
  A sampling command (CONVERT for a flash ADC, COMPARE with start for SAR and ramp) is accepted no sooner
  than `rtl.noise.leap_cycles` + `rtl.noise.value_pipeline` + `rtl.noise.draw_register` cycles after the
  last one (the noise generators may register the draw, leap in that many cycles, then register the
  value); a conversion of the spec's ADC takes at least as long, so the ADC controllers never see this
  wait. The same holds for the first sampling command after reset, 2 cycles with a value pipeline.
  The command of the other ADC kind (COMPARE for flash, CONVERT otherwise) is accepted and does nothing.
  With SAR and ramp ADCs the tile takes a sampling command's position from its own registers, loaded from
  col_sel on every cycle (contract.schedule.col_sel_settled: the position is on the pins a cycle before its
  sample is offered); with a flash ADC from the pins.
- PROG_WRITE: 2 (the code is written in the first cycle, its negation in the second; the parallel layouts
  write the code in the second cycle, and parallel_adc's memories take it through per-lane registers one
  edge later, still before an INTEGRATE accepted next can read it; ready is low for one cycle). With the
  digital twin on (spec [twin], contract.device_twin) the devices land first: 7 with
  programming error (G+ draws at acceptance, G- after the generator's 4-cycle leap, then the stored code and
  its negation), and a further PROG_WRITE waits for the leap of the G- draw, 8 cycles after the first;
  4 with stuck devices alone; 29 with drift, which draws four times per write and binary-searches each
  drift code's threshold row, 7 cycles per device (rtl/drift_code_scanner.py).
- With twin read_noise on, each column's read-noise variance (rtl/read_noise_variance.py,
  contract.device_read_noise) is accumulated in the INTEGRATE cycles that add its charge (serial) or in
  adder trees beside the charge's, of the same latency (parallel layouts). Serial, or a one- or two-cycle
  conversion: nothing changes in the timing, the sample's gain is looked up in the cycle it samples.
  Parallel layouts with a conversion of 3 or more cycles (rtl.noise.value_pipeline 2): every column's gain
  is registered and each noise generator scales its draw by every position's gain in a register
  (rtl.noise.noise_positions), so a sample of position q waits 2 more cycles, until
  latency + q + 2 cycles after the INTEGRATE's acceptance.
- With twin drift on, a change of `drift_epoch` re-reads every device (rtl/twin_devices.py): the tile
  accepts no command for 4 + 2 x rows x cols cycles (one to start, two per cell, two pipeline stages, one
  for the last negation).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory

from aimcgen.contract.adc_columns import column_adc
from aimcgen.contract.formats import SignedFormat, datapath_formats
from aimcgen.contract.adc_errors import chip_thresholds
from aimcgen.rtl.adc_thresholds import AdcThresholds
from aimcgen.rtl.boundary import AnalogBoundarySignature, AnalogOp, adc_codes_layout
from aimcgen.rtl.noise import (NoiseGenerator, draw_register, leap_cycles, noise_positions, position_gain_wait,
                               position_gains, value_pipeline)
from aimcgen.rtl.noise_ready import NoiseReady
from aimcgen.contract.device_twin import preload, stuck_map, twin_active
from aimcgen.contract.device_twin_drift import EPOCH_BITS, fraction_bits
from aimcgen.contract.device_read_noise import read_noise_on
from aimcgen.rtl.read_noise_variance import PositionGains, ReadNoiseVariance, SampleGain
from aimcgen.contract.schedule import col_sel_settled
from aimcgen.contract.weight_codes import check_weights
from aimcgen.rtl.twin_devices import TwinDevices
from aimcgen.rtl.parallel_integrator import ParallelIntegrator, charge_layout
from aimcgen.rtl.sweep_pipeline import POSITION_SELECT, PositionReady
from aimcgen.spec import DesignSpec, check_tile_index


class EmulatedCrossbar(wiring.Component):
    """One emulated tile: weights, column integrators, and one noisy ADC front end per ADC.

    The signature is the flipped `AnalogBoundarySignature(spec)` (members row_en, row_sign, cmd, resp), so
    `wiring.connect(m, periphery.analog, tile)` joins it to the periphery. `tile_index` selects the noise
    seeds (the golden model's tile index); `init_weights` (rows x cols conductance codes in
    -levels..levels) preloads the memory, which otherwise starts at zero.

    Without the digital twin (spec [twin] off) PROG_WRITE programs exactly; with it the devices land with
    programming error, stuck devices hold their codes and, with drift, every read sees the devices at the
    epoch on `drift_epoch` (a plain signal the parent drives, not part of the boundary; see
    rtl/twin_devices.py). The code -2^(weight_bits-1), which no device pair can hold, is programmed
    as -levels. Rows and columns beyond the tile are ignored by PROG_WRITE and read as 0 by PROG_READ.
    The integrators are sized (datapath_formats) for one drive step of at most input.max_magnitude PWM
    cycles; integrating more without `start` wraps.
    """

    def __init__(self, spec: DesignSpec, tile_index: int = 0, init_weights=None):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        check_tile_index(spec, tile_index)
        shape = (spec.tile.rows, spec.tile.cols)
        self.spec = spec
        self.tile_index = tile_index
        self.init_weights = (np.zeros(shape, dtype=np.int64) if init_weights is None
                             else check_weights(init_weights, spec, shape).copy())
        self.stuck = stuck_map(spec, tile_index)
        # What the devices hold at configuration: the initial weights, except where a device is stuck.
        self.stored_init = preload(self.init_weights, self.stuck)
        super().__init__(AnalogBoundarySignature(spec).flip())
        # The chip's drift epoch (spec twin.drift, contract.device_twin_drift): not a pin of the analog
        # boundary (on silicon time passes by itself) but an emulation control the parent drives.
        self.drift_epoch = Signal(EPOCH_BITS, name=f"drift_epoch_{tile_index}")

    def elaborate(self, platform):
        spec = self.spec
        fmt = datapath_formats(spec)
        rows, cols = spec.tile.rows, spec.tile.cols
        adcs, group = spec.adc.count, spec.columns_per_adc
        levels = spec.tile.conductance_levels
        cmd = self.cmd.payload
        m = Module()

        accept = Signal()
        integrating = Signal()      # serial: walking the latched rows; parallel: INTEGRATEs in the pipeline
        writing = Signal()          # second cycle of PROG_WRITE
        op = cmd.op
        # Every ADC samples its column (and draws its noise) on CONVERT (flash) or COMPARE with start.
        flash = spec.adc.kind == "flash"
        samples = (op == AnalogOp.CONVERT) if flash else ((op == AnalogOp.COMPARE) & cmd.start)
        sampling = Signal()
        noise_ready = Signal()      # the noise generators have finished the leap of the last draw
        twin_busy = Signal()        # a write of the twin is landing its devices
        twin_ready = Signal(init=1) # the twin's programming-noise generator may draw again
        parallel = spec.twin.integrate != "serial"
        # The position a sampling command names, from registers of the tile's own where the boundary allows it
        # (contract.schedule.col_sel_settled: conversions of two or more commands): a copy for the sample readiness
        # beside the command logic, one for the gain select and one per ADC front end. Then no wire from the
        # periphery's position register runs through the readiness and back as that register's enable (the
        # loop that set Fmax on the tile64 builds), nor fans out to every ADC's sample multiplexer.
        settled = col_sel_settled(spec) and group > 1

        def sample_position(name: str):
            if not settled:
                return cmd.col_sel
            copy = Signal(cmd.col_sel.shape(), name=f"col_sel_{name}", attrs={"keep": 1})
            m.d.sync += copy.eq(cmd.col_sel)
            return copy
        # Device read noise through the noise generators' value pipeline (parallel layouts, conversions of 3
        # or more cycles, rtl/noise.py): each column's gain and scaled noise wait in registers.
        positions = position_gains(spec)
        # Parallel integrators pipeline INTEGRATEs (rtl/parallel_integrator.py): an INTEGRATE waits for the
        # trees, a sample for its column position's charge, PROG_WRITE and PROG_READ until no sum is owed;
        # the other commands (a comparison with the held sample) wait for nothing.
        integrate_waits = integrating
        if parallel:
            trees_free, position_ready = Signal(), Signal()
            programs = (op == AnalogOp.PROG_WRITE) | (op == AnalogOp.PROG_READ)
            integrate_waits = Mux(op == AnalogOp.INTEGRATE, ~trees_free,
                                  Mux(samples, ~position_ready, programs & integrating))
        m.d.comb += [
            # A sampling command waits for the noise leap, which a conversion of the spec's ADC always hides;
            # a write with the twin waits for the programming-noise leap of the last write.
            self.cmd.ready.eq(~integrate_waits & ~writing & ~twin_busy & (noise_ready | ~samples)
                              & (twin_ready | (op != AnalogOp.PROG_WRITE))),
            accept.eq(self.cmd.valid & self.cmd.ready),
            sampling.eq(accept & samples),
        ]

        fraction = fraction_bits(spec)
        row_bits = len(cmd.row)
        # With drift a device may read up to L + H codes (the headroom, contract.device_twin_drift) and the
        # weights are fine (fmt.fine_weight: `fraction` more bits, 2^-fraction code), so are the integrators;
        # the charge an ADC samples is rounded once, at the sample.
        fine_init = self.stored_init << fraction
        if parallel:
            # --- All rows at once (rtl/parallel_integrator.py): weights in registers, pipelined adder trees.
            m.submodules.integrator = integrator = ParallelIntegrator(spec, fine_init, row_bits, len(cmd.col))
            charge = integrator.charge
            # When the trees take an INTEGRATE and which positions are whole: the integrator's sweep rule,
            # kept here beside the command logic (rtl/sweep_pipeline.py), strobed with the same begin.
            m.submodules.sweep_status = status = integrator.status_copy()
            begin = Signal()
            m.d.comb += begin.eq(accept & (op == AnalogOp.INTEGRATE))
            # With position gains (device read noise through the value pipeline) a position's scaled noise
            # is rtl.noise.position_gain_wait = 2 cycles behind its charge and variance (gain register, value
            # register): a sample of it waits for both, through copies of ready_positions delayed by each of
            # those cycles.
            m.submodules[POSITION_SELECT] = selected = PositionReady(spec, late=position_gain_wait(spec))
            m.d.comb += [selected.ready_positions.eq(status.ready_positions),
                         selected.col_sel.eq(sample_position("ready"))]
            m.d.comb += [integrator.begin.eq(begin), status.begin.eq(begin),
                         integrator.start.eq(cmd.start), integrator.row_en.eq(self.row_en),
                         integrator.row_sign.eq(self.row_sign), integrating.eq(status.busy),
                         trees_free.eq(status.accepting), position_ready.eq(selected.ready)]
        else:
            charge, wr, en_left, rd_data = self._serial_integrators(m, fine_init, accept, integrating)

        # --- Programming: the stored code in one cycle, its negation in the next one, each through the
        # write port's per-column enables (a column beyond the tile enables none). Rows beyond the tile
        # land in padding words that nothing reads. Without the twin the stored code is the target, stored
        # in the cycle of acceptance; with it (contract.device_twin) it is what the devices landed at,
        # stored a few cycles later (twin_busy holds ready low meanwhile).
        # No device pair holds -2^(weight_bits-1): program the nearest code, as the device would.
        target = Signal.like(cmd.target)
        m.d.comb += target.eq(Mux(cmd.target < -levels, -levels, cmd.target))
        write_now = Signal()
        m.d.comb += write_now.eq(accept & (op == AnalogOp.PROG_WRITE))
        store_now = Signal()
        stored = Signal(signed(fmt.fine_weight.bits))      # the integrators' (fine) weight
        # The whole weight PROG_READ returns: the stored weight itself unless it has fraction bits.
        stored_code = Signal(signed(fmt.weight.bits)) if fraction else stored
        store_row, store_col = Signal.like(cmd.row), Signal.like(cmd.col)
        if twin_active(spec):
            m.submodules.twin = twin = TwinDevices(spec, self.tile_index, self.init_weights, len(cmd.row),
                                                   len(cmd.col))
            m.d.comb += [
                twin.write.eq(write_now), twin.row.eq(cmd.row), twin.col.eq(cmd.col), twin.target.eq(target),
                twin.hold.eq(integrating | writing | accept), twin.epoch.eq(self.drift_epoch),
                twin_busy.eq(twin.busy), twin_ready.eq(twin.write_ready),
                store_now.eq(twin.store), stored.eq(twin.stored), store_row.eq(twin.store_row),
                store_col.eq(twin.store_col),
            ]
            if fraction:
                m.d.comb += stored_code.eq(twin.stored_code)
        else:
            m.d.comb += [store_now.eq(write_now), stored.eq(target), store_row.eq(cmd.row),
                         store_col.eq(cmd.col)]
        # The second cycle of a write stores the negation (serial) or nothing (parallel): the same timing.
        with m.If(store_now):
            m.d.sync += writing.eq(1)
        with m.If(writing):
            m.d.sync += writing.eq(0)
        if parallel:
            # Written in the second cycle, from registers: the write enables of every weight hang off a
            # register, not off the command's acceptance.
            write_row, write_col = Signal.like(cmd.row), Signal.like(cmd.col)
            write_data = Signal(signed(fmt.fine_weight.bits))
            with m.If(store_now):
                m.d.sync += [write_row.eq(store_row), write_col.eq(store_col), write_data.eq(stored)]
            m.d.comb += [integrator.write.eq(writing), integrator.write_row.eq(write_row),
                         integrator.write_col.eq(write_col), integrator.write_data.eq(write_data)]
        else:
            prog_row, prog_col = Signal.like(cmd.row), Signal.like(cmd.col)
            prog_negated = Signal(signed(fmt.fine_weight.bits))
            with m.If(store_now):
                m.d.sync += [prog_row.eq(store_row), prog_col.eq(store_col), prog_negated.eq(-stored)]
            write_col = Signal.like(cmd.col)
            m.d.comb += [
                wr.addr.eq(Mux(writing, Cat(prog_row, 1), Cat(store_row, 0))),
                write_col.eq(Mux(writing, prog_col, store_col)),
            ]
            for j in range(cols):
                m.d.comb += [wr.data[j].eq(Mux(writing, prog_negated, stored)),
                             wr.en[j].eq((writing | store_now) & (write_col == j))]

        # PROG_READ answers from a copy with one code per word, addressed by (row, col): the answer comes
        # straight from the block RAM's output register, not through a column mux (a short path into
        # program-and-verify's comparison). Written with the programmed code, in the cycle of acceptance.
        col_bits = len(cmd.col)
        cell_init = [[0] * (1 << col_bits) for _ in range(1 << row_bits)]
        for (i, j), w in np.ndenumerate(self.stored_init):
            cell_init[i][j] = int(w)
        m.submodules.cells = cells = Memory(shape=signed(fmt.weight.bits), depth=1 << (row_bits + col_bits),
                                            init=sum(cell_init, []), attrs={"no_rw_check": 1})
        cell_wr, cell_rd = cells.write_port(), cells.read_port(domain="comb")
        cell = Signal(signed(fmt.weight.bits))
        read_in_range = Signal()
        m.d.comb += [
            cell_wr.addr.eq(Cat(store_col, store_row)), cell_wr.data.eq(stored_code), cell_wr.en.eq(store_now),
            cell_rd.addr.eq(Cat(cmd.col, cmd.row)),
        ]
        # Loaded on every cycle a PROG_READ is offered (the register takes the port's enable), like the
        # comparators: the last load is the accepted one's, and it holds until the next PROG_READ is offered.
        with m.If(self.cmd.valid & (op == AnalogOp.PROG_READ)):
            m.d.sync += [cell.eq(cell_rd.data), read_in_range.eq((cmd.row < rows) & (cmd.col < cols))]
        m.d.comb += self.resp.read_data.eq(Mux(read_in_range, cell, 0))

        # --- ADC front ends. Every comparator threshold is a multiple of the LSB (flash: shifted down by
        # half an LSB), so `2*sample >= comparator_threshold_x2(trial)` is exactly `level >= trial` with
        # level = (sample + rounding) >> lsb_shift, the unclipped code of contract.adc.adc_code. Holding that
        # level instead of the sample saves lsb_shift bits per ADC. A SAR or ramp macro has comparators and
        # a flash macro its comparator bank, not both: the tile answers its own kind's command only.
        adc = spec.adc
        shift = adc.lsb_shift
        rounding = 1 << (shift - 1) if flash and shift > 0 else 0
        level_fmt = SignedFormat.holding((fmt.charge.min + rounding) >> shift,
                                         (fmt.charge.max + rounding) >> shift)
        # ADC errors (contract.adc_errors): each ADC compares the whole sample with its chip's thresholds
        # (rtl/adc_thresholds.py), so a SAR or ramp holds the sample, not the level; no errors, none built.
        tables = chip_thresholds(spec, self.tile_index)
        if tables is not None and not flash:
            shift, level_fmt = 0, fmt.charge

        # With the twin's device read noise each sample's gain comes from its column's variance
        # (contract.device_read_noise), accumulated beside the integrators from the same row words.
        # (The parallel layouts sum it in their trees, rtl/parallel_integrator.py.)
        if positions:
            m.submodules.read_variance = read_variance = PositionGains(spec)
            if read_variance.swept:
                m.d.comb += [read_variance.landing_step.eq(integrator.landing_step),
                             read_variance.landed_variance.eq(integrator.landed_variance)]
            else:
                m.d.comb += read_variance.variance.eq(integrator.variance)
        elif read_noise_on(spec) and parallel:
            m.submodules.read_variance = read_variance = SampleGain(spec)
            m.d.comb += [read_variance.variance.eq(integrator.variance),
                         read_variance.col_sel.eq(sample_position("gain"))]
        elif read_noise_on(spec):
            m.submodules.read_variance = read_variance = ReadNoiseVariance(spec)
            m.d.comb += [read_variance.begin.eq(accept & (op == AnalogOp.INTEGRATE)),
                         read_variance.start.eq(cmd.start), read_variance.add.eq(integrating & en_left[0]),
                         read_variance.word.eq(rd_data), read_variance.col_sel.eq(sample_position("gain"))]

        comp = Signal(adcs)
        code = Signal(adc_codes_layout(spec))
        # The generators draw together, so they are ready together: a copy of their readiness sits by the
        # command logic (rtl/noise_ready.py), not at any one generator across the chip.
        m.submodules.noise_readiness = ready_copy = NoiseReady(spec, leap_cycles=leap_cycles(spec),
                                                               pipeline=value_pipeline(spec),
                                                               registered_draw=draw_register(spec))
        m.d.comb += [ready_copy.draw.eq(sampling), noise_ready.eq(ready_copy.ready)]
        for a in range(adcs):
            m.submodules[f"noise_{a}"] = noise = NoiseGenerator(spec, self.tile_index, a,
                                                                leap_cycles=leap_cycles(spec),
                                                                pipeline=value_pipeline(spec),
                                                                registered_draw=draw_register(spec),
                                                                positions=noise_positions(spec))
            if read_noise_on(spec):
                m.d.comb += noise.gain.eq(read_variance.gain[a])
            noise_value = noise.value
            position = sample_position(f"adc_{a}")
            if positions:
                noise_value = noise.value[position] if group > 1 else noise.value[0]
            sample = Signal(signed(fmt.charge.bits), name=f"sample_{a}")
            level = Signal(signed(level_fmt.bits), name=f"level_{a}")
            held_charge = charge[a][position] if group > 1 else charge[a][0]
            if fraction:
                # contract.device_twin_drift: charge = (fine_sum + 2^(F-1)) >> F, once per sample.
                rounded = Signal(signed(fmt.charge.bits), name=f"charge_{a}")
                m.d.comb += rounded.eq((held_charge + (1 << (fraction - 1))) >> fraction)
                held_charge = rounded
            m.d.comb += [
                noise.draw.eq(sampling),
                sample.eq(held_charge + noise_value),
            ]
            if tables is not None:
                m.submodules[f"thresholds_{a}"] = erring = AdcThresholds(spec, tables[a])
            if flash and tables is not None:
                m.d.comb += erring.sample.eq(sample)
                with m.If(sampling):
                    m.d.sync += code[a].eq(erring.code)
            elif flash:
                m.d.comb += level.eq((sample + rounding) >> shift)
                with m.If(sampling):
                    m.d.sync += code[a].eq(Mux(level > adc.code_max, adc.code_max,
                                               Mux(level < adc.code_min, adc.code_min, level)))
            else:
                # The held sample and the comparator register load while their command is offered, not
                # when it is accepted: an offered command stays unchanged until accepted (rtl.boundary), so
                # the last load is the accepted command's, and the acceptance (the macro's ready, back
                # through the periphery) reaches none of these registers beside the ADCs.
                held = Signal(signed(level_fmt.bits), name=f"held_level_{a}")
                with m.If(self.cmd.valid & samples):
                    m.d.sync += held.eq(sample >> shift)
                if tables is not None:
                    m.d.comb += [level.eq(Mux(samples, sample >> shift, held)),
                                 erring.sample.eq(level), erring.trial.eq(cmd.trial[a])]
                    result = erring.comp
                else:
                    # Both comparisons at once, the command's start only picking one at the register.
                    result = Mux(samples, (sample >> shift) >= cmd.trial[a], held >= cmd.trial[a])
                with m.If(self.cmd.valid & (op == AnalogOp.COMPARE)):
                    m.d.sync += comp[a].eq(result)
        m.d.comb += [self.resp.comp.eq(comp), self.resp.code.eq(code)]
        return m

    def _serial_integrators(self, m: Module, fine_init: np.ndarray, accept, integrating):
        """twin.integrate = serial: one weight row per cycle from block RAM into the column integrators.
        Returns (charge, the memory's write port, the enables left to walk, the row word being added)."""
        spec = self.spec
        fmt = datapath_formats(spec)
        rows, cols = spec.tile.rows, spec.tile.cols
        cmd, op = self.cmd.payload, self.cmd.payload.op
        row_bits = len(cmd.row)
        # --- Weight memory: one word per row, so integration reads every column of a row at once. Each row
        # is held twice, as programmed and negated (address bit `row_bits` set), so a row driven with
        # negative polarity reads its negated word and every column integrator is a plain adder.
        word = data.ArrayLayout(signed(fmt.fine_weight.bits), cols)
        padding = [[0] * cols] * ((1 << row_bits) - rows)
        init = fine_init.tolist() + padding + (-fine_init).tolist() + padding
        # The read port is enabled only by INTEGRATE, never while the write port writes (PROG_WRITE), so
        # collisions never happen. It is an asynchronous port and a register (with the port's enable)
        # rather than a synchronous port: Yosys merges the two into the block RAM's read port and, told
        # no_rw_check, builds no collision logic (for a synchronous port it emulates read-first behaviour).
        m.submodules.weights = weights = Memory(shape=word, depth=2 << row_bits, init=init,
                                                attrs={"no_rw_check": 1})
        rd_port = weights.read_port(domain="comb")
        rd_addr, rd_en, rd_data = rd_port.addr, Signal(), Signal.like(rd_port.data)
        with m.If(rd_en):
            m.d.sync += rd_data.eq(rd_port.data)
        wr = weights.write_port(granularity=1)      # one enable per column (array element)

        # --- Column integrators, grouped by ADC so the column mux is a plain index: charge[a][p] is the
        # column at position p of ADC a (contract.adc_columns).
        charge = Signal(charge_layout(spec))

        next_row = Signal(range(rows))
        en_left = Signal(rows)      # bit 0: enable of the row whose word is on the read port
        sign_left = Signal(rows)

        with m.If(integrating):
            # The next row, in its polarity (bit 0 of sign_left is the row on the read port).
            m.d.comb += [rd_addr.eq(Cat(next_row, sign_left[1] if rows > 1 else 0)), rd_en.eq(1)]
        with m.Elif(accept & (op == AnalogOp.INTEGRATE)):
            m.d.comb += [rd_addr.eq(Cat(Const(0, row_bits), self.row_sign[0])), rd_en.eq(1)]
        with m.Else():
            m.d.comb += rd_en.eq(0)

        with m.If(integrating):
            for j in range(cols):
                a, p = column_adc(spec, j)          # contract.adc_columns: adc.column_assignment
                column = charge[a][p]
                with m.If(en_left[0]):
                    m.d.sync += column.eq(column + rd_data[j])
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
        return charge, wr, en_left, rd_data
