// Kernel version 6: convolution by Winograd's minimal filtering, F(2x2, 3x3) (Lavin and Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2016), for 3x3 kernels, stride 1,
// padding 1: forward, and backward-data (which is the same convolution with the kernel rotated
// by 180 degrees and its two channel axes swapped).
//
// Why: a direct (or implicit-GEMM) 3x3 convolution spends 9 multiplications per output per input
// channel. Winograd computes a 2x2 block of outputs from a 4x4 block of inputs with 16
// multiplications instead of 36:
//   Y = A^T [ (G g G^T) (.) (B^T d B) ] A                      ((.) : elementwise)
// with d the 4x4 input tile, g the 3x3 kernel and
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//   A^T = [1 1 1 0; 0 1 -1 -1]
// Summed over input channels c, the 16 products of each position e of the 4x4 grid are 16
// independent matrix products: M[e][k][t] = sum_c U[e][k][c] V[e][c][t], for output channels k
// and output tiles t. So 2.25 times fewer multiplications than the 9 of the direct method; the
// transforms are additions (and halvings) done once per tile and channel, not per product. This
// is how cuDNN's fp32 convolutions exceed the card's float multiply-add peak in "effective"
// FLOP/s (bench/RESULTS.md): no implicit GEMM, however well written, can reach its times.
//
// One block: 32 output channels x 32 output tiles (2x2 pixels each), 256 threads, input channels
// in steps of 8. Each step:
//   1. every thread transforms one (channel, tile) input block, V = B^T d B (16 loads, bounds
//      checked: the zero padding and the edges of odd sizes), and one (channel, output channel)
//      kernel, U = G g G^T (9 loads), into shared memory: V[16][8][32], U[16][8][32]; the loads
//      of the next step are issued before this step's multiply, into registers;
//   2. 16 threads per position e multiply U[e] and V[e] (8 x 8 outputs each: 2 + 2 vector shared
//      loads per 64 multiply-adds; the two positions a warp spans read rows 256 floats apart,
//      the same banks: a 2-way conflict, left for a later version).
// At the end each thread holds M for one position e, but an output tile needs all 16: the block
// writes M into shared memory (in two halves of 16 output channels, to fit the same 32 KiB) and
// each thread then computes A^T M A for two (output channel, tile) pairs, adds the bias, applies
// the epilogue and stores the 2x2 outputs.
//
// Accuracy: the transforms add and subtract up to four inputs, so the rounding error grows a
// little over the direct sum's (within the float tolerance the tests hold every version to:
// F(2x2, 3x3) is the most accurate Winograd variant; larger tiles, F(4x4, 3x3), lose more).
#include "kernels/conv2d_winograd.h"

#include "kernels/simt.h"

namespace ednn::kernels {

namespace {

constexpr int wino_threads = 256;
constexpr int wino_k = 32;      // output channels per block
constexpr int wino_tiles = 32;  // output tiles (2x2 pixels) per block
constexpr int wino_c = 8;       // input channels per step

// The convolution as the kernel sees it: x [N, C, H, W] (stored at 1 / 2^x_shift of its size:
// a fused nearest upsampling), y [N, K, H, W], a 3x3 kernel, stride 1, padding 1.
struct WinogradDims {
  int N, C, K, H, W;
  int x_shift;
  int tiles_h, tiles_w;  // ceil(H / 2), ceil(W / 2)
  long tiles;            // N tiles_h tiles_w
};

// The 3x3 kernel of (output channel k, input channel c). Forward: w [K, C, 3, 3]. Backward-data
// (TRANSPOSED): w is the forward weight [C, K, 3, 3] of the convolution whose dx this is, read
// rotated by 180 degrees: w'[k][c][p][q] = w[c][k][2 - p][2 - q].
template <bool TRANSPOSED>
__device__ __forceinline__ void load_kernel(const float* __restrict__ w, const WinogradDims& d, int k, int c,
                                            float (&g)[3][3]) {
  const float* base = TRANSPOSED ? w + (long(c) * d.K + k) * 9 : w + (long(k) * d.C + c) * 9;
  #pragma unroll
  for (int p = 0; p < 3; ++p)
    #pragma unroll
    for (int q = 0; q < 3; ++q) g[p][q] = TRANSPOSED ? base[(2 - p) * 3 + (2 - q)] : base[p * 3 + q];
}

// U = G g G^T, 4x4.
__device__ __forceinline__ void transform_kernel(const float (&g)[3][3], float (&u)[4][4]) {
  float gg[4][3];  // G g
  #pragma unroll
  for (int q = 0; q < 3; ++q) {
    gg[0][q] = g[0][q];
    gg[1][q] = 0.5f * (g[0][q] + g[1][q] + g[2][q]);
    gg[2][q] = 0.5f * (g[0][q] - g[1][q] + g[2][q]);
    gg[3][q] = g[2][q];
  }
  #pragma unroll
  for (int r = 0; r < 4; ++r) {  // (G g) G^T
    u[r][0] = gg[r][0];
    u[r][1] = 0.5f * (gg[r][0] + gg[r][1] + gg[r][2]);
    u[r][2] = 0.5f * (gg[r][0] - gg[r][1] + gg[r][2]);
    u[r][3] = gg[r][2];
  }
}

// V = B^T d B, 4x4.
__device__ __forceinline__ void transform_input(const float (&in)[4][4], float (&v)[4][4]) {
  float bd[4][4];  // B^T d
  #pragma unroll
  for (int q = 0; q < 4; ++q) {
    bd[0][q] = in[0][q] - in[2][q];
    bd[1][q] = in[1][q] + in[2][q];
    bd[2][q] = in[2][q] - in[1][q];
    bd[3][q] = in[1][q] - in[3][q];
  }
  #pragma unroll
  for (int r = 0; r < 4; ++r) {  // (B^T d) B
    v[r][0] = bd[r][0] - bd[r][2];
    v[r][1] = bd[r][1] + bd[r][2];
    v[r][2] = bd[r][2] - bd[r][1];
    v[r][3] = bd[r][1] - bd[r][3];
  }
}

// Y = A^T m A, 2x2.
__device__ __forceinline__ void transform_output(const float (&m)[4][4], float (&y)[2][2]) {
  float am[2][4];  // A^T m
  #pragma unroll
  for (int q = 0; q < 4; ++q) {
    am[0][q] = m[0][q] + m[1][q] + m[2][q];
    am[1][q] = m[1][q] - m[2][q] - m[3][q];
  }
  #pragma unroll
  for (int r = 0; r < 2; ++r) {
    y[r][0] = am[r][0] + am[r][1] + am[r][2];
    y[r][1] = am[r][1] - am[r][2] - am[r][3];
  }
}

// Output tile t of the whole convolution: image n and the tile's top-left pixel (i0, j0).
struct TilePosition {
  int n, i0, j0;
};
__device__ __forceinline__ TilePosition tile_position(long t, const WinogradDims& d) {
  const long per_image = long(d.tiles_h) * d.tiles_w;
  const int n = int(t / per_image), r = int(t % per_image);
  return {n, 2 * (r / d.tiles_w), 2 * (r % d.tiles_w)};
}

template <bool TRANSPOSED>
__global__ void __launch_bounds__(wino_threads) conv2d_winograd_kernel(const float* __restrict__ x,
                                                                        const float* __restrict__ w,
                                                                        const float* __restrict__ bias,
                                                                        float* __restrict__ y, WinogradDims d,
                                                                        ConvEpilogue epilogue) {
  // Steps: U [16][wino_c][wino_k] then V [16][wino_c][wino_tiles]. After the last step the same
  // memory holds half of M at a time: [16][wino_k / 2][wino_tiles].
  __shared__ __align__(16) float smem[2 * 16 * wino_c * 32];
  float* const U = smem;
  float* const V = smem + 16 * wino_c * wino_k;
  static_assert(wino_k == 32 && wino_tiles == 32 && wino_threads == 256 && wino_c * 32 == wino_threads,
                "the thread layout below assumes these sizes");

  const int tid = threadIdx.x;
  const int k0 = blockIdx.y * wino_k;
  const long t0 = long(blockIdx.x) * wino_tiles;

  // The multiply's layout: 16 threads per position e, each 8 output channels x 8 tiles.
  const int e = tid / 16, k_run = (tid % 16) / 4 * 8, t_run = tid % 4 * 8;
  float acc[8][8];
  #pragma unroll
  for (int a = 0; a < 8; ++a)
    #pragma unroll
    for (int b = 0; b < 8; ++b) acc[a][b] = 0.0f;

  // The transforms' layout: one (channel, tile) input block and one (channel, output channel)
  // kernel per thread.
  const int c_in_step = tid / 32, lane_index = tid % 32;
  const long my_tile = t0 + lane_index;
  const TilePosition pos = tile_position(my_tile < d.tiles ? my_tile : 0, d);
  const int stored_h = d.H >> d.x_shift, stored_w = d.W >> d.x_shift;
  const float* x_image = x + long(pos.n) * d.C * stored_h * stored_w;

  // A step's global loads go to registers first: the next step's are issued before this step's
  // multiply, so their latency hides behind it (one block's loads in flight while it computes).
  // The input block's place in a channel plane is the same at every step: its rows' and
  // columns' offsets, and which of its 16 pixels lie inside the image, are computed once.
  int row_offset[4], col_offset[4];
  bool row_in[4], col_in[4];
  #pragma unroll
  for (int r = 0; r < 4; ++r) {
    const int i = pos.i0 - 1 + r, j = pos.j0 - 1 + r;
    row_in[r] = i >= 0 && i < d.H;
    col_in[r] = j >= 0 && j < d.W;
    row_offset[r] = row_in[r] ? (i >> d.x_shift) * stored_w : 0;
    col_offset[r] = col_in[r] ? j >> d.x_shift : 0;
  }
  unsigned inside = 0;  // bit 4 r + s: pixel (r, s) of the block is in the image
  #pragma unroll
  for (int r = 0; r < 4; ++r)
    #pragma unroll
    for (int q = 0; q < 4; ++q)
      if (my_tile < d.tiles && row_in[r] && col_in[q]) inside |= 1u << (4 * r + q);

  float in[4][4], g[3][3];
  const int k_mine = k0 + lane_index;
  auto load_step = [&](int c0) {
    const int c = c0 + c_in_step;
    const float* plane = x_image + long(c) * stored_h * stored_w;
    #pragma unroll
    for (int r = 0; r < 4; ++r)
      #pragma unroll
      for (int s = 0; s < 4; ++s)  // the input block of (c, my_tile); zero outside the image
        in[r][s] = c < d.C && (inside >> (4 * r + s) & 1u) ? plane[row_offset[r] + col_offset[s]] : 0.0f;
    if (c < d.C && k_mine < d.K) load_kernel<TRANSPOSED>(w, d, k_mine, c, g);  // (k0 + lane_index, c)
    else
      #pragma unroll
      for (int p = 0; p < 3; ++p)
        #pragma unroll
        for (int q = 0; q < 3; ++q) g[p][q] = 0.0f;
  };

  load_step(0);
  for (int c0 = 0; c0 < d.C; c0 += wino_c) {
    float v[4][4], u[4][4];
    transform_input(in, v);   // V = B^T d B
    transform_kernel(g, u);   // U = G g G^T
    #pragma unroll
    for (int r = 0; r < 4; ++r)
      #pragma unroll
      for (int s = 0; s < 4; ++s) {
        V[((r * 4 + s) * wino_c + c_in_step) * wino_tiles + lane_index] = v[r][s];
        U[((r * 4 + s) * wino_c + c_in_step) * wino_k + lane_index] = u[r][s];
      }
    __syncthreads();
    if (c0 + wino_c < d.C) load_step(c0 + wino_c);  // the same for the whole block
    #pragma unroll
    for (int cc = 0; cc < wino_c; ++cc) {
      // 8 neighbouring floats at a multiple of 8 from an aligned array: nvcc reads each run as
      // two ld.shared.v4.
      const float* u_row = U + (e * wino_c + cc) * wino_k + k_run;
      const float* v_row = V + (e * wino_c + cc) * wino_tiles + t_run;
      float uk[8], vt[8];
      #pragma unroll
      for (int a = 0; a < 8; ++a) uk[a] = u_row[a], vt[a] = v_row[a];
      #pragma unroll
      for (int a = 0; a < 8; ++a)
        #pragma unroll
        for (int b = 0; b < 8; ++b) acc[a][b] = fmaf(uk[a], vt[b], acc[a][b]);
    }
    __syncthreads();
  }

  // M to shared memory, half the output channels at a time, then Y = A^T M A per (k, tile).
  float* const M = smem;  // [16][wino_k / 2][wino_tiles]
  constexpr int half = wino_k / 2;
  #pragma unroll
  for (int h = 0; h < 2; ++h) {
    if (k_run / half == h) {
      #pragma unroll
      for (int a = 0; a < 8; ++a)
        #pragma unroll
        for (int b = 0; b < 8; ++b) M[(e * half + k_run % half + a) * wino_tiles + t_run + b] = acc[a][b];
    }
    __syncthreads();
    for (int pair = tid; pair < half * wino_tiles; pair += wino_threads) {
      const int k_local = pair / wino_tiles, t_local = pair % wino_tiles;
      const int k = k0 + h * half + k_local;
      const long t = t0 + t_local;
      if (k < d.K && t < d.tiles) {
        float m[4][4];
        #pragma unroll
        for (int r = 0; r < 4; ++r)
          #pragma unroll
          for (int s = 0; s < 4; ++s) m[r][s] = M[((r * 4 + s) * half + k_local) * wino_tiles + t_local];
        float out[2][2];
        transform_output(m, out);
        const TilePosition p = tile_position(t, d);
        const float b = bias ? bias[k] : 0.0f;
        float* y_plane = y + (long(p.n) * d.K + k) * d.H * d.W;
        #pragma unroll
        for (int r = 0; r < 2; ++r)
          #pragma unroll
          for (int s = 0; s < 2; ++s) {
            const int i = p.i0 + r, j = p.j0 + s;
            if (i < d.H && j < d.W) {
              const float v = out[r][s] + b;
              y_plane[long(i) * d.W + j] =
                  epilogue.activation == ConvActivation::leaky_relu && v < 0.0f ? epilogue.slope * v : v;
            }
          }
      }
    }
    __syncthreads();
  }
}

WinogradDims winograd_dims(int N, int C, int K, int H, int W, int x_shift) {
  WinogradDims d{N, C, K, H, W, x_shift, (H + 1) / 2, (W + 1) / 2, 0};
  d.tiles = long(N) * d.tiles_h * d.tiles_w;
  return d;
}

template <bool TRANSPOSED>
void launch(const float* x, const float* w, const float* bias, float* y, const WinogradDims& d, simt::Stream stream,
            ConvEpilogue epilogue) {
  const long tile_blocks = (d.tiles + wino_tiles - 1) / wino_tiles, k_blocks = (d.K + wino_k - 1) / wino_k;
  EDNN_CHECK(tile_blocks <= 0x7fffffffL && k_blocks <= 65535, "conv2d (Winograd): ", tile_blocks, " x ", k_blocks,
             " blocks do not fit a grid");
  simt::launch(conv2d_winograd_kernel<TRANSPOSED>, dim3(unsigned(tile_blocks), unsigned(k_blocks)), wino_threads, 0,
               stream, x, w, bias, y, d, epilogue);
}

}  // namespace

bool winograd_applies(const ConvGeometry& g) {
  return g.kH == 3 && g.kW == 3 && g.stride == 1 && g.pad == 1 && g.H_out == g.H_in && g.W_out == g.W_in;
}

void conv2d_forward_winograd(const float* x, const float* w, const float* bias, float* y, const ConvGeometry& g,
                             simt::Stream stream, ConvEpilogue epilogue) {
  EDNN_CHECK(winograd_applies(g), "conv2d_forward (Winograd): needs a 3x3 kernel, stride 1, padding 1");
  launch<false>(x, w, bias, y, winograd_dims(g.N, g.C_in, g.C_out, g.H_in, g.W_in, 0), stream, epilogue);
}

void conv2d_backward_data_winograd(const float* dy, const float* w, float* dx, const ConvGeometry& g,
                                   simt::Stream stream, const float* bias, ConvEpilogue epilogue, int dy_shift) {
  EDNN_CHECK(winograd_applies(g), "conv2d_backward_data (Winograd): needs a 3x3 kernel, stride 1, padding 1");
  // dx = conv(dy, w rotated, channels swapped): input channels C_out, output channels C_in.
  launch<true>(dy, w, bias, dx, winograd_dims(g.N, g.C_out, g.C_in, g.H_out, g.W_out, dy_shift), stream, epilogue);
}

}  // namespace ednn::kernels
