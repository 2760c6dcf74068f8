"""Program-and-verify: write a weight, read it back, retry until it lands within tolerance.

Real PCM and RRAM devices land near, not on, their target conductance, so weight programming is an
iterative loop (write, read back, compare, rewrite) with a bounded number of attempts; a device that never
lands is reported, with its address, so software can remap or accept it.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from aimcgen.contract.aimc_registers import MAX_RETRIES_BITS
from aimcgen.rtl.tile_controller import ProgOp, prog_request_layout
from aimcgen.spec import DesignSpec


def weight_write_layout(spec: DesignSpec) -> data.StructLayout:
    return data.StructLayout({
        "row": range(max(2, spec.tile.rows)),
        "col": range(max(2, spec.tile.cols)),
        "target": signed(spec.tile.weight_bits),
    })


def verify_result_layout(spec: DesignSpec) -> data.StructLayout:
    return data.StructLayout({
        "ok": 1,
        "row": range(max(2, spec.tile.rows)),
        "col": range(max(2, spec.tile.cols)),
        "attempts": range(1 << MAX_RETRIES_BITS + 1),
    })


class ProgramVerifyEngine(wiring.Component):
    """One weight at a time: up to 1 + max_retries writes, each followed by a verifying read."""

    def __init__(self, spec: DesignSpec):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        self.spec = spec
        super().__init__({
            "req": In(stream.Signature(weight_write_layout(spec))),
            "tolerance": In(spec.tile.weight_bits),
            "max_retries": In(MAX_RETRIES_BITS),
            "prog": Out(stream.Signature(prog_request_layout(spec))),
            "prog_resp": In(stream.Signature(signed(spec.tile.weight_bits))),
            "result": Out(stream.Signature(verify_result_layout(spec))),
        })

    def elaborate(self, platform):
        m = Module()
        spec = self.spec
        job = Signal(weight_write_layout(spec))
        attempts = Signal(range(1 << MAX_RETRIES_BITS + 1))
        ok = Signal()
        error = Signal(spec.tile.weight_bits + 1)

        m.d.comb += [
            self.prog.payload.row.eq(job.row),
            self.prog.payload.col.eq(job.col),
            self.prog.payload.target.eq(job.target),
            self.result.payload.row.eq(job.row),
            self.result.payload.col.eq(job.col),
            self.result.payload.attempts.eq(attempts),
            self.result.payload.ok.eq(ok),
        ]
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.req.ready.eq(1)
                with m.If(self.req.valid):
                    m.d.sync += [job.eq(self.req.payload), attempts.eq(0)]
                    m.next = "WRITE"
            with m.State("WRITE"):
                m.d.comb += [self.prog.valid.eq(1), self.prog.payload.op.eq(ProgOp.WRITE)]
                with m.If(self.prog.ready):
                    m.d.sync += attempts.eq(attempts + 1)
                    m.next = "READ"
            with m.State("READ"):
                m.d.comb += [self.prog.valid.eq(1), self.prog.payload.op.eq(ProgOp.READ)]
                with m.If(self.prog.ready):
                    m.next = "CHECK"
            with m.State("CHECK"):
                m.d.comb += self.prog_resp.ready.eq(1)
                with m.If(self.prog_resp.valid):
                    diff = self.prog_resp.payload - job.target
                    m.d.comb += error.eq(abs(diff))
                    with m.If(error <= self.tolerance):
                        m.d.sync += ok.eq(1)
                        m.next = "REPORT"
                    with m.Elif(attempts > self.max_retries):
                        m.d.sync += ok.eq(0)
                        m.next = "REPORT"
                    with m.Else():
                        m.next = "WRITE"
            with m.State("REPORT"):
                m.d.comb += self.result.valid.eq(1)
                with m.If(self.result.ready):
                    m.next = "IDLE"
        return m
