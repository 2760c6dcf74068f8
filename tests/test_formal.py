"""`aimcgen formal`: the handshake properties hold on the default preset, mutants are caught, and a missing
solver is reported with a one-line how-to (flows/formal.py, flows/formal_harness.py, aimcgen/cli/formal.py)."""

from __future__ import annotations

import argparse
import json
import shutil

import pytest

from aimcgen.flows import formal
from aimcgen.presets import load_preset
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
@pytest.mark.parametrize("name", ["boundary_handshake", "tile_idle_cover", "uart_recovery"])
def test_controller_properties(spec, tmp_path, name):
    _, entry = _run(spec, tmp_path, name)
    _holds(entry)
    for m in entry["mutants"]:
        assert m["caught"], m


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
