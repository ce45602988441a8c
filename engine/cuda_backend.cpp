// The CUDA backend: unpacks tensors and calls the kernel launchers of kernels/ on the device's
// stream (engine/cuda_device.h). float32 only; float64 on cuda is an error that says so.
//
// Nothing here copies between host and device or waits for the device: outputs and scratch
// memory come from the caching allocator (Tensor::empty on Device::cuda), scalars that kernels
// produce (the loss value, a dot product) stay on the device as [1] tensors, and Adam's
// constants are advanced on the device (the host writes them only when they change otherwise).
// So a training step can be captured in a CUDA graph (engine/cuda_graph.h).
#include <algorithm>
#include <map>
#include <optional>
#include <vector>

#include "engine/backend.h"
#include "engine/cuda_device.h"
#include "engine/device.h"
#include "core/loss_math.h"
#include "kernels/activation.h"
#include "kernels/adam.h"
#include "kernels/batch_norm.h"
#include "kernels/conv2d.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "kernels/pool.h"
#include "kernels/reduce.h"

namespace ednn {

namespace {

// Throws unless t is a float32 tensor on the cuda device.
void require_f32(const Tensor& t, const char* op) {
  EDNN_CHECK(t.device() == Device::cuda, op, ": the cuda backend got a tensor on ", device_name(t.device()));
  EDNN_CHECK(t.dtype() == DType::f32, op, ": the cuda backend supports float32 only, got ", dtype_name(t.dtype()),
             " (run float64 on the cpu device)");
}

Tensor device_empty(const Shape& shape, DType dtype = DType::f32) { return Tensor::empty(shape, dtype, Device::cuda); }

// The convolution kernel version (kernels/conv2d.h): ednn::conv_kernel_version(), that is 4 (the
// tensor cores with TF32 inputs) when TF32 is allowed, else 0 (the automatic float choice),
// unless a version was set.
int conv_version() { return conv_kernel_version(); }

float* f32(Tensor& t) { return t.data<float>(); }
const float* f32(const Tensor& t) { return t.data<float>(); }

// Scratch memory of `floats` floats for a kernel launcher whose need may be none (the
// convolutions' forward and backward-data need some for Winograd's transformed kernels and the
// implicit GEMM's weights by tap, none for other shapes): no allocation then, and a null pointer
// for the launcher.
struct Scratch {
  Tensor memory;
  explicit Scratch(long floats) : memory(floats > 0 ? device_empty({floats}) : Tensor()) {}
  float* data() { return memory.defined() ? f32(memory) : nullptr; }
};

class CudaBackend final : public Backend {
public:
  void fill(Tensor& t, double value) override {
    require_f32(t, "fill");
    kernels::fill(f32(t), t.numel(), float(value), cuda::stream());
  }

  void axpy(Tensor& y, const Tensor& x, double alpha) override {
    require_f32(y, "axpy");
    require_f32(x, "axpy");
    kernels::axpy(f32(y), f32(x), y.numel(), float(alpha), cuda::stream());
  }

  Tensor scale(const Tensor& x, const Tensor& scalar) override {
    require_f32(x, "scale");
    require_f32(scalar, "scale");
    Tensor out = device_empty(x.shape());
    kernels::scale(f32(out), f32(x), x.numel(), f32(scalar), cuda::stream());
    return out;
  }

  Tensor dot(const Tensor& a, const Tensor& b) override {
    require_f32(a, "dot");
    require_f32(b, "dot");
    Tensor out = device_empty({1});
    Tensor workspace = device_empty({std::max<long>(1, kernels::sum_workspace_size(a.numel()))});
    kernels::dot(f32(a), f32(b), a.numel(), f32(out), f32(workspace), cuda::stream());
    return out;
  }

  Tensor sum_per_channel(const Tensor& x) override {
    require_f32(x, "sum_per_channel");
    const int N = int(x.dim(0)), C = int(x.dim(1));
    const long HW = x.dim(2) * x.dim(3);
    Tensor out = device_empty({C});
    Tensor workspace = device_empty({std::max<long>(1, kernels::sum_per_channel_workspace_size(N, C, HW))});
    kernels::sum_per_channel(f32(x), N, C, HW, f32(out), f32(workspace), cuda::stream());
    return out;
  }

  void add_per_channel(Tensor& y, const Tensor& bias) override {
    require_f32(y, "add_per_channel");
    require_f32(bias, "add_per_channel");
    kernels::add_per_channel(f32(y), f32(bias), int(y.dim(0)), int(y.dim(1)), y.dim(2) * y.dim(3), cuda::stream());
  }

  Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeometry& g,
                        const ConvEpilogue& epilogue) override {
    require_f32(x, "conv2d");
    require_f32(w, "conv2d");
    if (bias.defined()) require_f32(bias, "conv2d");
    Tensor y = device_empty(g.output_shape());
    const int version = conv_version();
    Scratch workspace(kernels::conv2d_forward_workspace_size(g, version));
    kernels::conv2d_forward(f32(x), f32(w), bias.defined() ? f32(bias) : nullptr, f32(y), g, cuda::stream(),
                            epilogue, version, workspace.data());
    return y;
  }

  Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const ConvGeometry& g, const Tensor& bias,
                              const ConvEpilogue& epilogue, int dy_scale) override {
    require_f32(dy, "conv2d_backward_data");
    require_f32(w, "conv2d_backward_data");
    if (bias.defined()) require_f32(bias, "conv2d_backward_data");
    Tensor dx = device_empty(g.input_shape());
    const int version = conv_version();
    Scratch workspace(kernels::conv2d_backward_data_workspace_size(g, version));
    kernels::conv2d_backward_data(f32(dy), f32(w), f32(dx), g, cuda::stream(), bias.defined() ? f32(bias) : nullptr,
                                  epilogue, version, dy_scale, workspace.data());
    return dx;
  }

  Tensor conv2d_backward_weight(const Tensor& x, const Tensor& dy, const ConvGeometry& g, int dy_scale) override {
    require_f32(x, "conv2d_backward_weight");
    require_f32(dy, "conv2d_backward_weight");
    Tensor dw = device_empty(g.weight_shape());
    const int version = conv_version();
    Tensor workspace = device_empty({std::max<long>(1, kernels::conv2d_backward_weight_workspace_size(g, version))});
    kernels::conv2d_backward_weight(f32(x), f32(dy), f32(dw), nullptr, f32(workspace), g, cuda::stream(), version,
                                    dy_scale);
    return dw;
  }

  Tensor avg_pool2d_forward(const Tensor& x, const PoolGeometry& g) override {
    require_f32(x, "avg_pool2d");
    Tensor y = device_empty(g.output_shape());
    kernels::avg_pool2d_forward(f32(x), f32(y), g, cuda::stream());
    return y;
  }

  Tensor avg_pool2d_backward(const Tensor& dy, const PoolGeometry& g) override {
    require_f32(dy, "avg_pool2d_backward");
    Tensor dx = device_empty(g.input_shape());
    kernels::avg_pool2d_backward(f32(dy), f32(dx), g, cuda::stream());
    return dx;
  }

  Tensor upsample_nearest2d_forward(const Tensor& x, int scale) override {
    require_f32(x, "upsample_nearest2d");
    Tensor y = device_empty({x.dim(0), x.dim(1), x.dim(2) * scale, x.dim(3) * scale});
    kernels::upsample_nearest2d_forward(f32(x), f32(y), int(x.dim(0)), int(x.dim(1)), int(x.dim(2)), int(x.dim(3)),
                                        scale, cuda::stream());
    return y;
  }

  Tensor upsample_nearest2d_backward(const Tensor& dy, int scale) override {
    require_f32(dy, "upsample_nearest2d_backward");
    Tensor dx = device_empty({dy.dim(0), dy.dim(1), dy.dim(2) / scale, dy.dim(3) / scale});
    kernels::upsample_nearest2d_backward(f32(dy), f32(dx), int(dx.dim(0)), int(dx.dim(1)), int(dx.dim(2)),
                                         int(dx.dim(3)), scale, cuda::stream());
    return dx;
  }

  Tensor batch_norm2d_train_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                                    Tensor& running_var, double momentum, double eps, BatchNormSaved& saved) override {
    for (const Tensor* t : {&x, &gamma, &beta, static_cast<const Tensor*>(&running_mean), static_cast<const Tensor*>(&running_var)})
      require_f32(*t, "batch_norm2d");
    const int N = int(x.dim(0)), C = int(x.dim(1));
    const long HW = x.dim(2) * x.dim(3);
    Tensor y = device_empty(x.shape());
    saved.mean = device_empty({C});
    saved.invstd = device_empty({C});
    Tensor workspace = device_empty({kernels::batch_norm_workspace_size(N, C, HW)}, DType::f64);
    kernels::batch_norm2d_train_forward(f32(x), f32(gamma), f32(beta), f32(running_mean), f32(running_var), momentum,
                                        eps, f32(y), f32(saved.mean), f32(saved.invstd), N, C, HW,
                                        workspace.data<double>(), cuda::stream());
    return y;
  }

  Tensor batch_norm2d_eval_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                   const Tensor& running_mean, const Tensor& running_var, double eps) override {
    for (const Tensor* t : {&x, &gamma, &beta, &running_mean, &running_var}) require_f32(*t, "batch_norm2d");
    Tensor y = device_empty(x.shape());
    kernels::batch_norm2d_eval_forward(f32(x), f32(gamma), f32(beta), f32(running_mean), f32(running_var), eps, f32(y),
                                       int(x.dim(0)), int(x.dim(1)), x.dim(2) * x.dim(3), cuda::stream());
    return y;
  }

  void batch_norm2d_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const BatchNormSaved& saved,
                             Tensor& dx, Tensor& dgamma, Tensor& dbeta) override {
    for (const Tensor* t : {&dy, &x, &gamma, &saved.mean, &saved.invstd}) require_f32(*t, "batch_norm2d_backward");
    const int N = int(x.dim(0)), C = int(x.dim(1));
    const long HW = x.dim(2) * x.dim(3);
    dx = device_empty(x.shape());
    dgamma = device_empty(gamma.shape());
    dbeta = device_empty(gamma.shape());
    Tensor workspace = device_empty({kernels::batch_norm_workspace_size(N, C, HW)}, DType::f64);
    kernels::batch_norm2d_backward(f32(dy), f32(x), f32(gamma), f32(saved.mean), f32(saved.invstd), f32(dx),
                                   f32(dgamma), f32(dbeta), N, C, HW, workspace.data<double>(), cuda::stream());
  }

  Tensor leaky_relu_forward(const Tensor& x, double slope) override {
    require_f32(x, "leaky_relu");
    Tensor y = device_empty(x.shape());
    kernels::leaky_relu_forward(f32(x), f32(y), x.numel(), float(slope), cuda::stream());
    return y;
  }

  Tensor leaky_relu_backward(const Tensor& dy, const Tensor& x, double slope) override {
    require_f32(dy, "leaky_relu_backward");
    require_f32(x, "leaky_relu_backward");
    Tensor dx = device_empty(x.shape());
    kernels::leaky_relu_backward(f32(dy), f32(x), f32(dx), x.numel(), float(slope), cuda::stream());
    return dx;
  }

  Tensor weighted_loss(const Tensor& prediction, const Tensor& target, const LossSpec& spec,
                       Tensor& grad_prediction) override {
    require_f32(prediction, "weighted_loss");
    require_f32(target, "weighted_loss");
    const long n = prediction.numel();
    Tensor value = device_empty({1});
    grad_prediction = device_empty(prediction.shape());
    Tensor workspace = device_empty({kernels::weighted_loss_workspace_size(n)});
    kernels::weighted_loss(f32(prediction), f32(target), f32(grad_prediction), n, loss_params(spec), f32(value),
                           f32(workspace), cuda::stream());
    return value;  // on the device: reading it is the caller's explicit copy (Tensor::item)
  }

  void adam_step(std::vector<Tensor>& params, const std::vector<Tensor>& grads, std::vector<Tensor>& exp_avg,
                 std::vector<Tensor>& exp_avg_sq, const AdamConfig& config, long step) override {
    std::vector<kernels::AdamTensor> tensors;
    tensors.reserve(params.size());
    for (std::size_t k = 0; k < params.size(); ++k) {
      for (const Tensor* t : {static_cast<const Tensor*>(&params[k]), &grads[k], static_cast<const Tensor*>(&exp_avg[k]),
                             static_cast<const Tensor*>(&exp_avg_sq[k])})
        require_f32(*t, "adam");
      tensors.push_back({f32(params[k]), f32(grads[k]), f32(exp_avg[k]), f32(exp_avg_sq[k]), long(params[k].numel())});
    }
    // The step's constants live on the device (kernels/adam.h), one state per optimiser (told
    // apart by its first moment's address). When the state there is the previous step of the same
    // configuration, as from one eager step to the next, a kernel advances it; otherwise (the
    // first step, a changed learning rate, a resumed run, steps replayed from a CUDA graph, which
    // the host does not see) the host writes it first. A captured step cannot write it (no copy
    // from the host can be recorded), and leaves the host's record unknown: the graph's replays
    // advance the state without it.
    AdamState& slot = adam_states_[exp_avg.empty() ? nullptr : exp_avg.front().raw_data()];
    if (!slot.state.defined()) slot.state = device_empty({long(sizeof(kernels::AdamDeviceState) / sizeof(float))});
    auto* state = static_cast<kernels::AdamDeviceState*>(slot.state.raw_data());
    const bool current = slot.config && same_config(*slot.config, config) && slot.step == step - 1;
    if (simt::capture_open()) {
      EDNN_CHECK(current, "adam: the optimiser's state on the device is not the previous step's, and a captured "
                 "step cannot write it from the host; take one step without capturing first");
      slot.config.reset();
    } else if (!current) {
      const kernels::AdamDeviceState host = kernels::adam_device_state(config.lr, config.beta1, config.beta2,
                                                                       config.eps, config.weight_decay, step - 1);
      cuda::copy(state, true, &host, false, sizeof host);
      slot.config = config;
    }
    kernels::adam_count_step(state, cuda::stream());
    slot.step = step;
    kernels::adam_step(tensors, state, cuda::stream());
  }

private:
  static bool same_config(const AdamConfig& a, const AdamConfig& b) {
    return a.lr == b.lr && a.beta1 == b.beta1 && a.beta2 == b.beta2 && a.eps == b.eps &&
           a.weight_decay == b.weight_decay;
  }

  struct AdamState {
    Tensor state;                     // a kernels::AdamDeviceState, on the device
    std::optional<AdamConfig> config; // what the device holds, as far as the host knows (unknown: empty)
    long step = -1;
  };
  std::map<const void*, AdamState> adam_states_;
};

}  // namespace

Backend& cuda_backend() {
  static CudaBackend backend;
  return backend;
}

}  // namespace ednn
