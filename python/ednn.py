"""ednn from PyTorch: the ED-CNN, its checkpoints and its data files.

    import sys; sys.path.insert(0, "python")   # or PYTHONPATH=python
    import ednn
    net = ednn.load("runs/small/best.safetensors")          # an nn.Sequential, eval mode
    ednn.save(net, "mine.safetensors", {"preset": "small", "L": "128", "c0": "8"})
    data = ednn.Dataset("data.h5", split="train", fraction=0.25)   # torch.utils.data.Dataset
    x, y = data[0]                                           # [1, L, L] float32 each

- `ed_cnn(c0)` / `model(preset)`: the network of SPEC section 4 (nets/ednn_cnn.h) as a
  torch.nn.Sequential whose state_dict names and layouts are ednn's checkpoint names ("0.weight",
  "1.running_mean", "1.num_batches_tracked", ...), so ednn's checkpoints load with strict=True and
  what PyTorch saves, `train --init-from` and `infer` read.
- `read_safetensors` / `write_safetensors`: the safetensors format (8-byte little-endian header
  length, a JSON header, raw little-endian data) in numpy, for Debian, which packages no
  `safetensors`; files written here load with safetensors.torch.load_file and the reverse.
- `load(path, preset=None, L=None)` builds the network a file holds (its ednn metadata, or for a
  bare state_dict c0 from the shapes and L from `preset` / `L`); `save(model, path, metadata)`
  writes one back.
- `Dataset`: a datagen file's samples, selected as `train --fraction F --subset J --train-n P`
  selects them (solver/dataset_h5.h train_indices), or any other split by its code.

Needs torch, numpy and h5py (Debian: python3-torch python3-numpy python3-h5py).
"""
import json
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.utils.data

PRESETS = {"paper": (512, 64), "small": (128, 8), "tiny": (64, 4)}  # name: (L, c0)
LEAKY_SLOPE = 0.02

# ---- the network ---------------------------------------------------------------------------------


def ed_cnn(c0, batch_norm=True):
    """DiffSolver's SimpleCNN (SPEC section 4) with base width c0: widths c0 2^k, 3x3 convolutions,
    leaky ReLU 0.02, five average pools and five nearest upsamplings (L a multiple of 32). Layer
    indices are ednn's (nets/ednn_cnn.h); without batch norm index 1 is an Identity, as in ednn."""
    if c0 < 2 or c0 % 2:
        raise ValueError(f"ed_cnn: c0 must be a positive even number, got {c0}")
    w = [c0 * 2 ** k for k in range(6)]
    lrelu = lambda: nn.LeakyReLU(LEAKY_SLOPE)
    layers = [nn.Conv2d(1, w[0], 3, 1, 1), nn.BatchNorm2d(w[0]) if batch_norm else nn.Identity(), lrelu(),
              nn.AvgPool2d(2)]
    for k in range(4):
        layers += [nn.Conv2d(w[k], w[k + 1], 3, 1, 1), lrelu(), nn.AvgPool2d(2)]
    layers += [nn.Conv2d(w[4], w[5], 3, 1, 1), lrelu()]
    layers += [nn.ConvTranspose2d(w[5], w[4], 3, 1, 1), lrelu()]
    for k in (4, 3, 2, 1):
        layers += [nn.ConvTranspose2d(w[k], w[k - 1], 3, 1, 1), lrelu(), nn.Upsample(scale_factor=2)]
    layers += [nn.ConvTranspose2d(w[0], w[0] // 2, 3, 1, 1), lrelu(), nn.Upsample(scale_factor=2)]
    layers += [nn.ConvTranspose2d(w[0] // 2, 1, 3, 1, 1), lrelu()]
    return nn.Sequential(*layers)


def model(preset, batch_norm=True):
    """The network of a preset (paper, small, tiny), PyTorch's default initialisation."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset '{preset}': expected one of {', '.join(PRESETS)}")
    net = ed_cnn(PRESETS[preset][1], batch_norm)
    net.L = PRESETS[preset][0]
    return net


# ---- safetensors ---------------------------------------------------------------------------------

_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8")}


def read_safetensors(path):
    """(tensors, metadata): {name: numpy array} in the file's data order, {str: str}."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: not a safetensors file ({len(raw)} bytes)")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ValueError(f"{path}: header length {n} but the file has {len(raw)} bytes")
    header = json.loads(raw[8:8 + n])
    metadata = header.pop("__metadata__", None) or {}
    data = memoryview(raw)[8 + n:]
    tensors = {}
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        if e["dtype"] not in _DTYPES:
            raise ValueError(f"{path}: tensor '{name}' has dtype {e['dtype']}, this reader knows {', '.join(_DTYPES)}")
        begin, end = e["data_offsets"]
        array = np.frombuffer(data[begin:end], dtype=_DTYPES[e["dtype"]]).reshape(e["shape"])
        tensors[name] = array.copy()
    return tensors, dict(metadata)


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: numpy array or torch tensor} (float32, float64 or int64) in the given order."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    names = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<i8"): "I64"}
    for name, value in tensors.items():
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        if array.dtype not in names:
            raise ValueError(f"write_safetensors: tensor '{name}' is {array.dtype}; float32, float64 or int64 only")
        blob = array.tobytes()
        header[name] = {"dtype": names[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


# ---- checkpoints ---------------------------------------------------------------------------------


def load(path, preset=None, L=None):
    """The network a checkpoint holds, in eval mode, with attributes L, c0 and metadata.

    ednn's checkpoints say their L and c0 in their metadata; a bare state_dict (saved by PyTorch)
    gives c0 by '0.weight' [c0, 1, 3, 3], batch norm by '1.weight', and L by `preset` or `L`.
    Loads with strict=True; a file without num_batches_tracked (ednn before 0.2.0) counts 0."""
    tensors, metadata = read_safetensors(path)
    if "0.weight" not in tensors or tensors["0.weight"].ndim != 4:
        raise ValueError(f"{path}: no '0.weight' [c0, 1, 3, 3]: not an ED-CNN state_dict")
    c0 = tensors["0.weight"].shape[0]
    if "L" in metadata:
        side = int(metadata["L"])
    elif preset is not None:
        side = PRESETS[preset][0]
    elif L is not None:
        side = int(L)
    else:
        raise ValueError(f"{path} has no ednn metadata and so no lattice side: give preset= or L=")
    net = ed_cnn(c0, batch_norm="1.weight" in tensors)
    state = {name: torch.from_numpy(array) for name, array in tensors.items()}
    for name, value in net.state_dict().items():
        if name.endswith("num_batches_tracked") and name not in state:
            state[name] = value
    net.load_state_dict(state, strict=True)
    net.L, net.c0, net.metadata = side, c0, metadata
    return net.eval()


def save(net, path, metadata=None):
    """Writes net.state_dict() (PyTorch's order and names, num_batches_tracked as int64) with
    `metadata` ({str: str}; ednn reads preset, L, c0, transform, ... : nets/run_settings.h).
    Without L in the metadata, ednn's programs need --preset or --L for the file."""
    write_safetensors(path, net.state_dict(), metadata)


# ---- data ----------------------------------------------------------------------------------------


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def split_codes(h5file):
    """{name: code} from the `split` data set's `codes` attribute ("0: train, 1: test", ...)."""
    codes = {}
    for part in _text(h5file["split"].attrs.get("codes", "0: train, 1: test")).split(","):
        code, name = part.split(":")
        codes[name.strip()] = int(code)
    return codes


def train_indices(attrs, fraction=1.0, n_sources=0, subset=0):
    """solver/dataset_h5.h train_indices: ranks [subset k, (subset + 1) k) of every n (or of
    n_sources only), k = round(fraction * train_per_n) half away from zero, index rank K + n - min."""
    if not 0 < fraction <= 1:
        raise ValueError(f"train_indices: fraction {fraction}, expected (0, 1]")
    train_per_n, lo, hi = int(attrs["train_per_n"]), int(attrs["min_sources"]), int(attrs["max_sources"])
    x = fraction * train_per_n
    k = int(x) + (1 if x - int(x) >= 0.5 else 0)  # C's llround for x >= 0
    if subset < 0 or (subset + 1) * k > train_per_n:
        raise ValueError(f"train_indices: disjoint subset {subset} of {k} samples per n needs {(subset + 1) * k} "
                         f"train samples per n, the data set has {train_per_n}")
    K = hi - lo + 1
    return [rank * K + (n - lo) for rank in range(subset * k, (subset + 1) * k) for n in range(lo, hi + 1)
            if n_sources in (0, n)]


class Dataset(torch.utils.data.Dataset):
    """A datagen HDF5 file's samples as (input, target) float32 tensors [1, L, L].

    split="train" takes fraction, subset and train_n as `train --fraction --subset --train-n` do;
    any other split name ("test", ...) takes every sample whose `split` code is that name's in the
    file's `codes` attribute (with train_n: only those with that many sources). transform="sqrt"
    applies train --transform sqrt to both. `indices` are the file's sample numbers, `n_sources`
    theirs. The file is opened lazily, once per worker process."""

    def __init__(self, path, split="train", fraction=1.0, subset=0, train_n=0, transform="none"):
        import h5py
        self.path, self.transform = path, transform
        if transform not in ("none", "sqrt"):
            raise ValueError(f"Dataset: transform '{transform}', expected none or sqrt")
        with h5py.File(path, "r") as f:
            attrs = {k: f.attrs[k] for k in f.attrs}
            codes = split_codes(f)
            if split not in codes:
                raise ValueError(f"{path}: no split '{split}' (codes: {', '.join(codes)})")
            split_column = f["split"][:]
            n_column = f["n_sources"][:]
            self.L = int(attrs["L"])
        if split == "train":
            indices = train_indices(attrs, fraction, train_n, subset)
            wrong = [i for i in indices if split_column[i] != codes["train"]]
            if wrong:
                raise ValueError(f"{path}: sample {wrong[0]} is selected for training but its split code is "
                                 f"{split_column[wrong[0]]}")
        else:
            if fraction != 1.0 or subset != 0:
                raise ValueError("Dataset: fraction and subset select training samples; the other splits are whole")
            indices = [int(i) for i in np.nonzero(split_column == codes[split])[0]
                       if train_n in (0, n_column[i])]
        self.indices = indices
        self.n_sources = [int(n_column[i]) for i in indices]
        self._file = None

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, k):
        if self._file is None:
            import h5py
            self._file = h5py.File(self.path, "r")
        i = self.indices[k]
        x = torch.from_numpy(self._file["inputs"][i].astype(np.float32))
        y = torch.from_numpy(self._file["targets"][i].astype(np.float32))
        if self.transform == "sqrt":
            x, y = x.clamp(min=0).sqrt(), y.clamp(min=0).sqrt()
        return x, y

    def __getstate__(self):  # DataLoader workers open their own handle
        state = dict(self.__dict__)
        state["_file"] = None
        return state
