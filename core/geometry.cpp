#include "core/geometry.h"

#include <sstream>

#include "core/error.h"

namespace ednn {

std::string dims_str(const Dims& d) {
  std::ostringstream os;
  os << '[';
  for (std::size_t i = 0; i < d.size(); ++i) os << (i ? ", " : "") << d[i];
  os << ']';
  return os.str();
}

static void check_nchw(const Dims& s, const char* op, const char* what) {
  EDNN_CHECK(s.size() == 4, op, ": ", what, " must be 4-d [N, C, H, W], got ", dims_str(s));
  for (auto d : s) EDNN_CHECK(d > 0, op, ": ", what, " has a zero or negative size ", dims_str(s));
}

ConvGeometry conv2d_geometry(const Dims& x, const Dims& w, int stride, int padding, const char* op) {
  check_nchw(x, op, "input");
  check_nchw(w, op, "weight");
  EDNN_CHECK(stride > 0, op, ": stride must be positive, got ", stride);
  EDNN_CHECK(padding >= 0, op, ": padding must be non-negative, got ", padding);
  EDNN_CHECK(x[1] == w[1], op, ": input has ", x[1], " channels, weight expects ", w[1]);
  ConvGeometry g;
  g.N = int(x[0]); g.C_in = int(x[1]); g.H_in = int(x[2]); g.W_in = int(x[3]);
  g.C_out = int(w[0]); g.kH = int(w[2]); g.kW = int(w[3]);
  g.stride = stride; g.pad = padding;
  EDNN_CHECK(g.kH <= g.H_in + 2 * padding && g.kW <= g.W_in + 2 * padding, op, ": kernel ", g.kH, "x",
             g.kW, " is larger than the padded input ", g.H_in + 2 * padding, "x", g.W_in + 2 * padding);
  g.H_out = (g.H_in + 2 * padding - g.kH) / stride + 1;
  g.W_out = (g.W_in + 2 * padding - g.kW) / stride + 1;
  return g;
}

ConvGeometry conv_transpose2d_geometry(const Dims& x, const Dims& w, int stride, int padding,
                                       int output_padding) {
  const char* op = "conv_transpose2d";
  check_nchw(x, op, "input");
  check_nchw(w, op, "weight");
  EDNN_CHECK(stride > 0, op, ": stride must be positive, got ", stride);
  EDNN_CHECK(padding >= 0, op, ": padding must be non-negative, got ", padding);
  EDNN_CHECK(output_padding >= 0 && output_padding < stride, op, ": output_padding must be in [0, stride = ",
             stride, "), got ", output_padding);
  EDNN_CHECK(x[1] == w[0], op, ": input has ", x[1], " channels, weight [in, out, kh, kw] expects ", w[0]);
  ConvGeometry g;  // the convolution whose backward-data this is: its C_out is our C_in
  g.N = int(x[0]);
  g.C_out = int(w[0]); g.C_in = int(w[1]); g.kH = int(w[2]); g.kW = int(w[3]);
  g.H_out = int(x[2]); g.W_out = int(x[3]);
  g.stride = stride; g.pad = padding;
  g.H_in = (g.H_out - 1) * stride - 2 * padding + g.kH + output_padding;
  g.W_in = (g.W_out - 1) * stride - 2 * padding + g.kW + output_padding;
  EDNN_CHECK(g.H_in > 0 && g.W_in > 0, op, ": output size ", g.H_in, "x", g.W_in,
             " is not positive for input ", dims_str(x), ", kernel ", g.kH, "x", g.kW, ", stride ", stride,
             ", padding ", padding);
  return g;
}

PoolGeometry avg_pool2d_geometry(const Dims& x, int kernel, int stride) {
  check_nchw(x, "avg_pool2d", "input");
  EDNN_CHECK(kernel > 0 && stride > 0, "avg_pool2d: kernel and stride must be positive, got ", kernel,
             " and ", stride);
  EDNN_CHECK(kernel <= x[2] && kernel <= x[3], "avg_pool2d: kernel ", kernel, " is larger than the input ",
             x[2], "x", x[3]);
  PoolGeometry g;
  g.N = int(x[0]); g.C = int(x[1]); g.H_in = int(x[2]); g.W_in = int(x[3]);
  g.kernel = kernel; g.stride = stride;
  g.H_out = (g.H_in - kernel) / stride + 1;
  g.W_out = (g.W_in - kernel) / stride + 1;
  return g;
}

}  // namespace ednn
