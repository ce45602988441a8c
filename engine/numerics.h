// The choices that change a run's arithmetic, made once by the program and recorded with what it
// writes (checkpoint metadata, the run header, timing.json):
//   - which convolution algorithm the CUDA backend runs (the tour's versions of kernels/README.md);
//   - whether the CUDA convolutions may use the tensor cores with TF32 inputs;
//   - whether Sequential fuses a convolution with the activation (and upsampling) around it.
// The CPU backend computes in float whatever is chosen here, and fusion changes no value, only
// which kernels run; the algorithm and TF32 change the rounding of every product.
//
// The programs set them from their command line (apps/numerics_options.h: --conv-algo, --tf32,
// --no-fusion) before any work; the engine reads no environment variable for them, so a run's
// numerics are what its command line and its checkpoint say.
#pragma once
#include <string>
#include <vector>

namespace ednn {

// The convolution algorithms, valued by their number in the tour (kernels/README.md), which is
// also kernels/conv2d.h's `version` argument. This enum is the one list of valid versions.
enum class ConvAlgo : int {
  automatic = 0,    // the float kernels' own choice by shape; version 4 when TF32 is allowed
  tiled = 2,        // 64 x 64 shared-memory tiles, 4 x 4 outputs a thread
  large_tiles = 3,  // 128 x 128 tiles, 8 x 8 outputs a thread
  tf32 = 4,         // the tensor cores with TF32 inputs (products rounded to 10 mantissa bits)
  tf32x3 = 5,       // the tensor cores at float accuracy (three TF32 products each)
  winograd = 6,     // Winograd F(2x2, 3x3) and F(4x4, 3x3) in float (kernels/conv2d_winograd.cu)
  winograd_2 = 7,   // the same, compiled for two blocks per SM
};

// Every valid algorithm, in the tour's order.
const std::vector<ConvAlgo>& conv_algos();
// "auto", "tiled", "large-tiles", "tf32", "3xtf32", "winograd", "winograd-2".
const char* conv_algo_name(ConvAlgo algo);
// A name above or its number ("3"); anything else is an error that lists the valid ones.
ConvAlgo parse_conv_algo(const std::string& text);

struct Numerics {
  ConvAlgo conv_algo = ConvAlgo::automatic;
  bool tf32 = false;    // CUDA convolutions may round their inputs to TF32 (PyTorch's allow_tf32)
  bool fusion = true;   // Sequential fuses what it can (engine/modules.h)

  // The kernel version the CUDA backend runs: the algorithm's number, or for `automatic` 4 when
  // TF32 is allowed and 0 (the float kernels' choice) otherwise.
  int conv_version() const;
  // One line for run headers, e.g. "conv auto (float32), fusion on".
  std::string describe() const;
  bool operator==(const Numerics&) const = default;
};

// The process's numerics (the defaults above until set).
Numerics numerics();
void set_numerics(const Numerics& n);

// Shorthands that change one field (tests, benchmarks).
bool allow_tf32();
void set_allow_tf32(bool allow);
int conv_kernel_version();                // numerics().conv_version()
void set_conv_kernel_version(int version);  // by number; an error for a number that is no algorithm

}  // namespace ednn
