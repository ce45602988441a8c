// Kernel version 6: convolution by Winograd's minimal filtering (Lavin and Gray, "Fast Algorithms
// for Convolutional Neural Networks", 2016), for 3x3 kernels, stride 1, padding 1: forward and
// backward-data by F(2x2, 3x3), backward-weight by F(3x3, 2x2).
//
// Why: a direct (or implicit-GEMM) 3x3 convolution spends 9 multiplications per output per input
// channel. F(2x2, 3x3) computes a 2x2 block of outputs from a 4x4 block of inputs d and the
// kernel g with 16 multiplications instead of 36:
//   Y = A^T [ (G g G^T) (.) (B^T d B) ] A                      ((.) : elementwise)
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//   A^T = [1 1 1 0; 0 1 -1 -1]
// Summed over input channels c, the 16 products of each position e of the 4x4 grid are 16
// independent matrix products: M[e][k][t] = sum_c U[e][k][c] V[e][c][t], for output channels k
// and output tiles t. So 2.25 times fewer multiplications than the 9 of the direct method; the
// transforms are additions (and halvings) done once per tile and channel, not per product. This
// is how cuDNN's fp32 convolutions exceed the card's float multiply-add peak in "effective"
// FLOP/s (bench/RESULTS.md): no implicit GEMM, however well written, can reach its times.
//
// Backward-data is the forward convolution of dy with the kernel rotated by 180 degrees and its
// two channel axes swapped (read so, TRANSPOSED). Backward-weight is F(3x3, 2x2), the same
// algorithm with the roles of A and G exchanged (the "transposition principle"): the 3x3 weight
// gradient of one 2x2 tile of dy, f, against the 4x4 block of x around it is
//   dW_tile = G^T [ (A f A^T) (.) (B^T d B) ] G,
// and summed over tiles t (every image, every tile) it is again 16 matrix products,
// M[e][k][c] = sum_t U[e][k][t] V[e][c][t], transformed once at the end.
//
// The kernel's transform U = G g G^T does not depend on the image: forward and backward-data
// first transform every 3x3 kernel once (winograd_transform_weights, into the caller's
// workspace), laid out as the main kernel's shared tile of one step, so a block copies each step's
// U with four 128-bit loads per thread, coalesced, instead of gathering and transforming 9
// scattered floats of each kernel again in every block of 32 tiles (128 times for a 32 x 32
// layer of a batch of 16, 32,768 times at 512 x 512).
//
// One block, every main kernel here: a 32 x 32 piece of the 16 products M[e], 256 threads, the
// sum in steps of 8 (input channels, or tiles for backward-weight). Each step:
//   1. the step's operands go into shared memory, U[16][8][32] and V[16][8][32]: every thread
//      transforms one input block (and for backward-weight one dy tile), and copies its part of
//      the pre-transformed kernels (cp.async, into one of two buffers of U); the global loads of
//      the next step are issued before this step's multiply, so their latency hides behind it;
//   2. 16 threads per position e multiply U[e] and V[e] (8 x 8 outputs each: 2 + 2 vector shared
//      loads per 64 multiply-adds). The two positions a warp spans read rows 256 floats apart,
//      the same banks, but from different quarter-warps, which a 128-bit shared read serves one
//      after the other: no conflict. Within a quarter-warp the 4 column runs are 32 bytes apart.
// At the end each thread holds M for one position e, but the output transform needs all 16: the
// block writes M into shared memory (in two halves, to fit in 32 KiB) and each thread
// transforms two (row, column) pairs and stores the result.
//
// Accuracy: the transforms add and subtract up to four inputs, so the rounding error grows a
// little over the direct sum's (within the float tolerance the tests hold every version to:
// these are the most accurate Winograd variants; larger tiles, F(4x4, 3x3), lose more).
#include "kernels/conv2d_winograd.h"

#include "kernels/conv_epilogue.cuh"
#include "kernels/nested_index.cuh"
#include "kernels/simt.h"

namespace ednn::kernels {

namespace {

constexpr int wino_threads = 256;
constexpr int wino_rows = 32;  // rows of M per block: output channels
constexpr int wino_cols = 32;  // columns of M per block: output tiles (forward), input channels (weight gradient)
constexpr int wino_step = 8;   // terms of the sum per step: input channels (forward), tiles (weight gradient)
constexpr int wino_chunk = 16 * wino_step * 32;  // floats of one operand of a step, U or V [16][wino_step][32]
constexpr int wino_shared = 2 * wino_chunk;      // floats: U and V of a step, or half of M at the end
static_assert(wino_rows == 32 && wino_cols == 32 && wino_threads == 256 && wino_step * 32 == wino_threads,
              "the thread layouts below assume these sizes");

// The convolution as the kernels see it: x [N, C, H, W], y (or dy) [N, K, H, W], a 3x3 kernel,
// stride 1, padding 1. x_shift and y_shift: x (forward) or dy (weight gradient) is stored at
// 1 / 2^shift of its size, a fused nearest upsampling.
struct WinogradDims {
  int N, C, K, H, W;
  int x_shift, y_shift;
  int tiles_h, tiles_w;  // ceil(H / 2), ceil(W / 2)
  long tiles;            // N tiles_h tiles_w
};

// ---- the transforms --------------------------------------------------------------------------

// U = G g G^T, 4x4: the kernel's side of F(2x2, 3x3).
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

// V = B^T d B, 4x4: the input's side of both algorithms.
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

// Y = A^T m A, 2x2: F(2x2, 3x3)'s output.
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

// U = A f A^T, 4x4, with A = [1 0; 1 1; 1 -1; 0 -1]: the dy tile's side of F(3x3, 2x2).
__device__ __forceinline__ void transform_gradient(const float (&f)[2][2], float (&u)[4][4]) {
  float af[4][2];  // A f
  #pragma unroll
  for (int q = 0; q < 2; ++q) {
    af[0][q] = f[0][q];
    af[1][q] = f[0][q] + f[1][q];
    af[2][q] = f[0][q] - f[1][q];
    af[3][q] = -f[1][q];
  }
  #pragma unroll
  for (int r = 0; r < 4; ++r) {  // (A f) A^T
    u[r][0] = af[r][0];
    u[r][1] = af[r][0] + af[r][1];
    u[r][2] = af[r][0] - af[r][1];
    u[r][3] = -af[r][1];
  }
}

// dW = G^T m G, 3x3: F(3x3, 2x2)'s output.
__device__ __forceinline__ void transform_weight_gradient(const float (&m)[4][4], float (&dw)[3][3]) {
  float gm[3][4];  // G^T m
  #pragma unroll
  for (int q = 0; q < 4; ++q) {
    gm[0][q] = m[0][q] + 0.5f * (m[1][q] + m[2][q]);
    gm[1][q] = 0.5f * (m[1][q] - m[2][q]);
    gm[2][q] = 0.5f * (m[1][q] + m[2][q]) + m[3][q];
  }
  #pragma unroll
  for (int r = 0; r < 3; ++r) {  // (G^T m) G
    dw[r][0] = gm[r][0] + 0.5f * (gm[r][1] + gm[r][2]);
    dw[r][1] = 0.5f * (gm[r][1] - gm[r][2]);
    dw[r][2] = 0.5f * (gm[r][1] + gm[r][2]) + gm[r][3];
  }
}

// ---- the pieces every kernel shares ----------------------------------------------------------

// Output tile t: image n and the tile's top-left pixel (i0, j0).
struct TilePosition {
  int n, i0, j0;
};
__device__ __forceinline__ TilePosition tile_position(long t, const WinogradDims& d) {
  const long per_image = long(d.tiles_h) * d.tiles_w;
  const int n = int(t / per_image), r = int(t % per_image);
  return {n, 2 * (r / d.tiles_w), 2 * (r % d.tiles_w)};
}

// A size x size block of a channel plane with top-left pixel (i0, j0) of an H x W image stored
// at 1 / 2^shift of its size: the offsets of its rows and columns in the stored plane, and which
// of its pixels lie in the image (the rest read as zero: the padding, and the edges of odd sizes).
template <int size>
struct PlaneBlock {
  int row_offset[size], col_offset[size];
  unsigned inside = 0;  // bit size r + s: pixel (r, s) is in the image

  __device__ PlaneBlock(int i0, int j0, int H, int W, int shift, bool valid) {
    const int stored_w = W >> shift;
    bool row_in[size], col_in[size];
    #pragma unroll
    for (int r = 0; r < size; ++r) {
      const int i = i0 + r, j = j0 + r;
      row_in[r] = i >= 0 && i < H;
      col_in[r] = j >= 0 && j < W;
      row_offset[r] = row_in[r] ? (i >> shift) * stored_w : 0;
      col_offset[r] = col_in[r] ? j >> shift : 0;
    }
    #pragma unroll
    for (int r = 0; r < size; ++r)
      #pragma unroll
      for (int s = 0; s < size; ++s)
        if (valid && row_in[r] && col_in[s]) inside |= 1u << (size * r + s);
  }

  __device__ void load(const float* __restrict__ plane, bool valid, float (&out)[size][size]) const {
    #pragma unroll
    for (int r = 0; r < size; ++r)
      #pragma unroll
      for (int s = 0; s < size; ++s)
        out[r][s] = valid && (inside >> (size * r + s) & 1u) ? plane[row_offset[r] + col_offset[s]] : 0.0f;
  }
};

// U and V are [16][wino_step][32] in shared memory, each row `stride` floats apart: 32, or 36 in
// the weight gradient, whose threads write them in an order that would otherwise put 8 threads of
// a warp in one bank (see there). Rows stay 16-byte aligned for the multiply's vector reads.
constexpr int packed_stride = 32, padded_stride = 36;

// Writes a transformed block into U or V at (step row, column).
template <int stride>
__device__ __forceinline__ void store_transformed(float* __restrict__ operand, int step_row, int column,
                                                  const float (&t)[4][4]) {
  #pragma unroll
  for (int r = 0; r < 4; ++r)
    #pragma unroll
    for (int s = 0; s < 4; ++s) operand[((r * 4 + s) * wino_step + step_row) * stride + column] = t[r][s];
}

// The multiply's layout: 16 threads per position e, each 8 rows (of U) x 8 columns (of V) of M[e].
struct MultiplyRole {
  int e, row_run, col_run;
  __device__ explicit MultiplyRole(int tid) : e(tid / 16), row_run((tid % 16) / 4 * 8), col_run(tid % 4 * 8) {}
};

// acc += U[e] V[e] over the step's wino_step terms, the loop over them unrolled `unroll` times
// (wino_step: all of it, so the compiler can issue the shared reads of later terms early, which
// takes registers; 1: one term at a time, which keeps the count down).
template <int stride, int unroll = wino_step>
__device__ __forceinline__ void multiply_step(const float* __restrict__ U, const float* __restrict__ V,
                                              float (&acc)[8][8], const MultiplyRole& role) {
  #pragma unroll unroll
  for (int kk = 0; kk < wino_step; ++kk) {
    // 8 neighbouring floats at a multiple of 8 from an aligned array: two float4 reads each
    // (nvcc would merge eight float reads into the same two ld.shared.v4; written out, the CPU
    // emulation's counters see the reads the GPU makes).
    const float4* u_row = reinterpret_cast<const float4*>(U + (role.e * wino_step + kk) * stride + role.row_run);
    const float4* v_row = reinterpret_cast<const float4*>(V + (role.e * wino_step + kk) * stride + role.col_run);
    const float4 u4[2] = {u_row[0], u_row[1]}, v4[2] = {v_row[0], v_row[1]};
    const float u[8] = {u4[0].x, u4[0].y, u4[0].z, u4[0].w, u4[1].x, u4[1].y, u4[1].z, u4[1].w};
    const float v[8] = {v4[0].x, v4[0].y, v4[0].z, v4[0].w, v4[1].x, v4[1].y, v4[1].z, v4[1].w};
    #pragma unroll
    for (int a = 0; a < 8; ++a)
      #pragma unroll
      for (int b = 0; b < 8; ++b) acc[a][b] = fmaf(u[a], v[b], acc[a][b]);
  }
}

// The main loop of every kernel here: the sum over [begin, end) in steps of wino_step, step
// number i = 0, 1, ... Step i puts its operands into shared memory with store_step(i) (from what
// load_step(s, i) started: loads into registers, or copies), then, while step i + 1's loads are
// in flight, multiplies U[e] V[e] into acc, U from u_of(i): the forward kernel's U alternates
// between two buffers, because its copies land straight in shared memory.
template <int stride, int unroll, class Index, class Load, class Store, class UOf>
__device__ __forceinline__ void sum_steps(Index begin, Index end, const float* V, float (&acc)[8][8],
                                          const MultiplyRole& role, Load&& load_step, Store&& store_step,
                                          UOf&& u_of) {
  if (begin < end) load_step(begin, 0);
  int i = 0;
  for (Index s = begin; s < end; s += wino_step, ++i) {
    store_step(i);
    __syncthreads();
    if (s + wino_step < end) load_step(s + wino_step, i + 1);  // the same for the whole block
    multiply_step<stride, unroll>(u_of(i), V, acc, role);
    __syncthreads();
  }
}

// Gathers the 16 positions of each (row, column) of the block's M through shared memory, half the
// rows at a time, and calls output(row, column, m[4][4]) for every pair, two per thread.
template <class Output>
__device__ __forceinline__ void for_each_output(const float (&acc)[8][8], float* __restrict__ smem,
                                                const MultiplyRole& role, Output&& output) {
  constexpr int half = wino_rows / 2;
  #pragma unroll
  for (int h = 0; h < 2; ++h) {
    if (role.row_run / half == h) {
      #pragma unroll
      for (int a = 0; a < 8; ++a)
        #pragma unroll
        for (int b = 0; b < 8; ++b)
          smem[(role.e * half + role.row_run % half + a) * wino_cols + role.col_run + b] = acc[a][b];
    }
    __syncthreads();
    for (int pair = threadIdx.x; pair < half * wino_cols; pair += wino_threads) {
      const int row = pair / wino_cols, column = pair % wino_cols;
      float m[4][4];
      #pragma unroll
      for (int r = 0; r < 4; ++r)
        #pragma unroll
        for (int s = 0; s < 4; ++s) m[r][s] = smem[((r * 4 + s) * half + row) * wino_cols + column];
      output(h * half + row, column, m);
    }
    __syncthreads();
  }
}

__device__ __forceinline__ void zero(float (&acc)[8][8]) {
  #pragma unroll
  for (int a = 0; a < 8; ++a)
    #pragma unroll
    for (int b = 0; b < 8; ++b) acc[a][b] = 0.0f;
}

// ---- forward and backward-data: F(2x2, 3x3) --------------------------------------------------

// The 3x3 kernel of (output channel k, input channel c). Forward: w [K, C, 3, 3]. Backward-data
// (TRANSPOSED): w is the forward weight [C, K, 3, 3] of the convolution whose dx this is, read
// rotated by 180 degrees: w'[k][c][p][q] = w[c][k][2 - p][2 - q].
template <bool TRANSPOSED>
__device__ __forceinline__ void load_kernel(const float* __restrict__ w, const WinogradDims& d, int k, int c,
                                            bool valid, float (&g)[3][3]) {
  #pragma unroll
  for (int p = 0; p < 3; ++p)
    #pragma unroll
    for (int q = 0; q < 3; ++q) g[p][q] = 0.0f;
  if (!valid) return;
  const float* base = TRANSPOSED ? w + (long(c) * d.K + k) * 9 : w + (long(k) * d.C + c) * 9;
  #pragma unroll
  for (int p = 0; p < 3; ++p)
    #pragma unroll
    for (int q = 0; q < 3; ++q) g[p][q] = TRANSPOSED ? base[(2 - p) * 3 + (2 - q)] : base[p * 3 + q];
}

namespace device {

// The transformed kernels U = G g G^T of every (output channel k, input channel c), in the order
// the main kernel's steps read them: chunk (k block, c step) = k_block c_steps + c_step holds the
// U[16][wino_step][32] of output channels [32 k_block, + 32) and input channels
// [8 c_step, + 8), at ((e wino_step + c % 8) 32 + k % 32); zero past K and C. Block z = chunk,
// thread (c % 8, k % 32): the main kernel's own thread layout.
template <bool TRANSPOSED>
__global__ void __launch_bounds__(wino_threads) winograd_transform_weights(const float* __restrict__ w,
                                                                            float* __restrict__ transformed,
                                                                            WinogradDims d, int c_steps) {
  const int chunk = blockIdx.x, step_row = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int k = chunk / c_steps * wino_rows + lane, c = chunk % c_steps * wino_step + step_row;
  float g[3][3], u[4][4];
  load_kernel<TRANSPOSED>(w, d, k, c, k < d.K && c < d.C, g);
  transform_kernel(g, u);
  store_transformed<packed_stride>(transformed + long(chunk) * wino_chunk, step_row, lane, u);
}

// Block (blockIdx.x, blockIdx.y): output tiles [32 blockIdx.x, + 32) x output channels
// [32 blockIdx.y, + 32). M rows are output channels, columns tiles; the sum runs over input
// channels. transformed: winograd_transform_weights' output.
// blocks_per_sm: 1 (version 6), the multiply unrolled, 219 registers, one block of 8 warps per SM;
// or 2 (version 7), the multiply rolled and the registers capped at 128 (ptxas spills 36 bytes),
// so that two blocks share an SM and one's barriers overlap the other's multiplies. Which is faster
// is for a GPU to say (bench_conv times both).
template <int blocks_per_sm>
__global__ void __launch_bounds__(wino_threads, blocks_per_sm) conv2d_forward_winograd(const float* __restrict__ x,
                                                                        const float* __restrict__ transformed,
                                                                        const float* __restrict__ bias,
                                                                        float* __restrict__ y, WinogradDims d,
                                                                        ConvEpilogue epilogue) {
  // V, then two buffers of U: 48 KiB, all the static shared memory a block may have.
  __shared__ __align__(16) float smem[3 * wino_chunk];
  static_assert(3 * wino_chunk >= wino_shared, "for_each_output needs wino_shared floats");
  float* const V = smem;  // [16][wino_step][wino_cols]: input blocks
  // U of step i, [16][wino_step][wino_rows]: kernels (an offset of smem, not a pointer picked from
  // an array, which nvcc would no longer know points into shared memory).
  auto U = [&](int i) { return smem + (1 + (i & 1)) * wino_chunk; };
  const int k0 = blockIdx.y * wino_rows;
  const long t0 = long(blockIdx.x) * wino_cols;
  const MultiplyRole role(threadIdx.x);
  float acc[8][8];
  zero(acc);

  // Thread (step row, lane) transforms the input block of (input channel c0 + step row, tile
  // t0 + lane); the block's place in a plane is the same at every step: worked out once. Each
  // thread also copies 4 of the step's U chunk's 1024 float4 (the same ones at every step) with
  // cp.async, into the buffer of U that the step before last multiplied: no registers hold them.
  const int step_row = threadIdx.x / 32, lane = threadIdx.x % 32;
  const long my_tile = t0 + lane;
  const TilePosition pos = tile_position(my_tile < d.tiles ? my_tile : 0, d);
  const PlaneBlock<4> block(pos.i0 - 1, pos.j0 - 1, d.H, d.W, d.x_shift, my_tile < d.tiles);
  const long plane_size = long(d.H >> d.x_shift) * (d.W >> d.x_shift);
  const float* x_image = x + long(pos.n) * d.C * plane_size;
  constexpr int copies = wino_chunk / 4 / wino_threads;  // float4 per thread and step
  const float4* u_chunks = reinterpret_cast<const float4*>(transformed) +
                           long(blockIdx.y) * ((d.C + wino_step - 1) / wino_step) * (wino_chunk / 4);

  float in[4][4];
  auto load_step = [&](int c0, int i) {  // the blocks of input channel c0 + step row; U of step i
    const int c = c0 + step_row;
    block.load(x_image + long(c) * plane_size, c < d.C, in);
    const float4* chunk = u_chunks + long(c0 / wino_step) * (wino_chunk / 4);
    float4* u_buffer = reinterpret_cast<float4*>(U(i));
    #pragma unroll
    for (int j = 0; j < copies; ++j)
      simt::copy_async_16(u_buffer + threadIdx.x + j * wino_threads, chunk + threadIdx.x + j * wino_threads);
  };
  auto store_step = [&](int) {
    float v[4][4];
    transform_input(in, v);  // V = B^T d B
    store_transformed<packed_stride>(V, step_row, lane, v);
    simt::copy_async_wait_all();  // this step's U: the barrier after this shows it to the block
  };
  sum_steps<packed_stride, blocks_per_sm == 1 ? wino_step : 1>(0, d.C, V, acc, role, load_step, store_step, U);

  // Y = A^T M A per (output channel, tile), with the bias and the epilogue.
  for_each_output(acc, smem, role, [&](int row, int column, const float (&m)[4][4]) {
    const int k = k0 + row;
    const long t = t0 + column;
    if (k >= d.K || t >= d.tiles) return;
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
        if (i < d.H && j < d.W) y_plane[long(i) * d.W + j] = apply_epilogue(out[r][s] + b, epilogue);
      }
  });
}

// ---- backward-weight: F(3x3, 2x2) ------------------------------------------------------------

// Block (blockIdx.x, blockIdx.y, blockIdx.z): input channels [32 blockIdx.x, + 32) x output
// channels [32 blockIdx.y, + 32), summed over the tiles of slice blockIdx.z,
// [z tiles_per_slice, + tiles_per_slice). M rows are output channels, columns input channels.
// Writes the slice's dw [K, C, 3, 3] at out + z K C 9 (the caller adds the slices).
__global__ void __launch_bounds__(wino_threads, 2) conv2d_backward_weight_winograd(const float* __restrict__ x,
                                                                               const float* __restrict__ dy,
                                                                               float* __restrict__ out,
                                                                               WinogradDims d, long tiles_per_slice) {
  constexpr int operand_size = 16 * wino_step * padded_stride;
  __shared__ __align__(16) float smem[2 * operand_size > wino_shared ? 2 * operand_size : wino_shared];
  float* const U = smem;                 // [16][wino_step][padded_stride]: dy tiles
  float* const V = smem + operand_size;  // [16][wino_step][padded_stride]: x blocks
  const int c0 = blockIdx.x * wino_cols, k0 = blockIdx.y * wino_rows;
  const long t_begin = long(blockIdx.z) * tiles_per_slice;
  const long t_end = t_begin + tiles_per_slice < d.tiles ? t_begin + tiles_per_slice : d.tiles;
  const MultiplyRole role(threadIdx.x);
  float acc[8][8];
  zero(acc);

  // Thread (step row, lane) transforms, for tile t + step row, the x block of input channel
  // c0 + lane and the dy tile of output channel k0 + lane. Its tile advances by wino_step tiles a
  // step: walked as (image, tile row, tile column) by additions (NestedIndex), not divisions.
  // The step row runs fastest: a warp loads 8 neighbouring tiles of 4 channel planes (two 32-byte
  // sectors of each plane row), not one tile of 32 planes (32 sectors per load). In shared memory
  // those 8 step rows of a column would fall in one bank at a row stride of 32 floats; at
  // padded_stride, 4 banks further per row, the warp's 32 stores hit 32 banks.
  const int step_row = threadIdx.x % wino_step, lane = threadIdx.x / wino_step;
  const int c = c0 + lane, k = k0 + lane;
  const long x_plane = long(d.H) * d.W, dy_plane = long(d.H >> d.y_shift) * (d.W >> d.y_shift);
  const NestedIndex tile_step = NestedIndex::of(wino_step, d.tiles_h, d.tiles_w);
  NestedIndex tile_at = NestedIndex::of(int(t_begin) + step_row, d.tiles_h, d.tiles_w);
  float in[4][4], f[2][2];
  auto load_step = [&](long t, int) {
    const bool valid = t + step_row < t_end;
    const int n = valid ? tile_at.hi : 0, i0 = 2 * tile_at.mid, j0 = 2 * tile_at.lo;
    const PlaneBlock<4> x_block(i0 - 1, j0 - 1, d.H, d.W, 0, valid && c < d.C);
    x_block.load(x + (long(n) * d.C + c) * x_plane, true, in);
    const PlaneBlock<2> dy_block(i0, j0, d.H, d.W, d.y_shift, valid && k < d.K);
    dy_block.load(dy + (long(n) * d.K + k) * dy_plane, true, f);
    tile_at.advance(tile_step, d.tiles_h, d.tiles_w);
  };
  auto store_step = [&](int) {
    float u[4][4], v[4][4];
    transform_gradient(f, u);  // U = A f A^T
    transform_input(in, v);    // V = B^T d B
    store_transformed<padded_stride>(U, step_row, lane, u);
    store_transformed<padded_stride>(V, step_row, lane, v);
  };
  sum_steps<padded_stride, wino_step>(t_begin, t_end, V, acc, role, load_step, store_step, [&](int) { return U; });

  // dW = G^T M G per (output channel, input channel).
  float* slice_out = out + long(blockIdx.z) * d.K * d.C * 9;
  for_each_output(acc, smem, role, [&](int row, int column, const float (&m)[4][4]) {
    const int k_out = k0 + row, c_out = c0 + column;
    if (k_out >= d.K || c_out >= d.C) return;
    float dw[3][3];
    transform_weight_gradient(m, dw);
    float* dst = slice_out + (long(k_out) * d.C + c_out) * 9;
    #pragma unroll
    for (int p = 0; p < 3; ++p)
      #pragma unroll
      for (int q = 0; q < 3; ++q) dst[p * 3 + q] = dw[p][q];
  });
}

}  // namespace device

WinogradDims winograd_dims(int N, int C, int K, int H, int W, int x_shift, int y_shift) {
  WinogradDims d{N, C, K, H, W, x_shift, y_shift, (H + 1) / 2, (W + 1) / 2, 0};
  d.tiles = long(N) * d.tiles_h * d.tiles_w;
  return d;
}

long blocks_of(long n, int per_block) { return (n + per_block - 1) / per_block; }

// Forward: output channels C_out, input channels C_in. Backward-data, dx = conv(dy, w rotated,
// channels swapped): output channels C_in, input channels C_out.
WinogradDims forward_dims(const ConvGeometry& g) { return winograd_dims(g.N, g.C_in, g.C_out, g.H_in, g.W_in, 0, 0); }
WinogradDims backward_data_dims(const ConvGeometry& g, int dy_shift) {
  return winograd_dims(g.N, g.C_out, g.C_in, g.H_out, g.W_out, dy_shift, 0);
}

// Floats of the transformed kernels of d (winograd_transform_weights).
long transformed_weights_size(const WinogradDims& d) {
  return blocks_of(d.K, wino_rows) * blocks_of(d.C, wino_step) * wino_chunk;
}

template <bool TRANSPOSED>
void launch_convolution(const float* x, const float* w, const float* bias, float* y, float* workspace,
                        const WinogradDims& d, simt::Stream stream, ConvEpilogue epilogue, int blocks_per_sm) {
  const long tile_blocks = blocks_of(d.tiles, wino_cols), k_blocks = blocks_of(d.K, wino_rows);
  const long c_steps = blocks_of(d.C, wino_step);
  EDNN_CHECK(tile_blocks <= 0x7fffffffL && k_blocks <= 65535 && k_blocks * c_steps <= 0x7fffffffL,
             "conv2d (Winograd): ", tile_blocks, " x ", k_blocks, " blocks do not fit a grid");
  EDNN_CHECK(workspace != nullptr, "conv2d (Winograd): needs a workspace of ", transformed_weights_size(d),
             " floats for the transformed kernels");
  simt::launch(device::winograd_transform_weights<TRANSPOSED>, dim3(unsigned(k_blocks * c_steps)), wino_threads, 0,
               stream, w, workspace, d, int(c_steps));
  const auto kernel = blocks_per_sm == 2 ? device::conv2d_forward_winograd<2> : device::conv2d_forward_winograd<1>;
  simt::launch(kernel, dim3(unsigned(tile_blocks), unsigned(k_blocks)), wino_threads, 0, stream, x,
               static_cast<const float*>(workspace), bias, y, d, epilogue);
}

}  // namespace

bool winograd_applies(const ConvGeometry& g) {
  return g.kH == 3 && g.kW == 3 && g.stride == 1 && g.pad == 1 && g.H_out == g.H_in && g.W_out == g.W_in;
}

long conv2d_forward_winograd_workspace_size(const ConvGeometry& g) {
  return transformed_weights_size(forward_dims(g));
}

long conv2d_backward_data_winograd_workspace_size(const ConvGeometry& g) {
  return transformed_weights_size(backward_data_dims(g, 0));
}

void conv2d_forward_winograd(const float* x, const float* w, const float* bias, float* y, float* workspace,
                             const ConvGeometry& g, simt::Stream stream, ConvEpilogue epilogue, int blocks_per_sm) {
  EDNN_CHECK(winograd_applies(g), "conv2d_forward (Winograd): needs a 3x3 kernel, stride 1, padding 1");
  launch_convolution<false>(x, w, bias, y, workspace, forward_dims(g), stream, epilogue, blocks_per_sm);
}

void conv2d_backward_data_winograd(const float* dy, const float* w, float* dx, float* workspace,
                                   const ConvGeometry& g, simt::Stream stream, const float* bias,
                                   ConvEpilogue epilogue, int dy_shift, int blocks_per_sm) {
  EDNN_CHECK(winograd_applies(g), "conv2d_backward_data (Winograd): needs a 3x3 kernel, stride 1, padding 1");
  launch_convolution<true>(dy, w, bias, dx, workspace, backward_data_dims(g, dy_shift), stream, epilogue,
                           blocks_per_sm);
}

SplitK conv2d_backward_weight_winograd_split(const ConvGeometry& g) {
  EDNN_CHECK(winograd_applies(g), "conv2d_backward_weight (Winograd): needs a 3x3 kernel, stride 1, padding 1");
  const WinogradDims d = winograd_dims(g.N, g.C_in, g.C_out, g.H_in, g.W_in, 0, 0);
  return split_sum(d.tiles, wino_step, blocks_of(d.C, wino_cols) * blocks_of(d.K, wino_rows));
}

void conv2d_backward_weight_winograd(const float* x, const float* dy, float* out, const ConvGeometry& g, SplitK s,
                                     simt::Stream stream, int dy_shift) {
  EDNN_CHECK(winograd_applies(g), "conv2d_backward_weight (Winograd): needs a 3x3 kernel, stride 1, padding 1");
  const WinogradDims d = winograd_dims(g.N, g.C_in, g.C_out, g.H_in, g.W_in, 0, dy_shift);
  const long c_blocks = blocks_of(d.C, wino_cols), k_blocks = blocks_of(d.K, wino_rows);
  EDNN_CHECK(c_blocks <= 0x7fffffffL && k_blocks <= 65535, "conv2d_backward_weight (Winograd): ", c_blocks, " x ",
             k_blocks, " blocks do not fit a grid");
  EDNN_CHECK(d.tiles <= 0x7fffffffL - wino_step, "conv2d_backward_weight (Winograd): ", d.tiles,
             " tiles: more than its int tile walk counts");
  simt::launch(device::conv2d_backward_weight_winograd,
               dim3(unsigned(c_blocks), unsigned(k_blocks), unsigned(s.slices)), wino_threads, 0, stream, x, dy, out, d,
               s.chunk);
}

}  // namespace ednn::kernels
