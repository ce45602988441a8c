// The host side of the simt layer, as plain C++ (no CUDA headers, no emulation macros): the
// stream type, "device" memory, and the controls of the emulation. Launcher headers
// (kernels/reduce.h, ...) include only this file, so any .cpp can call the launchers whether they
// were compiled by nvcc (ednn_kernels_cuda) or as C++ for the CPU (ednn_kernels_emu).
//
// Stream: the type cudaStream_t names (`struct CUstream_st*`), so a launcher has the same
// signature, and the same linker symbol, in both libraries. Under the emulation nothing ever
// dereferences it; a null stream means the default stream.
//
// Memory: under nvcc (ednn_simt_cuda, kernels/simt_cuda.cu) these are cudaMalloc/cudaMemcpy/... with
// every call checked; under the emulation (ednn_simt_emu, kernels/simt_emulation.cpp) device memory
// is host memory. Every copy is explicit: there is no
// unified memory, so a test that forgets to copy a result back fails in the emulation too.
// Fresh allocations are filled with 0xFF bytes under the emulation (NaN as float), as cudaMalloc
// memory is uninitialised: a kernel that reads what it never wrote shows it.
//
// Errors throw ednn::Error with the call, file and line.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

struct CUstream_st;

namespace simt {

using Stream = CUstream_st*;

// ---- the emulation's controls (no-ops on a GPU, which has its own order) ----
// The order in which the threads of a block run between two barriers, and in which blocks run:
// forward (0, 1, 2, ...), reverse, or a seeded random permutation drawn anew for every block and
// every barrier. The emulation's default comes from the environment,
// EDNN_SIMT_ORDER=forward|reverse|random[:seed] (forward when unset); set_schedule overrides it.
// On a GPU, set_schedule only records what schedule() returns (forward until set).
enum class Schedule { forward, reverse, random };
void set_schedule(Schedule schedule, std::uint64_t seed = 1);
Schedule schedule();
inline const char* schedule_name(Schedule schedule) {
  switch (schedule) {
    case Schedule::forward: return "forward";
    case Schedule::reverse: return "reverse";
    case Schedule::random: return "random";
  }
  return "?";
}
// Stack of each emulated thread (a fiber), 64 KiB by default or EDNN_SIMT_STACK_KIB. A stack
// overflow hits a guard page and crashes instead of corrupting its neighbour.
void set_fiber_stack_size(std::size_t bytes);

// ---- memory ----

void* device_malloc(std::size_t bytes);
void device_free(void* ptr) noexcept;
void copy_to_device(void* device_dst, const void* host_src, std::size_t bytes);
void copy_to_host(void* host_dst, const void* device_src, std::size_t bytes);
void copy_on_device(void* device_dst, const void* device_src, std::size_t bytes);
void device_memset(void* device_ptr, int byte_value, std::size_t bytes);
// Waits until all work queued on the stream has finished (a no-op under the emulation, where a
// launch returns when its kernel has run).
void synchronize(Stream stream = nullptr);

// ---- streams ----
// A new stream, blocking with respect to the legacy default stream (cudaStreamCreate): the
// synchronous copies above, which run on the default stream, still wait for its work and it for
// theirs. The emulation hands out distinct tokens, never dereferenced.
Stream create_stream();
void destroy_stream(Stream stream) noexcept;
// Queued on the stream, as a kernel is, instead of on the default stream: the forms a captured
// graph can contain (cudaMemsetAsync, cudaMemcpyAsync device to device).
void device_memset_async(void* device_ptr, int byte_value, std::size_t bytes, Stream stream);
void copy_on_device_async(void* device_dst, const void* device_src, std::size_t bytes, Stream stream);

// ---- graphs: record a stream's work once, replay it with one launch ----
// Between begin_capture(stream) and end_capture(stream) the work queued on the stream (kernels,
// the async memset and copy) is recorded, not run; the graph end_capture returns replays all of
// it, in order, with the arguments it was queued with (the same pointers, the same scalars),
// each time replay is called. Capture uses CUDA's relaxed mode, so device_malloc may run during
// it (its memory is not part of the graph; the caller keeps it alive as long as the graph).
// What cannot be recorded is an error, on the GPU and in the emulation alike:
//   - the synchronous copies and memset above, and synchronize(), while any capture is open
//     (they would wait for work that has not run: cudaErrorStreamCaptureImplicit/Unsupported);
//   - a launch on the default stream while another stream captures.
// In the emulation the recorded work runs at replay time, through the same scheduler.
class Graph {
public:
  Graph();
  ~Graph();
  Graph(Graph&&) noexcept;
  Graph& operator=(Graph&&) noexcept;
  bool empty() const;               // nothing captured (a default-constructed graph)
  std::size_t node_count() const;   // kernels, memsets and copies recorded
  void replay(Stream stream);       // queues the whole graph on the stream (cudaGraphLaunch)

  struct Impl;
private:
  explicit Graph(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  friend Graph end_capture(Stream stream);
};
void begin_capture(Stream stream);
Graph end_capture(Stream stream);
// True while a capture is open (on any stream).
bool capture_open();

namespace detail {
// Both builds' begin_capture and end_capture: the legacy default stream cannot be captured.
inline void check_capture_stream(Stream stream, const char* call) {
  if (stream == nullptr)
    ednn::fail("simt::", call, ": the default stream cannot be captured; use a stream from simt::create_stream");
}
}  // namespace detail

// True when kernels can run here. Under the emulation always true; under CUDA false when there
// is no driver or no device, or when the current device cannot run this build's kernels: older
// than sm_80 (no cp.async, no TF32 mma), or no kernel image for its architecture in the build
// (CMAKE_CUDA_ARCHITECTURES); then `why` says which, naming the card.
bool device_available(std::string* why = nullptr);
// The number of CUDA devices (the emulation is one device); 0 without a usable driver.
int device_count();
// Makes device `index` current for the calling thread's CUDA work (cudaSetDevice): call it before
// any allocation. Throws when index is not 0 .. device_count() - 1, naming the count (the
// emulation accepts 0 alone).
void select_device(int index);
// "CPU emulation (order forward)" or "NVIDIA H100 ... (sm_90)": for test and benchmark headers.
std::string device_description();
// True in the emulation library (ednn_simt_emu), false on CUDA.
bool device_emulated();

// A device array of n elements that frees itself; copies in and out are explicit.
template <class T>
class DeviceBuffer {
public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t n) : n_(n), ptr_(static_cast<T*>(device_malloc(n * sizeof(T)))) {}
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() { device_free(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : n_(std::exchange(o.n_, 0)), ptr_(std::exchange(o.ptr_, nullptr)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(n_, o.n_);
    std::swap(ptr_, o.ptr_);
    return *this;
  }

  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  std::size_t size() const { return n_; }

  // host.size() must equal size().
  void upload(const std::vector<T>& host) {
    if (host.size() != n_) throw_size_mismatch(host.size());
    copy_to_device(ptr_, host.data(), n_ * sizeof(T));
  }
  std::vector<T> download() const {
    std::vector<T> host(n_);
    copy_to_host(host.data(), ptr_, n_ * sizeof(T));
    return host;
  }

private:
  [[noreturn]] void throw_size_mismatch(std::size_t got) const {
    ednn::fail("simt::DeviceBuffer: host vector has ", got, " elements, the buffer ", n_);
  }
  std::size_t n_ = 0;
  T* ptr_ = nullptr;
};

}  // namespace simt
