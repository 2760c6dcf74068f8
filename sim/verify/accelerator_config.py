"""Configuration of the accelerator bench (sim.verify.benches.accelerator_bench): its fields and the defaults
that scale its stimulus to the design, so that a big design's run stays short.

The bench reads $AIMCGEN_BENCH_CONFIG, written by cocotb_run.write_bench_config(path, spec, **fields)
(sim.verify.accelerator_runner does it); every field is optional, `bench_defaults(spec)` scales the sizes:
  regmap_json           path of the regmap.json written by `aimcgen generate` (default: the map built from
                        the spec, aimc_register_map)
  seed                  stimulus seed                                                         default 1
  mvms                  MVMs per streaming test                                   default: by design size
  active_rows           rows (per row tile) that random inputs drive and random weights fill: the
                        serial emulated tile (twin.integrate) integrates one row per cycle up to the
                        highest driven row, so big tiles are exercised on a band of rows
                                                                                  default: all up to 64
  weight_density        fraction of non-zero random weights in the active rows               default 1.0
  stall_in, stall_out   random stall probability of the input source / output sink           default 0.3
  macro_stall           analog top: ready-low probability of the Python macros               default 0.1
  coverage_threshold    functional coverage the final test requires (0..1)                   default 0.95
  physics_*             test_physics_macro (analog top only): physics_mvms (default 12), physics_seed (7),
                        physics_t_s (1.0), physics_tolerance (1.25: MAE bound / predicted RMS error)
"""

from __future__ import annotations

from aimcgen.contract.adc import conversion_cycles
from aimcgen.rtl.tile_controller import drive_cycles
from aimcgen.spec import DesignSpec


TILE_GAIN_BENCH = {"design": {"name": "aimc_trimmed"}, "array": {"row_tiles": 2, "col_tiles": 2},
                   "accumulator": {"tile_gain_bits": 10}}
"""The bench configuration with per-row-tile gain trims (contract.tile_gain): overrides of the default preset
(`load_preset("default").replace(**TILE_GAIN_BENCH)`), a 2 x 2 grid so that the trims of both column groups
are exercised; test_coefficient_loads then writes, reads back and runs random trims."""


def emulated_mvm_cycles(spec: DesignSpec, driven_rows: int | None = None) -> int:
    """Rough cycles of one MVM on the emulated top (an INTEGRATE scans rows up to the highest driven one)."""
    rows = spec.tile.rows if driven_rows is None else driven_rows
    per_step = drive_cycles(spec) * (rows + 2) + spec.columns_per_adc * (conversion_cycles(spec.adc) + 1)
    return spec.input.steps * per_step + 2 * spec.logical_cols + spec.logical_rows + 20


def bench_defaults(spec: DesignSpec) -> dict:
    """Stimulus sizes that keep a bench run of `spec` short: about 60k cycles of streamed MVMs per test."""
    active = spec.tile.rows if spec.tile.rows <= 64 else 32
    per_mvm = emulated_mvm_cycles(spec, active)
    return {
        "mvms": int(min(24, max(3, 60_000 // per_mvm))),
        "active_rows": active,
        "weight_density": 1.0,
        "stall_in": 0.3,
        "stall_out": 0.3,
        "macro_stall": 0.1,
        "coverage_threshold": 0.95,
    }


def setting(cfg: dict, spec: DesignSpec, key: str):
    """A field of the configuration, else its default for `spec`."""
    return cfg.get(key, bench_defaults(spec)[key])
