// Adam over all parameters at once ("multi-tensor apply"). For every parameter value p with
// gradient g and moments m, v (engine/adam_math.h, PyTorch semantics):
//   m <- beta1 m + (1 - beta1) g      v <- beta2 v + (1 - beta2) g^2
//   p <- p - lr / (1 - beta1^t) m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// Adam has no backward: it is the end of the training step.
//
// The network has 28 parameter tensors of very different sizes (from 1 bias to 18.9 million
// weights). One launch per tensor would be 28 launches, most of them far too small to fill the
// GPU. Instead the host cuts every tensor into chunks of at most adam_chunk_values values and
// writes the table of chunks {param, grad, exp_avg, exp_avg_sq, n} to the device once; then one
// launch has one block per chunk: block b reads entry b of the table (every thread reads the same
// 40 bytes: a broadcast) and its 256 threads stride through the chunk, coalesced. The per-step
// constants (step size, bias correction) travel by value as kernel arguments, so a step copies
// nothing between host and device.
#include "kernels/adam.h"

#include <cmath>

#include "kernels/simt.h"

namespace ednn::kernels {

constexpr int adam_block = 256;

__global__ void adam_kernel1(const AdamChunk* __restrict__ chunks, AdamStepParams params) {
  const AdamChunk chunk = chunks[blockIdx.x];
  for (long i = threadIdx.x; i < chunk.n; i += blockDim.x) {
    float p = chunk.param[i], m = chunk.exp_avg[i], v = chunk.exp_avg_sq[i];
    adam_update(p, chunk.grad[i], m, v, params);
    chunk.param[i] = p;
    chunk.exp_avg[i] = m;
    chunk.exp_avg_sq[i] = v;
  }
}

std::vector<AdamChunk> adam_chunks(const std::vector<AdamChunk>& tensors) {
  std::vector<AdamChunk> chunks;
  for (const AdamChunk& t : tensors) {
    EDNN_CHECK(t.n >= 0, "adam_chunks: a tensor has ", t.n, " values");
    for (long first = 0; first < t.n; first += adam_chunk_values)
      chunks.push_back({t.param + first, t.grad + first, t.exp_avg + first, t.exp_avg_sq + first,
                        std::min(adam_chunk_values, t.n - first)});
  }
  return chunks;
}

AdamStepParams adam_step_params(double lr, double beta1, double beta2, double eps, double weight_decay, long step) {
  EDNN_CHECK(step >= 1, "adam: step ", step, " must count from 1");
  return {lr, beta1, beta2, eps, weight_decay, lr / (1.0 - std::pow(beta1, double(step))),
          1.0 / std::sqrt(1.0 - std::pow(beta2, double(step)))};
}

void adam_step(const AdamChunk* chunks, long chunk_count, const AdamStepParams& params, simt::Stream stream) {
  EDNN_CHECK(chunk_count >= 0 && chunk_count <= 0x7fffffffL, "adam: ", chunk_count, " chunks do not fit one grid");
  if (chunk_count > 0)
    simt::launch(adam_kernel1, static_cast<unsigned>(chunk_count), adam_block, 0, stream, chunks, params);
}

}  // namespace ednn::kernels
