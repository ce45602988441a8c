// The differentiable operations: forward through the backend, backward recorded as a closure.
//
// Each backward computes only the gradients some input needs. Conventions for the shapes are in
// functional.h; the maths of each operation is at the top of its CPU file in cpu/.
#include "engine/functional.h"

#include <string>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "core/geometry.h"

namespace ednn {

namespace {

void check_bias(const Tensor& bias, std::int64_t channels, const Tensor& x, const char* op) {
  if (!bias.defined()) return;
  check_same_kind(x, bias, op);
  EDNN_CHECK(bias.ndim() == 1 && bias.dim(0) == channels, op, ": bias must be [", channels, "], got ",
             bias.describe());
}

bool wants(const Tensor& t) { return t.defined() && t.requires_grad(); }

// x and w of a convolution: both 4-d, same dtype and device; `op` names the operation.
void check_conv_inputs(const Tensor& x, const Tensor& w, const char* op) {
  check_ndim(x, 4, (std::string(op) + " input").c_str());
  check_ndim(w, 4, (std::string(op) + " weight").c_str());
  check_same_kind(x, w, op);
}

// {dx, dw, dbias} of y = conv2d(x, w) + bias from dy (in a fused layer: the pre-activation's gradient).
std::vector<Tensor> conv2d_gradients(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& bias,
                                     const ConvGeometry& g) {
  Backend& be = backend_for(dy.device());
  Tensor dx = wants(x) ? be.conv2d_backward_data(dy, w, g) : Tensor();
  Tensor dw = wants(w) ? be.conv2d_backward_weight(x, dy, g) : Tensor();
  Tensor db = wants(bias) ? be.sum_per_channel(dy) : Tensor();
  return {dx, dw, db};
}

// {dx, dw, dbias} of y = conv_transpose2d(upsample_nearest2d(x, scale), w) + bias (scale 1: no
// upsampling). dy has the shape of the convolution's input (g's input): convolving it gives the
// gradient of the (upsampled) input, which the upsampling's backward sums back to x; the weight
// gradient is the convolution's weight gradient with the roles of input and output gradient
// swapped, reading x through the upsampling.
std::vector<Tensor> conv_transpose2d_gradients(const Tensor& dy, const Tensor& x, const Tensor& w,
                                               const Tensor& bias, const ConvGeometry& g, int scale = 1) {
  Backend& be = backend_for(dy.device());
  Tensor dx;
  if (wants(x)) {
    dx = be.conv2d_forward(dy, w, Tensor(), g);
    if (scale != 1) dx = be.upsample_nearest2d_backward(dx, scale);
  }
  Tensor dw = wants(w) ? be.conv2d_backward_weight(dy, x, g, scale) : Tensor();
  Tensor db = wants(bias) ? be.sum_per_channel(dy) : Tensor();
  return {dx, dw, db};
}

void check_fused_slope(double slope, const char* op) {
  EDNN_CHECK(slope > 0, op, ": the fused leaky ReLU needs a positive slope (its backward reads the sign of the "
             "pre-activation from the output), got ", slope, "; use the unfused convolution and leaky_relu");
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int padding) {
  check_conv_inputs(x, w, "conv2d");
  const ConvGeometry g = conv2d_geometry(x.shape(), w.shape(), stride, padding);
  check_bias(bias, g.C_out, x, "conv2d");
  Backend& be = backend_for(x.device());
  Tensor y = be.conv2d_forward(x, w, bias, g);
  return record(y, "conv2d", {x, w, bias}, [x, w, bias, g](const Tensor& dy) {
    return conv2d_gradients(dy, x, w, bias, g);
  });
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int padding,
                        int output_padding) {
  check_conv_inputs(x, w, "conv_transpose2d");
  // g describes the convolution whose backward-data this is: g.output = our input, g.input = our output.
  const ConvGeometry g = conv_transpose2d_geometry(x.shape(), w.shape(), stride, padding, output_padding);
  check_bias(bias, g.C_in, x, "conv_transpose2d");
  Backend& be = backend_for(x.device());
  Tensor y = be.conv2d_backward_data(x, w, g);
  if (bias.defined()) be.add_per_channel(y, bias);  // y[n, c, :, :] += bias[c]
  return record(y, "conv_transpose2d", {x, w, bias}, [x, w, bias, g](const Tensor& dy) {
    return conv_transpose2d_gradients(dy, x, w, bias, g);
  });
}

Tensor conv2d_leaky_relu(const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int padding,
                         double slope) {
  check_conv_inputs(x, w, "conv2d_leaky_relu");
  check_fused_slope(slope, "conv2d_leaky_relu");
  const ConvGeometry g = conv2d_geometry(x.shape(), w.shape(), stride, padding);
  check_bias(bias, g.C_out, x, "conv2d_leaky_relu");
  Backend& be = backend_for(x.device());
  Tensor y = be.conv2d_forward(x, w, bias, g, ConvEpilogue{ConvActivation::leaky_relu, slope});
  // The closure keeps y without its graph (y.detach()), so the node does not own its own output.
  return record(y, "conv2d_leaky_relu", {x, w, bias},
                [x, w, bias, g, slope, out = y.detach()](const Tensor& dy) {
                  // sign of out = sign of the pre-activation v
                  const Tensor dv = backend_for(dy.device()).leaky_relu_backward(dy, out, slope);
                  return conv2d_gradients(dv, x, w, bias, g);
                });
}

namespace {

// leaky_relu(conv_transpose2d(upsample_nearest2d(x, scale), w) + bias, slope) in one pass: the two
// fused transposed convolutions below (scale 1: conv_transpose2d_leaky_relu). `op` names it in errors.
Tensor fused_conv_transpose2d(const char* op, const Tensor& x, int scale, const Tensor& w, const Tensor& bias,
                              int stride, int padding, int output_padding, double slope) {
  check_conv_inputs(x, w, op);
  check_fused_slope(slope, op);
  EDNN_CHECK(scale >= 1 && (scale & (scale - 1)) == 0, op, ": scale must be a power of two, got ", scale);
  const Shape upsampled{x.dim(0), x.dim(1), x.dim(2) * scale, x.dim(3) * scale};
  const ConvGeometry g = conv_transpose2d_geometry(upsampled, w.shape(), stride, padding, output_padding);
  check_bias(bias, g.C_in, x, op);
  Backend& be = backend_for(x.device());
  Tensor y = be.conv2d_backward_data(x, w, g, bias, ConvEpilogue{ConvActivation::leaky_relu, slope}, scale);
  return record(y, op, {x, w, bias}, [x, w, bias, g, scale, slope, out = y.detach()](const Tensor& dy) {
    // sign of out = sign of the pre-activation v
    const Tensor dv = backend_for(dy.device()).leaky_relu_backward(dy, out, slope);
    return conv_transpose2d_gradients(dv, x, w, bias, g, scale);
  });
}

}  // namespace

Tensor conv_transpose2d_leaky_relu(const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int padding,
                                   int output_padding, double slope) {
  return fused_conv_transpose2d("conv_transpose2d_leaky_relu", x, 1, w, bias, stride, padding, output_padding,
                                slope);
}

Tensor upsample_conv_transpose2d_leaky_relu(const Tensor& x, int scale, const Tensor& w, const Tensor& bias,
                                            int stride, int padding, int output_padding, double slope) {
  return fused_conv_transpose2d("upsample_conv_transpose2d_leaky_relu", x, scale, w, bias, stride, padding,
                                output_padding, slope);
}

Tensor avg_pool2d(const Tensor& x, int kernel, int stride) {
  check_ndim(x, 4, "avg_pool2d input");
  const PoolGeometry g = avg_pool2d_geometry(x.shape(), kernel, stride == 0 ? kernel : stride);
  Tensor y = backend_for(x.device()).avg_pool2d_forward(x, g);
  return record(y, "avg_pool2d", {x}, [g](const Tensor& dy) -> std::vector<Tensor> {
    return {backend_for(dy.device()).avg_pool2d_backward(dy, g)};
  });
}

Tensor upsample_nearest2d(const Tensor& x, int scale) {
  check_ndim(x, 4, "upsample_nearest2d input");
  EDNN_CHECK(scale >= 1, "upsample_nearest2d: scale must be a positive integer, got ", scale);
  for (int i = 0; i < 4; ++i)
    EDNN_CHECK(x.dim(i) > 0, "upsample_nearest2d: input has a zero size ", shape_str(x.shape()));
  Tensor y = backend_for(x.device()).upsample_nearest2d_forward(x, scale);
  return record(y, "upsample_nearest2d", {x}, [scale](const Tensor& dy) -> std::vector<Tensor> {
    return {backend_for(dy.device()).upsample_nearest2d_backward(dy, scale)};
  });
}

Tensor batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                    Tensor& running_var, bool training, double momentum, double eps) {
  check_ndim(x, 4, "batch_norm2d input");
  const std::int64_t C = x.dim(1);
  for (const Tensor* t : {&gamma, &beta, static_cast<const Tensor*>(&running_mean), static_cast<const Tensor*>(&running_var)}) {
    check_same_kind(x, *t, "batch_norm2d");
    EDNN_CHECK(t->ndim() == 1 && t->dim(0) == C, "batch_norm2d: input has ", C,
               " channels, parameter or statistic is ", t->describe());
  }
  EDNN_CHECK(eps > 0, "batch_norm2d: eps must be positive, got ", eps);
  Backend& be = backend_for(x.device());
  if (!training) {
    Tensor y = be.batch_norm2d_eval_forward(x, gamma, beta, running_mean, running_var, eps);
    // In evaluation the statistics are constants: y = scale_c x + shift_c.
    return record(y, "batch_norm2d_eval", {x, gamma, beta}, [](const Tensor&) -> std::vector<Tensor> {
      fail("batch_norm2d: backward through evaluation mode is not supported; call train() first");
    });
  }
  EDNN_CHECK(x.dim(0) * x.dim(2) * x.dim(3) > 1, "batch_norm2d: training needs more than one value per channel, got ",
             x.describe());
  BatchNormSaved saved;
  Tensor y = be.batch_norm2d_train_forward(x, gamma, beta, running_mean, running_var, momentum, eps, saved);
  return record(y, "batch_norm2d", {x, gamma, beta}, [x, gamma, saved](const Tensor& dy) -> std::vector<Tensor> {
    Tensor dx, dgamma, dbeta;
    backend_for(dy.device()).batch_norm2d_backward(dy, x, gamma, saved, dx, dgamma, dbeta);
    return {dx, dgamma, dbeta};
  });
}

Tensor leaky_relu(const Tensor& x, double slope) {
  EDNN_CHECK(x.defined(), "leaky_relu: input is undefined");
  Tensor y = backend_for(x.device()).leaky_relu_forward(x, slope);
  return record(y, "leaky_relu", {x}, [x, slope](const Tensor& dy) -> std::vector<Tensor> {
    return {backend_for(dy.device()).leaky_relu_backward(dy, x, slope)};
  });
}

Tensor weighted_loss(const Tensor& prediction, const Tensor& target, const LossSpec& spec) {
  EDNN_CHECK(prediction.defined() && target.defined(), "loss: prediction or target is undefined");
  check_same_kind(prediction, target, "loss");
  EDNN_CHECK(prediction.shape() == target.shape(), "loss: prediction ", prediction.describe(),
             " and target ", target.describe(), " differ in shape");
  EDNN_CHECK(prediction.numel() > 0, "loss: empty prediction ", prediction.describe());
  Tensor grad;
  Tensor value = backend_for(prediction.device()).weighted_loss(prediction, target, spec, grad);
  // The gradient was computed with the value; backward only scales it by d(total)/d(loss).
  return record(value, "weighted_loss", {prediction, target}, [grad](const Tensor& dl) -> std::vector<Tensor> {
    return {backend_for(dl.device()).scale(grad, dl), Tensor()};
  });
}

Tensor dot(const Tensor& a, const Tensor& b) {
  EDNN_CHECK(a.defined() && b.defined(), "dot: an argument is undefined");
  check_same_kind(a, b, "dot");
  EDNN_CHECK(a.shape() == b.shape(), "dot: shapes differ, ", a.describe(), " and ", b.describe());
  Tensor value = backend_for(a.device()).dot(a, b);
  return record(value, "dot", {a, b}, [a, b](const Tensor& dl) -> std::vector<Tensor> {
    Backend& be = backend_for(dl.device());
    return {wants(a) ? be.scale(b, dl) : Tensor(), wants(b) ? be.scale(a, dl) : Tensor()};
  });
}

}  // namespace ednn
