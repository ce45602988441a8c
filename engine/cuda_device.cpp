// The CUDA device's memory: a caching allocator over simt::device_malloc, explicit copies.
// See engine/cuda_device.h for why the cache needs no events.
#include "engine/cuda_device.h"

#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/error.h"

namespace ednn::cuda {

namespace {

// Requests are rounded up so that nearby sizes share a free list: to 512 bytes below 1 MiB,
// to 2 MiB above (at most 2 MiB wasted on a block that is itself at least 1 MiB).
std::size_t rounded_size(std::size_t bytes) {
  constexpr std::size_t small = 512, large = std::size_t(2) << 20, threshold = std::size_t(1) << 20;
  if (bytes == 0) bytes = 1;
  const std::size_t unit = bytes < threshold ? small : large;
  return (bytes + unit - 1) / unit * unit;
}

// Free blocks by rounded size.
class FreeLists {
public:
  void* take(std::size_t size) {
    auto it = blocks_.find(size);
    if (it == blocks_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    return p;
  }
  void give(std::size_t size, void* p) { blocks_[size].push_back(p); }
  template <class F>
  void drain(F&& each) {  // each(size, block) for every block, then empties the lists
    for (auto& [size, blocks] : blocks_)
      for (void* p : blocks) each(size, p);
    blocks_.clear();
  }

private:
  std::map<std::size_t, std::vector<void*>> blocks_;
};

class CachingAllocator {
public:
  void* alloc(std::size_t bytes) {
    const std::size_t size = rounded_size(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    if (capturing_) return alloc_for_graph(size);
    if (void* p = general_.take(size)) {
      stats_.bytes_cached -= size;
      stats_.bytes_in_use += size;
      ++stats_.cache_hits;
      return p;
    }
    void* p = nullptr;
    try {
      p = simt::device_malloc(size);
    } catch (const Error&) {
      // Out of memory, perhaps only because the cache holds blocks of other sizes: give them
      // back and try once more; a second failure is reported as it is.
      trim_locked();
      p = simt::device_malloc(size);
    }
    ++stats_.device_mallocs;
    stats_.bytes_in_use += size;
    return p;
  }

  void free(void* p, std::size_t bytes) noexcept {
    if (!p) return;
    const std::size_t size = rounded_size(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.bytes_in_use -= size;
    try {
      GraphPool pool = capturing_;  // freed during a capture: the graph may still read it at replay
      if (auto owner = owner_.find(p); owner != owner_.end()) {
        if (pools_.count(owner->second)) pool = owner->second;
        else owner_.erase(owner);  // its graph is gone
      }
      if (pool) {
        pools_[pool].give(size, p);
        owner_[p] = pool;
        stats_.bytes_in_graph_pools += size;
      } else {
        general_.give(size, p);
      }
      stats_.bytes_cached += size;
    } catch (...) {  // no memory for the lists: give the block back instead
      simt::device_free(p);
    }
  }

  GraphPool begin_graph_pool() {
    std::lock_guard<std::mutex> lock(mutex_);
    EDNN_CHECK(!capturing_, "cuda allocator: a graph pool is already open (one capture at a time)");
    capturing_ = next_pool_++;
    pools_[capturing_];
    return capturing_;
  }

  void end_graph_pool() {
    std::lock_guard<std::mutex> lock(mutex_);
    capturing_ = 0;
  }

  void release_graph_pool(GraphPool pool) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = pools_.find(pool);
    if (it == pools_.end()) return;
    it->second.drain([&](std::size_t size, void* p) {
      owner_.erase(p);
      stats_.bytes_in_graph_pools -= size;
      try {
        general_.give(size, p);
      } catch (...) {
        stats_.bytes_cached -= size;
        simt::device_free(p);
      }
    });
    pools_.erase(it);
    if (capturing_ == pool) capturing_ = 0;
  }

  AllocatorStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

  void trim() {
    std::lock_guard<std::mutex> lock(mutex_);
    trim_locked();
  }

  ~CachingAllocator() { trim_locked(); }

private:
  // During a capture: the pool's own free blocks first, then the general cache's (the block
  // becomes the graph's), then new memory. No trimming on failure: freeing memory would wait for
  // the device, which a capture forbids.
  void* alloc_for_graph(std::size_t size) {
    FreeLists& pool = pools_[capturing_];
    void* p = pool.take(size);
    if (p) {
      stats_.bytes_in_graph_pools -= size;
    } else {
      p = general_.take(size);
    }
    if (p) {
      stats_.bytes_cached -= size;
      ++stats_.cache_hits;
    } else {
      p = simt::device_malloc(size);
      ++stats_.device_mallocs;
    }
    owner_[p] = capturing_;
    stats_.bytes_in_use += size;
    return p;
  }

  void trim_locked() noexcept {  // the general cache only: a live graph's pool is written at every replay
    general_.drain([&](std::size_t size, void* p) {
      stats_.bytes_cached -= size;
      simt::device_free(p);
    });
  }

  std::mutex mutex_;
  FreeLists general_;
  std::map<GraphPool, FreeLists> pools_;        // the free blocks of each live graph's pool
  std::unordered_map<void*, GraphPool> owner_;  // the pool of every block a graph uses
  GraphPool capturing_ = 0, next_pool_ = 1;     // 0: no capture
  AllocatorStats stats_;
};

CachingAllocator& allocator() {
  static CachingAllocator instance;
  return instance;
}

}  // namespace

bool runtime_available(std::string* why) { return simt::device_available(why); }
bool runtime_emulated() { return simt::device_emulated(); }

simt::Stream stream() {
  // Created once and never destroyed: destroying it at exit could run after the CUDA runtime has
  // shut down.
  static const simt::Stream created = simt::create_stream();
  return created;
}

void* allocator_alloc(std::size_t bytes) { return allocator().alloc(bytes); }
GraphPool allocator_begin_graph_pool() { return allocator().begin_graph_pool(); }
void allocator_end_graph_pool() { allocator().end_graph_pool(); }
void allocator_release_graph_pool(GraphPool pool) noexcept { allocator().release_graph_pool(pool); }
void allocator_free(void* ptr, std::size_t bytes) noexcept { allocator().free(ptr, bytes); }
AllocatorStats allocator_stats() { return allocator().stats(); }
void allocator_trim() { allocator().trim(); }

void copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, std::size_t bytes) {
  if (bytes == 0) return;
  if (dst_on_device && src_on_device) simt::copy_on_device_async(dst, src, bytes, stream());
  else if (dst_on_device) simt::copy_to_device(dst, src, bytes);
  else if (src_on_device) simt::copy_to_host(dst, src, bytes);
  else std::memcpy(dst, src, bytes);
}

void zero(void* ptr, std::size_t bytes) {
  if (bytes) simt::device_memset_async(ptr, 0, bytes, stream());
}

void synchronize() { simt::synchronize(stream()); }

}  // namespace ednn::cuda
