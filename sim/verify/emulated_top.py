"""The emulated accelerator top of a spec as Verilog, with its register map: what RTL cross-checks simulate.

`Accelerator(spec, emulated=True)` is the periphery with the emulated tiles in place of the analog macros
(rtl.emulated_tile), bit-exact to the golden model; benches reach its registers by name through regmap.json.
"""

from __future__ import annotations

from pathlib import Path

from amaranth.back import verilog

from aimcgen.contract.aimc_registers import aimc_register_map
from aimcgen.rtl.accelerator import Accelerator
from aimcgen.spec import DesignSpec


def write_emulated_top(spec: DesignSpec, folder: Path) -> tuple[Path, str, Path]:
    """(Verilog path, top name, regmap.json path) of the emulated accelerator of `spec`, written to `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    top = f"{spec.name}_emulated"
    source = folder / f"{top}.v"
    source.write_text(verilog.convert(Accelerator(spec, emulated=True), name=top, emit_src=False))
    regmap = folder / "regmap.json"
    regmap.write_text(aimc_register_map(spec).to_json())
    return source, top, regmap
