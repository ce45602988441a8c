#include "engine/modules.h"

#include <cmath>

#include "engine/functional.h"
#include "engine/numerics.h"
#include "engine/sync_batch_norm.h"

namespace ednn {

// ---- Module ------------------------------------------------------------------------------------

void Module::collect_state(std::vector<NamedTensor>&, const std::string&) {}

std::vector<NamedTensor> Module::state() {
  std::vector<NamedTensor> out;
  collect_state(out, "");
  return out;
}

std::vector<Tensor> Module::parameters() {
  std::vector<Tensor> out;
  for (auto& s : state())
    if (s.trainable) out.push_back(*s.tensor);
  return out;
}

std::int64_t Module::parameter_count() {
  std::int64_t n = 0;
  for (auto& s : state())
    if (s.trainable) n += s.tensor->numel();
  return n;
}

void Module::to(Device device) {
  for (auto& s : state()) {
    if (s.tensor->device() == device) continue;
    Tensor moved = s.tensor->detach().to(device);
    if (s.trainable) moved.set_requires_grad(true);
    *s.tensor = moved;
  }
}

void Module::zero_grad() {
  for (auto& s : state()) s.tensor->zero_grad();
}

double InitRng::uniform(double lo, double hi) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * ++counter;  // splitmix64
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return lo + (hi - lo) * (double(z >> 11) * 0x1.0p-53);
}

static Tensor uniform_parameter(const Shape& shape, double bound, InitRng& rng, DType dtype) {
  Tensor t = Tensor::empty(shape, DType::f64);
  double* p = t.data<double>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = rng.uniform(-bound, bound);
  Tensor out = dtype == DType::f64 ? t : t.to_dtype(dtype);
  out.set_requires_grad(true);
  return out;
}

static void check_positive(const char* layer, const char* what, int v) {
  EDNN_CHECK(v > 0, layer, ": ", what, " must be positive, got ", v);
}

// ---- Conv2d ------------------------------------------------------------------------------------

Conv2d::Conv2d(int in, int out, int k, int stride_, int padding_, InitRng& rng, DType dtype)
    : stride(stride_), padding(padding_) {
  check_positive("Conv2d", "in_channels", in);
  check_positive("Conv2d", "out_channels", out);
  check_positive("Conv2d", "kernel_size", k);
  check_positive("Conv2d", "stride", stride_);
  EDNN_CHECK(padding_ >= 0, "Conv2d: padding must be non-negative, got ", padding_);
  const double bound = 1.0 / std::sqrt(double(in) * k * k);  // fan_in = in k k
  weight = uniform_parameter({out, in, k, k}, bound, rng, dtype);
  bias = uniform_parameter({out}, bound, rng, dtype);
}
Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, stride, padding); }
std::string Conv2d::describe() const {
  return detail::concat("Conv2d(", weight.dim(1), ", ", weight.dim(0), ", kernel_size=", weight.dim(2),
                        ", stride=", stride, ", padding=", padding, ")");
}
void Conv2d::collect_state(std::vector<NamedTensor>& out, const std::string& prefix) {
  out.push_back({prefix + "weight", &weight, true});
  out.push_back({prefix + "bias", &bias, true});
}

// ---- ConvTranspose2d ---------------------------------------------------------------------------

ConvTranspose2d::ConvTranspose2d(int in, int out, int k, int stride_, int padding_, int output_padding_, InitRng& rng,
                                 DType dtype)
    : stride(stride_), padding(padding_), output_padding(output_padding_) {
  check_positive("ConvTranspose2d", "in_channels", in);
  check_positive("ConvTranspose2d", "out_channels", out);
  check_positive("ConvTranspose2d", "kernel_size", k);
  check_positive("ConvTranspose2d", "stride", stride_);
  EDNN_CHECK(padding_ >= 0 && output_padding_ >= 0 && output_padding_ < stride_,
             "ConvTranspose2d: need padding >= 0 and 0 <= output_padding < stride, got padding ", padding_,
             ", output_padding ", output_padding_, ", stride ", stride_);
  // PyTorch computes fan_in from weight.size(1), which for a transposed convolution is out_channels.
  const double bound = 1.0 / std::sqrt(double(out) * k * k);
  weight = uniform_parameter({in, out, k, k}, bound, rng, dtype);
  bias = uniform_parameter({out}, bound, rng, dtype);
}
Tensor ConvTranspose2d::forward(const Tensor& x) {
  return conv_transpose2d(x, weight, bias, stride, padding, output_padding);
}
std::string ConvTranspose2d::describe() const {
  return detail::concat("ConvTranspose2d(", weight.dim(0), ", ", weight.dim(1), ", kernel_size=", weight.dim(2),
                        ", stride=", stride, ", padding=", padding, ", output_padding=", output_padding, ")");
}
void ConvTranspose2d::collect_state(std::vector<NamedTensor>& out, const std::string& prefix) {
  out.push_back({prefix + "weight", &weight, true});
  out.push_back({prefix + "bias", &bias, true});
}

// ---- BatchNorm2d -------------------------------------------------------------------------------

BatchNorm2d::BatchNorm2d(int channels, double momentum_, double eps_, DType dtype) : momentum(momentum_), eps(eps_) {
  check_positive("BatchNorm2d", "channels", channels);
  weight = Tensor::full({channels}, 1.0, dtype).set_requires_grad(true);
  bias = Tensor::zeros({channels}, dtype).set_requires_grad(true);
  running_mean = Tensor::zeros({channels}, dtype);
  running_var = Tensor::full({channels}, 1.0, dtype);
}
Tensor BatchNorm2d::forward(const Tensor& x) {
  if (training_ && sync && sync->size() > 1)
    return sync_batch_norm2d(x, weight, bias, running_mean, running_var, momentum, eps, *sync, sync_counted);
  return batch_norm2d(x, weight, bias, running_mean, running_var, training_, momentum, eps);
}
std::string BatchNorm2d::describe() const {
  return detail::concat("BatchNorm2d(", weight.dim(0), ", eps=", eps, ", momentum=", momentum, ")");
}
void BatchNorm2d::collect_state(std::vector<NamedTensor>& out, const std::string& prefix) {
  out.push_back({prefix + "weight", &weight, true});
  out.push_back({prefix + "bias", &bias, true});
  out.push_back({prefix + "running_mean", &running_mean, false});
  out.push_back({prefix + "running_var", &running_var, false});
}

// ---- parameter-free layers ---------------------------------------------------------------------

Tensor AvgPool2d::forward(const Tensor& x) { return avg_pool2d(x, kernel, stride); }
std::string AvgPool2d::describe() const {
  return detail::concat("AvgPool2d(kernel_size=", kernel, ", stride=", stride, ")");
}
Tensor Upsample::forward(const Tensor& x) { return upsample_nearest2d(x, scale); }
std::string Upsample::describe() const { return detail::concat("Upsample(scale_factor=", scale, ", mode='nearest')"); }
Tensor LeakyReLU::forward(const Tensor& x) { return leaky_relu(x, slope); }
std::string LeakyReLU::describe() const { return detail::concat("LeakyReLU(negative_slope=", slope, ")"); }

// ---- Sequential --------------------------------------------------------------------------------

bool Sequential::fusion_default() { return numerics().fusion; }

std::size_t Sequential::step_size(std::size_t i) const {
  if (!fusion_ || i + 1 >= layers_.size()) return 1;
  if (const auto* up = dynamic_cast<const Upsample*>(layers_[i].get())) {
    const bool power_of_two = up->scale >= 1 && (up->scale & (up->scale - 1)) == 0;
    return power_of_two && dynamic_cast<const ConvTranspose2d*>(layers_[i + 1].get()) && step_size(i + 1) == 2 ? 3
                                                                                                                : 1;
  }
  const auto* act = dynamic_cast<const LeakyReLU*>(layers_[i + 1].get());
  if (act == nullptr || !(act->slope > 0)) return 1;  // the fused backward needs slope > 0
  const Module* layer = layers_[i].get();
  return dynamic_cast<const Conv2d*>(layer) || dynamic_cast<const ConvTranspose2d*>(layer) ? 2 : 1;
}

Tensor Sequential::forward_step(std::size_t i, const Tensor& x) {
  if (step_size(i) == 3) {
    const int scale = static_cast<const Upsample&>(*layers_[i]).scale;
    const auto& t = static_cast<const ConvTranspose2d&>(*layers_[i + 1]);
    const double slope = static_cast<const LeakyReLU&>(*layers_[i + 2]).slope;
    return upsample_conv_transpose2d_leaky_relu(x, scale, t.weight, t.bias, t.stride, t.padding, t.output_padding,
                                                slope);
  }
  if (step_size(i) == 2) {
    const double slope = static_cast<const LeakyReLU&>(*layers_[i + 1]).slope;
    if (const auto* c = dynamic_cast<const Conv2d*>(layers_[i].get()))
      return conv2d_leaky_relu(x, c->weight, c->bias, c->stride, c->padding, slope);
    const auto& t = static_cast<const ConvTranspose2d&>(*layers_[i]);
    return conv_transpose2d_leaky_relu(x, t.weight, t.bias, t.stride, t.padding, t.output_padding, slope);
  }
  return layers_.at(i)->forward(x);
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (std::size_t i = 0; i < layers_.size(); i += step_size(i)) h = forward_step(i, h);
  return h;
}
std::string Sequential::describe() const { return detail::concat("Sequential(", layers_.size(), " layers)"); }
void Sequential::collect_state(std::vector<NamedTensor>& out, const std::string& prefix) {
  for (std::size_t i = 0; i < layers_.size(); ++i) layers_[i]->collect_state(out, prefix + std::to_string(i) + ".");
}
void Sequential::train(bool on) {
  training_ = on;
  for (auto& layer : layers_) layer->train(on);
}

}  // namespace ednn
