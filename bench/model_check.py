#!/usr/bin/env python3
"""Measured beside predicted: bench/time_model.py's predictions against bench_conv / bench_ops rows.

    bench/model_check.py --predictions P.csv --measured bench_conv.csv [bench_ops.csv ...] --gpu H200 [--rows]

Rows are matched by (op, shape, variant); the old variant name "ednn kernel1" of bench_ops is
"ednn". For each variant, the ops' rows together ("op kernels") and all rows: the number matched,
Spearman's rank correlation of predicted and measured times over the rows, the median of
predicted / measured and the worst ratio (the largest of ratio and 1 / ratio, with its row).
--rows also prints every matched row.
"""
import argparse
import collections
import csv
import statistics
import sys


def rows_of(path):
    with open(path) as f:
        lines = [line for line in f if not line.startswith("#")]
    return list(csv.DictReader(lines))


def variant_name(v):
    return "ednn" if v == "ednn kernel1" else v


def ranks(values):
    order = sorted(range(len(values)), key=lambda i: values[i])
    r = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return r


def spearman(a, b):
    if len(a) < 3:
        return float("nan")
    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra) ** 0.5
    vb = sum((y - mb) ** 2 for y in rb) ** 0.5
    return cov / (va * vb) if va and vb else float("nan")


def summary(name, pairs):
    """pairs: [(predicted ms, measured ms, label)]"""
    p = [x[0] for x in pairs]
    m = [x[1] for x in pairs]
    ratios = [a / b for a, b in zip(p, m)]
    worst = max(range(len(pairs)), key=lambda i: max(ratios[i], 1 / ratios[i]))
    return "%-34s %4d %8.2f %8.2f %8.2f  %s" % (name, len(pairs), spearman(p, m), statistics.median(ratios),
                                               ratios[worst], pairs[worst][2])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--predictions", required=True, help="CSV from bench/time_model.py")
    parser.add_argument("--measured", required=True, nargs="+", help="bench_conv / bench_ops CSV files")
    parser.add_argument("--gpu", default="H200", help="which GPU's predictions (H100 or H200)")
    parser.add_argument("--rows", action="store_true", help="print every matched row")
    args = parser.parse_args()

    predicted = {}
    for r in rows_of(args.predictions):
        if r["gpu"] == args.gpu:
            predicted[(r["op"], r["shape"], r["variant"])] = (float(r["predicted_ms"]), r["bound"])
    if not predicted:
        sys.exit("model_check: %s has no predictions for %s" % (args.predictions, args.gpu))
    groups = collections.OrderedDict()
    matched = []
    for path in args.measured:
        for r in rows_of(path):
            key = (r["op"], r["shape"], variant_name(r["variant"]))
            if key not in predicted or not r.get("ms"):
                continue
            ms = float(r["ms"])
            p, bound = predicted[key]
            label = "%s %s %s" % key
            matched.append((key, p, ms, bound))
            group = key[2] if key[2].startswith("ednn v") else "op kernels (%s)" % key[2]
            groups.setdefault(group, []).append((p, ms, label))
    if not matched:
        sys.exit("model_check: no measured row matches a prediction")
    if args.rows:
        print("%-16s %-42s %-32s %10s %10s %7s  %s" % ("op", "shape", "variant", "predicted", "measured", "ratio",
                                                     "bound"))
        for key, p, ms, bound in matched:
            print("%-16s %-42s %-32s %10.4f %10.4f %7.2f  %s" % (key[0], key[1], key[2], p, ms, p / ms, bound))
        print()
    print("predicted (%s) against measured, ms: per variant" % args.gpu)
    print("%-34s %4s %8s %8s %8s  %s" % ("variant", "rows", "spearman", "median", "worst", "worst row"))
    for name, pairs in groups.items():
        print(summary(name, pairs))
    print(summary("all", [(p, ms, "%s %s %s" % key) for key, p, ms, _ in matched]))


if __name__ == "__main__":
    main()
