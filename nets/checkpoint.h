// Checkpoints in the safetensors format, so a PyTorch user can load them with
// safetensors.torch.load_file into the equivalent nn.Sequential.
//
// File layout (https://github.com/huggingface/safetensors):
//   8 bytes   little-endian uint64 H, the header length
//   H bytes   JSON: {"__metadata__": {string: string}, NAME: {"dtype": "F32", "shape": [...],
//             "data_offsets": [begin, end]}, ...}, padded with spaces to a multiple of 8
//   rest      raw little-endian tensor data; offsets are relative to the end of the header
// This engine writes F32 tensors (the network's state in PyTorch's layouts, names in layer order:
// "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
// "1.num_batches_tracked", "4.weight", ...) and reads F32 and F64, and I64 scalars: PyTorch's
// BatchNorm `num_batches_tracked` (shape [], int64), so that the key set is PyTorch's state_dict's
// and a state_dict PyTorch saved loads here with no conversion.
//
// num_batches_tracked is the number of forward passes the batch norm made in training mode, as
// PyTorch counts it. ednn's batch norm uses a fixed momentum (0.1), for which PyTorch never reads
// the count, so the engine's module does not keep it (a counter in the module would also miss the
// steps a CUDA graph replays): the trainer knows it (one training-mode forward per optimiser step)
// and hands it to save_model; load_model hands back what the file holds.
//
// Files are written atomically: FILE.tmp is written, fsync'd and renamed over FILE, so an
// interrupted write never leaves a half-written checkpoint under the final name.
//
// Model files carry the configuration in __metadata__: format "ednn-ed-cnn", preset, L, c0,
// loss, transform, engine_version, and whatever the trainer adds (epoch, test_mae, and
// `provenance`: a JSON object naming the version, git commit, command line, date, device and
// numerics of the process that wrote the file, built by the program (apps/) and passed in as
// text). A state_dict saved by PyTorch has no metadata at all: see read_header and
// nets/ednn_cnn.h config_from_shapes. Resume state
// goes in a second file beside it (NAME.optim.safetensors): "exp_avg.<param>" and
// "exp_avg_sq.<param>" for every trainable tensor, and metadata step, epoch and the trainer's
// bookkeeping.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
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
  // Instead of `tensor`: an I64 scalar (shape []), such as PyTorch's num_batches_tracked.
  std::optional<std::int64_t> integer;
};

// Writes tensors (in the given order) and metadata to `path` atomically. Throws ednn::Error naming
// the file when it cannot be written.
void write_safetensors(const std::string& path, const std::vector<NamedArray>& tensors, const Metadata& metadata);

struct SafetensorsFile {
  std::string path;
  Metadata metadata;
  std::vector<NamedArray> tensors;  // CPU tensors (and I64 scalars, `integer` set) in file order (by data offset)
  const Tensor* find(const std::string& name) const;  // null when absent; an undefined tensor for an I64 scalar
};

// Reads and validates a whole file: header length and JSON, dtypes, shapes against byte ranges,
// ranges inside the file and not overlapping. Every error names the file and the problem.
SafetensorsFile read_safetensors(const std::string& path);

// The header alone (the data is not read): metadata and every tensor's shape, by name.
struct SafetensorsHeader {
  Metadata metadata;
  std::map<std::string, Shape> shapes;
};
SafetensorsHeader read_header(const std::string& path);

// ---- the network ----

// "1.running_var" -> "1.num_batches_tracked": every PyTorch batch norm's count beside its
// running variance (the name rule of torch.nn.modules.batchnorm._NormBase).
std::string batches_tracked_name(const std::string& running_var_name);

// The model's state (parameters and buffers, in layer order) with `metadata`, and after each
// batch norm's running_var its num_batches_tracked = `batches_tracked`.
void save_model(const std::string& path, Module& net, const Metadata& metadata, std::int64_t batches_tracked = 0);
// Loads the state into `net` (on whatever device it lives), after checking that the file holds
// exactly the same names and shapes; a mismatch throws an error listing what differs. F32 and F64
// tensors load into the network's dtype. num_batches_tracked may be absent (ednn checkpoints
// before 0.2.0); when `batches_tracked` is given it receives the file's count, or -1 when absent.
Metadata load_model(const std::string& path, Module& net, std::int64_t* batches_tracked = nullptr);
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
