"""The accelerator datapath: a grid of tiles, partial-sum accumulation, post-processing, weight programming.

Tile (r, c) of the row_tiles x col_tiles grid holds weight block (r, c) and sees input rows r*R..r*R+R-1.
All tiles start an MVM on the same input vector; when every tile's result bank is full, the output
sequencer walks the logical columns: the partial sums of the row tiles of that column's group are added
with saturation (in r order, as the golden model does), then the per-column affine post-processor turns
each into an output code. With per-row-tile gain trims (contract.tile_gain) the partial sums of row tiles
r >= 1 are trimmed first, in a register stage of their own (`_trim_stage`); without them that stage is not
built. Outputs go to the output stream (when enabled) and to an output window that
software reads. Weight writes go through one program-and-verify engine to the addressed tile.

With `emulated=True` every tile's analog boundary is served by an `EmulatedCrossbar` inside; otherwise the
boundaries are ports `analog_<i>` for the real macros.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from aimcgen.contract.device_twin_drift import EPOCH_BITS, drift_on
from aimcgen.rtl.activity_counters import ActivityCounters, counters_layout
from aimcgen.contract.formats import datapath_formats
from aimcgen.rtl.boundary import analog_port_members
from aimcgen.rtl.emulated_tile import EmulatedCrossbar
from aimcgen.rtl.input_buffer import InputBuffer
from aimcgen.rtl.postproc import AffinePostProcessor
from aimcgen.contract.aimc_registers import MAX_RETRIES_BITS
from aimcgen.rtl.program_verify import ProgramVerifyEngine
from aimcgen.rtl.tile_controller import TileController
from aimcgen.contract.postproc import unity_scale
from aimcgen.contract.tile_gain import tile_gain_on, unity_gain
from aimcgen.rtl.tile_gain import TileGainTrim
from aimcgen.spec import DesignSpec


def output_layout(spec: DesignSpec) -> data.StructLayout:
    return data.StructLayout({"value": signed(spec.postproc.output_bits), "last": 1})


def layer_layout() -> data.StructLayout:
    return data.StructLayout({"start": 16, "count": 16})


def weight_write_layout(spec: DesignSpec) -> data.StructLayout:
    return data.StructLayout({
        "row": range(max(2, spec.logical_rows)),
        "col": range(max(2, spec.logical_cols)),
        "target": signed(spec.tile.weight_bits),
    })


class AcceleratorCore(wiring.Component):
    def __init__(self, spec: DesignSpec, *, emulated: bool = True, init_weights=None, fault=None):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        if init_weights is not None and not emulated:
            raise ValueError("init_weights needs emulated=True: real macros are programmed, not initialized")
        self.spec, self.emulated, self.init_weights = spec, emulated, init_weights
        self.fault = fault                  # test-only fault of the post-processor (rtl.postproc.FAULTS)
        fmt = datapath_formats(spec)
        rows, cols = spec.logical_rows, spec.logical_cols
        members = {
            "inp": In(stream.Signature(signed(spec.input.bits))),
            "out": Out(stream.Signature(output_layout(spec))),
            "out_stream_enable": In(1),
            # software-written input vectors
            "in_wr_addr": In(range(max(2, rows))),
            "in_wr_data": In(signed(spec.input.bits)),
            "in_wr_en": In(1),
            "in_commit": In(1),
            "in_free": Out(1),
            # per-column coefficients
            "coef_addr": In(range(max(2, cols))),
            "coef_scale_wdata": In(signed(fmt.scale.bits)),
            "coef_offset_wdata": In(signed(fmt.offset.bits)),
            "coef_scale_we": In(1),
            "coef_offset_we": In(1),
            "coef_scale_rdata": Out(signed(fmt.scale.bits)),
            "coef_offset_rdata": Out(signed(fmt.offset.bits)),
            # the last output vector, for software
            "out_rd_addr": In(range(max(2, cols))),
            "out_rd_data": Out(signed(spec.postproc.output_bits)),
            "out_count": Out(32),
            # weight programming
            "weight": In(stream.Signature(weight_write_layout(spec))),
            "pv_tolerance": In(spec.tile.weight_bits),
            "pv_max_retries": In(MAX_RETRIES_BITS),
            "pv_busy": Out(1),
            "pv_fail": Out(1),
            "pv_fail_row": Out(range(max(2, rows))),
            "pv_fail_col": Out(range(max(2, cols))),
            # layer sequencer: layer i = logical columns start..start+count-1 of one MVM on the grid
            "layer_count": In(range(spec.array.max_layers + 1)),
            "layers": In(data.ArrayLayout(layer_layout(), spec.array.max_layers)),
            # status and error pulses
            "busy": Out(1),
            "start_dropped": Out(1),
            "acc_overflow": Out(1),
            "output_saturated": Out(1),
            "activity": Out(counters_layout()),          # the activity counters (rtl.activity_counters)
        }
        if not emulated:
            members.update(analog_port_members(spec))
        if emulated and drift_on(spec):
            members["drift_epoch"] = In(EPOCH_BITS)     # the emulated devices' age (contract.device_twin_drift)
        if tile_gain_on(spec):
            # the TILE_GAIN window's trims: word (r - 1) * C + j (contract.tile_gain)
            members.update({
                "tile_gain_addr": In(range(max(2, (spec.array.row_tiles - 1) * cols))),
                "tile_gain_wdata": In(spec.accumulator.tile_gain_bits),
                "tile_gain_we": In(1),
                "tile_gain_rdata": Out(spec.accumulator.tile_gain_bits),
            })
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        spec = self.spec
        fmt = datapath_formats(spec)
        R, C = spec.tile.rows, spec.tile.cols
        row_tiles, col_tiles = spec.array.row_tiles, spec.array.col_tiles
        ntiles = spec.tiles

        tiles = []
        for i in range(ntiles):
            tile = TileController(spec)
            m.submodules[f"tile_{i}"] = tile
            tiles.append(tile)
            if self.emulated:
                r, c = divmod(i, col_tiles)
                block = None
                if self.init_weights is not None:
                    block = [list(row[c * C:(c + 1) * C]) for row in self.init_weights[r * R:(r + 1) * R]]
                macro = EmulatedCrossbar(spec, tile_index=i, init_weights=block)
                m.submodules[f"emulated_tile_{i}"] = macro
                wiring.connect(m, tile.analog, macro)
                if drift_on(spec):
                    m.d.comb += macro.drift_epoch.eq(self.drift_epoch)
            else:
                wiring.connect(m, tile.analog, wiring.flipped(getattr(self, f"analog_{i}")))

        # Inputs: one double buffer for the logical vector; every tile takes its row slice.
        m.submodules.input_buffer = inbuf = InputBuffer(spec.logical_rows, spec.input.bits)
        # While a multi-layer chain runs, the load buffer belongs to the layer sequencer.
        chain_active = Signal()
        host = ~chain_active
        m.d.comb += [
            inbuf.inp.payload.eq(self.inp.payload),
            inbuf.inp.valid.eq(self.inp.valid & host),
            self.inp.ready.eq(inbuf.inp.ready & host),
            self.in_free.eq(inbuf.load_free & host),
        ]
        with m.If(host):
            m.d.comb += [
                inbuf.wr_addr.eq(self.in_wr_addr), inbuf.wr_data.eq(self.in_wr_data),
                inbuf.wr_en.eq(self.in_wr_en), inbuf.commit.eq(self.in_commit),
            ]
        # A start (in_commit) that cannot be queued is dropped and reported in the cycle it is presented: while
        # a chain runs the load buffer belongs to the layer sequencer; otherwise the input buffer drops a commit
        # that finds the load buffer still full when it takes effect (a vector queued and not yet taken by the
        # tiles), which commit_blocked tells a cycle ahead.
        m.d.comb += self.start_dropped.eq(self.in_commit & (chain_active | inbuf.commit_blocked))
        started = Signal(ntiles)
        released = Signal(ntiles)
        for i, tile in enumerate(tiles):
            r = i // col_tiles
            for k in range(R):
                m.d.comb += tile.x[k].eq(inbuf.active[r * R + k])
            m.d.comb += tile.start.valid.eq(inbuf.active_valid & ~started[i])
            with m.If(tile.start.valid & tile.start.ready):
                m.d.sync += started[i].eq(1)
            with m.If(tile.x_done):
                m.d.sync += released[i].eq(1)
        # Activity counters over every tile's events.
        m.submodules.activity = activity = ActivityCounters(spec)
        for i, tile in enumerate(tiles):
            m.d.comb += activity.events[i].eq(tile.activity)
        m.d.comb += self.activity.eq(activity.counts)
        all_released = Signal()
        m.d.comb += all_released.eq((released | Cat(*(t.x_done for t in tiles))) == (1 << ntiles) - 1)
        with m.If(all_released):
            m.d.comb += inbuf.active_release.eq(1)
            m.d.sync += [started.eq(0), released.eq(0)]

        # Coefficients: one word per logical column, written by software, read by the output sequencer.
        cols = spec.logical_cols
        scale_mem = memory.Memory(shape=signed(fmt.scale.bits), depth=cols, init=[unity_scale(spec)] * cols)
        offset_mem = memory.Memory(shape=signed(fmt.offset.bits), depth=cols, init=[])
        m.submodules.scale_mem, m.submodules.offset_mem = scale_mem, offset_mem
        scale_w, offset_w = scale_mem.write_port(), offset_mem.write_port()
        scale_sw, offset_sw = scale_mem.read_port(domain="comb"), offset_mem.read_port(domain="comb")
        scale_seq, offset_seq = scale_mem.read_port(domain="comb"), offset_mem.read_port(domain="comb")
        m.d.comb += [
            scale_w.addr.eq(self.coef_addr), scale_w.data.eq(self.coef_scale_wdata),
            scale_w.en.eq(self.coef_scale_we),
            offset_w.addr.eq(self.coef_addr), offset_w.data.eq(self.coef_offset_wdata),
            offset_w.en.eq(self.coef_offset_we),
            scale_sw.addr.eq(self.coef_addr), offset_sw.addr.eq(self.coef_addr),
            self.coef_scale_rdata.eq(scale_sw.data), self.coef_offset_rdata.eq(offset_sw.data),
        ]

        # Output sequencer: logical column j reads local column j % C of the tiles of group j // C.
        m.submodules.postproc = post = AffinePostProcessor(spec, fault=self.fault)
        col = Signal(range(max(2, cols)))
        group = Signal(range(max(2, col_tiles)))
        local = Signal(range(max(2, C)))
        banks_full = Signal()
        m.d.comb += banks_full.eq(Cat(*(t.bank_valid for t in tiles)) == (1 << ntiles) - 1)
        for tile in tiles:
            m.d.comb += tile.rd_col.eq(local)
        trims = tile_gain_on(spec)
        sums, overflows = [], []
        for c in range(0 if trims else col_tiles):     # with trims: _trim_stage's sums
            total = Const(0, signed(fmt.accumulator.bits))
            overflow = Const(0, 1)
            for r in range(row_tiles):
                tile = tiles[r * col_tiles + c]
                if r == 0:
                    total, overflow = tile.rd_acc, tile.rd_overflow
                    continue
                wide = Signal(signed(fmt.accumulator.bits + 1), name=f"psum_{r}_{c}")
                sat = Signal(signed(fmt.accumulator.bits), name=f"psum_sat_{r}_{c}")
                m.d.comb += [
                    wide.eq(total + tile.rd_acc),
                    sat.eq(Mux(wide > fmt.accumulator.max, fmt.accumulator.max,
                               Mux(wide < fmt.accumulator.min, fmt.accumulator.min, wide))),
                ]
                overflow = overflow | tile.rd_overflow | (wide != sat)
                total = sat
            sums.append(total)
            overflows.append(overflow)
        acc_sel = Signal(signed(fmt.accumulator.bits))
        ovf_sel = Signal()
        with m.Switch(group):
            for c in range(len(sums)):
                with m.Case(c):
                    m.d.comb += [acc_sel.eq(sums[c]), ovf_sel.eq(overflows[c])]
        # The column the register stage takes, when there is one, and when the sequencer moves on.
        beat_col, column_ready, advance = col, banks_full, None
        if trims:
            beat_col, column_ready, advance, beat_taken = self._trim_stage(m, tiles, col, group, banks_full,
                                                                           acc_sel, ovf_sel)
        # A register stage in front of the post-processor: the banks' wide read muxes, the partial-sum adds
        # and the coefficient reads get a cycle of their own instead of sharing one with the multiplier.
        beat = Signal(post.inp.payload.shape())
        beat_valid = Signal()
        take = Signal()                       # the sequencer's column moves into the register stage
        m.d.comb += [
            scale_seq.addr.eq(beat_col), offset_seq.addr.eq(beat_col),
            post.inp.valid.eq(beat_valid),
            post.inp.payload.eq(beat),
            take.eq(column_ready & (~beat_valid | post.inp.ready)),
        ]
        if trims:
            m.d.comb += beat_taken.eq(take)
        else:
            advance = take
        with m.If(take):
            m.d.sync += [
                beat_valid.eq(1),
                beat.acc.eq(acc_sel),
                beat.scale.eq(scale_seq.data),
                beat.offset.eq(offset_seq.data),
                beat.overflow.eq(ovf_sel),
                beat.last.eq(beat_col == cols - 1),
            ]
        with m.Elif(post.inp.ready):
            m.d.sync += beat_valid.eq(0)
        with m.If(advance):
            with m.If(col == cols - 1):
                m.d.sync += [col.eq(0), group.eq(0), local.eq(0)]
                for tile in tiles:
                    m.d.comb += tile.bank_release.eq(1)
            with m.Else():
                m.d.sync += col.eq(col + 1)
                with m.If(local == C - 1):
                    m.d.sync += [local.eq(0), group.eq(group + 1)]
                with m.Else():
                    m.d.sync += local.eq(local + 1)

        # Layer sequencer and outputs. The post-processed beats of one MVM arrive in column order; those in
        # the current layer's range are its result: fed back as the next input, or (last layer) sent to the
        # output stream (when enabled) and the output window. Beats outside the range are dropped.
        max_layers = spec.array.max_layers
        layer = Signal(range(max_layers))
        n_layers = Signal(range(max_layers + 1))
        m.d.comb += n_layers.eq(Mux(self.layer_count == 0, 1,
                                    Mux(self.layer_count > max_layers, max_layers, self.layer_count)))
        # The current layer's window, in two register stages (the descriptor, then its end): the descriptor
        # mux and the adds stay out of the path from the post-processor into the input buffer. The two
        # cycles of lag are never seen: a layer's first beat comes at least an MVM after the previous
        # layer's last beat (or after software wrote the descriptors).
        desc = Signal(layer_layout())
        with m.Switch(layer):
            for i in range(max_layers):
                with m.Case(i):
                    m.d.sync += desc.eq(self.layers[i])
        # count 0 means "to the last column": all-zero descriptors make one whole-grid layer
        win_start, win_stop, final = Signal(16), Signal(17), Signal()
        stop = Signal(17)
        m.d.comb += stop.eq(desc.start + desc.count)
        m.d.sync += [
            win_start.eq(desc.start),
            win_stop.eq(Mux((desc.count == 0) | (stop > cols), cols, stop)),
            final.eq(layer == n_layers - 1),
        ]
        out_col = Signal(range(max(2, cols)))
        index = Signal(17)
        in_range, end_col = Signal(), Signal(17)
        m.d.comb += [
            index.eq(out_col - win_start),
            in_range.eq((out_col >= win_start) & (out_col < win_stop)),
            end_col.eq(win_stop - 1),
        ]
        if spec.sparsity.layer_columns == "on":
            # Each tile converts only its share of the current layer's columns (contract.sparsity); the
            # window is settled before a layer's MVM starts (its input commits at least two cycles later).
            for i, tile in enumerate(tiles):
                base = (i % col_tiles) * C
                for port, edge in ((tile.col_lo, win_start), (tile.col_hi, win_stop)):
                    m.d.comb += port.eq(Mux(edge <= base, 0, Mux(edge >= base + C, C, edge - base)))
        with m.If(inbuf.filled & host & (n_layers > 1)):
            m.d.sync += chain_active.eq(1)

        out_mem = memory.Memory(shape=signed(spec.postproc.output_bits), depth=cols, init=[])
        m.submodules.out_mem = out_mem
        out_w, out_r = out_mem.write_port(), out_mem.read_port(domain="comb")
        emit = final & in_range
        m.d.comb += [
            self.out.valid.eq(post.out.valid & emit & self.out_stream_enable),
            self.out.payload.value.eq(post.out.payload.value),
            self.out.payload.last.eq(out_col == end_col),
            post.out.ready.eq(self.out.ready | ~(emit & self.out_stream_enable)),
            out_w.addr.eq(index), out_w.data.eq(post.out.payload.value),
            out_r.addr.eq(self.out_rd_addr), self.out_rd_data.eq(out_r.data),
        ]
        m_in = spec.input.max_magnitude
        value = post.out.payload.value
        with m.If(post.out.valid & post.out.ready):
            m.d.comb += [
                out_w.en.eq(emit),
                self.acc_overflow.eq(post.out.payload.overflow),
                self.output_saturated.eq(post.out.payload.saturated),
            ]
            with m.If(~final):
                m.d.comb += [
                    inbuf.clear.eq(out_col == 0),
                    inbuf.wr_en.eq(in_range & (index < spec.logical_rows)),
                    inbuf.wr_addr.eq(index),
                    inbuf.wr_data.eq(Mux(value > m_in, m_in, Mux(value < -m_in, -m_in, value))),
                ]
            with m.If(out_col == cols - 1):
                m.d.sync += out_col.eq(0)
                with m.If(final):
                    m.d.sync += [layer.eq(0), chain_active.eq(0), self.out_count.eq(self.out_count + 1)]
                with m.Else():
                    m.d.comb += inbuf.commit.eq(1)
                    m.d.sync += layer.eq(layer + 1)
            with m.Else():
                m.d.sync += out_col.eq(out_col + 1)

        # Weight programming: logical (row, col) -> tile and local address, through program-and-verify.
        m.submodules.program_verify = pv = ProgramVerifyEngine(spec)
        target_tile = Signal(range(max(2, ntiles)))
        job = Signal(weight_write_layout(spec))
        m.d.comb += [
            pv.req.valid.eq(self.weight.valid),
            self.weight.ready.eq(pv.req.ready),
            pv.req.payload.row.eq(self.weight.payload.row % R),
            pv.req.payload.col.eq(self.weight.payload.col % C),
            pv.req.payload.target.eq(self.weight.payload.target),
            pv.tolerance.eq(self.pv_tolerance),
            pv.max_retries.eq(self.pv_max_retries),
            pv.result.ready.eq(1),
            self.pv_busy.eq(~pv.req.ready),
        ]
        with m.If(self.weight.valid & self.weight.ready):
            m.d.sync += [
                job.eq(self.weight.payload),
                target_tile.eq((self.weight.payload.row // R) * col_tiles + self.weight.payload.col // C),
            ]
        with m.Switch(target_tile):
            for i, tile in enumerate(tiles):
                with m.Case(i):
                    m.d.comb += [
                        tile.prog.valid.eq(pv.prog.valid),
                        tile.prog.payload.eq(pv.prog.payload),
                        pv.prog.ready.eq(tile.prog.ready),
                        pv.prog_resp.valid.eq(tile.prog_resp.valid),
                        pv.prog_resp.payload.eq(tile.prog_resp.payload),
                        tile.prog_resp.ready.eq(pv.prog_resp.ready),
                    ]
        with m.If(pv.result.valid & ~pv.result.payload.ok):
            m.d.comb += [self.pv_fail.eq(1), self.pv_fail_row.eq(job.row), self.pv_fail_col.eq(job.col)]

        # busy: work is pending from the cycle a start is presented (in_commit, the cycle its CTRL.start write is
        # acknowledged) until its outputs are in the output window and out_count: the start (in_commit), the
        # registered commit and the queued vector (inbuf.pending), the vector the tiles run (active_valid),
        # then the passes the tiles have released their input of until their last output beat is taken
        # (`passes`, which covers the conversions, the result banks and the post-processor's stages), and a
        # layer chain from its first to its last layer. The last beat of the last pass takes passes to 0 and
        # advances out_count at the same clock edge, so busy = 0 implies out_count and the window are updated.
        passes = Signal(4)
        last_beat = Signal()
        m.d.comb += last_beat.eq(post.out.valid & post.out.ready & (out_col == cols - 1))
        m.d.sync += passes.eq(passes + inbuf.active_release - last_beat)
        busy = Const(0, 1)
        for tile in tiles:
            busy = busy | tile.busy | tile.bank_valid
        if trims:
            busy = busy | column_ready                  # a column in the trim stage
        m.d.comb += self.busy.eq(busy | self.in_commit | inbuf.pending | chain_active | inbuf.active_valid |
                                 (passes != 0) | beat_valid | post.out.valid)
        return m

    def _trim_stage(self, m, tiles, col, group, banks_full, acc_sel, ovf_sel):
        """The per-row-tile gain trims (contract.tile_gain) in a register stage of their own in front of `beat`:
        the sequencer's column moves into it when the banks are full and it is free (or emptied in that cycle):
        each row tile's partial sum of that column is selected from its column group and, for r >= 1,
        multiplied by its trim (one TileGainTrim per row tile r >= 1, whose product register is this stage's:
        the bank read mux and one multiplier in front of it). `acc_sel`/`ovf_sel` are then the trims' rounding
        and clamps and the saturating sum over the row tiles, in r order (in front of `beat`). The trims live in
        a memory initialised to UNITY, written and read by software through the tile_gain_* port (TILE_GAIN
        window).

        Returns the stage's column, its valid flag, the sequencer's advance, and `beat_taken`, which the caller
        drives with the beat register's take."""
        spec = self.spec
        fmt = datapath_formats(spec).accumulator
        row_tiles, col_tiles, cols = spec.array.row_tiles, spec.array.col_tiles, spec.logical_cols
        depth = (row_tiles - 1) * cols
        gains = memory.Memory(shape=spec.accumulator.tile_gain_bits, depth=depth, init=[unity_gain(spec)] * depth)
        m.submodules.tile_gain_mem = gains
        gain_w, gain_sw = gains.write_port(), gains.read_port(domain="comb")
        m.d.comb += [
            gain_w.addr.eq(self.tile_gain_addr), gain_w.data.eq(self.tile_gain_wdata),
            gain_w.en.eq(self.tile_gain_we),
            gain_sw.addr.eq(self.tile_gain_addr), self.tile_gain_rdata.eq(gain_sw.data),
        ]
        trim_valid, trim_col = Signal(), Signal.like(col, name="trim_col")
        trim_take, beat_taken = Signal(), Signal()
        m.d.comb += trim_take.eq(banks_full & (~trim_valid | beat_taken))
        with m.If(trim_take):
            m.d.sync += [trim_valid.eq(1), trim_col.eq(col)]
        with m.Elif(beat_taken):
            m.d.sync += trim_valid.eq(0)
        first, tile_overflow = Signal(signed(fmt.bits), name="partial_first"), Signal(name="partial_overflow")
        trims, overflow = [], Const(0, 1)
        for r in range(row_tiles):
            part, flag = Signal(signed(fmt.bits), name=f"partial_{r}"), Signal(name=f"partial_overflow_{r}")
            with m.Switch(group):
                for c in range(col_tiles):
                    with m.Case(c):
                        tile = tiles[r * col_tiles + c]
                        m.d.comb += [part.eq(tile.rd_acc), flag.eq(tile.rd_overflow)]
            overflow = overflow | flag
            if r == 0:
                with m.If(trim_take):
                    m.d.sync += first.eq(part)
                continue
            m.submodules[f"tile_gain_trim_{r}"] = trim = TileGainTrim(spec)      # registers p * g
            gain = gains.read_port(domain="comb")
            m.d.comb += [gain.addr.eq((r - 1) * cols + col), trim.partial.eq(part), trim.gain.eq(gain.data),
                         trim.en.eq(trim_take)]
            trims.append(trim)
        with m.If(trim_take):
            m.d.sync += tile_overflow.eq(overflow)
        total, overflow = first, tile_overflow
        for r, trim in enumerate(trims, 1):
            wide = Signal(signed(fmt.bits + 1), name=f"psum_{r}")
            sat = Signal(signed(fmt.bits), name=f"psum_sat_{r}")
            m.d.comb += [wide.eq(total + trim.trimmed), sat.eq(Mux(wide > fmt.max, fmt.max, Mux(wide < fmt.min,
                                                                                                 fmt.min, wide)))]
            total, overflow = sat, overflow | trim.clipped | (wide != sat)
        m.d.comb += [acc_sel.eq(total), ovf_sel.eq(overflow)]
        return trim_col, trim_valid, trim_take, beat_taken

