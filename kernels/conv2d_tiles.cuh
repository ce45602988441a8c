// The tiles of the implicit-GEMM kernels (conv2d_gemm.cu): how a block multiplies its share of
// C[M, Ncol] = A[M, K] B[K, Ncol], whatever the convolution that A and B come from.
//
// A block of 256 threads (128 for the small tensor-core tiles) computes a BM x BN tile of C (grid.x
// over columns, grid.y over rows, grid.z over split-K slices). It walks K in steps of BK (8; 16 for
// TF32 on the tensor cores): all threads cooperatively load the BM x BK tile of A and the BK x BN
// tile of B into shared memory, then each thread multiplies them into its own outputs held in
// registers ("register blocking"). Shared memory is there because every loaded value is used by
// many threads: an A value by the BN/TN threads of its row, a B value by the BM/TM threads of its
// column; registers because each value read from shared memory is then used TN (or TM) times. Per
// k a thread reads TM + TN floats from shared memory for TM TN multiply-adds: 8 for 16 with 4 x 4
// (version 2), 16 for 64 with 8 x 8 (version 3), as 128-bit reads of 4 floats.
// The tiles are double-buffered (pipelined_k_loop): the loads of the next step are in flight
// while the current one is multiplied, one barrier per step.
//   - A thread's outputs come in runs of 4 neighbouring rows and columns (CudaCoreTiles), so
//     each run is one 128-bit shared-memory read, and a warp's reads cover the banks evenly.
//   - Tiles are stored k-major (As[k][m], Bs[k][n]) so that the inner loop reads rows. Rows are
//     padded by 4 floats: when 8 threads write 8 consecutive k of one column, the padding puts
//     them in 8 different banks.
//
// Version 4 keeps all of this and changes only the multiplication of the two shared tiles: the
// warps hand 16 x 8 x 8 pieces of it to the tensor cores (mma.sync with TF32 inputs, float
// accumulators; TensorCoreTiles below). TF32 keeps 10 of float's 23 mantissa bits, so each
// product carries a relative error up to about 2^-11 (PyTorch's allow_tf32 makes the same trade);
// the sums stay in float. The engine uses it only when asked (train --tf32, engine/numerics.h).
// Version 5 runs the same tensor cores three times per product to recover float accuracy
// (3xTF32, see TensorCoreTiles).
// Products with at most 16 rows or columns get tiles 16 wide on that side (version 0).
// Device code: include from a .cu after simt.h.
#pragma once
#include <cstddef>
#include <type_traits>

#include "kernels/conv2d_kernels.h"
#include "kernels/simt.h"

namespace ednn::kernels {

// The block tiles of the implicit-GEMM kernels, and how a block's threads share the work of one
// tile. Each configuration says, for a block of `threads` threads computing a BM x BN tile of C
// over K in steps of BK, which `rows` x `cols` outputs each thread accumulates (Thread::row(i),
// Thread::col(j): positions inside the tile), what is stored into shared memory for a loaded
// value (to_operand: an Operand, a float or a pair of them), and how one step's tiles
// As[BK][BM + pad], Bs[BK][BN + pad] are multiplied into the thread's accumulators (multiply).
// The loads, the edges and the stores are written once, in the kernels of conv2d_gemm.cu, for
// every configuration.

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

  // A run of 4 floats at a multiple of 4 (a row of the tile is 16-byte aligned: BM + pad is a
  // multiple of 4), read as one float4. nvcc would merge four float reads into the same
  // ld.shared.v4; written out, the CPU emulation's counters see the read the GPU makes.
  __device__ static void read_run(const float* run, float* to) {
    const float4 v = *reinterpret_cast<const float4*>(run);
    to[0] = v.x, to[1] = v.y, to[2] = v.z, to[3] = v.w;
  }

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
      for (int i = 0; i < rows; i += 4) read_run(&As[kk][th.row(i)], &a[i]);
      #pragma unroll
      for (int j = 0; j < cols; j += 4) read_run(&Bs[kk][th.col(j)], &b[j]);
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

// Calls f(Tiles{}) with the tile configuration that `tiles` names.
template <class F>
void with_tiles(ConvTiles tiles, F&& f) {
  switch (tiles) {
    case ConvTiles::small: f(SmallTiles{}); break;
    case ConvTiles::large: f(LargeTiles{}); break;
    case ConvTiles::narrow_rows: f(NarrowRowTiles{}); break;
    case ConvTiles::narrow_columns: f(NarrowColumnTiles{}); break;
    case ConvTiles::small_tensor: f(SmallTensorTiles{}); break;
    case ConvTiles::large_tensor: f(LargeTensorTiles{}); break;
    case ConvTiles::wide_tensor: f(WideTensorTiles{}); break;
    case ConvTiles::small_split: f(SmallSplitTiles{}); break;
    case ConvTiles::large_split: f(LargeSplitTiles{}); break;
  }
}

// The two copies of the two shared tiles, As[2][BK][BM + pad] and Bs[2][BK][BN + pad], in the
// block's dynamic shared memory: the 3xTF32 tiles (pairs of floats, BK 16) need 68 KiB, more than
// the 48 KiB a kernel may declare statically; launch_tiled (conv2d_gemm.cu) raises the kernel's
// limit.
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

}  // namespace ednn::kernels
