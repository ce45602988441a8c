// What a convolution does to each output value after adding the bias, while the value is still in
// cache (CPU, cpu/conv2d.cpp) or in registers (CUDA, kernels/conv_epilogue.cuh), instead of in a
// separate pass over the output in memory: nothing, or leaky ReLU, v > 0 ? v : slope v (the
// activation after every ED-CNN convolution). One type for the engine, the CPU loops and the
// kernels; the float32 kernels apply float(slope), the CPU loops T(slope).
#pragma once

namespace ednn {

enum class ConvActivation { none, leaky_relu };

struct ConvEpilogue {
  ConvActivation activation = ConvActivation::none;
  double slope = 0.0;  // leaky ReLU: v > 0 ? v : slope * v
};

}  // namespace ednn
