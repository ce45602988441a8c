#include "engine/backend.h"

namespace ednn {

Backend& backend_for(Device device) {
  if (device == Device::cpu) return cpu_backend();
#if EDNN_WITH_CUDA
  return cuda_backend();
#else
  fail("no cuda backend: ednn was built without CUDA");
#endif
}

}  // namespace ednn
