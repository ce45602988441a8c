// Checkpoints in the safetensors format, so a PyTorch user can load them with
// safetensors.torch.load_file into the equivalent nn.Sequential.
//
// File layout (https://github.com/huggingface/safetensors):
//   8 bytes   little-endian uint64 H, the header length
//   H bytes   JSON: {"__metadata__": {string: string}, NAME: {"dtype": "F32", "shape": [...],
//             "data_offsets": [begin, end]}, ...}, padded with spaces to a multiple of 8
//   rest      raw little-endian tensor data; offsets are relative to the end of the header
// This engine writes F32 tensors (the network's state in PyTorch's layouts, names in layer order:
// "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "4.weight", ...)
// and reads F32 and F64.
//
// Files are written atomically: FILE.tmp is written, fsync'd and renamed over FILE, so an
// interrupted write never leaves a half-written checkpoint under the final name.
//
// Model files carry the configuration in __metadata__: format "ednn-ed-cnn", preset, L, c0,
// loss, transform, engine_version, and whatever the trainer adds (epoch, test_mae). Resume state
// goes in a second file beside it (NAME.optim.safetensors): "exp_avg.<param>" and
// "exp_avg_sq.<param>" for every trainable tensor, and metadata step, epoch and the trainer's
// bookkeeping.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/modules.h"
#include "engine/optim.h"
#include "engine/tensor.h"

namespace ednn::nets {

using Metadata = std::map<std::string, std::string>;

struct NamedArray {
  std::string name;
  Tensor tensor;  // any device; written as F32 (or F64 when it is float64)
};

// Writes tensors (in the given order) and metadata to `path` atomically. Throws ednn::Error naming
// the file when it cannot be written.
void write_safetensors(const std::string& path, const std::vector<NamedArray>& tensors, const Metadata& metadata);

struct SafetensorsFile {
  std::string path;
  Metadata metadata;
  std::vector<NamedArray> tensors;  // CPU tensors in file order (by data offset)
  const Tensor* find(const std::string& name) const;
};

// Reads and validates a whole file: header length and JSON, dtypes, shapes against byte ranges,
// ranges inside the file and not overlapping. Every error names the file and the problem.
SafetensorsFile read_safetensors(const std::string& path);

// ---- the network ----

// The model's state (parameters and buffers, in layer order) with `metadata`.
void save_model(const std::string& path, Module& net, const Metadata& metadata);
// Loads the state into `net` (on whatever device it lives), after checking that the file holds
// exactly the same names, shapes and dtypes; a mismatch throws an error listing what differs.
Metadata load_model(const std::string& path, Module& net);
// Only the metadata (preset, L, c0, ...) of a model file, to build the right network first.
Metadata read_metadata(const std::string& path);

// ---- the optimiser ----

// Adam's moments for every trainable tensor of `net` and its step count, with `metadata`
// (the trainer adds epoch and its own bookkeeping).
void save_optimizer(const std::string& path, Module& net, Adam& adam, Metadata metadata);
// Restores moments and step count; returns the metadata. Checks names and shapes as load_model.
Metadata load_optimizer(const std::string& path, Module& net, Adam& adam);

// "DIR/last.safetensors" -> "DIR/last.optim.safetensors"
std::string optimizer_path(const std::string& model_path);

// A text file (logs, CSV, JSON) written to PATH.tmp, fsync'd and renamed over PATH, so a reader or
// a crash never sees half of it; throws naming the file.
void write_text_atomically(const std::string& path, const std::string& text);

}  // namespace ednn::nets
