// The CUDA device's memory: a caching allocator over simt::device_malloc, explicit copies.
// See engine/cuda_device.h for why the cache needs no events.
#include "engine/cuda_device.h"

#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "engine/error.h"

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

class CachingAllocator {
public:
  void* alloc(std::size_t bytes) {
    const std::size_t size = rounded_size(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(size);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
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
    try {
      free_[size].push_back(p);
      stats_.bytes_cached += size;
    } catch (...) {  // no memory for the list: give the block back instead
      simt::device_free(p);
    }
    stats_.bytes_in_use -= size;
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
  void trim_locked() noexcept {
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) simt::device_free(p);
    free_.clear();
    stats_.bytes_cached = 0;
  }

  std::mutex mutex_;
  std::map<std::size_t, std::vector<void*>> free_;
  AllocatorStats stats_;
};

CachingAllocator& allocator() {
  static CachingAllocator instance;
  return instance;
}

}  // namespace

bool runtime_available(std::string* why) { return simt::device_available(why); }
bool runtime_emulated() { return simt::device_emulated(); }

simt::Stream stream() { return nullptr; }

void* allocator_alloc(std::size_t bytes) { return allocator().alloc(bytes); }
void allocator_free(void* ptr, std::size_t bytes) noexcept { allocator().free(ptr, bytes); }
AllocatorStats allocator_stats() { return allocator().stats(); }
void allocator_trim() { allocator().trim(); }

void copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, std::size_t bytes) {
  if (bytes == 0) return;
  if (dst_on_device && src_on_device) simt::copy_on_device(dst, src, bytes);
  else if (dst_on_device) simt::copy_to_device(dst, src, bytes);
  else if (src_on_device) simt::copy_to_host(dst, src, bytes);
  else std::memcpy(dst, src, bytes);
}

void zero(void* ptr, std::size_t bytes) {
  if (bytes) simt::device_memset(ptr, 0, bytes);
}

void synchronize() { simt::synchronize(stream()); }

}  // namespace ednn::cuda
