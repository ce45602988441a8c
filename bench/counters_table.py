#!/usr/bin/env python3
"""Each convolution version's memory behaviour over the bench_counters rows, against the ideal.

    bench/counters_table.py COUNTERS.csv [--by-op]

Per version (and per operation with --by-op), summed over the rows of the CSV (every kernel of a
row: the GEMM or Winograd kernel, split-K's reduction, the bias sums):
  global sectors/request   loads; ideal 4 (32 lanes x 4 bytes, coalesced), 16 for float4
  shared wavefronts/request  loads; ideal 1 per 4-byte request (a 16-byte one takes 4 phases)
  L2 bytes per FMA         global sectors x 32 over the direct convolution's multiply-adds
                           (N C_out H W C_in 9, from the shape); a 128 x 128 tile that loads each
                           input once per tile needs 4 (1/128 + 1/128) = 0.0625, 64 x 64: 0.125
  DRAM bytes per FMA       distinct bytes (min of unique sectors x 32 and the buffers' bytes)
  barriers per 1000 FMA    block barriers over the work
"""
import argparse
import collections
import csv
import re


def fma_of(shape, batch):
    m = re.search(r"(\d+)->(\d+) @(\d+)", shape)
    c_in, c_out, size = (int(x) for x in m.groups())
    return batch * c_out * size * size * c_in * 9


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("counters")
    parser.add_argument("--by-op", action="store_true")
    args = parser.parse_args()
    with open(args.counters) as f:
        first = f.readline()
        batch = int(re.search(r"batch (\d+)", first).group(1))
        rows = [r for r in csv.DictReader(f) if r["variant"].startswith("ednn v")]
    sums = collections.OrderedDict()
    for r in rows:
        key = (r["variant"], r["op"]) if args.by_op else (r["variant"],)
        s = sums.setdefault(key, collections.Counter())
        for c in ("global_load_requests", "global_load_sectors", "global_store_sectors", "shared_load_requests",
                  "shared_load_wavefronts", "barriers"):
            s[c] += float(r[c])
        s["dram"] += min(float(r["unique_sectors"]) * 32, float(r["footprint_bytes"]) or float("inf"))
        if (r["op"], r["shape"]) not in s.get("rows", set()):
            s.setdefault("rows", set()).add((r["op"], r["shape"]))
            s["fma"] += fma_of(r["shape"], batch)
    print("%-40s %5s %11s %11s %9s %9s %9s" % ("version" + (", op" if args.by_op else ""), "rows", "sectors/req",
                                               "wavefr/req", "L2 B/FMA", "DRAM B/FMA", "bar/kFMA"))
    for key, s in sorted(sums.items()):
        sectors = s["global_load_sectors"] + s["global_store_sectors"]
        print("%-40s %5d %11.2f %11.2f %9.3f %9.3f %9.4f" % (
            ", ".join(key), len(s["rows"]), s["global_load_sectors"] / max(1, s["global_load_requests"]),
            s["shared_load_wavefronts"] / max(1, s["shared_load_requests"]), sectors * 32 / s["fma"],
            s["dram"] / s["fma"], 1000 * s["barriers"] / s["fma"]))


if __name__ == "__main__":
    main()
