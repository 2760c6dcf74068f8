"""A whole network's chip program on ONE generated Verilog top equals the golden model, code for code."""

import json

import pytest

from aimcgen.cli import main
from aimcgen.contract.chip_program import ChipProgram, ProgramSegment
from aimcgen.sim.deploy.rtl_check import DeployError, check_supported


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [[], ["--set", "postproc.activation=relu"]], ids=["host_relu", "sequencer"])
def test_digits_mlp_on_the_rtl_matches_golden(tmp_path, fast_simulator, overrides, capsys):
    """tile64 without a hardware relu runs two segments (the host applies relu between them); with one, the
    sequencer chains both layers in the chip. Either way every output code equals the golden model's."""
    code = main(["deploy", "--preset", "tile64", "--out", str(tmp_path), "--inputs", "20", "--chips", "1",
                 "--rtl-check", "3", "--simulator", fast_simulator, *overrides])
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "aimc_tile64" / "deploy" / "report.json").read_text())
    assert report["rtl_inferences"] == 3 and report["rtl_mismatches"] == 0
    assert report["rtl_check"]["codes_compared"] == 3 * 10
    assert report["cycles_per_inference_rtl"] >= report["cycles_per_inference_model"]
    assert len(report["segments"]) == (1 if overrides else 2)
    assert "On the generated Verilog" in (tmp_path / "aimc_tile64" / "deploy" / "report.md").read_text()


def test_conv_programs_are_refused_by_the_rtl_check():
    seg = ProgramSegment(index=0, layers=[0], driver="host_per_position", descriptors=[(0, 4)],
                         host_before=["im2col"], host_after=["flatten"])
    program = ChipProgram.__new__(ChipProgram)
    program.segments = [seg]
    with pytest.raises(DeployError, match="segment 0 is driven by host_per_position"):
        check_supported(program)


def test_rtl_check_larger_than_the_inputs_is_refused(tmp_path, capsys):
    assert main(["deploy", "--preset", "tile64", "--out", str(tmp_path), "--inputs", "4", "--rtl-check", "5"]) == 2
    assert "--rtl-check = 5: must be 0..--inputs (4)" in capsys.readouterr().err
