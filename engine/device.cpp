#include "engine/device.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/error.h"

#if EDNN_WITH_CUDA
#include "engine/cuda_device.h"
#endif

namespace ednn {

namespace {

// Host memory is recycled by exact size. A training step allocates the same tensors every time;
// large ones would otherwise come fresh from mmap, and touching each new page faults, which costs
// more than the elementwise operations that fill them. Up to kMaxCachedBytes are kept. Under
// AddressSanitizer nothing is cached, so use-after-free stays visible.
class HostCache {
public:
  void* take(std::size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(bytes);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    cached_ -= bytes;
    return p;
  }
  bool give(void* p, std::size_t bytes) {
#if defined(__SANITIZE_ADDRESS__)
    return false;
#endif
    std::lock_guard<std::mutex> lock(mutex_);
    if (cached_ + bytes > kMaxCachedBytes) return false;
    free_[bytes].push_back(p);
    cached_ += bytes;
    return true;
  }
private:
  static constexpr std::size_t kMaxCachedBytes = std::size_t(2) << 30;
  std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  std::size_t cached_ = 0;
};

// Never destroyed: tensors in static storage may be freed after any destructor would have run.
HostCache& host_cache() {
  static HostCache* cache = new HostCache;
  return *cache;
}

// 64-byte alignment for vector loads; aligned_alloc wants a multiple of the alignment.
std::size_t host_block_size(std::size_t bytes) { return bytes == 0 ? 64 : (bytes + 63) / 64 * 64; }

int chosen_cuda_device_index = -1;  // N of the last parse_device("cuda:N"), else -1

}  // namespace

int chosen_cuda_device() { return chosen_cuda_device_index; }

bool cuda_available(std::string* why) {
#if EDNN_WITH_CUDA
  return cuda::runtime_available(why);
#else
  if (why) *why = "ednn was built without CUDA (configure with a CUDA toolkit and -DEDNN_CUDA=ON)";
  return false;
#endif
}

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::cpu;
  // "cuda:N": card N, made current before anything is allocated on it; "cuda" keeps the current one (0).
  std::string kind = name;
  int index = -1;
  if (name.rfind("cuda:", 0) == 0) {
    const std::string digits = name.substr(5);
    if (digits.empty() || digits.size() > 4 || digits.find_first_not_of("0123456789") != std::string::npos)
      fail("unknown device '", name, "': expected cpu, cuda, cuda:N (N = 0, 1, ...) or auto");
    kind = "cuda";
    index = std::stoi(digits);
  }
  if (kind == "cuda" || kind == "auto") {
#if EDNN_WITH_CUDA
    if (index >= 0 && cuda_available()) {
      try {
        simt::select_device(index);
        chosen_cuda_device_index = index;
      } catch (const Error& e) {
        fail("device '", name, "': ", e.what());
      }
    }
#endif
    std::string why;
    if (cuda_available(&why)) {
#if EDNN_WITH_CUDA
      // The emulated device (EDNN_EMULATE_CUDA builds, for tests) is thousands of times slower
      // than the CPU backend: asked for by name only, never chosen by auto.
      if (kind == "auto" && cuda::runtime_emulated()) return Device::cpu;
#endif
      return Device::cuda;
    }
    if (kind == "auto") return Device::cpu;
    fail("device '", name, "' requested but no usable GPU: ", why);
  }
  fail("unknown device '", name, "': expected cpu, cuda, cuda:N (N = 0, 1, ...) or auto");
}

void* device_alloc(Device device, std::size_t bytes) {
  if (device == Device::cpu) {
    const std::size_t block = host_block_size(bytes);
    if (void* p = host_cache().take(block)) return p;
    void* p = std::aligned_alloc(64, block);
    if (!p) fail("out of host memory allocating ", bytes, " bytes");
    return p;
  }
#if EDNN_WITH_CUDA
  return cuda::allocator_alloc(bytes);
#else
  fail("cannot allocate on cuda: ednn was built without CUDA");
#endif
}

void device_free(Device device, void* ptr, std::size_t bytes) {
  if (!ptr) return;
  if (device == Device::cpu) {
    if (!host_cache().give(ptr, host_block_size(bytes))) std::free(ptr);
    return;
  }
#if EDNN_WITH_CUDA
  cuda::allocator_free(ptr, bytes);
#endif
}

void device_copy(void* dst, Device dst_device, const void* src, Device src_device, std::size_t bytes) {
  if (bytes == 0) return;
  if (dst_device == Device::cpu && src_device == Device::cpu) {
    std::memcpy(dst, src, bytes);
    return;
  }
#if EDNN_WITH_CUDA
  cuda::copy(dst, dst_device == Device::cuda, src, src_device == Device::cuda, bytes);
#else
  fail("cannot copy to or from cuda: ednn was built without CUDA");
#endif
}

void device_zero(void* ptr, Device device, std::size_t bytes) {
  if (device == Device::cpu) {
    std::memset(ptr, 0, bytes);
    return;
  }
#if EDNN_WITH_CUDA
  cuda::zero(ptr, bytes);
#else
  fail("cannot zero cuda memory: ednn was built without CUDA");
#endif
}

void device_synchronize(Device device) {
#if EDNN_WITH_CUDA
  if (device == Device::cuda) cuda::synchronize();
#endif
}

}  // namespace ednn
