"""`aimcgen generate`: every product of a design spec, written to build/<design>/ all at once or not at all.

The products below replace their earlier versions together (aimcgen.staging.staged_entries); the
sub-folders other commands write into build/<design>/ (evaluation/, deploy/, fpga/, asic/, sweep/, sim/) stay.

Products:
  spec.toml                      the fully resolved spec (the single source of truth, reloadable)
  rtl/<name>.v                   the digital periphery top; analog macros outside, ports analog_<i>__*
  rtl/<name>_emulated_tile.v     the synthesizable emulated analog tile (stands in for one macro)
  rtl/<name>_emulated.v          periphery and emulated tiles together: for simulation and FPGA emulation
  regmap.json, regmap.md         the register map (machine-readable and for people)
  firmware/                      C register header, SystemRDL description, register document
  report.json, report.md         the golden model on random vectors
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from amaranth.back import verilog

from aimcgen import spec_toml
from aimcgen.spec import DesignSpec
from aimcgen.rtl.accelerator import Accelerator
from aimcgen.rtl.emulated_tile import EmulatedCrossbar
from aimcgen.flows.golden_report import golden_run, markdown
from aimcgen.contract.aimc_registers import aimc_register_map
from aimcgen.staging import staged_entries
from aimcgen.firmware.generate import write_firmware


# What `aimcgen generate` owns in build/<design>/; the sub-folders other commands write there stay as they are.
PRODUCTS = ("spec.toml", "rtl", "regmap.json", "regmap.md", "firmware", "report.json", "report.md")


def _step(message: str):
    print(f"aimcgen: {message}", flush=True)


def write_verilog(spec: DesignSpec, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    products = [
        (f"{spec.name}.v", lambda: Accelerator(spec, emulated=False), spec.name),
        (f"{spec.name}_emulated_tile.v", lambda: EmulatedCrossbar(spec), f"{spec.name}_emulated_tile"),
        (f"{spec.name}_emulated.v", lambda: Accelerator(spec, emulated=True), f"{spec.name}_emulated"),
    ]
    written = []
    for filename, build, module in products:
        start = time.perf_counter()
        text = verilog.convert(build(), name=module, emit_src=False)
        (folder / filename).write_text(text)
        _step(f"  rtl/{filename} ({len(text) // 1024} KiB, {time.perf_counter() - start:.1f} s)")
        written.append(folder / filename)
    return written


def generate(spec: DesignSpec, out: Path, *, batch: int, seed: int) -> Path:
    final = Path(out) / spec.name
    with staged_entries(final, PRODUCTS) as tmp:
        (tmp / "spec.toml").write_text(spec_toml.dumps(spec))
        _step(f"design '{spec.name}' is valid; writing Verilog")
        write_verilog(spec, tmp / "rtl")
        regmap = aimc_register_map(spec)
        (tmp / "regmap.json").write_text(regmap.to_json())
        (tmp / "regmap.md").write_text(regmap.to_markdown())
        _step(f"  regmap.json, regmap.md ({len(regmap.registers)} registers, {len(regmap.windows)} windows, "
              f"{regmap.size} bytes)")
        names = [Path(p).name for p in write_firmware(spec, tmp / "firmware").values()]
        _step(f"  firmware/{', '.join(names)}")
        _step(f"running the golden model on {batch} random vectors")
        run = golden_run(spec, batch, seed)
        (tmp / "report.json").write_text(json.dumps({"design": spec.name, "golden": run}, indent=2) + "\n")
        (tmp / "report.md").write_text(markdown(spec, run))
    _step(f"wrote {final}/ ({run['golden_mvm_per_second']:.0f} MVM/s golden model)")
    return final
