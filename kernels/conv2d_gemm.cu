// The implicit-GEMM kernels of the convolution (versions 0, 2 to 5 of conv2d.h): forward,
// backward-data (= transposed convolution) and backward-weight, each a matrix product whose
// operands are loaded straight from the tensors. conv2d_dispatch.cu picks the tiles; how a block
// multiplies them is conv2d_tiles.cuh; this file says what each product loads and stores.
//
// Call col the im2col matrix, col[(c, p, q), (n, i, j)] = x[n, c, i s-pad+p, j s-pad+q], of
// K = C_in kH kW rows and N H_out W_out columns. The CPU backend builds it in memory; here it is
// never materialised: a kernel computes each element it needs from x when it loads a tile
// ("implicit GEMM"). The three operations are three matrix products C[M, Ncol] = A[M, K] B[K, Ncol]:
//   forward          M = C_out  Ncol = N H_out W_out  K = C_in kH kW    A = w as [C_out, K]  B = col
//   backward-data    M = C_in   Ncol = N H_in W_in    K = C_out kH kW   A = w^T              B = dy gathered:
//                    B[(o, p, q), (n, h, v)] = dy[n, o, i, j] where i s = h + pad - p and j s = v + pad - q
//                    (0 when that is not a whole number or falls outside dy). Each dx value is owned
//                    by one thread that gathers what contributes to it: no atomics, no col2im.
//   backward-weight  M = C_out  Ncol = C_in kH kW     K = N H_out W_out A = dy as [C_out, (n, i, j)]
//                    B = col^T. K is huge (every pixel of the batch) and M Ncol small (a weight), so
//                    K is cut into S slices ("split-K"): blocks of slice z sum over their part of the
//                    pixels into workspace[z]; split_k_reduce (split_k.h) then adds the S partials
//                    in order. Same bits on every run, unlike atomics.
//
// The loads:
//   - The K loop has no integer division: each thread follows its k = (c, p, q) or pixel
//     (n, i, j) by additions (NestedIndex), and every loop over a tile is unrolled.
//   - Loads are coalesced: threads next to each other load elements next to each other in memory
//     (along the output pixels of col for the forward and backward-data B tiles, along k for the
//     weights and for everything in backward-weight, whose K runs over pixels). Where the forward
//     and backward-data kernels walk K by channel blocks, the weights they read are first laid
//     out by tap (conv2d_weights_by_tap, into the caller's workspace), so that the channels a
//     step reads are contiguous there too.
//   - Every edge is checked: rows >= M, columns >= Ncol and k >= K load zeros and store nothing,
//     so any size works, not only multiples of the tile.
//
// Not done yet here (see issue 6; version 6, Winograd, has them): vector (float4) loads and
// cp.async copies straight into shared memory. Nor anywhere yet: ldmatrix and a swizzled layout
// for the tensor-core fragments, Hopper's wgmma and TMA, and skipping the (s^2 - 1)/s^2 zero
// terms that backward-data with stride s > 1 multiplies (the ED-CNN's convolutions all have
// stride 1).
#include <cstddef>
#include <utility>

#include "core/error.h"
#include "kernels/conv2d_kernels.h"
#include "kernels/conv2d_tiles.cuh"
#include "kernels/conv_epilogue.cuh"
#include "kernels/nested_index.cuh"
#include "kernels/simt.h"

namespace ednn::kernels {

// Writes a thread's outputs of C [M, (image, pixel)] into an NCHW tensor out [images, M, P]
// (the column index n is image * P + pixel), adding the bias and applying the epilogue on the
// way: the fused tail of the forward and backward-data kernels.
template <class T>
__device__ __forceinline__ void store_tile(const float (&acc)[T::rows][T::cols], const float* __restrict__ bias,
                                           ConvEpilogue epilogue, float* __restrict__ out, int M, int Ncol, int P,
                                           int m0, int n0, const typename T::Thread& th) {
  #pragma unroll
  for (int j = 0; j < T::cols; ++j) {
    const int n = n0 + th.col(j);
    if (n >= Ncol) continue;
    const int image = n / P, pix = n % P;
    #pragma unroll
    for (int i = 0; i < T::rows; ++i) {
      const int m = m0 + th.row(i);
      if (m >= M) continue;
      const float v = acc[i][j] + (bias ? bias[m] : 0.0f);
      out[(long(image) * M + m) * P + pix] = apply_epilogue(v, epilogue);
    }
  }
}

// col[(c, p, q), pixel] = x[c, h0 + p, v0 + q] of one image (tap = (c, p, q), (h0, v0) the pixel's
// top-left input position): 0 in the padding, past the last channel, or when !ok. The gather of
// the forward kernel's B tile and of backward-weight's, outside channel blocks.
__device__ __forceinline__ float im2col_value(const float* __restrict__ x_image, const ConvDims& d,
                                              const NestedIndex& tap, int h0, int v0, bool ok) {
  const int h = h0 + tap.mid, v = v0 + tap.lo;
  const bool inside = ok && tap.hi < d.C_in && h >= 0 && h < d.H_in && v >= 0 && v < d.W_in;
  return inside ? x_image[(tap.hi * d.H_in + h) * d.W_in + v] : 0.0f;
}

// t = i s with a whole i: that i, or -1 when there is none (t < 0, or not a multiple of s).
// Stride 1, every convolution of the ED-CNN, skips the division.
__device__ __forceinline__ int exact_quotient(int t, int s) {
  if (s == 1) return t < 0 ? -1 : t;
  return (t >= 0 && t % s == 0) ? t / s : -1;
}

// How the forward and backward-data kernels share their tile loads among the threads: the A tile
// along k (thread t loads k = t % BK of tile rows t / BK, t / BK + threads / BK, ...), the B tile
// along the output columns (thread t always loads column t % BN, of tile rows t / BN,
// t / BN + threads / BN, ...). Called as the `store` of pipelined_k_loop, it writes one step's
// loaded values into one copy of the shared tiles.
template <class T>
struct ColumnTileLoads {
  static constexpr int a_rows_per_pass = T::threads / T::BK, a_passes = T::BM / a_rows_per_pass;
  static constexpr int b_rows_per_pass = T::threads / T::BN, b_passes = T::BK / b_rows_per_pass;
  static_assert(T::BM % a_rows_per_pass == 0 && T::BK % b_rows_per_pass == 0, "tile loads must divide evenly");
  int a_k, a_row, b_col, b_row;
  __device__ explicit ColumnTileLoads(int tid)
      : a_k(tid % T::BK), a_row(tid / T::BK), b_col(tid % T::BN), b_row(tid / T::BN) {}
  __device__ int a_m(int r) const { return a_row + r * a_rows_per_pass; }  // tile row of A load r
  __device__ int b_k(int r) const { return b_row + r * b_rows_per_pass; }  // tile k of B load r
  // The B loads of a step by channel blocks (CHANNEL_BLOCKS): rows b_k(r) are channels of one
  // column at one tap, `plane` floats apart in `image` from `offset` (row b_k(0)'s value) on;
  // zeros where that tap falls outside the image (`inside` false).
  __device__ void load_channel_column(float (&b)[b_passes], const float* image, int offset, int plane,
                                      bool inside) const {
    #pragma unroll
    for (int r = 0; r < b_passes; ++r) b[r] = inside ? image[offset + r * b_rows_per_pass * plane] : 0.0f;
  }
  __device__ void operator()(const float (&a)[a_passes], const float (&b)[b_passes],
                             typename T::Operand (*As)[T::BM + T::pad],
                             typename T::Operand (*Bs)[T::BN + T::pad]) const {
    #pragma unroll
    for (int r = 0; r < a_passes; ++r) As[a_k][a_m(r)] = T::to_operand(a[r]);
    #pragma unroll
    for (int r = 0; r < b_passes; ++r) Bs[b_k(r)][b_col] = T::to_operand(b[r]);
  }
};

namespace device {

// ---------------------------------------------------------------------------------------------
// The weights by tap, for the channel-block walk of the forward and backward-data kernels:
//   forward        w_by_tap[p, q, o, c] = w[o, c, p, q]   ([kH kW, C_out, C_in]: A of each tap)
//   backward-data  w_by_tap[p, q, c, o] = w[o, c, p, q]   ([kH kW, C_in, C_out]: A = w^T of each tap)
// Why: a channel-block step reads the A tile of BK consecutive channels at one tap (p, q) for BM
// rows. In w those channels are kH kW floats apart (forward) or C_in kH kW apart (backward-data),
// so each lane of a warp read a 32-byte sector of its own: 15 to 18 sectors per request at the
// paper's shapes (bench/RESULTS.md), 4 the ideal. By tap, a row's BK channels are contiguous and
// start at a multiple of BK (BK divides the channels): the 32 lanes of a warp, which load BK
// channels of 32 / BK rows, read 128 bytes in 4 whole sectors.
// One thread per element of w_by_tap, consecutive threads consecutive elements: the writes are
// coalesced, the reads gathered. It runs once per call and moves 2 |w| floats, against the
// (Ncol / BN) |w| floats that the GEMM reads from it (one pass over w per column of blocks).
// ---------------------------------------------------------------------------------------------
template <bool TRANSPOSED>
__global__ void __launch_bounds__(256) conv2d_weights_by_tap(const float* __restrict__ w, float* __restrict__ w_by_tap,
                                                             int C_out, int C_in, int kHW) {
  const int e = blockIdx.x * 256 + threadIdx.x;  // the element of w_by_tap: (tap, row, col)
  const int rows = TRANSPOSED ? C_in : C_out, cols = TRANSPOSED ? C_out : C_in;
  if (e >= kHW * rows * cols) return;
  const int col = e % cols, row = e / cols % rows, tap = e / cols / rows;
  const int o = TRANSPOSED ? col : row, c = TRANSPOSED ? row : col;
  w_by_tap[e] = w[(o * C_in + c) * kHW + tap];
}

// ---------------------------------------------------------------------------------------------
// Forward: tiled implicit GEMM, y[o, (n, i, j)] = sum_k w[o, k] col[k, (n, i, j)].
// A tile: w[m0 .. m0+BM, k0 .. k0+BK], rows of w are contiguous in k: thread t loads k = t % BK
//   of rows t / BK, t / BK + 256 / BK, ...
// B tile: col[k0 .. k0+BK, n0 .. n0+BN]: thread t always loads column n0 + t % BN (neighbouring
//   threads: neighbouring output pixels, so neighbouring x values for stride 1), rows t / BN,
//   t / BN + 256 / BN, ... The column's (n, i, j) is decoded once, before the K loop; the rows'
//   k = (c, p, q) are followed with NestedIndex, and each load reads
//   x[n, c, i s - pad + p, j s - pad + q], or 0 in the padding.
// Offsets are ints: check_dims keeps every tensor under 2^31 elements, and 32-bit arithmetic is
// half the instructions of 64-bit.
//
// CHANNEL_BLOCKS (when BK divides C_in, the launcher's choice): the sum over k is the same in any
// order, so walk it as k = (cb, p, q, ci), channel c = cb BK + ci: each K step is BK channels at
// one tap (p, q). All of a thread's B loads in a step then share one bounds check and differ
// only by whole planes of x (ci H W), and the step's (cb, p, q) moves by one count per step: a few
// instructions per loaded element instead of a NestedIndex advance and four compares each. w is
// then the weights by tap, [kH kW, C_out, C_in] (conv2d_weights_by_tap): the A tile's BK channels
// of a row are contiguous, coalesced loads as above.
// ---------------------------------------------------------------------------------------------
template <class T, bool CHANNEL_BLOCKS>
__global__ void __launch_bounds__(T::threads, T::min_blocks)
    conv2d_forward_gemm(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ bias,
                        float* __restrict__ y, ConvDims d, ConvEpilogue epilogue) {
  constexpr int BM = T::BM, BN = T::BN, BK = T::BK;
  constexpr int a_passes = ColumnTileLoads<T>::a_passes, b_passes = ColumnTileLoads<T>::b_passes;
  const SharedTiles<T> tiles;
  auto As = tiles.As();
  auto Bs = tiles.Bs();

  const int M = d.C_out, K = d.C_in * d.kH * d.kW, P = d.H_out * d.W_out, Ncol = d.N * P;
  const int tid = threadIdx.x;
  const typename T::Thread th(tid);
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;

  // This thread's B column: output pixel (n, i, j), its top-left input position (h0, v0).
  const ColumnTileLoads<T> loads(tid);
  const int col = n0 + loads.b_col;
  const bool col_ok = col < Ncol;
  const int col_n = col_ok ? col / P : 0, col_pix = col_ok ? col % P : 0;
  const int h0 = (col_pix / d.W_out) * d.stride - d.pad, v0 = (col_pix % d.W_out) * d.stride - d.pad;
  const float* x_image = x + col_n * d.C_in * d.H_in * d.W_in;
  float acc[T::rows][T::cols] = {};

  if constexpr (CHANNEL_BLOCKS) {
    const int plane = d.H_in * d.W_in;
    NestedIndex step = {0, 0, 0};  // (cb, p, q) of the step being loaded
    const NestedIndex next_step = {0, 0, 1};
    auto load = [&](int, float (&a)[a_passes], float (&b)[b_passes]) {
      const int c0 = step.hi * BK, p = step.mid, q = step.lo;
      const int a_offset = (p * d.kW + q) * M * d.C_in + c0 + loads.a_k;  // w_by_tap[p, q, 0, c]
      #pragma unroll
      for (int r = 0; r < a_passes; ++r) {
        const int m = m0 + loads.a_m(r);
        a[r] = m < M ? w[a_offset + m * d.C_in] : 0.0f;
      }
      const int h = h0 + p, v = v0 + q;
      const bool inside = col_ok && h >= 0 && h < d.H_in && v >= 0 && v < d.W_in;
      const int b_offset = ((c0 + loads.b_k(0)) * d.H_in + h) * d.W_in + v;  // x[n, c, h, v]
      loads.load_channel_column(b, x_image, b_offset, plane, inside);
      step.advance(next_step, d.kH, d.kW);  // load() is called once per step, in order
    };
    pipelined_k_loop<T, a_passes, b_passes>(0, K, load, loads, As, Bs, acc, th);
    store_tile<T>(acc, bias, epilogue, y, M, Ncol, P, m0, n0, th);
    return;
  }

  // (c, p, q) of this thread's first B row at the step being loaded, and the two moves of k: from
  // one of its B loads to the next (b_rows_per_pass rows down) and from one step to the next (BK).
  NestedIndex step_tap = NestedIndex::of(loads.b_k(0), d.kH, d.kW);
  const NestedIndex next_load = NestedIndex::of(ColumnTileLoads<T>::b_rows_per_pass, d.kH, d.kW);
  const NestedIndex next_step = NestedIndex::of(BK, d.kH, d.kW);

  auto load = [&](int k0, float (&a)[a_passes], float (&b)[b_passes]) {
    const int a_k = k0 + loads.a_k;
    #pragma unroll
    for (int r = 0; r < a_passes; ++r) {
      const int m = m0 + loads.a_m(r);
      a[r] = (m < M && a_k < K) ? w[m * K + a_k] : 0.0f;
    }
    NestedIndex tap = step_tap;  // (c, p, q) of row k0 + loads.b_k(r)
    #pragma unroll
    for (int r = 0; r < b_passes; ++r) {
      b[r] = im2col_value(x_image, d, tap, h0, v0, col_ok);
      tap.advance(next_load, d.kH, d.kW);
    }
    step_tap.advance(next_step, d.kH, d.kW);  // load() is called for k0 = 0, BK, 2 BK, ... in order
  };
  pipelined_k_loop<T, a_passes, b_passes>(0, K, load, loads, As, Bs, acc, th);

  store_tile<T>(acc, bias, epilogue, y, M, Ncol, P, m0, n0, th);
}

// ---------------------------------------------------------------------------------------------
// Backward-data: tiled implicit GEMM, dx[c, (n, h, v)] = sum_k w^T[c, k] B[k, (n, h, v)]
// with k = (o, p, q). Same structure as the forward kernel; what differs is what a tile load
// computes:
// A tile: w^T[c, (o, p, q)] = w[o, c, p, q]: for a fixed o, k runs over the kH kW contiguous
//   values of w[o, c, :, :], so loading along k stays mostly coalesced.
// B tile: thread t loads column (n, h, v) = n0 + t % BN (neighbouring dx pixels). For k = (o, p, q)
//   the dy value that reaches dx[n, c, h, v] through w[o, c, p, q] is dy[n, o, i, j] with
//   i = (h + pad - p) / s, j = (v + pad - q) / s, if both divisions are exact and land inside dy.
// Both tiles follow their k = (o, p, q) with NestedIndex, as the forward kernel does; with
// CHANNEL_BLOCKS (BK divides C_out) the K steps are BK channels o at one tap (p, q), as there,
// and w is the weights by tap, [kH kW, C_in, C_out] (conv2d_weights_by_tap): a row c's BK
// channels o of a step are contiguous.
// ---------------------------------------------------------------------------------------------
template <class T, bool CHANNEL_BLOCKS>
__global__ void __launch_bounds__(T::threads, T::min_blocks)
    conv2d_backward_data_gemm(const float* __restrict__ dy, const float* __restrict__ w,
                              const float* __restrict__ bias, float* __restrict__ dx, ConvDims d,
                              ConvEpilogue epilogue) {
  constexpr int BM = T::BM, BN = T::BN, BK = T::BK;
  constexpr int a_passes = ColumnTileLoads<T>::a_passes, b_passes = ColumnTileLoads<T>::b_passes;
  const SharedTiles<T> tiles;
  auto As = tiles.As();
  auto Bs = tiles.Bs();

  const int kHW = d.kH * d.kW;
  const int M = d.C_in, K = d.C_out * kHW, P_in = d.H_in * d.W_in, Ncol = d.N * P_in;
  const int H_dy = d.H_out >> d.dy_shift, W_dy = d.W_out >> d.dy_shift;  // dy as stored
  const int tid = threadIdx.x;
  const typename T::Thread th(tid);
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;

  const ColumnTileLoads<T> loads(tid);
  const int col = n0 + loads.b_col;
  const bool col_ok = col < Ncol;
  const int col_n = col_ok ? col / P_in : 0, col_pix = col_ok ? col % P_in : 0;
  const int hp = col_pix / d.W_in + d.pad, vp = col_pix % d.W_in + d.pad;  // h + pad, v + pad
  const float* dy_image = dy + col_n * d.C_out * H_dy * W_dy;
  float acc[T::rows][T::cols] = {};

  if constexpr (CHANNEL_BLOCKS) {
    const int dy_plane = H_dy * W_dy;
    NestedIndex step = {0, 0, 0};  // (ob, p, q) of the step being loaded
    const NestedIndex next_step = {0, 0, 1};
    auto load = [&](int, float (&a)[a_passes], float (&b)[b_passes]) {
      const int o0 = step.hi * BK, p = step.mid, q = step.lo;
      const int a_offset = (p * d.kW + q) * M * d.C_out + o0 + loads.a_k;  // w_by_tap[p, q, 0, o]
      #pragma unroll
      for (int r = 0; r < a_passes; ++r) {
        const int m = m0 + loads.a_m(r);
        a[r] = m < M ? w[a_offset + m * d.C_out] : 0.0f;
      }
      const int i = exact_quotient(hp - p, d.stride), j = exact_quotient(vp - q, d.stride);
      const bool inside = col_ok && i >= 0 && i < d.H_out && j >= 0 && j < d.W_out;
      const int b_offset = ((o0 + loads.b_k(0)) * H_dy + (i >> d.dy_shift)) * W_dy + (j >> d.dy_shift);
      loads.load_channel_column(b, dy_image, b_offset, dy_plane, inside);
      step.advance(next_step, d.kH, d.kW);  // load() is called once per step, in order
    };
    pipelined_k_loop<T, a_passes, b_passes>(0, K, load, loads, As, Bs, acc, th);
    store_tile<T>(acc, bias, epilogue, dx, M, Ncol, P_in, m0, n0, th);
    return;
  }

  // (o, p, q) of this thread's A column and of its first B row at the step being loaded.
  NestedIndex a_tap = NestedIndex::of(loads.a_k, d.kH, d.kW);
  NestedIndex step_tap = NestedIndex::of(loads.b_k(0), d.kH, d.kW);
  const NestedIndex next_load = NestedIndex::of(ColumnTileLoads<T>::b_rows_per_pass, d.kH, d.kW);
  const NestedIndex next_step = NestedIndex::of(BK, d.kH, d.kW);

  auto load = [&](int k0, float (&a)[a_passes], float (&b)[b_passes]) {
    const bool a_ok = a_tap.hi < d.C_out;                       // k < K
    const int a_offset = a_tap.hi * d.C_in * kHW + a_tap.mid * d.kW + a_tap.lo;  // w[o, 0, p, q]
    #pragma unroll
    for (int r = 0; r < a_passes; ++r) {
      const int m = m0 + loads.a_m(r);
      a[r] = (a_ok && m < M) ? w[a_offset + m * kHW] : 0.0f;
    }
    a_tap.advance(next_step, d.kH, d.kW);
    NestedIndex tap = step_tap;  // (o, p, q) of row k0 + loads.b_k(r)
    #pragma unroll
    for (int r = 0; r < b_passes; ++r) {
      const int i = exact_quotient(hp - tap.mid, d.stride), j = exact_quotient(vp - tap.lo, d.stride);
      const bool inside = col_ok && tap.hi < d.C_out && i >= 0 && i < d.H_out && j >= 0 && j < d.W_out;
      b[r] = inside ? dy_image[(tap.hi * H_dy + (i >> d.dy_shift)) * W_dy + (j >> d.dy_shift)] : 0.0f;
      tap.advance(next_load, d.kH, d.kW);
    }
    step_tap.advance(next_step, d.kH, d.kW);  // load() is called for k0 = 0, BK, 2 BK, ... in order
  };
  pipelined_k_loop<T, a_passes, b_passes>(0, K, load, loads, As, Bs, acc, th);

  store_tile<T>(acc, bias, epilogue, dx, M, Ncol, P_in, m0, n0, th);
}

// ---------------------------------------------------------------------------------------------
// Backward-weight: tiled implicit GEMM with split-K,
//   out[o, (c, p, q)] = sum over the pixels r = (n, i, j) of slice blockIdx.z of dy[n, o, r] col[(c, p, q), r].
// K runs over pixels, which are contiguous in both dy and x, so both tiles are loaded along k:
// thread t loads pixel k0 + t % BK of rows (A) and columns (B) t / BK, t / BK + 256 / BK, ...
// Its pixel (n, i, j) is followed from step to step with NestedIndex and serves every element
// it loads; the (c, p, q) of its B columns are followed from one column to the next, as the
// forward kernel follows its rows (kept in registers instead, they would not all fit). out is dw
// when there is one slice, else workspace[blockIdx.z] of [C_out, C_in kH kW].
//
// CHANNEL_BLOCKS (when BN divides C_in): the columns are taken in the order (p, q, c) instead, so
// that a tile's BN columns are BN channels at one tap (p, q) and a thread's B loads of a step
// share one bounds check and differ by whole planes, as in the forward kernel's channel blocks.
// Only the order in which the columns are computed changes; each result is stored where it
// belongs, at (c, p, q).
// ---------------------------------------------------------------------------------------------
template <class T, bool CHANNEL_BLOCKS>
__global__ void __launch_bounds__(T::threads, T::min_blocks)
    conv2d_backward_weight_gemm(const float* __restrict__ x, const float* __restrict__ dy, float* __restrict__ out,
                                ConvDims d, int k_chunk) {
  constexpr int BM = T::BM, BN = T::BN, BK = T::BK;
  constexpr int rows_per_pass = T::threads / BK, a_passes = BM / rows_per_pass, b_passes = BN / rows_per_pass;
  static_assert(BM % rows_per_pass == 0 && BN % rows_per_pass == 0, "tile loads must divide evenly");
  const SharedTiles<T> tiles;
  auto As = tiles.As();
  auto Bs = tiles.Bs();

  const int kHW = d.kH * d.kW;
  const int M = d.C_out, Ncol = d.C_in * kHW, P = d.H_out * d.W_out, K = d.N * P;
  const int k_begin = blockIdx.z * k_chunk, k_end = min(K, k_begin + k_chunk);
  const int tid = threadIdx.x;
  const typename T::Thread th(tid);
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int t_k = tid % BK, t_row = tid / BK;

  // (c, p, q) of this thread's first B column, and the move to its next one.
  const NestedIndex first_tap = NestedIndex::of(n0 + t_row, d.kH, d.kW);
  const NestedIndex next_load = NestedIndex::of(rows_per_pass, d.kH, d.kW);
  // With CHANNEL_BLOCKS: the tile's tap (p, q) and first channel (column n0 = (p, q, c0)).
  const int tile_tap = n0 / d.C_in, tile_c0 = n0 % d.C_in;
  const int tile_p = tile_tap / d.kW, tile_q = tile_tap % d.kW;

  const int W_dy = d.W_out >> d.dy_shift, P_dy = (d.H_out >> d.dy_shift) * W_dy;  // dy as stored
  // This thread's pixel (n, i, j) at the step being loaded, and the move from one step to the next.
  NestedIndex pixel = NestedIndex::of(k_begin + t_k, d.H_out, d.W_out);
  const NestedIndex next_step = NestedIndex::of(BK, d.H_out, d.W_out);
  auto load = [&](int k0, float (&a)[a_passes], float (&b)[b_passes]) {
    const bool k_ok = k0 + t_k < k_end;
    const int n = k_ok ? pixel.hi : 0, i = pixel.mid, j = pixel.lo;
    const int h0 = i * d.stride - d.pad, v0 = j * d.stride - d.pad;
    const float* dy_pixel = dy + n * M * P_dy + (i >> d.dy_shift) * W_dy + (j >> d.dy_shift);
    #pragma unroll
    for (int r = 0; r < a_passes; ++r) {
      const int m = m0 + t_row + r * rows_per_pass;
      a[r] = (k_ok && m < M) ? dy_pixel[m * P_dy] : 0.0f;
    }
    const float* x_image = x + n * d.C_in * d.H_in * d.W_in;
    if constexpr (CHANNEL_BLOCKS) {
      const int h = h0 + tile_p, v = v0 + tile_q, plane = d.H_in * d.W_in;
      const bool inside = k_ok && h >= 0 && h < d.H_in && v >= 0 && v < d.W_in;
      const int b_offset = ((tile_c0 + t_row) * d.H_in + h) * d.W_in + v;  // x[n, c, h, v]
      #pragma unroll
      for (int r = 0; r < b_passes; ++r) b[r] = inside ? x_image[b_offset + r * rows_per_pass * plane] : 0.0f;
    } else {
      NestedIndex tap = first_tap;  // (c, p, q) of column n0 + t_row + r rows_per_pass
      #pragma unroll
      for (int r = 0; r < b_passes; ++r) {
        b[r] = im2col_value(x_image, d, tap, h0, v0, k_ok);
        tap.advance(next_load, d.kH, d.kW);
      }
    }
    pixel.advance(next_step, d.H_out, d.W_out);  // load() is called for k0 = k_begin, + BK, ... in order
  };
  auto store = [&](const float (&a)[a_passes], const float (&b)[b_passes], typename T::Operand (*As_)[BM + T::pad],
                   typename T::Operand (*Bs_)[BN + T::pad]) {
    #pragma unroll
    for (int r = 0; r < a_passes; ++r) As_[t_k][t_row + r * rows_per_pass] = T::to_operand(a[r]);
    #pragma unroll
    for (int r = 0; r < b_passes; ++r) Bs_[t_k][t_row + r * rows_per_pass] = T::to_operand(b[r]);
  };
  float acc[T::rows][T::cols] = {};
  pipelined_k_loop<T, a_passes, b_passes>(k_begin, k_end, load, store, As, Bs, acc, th);

  #pragma unroll
  for (int i = 0; i < T::rows; ++i) {
    const int m = m0 + th.row(i);
    if (m >= M) continue;
    #pragma unroll
    for (int j = 0; j < T::cols; ++j) {
      // The column's place in dw: (c, p, q), whichever order the columns were computed in.
      const int n = CHANNEL_BLOCKS ? (tile_c0 + th.col(j)) * kHW + tile_tap : n0 + th.col(j);
      if (CHANNEL_BLOCKS || n < Ncol) out[(long(blockIdx.z) * M + m) * Ncol + n] = acc[i][j];
    }
  }
}

}  // namespace device

// ---------------------------------------------------------------------------------------------
// Host launchers.
// ---------------------------------------------------------------------------------------------
namespace {

unsigned blocks_for(long n, int tile) { return static_cast<unsigned>((n + tile - 1) / tile); }

// the error of a failed launch.
template <class T, auto Kernel, class... Args>
void launch_tiled(simt::Grid grid, simt::Stream stream, Args&&... args) {
  constexpr std::size_t bytes = SharedTiles<T>::bytes, default_limit = 48 * 1024;
  // Every supported card has this much with the opt-in: sm_86 and sm_89 have the least (kernels/README.md).
  static_assert(bytes <= 99 * 1024, "a tile's shared memory must fit in the 99 KiB of sm_86 and sm_89");
  if constexpr (bytes > default_limit) {
    static const bool raised = (simt::set_max_dynamic_shared_bytes(Kernel, bytes), true);
    (void)raised;
  }
  simt::launch(Kernel, grid, T::threads, bytes, stream, std::forward<Args>(args)...);
}

// The forward and backward-data kernels walk K by channel blocks when the K step divides the
// channels summed over (C_in forward, C_out backward-data), and then read the weights by tap.
template <class T>
bool by_channel_blocks(int channels) { return channels % T::BK == 0; }

long weights_by_tap_size(const ConvDims& d) { return long(d.C_out) * d.C_in * d.kH * d.kW; }

// w_by_tap = conv2d_weights_by_tap<TRANSPOSED>(w), into the caller's workspace.
template <bool TRANSPOSED>
const float* launch_weights_by_tap(const float* w, float* workspace, const ConvDims& d, simt::Stream stream,
                                   const char* op) {
  const long count = weights_by_tap_size(d);
  EDNN_CHECK(workspace != nullptr, op, " (implicit GEMM by channel blocks): needs a workspace of ", count,
             " floats for the weights by tap");
  simt::launch(device::conv2d_weights_by_tap<TRANSPOSED>, dim3(blocks_for(count, 256)), 256, 0, stream, w,
               workspace, d.C_out, d.C_in, d.kH * d.kW);
  return workspace;
}

template <class T>
void launch_forward_gemm(const float* x, const float* w, const float* bias, float* y, float* workspace,
                         const ConvDims& d, simt::Stream stream, ConvEpilogue epilogue) {
  const dim3 grid(blocks_for(long(d.N) * d.H_out * d.W_out, T::BN), blocks_for(d.C_out, T::BM));
  if (by_channel_blocks<T>(d.C_in)) {
    const float* w_by_tap = launch_weights_by_tap<false>(w, workspace, d, stream, "conv2d_forward");
    launch_tiled<T, device::conv2d_forward_gemm<T, true>>(grid, stream, x, w_by_tap, bias, y, d, epilogue);
  } else {
    launch_tiled<T, device::conv2d_forward_gemm<T, false>>(grid, stream, x, w, bias, y, d, epilogue);
  }
}

template <class T>
void launch_backward_data(const float* dy, const float* w, const float* bias, float* dx, float* workspace,
                          const ConvDims& d, simt::Stream stream, ConvEpilogue epilogue) {
  const dim3 grid(blocks_for(long(d.N) * d.H_in * d.W_in, T::BN), blocks_for(d.C_in, T::BM));
  if (by_channel_blocks<T>(d.C_out)) {
    const float* w_by_tap = launch_weights_by_tap<true>(w, workspace, d, stream, "conv2d_backward_data");
    launch_tiled<T, device::conv2d_backward_data_gemm<T, true>>(grid, stream, dy, w_by_tap, bias, dx, d, epilogue);
  } else {
    launch_tiled<T, device::conv2d_backward_data_gemm<T, false>>(grid, stream, dy, w, bias, dx, d, epilogue);
  }
}

// The split of backward-weight's K = N H_out W_out pixels into slices (kernels/split_k.h).
template <class T>
SplitK split_k(const ConvGeometry& g) {
  const long tiles = long(blocks_for(g.C_out, T::BM)) * blocks_for(long(g.C_in) * g.kH * g.kW, T::BN);
  return split_sum(long(g.N) * g.H_out * g.W_out, T::BK, tiles);
}

template <class T>
void launch_backward_weight(const float* x, const float* dy, float* out, const ConvDims& d, SplitK s,
                            simt::Stream stream) {
  const dim3 grid(blocks_for(long(d.C_in) * d.kH * d.kW, T::BN), blocks_for(d.C_out, T::BM), s.slices);
  if (d.C_in % T::BN == 0)
    launch_tiled<T, device::conv2d_backward_weight_gemm<T, true>>(grid, stream, x, dy, out, d, int(s.chunk));
  else
    launch_tiled<T, device::conv2d_backward_weight_gemm<T, false>>(grid, stream, x, dy, out, d, int(s.chunk));
}

}  // namespace

long conv2d_forward_gemm_workspace_size(ConvTiles tiles, const ConvDims& d) {
  bool blocks = false;
  with_tiles(tiles, [&](auto t) { blocks = by_channel_blocks<decltype(t)>(d.C_in); });
  return blocks ? weights_by_tap_size(d) : 0;
}

long conv2d_backward_data_gemm_workspace_size(ConvTiles tiles, const ConvDims& d) {
  bool blocks = false;
  with_tiles(tiles, [&](auto t) { blocks = by_channel_blocks<decltype(t)>(d.C_out); });
  return blocks ? weights_by_tap_size(d) : 0;
}

void launch_conv2d_forward_gemm(ConvTiles tiles, const float* x, const float* w, const float* bias, float* y,
                                float* workspace, const ConvDims& d, simt::Stream stream, ConvEpilogue epilogue) {
  with_tiles(tiles, [&](auto t) { launch_forward_gemm<decltype(t)>(x, w, bias, y, workspace, d, stream, epilogue); });
}

void launch_conv2d_backward_data_gemm(ConvTiles tiles, const float* dy, const float* w, const float* bias, float* dx,
                                      float* workspace, const ConvDims& d, simt::Stream stream,
                                      ConvEpilogue epilogue) {
  with_tiles(tiles,
             [&](auto t) { launch_backward_data<decltype(t)>(dy, w, bias, dx, workspace, d, stream, epilogue); });
}

SplitK conv2d_backward_weight_gemm_split(ConvTiles tiles, const ConvGeometry& g) {
  SplitK s{};
  with_tiles(tiles, [&](auto t) { s = split_k<decltype(t)>(g); });
  return s;
}

void launch_conv2d_backward_weight_gemm(ConvTiles tiles, const float* x, const float* dy, float* out,
                                        const ConvDims& d, SplitK s, simt::Stream stream) {
  with_tiles(tiles, [&](auto t) { launch_backward_weight<decltype(t)>(x, dy, out, d, s, stream); });
}

}  // namespace ednn::kernels
