#!/usr/bin/env python3
"""Totals of a bench_conv CSV: each variant's time summed over every (op, layer) row it ran, beside cuDNN's.

    bench/conv_sums.py build/bench_conv.csv            # the sums, and each variant / cuDNN fp32 and TF32
    bench/conv_sums.py build/bench_conv.csv --rows     # also every row: ms of ednn auto (v0), v4 and cuDNN

Issue 6's kernel target is a ratio of these sums: at most 1.25 times cuDNN's fp32 time for the float
kernels, and the same against cuDNN's TF32 time for the tensor-core path. Only rows where every
compared variant ran are summed, so the totals cover the same work; rows whose check did not pass
are reported and left out.
"""
import argparse
import collections
import csv
import sys

CUDNN_FP32, CUDNN_TF32 = "cudnn (fastest fp32)", "cudnn (fastest, TF32)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("csv", help="a CSV written by bench_conv --csv")
    parser.add_argument("--rows", action="store_true", help="print every row of v0, v4 and cuDNN too")
    args = parser.parse_args()
    try:
        with open(args.csv, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        sys.exit(f"conv_sums: cannot read {args.csv}: {e.strerror}")
    if not rows or not {"op", "shape", "variant", "ms", "check"} <= set(rows[0]):
        sys.exit(f"conv_sums: {args.csv} is not a bench_conv CSV (expected columns op, shape, variant, ms, check)")

    table = collections.defaultdict(dict)  # (op, shape) -> variant -> ms
    for r in rows:
        if r["check"].startswith("WRONG"):
            print(f"left out (failed its check): {r['op']} {r['shape']} {r['variant']}")
            continue
        table[(r["op"], r["shape"])][r["variant"]] = float(r["ms"])
    variants = [v for v in dict.fromkeys(r["variant"] for r in rows) if v.startswith("ednn") or v.startswith("cu")]
    have_cudnn = all(CUDNN_FP32 in t and CUDNN_TF32 in t for t in table.values())

    print(f"sums over {len(table)} (op, layer) rows of {args.csv}")
    print(f"{'variant':<28}{'rows':>6}{'ms':>10}{'/ cuDNN fp32':>14}{'/ cuDNN TF32':>14}")
    for v in variants:
        keys = [k for k, t in table.items() if v in t]
        total = sum(table[k][v] for k in keys)
        line = f"{v:<28}{len(keys):>6}{total:>10.2f}"
        if have_cudnn:
            line += f"{total / sum(table[k][CUDNN_FP32] for k in keys):>14.2f}"
            line += f"{total / sum(table[k][CUDNN_TF32] for k in keys):>14.2f}"
        print(line)
    if args.rows:
        shown = [v for v in ("ednn auto (v0)", "ednn v4 (TF32)", CUDNN_FP32, CUDNN_TF32) if v in variants]
        print(f"\n{'op':<16}{'layer':<44}" + "".join(f"{v[:16]:>18}" for v in shown))
        for (op, shape), t in table.items():
            print(f"{op:<16}{shape[:43]:<44}" + "".join(f"{t.get(v, float('nan')):>18.3f}" for v in shown))


if __name__ == "__main__":
    main()
