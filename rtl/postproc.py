"""Per-column post-processing: affine correction, rounding, activation, saturation to the output width.

The analog columns differ in gain and offset (device and ADC mismatch, drift); a per-column affine
correction in the digital periphery removes that, as IBM's HERMES chip does next to its ADCs. The rule is
contract.postproc's, bit for bit:

    p = acc * scale + offset;  r = (p + 2^(f-1)) >> f;  a = activation(r);  y = clamp(a, output range)

The pipeline's registered stages (STAGES) hold one carry-propagate adder each at most, for 100 MHz at SKY130's
slow signoff corner (ss_100C_1v60) and on FPGAs:

    1. multiply      the terms whose sum is acc * scale, in one of PRODUCT_STYLES:
                     "slices" (the default): p_i = acc * scale[2i : 2i+2] for each 2-bit slice of the scale
                     (the top slice signed, the others unsigned): one addition each in an ASIC's cells, and
                     multipliers in the DSP blocks the small iCE40 has beside its scarce logic cells.
                     "select" (on ECP5 platforms, SELECT_FAMILIES): the partial products of acc with each bit
                     of the scale, selected, not multiplied: p_k = scale[k] ? acc : 0 for the bits k < b-1 of a
                     b-bit scale, and for its sign bit p_(b-1) = scale[b-1] ? ~acc : 0, whose missing +1 (two's
                     complement: -acc = ~acc + 1) goes into o as scale[b-1] * 2^(b-1); no adder but o's. (The
                     slices' multipliers became ECP5 DSP blocks, whose fixed sites and combinational multiply
                     made this stage the ULX3S tile64 periphery's critical path: 90.6 MHz.)
                     Either way o = offset + 2^(f-1) (+ the sign bit's correction): the rounding constant folded in.
    2-4. sum 1..3    a tree adding SUM_FAN_IN = 3 terms per adder, one level per stage, over the terms
                     p_i << 2i (or p_k << k) and o: after SUM_LEVELS = 3 levels s = acc * scale + offset +
                     2^(f-1) exactly (every sum as wide as it needs: nothing wraps; 27 terms fit, a spec has
                     at most 25)
    5. finish        r = s >> f, activation, saturation, `saturated` flag, written into the output buffer

The stages never stall: a column accepted on `inp` reaches the output buffer LATENCY cycles later whatever
`out.ready` does, and the buffer (BUFFER_DEPTH = LATENCY + 1 entries, a FIFO whose head is `out`) holds every
column in flight. `inp.ready` comes from a register: high while fewer than BUFFER_DEPTH columns are in the
stages or the buffer, so it depends on neither `inp.valid` nor `out.ready`, and `out.ready` enables no stage
register (the sink's handshake does not reach the stages' flip-flops or the source). With `out.ready` high a
column passes every cycle (LATENCY in flight < BUFFER_DEPTH). Latency (`AffinePostProcessor.latency`,
LATENCY = len(STAGES) = 5, the same for every spec) counts from the accepting cycle to `out.valid`.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from aimcgen.contract.formats import datapath_formats
from aimcgen.rtl.platform_family import on_family
from aimcgen.spec import DesignSpec

SUM_FAN_IN = 3
"""Terms each adder of the sum tree adds (one carry-save level and one carry-propagate adder)."""
SUM_LEVELS = 3
"""Levels of the sum tree: SUM_FAN_IN^3 = 27 terms >= the most a spec has (24-bit scale, "select" style: 24
partial products and the offset term)."""
PRODUCT_STYLES = ("slices", "select")
"""How stage 1 forms the terms of acc * scale (see the module doc); the results are the same bit for bit."""
SELECT_FAMILIES = ("ecp5",)
"""FPGA families (the platform's `family`, any case) whose builds get the "select" style when none is given."""
SLICE_BITS = 2
"""Width of the scale slices of the "slices" style (the top slice may be narrower)."""
STAGES = ("multiply", *(f"sum {i + 1}" for i in range(SUM_LEVELS)), "finish")
"""The pipeline's registered stages, in order: one cycle each (see the module doc)."""
LATENCY = len(STAGES)
"""Cycles from accepting a column on `inp` to offering it on `out` (the output buffer empty)."""
BUFFER_DEPTH = LATENCY + 1
"""Output buffer entries: every column in flight fits, and one more keeps `inp.ready` high while streaming."""

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


def partial_products(acc, scale) -> tuple[list, object]:
    """The "select" terms whose sum is acc * scale: ([(p_k, k) for each scale bit], the sign bit's +1 weight).

    p_k = scale[k] ? acc : 0, and for the sign bit b-1, p = scale[b-1] ? ~acc : 0: its product -acc * 2^(b-1)
    is (~acc + 1) * 2^(b-1), so the returned correction scale[b-1] * 2^(b-1) completes it. Each term is a
    selection (one LUT level), never a multiplier that synthesis could place in a DSP block."""
    top = len(scale) - 1
    terms = [(Mux(scale[k], acc, 0), k) for k in range(top)]
    terms.append((Mux(scale[top], ~acc, 0), top))
    return terms, scale[top] << top


def slice_products(acc, scale) -> tuple[list, int]:
    """The "slices" terms whose sum is acc * scale: ([(acc * slice, lo) for each SLICE_BITS slice], 0)."""
    bits = len(scale)
    terms = []
    for lo in range(0, bits, SLICE_BITS):
        hi = min(lo + SLICE_BITS, bits)
        part = scale[lo:hi].as_signed() if hi == bits else scale[lo:hi]     # the top slice carries the sign
        terms.append((acc * part, lo))
    return terms, 0


_FLAGS = data.StructLayout({"overflow": 1, "last": 1})


def _outside_output_range(value, bits: int):
    """(value < 0, value > 2^(bits-1) - 1, value < -2^(bits-1)) of a signed value, as reductions of its bits
    rather than magnitude comparators: the value fits `bits` bits exactly when its bits from bits-1 up to the
    sign are all equal, so it is above the range when it is non-negative with one of them set, below when
    negative with one of them clear. (A compare against a constant reaches the cell library as a carry chain;
    on hermes256 that chain was the post-processor's critical path at ss_100C_1v60.)"""
    sign = value[-1]
    upper = value[bits - 1:len(value) - 1]          # empty when the value fits `bits` bits by its width
    return sign, ~sign & upper.any(), sign & ~upper.all()


class AffinePostProcessor(wiring.Component):
    """One column per cycle: `inp` (accumulator, its coefficients, flags) to `out` (output code, flags).

    `out.payload.saturated` is set when the output code was clamped to the output range (the activation's
    own clamping does not count, as in contract.postproc); `overflow` and `last` pass through unchanged.
    """

    def __init__(self, spec: DesignSpec, *, fault: str | None = None, product_style: str | None = None):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        if product_style is not None and product_style not in PRODUCT_STYLES:
            raise ValueError(f"product_style {product_style!r}: not one of {', '.join(PRODUCT_STYLES)}")
        self.product_style = product_style      # None: "select" on a SELECT_FAMILIES platform, else "slices"
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"fault {fault!r}: not a known test fault (known: {', '.join(FAULTS)})")
        self.spec = spec
        self.fault = fault          # None: the correct rule; a FAULTS name: deliberately wrong (tests only)
        self.stages = STAGES
        self.latency = len(self.stages)     # cycles from the accepting cycle to out.valid
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

        inp = self.inp.payload
        accept = Signal()
        m.d.comb += accept.eq(self.inp.valid & self.inp.ready)

        # Stage 1: the terms of acc * scale in the platform's style, and the offset with the rounding constant
        # (and the "select" style's sign-bit correction).
        terms = []                                      # (value, left shift) whose sum is acc * scale + o
        style = self.product_style or \
            ("select" if on_family(platform, SELECT_FAMILIES) else "slices")
        products, correction = (partial_products if style == "select" else slice_products)(inp.acc, inp.scale)
        for k, (value, shift) in enumerate(products):
            product = Signal(value.shape(), name=f"product_{k}")
            m.d.sync += product.eq(value)
            terms.append(product << shift)
        mul_offset = Signal((inp.offset + half + correction).shape())
        m.d.sync += mul_offset.eq(inp.offset + (half + correction))
        terms.append(mul_offset)
        valid, flags = Signal(), Signal(_FLAGS)
        m.d.sync += [valid.eq(accept), flags.overflow.eq(inp.overflow), flags.last.eq(inp.last)]

        # Stages 2..: the sum tree, SUM_FAN_IN terms per adder and one level per stage; every sum is as wide
        # as its value needs, so none wraps. After the last level one term is left: acc * scale + o exactly.
        for level in range(SUM_LEVELS):
            sums = []
            for j in range(0, len(terms), SUM_FAN_IN):
                value = sum(terms[j + 1:j + SUM_FAN_IN], terms[j])
                reg = Signal(value.shape(), name=f"sum_{level + 1}_{j // SUM_FAN_IN}")
                m.d.sync += reg.eq(value)
                sums.append(reg)
            terms = sums
            next_valid, next_flags = Signal(name=f"sum_{level + 1}_valid"), Signal(_FLAGS)
            m.d.sync += [next_valid.eq(valid), next_flags.eq(flags)]
            valid, flags = next_valid, next_flags
        assert len(terms) == 1, "SUM_LEVELS too small for this scale width"
        add, add_valid, add_flags = terms[0], valid, flags

        # Last stage: the arithmetic shift is floor division, so with `half` added it rounds half up. Every
        # comparison reads `rounded` itself, side by side (not one after the other through the activation):
        # the output range has low < 0 <= high, so a relu or clip result (>= 0) is never below it, and a clip
        # result above it can only be clip_high.
        rounded = Signal(signed(max(len(add) - f, 1)))
        activated = Signal.like(rounded)
        m.d.comb += rounded.eq(add >> f)
        high, low = fmt.output.max, fmt.output.min
        assert low == -high - 1 == -(1 << (fmt.output.bits - 1))
        negative, above_high, below_low = _outside_output_range(rounded, fmt.output.bits)
        too_high, too_low = Signal(), Signal()
        if post.activation == "relu":
            m.d.comb += [activated.eq(Mux(negative, 0, rounded)), too_high.eq(above_high), too_low.eq(0)]
        elif post.activation == "clip":
            ch = post.clip_high
            above_clip = rounded > ch
            m.d.comb += [
                activated.eq(Mux(negative, 0, Mux(above_clip, ch, rounded))),
                too_high.eq(Mux(above_clip, int(ch > high), above_high)),
                too_low.eq(~negative & above_clip & int(ch < low)),
            ]
        else:
            m.d.comb += [activated.eq(rounded), too_high.eq(above_high), too_low.eq(below_low)]
        word = Signal(postproc_output_layout(self.spec))
        m.d.comb += [
            word.value.eq(Mux(too_high, high, Mux(too_low, low, activated))),
            word.saturated.eq(too_high | too_low),
            word.overflow.eq(add_flags.overflow),
            word.last.eq(add_flags.last),
        ]

        # Output buffer: a FIFO of BUFFER_DEPTH words; `in_flight` counts the stages' columns and its own.
        buffer = Signal(data.ArrayLayout(postproc_output_layout(self.spec), BUFFER_DEPTH))
        wr_ptr = Signal(range(BUFFER_DEPTH))
        rd_ptr = Signal(range(BUFFER_DEPTH))
        stored = Signal(range(BUFFER_DEPTH + 1))
        in_flight = Signal(range(BUFFER_DEPTH + 1))
        pop = Signal()
        m.d.comb += [
            self.out.valid.eq(stored != 0),
            pop.eq(self.out.valid & self.out.ready),
            self.inp.ready.eq(in_flight < BUFFER_DEPTH),
        ]
        # The head word through a case mux on rd_ptr: indexing the array by a signal (buffer[rd_ptr]) builds
        # a multiply by the word width and a barrel shifter, a deeper path into the layer sequencer's feedback.
        with m.Switch(rd_ptr):
            for i in range(BUFFER_DEPTH):
                with m.Case(i):
                    m.d.comb += self.out.payload.eq(buffer[i])
        with m.If(add_valid):
            m.d.sync += [buffer[wr_ptr].eq(word), wr_ptr.eq(Mux(wr_ptr == BUFFER_DEPTH - 1, 0, wr_ptr + 1))]
        with m.If(pop):
            m.d.sync += rd_ptr.eq(Mux(rd_ptr == BUFFER_DEPTH - 1, 0, rd_ptr + 1))
        m.d.sync += [stored.eq(stored + add_valid - pop), in_flight.eq(in_flight + accept - pop)]
        return m
