"""Every bad input a user can cause exits 2 with one `aimcgen: error:` line naming the file, field or option
and what is allowed: no traceback, nothing half-written left behind."""

import errno

import numpy as np
import pytest

from aimcgen.cli import build_parser, main
from aimcgen.cli.common import BATCH_MAX, SEED_MAX, run_command
from aimcgen.sim.eval.network import default_model_path, export_onnx, load_network
from aimcgen.spec import MAX_DEVICES, MAX_TILES, from_dict
from aimcgen.spec_toml import MAX_SPEC_BYTES
from aimcgen.staging import OutputError

EVAL = ["--seeds", "1", "--no-plots"]


def one_error_line(capsys, *words: str) -> str:
    """The single stderr line, checked to be the CLI's error line naming every one of `words`."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("aimcgen: error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)
    return err


def run(argv: list[str]) -> int:
    """A subcommand through run_command, the error handling cli.main is to call (it is not wired yet)."""
    args = build_parser().parse_args(argv)
    return run_command(args.func, args)


def digits_arrays() -> dict:
    with np.load(default_model_path()) as data:
        return dict(data.items())


def model_file(path, **changes):
    """The shipped digits model with some arrays replaced (None removes one), saved to `path`."""
    arrays = {**digits_arrays(), **changes}
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


# 1. spec files that are not UTF-8, too big, a folder or missing

@pytest.mark.parametrize("case,words", [
    ("not_utf8", ["bad.toml", "not UTF-8", "0xff"]),
    ("huge", ["big.toml", f"limit of {MAX_SPEC_BYTES} bytes", "1 MiB"]),
    ("folder", ["is a folder", "TOML file"]),
    ("missing", ["nope.toml", "No such file"]),
])
def test_unreadable_spec_files_are_named(tmp_path, capsys, case, words):
    path = {"not_utf8": tmp_path / "bad.toml", "huge": tmp_path / "big.toml", "folder": tmp_path,
            "missing": tmp_path / "nope.toml"}[case]
    if case == "not_utf8":
        path.write_bytes(b"\xff\xfe[tile]\nrows = 16\n")
    if case == "huge":                  # valid TOML (comments), one byte over the limit
        path.write_text("#" * (MAX_SPEC_BYTES - 1) + "\n\n")
    assert main(["spec", "--spec", str(path)]) == 2
    one_error_line(capsys, *words)


# 2. output folders that cannot be written, through run_command

@pytest.mark.parametrize("case", ["file", "under_file", "dangling_link", "read_only"])
def test_unwritable_out_exits_2_naming_the_path(tmp_path, capsys, monkeypatch, case):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    out = {"file": tmp_path / "afile", "under_file": tmp_path / "afile" / "sub",
           "dangling_link": tmp_path / "link", "read_only": tmp_path / "ro"}[case]
    if case == "read_only":             # root may write anywhere: let the staging layer see no permission
        out.mkdir()
        monkeypatch.setattr("aimcgen.staging.os.access", lambda *a, **k: False)
    assert run(["generate", "--out", str(out), "--batch", "8"]) == 2
    one_error_line(capsys, str(tmp_path / ("link" if case == "dangling_link" else
                                           "ro" if case == "read_only" else "afile")))
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")], "staging folder left behind"


def test_run_command_maps_write_errors_interrupts_and_keeps_bugs(capsys):
    args = build_parser().parse_args(["presets"])

    def raises(exc):
        def func(_args):
            raise exc
        return func

    assert run_command(raises(PermissionError(errno.EACCES, "Permission denied", "out/x/report.json")), args) == 2
    one_error_line(capsys, "out/x/report.json: Permission denied")
    assert run_command(raises(OutputError(errno.ENOTDIR, "output folder a/b: a is a file, not a folder")), args) == 2
    one_error_line(capsys, "output folder a/b: a is a file, not a folder")
    assert run_command(raises(KeyboardInterrupt()), args) == 130
    assert capsys.readouterr().err == "aimcgen: interrupted\n"
    with pytest.raises(ZeroDivisionError):                      # a bug keeps its traceback
        run_command(raises(ZeroDivisionError()), args)
    args.debug = True
    with pytest.raises(PermissionError):                        # --debug shows where a user error came from
        run_command(raises(PermissionError(errno.EACCES, "Permission denied", "x")), args)


# 3. bad model, test-set and ASIC-report files of `evaluate`

@pytest.mark.parametrize("case,words", [
    ("not_zip", ["m.npz", "not an .npz file"]),
    ("bias_shape", ["m.npz", "layer0", "bias", "(32,)", "(7,)"]),
    ("short_conv", ["m.npz", "layer0_conv", "11 integers"]),
    ("nan_weight", ["m.npz", "layer0", "NaN or inf"]),
    ("inf_weight", ["m.npz", "layer1", "NaN or inf"]),
    ("label_range", ["m.npz", "y_test[3] = 99", "0..9"]),
])
def test_bad_npz_models_are_refused(tmp_path, capsys, case, words):
    path = tmp_path / "m.npz"
    w0, w1 = digits_arrays()["layer0_weight"].copy(), digits_arrays()["layer1_weight"].copy()
    w0[2, 3], w1[0, 0] = np.nan, np.inf
    labels = digits_arrays()["y_test"].copy()
    labels[3] = 99
    conv = {"layer0_conv": np.array([1, 8, 8, 0, 0]), "layer0_weight": np.zeros((4, 1, 3, 3), np.float32),
            "layer0_bias": np.zeros(4, np.float32)}
    if case == "not_zip":
        path.write_text("not a zip archive")
    else:
        model_file(path, **{"bias_shape": {"layer0_bias": np.zeros(7, np.float32)}, "short_conv": conv,
                            "nan_weight": {"layer0_weight": w0}, "inf_weight": {"layer1_weight": w1},
                            "label_range": {"y_test": labels}}[case])
    assert main(["evaluate", "--model", str(path), "--out", str(tmp_path / "out"), *EVAL]) == 2
    one_error_line(capsys, *words)
    assert not (tmp_path / "out").exists()


def test_model_without_y_test_leaves_no_output_folder(tmp_path, capsys):
    path = model_file(tmp_path / "m.npz", y_test=None)
    assert main(["evaluate", "--model", str(path), "--out", str(tmp_path / "out"), *EVAL]) == 2
    one_error_line(capsys, "m.npz", "no y_test")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case,words", [
    ("text", ["m.onnx", "not a valid ONNX model"]),
    ("truncated", ["m.onnx", "not a valid ONNX model"]),
    ("gemm_bias_input", ["m.onnx", "Gemm 'fc'", "bias 'b' is not a constant"]),
])
def test_bad_onnx_models_are_refused(tmp_path, capsys, case, words):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    path = tmp_path / "m.onnx"
    if case == "text":
        path.write_text("this is not a protobuf\n")
    elif case == "truncated":
        export_onnx(load_network(default_model_path()), tmp_path / "good.onnx")
        data = (tmp_path / "good.onnx").read_bytes()
        path.write_bytes(data[:len(data) // 2])
    else:                               # the Gemm's bias is a graph input, not a constant
        graph = helper.make_graph(
            [helper.make_node("Gemm", ["x", "W", "b"], ["y"], name="fc")], "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64]),
             helper.make_tensor_value_info("b", TensorProto.FLOAT, [10])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
            [numpy_helper.from_array(np.zeros((64, 10), np.float32), "W")])
        onnx.save(helper.make_model(graph), str(path))
    assert main(["evaluate", "--model", str(path), "--out", str(tmp_path / "out"), *EVAL]) == 2
    one_error_line(capsys, *words)


@pytest.mark.parametrize("case,words", [
    ("not_npz", ["t.npz", "not an .npz file"]),
    ("no_x_test", ["t.npz", "no x_test", "found: y_test"]),
])
def test_bad_test_npz_is_refused_not_replaced(tmp_path, capsys, case, words):
    path = tmp_path / "t.npz"
    if case == "not_npz":
        path.write_text("garbage")
    else:
        np.savez(path, y_test=digits_arrays()["y_test"])
    assert main(["evaluate", "--test-npz", str(path), "--out", str(tmp_path / "out"), *EVAL]) == 2
    one_error_line(capsys, *words)
    assert not (tmp_path / "out").exists()


def test_non_json_asic_report_is_named(tmp_path, capsys):
    path = tmp_path / "asic_report.json"
    path.write_text("not json {")
    assert main(["evaluate", "--asic-report", str(path), "--out", str(tmp_path / "out"), *EVAL]) == 2
    one_error_line(capsys, str(path), "not a JSON ASIC report")


# 4. options checked before any work

@pytest.mark.parametrize("argv,words", [
    (["--seed", "-1"], ["--seed = -1", f"0..{SEED_MAX}"]),
    (["--seed", str(2**32)], [f"--seed = {2**32}", f"0..{SEED_MAX}"]),
    (["--batch", "0"], ["--batch = 0", f"1..{BATCH_MAX}"]),
    (["--batch", str(10**11)], [f"--batch = {10**11}", f"1..{BATCH_MAX}"]),
])
def test_seed_and_batch_are_checked_before_writing(tmp_path, capsys, argv, words):
    assert run(["generate", "--out", str(tmp_path / "out"), *argv]) == 2
    one_error_line(capsys, *words)
    assert not (tmp_path / "out").exists()


# 5. legal field values whose grid is too big to elaborate

@pytest.mark.parametrize("tables,words", [
    ("[tile]\nrows = 1024\ncols = 1024\n[array]\nrow_tiles = 64\ncol_tiles = 64\n",
     ["array.row_tiles x array.col_tiles", "4096 tiles", f"<= {MAX_TILES}"]),
    ("[tile]\nrows = 1024\ncols = 1024\n[array]\nrow_tiles = 2\ncol_tiles = 4\n",
     ["tile.rows", "array.row_tiles", "tile.cols", "array.col_tiles", "8388608 devices", f"<= {MAX_DEVICES}"]),
], ids=["tiles", "devices"])
def test_too_big_grids_are_refused_naming_the_fields(tmp_path, capsys, tables, words):
    path = tmp_path / "big.toml"
    path.write_text(tables)
    assert main(["spec", "--spec", str(path)]) == 2
    one_error_line(capsys, *words)


def test_grids_at_the_limits_stay_valid():
    assert from_dict({"tile": {"rows": 1024, "cols": 1024}, "array": {"row_tiles": 2, "col_tiles": 2}}).tiles == 4
    assert from_dict({"tile": {"rows": 16, "cols": 16}, "array": {"row_tiles": 16, "col_tiles": 8}}).tiles == MAX_TILES


def test_layer_too_large_for_any_grid_names_the_layer_and_the_fix(tmp_path, capsys):
    """A 784 -> 128 layer on 4 x 4 tiles needs 196 x 32 tiles: the message names the layer and tile size,
    not an array field the user never set."""
    rng = np.random.default_rng(0)
    model = tmp_path / "big.npz"
    np.savez(model, layer0_weight=rng.normal(size=(784, 128)), layer0_bias=np.zeros(128),
             layer0_activation=np.array("none"), x_test=rng.normal(size=(4, 784)), y_test=np.zeros(4, dtype=int))
    spec = tmp_path / "s.toml"
    spec.write_text("[tile]\nrows = 4\ncols = 4\n[adc]\ncount = 2\n")
    code = main(["evaluate", "--spec", str(spec), "--model", str(model), "--out", str(tmp_path / "o"),
                 "--seeds", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "layer 0 (784 x 128)" in err and "use larger tiles" in err, err
    assert "Traceback" not in err
