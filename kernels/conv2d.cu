// 2-d convolution: forward, backward-data (= transposed convolution) and backward-weight + bias.
//
// Maths (cross-correlation, as PyTorch; x is zero outside the image), for
//   x [N, C_in, H_in, W_in], w [C_out, C_in, kH, kW], b [C_out], y [N, C_out, H_out, W_out]:
//   y[n, o, i, j]  = b[o] + sum_{c, p, q} w[o, c, p, q] x[n, c, i s - pad + p, j s - pad + q]
//   dx[n, c, h, v] = sum_{o, p, q : h = i s - pad + p, v = j s - pad + q} w[o, c, p, q] dy[n, o, i, j]
//   dw[o, c, p, q] = sum_{n, i, j} dy[n, o, i, j] x[n, c, i s - pad + p, j s - pad + q]
//   db[o]          = sum_{n, i, j} dy[n, o, i, j]
// (engine/cpu/conv2d.cpp has the same maths as plain loops: the reference the tests use.)
//
// The GEMM views. Call col the im2col matrix, col[(c, p, q), (n, i, j)] = x[n, c, i s-pad+p, j s-pad+q],
// of K = C_in kH kW rows and N H_out W_out columns. The CPU backend builds it in memory; here it
// is never materialised: a kernel computes each element it needs from x when it loads a tile
// ("implicit GEMM"). The three operations are three matrix products C[M, Ncol] = A[M, K] B[K, Ncol]:
//   forward          M = C_out  Ncol = N H_out W_out  K = C_in kH kW    A = w as [C_out, K]  B = col
//   backward-data    M = C_in   Ncol = N H_in W_in    K = C_out kH kW   A = w^T              B = dy gathered:
//                    B[(o, p, q), (n, h, v)] = dy[n, o, i, j] where i s = h + pad - p and j s = v + pad - q
//                    (0 when that is not a whole number or falls outside dy). Each dx value is owned
//                    by one thread that gathers what contributes to it: no atomics, no col2im.
//   backward-weight  M = C_out  Ncol = C_in kH kW     K = N H_out W_out A = dy as [C_out, (n, i, j)]
//                    B = col^T. K is huge (every pixel of the batch) and M Ncol small (a weight), so
//                    K is cut into S slices ("split-K"): blocks of slice z sum over their part of the
//                    pixels into workspace[z]; a second kernel adds the S partials in order. Same
//                    bits on every run, unlike atomics. The bias gradient is a per-channel sum of dy,
//                    done by sum_per_channel (kernels/reduce.cu: block and warp reductions, in order).
//
// How the work maps to the GPU (the tiled implicit GEMMs, versions 2 to 4). A block of 256
// threads (128 for the small tensor-core tiles) computes a BM x BN tile of C (grid.x over columns,
// grid.y over rows, grid.z over split-K slices). It walks K in steps of BK (8; 16 for TF32 on the
// tensor cores): all threads cooperatively load the BM x BK tile of A and the BK x BN tile of B into
// shared memory, then each thread multiplies them into its own outputs held in registers
// ("register blocking"). Shared memory is there
// because every loaded value is used by many threads: an A value by the BN/TN threads of its
// row, a B value by the BM/TM threads of its column; registers because each value read from
// shared memory is then used TN (or TM) times. Per k a thread reads TM + TN floats from shared
// memory for TM TN multiply-adds: 8 for 16 with 4 x 4 (version 2), 16 for 64 with 8 x 8 (version
// 3), as 128-bit reads of 4 floats.
// The tiles are double-buffered (pipelined_k_loop): the loads of the next step are in flight
// while the current one is multiplied, one barrier per step.
//   - A thread's outputs come in runs of 4 neighbouring rows and columns (CudaCoreTiles), so
//     each run is one 128-bit shared-memory read, and a warp's reads cover the banks evenly.
//   - The K loop has no integer division: each thread follows its k = (c, p, q) or pixel
//     (n, i, j) by additions (NestedIndex), and every loop over a tile is unrolled.
//   - Loads are coalesced: threads next to each other load elements next to each other in memory
//     (along the output pixels of col for the forward and backward-data B tiles, along k for the
//     weights and for everything in backward-weight, whose K runs over pixels).
//   - Tiles are stored k-major (As[k][m], Bs[k][n]) so that the inner loop reads rows. Rows are
//     padded by 4 floats: when 8 threads write 8 consecutive k of one column, the padding puts
//     them in 8 different banks.
//   - Every edge is checked: rows >= M, columns >= Ncol and k >= K load zeros and store nothing,
//     so any size works, not only multiples of the tile.
//
// Version 4 keeps all of this and changes only the multiplication of the two shared tiles: the
// warps hand 16 x 8 x 8 pieces of it to the tensor cores (mma.sync with TF32 inputs, float
// accumulators; TensorCoreTiles below). TF32 keeps 10 of float's 23 mantissa bits, so each
// product carries a relative error up to about 2^-11 (PyTorch's allow_tf32 makes the same trade);
// the sums stay in float. The engine uses it only when asked (ednn::set_allow_tf32, EDNN_TF32=1).
// Version 5 runs the same tensor cores three times per product to recover float accuracy
// (3xTF32, see TensorCoreTiles).
// Products with at most 16 rows or columns get tiles 16 wide on that side (version 0).
// Not done yet here (see issue 6; version 6, Winograd, has them): vector (float4) loads and
// cp.async copies straight into shared memory. Nor anywhere yet: ldmatrix and a swizzled layout
// for the tensor-core fragments, Hopper's wgmma and TMA,
// and skipping the (s^2 - 1)/s^2 zero terms that backward-data with stride s > 1 multiplies (the
// ED-CNN's convolutions all have stride 1).
#include "kernels/conv2d.h"
#include "kernels/conv2d_winograd.h"
#include "kernels/conv_epilogue.cuh"
#include "kernels/nested_index.cuh"
#include "kernels/split_k.h"

#include <algorithm>
#include <type_traits>

#include "engine/error.h"
#include "kernels/reduce.h"
#include "kernels/simt.h"

namespace ednn::kernels {

// The sizes a kernel needs, as plain ints (ConvGeometry's member functions are host code).
// dy_shift: dy is stored at 1 / 2^dy_shift of its size, [N, C_out, H_out >> dy_shift, W_out >>
// dy_shift], and read through nearest upsampling, dy[n, o, i, j] = stored[n, o, i >> s, j >> s]:
// an Upsample layer fused into the loads of the transposed convolution after it (see conv2d.h).
struct ConvDims {
  int N, C_in, H_in, W_in, C_out, kH, kW, stride, pad, H_out, W_out;
  int dy_shift = 0;
};

// The block tiles of the implicit-GEMM kernels, and how a block's threads share the work of one
// tile. Each configuration says, for a block of `threads` threads computing a BM x BN tile of C
// over K in steps of BK, which `rows` x `cols` outputs each thread accumulates (Thread::row(i),
// Thread::col(j): positions inside the tile), what is stored into shared memory for a loaded
// value (to_operand: an Operand, a float or a pair of them), and how one step's tiles
// As[BK][BM + pad], Bs[BK][BN + pad] are multiplied into the thread's accumulators (multiply).
// The loads, the edges and the stores are written once, in the kernels below, for every
// configuration.

// Versions 2 and 3: CUDA cores, one fused multiply-add per instruction and thread. A thread owns
// a TM x TN grid of outputs made of runs of 4 neighbouring rows and columns: rows
// ty 4 + i % 4 + (i / 4) 4 BM/TM, columns likewise with tx. Each run of 4 is one 128-bit read from
// shared memory (ld.shared.v4) instead of four, and 8 threads reading 8 neighbouring runs of a
// row touch all 32 banks once: no conflict. (The first layout here had each thread's rows
// strided by BM/TM, which costs TM + TN scalar reads per k instead of (TM + TN) / 4.)
template <int BM_, int BN_, int BK_, int TM_, int TN_>
struct CudaCoreTiles {
  static constexpr int BM = BM_, BN = BN_, BK = BK_;
  static constexpr int threads = (BM / TM_) * (BN / TN_);
  static constexpr int pad = 4;  // floats added to each shared-memory row (bank conflicts of the stores)
  static constexpr int rows = TM_, cols = TN_;
  // Blocks per SM the compiler must leave room for (__launch_bounds__): 2 caps a 256-thread
  // block at 128 registers per thread, so that one block's barrier wait is another's work.
  static constexpr int min_blocks = 2;
  static_assert(TM_ % 4 == 0 && TN_ % 4 == 0, "a thread's outputs come in runs of 4");

  struct Thread {
    int ty, tx;
    __device__ explicit Thread(int tid) : ty(tid / (BN / TN_)), tx(tid % (BN / TN_)) {}
    __device__ int row(int i) const { return (i / 4) * (4 * BM / TM_) + ty * 4 + i % 4; }
    __device__ int col(int j) const { return (j / 4) * (4 * BN / TN_) + tx * 4 + j % 4; }
  };

  using Operand = float;
  __device__ static float to_operand(float v) { return v; }

  // acc[i][j] += sum_kk As[kk][row(i)] Bs[kk][col(j)]: per kk, TM + TN floats from shared memory
  // (in (TM + TN) / 4 128-bit reads) for TM TN multiply-adds (8 for 16 with 4 x 4, 16 for 64
  // with 8 x 8).
  // Every loop here has a trip count known at compile time: #pragma unroll turns them into
  // straight code, so a[], b[] and acc[][] live in registers and no instruction is spent on
  // loop counters (nvcc does not unroll nested loops this size on its own).
  __device__ static void multiply(const float (*As)[BM + pad], const float (*Bs)[BN + pad], float (&acc)[rows][cols],
                                  const Thread& th) {
    #pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float a[rows], b[cols];
      #pragma unroll
      for (int i = 0; i < rows; ++i) a[i] = As[kk][th.row(i)];
      #pragma unroll
      for (int j = 0; j < cols; ++j) b[j] = Bs[kk][th.col(j)];
      #pragma unroll
      for (int i = 0; i < rows; ++i)
        #pragma unroll
        for (int j = 0; j < cols; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
  }
};

// Version 4: tensor cores, TF32 inputs, float accumulators. The block's warps form a
// WARPS_M x WARPS_N grid; each warp computes a WM x WN piece of the tile as (WM/16) x (WN/8)
// tiles of 16 x 8, each by simt::mma_m16n8k8_tf32 once per 8 steps of k. A lane's outputs of a
// 16 x 8 tile are rows g, g + 8 and columns 2t, 2t + 1 (g = lane / 4, t = lane % 4; see
// kernels/simt.h), so over the warp's piece its rows(i) and cols(j) again form a grid.
//   - Values are rounded to TF32 once, when they are stored into shared memory, not at each use.
//   - Fragment reads: lane (g, t) reads As[kk + t][m + g] (and + 4, + 8); with rows of BM + 8
//     floats, the 32 lanes fall on banks 8 t + g: all different, no conflict. Same for Bs.
//
// Version 5 (SPLIT): float accuracy from the same tensor cores, "3xTF32". Each value v is split
// into v_hi = tf32(v) and v_lo = tf32(v - v_hi) (v - v_hi is exact in float), and a b is computed
// as a_lo b_hi + a_hi b_lo + a_hi b_hi. What is left out, a_lo b_lo and the rounding of the lo
// parts, is about 2^-22 relative: within a few float roundings of a plain float product, against
// 2^-11 for TF32 alone. Three mma instructions instead of one: on an H100/H200, whose TF32 tensor
// cores do about 7 times the float FMA rate, in principle still faster than CUDA cores at the
// same accuracy (cuDNN's fp32-only algorithms cannot use them).
//   - The split is done once, on the way into shared memory, which then holds (hi, lo) pairs:
//     each value is read by WARPS_N (A) or WARPS_M (B) warps, and splitting at every read cost
//     about 9 instructions per fragment value, more than the mma themselves.
//   - A pair is one 64-bit read. Half a warp's reads go together; with rows of BM + 4 pairs
//     (2 BM + 8 words, 8 modulo 32), lane (g, t) reads the words 8 t + 2 g and 8 t + 2 g + 1:
//     the 16 lanes cover the 32 banks once.
//   - The tiles are twice the size: 68 KiB for 128 x 128 tiles with BK 16, in dynamic shared
//     memory (SharedTiles).
template <int BM_, int BN_, int BK_, int WARPS_M, int WARPS_N, bool SPLIT = false>
struct TensorCoreTiles {
  static constexpr int BM = BM_, BN = BN_, BK = BK_;
  static constexpr int threads = 32 * WARPS_M * WARPS_N;
  static constexpr int pad = SPLIT ? 4 : 8;  // (see above)
  static constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N;  // one warp's piece
  static constexpr int MT = WM / 16, NT = WN / 8;             // its 16 x 8 tiles
  static constexpr int rows = 2 * MT, cols = 2 * NT;
  static constexpr int min_blocks = 1;
  static_assert(WM % 16 == 0 && WN % 8 == 0 && BK % 8 == 0, "tensor-core tiles are made of 16 x 8 x 8 steps");

  struct Thread {
    int warp_m0, warp_n0, g, t;
    __device__ explicit Thread(int tid)
        : warp_m0((tid / 32) / WARPS_N * WM), warp_n0((tid / 32) % WARPS_N * WN), g(tid % 32 / 4), t(tid % 4) {}
    __device__ int row(int i) const { return warp_m0 + (i / 2) * 16 + (i % 2) * 8 + g; }
    __device__ int col(int j) const { return warp_n0 + (j / 2) * 8 + 2 * t + j % 2; }
  };

  // What one element of the shared tiles holds: v rounded to TF32, or (SPLIT) v_hi and v_lo.
  struct __align__(8) SplitValue {
    float hi, lo;
  };
  using Operand = std::conditional_t<SPLIT, SplitValue, float>;
  __device__ static Operand to_operand(float v) {
    const float hi = simt::round_to_tf32(v);
    if constexpr (SPLIT) return SplitValue{hi, simt::round_to_tf32(v - hi)};
    else return hi;
  }
  __device__ static void unpack(const Operand& v, float& hi, float& lo) {
    if constexpr (SPLIT) hi = v.hi, lo = v.lo;
    else hi = v, lo = 0.0f;
  }

  // For each 8 steps of k: load the warp's A fragments (one per 16 rows) and B fragments (one per
  // 8 columns) from shared memory, then one mma per (16 x 8) tile (three with SPLIT). The
  // accumulators of tile (mt, nt) are acc[2 mt + (0, 1)][2 nt + (0, 1)], in the d[0..3] order of
  // the instruction.
  __device__ static void multiply(const Operand (*As)[BM + pad], const Operand (*Bs)[BN + pad],
                                  float (&acc)[rows][cols], const Thread& th) {
    #pragma unroll
    for (int kk = 0; kk < BK; kk += 8) {
      float a_hi[MT][4], a_lo[MT][4], b_hi[NT][2], b_lo[NT][2];
      #pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        const int m = th.warp_m0 + mt * 16 + th.g;
        unpack(As[kk + th.t][m], a_hi[mt][0], a_lo[mt][0]);
        unpack(As[kk + th.t][m + 8], a_hi[mt][1], a_lo[mt][1]);
        unpack(As[kk + th.t + 4][m], a_hi[mt][2], a_lo[mt][2]);
        unpack(As[kk + th.t + 4][m + 8], a_hi[mt][3], a_lo[mt][3]);
      }
      #pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        const int n = th.warp_n0 + nt * 8 + th.g;
        unpack(Bs[kk + th.t][n], b_hi[nt][0], b_lo[nt][0]);
        unpack(Bs[kk + th.t + 4][n], b_hi[nt][1], b_lo[nt][1]);
      }
      #pragma unroll
      for (int mt = 0; mt < MT; ++mt)
        #pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          float d[4] = {acc[2 * mt][2 * nt], acc[2 * mt][2 * nt + 1], acc[2 * mt + 1][2 * nt],
                        acc[2 * mt + 1][2 * nt + 1]};
          if (SPLIT) {  // the small cross terms first, then the large one
            simt::mma_m16n8k8_tf32(d, a_lo[mt], b_hi[nt]);
            simt::mma_m16n8k8_tf32(d, a_hi[mt], b_lo[nt]);
          }
          simt::mma_m16n8k8_tf32(d, a_hi[mt], b_hi[nt]);
          acc[2 * mt][2 * nt] = d[0];
          acc[2 * mt][2 * nt + 1] = d[1];
          acc[2 * mt + 1][2 * nt] = d[2];
          acc[2 * mt + 1][2 * nt + 1] = d[3];
        }
    }
  }
};

using SmallTiles = CudaCoreTiles<64, 64, 8, 4, 4>;       // version 2
using LargeTiles = CudaCoreTiles<128, 128, 8, 8, 8>;     // version 3
// Products with at most 16 rows (or columns) in a 64-row tile would leave 3/4 or more of its
// multiply-adds on zero rows: the dx of a layer with one input channel (M = C_in = 1; the forward
// pass of the ED-CNN's last transposed convolution, 32 -> 1), the dw of a first layer
// (Ncol = C_in kH kW = 9). Version 0 gives them tiles 16 wide on that side.
using NarrowRowTiles = CudaCoreTiles<16, 128, 8, 4, 4>;  // version 0, M <= 16
using NarrowColumnTiles = CudaCoreTiles<128, 16, 8, 4, 4>;  // version 0, Ncol <= 16
using SmallTensorTiles = TensorCoreTiles<64, 64, 16, 2, 2>;   // version 4, small products: 4 warps of 32 x 32
using LargeTensorTiles = TensorCoreTiles<128, 128, 16, 2, 4>; // version 4: 8 warps of 64 x 32
// Version 4 on products with at least 256 columns: 8 warps of 64 x 64. Each loaded value then
// feeds twice the mma of a 128 x 128 tile's, and each fragment read from shared memory one mma
// instead of 2/3: a TF32 mma costs the tensor cores 4 issue cycles, and in 128 x 128 tiles about
// 9 other instructions came with each (bench/ptx_loop_mix.py). 128 accumulators per thread.
using WideTensorTiles = TensorCoreTiles<128, 256, 16, 2, 4>;
using SmallSplitTiles = TensorCoreTiles<64, 64, 16, 2, 2, true>;    // version 5 (3xTF32)
using LargeSplitTiles = TensorCoreTiles<128, 128, 16, 2, 4, true>;  // version 5

// The two copies of the two shared tiles, As[2][BK][BM + pad] and Bs[2][BK][BN + pad], in the
// block's dynamic shared memory: the 3xTF32 tiles (pairs of floats, BK 16) need 68 KiB, more than
// the 48 KiB a kernel may declare statically; launch_tiled raises the kernel's limit.
template <class T>
struct SharedTiles {
  using Operand = typename T::Operand;
  static constexpr std::size_t a_bytes = 2 * T::BK * (T::BM + T::pad) * sizeof(Operand);
  static constexpr std::size_t bytes = a_bytes + 2 * T::BK * (T::BN + T::pad) * sizeof(Operand);
  static_assert(a_bytes % 16 == 0, "Bs must start 16-byte aligned");
  unsigned char* base;
  __device__ SharedTiles() {
    SIMT_DYNAMIC_SHARED(unsigned char, shared);
    base = shared;
  }
  __device__ Operand (*As() const)[T::BK][T::BM + T::pad] {
    return reinterpret_cast<Operand(*)[T::BK][T::BM + T::pad]>(base);
  }
  __device__ Operand (*Bs() const)[T::BK][T::BN + T::pad] {
    return reinterpret_cast<Operand(*)[T::BK][T::BN + T::pad]>(base + a_bytes);
  }
};

// The K loop of every tiled kernel, double-buffered. Two copies of each shared tile: while the
// block multiplies the tiles of step k0 out of one copy, each thread already has its loads of
// step k0 + BK in flight into registers (load), and writes them into the other copy (store)
// after its multiply, so the global-memory latency hides behind the arithmetic. One barrier per
// step suffices: it makes the new copy visible, and it keeps anyone from overwriting the copy
// being read (the next step writes the copy this step read, after everyone passed the barrier).
//   load(k0, a, b):        this thread's A and B values of step k0 into registers (zeros outside)
//   store(a, b, As_, Bs_): them into one copy of the shared tiles
template <class T, int A_LOADS, int B_LOADS, class Load, class Store>
__device__ __forceinline__ void pipelined_k_loop(int k_begin, int k_end, Load load, Store store,
                                                 typename T::Operand (*As)[T::BK][T::BM + T::pad],
                                                 typename T::Operand (*Bs)[T::BK][T::BN + T::pad],
                                                 float (&acc)[T::rows][T::cols],
                                                 const typename T::Thread& th) {
  float a[A_LOADS], b[B_LOADS];
  load(k_begin, a, b);
  store(a, b, As[0], Bs[0]);
  __syncthreads();
  int copy = 0;
  for (int k0 = k_begin; k0 < k_end; k0 += T::BK) {
    const bool more = k0 + T::BK < k_end;  // the same for the whole block
    if (more) load(k0 + T::BK, a, b);
    T::multiply(As[copy], Bs[copy], acc, th);
    if (more) store(a, b, As[copy ^ 1], Bs[copy ^ 1]);
    __syncthreads();
    copy ^= 1;
  }
}

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

// ---------------------------------------------------------------------------------------------
// Forward, kernel 1: direct. One thread per output value y[n, o, i, j] (grid-stride loop over
// all of them, consecutive threads on consecutive j), each looping over (c, p, q). Every x and w
// value is read from global memory C_out (resp. N H_out W_out) times; only the caches help.
// The baseline the tiled kernel is measured against.
// ---------------------------------------------------------------------------------------------
__global__ void conv2d_forward_kernel1(const float* __restrict__ x, const float* __restrict__ w,
                                       const float* __restrict__ bias, float* __restrict__ y, ConvDims d,
                                       ConvEpilogue epilogue) {
  const long total = long(d.N) * d.C_out * d.H_out * d.W_out;
  const long stride = long(blockDim.x) * gridDim.x;
  for (long idx = long(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += stride) {
    const int j = int(idx % d.W_out);
    long t = idx / d.W_out;
    const int i = int(t % d.H_out);
    t /= d.H_out;
    const int o = int(t % d.C_out);
    const int n = int(t / d.C_out);
    float acc = bias ? bias[o] : 0.0f;
    for (int c = 0; c < d.C_in; ++c) {
      const float* x_plane = x + (long(n) * d.C_in + c) * d.H_in * d.W_in;
      const float* w_kernel = w + (long(o) * d.C_in + c) * d.kH * d.kW;
      for (int p = 0; p < d.kH; ++p) {
        const int h = i * d.stride - d.pad + p;
        if (h < 0 || h >= d.H_in) continue;
        for (int q = 0; q < d.kW; ++q) {
          const int v = j * d.stride - d.pad + q;
          if (v < 0 || v >= d.W_in) continue;
          acc = fmaf(w_kernel[p * d.kW + q], x_plane[long(h) * d.W_in + v], acc);
        }
      }
    }
    y[idx] = apply_epilogue(acc, epilogue);
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

// ---------------------------------------------------------------------------------------------
// Forward, kernel 2: tiled implicit GEMM, y[o, (n, i, j)] = sum_k w[o, k] col[k, (n, i, j)].
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
// instructions per loaded element instead of a NestedIndex advance and four compares each. The A
// tile reads w[m, c, p, q] along c (every kH kW-th float); the other taps of the same floats are
// read in the next kH kW - 1 steps, from the L1 cache.
// ---------------------------------------------------------------------------------------------
template <class T, bool CHANNEL_BLOCKS>
__global__ void __launch_bounds__(T::threads, T::min_blocks)
    conv2d_forward_kernel2(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ bias,
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
    const int kHW = d.kH * d.kW, plane = d.H_in * d.W_in;
    NestedIndex step = {0, 0, 0};  // (cb, p, q) of the step being loaded
    const NestedIndex next_step = {0, 0, 1};
    auto load = [&](int, float (&a)[a_passes], float (&b)[b_passes]) {
      const int c0 = step.hi * BK, p = step.mid, q = step.lo;
      const int a_offset = (c0 + loads.a_k) * kHW + p * d.kW + q;  // w[0, c, p, q]
      #pragma unroll
      for (int r = 0; r < a_passes; ++r) {
        const int m = m0 + loads.a_m(r);
        a[r] = m < M ? w[m * K + a_offset] : 0.0f;
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
// Backward-data, kernel 1: tiled implicit GEMM, dx[c, (n, h, v)] = sum_k w^T[c, k] B[k, (n, h, v)]
// with k = (o, p, q). Same structure as the forward kernel 2; what differs is what a tile load
// computes:
// A tile: w^T[c, (o, p, q)] = w[o, c, p, q]: for a fixed o, k runs over the kH kW contiguous
//   values of w[o, c, :, :], so loading along k stays mostly coalesced.
// B tile: thread t loads column (n, h, v) = n0 + t % BN (neighbouring dx pixels). For k = (o, p, q)
//   the dy value that reaches dx[n, c, h, v] through w[o, c, p, q] is dy[n, o, i, j] with
//   i = (h + pad - p) / s, j = (v + pad - q) / s, if both divisions are exact and land inside dy.
// Both tiles follow their k = (o, p, q) with NestedIndex, as the forward kernel does; with
// CHANNEL_BLOCKS (BK divides C_out) the K steps are BK channels o at one tap (p, q), as there.
// ---------------------------------------------------------------------------------------------
template <class T, bool CHANNEL_BLOCKS>
__global__ void __launch_bounds__(T::threads, T::min_blocks)
    conv2d_backward_data_kernel1(const float* __restrict__ dy, const float* __restrict__ w,
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
      const int a_offset = (o0 + loads.a_k) * d.C_in * kHW + p * d.kW + q;  // w[o, 0, p, q]
      #pragma unroll
      for (int r = 0; r < a_passes; ++r) {
        const int m = m0 + loads.a_m(r);
        a[r] = m < M ? w[a_offset + m * kHW] : 0.0f;
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
// Backward-weight, kernel 1: tiled implicit GEMM with split-K,
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
    conv2d_backward_weight_kernel1(const float* __restrict__ x, const float* __restrict__ dy, float* __restrict__ out,
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

// out[e] = sum_{z < S} partials[z * count + e], for e < count, z in order: the second pass of split-K.
constexpr int reduce_block = 256;
constexpr long reduce_max_blocks = 4096;

__global__ void split_k_reduce_kernel1(const float* __restrict__ partials, float* __restrict__ out, long count,
                                       int slices) {
  const long stride = long(blockDim.x) * gridDim.x;
  for (long e = long(blockIdx.x) * blockDim.x + threadIdx.x; e < count; e += stride) {
    float sum = 0.0f;
    for (int z = 0; z < slices; ++z) sum += partials[z * count + e];
    out[e] = sum;
  }
}

// ---------------------------------------------------------------------------------------------
// Host launchers.
// ---------------------------------------------------------------------------------------------
namespace {

ConvDims check_dims(const ConvGeometry& g, const char* op) {
  EDNN_CHECK(g.N > 0 && g.C_in > 0 && g.H_in > 0 && g.W_in > 0 && g.C_out > 0 && g.kH > 0 && g.kW > 0, op,
             ": every size must be positive, got N ", g.N, ", C_in ", g.C_in, ", ", g.H_in, "x", g.W_in,
             ", C_out ", g.C_out, ", kernel ", g.kH, "x", g.kW);
  EDNN_CHECK(g.stride > 0 && g.pad >= 0, op, ": stride must be positive and padding non-negative, got ",
             g.stride, " and ", g.pad);
  const int H_out = (g.H_in + 2 * g.pad - g.kH) / g.stride + 1, W_out = (g.W_in + 2 * g.pad - g.kW) / g.stride + 1;
  EDNN_CHECK(g.H_in + 2 * g.pad >= g.kH && g.W_in + 2 * g.pad >= g.kW && g.H_out == H_out && g.W_out == W_out, op,
             ": output size ", g.H_out, "x", g.W_out, " does not match input ", g.H_in, "x", g.W_in, ", kernel ",
             g.kH, "x", g.kW, ", stride ", g.stride, ", padding ", g.pad, " (expected ", H_out, "x", W_out, ")");
  EDNN_CHECK(g.input_numel() < (1LL << 31) && g.output_numel() < (1LL << 31) && g.weight_numel() < (1LL << 31), op,
             ": tensors of 2^31 elements or more are not supported (GEMM indices are 32-bit)");
  return {g.N, g.C_in, g.H_in, g.W_in, g.C_out, g.kH, g.kW, g.stride, g.pad, g.H_out, g.W_out};
}

// log2 of dy_scale, after checking that dy_scale is a power of two that divides dy's size.
int dy_shift_for(int dy_scale, const ConvGeometry& g, const char* op) {
  EDNN_CHECK(dy_scale >= 1 && (dy_scale & (dy_scale - 1)) == 0, op, ": dy_scale must be a power of two, got ",
             dy_scale);
  EDNN_CHECK(g.H_out % dy_scale == 0 && g.W_out % dy_scale == 0, op, ": dy of ", g.H_out, "x", g.W_out,
             " is not an upsampling by ", dy_scale);
  int shift = 0;
  while ((1 << shift) < dy_scale) ++shift;
  return shift;
}

unsigned blocks_for(long n, int tile) { return static_cast<unsigned>((n + tile - 1) / tile); }

// The tile configuration that runs. Version 0 picks 3 (128 x 128 tiles) when the product has at
// least one full tile each way, tiles 16 wide when it has at most 16 rows or columns, else 2;
// version 4 (tensor cores) likewise picks its 128 x 256, 128 x 128 or 64 x 64 tiles.
enum class Kernel { direct, small, large, narrow_rows, narrow_columns, small_tensor, large_tensor, wide_tensor,
                    small_split, large_split };

// Calls f(Tiles{}) with the tile configuration of a tiled kernel.
template <class F>
void with_tiles(Kernel kernel, F&& f) {
  switch (kernel) {
    case Kernel::small: f(SmallTiles{}); break;
    case Kernel::narrow_rows: f(NarrowRowTiles{}); break;
    case Kernel::narrow_columns: f(NarrowColumnTiles{}); break;
    case Kernel::small_tensor: f(SmallTensorTiles{}); break;
    case Kernel::large_tensor: f(LargeTensorTiles{}); break;
    case Kernel::wide_tensor: f(WideTensorTiles{}); break;
    case Kernel::small_split: f(SmallSplitTiles{}); break;
    case Kernel::large_split: f(LargeSplitTiles{}); break;
    default: f(LargeTiles{}); break;
  }
}

// Versions 6 and 7 (Winograd, kernels/conv2d_winograd.cu) where they apply; elsewhere (other
// kernel sizes, strides, paddings) what version 0 runs. Version 7 is version 6 with its forward
// and backward-data kernels compiled for two blocks per SM.
bool is_winograd_version(int version) { return version == 6 || version == 7; }
int winograd_blocks_per_sm(int version) { return version == 7 ? 2 : 1; }
int implicit_gemm_version(int version) { return is_winograd_version(version) ? 0 : version; }
bool runs_winograd(int version, const ConvGeometry& g) { return is_winograd_version(version) && winograd_applies(g); }

Kernel resolve_kernel(int version, long M, long Ncol, const char* op, bool direct_allowed) {
  EDNN_CHECK((version >= 2 && version <= 7) || version == 0 || (direct_allowed && version == 1), op,
             ": no kernel version ", version, " (expected 0 (automatic), ", direct_allowed ? "1, " : "",
             "2, 3, 4 (tensor cores, TF32), 5 (tensor cores, 3xTF32), 6 or 7 (Winograd))");
  version = implicit_gemm_version(version);
  const bool large = M >= LargeTiles::BM && Ncol >= LargeTiles::BN;
  switch (version) {
    case 1: return Kernel::direct;
    case 2: return Kernel::small;
    case 3: return Kernel::large;
    case 4:
      if (M >= WideTensorTiles::BM && Ncol >= WideTensorTiles::BN) return Kernel::wide_tensor;
      return large ? Kernel::large_tensor : Kernel::small_tensor;
    case 5: return large ? Kernel::large_split : Kernel::small_split;
    default:
      if (M <= NarrowRowTiles::BM) return Kernel::narrow_rows;
      if (Ncol <= NarrowColumnTiles::BN) return Kernel::narrow_columns;
      return large ? Kernel::large : Kernel::small;
  }
}

// Launches a tiled kernel with its shared tiles, first raising the kernel's dynamic shared memory
// limit when they need more than the default 48 KiB: once per kernel (a function-local static of
// this template, which has one instance per kernel). grid carries the caller's file and line, for
// the error of a failed launch.
template <class T, auto Kernel, class... Args>
void launch_tiled(simt::Grid grid, simt::Stream stream, Args&&... args) {
  constexpr std::size_t bytes = SharedTiles<T>::bytes, default_limit = 48 * 1024;
  if constexpr (bytes > default_limit) {
    static const bool raised = (simt::set_max_dynamic_shared_bytes(Kernel, bytes), true);
    (void)raised;
  }
  simt::launch(Kernel, grid, T::threads, bytes, stream, std::forward<Args>(args)...);
}

template <class T>
void launch_forward_gemm(const float* x, const float* w, const float* bias, float* y, const ConvDims& d,
                         simt::Stream stream, ConvEpilogue epilogue) {
  const dim3 grid(blocks_for(long(d.N) * d.H_out * d.W_out, T::BN), blocks_for(d.C_out, T::BM));
  if (d.C_in % T::BK == 0)
    launch_tiled<T, conv2d_forward_kernel2<T, true>>(grid, stream, x, w, bias, y, d, epilogue);
  else
    launch_tiled<T, conv2d_forward_kernel2<T, false>>(grid, stream, x, w, bias, y, d, epilogue);
}

template <class T>
void launch_backward_data(const float* dy, const float* w, const float* bias, float* dx, const ConvDims& d,
                          simt::Stream stream, ConvEpilogue epilogue) {
  const dim3 grid(blocks_for(long(d.N) * d.H_in * d.W_in, T::BN), blocks_for(d.C_in, T::BM));
  if (d.C_out % T::BK == 0)
    launch_tiled<T, conv2d_backward_data_kernel1<T, true>>(grid, stream, dy, w, bias, dx, d, epilogue);
  else
    launch_tiled<T, conv2d_backward_data_kernel1<T, false>>(grid, stream, dy, w, bias, dx, d, epilogue);
}

// The split of backward-weight's K = N H_out W_out pixels into slices (kernels/split_k.h).
template <class T>
SplitK split_k(const ConvGeometry& g) {
  const long tiles = long(blocks_for(g.C_out, T::BM)) * blocks_for(long(g.C_in) * g.kH * g.kW, T::BN);
  return split_sum(long(g.N) * g.H_out * g.W_out, T::BK, tiles);
}

SplitK split_k_for(const ConvGeometry& g, Kernel kernel) {
  SplitK s{};
  with_tiles(kernel, [&](auto tiles) { s = split_k<decltype(tiles)>(g); });
  return s;
}

template <class T>
void launch_backward_weight(const float* x, const float* dy, float* out, const ConvDims& d, SplitK s,
                            simt::Stream stream) {
  const dim3 grid(blocks_for(long(d.C_in) * d.kH * d.kW, T::BN), blocks_for(d.C_out, T::BM), s.slices);
  if (d.C_in % T::BN == 0)
    launch_tiled<T, conv2d_backward_weight_kernel1<T, true>>(grid, stream, x, dy, out, d, int(s.chunk));
  else
    launch_tiled<T, conv2d_backward_weight_kernel1<T, false>>(grid, stream, x, dy, out, d, int(s.chunk));
}

Kernel backward_weight_kernel(const ConvGeometry& g, int version) {
  return resolve_kernel(version, g.C_out, long(g.C_in) * g.kH * g.kW, "conv2d_backward_weight", false);
}

}  // namespace

long conv2d_forward_workspace_size(const ConvGeometry& g, int version) {
  check_dims(g, "conv2d_forward_workspace_size");
  return runs_winograd(version, g) ? conv2d_forward_winograd_workspace_size(g) : 0;
}

long conv2d_backward_data_workspace_size(const ConvGeometry& g, int version) {
  check_dims(g, "conv2d_backward_data_workspace_size");
  return runs_winograd(version, g) ? conv2d_backward_data_winograd_workspace_size(g) : 0;
}

void conv2d_forward(const float* x, const float* w, const float* bias, float* y, const ConvGeometry& g,
                    simt::Stream stream, ConvEpilogue epilogue, int version, float* workspace) {
  const ConvDims d = check_dims(g, "conv2d_forward");
  const Kernel kernel = resolve_kernel(version, g.C_out, long(g.N) * g.H_out * g.W_out, "conv2d_forward", true);
  if (runs_winograd(version, g)) {
    conv2d_forward_winograd(x, w, bias, y, workspace, g, stream, epilogue, winograd_blocks_per_sm(version));
    return;
  }
  if (kernel == Kernel::direct) {
    constexpr int block = 256;
    const long blocks = std::min<long>((g.output_numel() + block - 1) / block, 65536L);
    simt::launch(conv2d_forward_kernel1, static_cast<unsigned>(blocks), block, 0, stream, x, w, bias, y, d, epilogue);
    return;
  }
  with_tiles(kernel, [&](auto tiles) { launch_forward_gemm<decltype(tiles)>(x, w, bias, y, d, stream, epilogue); });
}

void conv2d_backward_data(const float* dy, const float* w, float* dx, const ConvGeometry& g, simt::Stream stream,
                          const float* bias, ConvEpilogue epilogue, int version, int dy_scale, float* workspace) {
  ConvDims d = check_dims(g, "conv2d_backward_data");
  d.dy_shift = dy_shift_for(dy_scale, g, "conv2d_backward_data");
  const Kernel kernel = resolve_kernel(version, g.C_in, long(g.N) * g.H_in * g.W_in, "conv2d_backward_data", false);
  if (runs_winograd(version, g)) {
    conv2d_backward_data_winograd(dy, w, dx, workspace, g, stream, bias, epilogue, d.dy_shift,
                                  winograd_blocks_per_sm(version));
    return;
  }
  with_tiles(kernel, [&](auto tiles) { launch_backward_data<decltype(tiles)>(dy, w, bias, dx, d, stream, epilogue); });
}

namespace {
// The split of backward-weight's sum: Winograd's over tiles, or the implicit GEMM's over pixels.
SplitK backward_weight_split(const ConvGeometry& g, int version) {
  if (runs_winograd(version, g)) return conv2d_backward_weight_winograd_split(g);
  return split_k_for(g, backward_weight_kernel(g, version));
}
}  // namespace

long conv2d_backward_weight_workspace_size(const ConvGeometry& g, int version) {
  check_dims(g, "conv2d_backward_weight_workspace_size");
  const SplitK s = backward_weight_split(g, version);
  // The slices' partial dw [S, C_out, C_in kH kW] (none for one slice), then sum_per_channel's partials.
  return (s.slices == 1 ? 0 : long(s.slices) * g.weight_numel()) +
         sum_per_channel_workspace_size(g.N, g.C_out, long(g.H_out) * g.W_out);
}

void conv2d_backward_weight(const float* x, const float* dy, float* dw, float* dbias, float* workspace,
                            const ConvGeometry& g, simt::Stream stream, int version, int dy_scale) {
  ConvDims d = check_dims(g, "conv2d_backward_weight");
  d.dy_shift = dy_shift_for(dy_scale, g, "conv2d_backward_weight");
  EDNN_CHECK(!dbias || dy_scale == 1, "conv2d_backward_weight: no bias gradient with dy_scale ", dy_scale,
             " (sum the stored dy instead)");
  const SplitK s = backward_weight_split(g, version);
  EDNN_CHECK(workspace, "conv2d_backward_weight: needs a workspace of ",
             conv2d_backward_weight_workspace_size(g, version), " floats, got none");
  const long weight_count = g.weight_numel();
  float* partials = s.slices == 1 ? nullptr : workspace;
  float* bias_workspace = workspace + (s.slices == 1 ? 0 : long(s.slices) * weight_count);

  float* out = partials ? partials : dw;
  if (runs_winograd(version, g))
    conv2d_backward_weight_winograd(x, dy, out, g, s, stream, d.dy_shift);
  else
    with_tiles(backward_weight_kernel(g, version),
               [&](auto tiles) { launch_backward_weight<decltype(tiles)>(x, dy, out, d, s, stream); });
  if (partials) {
    const long blocks = std::min<long>(blocks_for(weight_count, reduce_block), reduce_max_blocks);
    simt::launch(split_k_reduce_kernel1, static_cast<unsigned>(blocks), reduce_block, 0, stream, partials, dw,
                 weight_count, s.slices);
  }
  // db[o] = sum of dy[:, o, :, :]: the per-channel block reduction of kernels/reduce.cu.
  if (dbias) sum_per_channel(dy, g.N, g.C_out, long(g.H_out) * g.W_out, dbias, bias_workspace, stream);
}

}  // namespace ednn::kernels
