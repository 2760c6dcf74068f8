"""sim.deploy.placement: legality of the column packing, segments, refusals and the suggested fix."""

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aimcgen.presets import load_preset
from aimcgen.spec import SpecError
from aimcgen.sim.deploy.compile import compile_network
from aimcgen.sim.deploy.placement import (HOST_PER_POSITION, SEQUENCER, LayerShape, PlacementError,
                                          array_limit, place_layers)
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import DenseLayer, Network

BASE = load_preset("default")


@st.composite
def grids(draw):
    return BASE.replace(tile={"rows": draw(st.sampled_from([4, 8, 16, 32])),
                              "cols": draw(st.sampled_from([4, 8, 16, 32]))},
                        array={"row_tiles": draw(st.integers(1, 4)), "col_tiles": draw(st.integers(1, 4)),
                               "max_layers": draw(st.integers(1, 4))})


shapes = st.lists(st.builds(LayerShape, rows=st.integers(1, 80), cols=st.integers(1, 80),
                            conv=st.booleans(), positions=st.integers(1, 4), host_relu=st.booleans()),
                  min_size=1, max_size=6)


def fix_from(message: str) -> dict:
    fix = message.split("fix: ")[1]
    return {k: int(v) for k, v in re.findall(r"array\.(\w+) = (\d+)", fix)}


@settings(max_examples=200, deadline=None)
@given(grids(), shapes)
def test_placement_is_legal_or_refused_exactly_when_short(spec, layers):
    cols_short = sum(s.cols for s in layers) > spec.logical_cols
    rows_short = max(s.rows for s in layers) > spec.logical_rows
    if cols_short or rows_short:
        with pytest.raises(PlacementError) as exc:
            place_layers(layers, spec)
        msg = str(exc.value)
        assert ("columns:" in msg) == cols_short and ("rows: layer" in msg) == rows_short
        if "no grid fits" in msg:
            need = {"col_tiles": max(spec.array.col_tiles, math.ceil(sum(s.cols for s in layers) / spec.tile.cols)),
                    "row_tiles": max(spec.array.row_tiles, math.ceil(max(s.rows for s in layers) / spec.tile.rows))}
            if need["col_tiles"] <= array_limit("col_tiles") and need["row_tiles"] <= array_limit("row_tiles"):
                with pytest.raises(SpecError):          # the grid it needs breaks another spec rule (size)
                    spec.replace(array=need)
            return
        fix = fix_from(msg)
        assert ("col_tiles" in fix) == cols_short and ("row_tiles" in fix) == rows_short
        fixed = spec.replace(array=fix)
        place_layers(layers, fixed)                                   # the suggestion fits
        for name, value in fix.items():                               # ... and is the smallest that does
            assert value > getattr(spec.array, name)
            with pytest.raises(PlacementError):
                place_layers(layers, spec.replace(array={**fix, name: value - 1}))
        return
    p = place_layers(layers, spec)
    owner = np.full((spec.logical_rows, spec.logical_cols), -1)
    for lp, shape in zip(p.layers, layers):
        (r0, r1), (c0, c1) = lp.row_range, lp.col_range
        assert (r0, r1 - r0, c1 - c0) == (0, shape.rows, shape.cols)
        assert 0 <= c0 and c1 <= spec.logical_cols and r1 <= spec.logical_rows
        assert np.all(owner[r0:r1, c0:c1] == -1), "two layers overlap"
        owner[r0:r1, c0:c1] = lp.index
        touched = {(r // spec.tile.rows) * spec.array.col_tiles + c // spec.tile.cols
                   for r in range(r0, r1) for c in range(c0, c1)}
        assert set(lp.tiles(spec)) == touched
    assert np.sum(owner >= 0) == sum(s.rows * s.cols for s in layers)   # every weight exactly once
    # Segments: all layers in order; a chain breaks at a host relu, around a convolution, at max_layers.
    assert [i for seg in p.segments for i in seg.layers] == list(range(len(layers)))
    for seg in p.segments:
        assert len(seg.layers) <= spec.array.max_layers
        assert all(p.layers[i].segment == seg.index for i in seg.layers)
        kinds = [layers[i].conv for i in seg.layers]
        assert seg.driver == (HOST_PER_POSITION if kinds[0] else SEQUENCER)
        assert not any(kinds) or len(seg.layers) == 1
        assert not any(layers[i].host_relu for i in seg.layers[:-1])
        assert seg.descriptors(p) == [p.layers[i].col_range[:1] + (layers[i].cols,) for i in seg.layers]
    for a, b in zip(p.segments, p.segments[1:]):
        last, first = layers[a.layers[-1]], layers[b.layers[0]]
        assert last.host_relu or last.conv or first.conv or len(a.layers) == spec.array.max_layers


def test_no_grid_fits_says_so():
    with pytest.raises(PlacementError, match=r"no grid fits: .*array\.row_tiles <= 64"):
        place_layers([LayerShape(16 * 64 + 1, 4)], BASE)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 40), st.sampled_from(["relu", "none"])), min_size=1, max_size=4),
       st.integers(1, 40), st.integers(0, 2**16))
def test_compiled_weights_are_the_layer_codes_at_their_place(dims, n_in, seed):
    """Every layer's weight codes (and scale/offset codes) land at its rows and columns, nothing else."""
    rng = np.random.default_rng(seed)
    sizes = [n_in] + [d for d, _ in dims]
    net = Network([DenseLayer(rng.normal(size=(a, b)), rng.normal(size=b), act)
                   for a, b, (_, act) in zip(sizes, sizes[1:], dims)])
    spec = BASE.replace(array={"row_tiles": 3, "col_tiles": 10})
    calib = rng.normal(size=(32, n_in))
    program = compile_network(net, spec, calib)
    mapping = map_network(net, spec, calib, grid=(3, 10))
    seen = np.zeros(program.weights.shape, dtype=bool)
    for pl, lm in zip(program.layers, mapping.layers):
        (r0, r1), (c0, c1) = pl.row_range, pl.col_range
        assert np.array_equal(program.weights[r0:r1, c0:c1], lm.weight_codes[:r1 - r0, :c1 - c0])
        assert np.array_equal(program.scale[c0:c1], lm.scale[:c1 - c0])
        assert np.array_equal(program.offset[c0:c1], lm.offset[:c1 - c0])
        seen[r0:r1, c0:c1] = True
    assert not np.any(program.weights[~seen])
    used = np.any(seen, axis=0)
    assert not np.any(program.scale[~used]) and not np.any(program.offset[~used])
