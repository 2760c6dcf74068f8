"""The analog boundary: the one interface where the digital periphery meets the analog macro.

The periphery drives row levels and issues commands; the macro (the real analog array, the synthesizable
`EmulatedCrossbar`, or a cocotb-side model) executes them. Every command is a stream transfer, so a macro may
take as many cycles as it needs (ready low); an analog macro that keeps pace holds ready high.

Commands (`AnalogOp`), each accepted on a cycle with cmd.valid & cmd.ready:
- INTEGRATE: integrate one drive cycle: every row with row_en set adds its conductances to its columns,
  with polarity row_sign (1 = negative). `start` zeroes the integrators first (a new step begins).
- COMPARE: every ADC compares its held sample with its own `trial` code and answers one comparator bit:
  resp.comp[a] = held >= threshold(trial[a]) (contract.adc). `start` first samples the column `col_sel` of every
  ADC's group (charge plus one noise draw): the sample-and-hold of a SAR or ramp conversion. The held sample
  stays until the next sampling command, whatever else runs meanwhile: the tile controller issues the next
  step's INTEGRATEs between a conversion's COMPAREs (rtl.tile_controller).
- CONVERT: flash conversion: every ADC samples column `col_sel` of its group and answers resp.code[a].
- PROG_WRITE: program the device pair at (row, col) to the signed differential code `target`.
- PROG_READ: read back the code at (row, col) into resp.read_data.

A command offered (cmd.valid) stays offered and unchanged until it is accepted (the stream rule; the tile
controller keeps it, `aimcgen formal --property boundary_handshake` proves it). Responses are registered:
after a command is accepted, `code` holds from the next cycle until the next command is accepted; `comp`
and `read_data` are defined on the cycle after their COMPARE's or PROG_READ's acceptance only (the periphery
reads them then): a macro may load them on every cycle such a command is offered, as the emulated tile
does. A macro that needs several cycles for a command with a response (COMPARE, CONVERT, PROG_READ) must do
that work before it raises ready; only INTEGRATE and PROG_WRITE, which answer nothing, may keep the macro
busy after acceptance (ready low for the next command).

A command's fields other than those its op names above carry no meaning: a macro ignores them (the tile
controller drives col_sel and trial from its ADC controller whatever the op). col_sel means something only
to a sampling command (CONVERT, COMPARE with start); the ADC controllers drive it with the requested
position on every command (rtl.adc_controller_base).

With conversions of two or more commands (SAR, ramp: contract.adc.conversion_cycles >= 2,
contract.schedule.col_sel_settled), a sampling command's col_sel is also on the boundary on the cycle before
the command is offered, and on every cycle it waits: col_sel at any cycle a sampling command is offered equals
col_sel one cycle earlier (not required on the first cycle after reset, when nothing is offered). A macro may
therefore read the position from a register of its own, loaded every cycle from col_sel, instead of from the
pins (the emulated tile does: its sample readiness, sample multiplexers and gains then hang off no wire from
the periphery). The tile controller keeps it: it changes the requested position only on the edge after a
conversion's sampling command is accepted (the next sample comes conversion_cycles - 1 >= 1 cycles later) or
as a step or an MVM begins (an INTEGRATE or the zero pass comes first); `aimcgen formal --property
boundary_handshake` proves it. Flash conversions (one command, a CONVERT every cycle) change col_sel on every
accepted CONVERT, so there the macro must read the pins.

Column `col_sel` of ADC a (its column position) is the tile column contract.adc_columns.adc_column gives, by
the spec's adc.column_assignment (A = adc.count, G = cols / A): blocks: a * G + col_sel; interleaved:
col_sel * A + a.
"""

from __future__ import annotations

from amaranth.hdl import unsigned, signed
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from aimcgen.spec import DesignSpec


class AnalogOp(enum.Enum, shape=3):
    INTEGRATE = 0
    COMPARE = 1
    CONVERT = 2
    PROG_WRITE = 3
    PROG_READ = 4


def _index(n: int) -> unsigned:
    """Width of an index 0..n-1 (at least one bit, so every field exists)."""
    return unsigned(max(1, (n - 1).bit_length()))


def adc_codes_layout(spec: DesignSpec) -> data.ArrayLayout:
    """One signed code per ADC of the tile."""
    return data.ArrayLayout(signed(spec.adc.bits), spec.adc.count)


def command_layout(spec: DesignSpec) -> data.StructLayout:
    return data.StructLayout({
        "op": AnalogOp,
        "start": 1,
        "col_sel": _index(spec.columns_per_adc),
        "trial": adc_codes_layout(spec),
        "row": _index(spec.tile.rows),
        "col": _index(spec.tile.cols),
        "target": signed(spec.tile.weight_bits),
    })


def response_layout(spec: DesignSpec) -> data.StructLayout:
    return data.StructLayout({
        "comp": spec.adc.count,
        "code": adc_codes_layout(spec),
        "read_data": signed(spec.tile.weight_bits),
    })


class AnalogBoundarySignature(wiring.Signature):
    """The boundary seen from the periphery (use `.flip()` for the macro's side)."""

    def __init__(self, spec: DesignSpec):
        self.spec = spec
        super().__init__({
            "row_en": Out(spec.tile.rows),
            "row_sign": Out(spec.tile.rows),
            "cmd": Out(stream.Signature(command_layout(spec))),
            "resp": In(response_layout(spec)),
        })


def analog_port_members(spec: DesignSpec) -> dict:
    """Signature members `analog_<i>` of a top whose tiles' macros are outside (one boundary per tile)."""
    return {f"analog_{i}": Out(AnalogBoundarySignature(spec)) for i in range(spec.tiles)}
