"""Where every layer of a network lives on one chip: column ranges of the logical matrix and sequencer segments.

The chip is one logical matrix of logical_rows x logical_cols conductance codes over its tile grid (row tiles
add partial sums, column tiles concatenate) and every MVM runs on the whole grid. A layer whose crossbar
matrix is in x out (a convolution: its kernel matrix C*kh*kw x F) therefore occupies rows 0..in-1 of its own
column range start..start+out-1; the column ranges of all layers are disjoint, packed from column 0 in
layer order (a layer taller or wider than a tile spans row or column tiles by itself). Nothing is
time-multiplexed: the whole network is programmed once.

Segments are what runs without the host: dense layers chain through the layer sequencer, at most
array.max_layers per segment, each a descriptor (start, count). A segment ends after a layer whose relu the
host applies (postproc.activation = "none"), before and after a convolution (run by the host position by
position on im2col patches, a one-layer segment per position), and at the last layer.

A network that does not fit raises PlacementError naming the short resource and the smallest change of
array.row_tiles / array.col_tiles that fits.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from aimcgen.sim.eval.network import ConvLayer, Network
from aimcgen.spec import ArraySpec, DesignSpec, SpecError

SEQUENCER, HOST_PER_POSITION = "sequencer", "host_per_position"


class PlacementError(ValueError):
    """The network does not fit the chip; the message names the short resource and a spec change that fits."""


@dataclass(frozen=True)
class LayerShape:
    """What placement needs of a layer: its crossbar matrix, MVMs per input and what breaks a chain."""
    rows: int                       # crossbar rows: inputs of one MVM
    cols: int                       # crossbar columns: outputs of one MVM
    conv: bool = False              # run by the host per output position (im2col)
    positions: int = 1              # MVMs per input vector
    host_relu: bool = False         # the host applies the layer's relu after the post-processor


@dataclass(frozen=True)
class LayerPlacement:
    index: int
    shape: LayerShape
    col_start: int
    segment: int

    @property
    def row_range(self) -> tuple[int, int]:
        return 0, self.shape.rows

    @property
    def col_range(self) -> tuple[int, int]:
        return self.col_start, self.col_start + self.shape.cols

    def tiles(self, spec: DesignSpec) -> list[int]:
        """Indices (row tile * col_tiles + col tile, as the golden model numbers them) of the tiles it touches."""
        r_tiles = range(math.ceil(self.shape.rows / spec.tile.rows))
        c_tiles = range(self.col_start // spec.tile.cols, (self.col_range[1] - 1) // spec.tile.cols + 1)
        return [r * spec.array.col_tiles + c for r in r_tiles for c in c_tiles]


@dataclass(frozen=True)
class Segment:
    index: int
    layers: tuple[int, ...]
    driver: str                     # SEQUENCER: one chain per input; HOST_PER_POSITION: one MVM per position

    def descriptors(self, placement: "Placement") -> list[tuple[int, int]]:
        """The layer sequencer's descriptors (start column, count) of this segment, in order."""
        return [(placement.layers[i].col_start, placement.layers[i].shape.cols) for i in self.layers]


@dataclass(frozen=True)
class Placement:
    spec: DesignSpec
    layers: tuple[LayerPlacement, ...]
    segments: tuple[Segment, ...]

    @property
    def tiles_used(self) -> list[int]:
        return sorted({t for layer in self.layers for t in layer.tiles(self.spec)})

    @property
    def utilization(self) -> float:
        """Placed weights over the chip's weights (logical_rows x logical_cols)."""
        placed = sum(l.shape.rows * l.shape.cols for l in self.layers)
        return placed / (self.spec.logical_rows * self.spec.logical_cols)


def needs_host_relu(layer, spec: DesignSpec) -> bool:
    """The layer has a relu the post-processor does not apply (sim.eval.mapping's host_relu)."""
    return layer.activation == "relu" and spec.postproc.activation == "none"


def layer_shapes(net: Network, spec: DesignSpec) -> list[LayerShape]:
    return [LayerShape(*layer.weight.shape, isinstance(layer, ConvLayer), layer.positions,
                       needs_host_relu(layer, spec)) for layer in net.layers]


def place(net: Network, spec: DesignSpec) -> Placement:
    return place_layers(layer_shapes(net, spec), spec)


def place_layers(shapes: list[LayerShape], spec: DesignSpec) -> Placement:
    """Pack the layers' columns from 0 in order and cut the chain into segments; PlacementError if short."""
    if not shapes:
        raise PlacementError("nothing to place: the network has no layers")
    check_fits(shapes, spec)
    layers, segments, current = [], [], []
    start = 0

    def close():
        if current:
            conv = shapes[current[0]].conv
            segments.append(Segment(len(segments), tuple(current), HOST_PER_POSITION if conv else SEQUENCER))
            current.clear()

    for i, shape in enumerate(shapes):
        prev = shapes[i - 1] if i else None
        if prev is not None and (shape.conv or prev.conv or prev.host_relu
                                 or len(current) == spec.array.max_layers):
            close()
        current.append(i)
        layers.append(LayerPlacement(i, shape, start, len(segments)))
        start += shape.cols
    close()
    return Placement(spec, tuple(layers), tuple(segments))


def check_fits(shapes: list[LayerShape], spec: DesignSpec) -> None:
    """PlacementError naming every short resource and the smallest array change that fits, if any."""
    cols = sum(s.cols for s in shapes)
    tallest = max(range(len(shapes)), key=lambda i: shapes[i].rows)
    rows = shapes[tallest].rows
    problems, fix = [], {}
    if cols > spec.logical_cols:
        problems.append(f"columns: the layers need {cols} of {spec.logical_cols} logical columns "
                        f"(tile.cols = {spec.tile.cols} x array.col_tiles = {spec.array.col_tiles})")
        fix["col_tiles"] = math.ceil(cols / spec.tile.cols)
    if rows > spec.logical_rows:
        problems.append(f"rows: layer {tallest} needs {rows} rows of {spec.logical_rows} logical rows "
                        f"(tile.rows = {spec.tile.rows} x array.row_tiles = {spec.array.row_tiles})")
        fix["row_tiles"] = math.ceil(rows / spec.tile.rows)
    if problems:
        raise PlacementError(f"the network does not fit {spec.name}: {'; '.join(problems)}; "
                             f"{suggest(spec, fix)}")


def array_limit(name: str) -> int:
    """The largest value the spec allows for array.<name>."""
    return next(f for f in dataclasses.fields(ArraySpec) if f.name == name).metadata["hi"]


def suggest(spec: DesignSpec, least: dict[str, int]) -> str:
    """'fix: array.col_tiles = N' with the smallest values at or above `least` the spec accepts, or why
    no grid fits."""
    values = {k: max(v, getattr(spec.array, k)) for k, v in least.items()}
    wanted = ", ".join(f"array.{k} = {least[k]}" for k in sorted(least))
    refused = ""
    while True:
        over = [k for k, v in values.items() if v > array_limit(k)]
        if over:
            limits = refused or ", ".join(f"array.{k} <= {array_limit(k)}" for k in sorted(over))
            return (f"no grid fits: it would need {wanted}, but {limits}; use larger tiles (tile.rows / "
                    f"tile.cols) or a smaller network")
        try:
            spec.replace(array=values)
        except SpecError as exc:
            refused = refused or str(exc)
            values = {k: v + 1 for k, v in values.items()}
            continue
        return "fix: " + ", ".join(f"array.{k} = {v}" for k, v in sorted(values.items()))
