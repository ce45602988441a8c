// Adam over all parameters at once ("multi-tensor apply"). For every parameter value p with
// gradient g and moments m, v (core/adam_math.h, PyTorch semantics):
//   m <- beta1 m + (1 - beta1) g      v <- beta2 v + (1 - beta2) g^2
//   p <- p - lr / (1 - beta1^t) m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// Adam has no backward: it is the end of the training step.
//
// The network has 28 parameter tensors of very different sizes (from 1 bias to 18.9 million
// weights). One launch per tensor would be 28 launches, most of them far too small to fill the
// GPU. Instead one launch has one block per chunk of at most adam_chunk_values values of any
// tensor, and the table of tensors {param, grad, exp_avg, exp_avg_sq, n}, with the first block of
// each, is a kernel argument: `__grid_constant__` lets every block index it where it lies, in the
// constant bank, instead of each thread copying 3 KB of it. Block b finds its tensor by a binary
// search of the first blocks (6 steps for 64 tensors); its 256 threads stride through the chunk,
// coalesced.
//
// Nothing per step travels from the host: the constants of the step (learning rate, bias
// corrections) live on the device in an AdamDeviceState, which a one-thread kernel advances
// before the update. So the launch arguments are the same at every step, and a training step
// captured once in a CUDA graph replays as step t + 1, t + 2, ...
#include "kernels/adam.h"

#include <algorithm>
#include <cmath>

#include "kernels/simt.h"

namespace ednn::kernels {

constexpr int adam_block = 256;

struct AdamLaunchTable {
  int count;
  long first_block[adam_tensors_per_launch + 1];  // tensor t's chunks are blocks [first_block[t], first_block[t + 1])
  AdamTensor tensors[adam_tensors_per_launch];
};
static_assert(sizeof(AdamLaunchTable) + sizeof(void*) <= 4096, "kernel arguments are limited to 4 KB");

namespace device {

__global__ void adam_count_step(AdamDeviceState* state) {
  state->step += 1;
  set_bias_corrections(state->params, state->step);
}

__global__ void adam_step(const __grid_constant__ AdamLaunchTable table, const AdamDeviceState* __restrict__ state) {
  const long b = blockIdx.x;
  int lo = 0, hi = table.count - 1;  // the last tensor whose first block is <= b (empty tensors own no block)
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (table.first_block[mid] <= b) lo = mid;
    else hi = mid - 1;
  }
  const AdamTensor t = table.tensors[lo];
  const long first = (b - table.first_block[lo]) * adam_chunk_values;
  const long n = min(adam_chunk_values, t.n - first);
  const AdamStepParams params = state->params;
  for (long i = threadIdx.x; i < n; i += blockDim.x) {
    float p = t.param[first + i], m = t.exp_avg[first + i], v = t.exp_avg_sq[first + i];
    adam_update(p, t.grad[first + i], m, v, params);
    t.param[first + i] = p;
    t.exp_avg[first + i] = m;
    t.exp_avg_sq[first + i] = v;
  }
}

}  // namespace device

AdamDeviceState adam_device_state(double lr, double beta1, double beta2, double eps, double weight_decay, long step) {
  EDNN_CHECK(step >= 0, "adam: step count ", step, " is negative");
  AdamDeviceState state{{lr, beta1, beta2, eps, weight_decay, 0.0, 0.0}, step};
  if (step > 0) set_bias_corrections(state.params, step);
  return state;
}

void adam_count_step(AdamDeviceState* state, simt::Stream stream) {
  simt::launch(device::adam_count_step, 1, 1, 0, stream, state);
}

void adam_step(const std::vector<AdamTensor>& tensors, const AdamDeviceState* state, simt::Stream stream) {
  for (std::size_t start = 0; start < tensors.size(); start += adam_tensors_per_launch) {
    AdamLaunchTable table{};
    table.count = int(std::min<std::size_t>(adam_tensors_per_launch, tensors.size() - start));
    long blocks = 0;
    for (int k = 0; k < table.count; ++k) {
      const AdamTensor& t = tensors[start + std::size_t(k)];
      EDNN_CHECK(t.n >= 0, "adam: a tensor has ", t.n, " values");
      table.tensors[k] = t;
      table.first_block[k] = blocks;
      blocks += (t.n + adam_chunk_values - 1) / adam_chunk_values;
    }
    table.first_block[table.count] = blocks;
    EDNN_CHECK(blocks <= 0x7fffffffL, "adam: ", blocks, " chunks do not fit one grid");
    if (blocks > 0) simt::launch(device::adam_step, static_cast<unsigned>(blocks), adam_block, 0, stream, table, state);
  }
}

}  // namespace ednn::kernels
