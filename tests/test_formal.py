"""`aimcgen formal`: the handshake properties hold on the default preset, mutants are caught, and a missing
solver is reported with a one-line how-to (flows/formal.py, flows/formal_harness.py, aimcgen/cli/formal.py)."""

from __future__ import annotations

import argparse
import json
import shutil

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from aimcgen.flows import formal
from aimcgen.flows import formal_harness as fh
from aimcgen.presets import load_preset
from aimcgen.rtl.boundary import AnalogBoundarySignature
from required_tools import missing


def require_formal_tools() -> None:
    try:
        formal.check_tools()
    except formal.FormalToolMissing as exc:
        missing(str(exc))


@pytest.fixture(scope="module")
def spec():
    return load_preset("default")


def _run(spec, tmp_path, name, mutants=True):
    require_formal_tools()
    report = formal.run_formal(spec, tmp_path, only=[name], mutants=mutants)
    (entry,) = report.properties
    return report, entry


def _holds(entry):
    assert entry["holds"], f"{entry['name']}: {entry['result']} {entry['messages']}"


def test_wishbone_bank_proven_and_double_ack_caught(spec, tmp_path):
    report, entry = _run(spec, tmp_path, "wishbone_bank")
    _holds(entry)
    assert entry["result"].startswith("proven")
    assert [m["name"] for m in entry["mutants"]] == ["double_ack"]
    assert entry["mutants"][0]["caught"], entry["mutants"][0]
    assert entry["mutants"][0]["trace"]
    assert report.exit_status == 0
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["passed"] and data["properties"][0]["name"] == "wishbone_bank"
    assert "wishbone_bank" in (tmp_path / "report.md").read_text()


def test_accumulator_saturation_proven(spec, tmp_path):
    _, entry = _run(spec, tmp_path, "accumulator_saturation", mutants=False)
    _holds(entry)
    assert entry["result"].startswith("proven")


@pytest.mark.slow
def test_accumulator_wrong_rail_caught(spec, tmp_path):
    _, entry = _run(spec, tmp_path, "accumulator_saturation")
    assert all(m["caught"] for m in entry["mutants"]), entry["mutants"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["boundary_handshake", "tile_idle_cover", "uart_recovery", "tile_liveness"])
def test_controller_properties(spec, tmp_path, name):
    _, entry = _run(spec, tmp_path, name)
    _holds(entry)
    for m in entry["mutants"]:
        assert m["caught"], m


def test_uart_recovery_proven(spec, tmp_path):
    """The framing properties close by k-induction with their asserted invariants (not only BMC)."""
    _, entry = _run(spec, tmp_path, "uart_recovery", mutants=False)
    _holds(entry)
    assert entry["result"].startswith("proven")


@pytest.mark.slow
def test_sequencer_chain_covered_with_all_commands(spec, tmp_path):
    """The two-layer chain is reached: both MVMs' analog commands accepted, idle again, OUT_COUNT = 1."""
    _, entry = _run(spec, tmp_path, "sequencer_cover")
    _holds(entry)
    skip, depth = fh.chain_cover_window(formal.sequencer_spec(spec))
    assert entry["result"].startswith("covered at step")
    assert skip <= int(entry["result"].split()[-1]) <= depth
    assert entry["skip"] == skip


def test_every_property_runs_by_default_with_a_stated_mode_and_depth(spec):
    props = formal.properties(spec)
    assert all(p.default for p in props), [p.name for p in props if not p.default]
    modes = {p.name: p.mode for p in props}
    assert modes["uart_recovery"] == "prove" and modes["sequencer_cover"] == "cover"
    assert modes["tile_liveness"] == "bmc"
    for p in props:
        assert p.depth > p.skip >= 0 and p.mode in ("prove", "bmc", "cover")


def test_liveness_bmc_depth_passes_the_bound_and_skips_only_unfailable_steps(spec):
    """The cycle count starts at 0 and grows by at most one per step, so `running <= bound` cannot fail before
    step bound + 1: those are the only steps skipped, and the depth goes past them."""
    (live,) = [p for p in formal.properties(spec) if p.name == "tile_liveness"]
    bound = fh.mvm_cycle_bound(formal.liveness_spec(spec))
    assert live.skip == bound + 1 and live.depth > live.skip
    small = formal.liveness_spec(spec)
    assert small.adc.bits == 2 and small.input.steps == formal.formal_spec(spec).input.steps
    chain = formal.sequencer_spec(spec)
    assert chain.input.steps == 1 and (chain.adc.kind, chain.input.encoding) == (spec.adc.kind, spec.input.encoding)


def test_sby_file_states_timeout_and_skip():
    text = formal._sby_text("cover", 90, 60, 120)
    assert "mode cover\ndepth 90\ntimeout 120\nskip 60\n" in text
    assert "skip" not in formal._sby_text("prove", 2)


def test_bmc_skips_the_assumption_precheck_and_has_a_mutant_for_non_vacuity(spec):
    """A BMC runs without smtbmc's --presat (flows.formal docstring); a mutant it must catch stands in."""
    assert "--nopresat" in formal._sby_text("bmc", 16)
    assert "--nopresat" not in formal._sby_text("prove", 4) + formal._sby_text("cover", 16)
    bmc = [p for p in formal.properties(spec) if p.mode == "bmc"]
    assert bmc and all(p.mutants for p in bmc), [p.name for p in bmc if not p.mutants]


def test_formal_spec_is_small_and_keeps_the_kind(spec):
    small = formal.formal_spec(spec)
    assert small.tile.cols <= 4 and small.tile.rows <= 4 and small.tiles == 1
    assert (small.adc.kind, small.input.encoding) == (spec.adc.kind, spec.input.encoding)
    acc = formal.accumulator_spec(spec)
    assert (acc.adc.bits, acc.input.bits, acc.accumulator.bits) == \
        (spec.adc.bits, spec.input.bits, spec.accumulator.bits)


def _cli(argv):
    from aimcgen.cli.formal import add_formal_parser
    parser = argparse.ArgumentParser(prog="aimcgen")
    add_formal_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["formal", *argv])
    return args.func(args)


def test_missing_solver_is_reported_with_how_to(monkeypatch, capsys, tmp_path):
    real_which = shutil.which
    monkeypatch.setattr(formal.shutil, "which", lambda name, *a, **k: None if name == "z3" else real_which(name))
    with pytest.raises(formal.FormalToolMissing, match="apt-get install -y z3"):
        formal.check_tools()
    assert _cli(["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"aimcgen: error: {formal.Z3_HOW_TO}"]
    assert not (tmp_path / "aimc_small").exists()


def test_cli_writes_the_report(tmp_path, capsys):
    require_formal_tools()
    assert _cli(["--out", str(tmp_path), "--property", "wishbone_bank", "--no-mutants"]) == 0
    folder = tmp_path / "aimc_small" / "formal"
    assert (folder / "report.md").exists() and (folder / "report.json").exists()
    assert "report:" in capsys.readouterr().out


def test_cli_unknown_property(tmp_path, capsys):
    require_formal_tools()
    assert _cli(["--out", str(tmp_path), "--property", "nope"]) == 2
    assert "unknown properties" in capsys.readouterr().err


def test_macro_model_drives_the_boundary_ready(spec):
    """The sequencer cover was unreachable because the macro model never drove cmd.ready: the core's commands
    were never accepted. The model's ready must reach the boundary."""
    small = formal.formal_spec(spec)
    m = Module()
    boundary = AnalogBoundarySignature(small).create()
    ready = Signal()
    macro = fh._MacroModel(m, boundary, "macro", ready=ready)
    seen = []

    async def bench(ctx):
        for valid, rdy in ((1, 0), (1, 1), (0, 1)):
            ctx.set(boundary.cmd.valid, valid)
            ctx.set(ready, rdy)
            seen.append((ctx.get(boundary.cmd.ready), ctx.get(macro.accept)))
            await ctx.delay(1e-6)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [(0, 0), (1, 1), (1, 0)]


def test_chain_search_starts_no_later_than_the_fastest_chain():
    """`_cycles_for(n)` is the fewest cycles for n handshakes under the stall pattern, from any phase: the
    sequencer cover's first searched step is a true lower bound."""
    period = fh.CHAIN_STALL_PERIOD
    for n in range(1, 25):
        fastest = []
        for phase in range(period):
            done, cycles = 0, 0
            while done < n:
                done += (phase + cycles) % period != 0
                cycles += 1
            fastest.append(cycles)
        assert fh._cycles_for(n) == min(fastest), n
