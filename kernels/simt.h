// simt.h: the one header a kernel source (.cu) includes instead of talking to CUDA directly.
//
// Every kernel file is compiled twice (see cmake/EdnnKernels.cmake):
//   - by nvcc, into ednn_kernels_cuda: this header is a thin pass-through to CUDA;
//   - by g++ as C++, into ednn_kernels_emu: this header runs the kernels on the CPU, slowly and
//     exactly, so tests without a GPU execute the very same kernel bodies.
// Kernel bodies therefore contain no #ifdef; they use, as in CUDA:
//   __global__ __device__ __host__ __forceinline__ __restrict__ __shared__ __align__(n)
//   __launch_bounds__(...) __grid_constant__ threadIdx blockIdx blockDim gridDim dim3 float4
//   __syncthreads() __syncthreads_count/and/or(pred) __syncwarp(mask)
//   __shfl_sync __shfl_up_sync __shfl_down_sync __shfl_xor_sync __ballot_sync __any_sync __all_sync
//   atomicAdd (int, unsigned, unsigned long long, float, double) atomicSub atomicMax atomicMin
//   atomicExch atomicCAS, the host's <math.h> (expf tanhf sqrtf fabsf fmaf ...) and rsqrtf,
//   min and max (int, long, long long, their unsigned types, float, double), __float_as_uint and
//   __uint_as_float
// Each of these is used by a kernel or checked against a host model in tests/kernels/simt_test.cu
// (which runs on a GPU too, so the model is checked against the hardware). The rest of CUDA's
// device library is left out on purpose (__threadfence, __ldg, __expf, __popc, warpSize, ...): a
// kernel that needs one adds it here, with its test.
// and, where CUDA has syntax the C++ compiler cannot read, the layer's own spelling:
//   SIMT_DYNAMIC_SHARED(float, smem);                 // extern __shared__ float smem[];
//   simt::launch(kernel, grid, block, shared_bytes, stream, args...);   // kernel<<<...>>>(args...)
//   simt::mma_m16n8k8_tf32(d, a, b);                  // asm("mma.sync.aligned.m16n8k8...tf32...")
//   simt::round_to_tf32(v);                           // what cvt.rna.tf32.f32 computes
//   simt::copy_async_16(shared_dst, global_src);      // asm("cp.async.cg.shared.global ... 16")
//   simt::copy_async_wait_all();                      // asm("cp.async.commit_group; cp.async.wait_group 0")
//
// How the emulation works (the guided tour is in kernels/README.md):
//   - Blocks run one after another. Each thread of a block is a fiber (ucontext) with its own
//     stack; one fiber runs at a time, until it reaches a barrier or returns.
//   - A "round" runs every runnable thread, in the order set by simt::set_schedule or
//     EDNN_SIMT_ORDER (forward, reverse, seeded random), until each has stopped. Then the
//     scheduler releases the warp operations (shuffles, votes, __syncwarp) whose lanes have all
//     arrived, or, when none is pending, the block barrier. A missing __syncthreads() thus makes
//     one thread see another's writes all-or-nothing, depending on the order: a wrong answer
//     under some order, which the tests run all three of.
//   - A barrier that cannot be released aborts with a report of every thread's state: a
//     __syncthreads() that some threads skip (returned, or wait elsewhere), threads waiting at
//     __syncthreads() on different lines, a shuffle that only part of a warp reaches.
//   - __shared__ is `static`: one plain object that every thread and block sees, not
//     thread_local, so AddressSanitizer reports an overflow. Dynamic shared memory is a heap
//     block of exactly the launch's size, refilled with 0xFF (NaN) before each block.
//   - Launches are synchronous and serialised (a global lock): static shared arrays are shared.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "core/error.h"
#include "kernels/simt_host.h"

#if defined(__CUDACC__)
// ============================================================================================
// CUDA: a pass-through.
// ============================================================================================
#include <cuda_runtime.h>

static_assert(std::is_same_v<simt::Stream, cudaStream_t>, "simt::Stream must be cudaStream_t");

// Checks a CUDA runtime call; throws ednn::Error naming the call, the file and the line.
#define SIMT_CHECK(call) ::simt::detail::check_cuda((call), #call, __FILE__, __LINE__)

// Declares `T* name` pointing at the block's dynamic shared memory (the launch's shared_bytes).
#define SIMT_DYNAMIC_SHARED(T, name)                                     \
  extern __shared__ __align__(16) unsigned char simt_dynamic_shared_[]; \
  T* name = reinterpret_cast<T*>(simt_dynamic_shared_)

namespace simt {

inline constexpr bool emulated = false;

namespace detail {
[[noreturn]] void fail_cuda(cudaError_t error, const char* call, const char* file, int line);
inline void check_cuda(cudaError_t error, const char* call, const char* file, int line) {
  if (error != cudaSuccess) fail_cuda(error, call, file, line);
}
// After every launch: the launch error, and with EDNN_SYNC_LAUNCHES=1 the execution error.
void check_launch(Stream stream, dim3 grid, dim3 block, std::size_t shared_bytes, const char* file,
                  int line);
}  // namespace detail


namespace detail {
// Throws unless the current device allows `bytes` of dynamic shared memory per block with the
// opt-in (sm_80: 163 KiB, sm_86 and sm_89: 99 KiB, sm_90: 227 KiB), naming the card.
void check_shared_opt_in(std::size_t bytes);
}  // namespace detail

// Allows more than the default 48 KiB of dynamic shared memory for one kernel, after checking
// that the current card has that much.
template <class... Params>
void set_max_dynamic_shared_bytes(void (*kernel)(Params...), std::size_t bytes) {
  detail::check_shared_opt_in(bytes);
  SIMT_CHECK(cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel),
                                  cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
}

}  // namespace simt

#else
// ============================================================================================
// The CPU emulation.
// ============================================================================================
#include <math.h>  // expf, tanhf, sqrtf, fabsf, fmaxf, fminf, fmaf, ... in the global namespace, as in CUDA

#include <algorithm>
#include <bit>
#include <cmath>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)
#define __grid_constant__

struct uint3 {
  unsigned int x, y, z;
};
struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};
// CUDA's 16-byte vector: a load or store of one is a single 128-bit instruction on the GPU.
struct __align__(16) float4 {
  float x, y, z, w;
};

// The built-in index variables. The scheduler sets threadIdx before it resumes a fiber; kernels
// only read them.
inline uint3 threadIdx;
inline uint3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;

#define SIMT_DYNAMIC_SHARED(T, name) \
  T* name = reinterpret_cast<T*>(::simt::detail::dynamic_shared_memory())

namespace simt {

inline constexpr bool emulated = true;

namespace detail {

// What a thread waits for at a warp operation; the scheduler computes the results when all the
// lanes of the mask have arrived.
// gather: every lane receives the values of all 32 lanes (the emulated tensor-core instruction
// is built on it).
enum class WarpOp { sync, shfl_idx, shfl_up, shfl_down, shfl_xor, ballot, any, all, gather };

void* dynamic_shared_memory();
void sync_block(const char* what, const char* file, int line);
int sync_block_count(int predicate, const char* what, const char* file, int line);  // count of nonzero
// Exchanges `bytes` (<= 16) bytes of `value` with the lanes of the mask; writes this lane's
// result into `result`. For votes, value holds an int predicate and result an unsigned.
void warp_op(WarpOp op, unsigned mask, const void* value, void* result, std::size_t bytes, int param,
             int width, const char* file, int line);

// cp.async in the emulation (see copy_async_16 below): records the copy, fills the destination
// with 0xFF (NaN); the wait makes the recorded copies of the calling thread.
void copy_async(void* shared_dst, const void* global_src, std::size_t bytes, const char* file, int line);
void copy_async_wait_all();

using KernelBody = void (*)(void* closure);
void run_grid(KernelBody body, void* closure, const void* kernel_id, dim3 grid, dim3 block,
              std::size_t shared_bytes, const char* file, int line);
void set_max_dynamic_shared_bytes(const void* kernel_id, std::size_t bytes);
// Runs `work` now, or, while `stream` captures a graph (simt_host.h), records it to run at each
// replay; throws (naming file and line) for work on the default stream while another stream
// captures. Every launch, async memset and async copy goes through it.
void run_or_record(Stream stream, const char* file, int line, std::function<void()> work);

template <class T>
T warp_exchange(WarpOp op, unsigned mask, T value, int param, int width, const char* file, int line) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 16,
                "warp shuffles exchange trivially copyable values of at most 16 bytes");
  T result;
  warp_op(op, mask, &value, &result, sizeof(T), param, width, file, line);
  return result;
}

template <class... Params>
struct Closure {
  void (*kernel)(Params...);
  std::tuple<std::decay_t<Params>...> args;
  // Each thread calls the kernel with its own copies of the arguments, as on the GPU.
  static void run(void* self) {
    auto* c = static_cast<Closure*>(self);
    std::apply(c->kernel, std::tuple<std::decay_t<Params>...>(c->args));
  }
};

}  // namespace detail

template <class... Params>
void set_max_dynamic_shared_bytes(void (*kernel)(Params...), std::size_t bytes) {
  detail::set_max_dynamic_shared_bytes(reinterpret_cast<const void*>(kernel), bytes);
}

}  // namespace simt

// ---- barriers (the call site's file and line are captured for the divergence report) --------
inline void __syncthreads(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  simt::detail::sync_block("__syncthreads", file, line);
}
inline int __syncthreads_count(int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return simt::detail::sync_block_count(predicate, "__syncthreads_count", file, line);
}
inline int __syncthreads_and(int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return simt::detail::sync_block_count(predicate ? 0 : 1, "__syncthreads_and", file, line) == 0;
}
inline int __syncthreads_or(int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return simt::detail::sync_block_count(predicate, "__syncthreads_or", file, line) != 0;
}
inline void __syncwarp(unsigned mask = 0xffffffffu, const char* file = __builtin_FILE(),
                       int line = __builtin_LINE()) {
  simt::detail::warp_op(simt::detail::WarpOp::sync, mask, nullptr, nullptr, 0, 0, 32, file, line);
}
// ---- warp shuffles and votes ----------------------------------------------------------------
template <class T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = 32, const char* file = __builtin_FILE(),
              int line = __builtin_LINE()) {
  return simt::detail::warp_exchange(simt::detail::WarpOp::shfl_idx, mask, var, src_lane, width, file, line);
}
template <class T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32, const char* file = __builtin_FILE(),
                 int line = __builtin_LINE()) {
  return simt::detail::warp_exchange(simt::detail::WarpOp::shfl_up, mask, var, static_cast<int>(delta), width,
                                     file, line);
}
template <class T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32, const char* file = __builtin_FILE(),
                   int line = __builtin_LINE()) {
  return simt::detail::warp_exchange(simt::detail::WarpOp::shfl_down, mask, var, static_cast<int>(delta),
                                     width, file, line);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32, const char* file = __builtin_FILE(),
                  int line = __builtin_LINE()) {
  return simt::detail::warp_exchange(simt::detail::WarpOp::shfl_xor, mask, var, lane_mask, width, file, line);
}
inline unsigned __ballot_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(),
                              int line = __builtin_LINE()) {
  int p = predicate != 0;
  unsigned r = 0;
  simt::detail::warp_op(simt::detail::WarpOp::ballot, mask, &p, &r, sizeof p, 0, 32, file, line);
  return r;
}
inline int __any_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  int p = predicate != 0;
  unsigned r = 0;
  simt::detail::warp_op(simt::detail::WarpOp::any, mask, &p, &r, sizeof p, 0, 32, file, line);
  return static_cast<int>(r);
}
inline int __all_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  int p = predicate != 0;
  unsigned r = 0;
  simt::detail::warp_op(simt::detail::WarpOp::all, mask, &p, &r, sizeof p, 0, 32, file, line);
  return static_cast<int>(r);
}

// ---- atomics: fibers run one at a time on one OS thread, so memory is always coherent and a
// plain read-modify-write is atomic -------------------------------------------------------------
template <class T>
inline T simt_atomic_update_(T* address, T value, int op) {
  T old = *address;
  switch (op) {
    case 0: *address = old + value; break;
    case 1: *address = old - value; break;
    case 2: *address = std::max(old, value); break;
    case 3: *address = std::min(old, value); break;
    default: *address = value; break;
  }
  return old;
}
inline int atomicAdd(int* a, int v) { return simt_atomic_update_(a, v, 0); }
inline unsigned atomicAdd(unsigned* a, unsigned v) { return simt_atomic_update_(a, v, 0); }
inline unsigned long long atomicAdd(unsigned long long* a, unsigned long long v) { return simt_atomic_update_(a, v, 0); }
inline float atomicAdd(float* a, float v) { return simt_atomic_update_(a, v, 0); }
inline double atomicAdd(double* a, double v) { return simt_atomic_update_(a, v, 0); }
inline int atomicSub(int* a, int v) { return simt_atomic_update_(a, v, 1); }
inline unsigned atomicSub(unsigned* a, unsigned v) { return simt_atomic_update_(a, v, 1); }
inline int atomicMax(int* a, int v) { return simt_atomic_update_(a, v, 2); }
inline unsigned atomicMax(unsigned* a, unsigned v) { return simt_atomic_update_(a, v, 2); }
inline int atomicMin(int* a, int v) { return simt_atomic_update_(a, v, 3); }
inline unsigned atomicMin(unsigned* a, unsigned v) { return simt_atomic_update_(a, v, 3); }
inline int atomicExch(int* a, int v) { return simt_atomic_update_(a, v, 4); }
inline unsigned atomicExch(unsigned* a, unsigned v) { return simt_atomic_update_(a, v, 4); }
inline float atomicExch(float* a, float v) { return simt_atomic_update_(a, v, 4); }
template <class T>
inline T simt_atomic_cas_(T* address, T compare, T value) {
  T old = *address;
  if (old == compare) *address = value;
  return old;
}
inline int atomicCAS(int* a, int c, int v) { return simt_atomic_cas_(a, c, v); }
inline unsigned atomicCAS(unsigned* a, unsigned c, unsigned v) { return simt_atomic_cas_(a, c, v); }
inline unsigned long long atomicCAS(unsigned long long* a, unsigned long long c, unsigned long long v) {
  return simt_atomic_cas_(a, c, v);
}

// ---- device functions CUDA provides and C++ does not ----------------------------------------
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline unsigned __float_as_uint(float x) { return std::bit_cast<unsigned>(x); }
inline float __uint_as_float(unsigned x) { return std::bit_cast<float>(x); }
// CUDA's global min/max for the types kernels use (mixed types are an error, as they should be).
#define SIMT_MIN_MAX_(T)                                \
  inline T min(T a, T b) { return b < a ? b : a; } \
  inline T max(T a, T b) { return a < b ? b : a; }
SIMT_MIN_MAX_(int)
SIMT_MIN_MAX_(unsigned)
SIMT_MIN_MAX_(long)
SIMT_MIN_MAX_(unsigned long)
SIMT_MIN_MAX_(long long)
SIMT_MIN_MAX_(unsigned long long)
SIMT_MIN_MAX_(float)
SIMT_MIN_MAX_(double)
#undef SIMT_MIN_MAX_

#endif

// ============================================================================================
// The launch helper, both builds.
// ============================================================================================
namespace simt {

// The grid of a launch, with the launching call's file and line (taken where the implicit
// conversion from dim3 or an integer happens, i.e. at the call of simt::launch), so a failed
// launch names the line that made it.
struct Grid {
  dim3 dims;
  const char* file;
  int line;
  Grid(dim3 d, const char* f = __builtin_FILE(), int l = __builtin_LINE()) : dims(d), file(f), line(l) {}
  Grid(unsigned int x, const char* f = __builtin_FILE(), int l = __builtin_LINE()) : dims(x), file(f), line(l) {}
};

// Runs kernel over a grid of blocks of `block` threads with shared_bytes of dynamic shared
// memory, on the stream: kernel<<<grid, block, shared_bytes, stream>>>(args...). The arguments
// are converted to the kernel's parameter types, as <<<>>> does. Then checks the launch and
// throws ednn::Error with this call's file and line if it failed.
//   CUDA: asynchronous; with EDNN_SYNC_LAUNCHES=1 it also waits for the kernel and checks how it ran.
//   Emulation: runs the kernel to completion before returning (or, while the stream captures a
//   graph, records it to run at each replay).
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), Grid grid, dim3 block, std::size_t shared_bytes, Stream stream,
            Args&&... args) {
#if defined(__CUDACC__)
  kernel<<<grid.dims, block, shared_bytes, stream>>>(std::forward<Args>(args)...);
  detail::check_launch(stream, grid.dims, block, shared_bytes, grid.file, grid.line);
#else
  // The closure holds the arguments, so a recorded launch replays with the values it was given.
  detail::Closure<Params...> closure{kernel, {std::forward<Args>(args)...}};
  detail::run_or_record(stream, grid.file, grid.line, [closure, grid, block, shared_bytes]() mutable {
    detail::run_grid(&detail::Closure<Params...>::run, &closure, reinterpret_cast<const void*>(closure.kernel),
                     grid.dims, block, shared_bytes, grid.file, grid.line);
  });
#endif
}

}  // namespace simt

// ============================================================================================
// Tensor cores, both builds: TF32 rounding and one warp-wide matrix multiply-accumulate.
// ============================================================================================
namespace simt {

// TF32 keeps float's sign and 8-bit exponent but only 10 of its 23 mantissa bits (19 bits in a
// 32-bit register). Rounds v to the nearest TF32 value, ties away from zero, as a float whose 13
// low bits are zero. On a GPU (sm_80 and later) that is one instruction, cvt.rna.tf32.f32.
// Elsewhere (the emulation) the same rounding in integer operations: add half a TF32 unit (bit
// 12) to the magnitude, then clear the 13 low bits. A carry into the exponent is the right answer
// (1.11111111111b... rounds up to 2); Inf and NaN pass through. The conv test "version 4 (tensor
// cores) rounds its inputs to TF32, to nearest, ties away from zero" checks ties, the carry and
// ordinary values, so on a GPU it checks that the instruction and the emulation agree.
__device__ __forceinline__ float round_to_tf32(float v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  unsigned bits;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(bits) : "f"(v));
  return __uint_as_float(bits);
#else
  unsigned bits = __float_as_uint(v);
  if ((bits & 0x7f800000u) != 0x7f800000u) bits = (bits + 0x1000u) & 0xffffe000u;
  return __uint_as_float(bits);
#endif
}

// d += a b for a 16 x 8 tile d, a 16 x 8 tile a and an 8 x 8 tile b (m16n8k8), computed by the
// whole warp together: every lane holds a piece of each matrix in registers (a "fragment") and
// all 32 must call it together, with the same shapes. With lane = 4 g + t (g = lane / 4 in 0..7,
// t = lane % 4 in 0..3), lane holds
//   a[0] = A[g][t]    a[1] = A[g + 8][t]    a[2] = A[g][t + 4]    a[3] = A[g + 8][t + 4]
//   b[0] = B[t][g]    b[1] = B[t + 4][g]
//   d[0] = D[g][2t]   d[1] = D[g][2t + 1]   d[2] = D[g + 8][2t]   d[3] = D[g + 8][2t + 1]
// (the PTX ISA's "matrix fragments for mma.m16n8k8" with .tf32 inputs and .f32 accumulators).
// The hardware reads a and b as TF32: it ignores their 13 low mantissa bits, so callers round
// with round_to_tf32 first. Products of two TF32 numbers are exact in float; the sums are float.
#if defined(__CUDACC__)
__device__ __forceinline__ void mma_m16n8k8_tf32(float (&d)[4], const float (&a)[4], const float (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(__float_as_uint(a[0])), "r"(__float_as_uint(a[1])), "r"(__float_as_uint(a[2])),
        "r"(__float_as_uint(a[3])), "r"(__float_as_uint(b[0])), "r"(__float_as_uint(b[1])));
#else
  (void)d, (void)a, (void)b;
  __trap();  // tensor cores with TF32 need sm_80 or later
#endif
}
#else
// The emulation: each lane gathers the fragments of all 32 lanes (a warp operation: it waits
// until the whole warp has arrived, as the real instruction does), rebuilds A and B, and
// computes its own four elements of D, inputs truncated to TF32 as the hardware does.
inline void mma_m16n8k8_tf32(float (&d)[4], const float (&a)[4], const float (&b)[2],
                             const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  struct Fragments {
    float a[4], b[2];
  };
  const Fragments mine{{a[0], a[1], a[2], a[3]}, {b[0], b[1]}};
  Fragments lanes[32];
  detail::warp_op(detail::WarpOp::gather, 0xffffffffu, &mine, lanes, sizeof mine, 0, 32, file, line);
  auto tf32 = [](float v) { return __uint_as_float(__float_as_uint(v) & 0xffffe000u); };
  const unsigned linear = threadIdx.x + threadIdx.y * blockDim.x + threadIdx.z * blockDim.x * blockDim.y;
  const int lane = static_cast<int>(linear % 32), g = lane / 4, t = lane % 4;
  for (int r = 0; r < 4; ++r) {
    const int row = g + 8 * (r / 2), col = 2 * t + r % 2;
    float sum = d[r];
    for (int k = 0; k < 8; ++k) {
      const float a_value = lanes[(row % 8) * 4 + k % 4].a[row / 8 + 2 * (k / 4)];  // A[row][k]
      const float b_value = lanes[col * 4 + k % 4].b[k / 4];                        // B[k][col]
      sum = fmaf(tf32(a_value), tf32(b_value), sum);
    }
    d[r] = sum;
  }
}
#endif

}  // namespace simt

// ============================================================================================
// Asynchronous copies into shared memory, both builds (cp.async, sm_80 and later).
// ============================================================================================
namespace simt {

// Starts a copy of 16 bytes from global to shared memory that does not pass through the thread's
// registers (nor, .cg, through L1): the thread goes on at once, and the registers a load-then-store
// would hold until the data arrives stay free. Both addresses 16-byte aligned. The data is there
// only after this thread's copy_async_wait_all(), and for the other threads of the block only
// after a __syncthreads() that follows it. The emulation is strict about it: the destination
// reads as NaN from the copy until the wait, which makes the copy then (the latest moment a GPU
// may), so a read that comes too early fails the tests instead of passing by luck.
#if defined(__CUDACC__)
__device__ __forceinline__ void copy_async_16(void* shared_dst, const void* global_src) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(shared_dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(global_src) : "memory");
#else
  *static_cast<float4*>(shared_dst) = *static_cast<const float4*>(global_src);
#endif
}

// Waits for every copy_async_16 this thread started (commits them as one group, waits for all).
__device__ __forceinline__ void copy_async_wait_all() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\ncp.async.wait_group 0;\n" ::: "memory");
#endif
}
#else
inline void copy_async_16(void* shared_dst, const void* global_src, const char* file = __builtin_FILE(),
                          int line = __builtin_LINE()) {
  detail::copy_async(shared_dst, global_src, 16, file, line);
}
inline void copy_async_wait_all() { detail::copy_async_wait_all(); }
#endif

}  // namespace simt
