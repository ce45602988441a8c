// The ED-CNN of SPEC section 4 (DiffSolver's SimpleCNN), parametric in the lattice side L and the
// base width c0, built as one engine Sequential whose indices match the equivalent
// torch.nn.Sequential, so state names ("0.weight", "1.running_mean", ...) map one to one.
//
// Widths w_k = c0 2^k. All convolutions 3x3, stride 1, padding 1, with bias; LReLU slope 0.02;
// Pool AvgPool2d(2); Up nearest x2. Five pools and five ups for every L (512 -> 16, 128 -> 4,
// 64 -> 2), so L must be a multiple of 32.
//
//   index  layer                                  [C, H, W] out (L = 512, c0 = 64)
//   0..3   Conv(1->w0) BatchNorm(w0) LReLU Pool    [64, 256, 256]
//   4..6   Conv(w0->w1) LReLU Pool                 [128, 128, 128]
//   7..9   Conv(w1->w2) LReLU Pool                 [256, 64, 64]
//   10..12 Conv(w2->w3) LReLU Pool                 [512, 32, 32]
//   13..15 Conv(w3->w4) LReLU Pool                 [1024, 16, 16]
//   16..17 Conv(w4->w5) LReLU                      [2048, 16, 16]   bottleneck
//   18..19 ConvT(w5->w4) LReLU                     [1024, 16, 16]
//   20..22 ConvT(w4->w3) LReLU Up                  [512, 32, 32]
//   23..25 ConvT(w3->w2) LReLU Up                  [256, 64, 64]
//   26..28 ConvT(w2->w1) LReLU Up                  [128, 128, 128]
//   29..31 ConvT(w1->w0) LReLU Up                  [64, 256, 256]
//   32..34 ConvT(w0->w0/2) LReLU Up                [32, 512, 512]
//   35..36 ConvT(w0/2->1) LReLU                    [1, 512, 512]
// Parameters: 50,307,969 at (512, 64); 786,833 at (128, 8).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/modules.h"

namespace ednn::nets {

struct NetConfig {
  std::string preset = "custom";  // paper, small, tiny or custom
  int L = 128;                    // lattice side, a multiple of 32
  int c0 = 8;                     // base width, even
  bool batch_norm = true;         // false: an Identity at index 1 instead of the BatchNorm (state names
                                  // unchanged otherwise); a step then treats every sample on its own
};

// "paper" (512, 64), "small" (128, 8), "tiny" (64, 4); anything else throws, naming the presets.
NetConfig preset_config(const std::string& name);
const std::vector<std::string>& preset_names();

// The network a state_dict's tensors describe (a file without ednn's metadata, e.g. saved by
// PyTorch): c0 from "0.weight" [c0, 1, 3, 3], batch norm when "1.weight" [c0] is there, and the
// lattice side L given, since no weight's shape depends on it. The preset is the one with this
// (L, c0), else "custom". Throws naming `file` when "0.weight" is missing or not [c0, 1, 3, 3]
// (load_model then checks every other tensor).
NetConfig config_from_shapes(const std::map<std::string, Shape>& shapes, int L, const std::string& file);

// config_from_shapes with L from `preset` (a preset's name, "" for none) or `L` (0 for none), for a
// program given a file without metadata; a preset whose c0 differs from the file's, an L that
// contradicts the preset, or neither given, throws saying so.
NetConfig config_for_state_dict(const std::map<std::string, Shape>& shapes, const std::string& preset, int L,
                                const std::string& file);

// Throws ednn::Error unless L is a positive multiple of 32 and c0 a positive even number.
void validate(const NetConfig& config);

constexpr double kLeakySlope = 0.02;
constexpr int kPoolLevels = 5;

// The network, initialised as PyTorch's defaults from a generator seeded with `seed`.
std::unique_ptr<Sequential> build_ednn(const NetConfig& config, std::uint64_t seed, DType dtype = DType::f32);

struct LayerSummary {
  std::size_t index;
  std::string layer;       // the module's describe()
  Shape output;            // [C, H, W] for a single sample
  std::int64_t parameters; // trainable values
};

// Layer by layer output shapes (computed from the layer parameters, no forward pass) and counts.
std::vector<LayerSummary> summarize(Sequential& net, int L);
// The summary as an aligned table ending with the total parameter count.
std::string summary_table(Sequential& net, const NetConfig& config);

// "50,307,969"
std::string with_commas(std::int64_t n);

}  // namespace ednn::nets
