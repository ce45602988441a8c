#!/usr/bin/env python3
"""The CPU SOR solver against scipy's sparse direct solve of the same system (SPEC section 1).

Needs Debian's python3-scipy and python3-numpy (and python3-h5py for --dataset):
    apt-get install python3-scipy python3-h5py
and run with Debian's interpreter, /usr/bin/python3 (a pyenv python3 earlier on PATH lacks them).

Speed (default): runs bench_solver at L (default 512), which also writes sample 0's input and SOR
target, builds the same linear system over the unknown pixels
    (4D + gamma) u_p - D sum_{q ~ p, q unknown} u_q = D sum_{q ~ p, q clamped} x_q   (clamp)
    (4D + gamma) u_p - D sum_{q ~ p} u_q = gamma x_p, then u / max(u)                (production)
solves it with scipy.sparse.linalg.spsolve, checks that both solutions agree, and prints both times
per sample and their ratio.

    python3 bench/compare_scipy.py --bench build/bin/bench_solver [--L 512] [--model clamp]

Data set check (--dataset FILE.h5): opens a datagen file with h5py and compares the first --samples
targets with scipy's direct solve of their inputs, reporting the worst pixel difference.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla


def direct_solve(x, model, D=1.0, gamma=1.0 / 400):
    """Solves the steady state of SPEC section 1 for input image x [L, L] with spsolve."""
    L = x.shape[0]
    unknown = np.ones((L, L), bool) if model == "production" else (x <= 0)
    index = -np.ones((L, L), np.int64)
    index[unknown] = np.arange(unknown.sum())
    rows, cols, vals = [], [], []
    rhs = np.zeros(unknown.sum())
    if model == "production":
        rhs[:] = gamma * x[unknown]
    ii, jj = np.nonzero(unknown)
    p = index[ii, jj]
    rows.append(p); cols.append(p); vals.append(np.full(p.size, 4 * D + gamma))
    for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ni, nj = ii + di, jj + dj
        inside = (ni >= 0) & (ni < L) & (nj >= 0) & (nj < L)
        pi, qi, qj = p[inside], ni[inside], nj[inside]
        q_unknown = unknown[qi, qj]
        rows.append(pi[q_unknown]); cols.append(index[qi[q_unknown], qj[q_unknown]])
        vals.append(np.full(q_unknown.sum(), -D))
        np.add.at(rhs, pi[~q_unknown], D * x[qi[~q_unknown], qj[~q_unknown]])
    A = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(rhs.size, rhs.size))
    t0 = time.perf_counter()
    sol = spla.spsolve(A, rhs)
    seconds = time.perf_counter() - t0
    u = x.astype(np.float64).copy()
    u[unknown] = sol
    if model == "production":
        u /= u.max()
    return u, seconds


def speed(args):
    with tempfile.TemporaryDirectory() as tmp:
        sample = os.path.join(tmp, "sample.bin")
        out = subprocess.run([args.bench, "--L", str(args.L), "--samples", str(args.samples), "--model",
                              args.model, "--write-sample", sample], check=True, capture_output=True,
                             text=True).stdout
        print(out, end="")
        raw = np.fromfile(sample, dtype=np.int32, count=2)
        L = int(raw[0])
        data = np.fromfile(sample, dtype=np.float32, offset=8)
        x, target = data[:L * L].reshape(L, L), data[L * L:].reshape(L, L)
    times = {m.group(1).strip(): float(m.group(2))
             for m in re.finditer(r"^(one sample at a time|batch, sample per thread)\s+([0-9.]+)", out, re.M)}
    spsolve_times = []
    for _ in range(args.repeats):
        u, seconds = direct_solve(x.astype(np.float64), args.model)
        spsolve_times.append(seconds)
    scipy_time = min(spsolve_times)
    diff = np.abs(u - target).max()
    print(f"scipy spsolve (SuperLU), L={L} {args.model}: {scipy_time:.3f} s/sample (best of {args.repeats}); "
          f"max |SOR - spsolve| = {diff:.2e}")
    for mode, t in times.items():
        print(f"  SOR {mode:<26} {t:.4f} s/sample   speed-up x{scipy_time / t:.1f}")
    return 0 if diff <= 1e-4 else 1


def dataset(args):
    import h5py
    with h5py.File(args.dataset, "r") as f:
        attrs = dict(f.attrs)
        model = attrs["model"].decode() if isinstance(attrs["model"], bytes) else str(attrs["model"])
        n = min(args.samples, f["inputs"].shape[0])
        print(f"{args.dataset}: {f['inputs'].shape[0]} samples, L={attrs['L']}, model={model}, "
              f"completed={attrs['completed']}; checking {n}")
        worst = 0.0
        for i in range(n):
            x = f["inputs"][i, 0].astype(np.float64)
            u, _ = direct_solve(x, model, float(attrs["D"]), float(attrs["gamma"]))
            worst = max(worst, float(np.abs(u - f["targets"][i, 0]).max()))
    print(f"worst |target - spsolve| over {n} samples: {worst:.2e} ({'ok' if worst <= 1e-4 else 'FAIL'} at 1e-4)")
    return 0 if worst <= 1e-4 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default="build/bin/bench_solver")
    ap.add_argument("--L", type=int, default=512)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--model", default="clamp", choices=["clamp", "production"])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--dataset")
    args = ap.parse_args()
    return dataset(args) if args.dataset else speed(args)


if __name__ == "__main__":
    sys.exit(main())
