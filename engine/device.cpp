#include "engine/device.h"

#include <cstdlib>
#include <cstring>

#include "engine/error.h"

#if EDNN_WITH_CUDA
#include "engine/cuda_device.h"
#endif

namespace ednn {

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
  if (name == "cuda" || name == "auto") {
    std::string why;
    if (cuda_available(&why)) return Device::cuda;
    if (name == "auto") return Device::cpu;
    fail("device 'cuda' requested but no usable GPU: ", why);
  }
  fail("unknown device '", name, "': expected cpu, cuda or auto");
}

void* device_alloc(Device device, std::size_t bytes) {
  if (device == Device::cpu) {
    // 64-byte alignment for vector loads; aligned_alloc wants a multiple of the alignment.
    std::size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
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
    std::free(ptr);
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
