"""Per-column post-processing: affine correction, rounding, activation, requantization.

    p = acc * scale + offset                  (scale and offset carry scale_frac_bits fraction bits)
    r = (p + 2^(f-1)) >> f                    (round half up; r = p when f = 0)
    a = r | max(r, 0) | clamp(r, 0, clip)     (activation none | relu | clip)
    y = clamp(a, output range)                (saturating requantization to output_bits)

with f = scale_frac_bits, `>>` an arithmetic shift (floor division by 2^f), clip = postproc.clip_max or,
when that is 0, the largest output code, and the output range -2^(output_bits-1)..2^(output_bits-1)-1.
The product is exact (DatapathFormats.product is wide enough); only the final clamp saturates, and it sets
the output_saturated flag.
"""

from __future__ import annotations

import numpy as np

from aimcgen.contract.formats import datapath_formats
from aimcgen.spec import DesignSpec, SpecError


def check_coefficients(spec: DesignSpec, scale: np.ndarray, offset: np.ndarray, cols: int):
    fmt = datapath_formats(spec)
    result = []
    for name, values, f in (("scale", scale, fmt.scale), ("offset", offset, fmt.offset)):
        values = np.broadcast_to(np.asarray(values), (cols,))
        if not np.issubdtype(values.dtype, np.integer):
            raise SpecError(f"postproc {name}: expected integer fixed-point codes, got {values.dtype}")
        if not f.contains(values):
            raise SpecError(f"postproc {name}: codes must lie in {f.min}..{f.max} "
                            f"(signed {f.bits} bits), got {values.min()}..{values.max()}")
        result.append(values.astype(np.int64))
    return result


def unity_scale(spec: DesignSpec) -> int:
    """The scale code of 1.0."""
    return 1 << spec.postproc.scale_frac_bits


def postprocess(acc: np.ndarray, scale: np.ndarray, offset: np.ndarray, spec: DesignSpec):
    """Output codes and a per-element flag for saturation at the output width (int64 arithmetic, worked in
    place on one array of the broadcast shape of acc, scale and offset)."""
    post = spec.postproc
    f = post.scale_frac_bits
    shape = np.broadcast_shapes(np.shape(acc), np.shape(scale), np.shape(offset))
    p = np.multiply(acc, scale, out=np.empty(shape, dtype=np.int64), dtype=np.int64)
    p += offset
    if f:
        p += 1 << (f - 1)
        p >>= f
    if post.activation == "relu":
        np.maximum(p, 0, out=p)
    elif post.activation == "clip":
        np.clip(p, 0, post.clip_high, out=p)
    out = datapath_formats(spec).output
    saturated = (p < out.min) | (p > out.max)
    np.clip(p, out.min, out.max, out=p)                 # what out.saturate returns, without a second array
    return p, saturated
