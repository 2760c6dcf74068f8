"""A GDSII abstract of the analog macro: outline, pins with labels and power straps, on SKY130's GDS layers.

Why: LibreLane streams the macro's GDS into the chip and checks the chip with LVS and DRC; an outline alone
has no pins, so nothing could connect to it by name. This abstract carries what the LEF says (the same
`macro_views.MacroGeometry`): a rectangle on each pin's drawing and pin layers with a text label of the pin
name, and the VPWR/VGND straps. It is a stand-in for the analog layout, which replaces it before signoff.

The writer emits GDSII stream records (version 600, database unit 1 nm, user unit 1 um) by hand: the format is
small and a dependency for it is not worth having.
"""

from __future__ import annotations

import struct

# SKY130 GDS layer numbers (layer, datatype): drawing, pin and label purposes; prBoundary for the outline.
SKY130_LAYERS = {
    "met1": {"drawing": (68, 20), "pin": (68, 16), "label": (68, 5)},
    "met2": {"drawing": (69, 20), "pin": (69, 16), "label": (69, 5)},
    "met3": {"drawing": (70, 20), "pin": (70, 16), "label": (70, 5)},
    "met4": {"drawing": (71, 20), "pin": (71, 16), "label": (71, 5)},
}
PR_BOUNDARY = (235, 4)
DB_UNIT_UM = 1e-3                   # 1 nm database unit


def _record(rtype: int, dtype: int, payload: bytes = b"") -> bytes:
    return struct.pack(">HBB", 4 + len(payload), rtype, dtype) + payload


def _ascii(text: str) -> bytes:
    b = text.encode("ascii")
    return b + (b"\0" if len(b) % 2 else b"")


def _real8(x: float) -> bytes:
    """GDSII 8-byte real: sign bit, 7-bit excess-64 base-16 exponent, 56-bit mantissa."""
    if x == 0:
        return b"\0" * 8
    sign = 0x80 if x < 0 else 0
    x, exp = abs(x), 64
    while x >= 1:
        x, exp = x / 16, exp + 1
    while x < 1 / 16:
        x, exp = x * 16, exp - 1
    return bytes([sign | exp]) + int(round(x * (1 << 56))).to_bytes(7, "big")


def _dbu(v: float) -> int:
    return int(round(v / DB_UNIT_UM))


def _boundary(layer: tuple[int, int], rect) -> bytes:
    x0, y0, x1, y1 = (_dbu(v) for v in rect)
    xy = struct.pack(">10i", x0, y0, x1, y0, x1, y1, x0, y1, x0, y0)
    return b"".join([_record(0x08, 0x00), _record(0x0D, 0x02, struct.pack(">h", layer[0])),
                     _record(0x0E, 0x02, struct.pack(">h", layer[1])), _record(0x10, 0x03, xy), _record(0x11, 0x00)])


def _text(layer: tuple[int, int], x: float, y: float, text: str) -> bytes:
    return b"".join([_record(0x0C, 0x00), _record(0x0D, 0x02, struct.pack(">h", layer[0])),
                     _record(0x16, 0x02, struct.pack(">h", layer[1])),
                     _record(0x10, 0x03, struct.pack(">2i", _dbu(x), _dbu(y))), _record(0x19, 0x06, _ascii(text)),
                     _record(0x11, 0x00)])


def _pin(layer_name: str, rect, name: str) -> bytes:
    purposes = SKY130_LAYERS[layer_name]
    cx, cy = (rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2
    return (_boundary(purposes["drawing"], rect) + _boundary(purposes["pin"], rect)
            + _text(purposes["label"], cx, cy, name))


def abstract_gds(name: str, geometry, *, power_layer: str = "met4") -> bytes:
    """A GDSII library with one cell `name`: the outline, every pin of `geometry` (macro_views.MacroGeometry)
    labelled with its LEF name, and the power straps labelled VPWR/VGND."""
    date = struct.pack(">12h", 2025, 1, 1, 0, 0, 0, 2025, 1, 1, 0, 0, 0)
    body = [_boundary(PR_BOUNDARY, (0.0, 0.0, geometry.width, geometry.height))]
    for pin, (layer, rect) in sorted(geometry.pins.items()):
        body.append(_pin(layer, rect, pin))
    for net, rects in sorted(geometry.power.items()):
        body += [_pin(power_layer, rect, net) for rect in rects]
    return b"".join([_record(0x00, 0x02, struct.pack(">h", 600)), _record(0x01, 0x02, date),
                     _record(0x02, 0x06, _ascii(name)), _record(0x03, 0x05, _real8(1e-3) + _real8(1e-9)),
                     _record(0x05, 0x02, date), _record(0x06, 0x06, _ascii(name)), *body,
                     _record(0x07, 0x00), _record(0x04, 0x00)])
