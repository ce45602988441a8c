// Modules: the layers as small objects that hold their parameters, as torch.nn does.
//
// A module's state is a list of named tensors in PyTorch's order and naming ("weight", "bias",
// "running_mean", ...; a Sequential prefixes its children's names with their index, "0.weight"),
// so checkpoints map one to one onto the equivalent torch.nn.Sequential.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/communicator.h"
#include "engine/tensor.h"

namespace ednn {

struct NamedTensor {
  std::string name;
  Tensor* tensor;      // points into the module, so loading and moving can replace it
  bool trainable;      // a parameter (true) or a buffer such as a running statistic (false)
};

class Module {
public:
  virtual ~Module() = default;
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }

  // "Conv2d(1, 64, kernel_size=3, stride=1, padding=1)"
  virtual std::string describe() const = 0;
  // Appends this module's state, names prefixed by `prefix`.
  virtual void collect_state(std::vector<NamedTensor>& out, const std::string& prefix);

  std::vector<NamedTensor> state();            // parameters and buffers, in order
  std::vector<Tensor> parameters();            // the trainable tensors, in order
  std::int64_t parameter_count();

  virtual void train(bool on = true) { training_ = on; }
  void eval() { train(false); }
  bool training() const { return training_; }

  // Moves every parameter and buffer to the device (parameters keep requiring gradients).
  void to(Device device);
  void zero_grad();

protected:
  bool training_ = true;
};

// Initialisation as PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias,
// drawn from a generator seeded per layer so a network is a pure function of its seed.
struct InitRng {
  std::uint64_t seed;
  std::uint64_t counter = 0;
  double uniform(double lo, double hi);  // splitmix64 on (seed, counter++)
};

class Conv2d final : public Module {
public:
  Conv2d(int in_channels, int out_channels, int kernel_size, int stride, int padding, InitRng& rng,
         DType dtype = DType::f32);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  void collect_state(std::vector<NamedTensor>& out, const std::string& prefix) override;
  Tensor weight, bias;  // [out, in, k, k], [out]
  int stride, padding;
};

class ConvTranspose2d final : public Module {
public:
  ConvTranspose2d(int in_channels, int out_channels, int kernel_size, int stride, int padding, int output_padding,
                  InitRng& rng, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  void collect_state(std::vector<NamedTensor>& out, const std::string& prefix) override;
  Tensor weight, bias;  // [in, out, k, k] (PyTorch's layout), [out]
  int stride, padding, output_padding;
};

class BatchNorm2d final : public Module {
public:
  explicit BatchNorm2d(int channels, double momentum = 0.1, double eps = 1e-5, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  void collect_state(std::vector<NamedTensor>& out, const std::string& prefix) override;
  Tensor weight, bias, running_mean, running_var;  // [C] each; weight 1, bias 0, mean 0, var 1 at start
  double momentum, eps;
  // Set: training normalises with the statistics of the whole data-parallel batch
  // (engine/sync_batch_norm.h); `sync_counted` false on a rank stepping on a stand-in sample.
  Communicator* sync = nullptr;
  bool sync_counted = true;
};

class AvgPool2d final : public Module {
public:
  explicit AvgPool2d(int kernel_size = 2, int stride = 0) : kernel(kernel_size), stride(stride ? stride : kernel_size) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  int kernel, stride;
};

class Upsample final : public Module {
public:
  explicit Upsample(int scale_factor = 2) : scale(scale_factor) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  int scale;
};

class LeakyReLU final : public Module {
public:
  explicit LeakyReLU(double negative_slope = 0.01) : slope(negative_slope) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  double slope;
};

// Passes its input through (torch.nn.Identity): keeps a removed layer's index, so the state
// names of the layers after it do not move.
class Identity final : public Module {
public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string describe() const override { return "Identity()"; }
};

// Runs its layers in order. Fusion rules: a Conv2d or ConvTranspose2d directly followed by a
// LeakyReLU with a positive slope runs as one fused operation (conv2d_leaky_relu /
// conv_transpose2d_leaky_relu in engine/functional.h: bias and activation in the convolution's
// epilogue, no pre-activation kept for backward); an Upsample (power-of-two scale) before such a
// ConvTranspose2d joins them (upsample_conv_transpose2d_leaky_relu: the convolution reads its
// input through the upsampling, the upsampled tensor is never made). The layers stay separate
// entries, so state names and indices are those of the equivalent torch.nn.Sequential, and the output is the same as
// running them one by one. Fusion is on unless turned off per network (set_fusion(false)) or for
// the whole process (engine/numerics.h, the programs' --no-fusion), when the network is built.
class Sequential final : public Module {
public:
  Sequential() = default;
  template <class M, class... Args>
  M& add(Args&&... args) {
    auto m = std::make_unique<M>(std::forward<Args>(args)...);
    M& ref = *m;
    layers_.push_back(std::move(m));
    return ref;
  }
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  void collect_state(std::vector<NamedTensor>& out, const std::string& prefix) override;
  void train(bool on = true) override;
  std::size_t size() const { return layers_.size(); }
  Module& operator[](std::size_t i) { return *layers_.at(i); }

  void set_fusion(bool on) { fusion_ = on; }
  bool fusion() const { return fusion_; }
  // How many layers from index i run as one step of forward(): 3 for Upsample + ConvTranspose2d +
  // LeakyReLU, 2 where layer i joins the LeakyReLU after it, else 1.
  std::size_t step_size(std::size_t i) const;
  // Runs the step that starts at layer i (layers i .. i + step_size(i) - 1) on x; forward() is
  // these steps in order. Benchmarks use it to time the network step by step.
  Tensor forward_step(std::size_t i, const Tensor& x);

private:
  std::vector<std::unique_ptr<Module>> layers_;
  bool fusion_ = fusion_default();
  static bool fusion_default();  // numerics().fusion (engine/numerics.h)
};

}  // namespace ednn
