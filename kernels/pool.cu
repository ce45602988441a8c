// Average pooling and nearest-neighbour upsampling, forward and backward. Images NCHW.
//
// avg_pool2d, window k, stride s, x [N, C, H_in, W_in] -> y [N, C, H_out, W_out]:
//   y[n,c,i,j] = 1/k^2 sum_{p,q < k} x[n,c, i s + p, j s + q]
//   backward:  dx[n,c,h,v] = 1/k^2 sum of dy[n,c,i,j] over the windows (i, j) that contain (h, v),
//              i.e. i s <= h < i s + k, so i from ceil((h - k + 1) / s) to floor(h / s), within [0, H_out).
// upsample_nearest2d, scale s, x [N, C, H, W] -> y [N, C, H s, W s]:
//   y[n,c,i,j] = x[n,c, i / s, j / s]
//   backward:  dx[n,c,h,v] = sum_{p,q < s} dy[n,c, h s + p, v s + q]
// Backward needs only the geometry: neither operation saves anything from its forward pass.
//
// Every kernel is "one thread per output element" in a grid-stride loop (blocks of 256 threads,
// at most 4096 blocks): consecutive threads write consecutive pixels of a row, so stores are
// coalesced, and any size works. The backward passes are written as gathers (each dx element
// sums the dy it receives) rather than scatters (each dy element adds into its window): no
// atomics, no race when windows overlap (k > s), and the result is the same bits on every run.
// Nothing is kept in shared memory: each input is read by at most k^2 / s^2 threads, served by
// the caches.
#include "kernels/pool.h"

#include "core/error.h"
#include "kernels/simt.h"

namespace ednn::kernels {

constexpr int pool_block = 256;
constexpr long pool_max_blocks = 4096;

namespace device {

__global__ void avg_pool2d_forward(const float* __restrict__ x, float* __restrict__ y, PoolGeometry g) {
  const long total = static_cast<long>(g.N) * g.C * g.H_out * g.W_out;
  const float inv = 1.0f / static_cast<float>(g.kernel * g.kernel);
  const long stride = static_cast<long>(blockDim.x) * gridDim.x;
  for (long o = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += stride) {
    const int j = static_cast<int>(o % g.W_out);
    const int i = static_cast<int>((o / g.W_out) % g.H_out);
    const long plane = o / (static_cast<long>(g.W_out) * g.H_out);
    const float* xp = x + plane * g.H_in * g.W_in + static_cast<long>(i * g.stride) * g.W_in + j * g.stride;
    float acc = 0.0f;
    for (int p = 0; p < g.kernel; ++p)
      for (int q = 0; q < g.kernel; ++q) acc += xp[p * g.W_in + q];
    y[o] = acc * inv;
  }
}

__global__ void avg_pool2d_backward(const float* __restrict__ dy, float* __restrict__ dx, PoolGeometry g) {
  const long total = static_cast<long>(g.N) * g.C * g.H_in * g.W_in;
  const float inv = 1.0f / static_cast<float>(g.kernel * g.kernel);
  const long stride = static_cast<long>(blockDim.x) * gridDim.x;
  for (long o = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += stride) {
    const int v = static_cast<int>(o % g.W_in);
    const int h = static_cast<int>((o / g.W_in) % g.H_in);
    const long plane = o / (static_cast<long>(g.W_in) * g.H_in);
    // Windows i with i s <= h <= i s + k - 1 (integer arithmetic on non-negative numbers only).
    const int i_first = h >= g.kernel ? (h - g.kernel) / g.stride + 1 : 0;
    const int i_last = min(h / g.stride, g.H_out - 1);
    const int j_first = v >= g.kernel ? (v - g.kernel) / g.stride + 1 : 0;
    const int j_last = min(v / g.stride, g.W_out - 1);
    const float* dyp = dy + plane * g.H_out * g.W_out;
    float acc = 0.0f;
    for (int i = i_first; i <= i_last; ++i)
      for (int j = j_first; j <= j_last; ++j) acc += dyp[i * g.W_out + j];
    dx[o] = acc * inv;
  }
}

__global__ void upsample_nearest2d_forward(const float* __restrict__ x, float* __restrict__ y, long planes,
                                           int H, int W, int s) {
  const int Ho = H * s, Wo = W * s;
  const long total = planes * Ho * Wo;
  const long stride = static_cast<long>(blockDim.x) * gridDim.x;
  for (long o = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += stride) {
    const int j = static_cast<int>(o % Wo);
    const int i = static_cast<int>((o / Wo) % Ho);
    const long plane = o / (static_cast<long>(Wo) * Ho);
    y[o] = x[plane * H * W + (i / s) * W + j / s];
  }
}

__global__ void upsample_nearest2d_backward(const float* __restrict__ dy, float* __restrict__ dx,
                                            long planes, int H, int W, int s) {
  const int Wo = W * s;
  const long total = planes * H * W;
  const long stride = static_cast<long>(blockDim.x) * gridDim.x;
  for (long o = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += stride) {
    const int v = static_cast<int>(o % W);
    const int h = static_cast<int>((o / W) % H);
    const long plane = o / (static_cast<long>(W) * H);
    const float* dyp = dy + plane * H * s * Wo + static_cast<long>(h * s) * Wo + v * s;
    float acc = 0.0f;
    for (int p = 0; p < s; ++p)
      for (int q = 0; q < s; ++q) acc += dyp[p * Wo + q];
    dx[o] = acc;
  }
}

}  // namespace device

namespace {
unsigned pool_grid(long n) {
  const long blocks = (n + pool_block - 1) / pool_block;
  return static_cast<unsigned>(blocks < pool_max_blocks ? blocks : pool_max_blocks);
}
void check_pool(const char* op, const PoolGeometry& g) {
  EDNN_CHECK(g.N >= 0 && g.C >= 0 && g.kernel >= 1 && g.stride >= 1, op, ": bad geometry N ", g.N, " C ", g.C,
             " kernel ", g.kernel, " stride ", g.stride);
  EDNN_CHECK(g.H_out >= 0 && g.W_out >= 0 && (g.H_out == 0 || (g.H_out - 1) * g.stride + g.kernel <= g.H_in) &&
                 (g.W_out == 0 || (g.W_out - 1) * g.stride + g.kernel <= g.W_in),
             op, ": output ", g.H_out, "x", g.W_out, " does not fit input ", g.H_in, "x", g.W_in, " with kernel ",
             g.kernel, " and stride ", g.stride);
}
}  // namespace

void avg_pool2d_forward(const float* x, float* y, const PoolGeometry& g, simt::Stream stream) {
  check_pool("avg_pool2d_forward", g);
  if (const unsigned grid = pool_grid(static_cast<long>(g.N) * g.C * g.H_out * g.W_out))
    simt::launch(device::avg_pool2d_forward, grid, pool_block, 0, stream, x, y, g);
}

void avg_pool2d_backward(const float* dy, float* dx, const PoolGeometry& g, simt::Stream stream) {
  check_pool("avg_pool2d_backward", g);
  if (const unsigned grid = pool_grid(static_cast<long>(g.N) * g.C * g.H_in * g.W_in))
    simt::launch(device::avg_pool2d_backward, grid, pool_block, 0, stream, dy, dx, g);
}

void upsample_nearest2d_forward(const float* x, float* y, int N, int C, int H, int W, int s, simt::Stream stream) {
  EDNN_CHECK(s >= 1, "upsample_nearest2d_forward: scale ", s, " must be at least 1");
  const long planes = static_cast<long>(N) * C;
  if (const unsigned grid = pool_grid(planes * H * s * W * s))
    simt::launch(device::upsample_nearest2d_forward, grid, pool_block, 0, stream, x, y, planes, H, W, s);
}

void upsample_nearest2d_backward(const float* dy, float* dx, int N, int C, int H, int W, int s,
                                 simt::Stream stream) {
  EDNN_CHECK(s >= 1, "upsample_nearest2d_backward: scale ", s, " must be at least 1");
  const long planes = static_cast<long>(N) * C;
  if (const unsigned grid = pool_grid(planes * H * W))
    simt::launch(device::upsample_nearest2d_backward, grid, pool_block, 0, stream, dy, dx, planes, H, W, s);
}

}  // namespace ednn::kernels
