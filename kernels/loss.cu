// The weighted losses, value and gradient in one pass. prediction p, target y, grad: [n] (the
// whole batch, flattened); value: [1].
//   value   = 1/n sum_i term(p_i, y_i),     term = P m(d),  d = p - y
//   grad_i  = 1/n d term / d p_i            (core/loss_math.h's loss_term returns both)
// The pointwise maths is core/loss_math.h, the very function the CPU loop calls, so the two
// backends cannot drift apart. Backward of the loss is grad itself (times the incoming scalar
// gradient, applied by engine/functional.cpp with the scale kernel on the device).
//
// weighted_loss_partials: a grid-stride loop of G <= 1024 blocks of 256 threads; each thread
//   writes grad_i for its pixels and accumulates their terms; block_sum (warp shuffles, then
//   shared memory across warps) leaves one partial per block in the workspace.
// weighted_loss_finalize: one block of 1024 threads adds the G partials and multiplies by 1/n,
//   writing value[0] on the device. No atomics, so the value is the same bits on every run, and
//   no copy to the host: the training loop reads the value only when it wants to print it.
#include "kernels/loss.h"

#include "kernels/block_reduce.cuh"
#include "kernels/simt.h"

namespace ednn::kernels {

constexpr int loss_block = 256;
constexpr long loss_max_blocks = 1024;
constexpr int loss_final_block = 1024;

namespace device {

__global__ void weighted_loss_partials(const float* __restrict__ prediction, const float* __restrict__ target,
                                       float* __restrict__ grad, long n, LossParams params, float inv_n,
                                       float* __restrict__ partials) {
  float total = 0.0f;
  const long stride = static_cast<long>(blockDim.x) * gridDim.x;
  for (long i = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    float dterm;
    total += loss_term(prediction[i], target[i], params, &dterm);
    grad[i] = dterm * inv_n;
  }
  total = block_sum(total);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

__global__ void weighted_loss_finalize(const float* __restrict__ partials, long count, float inv_n,
                                       float* __restrict__ value) {
  float v = 0.0f;
  for (long i = threadIdx.x; i < count; i += blockDim.x) v += partials[i];
  v = block_sum(v);
  if (threadIdx.x == 0) value[0] = v * inv_n;
}

}  // namespace device

long weighted_loss_workspace_size(long n) {
  EDNN_CHECK(n >= 1, "weighted_loss: needs at least one pixel, got n = ", n);
  const long blocks = (n + loss_block - 1) / loss_block;
  return blocks < loss_max_blocks ? blocks : loss_max_blocks;
}

void weighted_loss(const float* prediction, const float* target, float* grad, long n, const LossParams& params,
                   float* value, float* workspace, simt::Stream stream) {
  const long blocks = weighted_loss_workspace_size(n);
  const float inv_n = 1.0f / static_cast<float>(n);
  simt::launch(device::weighted_loss_partials, static_cast<unsigned>(blocks), loss_block, 0, stream, prediction,
               target, grad, n, params, inv_n, workspace);
  simt::launch(device::weighted_loss_finalize, 1u, loss_final_block, 0, stream, workspace, blocks, inv_n, value);
}

}  // namespace ednn::kernels
