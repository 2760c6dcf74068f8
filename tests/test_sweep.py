"""`aimcgen sweep`: spec overrides, the Dask sweep against direct evaluations, and the CLI's files."""

import csv
import json

import numpy as np
import pytest

from aimcgen.cli import main
from aimcgen.spec import device_preset
from aimcgen.presets import load_preset
from aimcgen.sim.eval.backends import PhysicsBackend, accuracy
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import default_model_path, load_network
from aimcgen.spec import SpecError
from aimcgen.spec_override import apply, expand, parse_override

distributed = pytest.importorskip("distributed")


def test_parse_override_values():
    assert parse_override("adc.bits=4,6,8") == ("adc.bits", [4, 6, 8])
    assert parse_override("adc.kind=sar, flash") == ("adc.kind", ["sar", "flash"])
    assert parse_override("device.drift_mu=[0, 0, 0, 0],[-0.0155, 0.0244, 0.049, 0.1]") == (
        "device.drift_mu", [[0, 0, 0, 0], [-0.0155, 0.0244, 0.049, 0.1]])
    assert parse_override("device.t_read_s=1e-7") == ("device.t_read_s", [1e-7])
    for bad, words in (("adc.bitz=4", "allowed: kind, bits"), ("adcc.bits=4", "unknown section"),
                       ("adc.bits", "expected section.field=value"), ("adc.bits=4,", "empty value")):
        with pytest.raises(SpecError, match=words):
            parse_override(bad)


def test_expand_validates_every_point():
    base = load_preset("default")
    points = expand(base, {"adc.bits": [6, 7], "adc.full_scale": [64, 128]})
    assert [(v["adc.bits"], s.adc.bits, s.adc.full_scale) for v, s in points] == [
        (6, 6, 64), (6, 6, 128), (7, 7, 64), (7, 7, 128)]
    with pytest.raises(SpecError, match=r"^adc\.bits = 20: must be an integer in 1\.\.14"):
        expand(base, {"adc.bits": [4, 20]})
    with pytest.raises(SpecError, match=r"sweep point adc\.bits=7, adc\.full_scale=32: adc\.full_scale"):
        expand(base, {"adc.bits": [6, 7], "adc.full_scale": [32, 64]})
    # device.model brings that preset's statistics, as in a spec file.
    rram = apply(base, {"device.model": "rram"})
    assert rram.device == device_preset("rram")
    assert rram.device.relax_us != base.device.relax_us


def test_sweep_equals_direct_evaluation():
    from aimcgen.sim.eval.sweep import run_sweep
    base = load_preset("default")
    net = load_network(default_model_path())
    x, y = net.meta["x_test"], net.meta["y_test"]
    calib = net.meta.get("x_calib", x[:256])
    times = [1.0, 86400.0]
    points = expand(base, {"adc.bits": [4, 6]})
    lines = []
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        r = run_sweep(client, points, net, design=base.name, seeds=2, times=times, progress=lines.append)
    assert len(lines) == 4 and sorted(l.split()[0] for l in lines) == ["1/4", "2/4", "3/4", "4/4"]
    assert r["fields"] == ["adc.bits"] and r["tasks"] == 4
    for point, bits in zip(r["points"], (4, 6)):
        mapping = map_network(net, base.replace(adc={"bits": bits}), calib)
        for i, t in enumerate(times):
            direct = [accuracy(PhysicsBackend(mapping, t_s=t, seed=s, calib_x=calib), x, y) for s in range(2)]
            a = point["accuracy"][i]
            assert a["per_seed"] == direct, (bits, t)
            assert a["mean"] == pytest.approx(np.mean(direct)) and a["std"] == pytest.approx(np.std(direct, ddof=1))
            assert a["n"] == 2 and a["ci95"][0] <= a["mean"] <= a["ci95"][1]
            # Common chips: a point against itself and the first time against itself are exactly 0.
            if bits == 4:
                assert a["change_vs_first_point"]["mean"] == 0 and a["change_vs_first_point"]["ci95"] == [0, 0]
            if i == 0:
                assert a["change_vs_first_time"]["ci95"] == [0, 0]
    # 4-bit ADCs at this full scale lose accuracy: the override reached the evaluation.
    assert r["points"][0]["accuracy"][0]["mean"] != r["points"][1]["accuracy"][0]["mean"]


def test_cli_sweep_files_and_errors(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["sweep", "--set", "adc.bits=4,99", "--out", str(tmp_path)]) == 2
    assert "adc.bits = 99: must be an integer in 1..14" in capsys.readouterr().err
    assert not tmp_path.joinpath("aimc_small").exists()
    assert main(["sweep", "--set", "adc.kind=sar,flash", "--seeds", "2", "--times", "1,3600",
                 "--workers", "1", "--out", str(tmp_path)]) == 0
    assert "4/4 adc.kind=" in capsys.readouterr().out
    out = tmp_path / "aimc_small" / "sweep"
    assert sorted(p.name for p in out.iterdir()) == ["sweep.csv", "sweep.json", "sweep.md", "sweep.png"]
    r = json.loads((out / "sweep.json").read_text())
    assert [p["overrides"]["adc.kind"] for p in r["points"]] == ["sar", "flash"]
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert [(row["adc.kind"], float(row["t_s"])) for row in rows] == [
        ("sar", 1.0), ("sar", 3600.0), ("flash", 1.0), ("flash", 3600.0)]
    assert float(rows[3]["mean"]) == r["points"][1]["accuracy"][1]["mean"]
    md = (out / "sweep.md").read_text()
    a = r["points"][0]["accuracy"][0]
    assert f"| sar | {100 * a['mean']:.2f} [{100 * a['ci95'][0]:.2f}, {100 * a['ci95'][1]:.2f}]" in md
    assert "Change vs adc.kind=sar" in md and "Change since t = 1 s" in md
    assert rows[3]["ci95_lo"] and float(rows[3]["ci95_lo"]) <= float(rows[3]["mean"])
    assert (out / "sweep.png").read_bytes()[:4] == b"\x89PNG"
