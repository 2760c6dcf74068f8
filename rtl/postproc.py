"""Per-column post-processing: affine correction, rounding, activation, saturation to the output width.

The analog columns differ in gain and offset (device and ADC mismatch, drift); a per-column affine
correction in the digital periphery removes that, as IBM's HERMES chip does next to its ADCs. The rule is
sim.postproc's, bit for bit. Two pipeline stages (multiply-add, then round/activate/saturate) keep the
multiplier off the rest of the path; the stream handshake stalls both stages together.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from aimcgen.formats import datapath_formats
from aimcgen.spec import DesignSpec


def postproc_input_layout(spec: DesignSpec) -> data.StructLayout:
    fmt = datapath_formats(spec)
    return data.StructLayout({
        "acc": signed(fmt.accumulator.bits),
        "scale": signed(fmt.scale.bits),
        "offset": signed(fmt.offset.bits),
        "overflow": 1,
        "last": 1,
    })


def postproc_output_layout(spec: DesignSpec) -> data.StructLayout:
    return data.StructLayout({
        "value": signed(spec.postproc.output_bits),
        "saturated": 1,
        "overflow": 1,
        "last": 1,
    })


class AffinePostProcessor(wiring.Component):
    def __init__(self, spec: DesignSpec):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        self.spec = spec
        super().__init__({
            "inp": In(stream.Signature(postproc_input_layout(spec))),
            "out": Out(stream.Signature(postproc_output_layout(spec))),
        })

    def elaborate(self, platform):
        m = Module()
        spec, post = self.spec, self.spec.postproc
        fmt = datapath_formats(spec)
        f = post.scale_frac_bits

        # Stage 1: p = acc * scale + offset.
        p = Signal(signed(fmt.product.bits))
        p_valid = Signal()
        p_flags = Signal(data.StructLayout({"overflow": 1, "last": 1}))
        # Stage 2 register is the output stream itself.
        advance = ~self.out.valid | self.out.ready
        m.d.comb += self.inp.ready.eq(~p_valid | advance)

        with m.If(self.inp.ready):
            m.d.sync += p_valid.eq(self.inp.valid)
            with m.If(self.inp.valid):
                m.d.sync += [
                    p.eq(self.inp.payload.acc * self.inp.payload.scale + self.inp.payload.offset),
                    p_flags.overflow.eq(self.inp.payload.overflow),
                    p_flags.last.eq(self.inp.payload.last),
                ]

        # Stage 2: round half up, activation, saturation.
        rounded = Signal(signed(fmt.product.bits - f + 1))
        activated = Signal(signed(fmt.product.bits - f + 1))
        m.d.comb += rounded.eq((p + (1 << (f - 1))) >> f if f else p)
        if post.activation == "relu":
            m.d.comb += activated.eq(Mux(rounded < 0, 0, rounded))
        elif post.activation == "clip":
            m.d.comb += activated.eq(Mux(rounded < 0, 0, Mux(rounded > post.clip_high, post.clip_high, rounded)))
        else:
            m.d.comb += activated.eq(rounded)
        low, high = fmt.output.min, fmt.output.max
        with m.If(advance):
            m.d.sync += self.out.valid.eq(p_valid)
            with m.If(p_valid):
                m.d.sync += [
                    self.out.payload.value.eq(Mux(activated > high, high, Mux(activated < low, low, activated))),
                    self.out.payload.saturated.eq((activated > high) | (activated < low)),
                    self.out.payload.overflow.eq(p_flags.overflow),
                    self.out.payload.last.eq(p_flags.last),
                ]
        return m
