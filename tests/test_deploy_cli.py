"""`aimcgen deploy`: the four outputs and their keys, refusals with one line, only deploy/ replaced."""

import json
import subprocess
import sys

from aimcgen.cli import main
from aimcgen.presets import load_preset
from aimcgen.contract.chip_program import read_program

KEYS = {"tiles_used", "tiles_total", "utilization", "layers", "segments", "cycles_per_inference_model",
        "cycles_counts", "inferences_per_s_model", "accuracy", "chips", "t_s", "test_inputs"}


def test_deploy_tile64(tmp_path, capsys):
    design = tmp_path / "aimc_tile64"
    (design / "evaluation").mkdir(parents=True)
    (design / "evaluation" / "keep.txt").write_text("other flows' outputs stay")
    (design / "deploy").mkdir()
    (design / "deploy" / "stale.txt").write_text("replaced as a whole")
    assert main(["deploy", "--preset", "tile64", "--out", str(tmp_path), "--chips", "1", "--inputs", "60"]) == 0
    out = design / "deploy"
    assert sorted(p.name for p in out.iterdir()) == ["firmware", "placement.png", "program.aimc", "report.json",
                                                     "report.md"]
    assert sorted(p.name for p in (out / "firmware").iterdir()) == ["digits_mlp_program.c", "digits_mlp_program.h"]
    assert (design / "evaluation" / "keep.txt").exists()
    r = json.loads((out / "report.json").read_text())
    assert KEYS <= set(r)
    assert r["tiles_used"] == 1 and r["tiles_total"] == 1 and r["test_inputs"] == 60 and r["chips"] == 1
    assert set(r["accuracy"]) >= {"float", "golden", "physics"} and r["accuracy"]["golden"] > 0.85
    for layer in r["layers"]:
        assert {"index", "tile", "row_range", "col_range", "segment"} <= set(layer) and layer["tile"] == [0]
    assert r["inferences_per_s_model"] == r["clock_mhz"] * 1e6 / r["cycles_per_inference_model"]
    program = read_program(out / "program.aimc", load_preset("tile64"))
    assert [l.col_range for l in program.layers] == [(0, 32), (32, 42)]
    assert (out / "placement.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in capsys.readouterr().out


def test_too_small_names_the_fix(tmp_path, capsys):
    code = main(["deploy", "--preset", "tile64", "--set", "tile.cols=32", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("aimcgen: error: ")
    assert "columns: the layers need 42 of 32" in err and "array.col_tiles = 2" in err
    assert not (tmp_path / "aimc_tile64").exists()


def test_too_few_rows_subprocess(tmp_path):
    """The default 16x16 tile: rows and columns short; one line, no traceback, exit 2."""
    proc = subprocess.run([sys.executable, "-c", "import sys; from aimcgen.cli import main; sys.exit(main())",
                           "deploy", "--out", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert "rows: layer 0 needs 64 rows of 16" in proc.stderr and "array.row_tiles = 4" in proc.stderr
    assert "array.col_tiles = 3" in proc.stderr


def test_bad_set_value_exits_2(tmp_path, capsys):
    assert main(["deploy", "--preset", "tile64", "--set", "array.col_tiles=1,2", "--out", str(tmp_path)]) == 2
    assert "one value per field" in capsys.readouterr().err


def test_help(capsys):
    try:
        main(["deploy", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    assert "program.aimc" in out and "--inputs" in out and "--chips" in out
