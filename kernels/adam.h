// Adam over all parameters in one launch (kernels/adam.cu). Plain C++.
#pragma once
#include <vector>

#include "engine/adam_math.h"
#include "kernels/simt_host.h"

namespace ednn::kernels {

// A run of n consecutive values of one parameter tensor and its gradient and moments (device
// pointers). The kernel's grid walks a table of these, one block per chunk.
struct AdamChunk {
  float* param;
  const float* grad;
  float* exp_avg;
  float* exp_avg_sq;
  long n;
};

// Values per chunk: big enough that a block has work (64 per thread), small enough that a large
// tensor spreads over many blocks.
constexpr long adam_chunk_values = 16384;

// The chunk table for a list of whole tensors (each given as one AdamChunk with its full length):
// every tensor cut into pieces of at most adam_chunk_values. Host-side; the caller uploads it once
// and reuses it while the parameters stay where they are.
std::vector<AdamChunk> adam_chunks(const std::vector<AdamChunk>& tensors);

// The per-step constants of engine/adam_math.h for step `step` (counting from 1).
AdamStepParams adam_step_params(double lr, double beta1, double beta2, double eps, double weight_decay, long step);

// One Adam step over every chunk of the device table `chunks` [chunk_count]: one launch.
void adam_step(const AdamChunk* chunks, long chunk_count, const AdamStepParams& params, simt::Stream stream);

}  // namespace ednn::kernels
