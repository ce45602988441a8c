// The CUDA device: memory, copies and the stream every CUDA tensor operation runs on.
//
// Built only when ednn has CUDA (EDNN_WITH_CUDA). It is written against the simt layer's host
// side (kernels/simt_host.h), which in a GPU build is the CUDA runtime with every call checked
// (the error names the call, the file and the line) and in the emulated build (EDNN_EMULATE_CUDA)
// is host memory standing in for device memory, so the same engine code runs in CI.
//
// Memory comes from a caching allocator: a freed block goes back to a free list keyed by its
// rounded size and is handed out again to the next request of that size. A training step asks for
// the same sizes every time, so after the first step no cudaMalloc (which synchronises the whole
// device) and no cudaFree happen. Reuse is safe without events because all work runs on one
// stream, in order: a kernel that still reads a freed block is queued before any kernel that
// writes into its next owner.
//
// A captured CUDA graph (engine/cuda_graph.h) is the exception: its kernels run again at every
// replay, with the addresses they were captured with. So what is allocated or freed during a
// capture belongs to a pool of that graph's own: its blocks are handed out again only to later
// allocations of the same capture (in graph order, so that is safe), never to the rest of the
// program, until the graph is destroyed and releases its pool.
#pragma once
#include <cstddef>
#include <string>

#include "kernels/simt_host.h"

namespace ednn::cuda {

// True when CUDA kernels can run here; otherwise `why` says what is missing ("no usable CUDA
// driver (cudaGetDeviceCount: ...)" or "the CUDA driver sees no GPU").
bool runtime_available(std::string* why = nullptr);
// True when the "device" is the simt CPU emulation (an EDNN_EMULATE_CUDA build): correct, slow.
bool runtime_emulated();

// The stream every operation on Device::cuda is queued on: one created stream (a CUDA graph can
// only be captured from a stream of its own), blocking with respect to the default stream. Host
// <-> device copies (cudaMemcpy on the default stream) therefore still wait for the kernels before
// them; nothing else in forward or backward waits for the device.
simt::Stream stream();

void* allocator_alloc(std::size_t bytes);
void allocator_free(void* ptr, std::size_t bytes) noexcept;

// The pools of captured graphs: from begin to end, every allocation and every free goes to a new
// pool; release hands its free blocks back to the cache (the graph is gone).
using GraphPool = unsigned long long;
GraphPool allocator_begin_graph_pool();
void allocator_end_graph_pool();
void allocator_release_graph_pool(GraphPool pool) noexcept;

struct AllocatorStats {
  std::size_t bytes_in_use = 0;    // handed out and not yet freed (rounded sizes)
  std::size_t bytes_cached = 0;    // kept in the free lists, the graph pools' included
  std::size_t bytes_in_graph_pools = 0;  // of which kept for live graphs (not trimmed)
  std::size_t device_mallocs = 0;  // calls to the device allocator since the start
  std::size_t cache_hits = 0;      // requests served from the free lists
};
AllocatorStats allocator_stats();
// Returns every cached block to the device (e.g. before a large evaluation, or to measure),
// except those of live graphs' pools.
void allocator_trim();

// Copies bytes; each side is on the device or the host as flagged. Synchronous when the host is a
// side; device to device it is queued on stream(), as zero is (so a graph can record both).
void copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, std::size_t bytes);
void zero(void* ptr, std::size_t bytes);
void synchronize();                       // waits for everything queued on stream()

}  // namespace ednn::cuda
