"""The command line: help for every subcommand, the default run's products, readable errors."""

import json

import pytest

from aimcgen.cli import build_parser, main
from aimcgen.presets import load_preset, loads


@pytest.mark.parametrize("command", ["generate", "spec", "presets", "sim", "fpga", "asic", "evaluate"])
def test_every_subcommand_explains_itself(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert len(capsys.readouterr().out) > 100


def test_generate_default_writes_complete_products(tmp_path, capsys):
    assert main(["generate", "--out", str(tmp_path), "--batch", "64"]) == 0
    out = tmp_path / "aimc_small"
    assert sorted(p.name for p in out.iterdir()) == ["firmware", "regmap.json", "regmap.md", "report.json",
                                                     "report.md", "rtl", "spec.toml"]
    assert sorted(p.name for p in (out / "rtl").iterdir()) == [
        "aimc_small.v", "aimc_small_emulated.v", "aimc_small_emulated_tile.v"]
    assert "module aimc_small(" in (out / "rtl" / "aimc_small.v").read_text()
    report = json.loads((out / "report.json").read_text())
    assert report["golden"]["batch"] == 64 and report["golden"]["adc_codes_available"] == 64
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "staging folder left behind"
    (out / "evaluation").mkdir()                         # what another command wrote there
    (out / "evaluation" / "report.json").write_text("{}")
    assert main(["generate", "--out", str(tmp_path), "--spec", str(out / "spec.toml"), "--batch", "8"]) == 0
    assert (out / "evaluation" / "report.json").read_text() == "{}", "generate deleted another command's output"


def test_bad_spec_file_reports_field_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[tile]\nrows = 16\ncols = 9\n")
    assert main(["generate", "--spec", str(bad), "--out", str(tmp_path / "build")]) == 2
    err = capsys.readouterr().err
    assert "adc.count = 2: must divide tile.cols = 9" in err
    assert not (tmp_path / "build").exists()


def test_spec_prints_round_trippable_toml_and_fields(capsys):
    assert main(["spec", "--preset", "tile64"]) == 0
    assert 'name = "aimc_tile64"' in capsys.readouterr().out
    assert main(["spec", "--fields"]) == 0
    assert "adc.full_scale" in capsys.readouterr().out


def test_fpga_names_unknown_boards(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["fpga", "--board", "nosuchboard"])
    assert exit_.value.code == 2
    assert "ulx3s" in capsys.readouterr().err


def test_parser_has_all_issue_subcommands():
    text = build_parser().format_help()
    for name in ("generate", "sim", "fpga", "asic", "evaluate"):
        assert name in text


@pytest.mark.parametrize("command", [["spec"], ["generate"], ["evaluate"], ["deploy"], ["fpga", "--board", "ulx3s"],
                                     ["asic"], ["formal"], ["sim"]])
def test_every_single_design_command_takes_set_overrides(command, capsys):
    """--set FIELD=VALUE is one option of every command that builds one design, validated before any work."""
    assert main(command + ["--preset", "default", "--set", "adc.bits=4,6"]) == 2
    assert "--set 'adc.bits=4,6': one value per field" in capsys.readouterr().err
    assert main(command + ["--set", "adc.nope=1"]) == 2
    assert "--set adc.nope: unknown field of [adc]" in capsys.readouterr().err


def test_set_overrides_reach_the_spec(capsys):
    assert main(["spec", "--preset", "tile64", "--set", "adc.bits=6", "--set", "adc.column_assignment=interleaved"]) == 0
    spec = loads(capsys.readouterr().out)
    assert spec.adc.bits == 6 and spec.adc.column_assignment == "interleaved"
    assert spec.replace(adc={"bits": 8, "column_assignment": "blocks"}) == load_preset("tile64")
