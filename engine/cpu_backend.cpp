// The CPU backend: unpacks tensors, picks the scalar type, and calls the loops of cpu/.
#include <cmath>

#include "engine/backend.h"
#include "cpu/cpu_ops.h"

namespace ednn {

namespace {

// Calls f(T{}) with T = float or double according to the tensor's dtype.
template <class F>
decltype(auto) with_scalar(DType t, F&& f) {
  if (t == DType::f32) return f(float{});
  return f(double{});
}

class CpuBackend final : public Backend {
public:
  void fill(Tensor& t, double value) override {
    with_scalar(t.dtype(), [&](auto s) {
      using T = decltype(s);
      T* p = t.data<T>();
      const std::int64_t n = t.numel();
#pragma omp parallel for simd schedule(static) if (cpu::worth_threads(n))
      for (std::int64_t i = 0; i < n; ++i) p[i] = T(value);
    });
  }

  void axpy(Tensor& y, const Tensor& x, double alpha) override {
    with_scalar(y.dtype(), [&](auto s) {
      using T = decltype(s);
      T* py = y.data<T>();
      const T* px = x.data<T>();
      const T a = T(alpha);
      const std::int64_t n = y.numel();
#pragma omp parallel for simd schedule(static) if (cpu::worth_threads(n))
      for (std::int64_t i = 0; i < n; ++i) py[i] += a * px[i];
    });
  }

  Tensor scale(const Tensor& x, const Tensor& scalar) override {
    Tensor out = Tensor::empty(x.shape(), x.dtype());
    with_scalar(x.dtype(), [&](auto s) {
      using T = decltype(s);
      const T* px = x.data<T>();
      const T k = scalar.data<T>()[0];
      T* po = out.data<T>();
      const std::int64_t n = x.numel();
#pragma omp parallel for simd schedule(static) if (cpu::worth_threads(n))
      for (std::int64_t i = 0; i < n; ++i) po[i] = k * px[i];
    });
    return out;
  }

  Tensor dot(const Tensor& a, const Tensor& b) override {
    Tensor out = Tensor::empty({1}, a.dtype());
    with_scalar(a.dtype(), [&](auto s) {
      using T = decltype(s);
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      const std::int64_t n = a.numel();
      double acc = 0;
#pragma omp parallel for reduction(+ : acc) schedule(static) if (cpu::worth_threads(n))
      for (std::int64_t i = 0; i < n; ++i) acc += double(pa[i]) * double(pb[i]);
      out.data<T>()[0] = T(acc);
    });
    return out;
  }

  Tensor sum_per_channel(const Tensor& x) override {
    Tensor out = Tensor::empty({x.dim(1)}, x.dtype());
    with_scalar(x.dtype(), [&](auto s) {
      using T = decltype(s);
      cpu::sum_per_channel(x.data<T>(), out.data<T>(), int(x.dim(0)), int(x.dim(1)), x.dim(2) * x.dim(3));
    });
    return out;
  }

  void add_per_channel(Tensor& y, const Tensor& bias) override {
    with_scalar(y.dtype(), [&](auto s) {
      using T = decltype(s);
      T* py = y.data<T>();
      const T* pb = bias.data<T>();
      const std::int64_t N = y.dim(0), C = y.dim(1), plane = y.dim(2) * y.dim(3);
#pragma omp parallel for collapse(2) schedule(static) if (cpu::worth_threads(N * C * plane))
      for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t c = 0; c < C; ++c) {
          T* p = py + (n * C + c) * plane;
          for (std::int64_t i = 0; i < plane; ++i) p[i] += pb[c];
        }
    });
  }

  Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeometry& g,
                        const ConvEpilogue& epilogue) override {
    Tensor y = Tensor::empty(g.output_shape(), x.dtype());
    with_scalar(x.dtype(), [&](auto s) {
      using T = decltype(s);
      cpu::fast::conv2d_forward(x.data<T>(), w.data<T>(), bias.defined() ? bias.data<T>() : nullptr, y.data<T>(), g,
                                epilogue);
    });
    return y;
  }

  // dy_scale > 1: the CPU makes the upsampled dy and runs the plain operation on it, so that the
  // fused layer computes exactly what Upsample and the transposed convolution compute apart.
  Tensor conv2d_backward_data(const Tensor& dy_stored, const Tensor& w, const ConvGeometry& g, const Tensor& bias,
                              const ConvEpilogue& epilogue, int dy_scale) override {
    const Tensor dy = dy_scale == 1 ? dy_stored : upsample_nearest2d_forward(dy_stored, dy_scale);
    Tensor dx = Tensor::empty(g.input_shape(), dy.dtype());
    with_scalar(dy.dtype(), [&](auto s) {
      using T = decltype(s);
      cpu::fast::conv2d_backward_data(dy.data<T>(), w.data<T>(), dx.data<T>(), g,
                                      bias.defined() ? bias.data<T>() : nullptr, epilogue);
    });
    return dx;
  }

  Tensor conv2d_backward_weight(const Tensor& x, const Tensor& dy_stored, const ConvGeometry& g,
                                int dy_scale) override {
    const Tensor dy = dy_scale == 1 ? dy_stored : upsample_nearest2d_forward(dy_stored, dy_scale);
    Tensor dw = Tensor::empty(g.weight_shape(), x.dtype());
    with_scalar(x.dtype(), [&](auto s) {
      using T = decltype(s);
      cpu::fast::conv2d_backward_weight(x.data<T>(), dy.data<T>(), dw.data<T>(), g);
    });
    return dw;
  }

  Tensor avg_pool2d_forward(const Tensor& x, const PoolGeometry& g) override {
    Tensor y = Tensor::empty(g.output_shape(), x.dtype());
    with_scalar(x.dtype(), [&](auto s) {
      using T = decltype(s);
      cpu::avg_pool2d_forward(x.data<T>(), y.data<T>(), g);
    });
    return y;
  }

  Tensor avg_pool2d_backward(const Tensor& dy, const PoolGeometry& g) override {
    Tensor dx = Tensor::empty(g.input_shape(), dy.dtype());
    with_scalar(dy.dtype(), [&](auto s) {
      using T = decltype(s);
      cpu::avg_pool2d_backward(dy.data<T>(), dx.data<T>(), g);
    });
    return dx;
  }

  Tensor upsample_nearest2d_forward(const Tensor& x, int scale) override {
    Tensor y = Tensor::empty({x.dim(0), x.dim(1), x.dim(2) * scale, x.dim(3) * scale}, x.dtype());
    with_scalar(x.dtype(), [&](auto s) {
      using T = decltype(s);
      cpu::upsample_nearest2d_forward(x.data<T>(), y.data<T>(), int(x.dim(0)), int(x.dim(1)), int(x.dim(2)),
                                      int(x.dim(3)), scale);
    });
    return y;
  }

  Tensor upsample_nearest2d_backward(const Tensor& dy, int scale) override {
    Tensor dx = Tensor::empty({dy.dim(0), dy.dim(1), dy.dim(2) / scale, dy.dim(3) / scale}, dy.dtype());
    with_scalar(dy.dtype(), [&](auto s) {
      using T = decltype(s);
      cpu::upsample_nearest2d_backward(dy.data<T>(), dx.data<T>(), int(dx.dim(0)), int(dx.dim(1)), int(dx.dim(2)),
                                       int(dx.dim(3)), scale);
    });
    return dx;
  }

  Tensor batch_norm2d_train_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                                    Tensor& running_var, double momentum, double eps, BatchNormSaved& saved) override {
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    saved.mean = Tensor::empty({x.dim(1)}, x.dtype());
    saved.invstd = Tensor::empty({x.dim(1)}, x.dtype());
    with_scalar(x.dtype(), [&](auto s) {
      using T = decltype(s);
      cpu::batch_norm2d_train_forward(x.data<T>(), gamma.data<T>(), beta.data<T>(), running_mean.data<T>(),
                                      running_var.data<T>(), momentum, eps, y.data<T>(), saved.mean.data<T>(),
                                      saved.invstd.data<T>(), int(x.dim(0)), int(x.dim(1)), x.dim(2) * x.dim(3));
    });
    return y;
  }

  Tensor batch_norm2d_eval_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                   const Tensor& running_mean, const Tensor& running_var, double eps) override {
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    with_scalar(x.dtype(), [&](auto s) {
      using T = decltype(s);
      cpu::batch_norm2d_eval_forward(x.data<T>(), gamma.data<T>(), beta.data<T>(), running_mean.data<T>(),
                                     running_var.data<T>(), eps, y.data<T>(), int(x.dim(0)), int(x.dim(1)),
                                     x.dim(2) * x.dim(3));
    });
    return y;
  }

  void batch_norm2d_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const BatchNormSaved& saved,
                             Tensor& dx, Tensor& dgamma, Tensor& dbeta) override {
    dx = Tensor::empty(x.shape(), x.dtype());
    dgamma = Tensor::empty(gamma.shape(), x.dtype());
    dbeta = Tensor::empty(gamma.shape(), x.dtype());
    with_scalar(x.dtype(), [&](auto s) {
      using T = decltype(s);
      cpu::batch_norm2d_backward(dy.data<T>(), x.data<T>(), gamma.data<T>(), saved.mean.data<T>(),
                                 saved.invstd.data<T>(), dx.data<T>(), dgamma.data<T>(), dbeta.data<T>(),
                                 int(x.dim(0)), int(x.dim(1)), x.dim(2) * x.dim(3));
    });
  }

  Tensor leaky_relu_forward(const Tensor& x, double slope) override {
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    with_scalar(x.dtype(), [&](auto s) {
      using T = decltype(s);
      cpu::leaky_relu_forward(x.data<T>(), y.data<T>(), x.numel(), slope);
    });
    return y;
  }

  Tensor leaky_relu_backward(const Tensor& dy, const Tensor& x, double slope) override {
    Tensor dx = Tensor::empty(x.shape(), x.dtype());
    with_scalar(x.dtype(), [&](auto s) {
      using T = decltype(s);
      cpu::leaky_relu_backward(dy.data<T>(), x.data<T>(), dx.data<T>(), x.numel(), slope);
    });
    return dx;
  }

  Tensor weighted_loss(const Tensor& prediction, const Tensor& target, const LossSpec& spec,
                       Tensor& grad_prediction) override {
    Tensor value = Tensor::empty({1}, prediction.dtype());
    grad_prediction = Tensor::empty(prediction.shape(), prediction.dtype());
    with_scalar(prediction.dtype(), [&](auto s) {
      using T = decltype(s);
      value.data<T>()[0] = T(cpu::weighted_loss(prediction.data<T>(), target.data<T>(), grad_prediction.data<T>(),
                                                prediction.numel(), spec));
    });
    return value;
  }

  void adam_step(std::vector<Tensor>& params, const std::vector<Tensor>& grads, std::vector<Tensor>& exp_avg,
                 std::vector<Tensor>& exp_avg_sq, const AdamConfig& config, long step) override {
    for (std::size_t k = 0; k < params.size(); ++k) {
      with_scalar(params[k].dtype(), [&](auto s) {
        using T = decltype(s);
        cpu::adam_step(params[k].data<T>(), grads[k].data<T>(), exp_avg[k].data<T>(), exp_avg_sq[k].data<T>(),
                       params[k].numel(), config, step);
      });
    }
  }
};

}  // namespace

Backend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}

}  // namespace ednn
