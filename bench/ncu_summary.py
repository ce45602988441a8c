#!/usr/bin/env python3
"""One line per profiled kernel launch from Nsight Compute's CSV (ncu --csv --page details).

    ncu --csv --page details --section SpeedOfLight --section Occupancy --section WarpStateStats \\
        -k regex:conv2d_ ... > ncu.csv
    bench/ncu_summary.py ncu.csv [--unique]    # --unique: only the last launch of each kernel

Prints, per launch: the kernel (short name, with its template arguments), the duration, the SM
and memory throughput as a share of the card's peak, the achieved occupancy, registers per thread,
and the warp cycles per issued instruction (high: warps stall; look at the stall reasons in the
full report). ncu's CSV has one row per (launch, metric); lines that are not CSV (the profiled
program's own output, ==PROF== notes) are skipped. What a row means is in bench/RESULTS.md.
"""
import csv
import io
import re
import sys

WANTED = [  # (column title, metric names as different ncu versions spell them)
    ("ms", ["Duration"]),
    ("SM %", ["Compute (SM) Throughput", "SM [%]"]),
    ("mem %", ["Memory Throughput", "Memory [%]"]),
    ("occupancy %", ["Achieved Occupancy"]),
    ("regs", ["Registers Per Thread"]),
    ("cycles/issue", ["Warp Cycles Per Issued Instruction"]),
]


def short(name):
    name = re.sub(r"\(.*$", "", name) if "<" not in name else name
    name = name.replace("ednn::kernels::", "").replace("(anonymous namespace)::", "").replace("device::", "")
    name = name.replace("void ", "")
    return re.sub(r"\((const )?float.*$", "", name)


def main():
    args = [a for a in sys.argv[1:] if a != "--unique"]
    unique = len(args) != len(sys.argv) - 1
    if len(args) != 1:
        sys.exit("usage: ncu_summary.py NCU_CSV [--unique]")
    sys.argv[1:] = args
    try:
        text = open(sys.argv[1], errors="replace").read()
    except OSError as e:
        sys.exit(f"ncu_summary: cannot read {sys.argv[1]}: {e.strerror}")
    lines = [l for l in text.splitlines() if l.startswith('"')]
    if not lines:
        sys.exit(f"ncu_summary: no CSV rows in {sys.argv[1]} (did ncu run? see its messages there)")
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    launches = {}
    for r in rows:
        key = r.get("ID")
        if key is None or "Metric Name" not in r:
            continue
        entry = launches.setdefault(key, {"name": short(r.get("Kernel Name", "?")), "grid": r.get("Grid Size", "")})
        for title, names in WANTED:
            if r["Metric Name"] in names:
                value = r.get("Metric Value", "")
                if title == "ms":
                    unit = r.get("Metric Unit", "")
                    try:
                        scale = {"nsecond": 1e-6, "usecond": 1e-3, "msecond": 1.0, "second": 1e3}[unit]
                        value = f"{float(value.replace(',', '')) * scale:.3f}"
                    except (KeyError, ValueError):
                        value = f"{value} {unit}"
                entry[title] = value
    if not launches:
        sys.exit("ncu_summary: the CSV has no per-launch metrics (expected --page details)")
    if unique:  # the last launch of each kernel (the earlier ones are checks and warm-ups)
        last = {e["name"]: key for key, e in launches.items()}
        launches = {key: launches[key] for key in last.values()}
    width = max(len(e["name"]) for e in launches.values())
    print("launch".ljust(7) + "kernel".ljust(width + 2) + "".join(t.rjust(14) for t, _ in WANTED) + "  grid")
    for key, e in launches.items():
        print(key.ljust(7) + e["name"].ljust(width + 2) + "".join(str(e.get(t, "-")).rjust(14) for t, _ in WANTED) +
              "  " + e["grid"])


if __name__ == "__main__":
    main()
