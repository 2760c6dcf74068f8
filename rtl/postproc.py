"""Per-column post-processing: affine correction, rounding, activation, saturation to the output width.

The analog columns differ in gain and offset (device and ADC mismatch, drift); a per-column affine
correction in the digital periphery removes that, as IBM's HERMES chip does next to its ADCs. The rule is
contract.postproc's, bit for bit:

    p = acc * scale + offset;  r = (p + 2^(f-1)) >> f;  a = activation(r);  y = clamp(a, output range)

The pipeline has three registered stages so that no stage holds more than one wide operation, which keeps
a 100 MHz FPGA target plausible and maps onto a DSP slice (multiplier register, post-adder register):

    1. multiply      m = acc * scale             and  o = offset + 2^(f-1)   (rounding folded in)
    2. add           s = m + o                   (as wide as the sum needs: it never wraps)
    3. finish        r = s >> f, activation, saturation, `saturated` flag    (the output register)

Each stage has its own valid bit and advances whenever its successor can take its contents, so bubbles
collapse and a full pipeline moves one column per cycle; `inp.ready` is a combinational AND/OR chain from
`out.ready` (three stages deep) and never depends on `inp.valid`. Latency is three cycles.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from aimcgen.contract.formats import datapath_formats
from aimcgen.spec import DesignSpec

LATENCY = 3
"""Cycles from accepting a column on `inp` to offering it on `out` when nothing stalls."""

FAULTS = ("flip_rounding",)
"""Test-only faults `AffinePostProcessor(spec, fault=...)` can inject, to prove that benches catch them:
`flip_rounding` drops the rounding constant 2^(f-1), so results are floored instead of rounded half up."""


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
        "value": signed(datapath_formats(spec).output.bits),
        "saturated": 1,
        "overflow": 1,
        "last": 1,
    })


_FLAGS = data.StructLayout({"overflow": 1, "last": 1})


class AffinePostProcessor(wiring.Component):
    """One column per cycle: `inp` (accumulator, its coefficients, flags) to `out` (output code, flags).

    `out.payload.saturated` is set when the output code was clamped to the output range (the activation's
    own clamping does not count, as in contract.postproc); `overflow` and `last` pass through unchanged.
    """

    def __init__(self, spec: DesignSpec, *, fault: str | None = None):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"fault {fault!r}: not a known test fault (known: {', '.join(FAULTS)})")
        self.spec = spec
        self.fault = fault          # None: the correct rule; a FAULTS name: deliberately wrong (tests only)
        super().__init__({
            "inp": In(stream.Signature(postproc_input_layout(spec))),
            "out": Out(stream.Signature(postproc_output_layout(spec))),
        })

    def elaborate(self, platform):
        m = Module()
        post = self.spec.postproc
        fmt = datapath_formats(self.spec)
        f = post.scale_frac_bits
        half = (1 << (f - 1)) if f and self.fault != "flip_rounding" else 0

        # Stage registers. Each stage loads whenever it may advance; its contents only matter while valid.
        # Widths are those of the expressions themselves, so no stage can wrap.
        inp = self.inp.payload
        mul_valid, add_valid = Signal(), Signal()
        mul = Signal((inp.acc * inp.scale).shape())
        mul_offset = Signal((inp.offset + half).shape())
        mul_flags = Signal(_FLAGS)
        add = Signal((mul + mul_offset).shape())
        add_flags = Signal(_FLAGS)

        out_ready = Signal()
        add_ready = Signal()
        mul_ready = Signal()
        m.d.comb += [
            out_ready.eq(~self.out.valid | self.out.ready),
            add_ready.eq(~add_valid | out_ready),
            mul_ready.eq(~mul_valid | add_ready),
            self.inp.ready.eq(mul_ready),
        ]

        with m.If(mul_ready):
            m.d.sync += [
                mul_valid.eq(self.inp.valid),
                mul.eq(inp.acc * inp.scale),
                mul_offset.eq(inp.offset + half),
                mul_flags.overflow.eq(inp.overflow),
                mul_flags.last.eq(inp.last),
            ]

        with m.If(add_ready):
            m.d.sync += [
                add_valid.eq(mul_valid),
                add.eq(mul + mul_offset),
                add_flags.eq(mul_flags),
            ]

        # Stage 3: the arithmetic shift is floor division, so with `half` added it rounds half up.
        rounded = Signal(signed(max(len(add) - f, 1)))
        activated = Signal.like(rounded)
        m.d.comb += rounded.eq(add >> f)
        if post.activation == "relu":
            m.d.comb += activated.eq(Mux(rounded < 0, 0, rounded))
        elif post.activation == "clip":
            m.d.comb += activated.eq(Mux(rounded < 0, 0, Mux(rounded > post.clip_high, post.clip_high,
                                                                 rounded)))
        else:
            m.d.comb += activated.eq(rounded)
        high, low = fmt.output.max, fmt.output.min
        too_high, too_low = activated > high, activated < low
        with m.If(out_ready):
            m.d.sync += [
                self.out.valid.eq(add_valid),
                self.out.payload.value.eq(Mux(too_high, high, Mux(too_low, low, activated))),
                self.out.payload.saturated.eq(too_high | too_low),
                self.out.payload.overflow.eq(add_flags.overflow),
                self.out.payload.last.eq(add_flags.last),
            ]
        return m
