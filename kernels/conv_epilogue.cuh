// The convolutions' fused epilogue (core/conv_epilogue.h, ConvEpilogue) on one output value, after
// its bias: shared by the direct and implicit-GEMM kernels (conv2d_direct.cu, conv2d_gemm.cu) and
// Winograd's (conv2d_winograd.cu).
// Device code: include from a .cu after simt.h.
#pragma once
#include "core/conv_epilogue.h"
#include "kernels/simt.h"

namespace ednn::kernels {

__device__ __forceinline__ float apply_epilogue(float v, ConvEpilogue e) {
  return (e.activation == ConvActivation::leaky_relu && v < 0.0f) ? float(e.slope) * v : v;
}

}  // namespace ednn::kernels
