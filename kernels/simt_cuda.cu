// The runtime behind kernels/simt.h and kernels/simt_host.h on a GPU (ednn_simt_cuda, nvcc):
// every CUDA runtime call checked, every launch checked (EDNN_SYNC_LAUNCHES=1 also waits for it),
// device memory, streams and graphs. Each function throws ednn::Error naming the call, the file
// and the line. Its twin for the CPU, with the same host functions, is kernels/simt_emulation.cpp.
#include "kernels/simt.h"

#if !defined(__CUDACC__)
#error "kernels/simt_cuda.cu is the GPU runtime: compile it with nvcc (the emulation is kernels/simt_emulation.cpp)"
#endif

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

namespace simt {

namespace {

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

// The emulation's controls do nothing here (a GPU has its own order); set_schedule records what
// schedule() then reports, so a test that sets and restores it reads back what it set.
Schedule recorded_schedule = Schedule::forward;

}  // namespace

void set_schedule(Schedule s, std::uint64_t) { recorded_schedule = s; }
Schedule schedule() { return recorded_schedule; }
void set_fiber_stack_size(std::size_t) {}

namespace detail {

[[noreturn]] void fail_cuda(cudaError_t error, const char* call, const char* file, int line) {
  // The failed call also left its error as the runtime's "last error"; this exception reports it,
  // so clear it, or the next launch's check would report it again (a refused copy during a graph
  // capture is such an error, and the program goes on after it).
  cudaGetLastError();
  ednn::fail(file, ":", line, ": ", call, " failed: ", cudaGetErrorName(error), " (",
             cudaGetErrorString(error), ")");
}

void check_launch(Stream stream, dim3 grid, dim3 block, std::size_t shared_bytes, const char* file, int line) {
  static const bool sync_launches = env_flag("EDNN_SYNC_LAUNCHES");
  cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess)
    ednn::fail(file, ":", line, ": kernel launch with grid (", grid.x, ",", grid.y, ",", grid.z, "), block (",
               block.x, ",", block.y, ",", block.z, "), ", shared_bytes, " bytes of dynamic shared memory failed: ",
               cudaGetErrorName(error), " (", cudaGetErrorString(error), ")");
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  if (sync_launches && cudaStreamIsCapturing(stream, &capture) == cudaSuccess &&
      capture == cudaStreamCaptureStatusNone) {  // a captured launch has not run: nothing to wait for
    error = cudaStreamSynchronize(stream);
    if (error != cudaSuccess)
      ednn::fail(file, ":", line, ": kernel failed while running (found by EDNN_SYNC_LAUNCHES=1): ",
                 cudaGetErrorName(error), " (", cudaGetErrorString(error), ")");
  }
}

}  // namespace detail

void* device_malloc(std::size_t bytes) {
  void* ptr = nullptr;
  SIMT_CHECK(cudaMalloc(&ptr, bytes));
  return ptr;
}
void device_free(void* ptr) noexcept {
  if (ptr) cudaFree(ptr);  // errors here would be earlier errors resurfacing; never throw from a destructor
}
void copy_to_device(void* dst, const void* src, std::size_t bytes) {
  SIMT_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}
void copy_to_host(void* dst, const void* src, std::size_t bytes) {
  SIMT_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}
void copy_on_device(void* dst, const void* src, std::size_t bytes) {
  SIMT_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
}
void device_memset(void* ptr, int value, std::size_t bytes) { SIMT_CHECK(cudaMemset(ptr, value, bytes)); }
void synchronize(Stream stream) { SIMT_CHECK(cudaStreamSynchronize(stream)); }

Stream create_stream() {
  cudaStream_t stream = nullptr;
  SIMT_CHECK(cudaStreamCreate(&stream));
  return stream;
}
void destroy_stream(Stream stream) noexcept {
  if (stream) cudaStreamDestroy(stream);
}
void device_memset_async(void* ptr, int value, std::size_t bytes, Stream stream) {
  SIMT_CHECK(cudaMemsetAsync(ptr, value, bytes, stream));
}
void copy_on_device_async(void* dst, const void* src, std::size_t bytes, Stream stream) {
  SIMT_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
}

struct Graph::Impl {
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  std::size_t nodes = 0;
  ~Impl() {
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
  }
};

namespace {
std::atomic<int> open_captures{0};
}

void begin_capture(Stream stream) {
  detail::check_capture_stream(stream, "begin_capture");
  SIMT_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
  ++open_captures;
}

Graph end_capture(Stream stream) {
  detail::check_capture_stream(stream, "end_capture");
  cudaGraph_t graph = nullptr;
  const cudaError_t error = cudaStreamEndCapture(stream, &graph);
  --open_captures;
  auto impl = std::make_unique<Graph::Impl>();  // owns the graph from here, on every path
  impl->graph = graph;
  if (error != cudaSuccess) {
    cudaGetLastError();  // reported here; not the next launch's error
    ednn::fail("simt::end_capture: cudaStreamEndCapture failed: ", cudaGetErrorName(error), " (",
               cudaGetErrorString(error), "); a call during the capture that cannot be recorded (a synchronous copy, "
               "a synchronize, a launch on the default stream) invalidates it");
  }
  SIMT_CHECK(cudaGraphGetNodes(graph, nullptr, &impl->nodes));
  SIMT_CHECK(cudaGraphInstantiate(&impl->exec, graph, 0));
  return Graph(std::move(impl));
}

bool capture_open() { return open_captures.load() > 0; }

void Graph::replay(Stream stream) {
  if (!impl_) ednn::fail("simt::Graph::replay: the graph is empty (nothing was captured)");
  SIMT_CHECK(cudaGraphLaunch(impl_->exec, stream));
}

bool device_emulated() { return false; }

namespace {
// An empty kernel, compiled for the same architectures as every kernel of the build: asking for
// its attributes tells whether the build has an image (SASS, or PTX the driver can compile) for
// the current device.
__global__ void image_probe() {}

#ifndef EDNN_CUDA_ARCHITECTURES
#define EDNN_CUDA_ARCHITECTURES "?"
#endif
}  // namespace

bool device_available(std::string* why) {
  int count = 0;
  cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    if (why) *why = std::string("no usable CUDA driver (cudaGetDeviceCount: ") + cudaGetErrorString(error) + ")";
    cudaGetLastError();
    return false;
  }
  if (count == 0) {
    if (why) *why = "the CUDA driver sees no GPU";
    return false;
  }
  // The card itself: ednn's kernels need sm_80 (cp.async into shared memory, TF32 tensor cores,
  // kernels/README.md), and the build must hold code for the card's architecture.
  int device = 0;
  cudaDeviceProp prop{};
  SIMT_CHECK(cudaGetDevice(&device));
  SIMT_CHECK(cudaGetDeviceProperties(&prop, device));
  const std::string card = ednn::detail::concat("GPU ", device, ", ", prop.name, " (sm_", prop.major, prop.minor, ")");
  if (prop.major < 8) {
    if (why)
      *why = card + ", is older than ednn supports: its kernels need sm_80 or newer (A100, A10, RTX 30 and later), "
                    "for cp.async copies into shared memory and TF32 tensor cores (mma.m16n8k8)";
    return false;
  }
  cudaFuncAttributes attributes{};
  error = cudaFuncGetAttributes(&attributes, image_probe);
  if (error != cudaSuccess) {
    cudaGetLastError();
    if (why)
      *why = ednn::detail::concat(card, ": this build has no kernel image for it (", cudaGetErrorString(error),
                                  "; built for CUDA architectures ", EDNN_CUDA_ARCHITECTURES,
                                  "); rebuild with -DCMAKE_CUDA_ARCHITECTURES=", prop.major, prop.minor,
                                  " (or native on this machine)");
    return false;
  }
  return true;
}

namespace detail {
void check_shared_opt_in(std::size_t bytes) {
  int device = 0, limit = 0;
  SIMT_CHECK(cudaGetDevice(&device));
  SIMT_CHECK(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  if (bytes > static_cast<std::size_t>(limit)) {
    cudaDeviceProp prop{};
    SIMT_CHECK(cudaGetDeviceProperties(&prop, device));
    ednn::fail("simt::set_max_dynamic_shared_bytes: ", bytes, " bytes of shared memory per block asked, but GPU ",
               device, ", ", prop.name, " (sm_", prop.major, prop.minor, "), allows at most ", limit);
  }
}
}  // namespace detail

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

void select_device(int index) {
  const int count = device_count();
  if (index < 0 || index >= count)
    ednn::fail("CUDA device ", index, " asked for, but the driver sees ", count, " device", count == 1 ? "" : "s",
               count > 0 ? ednn::detail::concat(" (cuda:0 to cuda:", count - 1, ")") : std::string());
  SIMT_CHECK(cudaSetDevice(index));
}

std::string device_description() {
  int device = 0;
  cudaDeviceProp prop{};
  SIMT_CHECK(cudaGetDevice(&device));
  SIMT_CHECK(cudaGetDeviceProperties(&prop, device));
  return ednn::detail::concat(prop.name, " (sm_", prop.major, prop.minor, ", ", prop.multiProcessorCount, " SMs, ",
                              prop.totalGlobalMem >> 20, " MiB)");
}

Graph::Graph() = default;
Graph::Graph(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Graph::~Graph() = default;
Graph::Graph(Graph&&) noexcept = default;
Graph& Graph::operator=(Graph&&) noexcept = default;
bool Graph::empty() const { return !impl_; }
std::size_t Graph::node_count() const { return impl_ ? impl_->nodes : 0; }

}  // namespace simt
