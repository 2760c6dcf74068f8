"""Double-buffered input vectors: the next vector loads while the tiles drive the current one.

Vectors arrive either as a stream of values (row 0 first, one vector per `rows` beats) or as addressed
writes followed by `commit` (software-driven MVMs, and the layer sequencer feeding a layer's outputs back;
`clear` zeroes the load buffer first, an addressed write in the same cycle wins). The load buffer becomes the
active buffer as soon as it is complete and the active buffer has been released by every tile, so a
steady stream of vectors costs no cycles of the MVM pipeline.

Addressed writes, `clear` and `commit` are registered and take effect on the next cycle, in the order they
were presented: they come from the bus and from the post-processor through address arithmetic, and each
fans out to every row of the load buffer, so they get a cycle of their own. `load_free` and `inp.ready` drop
on the cycle after a `commit` is presented, as they did when commits took effect at once.

The load buffer holds one vector: a `commit` that takes effect while it is still full (its vector not yet
moved to the active buffer) is dropped. `commit_blocked` tells it in the cycle the commit is presented: it
is the load buffer's state in the next cycle (full unless its vector moves to the active buffer now; full
if a vector completes now). `pending` is 1 from the cycle after a `commit` is presented (the registered
commit) for as long as the load buffer holds a complete vector: with `active_valid`, it tells that work
is queued.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out


class InputBuffer(wiring.Component):
    def __init__(self, rows: int, bits: int):
        if rows < 1 or bits < 2:
            raise ValueError(f"InputBuffer needs rows >= 1 and bits >= 2, got rows={rows}, bits={bits}")
        self.rows, self.bits = rows, bits
        super().__init__({
            "inp": In(stream.Signature(signed(bits))),
            "wr_addr": In(range(max(2, rows))),
            "wr_data": In(signed(bits)),
            "wr_en": In(1),
            "commit": In(1),
            "clear": In(1),
            "filled": Out(1),
            "active": Out(data.ArrayLayout(signed(bits), rows)),
            "active_valid": Out(1),
            "active_release": In(1),
            "load_free": Out(1),
            "pending": Out(1),
            "commit_blocked": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        load = Signal(data.ArrayLayout(signed(self.bits), self.rows))
        load_full = Signal()
        fill = Signal(range(self.rows + 1))

        wr_addr, wr_data = Signal.like(self.wr_addr), Signal.like(self.wr_data)
        wr_en, commit, clear = Signal(), Signal(), Signal()
        m.d.sync += [
            wr_addr.eq(self.wr_addr), wr_data.eq(self.wr_data),
            wr_en.eq(self.wr_en), commit.eq(self.commit), clear.eq(self.clear),
        ]

        m.d.comb += [
            self.inp.ready.eq(~load_full & ~commit),
            self.load_free.eq(~load_full & (fill == 0) & ~commit),
            self.pending.eq(load_full | commit),
        ]
        with m.If(clear & ~load_full):
            m.d.sync += [load.eq(0), fill.eq(0)]
        with m.If(self.inp.valid & self.inp.ready):
            m.d.sync += load[fill].eq(self.inp.payload)
            with m.If(fill == self.rows - 1):
                m.d.sync += fill.eq(0)
                m.d.comb += self.filled.eq(1)
            with m.Else():
                m.d.sync += fill.eq(fill + 1)
        with m.If(wr_en & ~load_full):
            m.d.sync += load[wr_addr].eq(wr_data)
        with m.If(commit & ~load_full):
            m.d.sync += fill.eq(0)
            m.d.comb += self.filled.eq(1)

        # The load buffer becomes full when a vector completes (stream or commit, only while it is not full)
        # and empties when its vector moves to the active buffer.
        move = Signal()
        full_next = Signal()
        m.d.comb += [
            move.eq(load_full & (~self.active_valid | self.active_release)),
            full_next.eq((load_full & ~move) | self.filled),
            self.commit_blocked.eq(full_next),
        ]
        m.d.sync += load_full.eq(full_next)
        with m.If(self.active_release):
            m.d.sync += self.active_valid.eq(0)
        with m.If(move):
            m.d.sync += [self.active.eq(load), self.active_valid.eq(1)]
        return m
