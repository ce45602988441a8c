#!/usr/bin/env python3
"""Predicted GPU time of each kernel launch, from the emulation's memory counters: a roofline per launch.

    bench/time_model.py COUNTERS.csv [--source-root .] [--gpu H200|H100|both] [--csv predictions.csv]

COUNTERS.csv is what build/bin/bench_counters writes (one row per kernel of each op, shape and
variant: requests, sectors, wavefronts, barriers, blocks, launch configuration). The model also
needs two things from the nvcc build of the same kernels (sm_90), which it makes itself with nvcc
(cached in build/model_cache/): each kernel's registers and static shared memory (ptxas -v),
for occupancy, and the PTX of its main loop (the largest loop of the kernel, as
bench/ptx_loop_mix.py reads it): instructions, barriers, global loads and mma per pass.

Why Python and not C++: the model is arithmetic over two tables (the counters, the build's
resources) and a PTX parse that ptx_loop_mix.py already does; it needs no kernel and no emulation,
and reads best as one page of formulas.

The model, per kernel (every figure public; nothing fitted to the measured rows):
  W warps per block, B blocks; resident blocks per SM from threads (2048), registers (64 Ki per SM,
  allocated per warp in units of 256) and shared memory (228 KiB, 1 KiB reserved per block).
  The busiest SM runs n = ceil(B / SMs) blocks. Per block, from the counters and the PTX:
    passes   = barriers per block / barriers per loop pass (a tiled K loop: one per step), or,
               for loops without barriers, global load requests per warp / global loads per pass;
    instr    = W (instructions outside the loop + passes x instructions per pass)   (warp-instructions;
               an integer div or rem counts as the 20 (32-bit) or 60 (64-bit) SASS it becomes)
  SM cycles, the largest of
    issue    n instr / 4                        (4 schedulers, one warp-instruction each per clock)
    tensor   n W passes mma / (TF32 rate)       (m16n8k8 = 1024 FMA; 1024 dense TF32 FMA/clock/SM)
    shared   n wavefronts / 1                   (32 banks x 4 bytes: one wavefront per clock)
    L1       n max(requests, sectors / 4)       (one tag lookup per request, 128 bytes per clock)
    latency  ceil(n / resident) passes 500      (a pass cannot beat one global load's latency, about
                                                 500 clocks: resident blocks overlap theirs, waves do not)
  and the whole GPU's
    L2       sectors x 32 B / L2 bandwidth      (no L1 hits assumed)
    DRAM     min(unique sectors x 32 B, bytes of the buffers touched) / (0.9 DRAM bandwidth)
  time = max(SM cycles / clock, L2, DRAM) + 3 us per launch (launch and tail); an op's time is the
  sum over its kernels. The CSV names the bound and gives every term (ms) of the op's longest kernel. FP32 FMAs are issue slots (128 lanes = 4 warp-instructions per clock), so
  the issue term holds them.

What it leaves out (see bench/RESULTS.md for what that costs): instruction latencies and
dependencies other than the global load (so a kernel with few warps per SM is predicted too
fast), L1 hits (L2 too slow for re-read tiles), the SASS (PTX is what is counted: ptxas may merge
or add instructions), and the emulation's access widths where they differ from nvcc's (4 floats
nvcc merges into one 128-bit shared load count as 4 requests, and more wavefronts: the kernels
write such runs as float4 reads, so that both compilers see one).
"""
import argparse
import collections
import csv
import hashlib
import math
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ptx_loop_mix  # noqa: E402  (parse_entries)

GPUS = {
    # SMs, clock (GHz, boost), DRAM TB/s, L2 TB/s (measured by microbenchmarks; NVIDIA publishes none)
    "H100": dict(sms=132, clock=1.98e9, dram=3.35e12, l2=5.5e12),
    "H200": dict(sms=132, clock=1.98e9, dram=4.8e12, l2=5.5e12),
}
ISSUE_PER_CLOCK = 4.0
MMA_PER_CLOCK = 1.0          # m16n8k8 TF32 mma.sync per clock per SM at the dense TF32 peak
WAVEFRONTS_PER_CLOCK = 1.0
SECTORS_PER_CLOCK = 4.0
LATENCY_CLOCKS = 500.0
LAUNCH_SECONDS = 3e-6
DRAM_EFFICIENCY = 0.9
REGISTERS_PER_SM, THREADS_PER_SM, BLOCKS_PER_SM, SHARED_PER_SM = 65536, 2048, 32, 228 * 1024


# ---- from the nvcc build: resources (ptxas -v) and the main loop of each kernel (PTX) ----------

def nvcc_build(source, root, cache, nvcc):
    """{mangled: dict(registers, shared, loop..., entry...)} for one .cu, cached by its text."""
    with open(source, "rb") as f:
        key = hashlib.sha1(f.read() + root.encode()).hexdigest()[:16]
    os.makedirs(cache, exist_ok=True)
    base = os.path.join(cache, os.path.basename(source) + "." + key)
    flags = ["-I" + root, "-O3", "-DNDEBUG", "-std=c++20", "-arch=sm_90"]
    if not os.path.exists(base + ".ptx"):
        r = subprocess.run([nvcc] + flags + ["-ptx", source, "-o", base + ".ptx"], capture_output=True, text=True)
        if r.returncode:
            sys.exit("time_model: nvcc -ptx failed on %s:\n%s" % (source, r.stderr))
    if not os.path.exists(base + ".ptxas"):
        r = subprocess.run([nvcc] + flags + ["-cubin", "-Xptxas", "-v", source, "-o", base + ".cubin"],
                           capture_output=True, text=True)
        if r.returncode:
            sys.exit("time_model: nvcc -cubin failed on %s:\n%s" % (source, r.stderr))
        with open(base + ".ptxas", "w") as f:
            f.write(r.stderr)
    kernels = {}
    name = None
    for line in open(base + ".ptxas"):
        m = re.search(r"Compiling entry function '(\S+)'", line)
        if m:
            name = m.group(1)
            kernels[name] = dict(registers=32, shared=0)
        m = re.search(r"Used (\d+) registers", line)
        if m and name:
            kernels[name]["registers"] = int(m.group(1))
            s = re.search(r"(\d+) bytes smem", line)
            kernels[name]["shared"] = int(s.group(1)) if s else 0
    for mangled, body in ptx_loop_mix.parse_entries(open(base + ".ptx").read()):
        k = kernels.setdefault(mangled, dict(registers=32, shared=0))
        k.update(loop_mix(body))
    return kernels


def weight(op):
    """SASS instructions a PTX instruction stands for: 1, but an integer division or remainder is a
    routine (the GPU has no divider): about 20 for 32 bits, 60 for 64."""
    m = re.match(r"(div|rem)\.[su](32|64)", op)
    return 1 if not m else (20 if m.group(2) == "32" else 60)


def loop_mix(body):
    """Instructions of the whole kernel, and per pass of its largest loop: all (divisions weighted),
    bar.sync, global loads (cp.async included), mma."""
    ops = [op for _, op in body if op]
    labels = {lab: i for i, (lab, op) in enumerate(body) if lab}
    loops = [(labels[op.split()[-1].rstrip(";")], i) for i, (lab, op) in enumerate(body)
             if op and op.startswith("bra") and op.split()[-1].rstrip(";") in labels
             and labels[op.split()[-1].rstrip(";")] < i]
    mix = dict(entry=sum(map(weight, ops)), loop=0, loop_barriers=0, loop_loads=0, loop_mma=0)
    if loops:
        a, b = max(loops, key=lambda ab: ab[1] - ab[0])
        inside = [op for _, op in body[a:b + 1] if op]
        mix.update(loop=sum(map(weight, inside)),
                   loop_barriers=sum(op.startswith("bar.sync") or op.startswith("barrier.sync") for op in inside),
                   loop_loads=sum(op.startswith("ld.global") or op.startswith("cp.async.ca")
                                  or op.startswith("cp.async.cg") for op in inside),
                   loop_mma=sum(op.startswith("mma.sync") for op in inside))
    return mix


# ---- the model ---------------------------------------------------------------------------------

def resident_blocks(threads, registers, shared):
    warps = math.ceil(threads / 32)
    per_warp = math.ceil(registers * 32 / 256) * 256
    by_regs = REGISTERS_PER_SM // (per_warp * warps) if per_warp else BLOCKS_PER_SM
    by_shared = SHARED_PER_SM // (shared + 1024)
    return max(1, min(BLOCKS_PER_SM, THREADS_PER_SM // threads, by_regs, by_shared))


def predict(row, build, gpu):
    """Seconds for one kernel row, and the name of the bound."""
    g = GPUS[gpu]
    n = lambda key: float(row[key])
    blocks, threads = n("blocks"), n("block_threads")
    warps = math.ceil(threads / 32)
    k = build.get(row["symbol"], dict(registers=32, shared=0, entry=0, loop=0, loop_barriers=0, loop_loads=0,
                                      loop_mma=0))
    shared = k["shared"] + n("dynamic_shared_bytes")
    resident = resident_blocks(int(threads), k["registers"], int(shared))
    per_block = lambda key: n(key) / blocks if blocks else 0.0
    if k.get("loop_barriers"):
        passes = per_block("barriers") / k["loop_barriers"]
    elif k.get("loop_loads"):
        passes = per_block("global_load_requests") / warps / k["loop_loads"]
    else:
        passes = 0.0
    instr = warps * ((k.get("entry", 0) - k.get("loop", 0)) + passes * k.get("loop", 0))
    busiest = math.ceil(blocks / g["sms"])
    sectors = n("global_load_sectors") + n("global_store_sectors")
    requests = n("global_load_requests") + n("global_store_requests")
    clocks = {
        "issue": busiest * instr / ISSUE_PER_CLOCK,
        "tensor": busiest * warps * passes * k.get("loop_mma", 0) / MMA_PER_CLOCK,
        "shared": busiest * per_block("shared_load_wavefronts") + busiest * per_block("shared_store_wavefronts"),
        "L1": busiest * max(requests, sectors / SECTORS_PER_CLOCK) / blocks if blocks else 0.0,
        "latency": math.ceil(busiest / resident) * max(passes, 1.0) * LATENCY_CLOCKS,
    }
    seconds = {name: c / g["clock"] for name, c in clocks.items()}
    seconds["L2"] = sectors * 32 / g["l2"]
    dram_bytes = min(n("unique_sectors") * 32, n("footprint_bytes") or float("inf"))
    seconds["DRAM"] = dram_bytes / (g["dram"] * DRAM_EFFICIENCY)
    bound = max(seconds, key=seconds.get)
    return seconds[bound] + n("launches") * LAUNCH_SECONDS, bound, resident, seconds


def read_counters(path):
    with open(path) as f:
        first = f.readline()
        commit = re.search(r"git (\w+)", first)
        rows = list(csv.DictReader(f))
    return (commit.group(1) if commit else "unknown"), rows


def kernel_sources(root):
    """The kernels/ sources, and the SOR kernel's (solver/sor_kernel.cu) where the tree has it."""
    sources = [os.path.join(root, "kernels", f) for f in os.listdir(os.path.join(root, "kernels"))
               if f.endswith(".cu") and not f.startswith("simt")]
    sor = os.path.join(root, "solver", "sor_kernel.cu")
    return sorted(sources + ([sor] if os.path.exists(sor) else []))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("counters", help="CSV from build/bin/bench_counters")
    parser.add_argument("--source-root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        help="the source tree the counted kernels came from (default: this one)")
    parser.add_argument("--gpu", choices=["H100", "H200", "both"], default="both")
    parser.add_argument("--csv", help="write the predictions here (one row per op, shape, variant and GPU)")
    parser.add_argument("--nvcc", default=os.environ.get("NVCC", "/usr/local/cuda/bin/nvcc"))
    parser.add_argument("--cache", help="where nvcc's PTX and ptxas reports are kept (default: "
                        "SOURCE_ROOT/build/model_cache)")
    parser.add_argument("--ideal-coalescing", action="store_true",
                        help="what if: every global request touched only the sectors its bytes need (bytes / 32)")
    parser.add_argument("--no-bank-conflicts", action="store_true",
                        help="what if: every shared request took only the wavefronts its bytes need (bytes / 128)")
    args = parser.parse_args()

    commit, rows = read_counters(args.counters)
    for row in rows:  # the what-ifs: the same requests, ideal sectors or wavefronts
        for kind in ("load", "store"):
            if args.ideal_coalescing:
                g = "global_%s_" % kind
                row[g + "sectors"] = max(float(row[g + "requests"]), float(row[g + "bytes"]) / 32)
            if args.no_bank_conflicts:
                sh = "shared_%s_" % kind
                row[sh + "wavefronts"] = max(float(row[sh + "requests"]), float(row[sh + "bytes"]) / 128)
    cache = args.cache or os.path.join(args.source_root, "build", "model_cache")
    build = {}
    for source in kernel_sources(args.source_root):
        build.update(nvcc_build(source, args.source_root, cache, args.nvcc))
    gpus = ["H100", "H200"] if args.gpu == "both" else [args.gpu]

    # An op is the sum of its kernels; the bound and occupancy named are those of its longest kernel.
    ops = collections.OrderedDict()
    for row in rows:
        for gpu in gpus:
            seconds, bound, resident, terms = predict(row, build, gpu)
            key = (row["op"], row["shape"], row["variant"], gpu)
            total, longest = ops.get(key, (0.0, (0.0, "", 0, "", {})))
            if seconds > longest[0]:
                longest = (seconds, bound, resident, row["kernel"], terms)
            ops[key] = (total + seconds, longest)
    out = sys.stdout if not args.csv else open(args.csv, "w")
    out.write("# bench/time_model.py on %s (counted kernels of commit %s)\n" % (os.path.basename(args.counters), commit))
    w = csv.writer(out, lineterminator="\n")
    names = ["issue", "tensor", "shared", "L1", "latency", "L2", "DRAM"]
    w.writerow(["op", "shape", "variant", "gpu", "predicted_ms", "bound", "longest_kernel", "resident_blocks"] +
               [t + "_ms" for t in names])
    for (op, shape, variant, gpu), (total, longest) in ops.items():
        w.writerow([op, shape, variant, gpu, "%.5g" % (total * 1e3), longest[1], longest[3], longest[2]] +
                   ["%.4g" % (longest[4][t] * 1e3) for t in names])
    if args.csv:
        out.close()
        print("time_model: %d predictions written to %s" % (len(ops), args.csv))


if __name__ == "__main__":
    main()
