// The second pass of split-K (split_k.h): the slices' partial sums added in order,
//   out[e] = sum_{z < S} partials[z count + e],
// one thread per element in a grid-stride loop, z in order, so the result is the same bits on
// every run. conv2d_dispatch.cu runs it after backward-weight's slices (implicit GEMM or Winograd).
#include <algorithm>

#include "kernels/simt.h"
#include "kernels/split_k.h"

namespace ednn::kernels {

constexpr int reduce_block = 256;
constexpr long reduce_max_blocks = 4096;

namespace device {

__global__ void split_k_reduce(const float* __restrict__ partials, float* __restrict__ out, long count, int slices) {
  const long stride = long(blockDim.x) * gridDim.x;
  for (long e = long(blockIdx.x) * blockDim.x + threadIdx.x; e < count; e += stride) {
    float sum = 0.0f;
    for (int z = 0; z < slices; ++z) sum += partials[z * count + e];
    out[e] = sum;
  }
}

}  // namespace device

void split_k_reduce(const float* partials, int slices, long count, float* out, simt::Stream stream) {
  const long blocks = std::min<long>((count + reduce_block - 1) / reduce_block, reduce_max_blocks);
  simt::launch(device::split_k_reduce, static_cast<unsigned>(blocks), reduce_block, 0, stream, partials, out, count,
               slices);
}

}  // namespace ednn::kernels
