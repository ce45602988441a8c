"""python/ednn.py against ednn's programs (CTest python_ednn, run with Debian's /usr/bin/python3).

    /usr/bin/python3 tests/python/test_ednn.py --bin DIR   (DIR holds datagen, train and infer)

One tiny data file (L 64, 1..2 sources, 5 per n: 8 train and 2 test samples) and one tiny ednn run
(2 epochs of 2 steps) are made once; then:
- ednn -> PyTorch -> ednn: the checkpoint loads into ednn.load's nn.Sequential with strict=True,
  is saved back with and without ednn's metadata, and the saved tensors and `infer`'s predictions
  from all three files are equal to the bit;
- PyTorch -> ednn: a state_dict PyTorch initialised (and stepped once in train mode) trains in
  `train --init-from` (with a learning rate of 1e-30, so the weights it saves must be PyTorch's
  to within 2e-30, and num_batches_tracked goes on counting) and infers;
- PyTorch's forward on ednn's data equals `infer`'s predictions within float tolerance;
- the Dataset selects the samples `train` selects (hand-computed for this file) and one PyTorch
  training step on it gives a finite loss and moves every parameter.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import ednn  # noqa: E402

BIN = None
WORK = None
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def run(*args, ok=True):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=ENV)
    if ok and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def program(name):
    return os.path.join(BIN, name)


def predictions(checkpoint, out, *extra):
    run(program("infer"), "--checkpoint", checkpoint, "--data", f"{WORK}/d.h5", "--device", "cpu", "--quiet",
        "--pictures", "0", "--out", out, *extra)
    with h5py.File(f"{out}/predictions.h5", "r") as f:
        return f["predictions"][:], f["indices"][:], {k: f.attrs[k] for k in f.attrs}


def setUpModule():
    global WORK
    WORK = tempfile.mkdtemp(prefix="ednn_python_")
    run(program("datagen"), "--out", f"{WORK}/d.h5", "--L", "64", "--max-sources", "2", "--per-n", "5",
        "--test-fraction", "0.2", "--seed", "5")
    run(program("train"), "--data", f"{WORK}/d.h5", "--preset", "tiny", "--epochs", "2", "--batch", "4",
        "--max-steps", "2", "--lr", "1e-3", "--device", "cpu", "--quiet", "--out", f"{WORK}/run")


def tearDownModule():
    shutil.rmtree(WORK, ignore_errors=True)


class RoundTrip(unittest.TestCase):
    def test_ednn_to_pytorch_to_ednn_is_bit_equal(self):
        original = f"{WORK}/run/last.safetensors"
        net = ednn.load(original)  # strict=True inside
        self.assertEqual((net.L, net.c0), (64, 4))
        self.assertEqual(set(net.state_dict()), set(ednn.model("tiny").state_dict()))  # PyTorch's key set
        self.assertEqual(net.state_dict()["1.num_batches_tracked"].dtype, torch.int64)
        self.assertEqual(int(net.state_dict()["1.num_batches_tracked"]), 4)  # 2 epochs x 2 steps in train mode
        ednn.save(net, f"{WORK}/with_meta.safetensors", net.metadata)
        ednn.save(net, f"{WORK}/bare.safetensors")  # a plain PyTorch state_dict: no metadata at all

        tensors, _ = ednn.read_safetensors(original)
        for copy in ("with_meta", "bare"):
            again, meta = ednn.read_safetensors(f"{WORK}/{copy}.safetensors")
            self.assertEqual(list(again), list(tensors))
            for name, array in tensors.items():
                self.assertEqual(again[name].dtype, array.dtype, name)
                self.assertEqual(again[name].tobytes(), array.tobytes(), name)
        self.assertIn("provenance", net.metadata)

        p0, i0, _ = predictions(original, f"{WORK}/inf0")
        p1, i1, _ = predictions(f"{WORK}/with_meta.safetensors", f"{WORK}/inf1")
        p2, i2, _ = predictions(f"{WORK}/bare.safetensors", f"{WORK}/inf2", "--preset", "tiny")
        p3, _, _ = predictions(f"{WORK}/bare.safetensors", f"{WORK}/inf3", "--L", "64")
        for p in (p1, p2, p3):
            self.assertEqual(p.tobytes(), p0.tobytes())
        self.assertTrue(np.array_equal(i0, i1) and np.array_equal(i0, i2))

        # Without metadata the lattice side must be given, and must fit the widths.
        r = run(program("infer"), "--checkpoint", f"{WORK}/bare.safetensors", "--data", f"{WORK}/d.h5", "--out",
                f"{WORK}/inf4", ok=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("give --preset NAME or --L N", r.stderr + r.stdout)
        r = run(program("infer"), "--checkpoint", f"{WORK}/bare.safetensors", "--data", f"{WORK}/d.h5", "--preset",
                "small", "--out", f"{WORK}/inf5", ok=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("has c0 = 4", r.stderr + r.stdout)


class PyTorchToEdnn(unittest.TestCase):
    def test_a_pytorch_state_dict_trains_and_infers(self):
        torch.manual_seed(3)
        net = ednn.model("tiny").train()
        with torch.no_grad():
            net(torch.rand(2, 1, 64, 64))  # one batch in train mode: running statistics and count move
        self.assertEqual(int(net[1].num_batches_tracked), 1)
        ednn.save(net, f"{WORK}/torch_init.safetensors")

        # L from the data file; Adam's first update is lr * m / (sqrt(v) + eps), at most about 1e-30.
        run(program("train"), "--init-from", f"{WORK}/torch_init.safetensors", "--data", f"{WORK}/d.h5", "--epochs",
            "1", "--batch", "4", "--max-steps", "1", "--lr", "1e-30", "--device", "cpu", "--quiet", "--out",
            f"{WORK}/run_init")
        trained, meta = ednn.read_safetensors(f"{WORK}/run_init/last.safetensors")
        self.assertEqual(meta["preset"], "tiny")
        self.assertIn("torch_init.safetensors", meta["init_from"])
        for name, value in net.named_parameters():
            # Adam moves each weight by at most lr (1e-30): nothing but PyTorch's initial values
            # (a zero, such as the batch norm's bias, moves to about 1e-30; everything else rounds back).
            self.assertLessEqual(float(np.abs(trained[name] - value.detach().numpy()).max()), 2e-30, name)
        self.assertEqual(int(trained["1.num_batches_tracked"]), 2)  # PyTorch's 1, then ednn's one step
        self.assertFalse(np.array_equal(trained["1.running_mean"], net[1].running_mean.numpy()))
        p, _, _ = predictions(f"{WORK}/run_init/last.safetensors", f"{WORK}/inf_init")
        self.assertTrue(np.isfinite(p).all())

        # Another preset than the file's widths: refused, naming both.
        r = run(program("train"), "--init-from", f"{WORK}/torch_init.safetensors", "--data", f"{WORK}/d.h5",
                "--preset", "small", "--out", f"{WORK}/run_bad", ok=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("preset small has c0 = 8", r.stderr + r.stdout)


class ForwardAndData(unittest.TestCase):
    def test_dataset_selects_what_train_selects(self):
        # 5 per n, n = 1..2 (K = 2), test_fraction 0.2: train_per_n 4, sample i has n = 1 + i % 2,
        # rank i // 2; ranks 0..3 train, rank 4 test.
        path = f"{WORK}/d.h5"
        self.assertEqual(ednn.Dataset(path).indices, list(range(8)))
        self.assertEqual(ednn.Dataset(path, fraction=0.5).indices, [0, 1, 2, 3])
        self.assertEqual(ednn.Dataset(path, fraction=0.5, subset=1).indices, [4, 5, 6, 7])
        self.assertEqual(ednn.Dataset(path, fraction=0.5, train_n=2).indices, [1, 3])
        self.assertEqual(ednn.Dataset(path, fraction=0.375).indices, [0, 1, 2, 3])  # 1.5 rounds half up, as llround
        self.assertEqual(ednn.Dataset(path, split="test").indices, [8, 9])
        self.assertEqual(ednn.Dataset(path, split="test", train_n=1).n_sources, [1])
        with self.assertRaises(ValueError):
            ednn.Dataset(path, fraction=0.5, subset=2)
        with self.assertRaises(ValueError):
            ednn.Dataset(path, split="nonsense")
        x, y = ednn.Dataset(path, split="test")[1]
        with h5py.File(path, "r") as f:
            self.assertEqual(x.numpy().tobytes(), f["inputs"][9].tobytes())
            self.assertEqual(y.numpy().tobytes(), f["targets"][9].tobytes())

    def test_pytorch_forward_equals_infer(self):
        net = ednn.load(f"{WORK}/run/best.safetensors")
        data = ednn.Dataset(f"{WORK}/d.h5", split="test")
        p, indices, _ = predictions(f"{WORK}/run/best.safetensors", f"{WORK}/inf_test", "--split", "test")
        self.assertEqual(list(indices), data.indices)
        x = torch.stack([data[k][0] for k in range(len(data))])
        with torch.no_grad():
            mine = net(x).numpy()
        scale = max(1.0, float(np.abs(p).max()))
        self.assertLess(float(np.abs(mine - p).max()), 1e-5 * scale)

    def test_one_pytorch_training_step(self):
        net = ednn.load(f"{WORK}/run/last.safetensors").train()
        before = {k: v.clone() for k, v in net.state_dict().items()}
        loader = torch.utils.data.DataLoader(ednn.Dataset(f"{WORK}/d.h5"), batch_size=4, shuffle=True)
        x, y = next(iter(loader))
        self.assertEqual(tuple(x.shape), (4, 1, 64, 64))
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        loss = (net(x) - y).abs().mean()
        loss.backward()
        opt.step()
        self.assertTrue(torch.isfinite(loss).item())
        self.assertLess(loss.item(), 1.0)  # targets are in [0, 1]: an MAE above 1 would be absurd
        for name, p in net.named_parameters():
            self.assertFalse(torch.equal(p.detach(), before[name]), name)
        self.assertEqual(int(net[1].num_batches_tracked), int(before["1.num_batches_tracked"]) + 1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="folder with datagen, train and infer")
    args, rest = parser.parse_known_args()
    BIN = args.bin
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
