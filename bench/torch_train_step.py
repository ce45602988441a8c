#!/usr/bin/env python3
"""The ED-CNN training step in PyTorch and in ednn, side by side in one run.

Runs the same step (forward, exp-mae loss, backward, Adam) on the same shapes in PyTorch and in
ednn's `bench_train_step`, and prints both rates and their ratio. Usage:

    /usr/bin/python3 bench/torch_train_step.py --preset small --batch 16 --steps 10 \
        [--ednn build/bin/bench_train_step] [--device cpu|cuda] [--forward-only] [--tf32] [--graph]

PyTorch comes from Debian's python3-torch (1.13, CPU only; apt-get install python3-torch) on the
development machines; the GPU machines have PyTorch with CUDA. For a fair fp32 comparison on a GPU
TF32 is switched off (torch.backends.cudnn.allow_tf32 = False). With --tf32 both sides use the
tensor cores with TF32 inputs: PyTorch's allow_tf32 = True, ednn's bench_train_step --tf32.
With --graph (cuda) both sides replay the step from a CUDA graph: PyTorch's whole-network capture
(torch.cuda.graph, Adam with capturable=True, warmed up on a side stream as its documentation
does), ednn's bench_train_step --graph.
"""
import argparse
import os
import re
import subprocess
import sys
import time

import torch

# The ED-CNN in PyTorch, with ednn's layer indices and names: python/ednn.py.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from ednn import PRESETS, ed_cnn  # noqa: E402


def exp_mae(pred, target, w=1.0):
    return (torch.exp(-(1 - target) / w) * (pred - target).abs()).mean()


def torch_rate(preset, batch, steps, device, forward_only, graph=False):
    L, c0 = PRESETS[preset]
    torch.manual_seed(0)
    net = ed_cnn(c0).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, capturable=graph)
    x = torch.rand(batch, 1, L, L, device=device)
    y = torch.rand(batch, 1, L, L, device=device)

    def step():
        if forward_only:
            with torch.no_grad():
                net(x)
            return
        opt.zero_grad(set_to_none=True)
        loss = exp_mae(net(x), y)
        loss.backward()
        opt.step()

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if graph:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):  # warm-up: allocator, cuDNN algorithm choice, Adam's state
                step()
        torch.cuda.current_stream().wait_stream(side)
        captured = torch.cuda.CUDAGraph()
        opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(captured):
            loss = exp_mae(net(x), y)
            loss.backward()
            opt.step()
        step = captured.replay
    for _ in range(2):  # warm-up: allocator, oneDNN / cuDNN algorithm choice
        step()
    sync()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    times.sort()
    return batch / times[len(times) // 2]


def ednn_rate(binary, preset, batch, steps, device, forward_only, tf32, graph=False, conv_algo=None):
    cmd = [binary, "--preset", preset, "--batch", str(batch), "--steps", str(steps), "--device", device]
    if conv_algo:
        cmd += ["--conv-algo", conv_algo]
    if forward_only:
        cmd.append("--forward-only")
    if tf32:
        cmd.append("--tf32")
    if graph:
        cmd.append("--graph")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    sys.stdout.write(out)
    rates = re.findall(r"([0-9.]+) samples/s\s*$", out, re.M)
    if not rates:
        raise SystemExit(f"could not find 'N samples/s' in the output of {' '.join(cmd)}")
    return float(rates[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="small", choices=PRESETS)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--forward-only", action="store_true", help="time the forward pass alone (no grad)")
    p.add_argument("--tf32", action="store_true", help="GPU: both sides on the tensor cores with TF32 inputs")
    p.add_argument("--graph", action="store_true", help="GPU: both sides replay the step from a CUDA graph")
    p.add_argument("--conv-algo", help="ednn's convolution algorithm (bench_train_step --conv-algo), e.g. winograd")
    p.add_argument("--ednn", default=os.path.join(os.path.dirname(__file__), "..", "build", "bin", "bench_train_step"))
    a = p.parse_args()
    if a.graph and (a.device != "cuda" or a.forward_only):
        p.error("--graph captures the training step on the GPU: --device cuda, without --forward-only")
    torch.set_num_threads(os.cpu_count())
    if a.device == "cuda":
        torch.backends.cudnn.allow_tf32 = a.tf32
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
        torch.backends.cudnn.benchmark = True
    what = "forward" if a.forward_only else "training step"
    print(f"{what}: preset {a.preset}, batch {a.batch}, {a.steps} timed steps (median), device {a.device}, "
          f"{os.cpu_count()} CPU threads, torch {torch.__version__}"
          + (", TF32" if a.tf32 and a.device == "cuda" else "") + (", CUDA graphs" if a.graph else ""))
    # Interleave: ednn, torch, ednn again, so machine noise hits both alike; report the better ednn run.
    e1 = ednn_rate(a.ednn, a.preset, a.batch, a.steps, a.device, a.forward_only, a.tf32, a.graph, a.conv_algo)
    t = torch_rate(a.preset, a.batch, a.steps, a.device, a.forward_only, a.graph)
    e2 = ednn_rate(a.ednn, a.preset, a.batch, a.steps, a.device, a.forward_only, a.tf32, a.graph, a.conv_algo)
    e = max(e1, e2)
    print(f"pytorch : {t:10.2f} samples/s")
    print(f"ednn    : {e:10.2f} samples/s   (runs: {e1:.2f}, {e2:.2f})")
    print(f"ratio ednn / pytorch = {e / t:.3f}")


if __name__ == "__main__":
    main()
