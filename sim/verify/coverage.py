"""A small functional coverage collector: coverpoints of named bins with hit counts.

    cov = Coverage("aimc_small")
    cov.coverpoint("output_saturation", ["high", "low", "clear"], doc="per MVM: an output was clamped")
    cov.exclude("output_saturation", "low", "relu activation: outputs are never below 0")
    cov.hit("output_saturation", "clear")          # count 1 hit (or `count=n`)
    report = cov.report()                          # a dict (JSON-ready), see `report`
    print(cov.format())                            # a table for people
    cov.require(0.95)                              # AssertionError naming the bins never hit

A bin is either hit (count > 0), missed, or excluded (declared unreachable for this design, with the
reason: an excluded bin counts neither for nor against the coverage). Coverage is hit bins / (all bins -
excluded bins), per coverpoint and in total. Hitting a bin that is not declared raises KeyError (a typo in a
bench must not silently create coverage); hitting an excluded bin is recorded and reported as a warning
in the report ("excluded_but_hit"), since it contradicts the reachability argument.

Coverpoints may carry extra information that is not a bin (`note`): e.g. the distinct ADC codes each ADC
produced. Collectors merge (`merge`), so per-test collectors can be combined.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable


@dataclass
class Coverpoint:
    name: str
    bins: dict[str, int]
    doc: str = ""
    excluded: dict[str, str] = field(default_factory=dict)      # bin -> reason
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def considered(self) -> list[str]:
        return [b for b in self.bins if b not in self.excluded]

    @property
    def hit_bins(self) -> list[str]:
        return [b for b in self.considered if self.bins[b] > 0]

    @property
    def missed_bins(self) -> list[str]:
        return [b for b in self.considered if self.bins[b] == 0]

    @property
    def coverage(self) -> float:
        considered = self.considered
        return len(self.hit_bins) / len(considered) if considered else 1.0


class Coverage:
    """Coverpoints of named bins; see the module docstring."""

    def __init__(self, name: str = "coverage"):
        self.name = name
        self.points: dict[str, Coverpoint] = {}

    # -- declaration
    def coverpoint(self, name: str, bins: Iterable[str], doc: str = "") -> Coverpoint:
        """Declare a coverpoint (again: adds bins that are new, keeps counts)."""
        bins = list(bins)
        if not bins:
            raise ValueError(f"coverpoint {name}: needs at least one bin")
        point = self.points.get(name)
        if point is None:
            point = self.points[name] = Coverpoint(name, {}, doc)
        for b in bins:
            point.bins.setdefault(str(b), 0)
        if doc and not point.doc:
            point.doc = doc
        return point

    def exclude(self, point: str, bin: str, reason: str) -> None:
        """Declare `bin` of `point` unreachable for this design (it then does not count)."""
        p = self._point(point)
        if bin not in p.bins:
            raise KeyError(f"coverpoint {point} has no bin {bin!r} (bins: {', '.join(p.bins)})")
        p.excluded[bin] = reason

    def _point(self, name: str) -> Coverpoint:
        try:
            return self.points[name]
        except KeyError:
            raise KeyError(f"{self.name}: no coverpoint {name!r} (declared: {', '.join(self.points) or 'none'})")\
                from None

    # -- sampling
    def hit(self, point: str, bin: str, count: int = 1) -> None:
        p = self._point(point)
        if bin not in p.bins:
            raise KeyError(f"coverpoint {point} has no bin {bin!r} (bins: {', '.join(p.bins)})")
        p.bins[bin] += int(count)

    def note(self, point: str, key: str, value: Any) -> None:
        """Attach information to a coverpoint that is not a bin (shown in the report)."""
        self._point(point).notes[key] = value

    def count(self, point: str, bin: str) -> int:
        return self._point(point).bins[bin]

    def merge(self, other: "Coverage") -> "Coverage":
        """Add the counts (and declarations, exclusions, notes) of `other` into this collector."""
        for name, p in other.points.items():
            mine = self.coverpoint(name, p.bins, p.doc)
            for b, n in p.bins.items():
                mine.bins[b] += n
            mine.excluded.update(p.excluded)
            mine.notes.update(p.notes)
        return self

    # -- results
    @property
    def totals(self) -> tuple[int, int, int]:
        """(hit bins, considered bins, excluded bins) over every coverpoint."""
        hit = sum(len(p.hit_bins) for p in self.points.values())
        considered = sum(len(p.considered) for p in self.points.values())
        excluded = sum(len(p.excluded) for p in self.points.values())
        return hit, considered, excluded

    @property
    def coverage(self) -> float:
        hit, considered, _ = self.totals
        return hit / considered if considered else 1.0

    def report(self) -> dict:
        """{"name", "coverage" (0..1), "hit", "bins", "excluded", "points": {name: {"coverage", "doc",
        "bins": {bin: count}, "missed": [...], "excluded": {bin: reason}, "excluded_but_hit": [...],
        "notes": {...}}}}"""
        hit, considered, excluded = self.totals
        return {
            "name": self.name,
            "coverage": self.coverage,
            "hit": hit,
            "bins": considered,
            "excluded": excluded,
            "points": {
                name: {
                    "coverage": p.coverage,
                    "doc": p.doc,
                    "bins": dict(p.bins),
                    "missed": p.missed_bins,
                    "excluded": dict(p.excluded),
                    "excluded_but_hit": [b for b in p.excluded if p.bins[b] > 0],
                    "notes": dict(p.notes),
                } for name, p in self.points.items()
            },
        }

    def format(self, *, max_bins: int = 12, max_group: int = 8) -> str:
        """The report as a text table: one line per coverpoint with its bins and counts. Coverpoints with
        many bins show only their count; families of more than `max_group` coverpoints named alike (e.g.
        `adc.t0.a0` .. `adc.t0.a255`) show as one line (`adc.t0.*`) with the bins they missed."""
        hit, considered, excluded = self.totals
        lines = [f"functional coverage of {self.name}: {hit}/{considered} bins hit "
                 f"({100 * self.coverage:.1f} %), {excluded} excluded as unreachable"]
        families: dict[str, list[Coverpoint]] = {}
        for name, p in self.points.items():
            families.setdefault(name.rsplit(".", 1)[0] + ".*" if "." in name else name, []).append(p)
        rows = []
        for family, points in families.items():
            if len(points) > max_group:
                h = sum(len(p.hit_bins) for p in points)
                n = sum(len(p.considered) for p in points)
                missed = [f"{p.name}.{b}" for p in points for b in p.missed_bins]
                rows.append((family, h / n if n else 1.0, f"{len(points)} coverpoints, {h}/{n} bins hit", missed, []))
                continue
            for p in points:
                if len(p.bins) > max_bins:
                    bins = f"{len(p.bins)} bins"
                else:
                    bins = "  ".join(f"{b}={'x' if b in p.excluded else n}" for b, n in p.bins.items())
                rows.append((p.name, p.coverage, bins, p.missed_bins, [b for b in p.excluded if p.bins[b] > 0]))
        width = max((len(r[0]) for r in rows), default=10)
        for name, coverage, bins, missed, bad in rows:
            lines.append(f"  {name:<{width}}  {100 * coverage:5.1f} %  {bins}")
            if missed:
                shown = ", ".join(missed[:12]) + (f", ... ({len(missed) - 12} more)" if len(missed) > 12 else "")
                lines.append(f"  {'':<{width}}  missed: {shown}")
            if bad:
                lines.append(f"  {'':<{width}}  WARNING excluded but hit: {', '.join(bad)}")
        return "\n".join(lines)

    def group_summary(self, prefix: str) -> dict:
        """Coverage of the coverpoints whose names start with `prefix` (e.g. every ADC), as one figure."""
        points = [p for n, p in self.points.items() if n.startswith(prefix)]
        hit = sum(len(p.hit_bins) for p in points)
        considered = sum(len(p.considered) for p in points)
        return {"points": len(points), "hit": hit, "bins": considered,
                "coverage": hit / considered if considered else 1.0}

    def require(self, threshold: float) -> None:
        """AssertionError unless total coverage >= threshold (0..1); the message names the missed bins."""
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"coverage threshold {threshold} must lie in 0..1")
        if self.coverage + 1e-12 >= threshold:
            return
        hit, considered, _ = self.totals
        missed = [f"{n}.{b}" for n, p in self.points.items() for b in p.missed_bins]
        shown = ", ".join(missed[:20]) + (f", ... ({len(missed) - 20} more)" if len(missed) > 20 else "")
        raise AssertionError(f"{self.name}: functional coverage {100 * self.coverage:.1f} % ({hit}/{considered} "
                             f"bins) is below the required {100 * threshold:.1f} %; missed: {shown}")

    def to_json(self) -> str:
        return json.dumps(self.report(), indent=1)
