#!/usr/bin/env python3
"""The instruction mix of each kernel's main loop, read from PTX: a static measure that needs no GPU.

    bench/ptx_loop_mix.py kernels/conv2d_gemm.cu       # compiles it with nvcc -ptx (sm_90), then reports
    bench/ptx_loop_mix.py --ptx file.ptx               # reports on PTX already made
    bench/ptx_loop_mix.py kernels/conv2d_gemm.cu --filter forward_gemm

For every kernel (.entry) it finds the loops (a branch back to an earlier label) and reports the
outermost loop that multiplies (holds fma.rn.f32 or mma.sync): the K loop of a tiled GEMM. For
that loop body, taken once with every branch inside it counted, it counts PTX instructions by kind:

    fma      fma.rn.f32 (one multiply-add per thread)          mma     mma.sync (tensor cores)
    ld.g     loads from global memory                           ld.s    loads from shared memory
    st.s     stores to shared memory                            div     integer div/rem (each is about
    int      other integer and address arithmetic                      20 SASS instructions on a GPU)
    other    the rest (moves, compares, branches, barriers, conversions)

and "math share": fma + mma over all instructions. A loop that spends most of its instructions on
address arithmetic and loads is bound by them (issue slots), not by the multiplications. This is
PTX, not the SASS that runs (ptxas schedules, and may combine or remove instructions), so compare
kernels and versions with it, and time them on a GPU (bench_conv) for what counts. Needs only nvcc.
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile

KINDS = ["fma", "mma", "ld.g", "ld.s", "st.s", "div", "int", "other"]


def kind(op):
    if op.startswith("fma.rn.f32"):
        return "fma"
    if op.startswith("mma.sync"):
        return "mma"
    if op.startswith("ld.global"):
        return "ld.g"
    if op.startswith("ld.shared"):
        return "ld.s"
    if op.startswith("st.shared"):
        return "st.s"
    if re.match(r"(div|rem)\.[su](32|64)", op):
        return "div"
    if re.match(r"(add|sub|mul|mad|shl|shr|and|or|xor|neg|min|max|abs)(\.[a-z]+)*\.[sub](32|64)", op) \
            or op.startswith("cvt.s64") or op.startswith("cvt.u64") or op.startswith("cvt.u32") \
            or op.startswith("cvta") or op.startswith("mul.wide"):
        return "int"
    return "other"


def short_name(mangled):
    """conv2d_forward_gemm<CudaCoreTiles<128,128,8,8,8>> from the mangled name of
    ednn::kernels::device::conv2d_forward_gemm<...>: namespaces dropped."""
    try:
        out = subprocess.run(["c++filt", mangled], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return mangled
    out = out.replace("(anonymous namespace)::", "")
    out = re.sub(r"\(.*\)$", "", out).replace("ednn::kernels::", "").replace("device::", "")
    return out.replace("void ", "")


def parse_entries(ptx):
    """Yields (name, [(label or None, op)]) per .entry."""
    entry = None
    body = []
    depth = 0
    for line in ptx.splitlines():
        m = re.match(r"(?:\.visible\s+|\.weak\s+)?\.entry\s+(\S+)\(", line)
        if m:
            entry, body, depth = m.group(1), [], 0
            continue
        if entry is None:
            continue
        s = line.strip()
        depth += s.count("{") - s.count("}")
        if s == "}" and depth == 0:
            yield entry, body
            entry = None
            continue
        if not s or s.startswith("//") or s.startswith(".") or s in ("{", "}"):
            continue
        lm = re.match(r"^(\$\w+):$", s)
        if lm:
            body.append((lm.group(1), None))
            continue
        s = re.sub(r"^@!?%p\d+\s+", "", s)  # drop a predicate guard
        body.append((None, s))


def main_loop(body):
    """The outermost loop holding fma or mma: (start, end) indices into body, or None."""
    labels = {lab: i for i, (lab, op) in enumerate(body) if lab}
    loops = []
    for i, (lab, op) in enumerate(body):
        if op and op.startswith("bra"):
            target = op.split()[-1].rstrip(";")
            if target in labels and labels[target] < i:
                loops.append((labels[target], i))
    multiplying = [(a, b) for a, b in loops
                   if any(op and (op.startswith("fma.rn.f32") or op.startswith("mma.sync")) for _, op in body[a:b + 1])]
    if not multiplying:
        return None
    return max(multiplying, key=lambda ab: ab[1] - ab[0])


def report(ptx_text, name_filter):
    rows = []
    for mangled, body in parse_entries(ptx_text):
        name = short_name(mangled)
        if name_filter and name_filter not in name:
            continue
        loop = main_loop(body)
        if loop is None:
            continue
        a, b = loop
        counts = collections.Counter(kind(op.split()[0]) for _, op in body[a:b + 1] if op)
        # Branches back to a label inside the loop: loops nvcc did not unroll.
        seen, inner = set(), 0
        for i in range(a, b):
            lab, op = body[i]
            if lab:
                seen.add(lab)
            elif op.startswith("bra") and op.split()[-1].rstrip(";") in seen:
                inner += 1
        rows.append((name, counts, inner))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", nargs="?", help="a .cu file to compile with nvcc -ptx")
    parser.add_argument("--ptx", help="a .ptx file instead of a source")
    parser.add_argument("--filter", default="", help="only kernels whose name contains this")
    parser.add_argument("--arch", default="sm_90")
    parser.add_argument("--nvcc", default=os.environ.get("NVCC", "/usr/local/cuda/bin/nvcc"))
    args = parser.parse_args()
    if bool(args.source) == bool(args.ptx):
        parser.error("give a .cu source or --ptx FILE")
    if args.ptx:
        with open(args.ptx) as f:
            ptx = f.read()
    else:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "k.ptx")
            cmd = [args.nvcc, "-I" + root, "-O3", "-DNDEBUG", "-std=c++20", "-arch=" + args.arch, "-ptx",
                   args.source, "-o", out]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit("ptx_loop_mix: nvcc failed on " + args.source + ":\n" + r.stderr)
            with open(out) as f:
                ptx = f.read()
    rows = report(ptx, args.filter)
    if not rows:
        sys.exit("ptx_loop_mix: no kernel with a multiplying loop" + (" matching " + args.filter if args.filter else ""))
    width = max(len(r[0]) for r in rows)
    print("main loop of each kernel, PTX instructions per pass (every branch inside counted once)")
    print("kernel".ljust(width) + "".join(k.rjust(7) for k in KINDS) + "  total  math share  inner loops")
    for name, c, inner in rows:
        total = sum(c.values())
        share = (c["fma"] + c["mma"]) / total if total else 0.0
        print(name.ljust(width) + "".join(str(c[k]).rjust(7) for k in KINDS) + str(total).rjust(7) +
              ("%10.0f%%" % (100 * share)) + str(inner).rjust(13))


if __name__ == "__main__":
    main()
