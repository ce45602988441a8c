// simt.h: the one header a kernel source (.cu) includes instead of talking to CUDA directly.
//
// Every kernel file is compiled twice (see cmake/EdnnKernels.cmake):
//   - by nvcc, into ednn_kernels_cuda: this header is a thin pass-through to CUDA;
//   - by g++ as C++, into ednn_kernels_emu: this header runs the kernels on the CPU, slowly and
//     exactly, so tests without a GPU execute the very same kernel bodies.
// Kernel bodies therefore contain no #ifdef; they use, as in CUDA:
//   __global__ __device__ __host__ __forceinline__ __restrict__ __shared__ __align__(n)
//   threadIdx blockIdx blockDim gridDim warpSize dim3
//   __syncthreads() __syncthreads_count/and/or(pred) __syncwarp(mask)
//   __shfl_sync __shfl_up_sync __shfl_down_sync __shfl_xor_sync __ballot_sync __any_sync __all_sync
//   atomicAdd (int, unsigned, unsigned long long, float, double) atomicSub atomicMax atomicMin
//   atomicExch atomicCAS, __threadfence(), __ldg, math (expf tanhf sqrtf rsqrtf fabsf fmaxf fminf
//   min max __fdividef __expf __popc __clz __ffs ...)
// and, where CUDA has syntax the C++ compiler cannot read, the layer's own spelling:
//   SIMT_DYNAMIC_SHARED(float, smem);                 // extern __shared__ float smem[];
//   simt::launch(kernel, grid, block, shared_bytes, stream, args...);   // kernel<<<...>>>(args...)
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
#include <tuple>
#include <type_traits>
#include <utility>

#include "engine/error.h"
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


// Allows more than the default 48 KiB of dynamic shared memory for one kernel.
template <class... Params>
void set_max_dynamic_shared_bytes(void (*kernel)(Params...), std::size_t bytes) {
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
#include <cmath>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)

struct uint3 {
  unsigned int x, y, z;
};
struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};

// The built-in index variables. The scheduler sets threadIdx before it resumes a fiber; kernels
// only read them.
inline uint3 threadIdx;
inline uint3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;
inline constexpr int warpSize = 32;

#define SIMT_DYNAMIC_SHARED(T, name) \
  T* name = reinterpret_cast<T*>(::simt::detail::dynamic_shared_memory())

namespace simt {

inline constexpr bool emulated = true;

namespace detail {

// What a thread waits for at a warp operation; the scheduler computes the results when all the
// lanes of the mask have arrived.
enum class WarpOp { sync, shfl_idx, shfl_up, shfl_down, shfl_xor, ballot, any, all };

void* dynamic_shared_memory();
void sync_block(const char* what, const char* file, int line);
int sync_block_count(int predicate, const char* what, const char* file, int line);  // count of nonzero
// Exchanges `bytes` (<= 16) bytes of `value` with the lanes of the mask; writes this lane's
// result into `result`. For votes, value holds an int predicate and result an unsigned.
void warp_op(WarpOp op, unsigned mask, const void* value, void* result, std::size_t bytes, int param,
             int width, const char* file, int line);

using KernelBody = void (*)(void* closure);
void run_grid(KernelBody body, void* closure, const void* kernel_id, dim3 grid, dim3 block,
              std::size_t shared_bytes, const char* file, int line);
void set_max_dynamic_shared_bytes(const void* kernel_id, std::size_t bytes);

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
// Fibers run one at a time on one OS thread: memory is always coherent.
inline void __threadfence() {}
inline void __threadfence_block() {}

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

// ---- atomics: fibers never run at the same time, so a plain read-modify-write is atomic ----
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
template <class T>
inline T __ldg(const T* p) { return *p; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
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
//   Emulation: runs the kernel to completion before returning.
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), Grid grid, dim3 block, std::size_t shared_bytes, Stream stream,
            Args&&... args) {
#if defined(__CUDACC__)
  kernel<<<grid.dims, block, shared_bytes, stream>>>(std::forward<Args>(args)...);
  detail::check_launch(stream, grid.dims, block, shared_bytes, grid.file, grid.line);
#else
  (void)stream;
  detail::Closure<Params...> closure{kernel, {std::forward<Args>(args)...}};
  detail::run_grid(&detail::Closure<Params...>::run, &closure, reinterpret_cast<const void*>(kernel), grid.dims,
                   block, shared_bytes, grid.file, grid.line);
#endif
}

}  // namespace simt
