#!/usr/bin/env bash
# How tight infer's certificates are against the number of smoothing sweeps (SPEC section 3.1):
# infer --certify on the test split of a data file for K in 0 1 2 5 10 20 50 sweeps, with
# Gauss-Seidel (--certify-omega 1) and with the solver's own omega (0), then one table per omega
# from each run's metrics.json and timing.json: the certified field's bound over its actual max
# error against the target (mean / median / max over samples), the prediction's best bound over
# its actual max error, the MAE of the certified field, ms per sample of the sweeps, and how many
# samples each bound held on.
#
#   bench/certify_sweeps.sh CHECKPOINT DATA.h5 OUT_DIR [build/bin]
set -euo pipefail
ckpt=$1 data=$2 work=$3 bin=${4:-build/bin}
mkdir -p "$work"
for omega in 1 0; do
  for k in 0 1 2 5 10 20 50; do
    [ "$omega" = 0 ] && [ "$k" = 0 ] && continue  # K = 0 is the raw prediction, whatever omega
    out="$work/omega${omega}_k$k"
    [ -f "$out/metrics.json" ] || "$bin/infer" --checkpoint "$ckpt" --data "$data" --split test --certify \
      --certify-sweeps "$k" --certify-omega "$omega" --pictures 0 --device cpu --quiet --out "$out" > /dev/null
  done
done
python3 - "$work" <<'PY'
import json, sys, os
work = sys.argv[1]
def row(path):
    m = json.load(open(os.path.join(path, "metrics.json")))["certificate"]
    t = json.load(open(os.path.join(path, "timing.json")))["certificate"]
    return m, t
def three(s):
    return f"{s['mean']:.3g} / {s['median']:.3g} / {s['max']:.3g}"
for omega in ("1", "0"):
    print(f"\n--certify-omega {omega}\n")
    print("| K | certified: bound / max error | certified bound | prediction: bound / max error | MAE certified (raw) | ms/sample | bounds hold |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for k in (0, 1, 2, 5, 10, 20, 50):
        path = os.path.join(work, f"omega1_k0" if k == 0 else f"omega{omega}_k{k}")
        if not os.path.exists(os.path.join(path, "metrics.json")):
            continue
        m, t = row(path)
        c, p = m["certified"], m["prediction"]
        print(f"| {k} | {three(c['bound_over_max_error'])} | {m['certified_error_bound']['mean']:.3g} | "
              f"{three(p['bound_over_max_error'])} | {c['mae']['mean']:.4f} ({p['mae']['mean']:.4f}) | "
              f"{t['certify_ms_per_sample']:.2f} | {c['bound_holds']}, {p['bound_holds']} of {c['samples']} |")
PY
