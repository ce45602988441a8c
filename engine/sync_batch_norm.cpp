#include "engine/sync_batch_norm.h"

#include <cmath>
#include <vector>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "core/error.h"

namespace ednn {

namespace {

// A [C] tensor's values on the host, as doubles (a small explicit device-to-host copy).
std::vector<double> host_values(const Tensor& t) {
  const Tensor h = t.to(Device::cpu).to_dtype(DType::f64);
  return {h.data<double>(), h.data<double>() + h.numel()};
}

// Host doubles as a [C] tensor of `like`'s dtype and device.
Tensor tensor_like(const std::vector<double>& values, const Tensor& like) {
  return Tensor::from_vector(values, {std::int64_t(values.size())}).to_dtype(like.dtype()).to(like.device());
}

}  // namespace

Tensor sync_batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                         Tensor& running_var, double momentum, double eps, Communicator& comm, bool counted) {
  check_ndim(x, 4, "sync_batch_norm2d input");
  const std::int64_t C = x.dim(1);
  const std::size_t c_count = std::size_t(C);
  for (const Tensor* t : {&gamma, &beta, static_cast<const Tensor*>(&running_mean), static_cast<const Tensor*>(&running_var)}) {
    check_same_kind(x, *t, "sync_batch_norm2d");
    EDNN_CHECK(t->ndim() == 1 && t->dim(0) == C, "sync_batch_norm2d: input has ", C,
               " channels, parameter or statistic is ", t->describe());
  }
  Backend& be = backend_for(x.device());

  // ---- this rank's statistics, then the batch's ----
  const double m_r = counted ? double(x.dim(0)) * double(x.dim(2)) * double(x.dim(3)) : 0.0;
  BatchNormSaved local;
  {
    Tensor scratch_mean = running_mean.clone(), scratch_var = running_var.clone();  // the real ones move once, below
    be.batch_norm2d_train_forward(x, gamma, beta, scratch_mean, scratch_var, momentum, eps, local);
  }
  const std::vector<double> mean_r = host_values(local.mean), invstd_r = host_values(local.invstd);
  std::vector<double> sums(2 * c_count + 1);  // M_r m_r, M_r (v_r + m_r^2), M_r
  for (std::size_t c = 0; c < c_count; ++c) {
    const double v_r = 1.0 / (invstd_r[c] * invstd_r[c]) - eps;
    sums[c] = m_r * mean_r[c];
    sums[c_count + c] = m_r * (v_r + mean_r[c] * mean_r[c]);
  }
  sums[2 * c_count] = m_r;
  comm.all_reduce_sum(sums.data(), sums.size());
  const double M = sums[2 * c_count];
  EDNN_CHECK(M > 1, "sync_batch_norm2d: the batch holds ", M, " values per channel, more than one are needed");
  std::vector<double> mean(c_count), var(c_count), invstd(c_count);
  for (std::size_t c = 0; c < c_count; ++c) {
    mean[c] = sums[c] / M;
    var[c] = std::max(0.0, sums[c_count + c] / M - mean[c] * mean[c]);
    invstd[c] = 1.0 / std::sqrt(var[c] + eps);
  }

  // ---- normalise with them, and move the running statistics ----
  Tensor y = be.batch_norm2d_eval_forward(x, gamma, beta, tensor_like(mean, x), tensor_like(var, x), eps);
  {
    std::vector<double> rm = host_values(running_mean), rv = host_values(running_var);
    for (std::size_t c = 0; c < c_count; ++c) {
      rm[c] = (1 - momentum) * rm[c] + momentum * mean[c];
      rv[c] = (1 - momentum) * rv[c] + momentum * var[c] * M / (M - 1);
    }
    const Tensor new_mean = tensor_like(rm, running_mean), new_var = tensor_like(rv, running_var);
    device_copy(running_mean.raw_data(), running_mean.device(), new_mean.raw_data(), new_mean.device(), new_mean.nbytes());
    device_copy(running_var.raw_data(), running_var.device(), new_var.raw_data(), new_var.device(), new_var.nbytes());
  }

  BatchNormSaved saved{tensor_like(mean, x), tensor_like(invstd, x)};
  Communicator* job = &comm;
  return record(y, "sync_batch_norm2d", {x, gamma, beta},
                [x, gamma, saved, mean, invstd, job, m_r, M, counted, c_count](const Tensor& dy) -> std::vector<Tensor> {
                  Backend& be = backend_for(dy.device());
                  Tensor dx, dgamma, dbeta;
                  be.batch_norm2d_backward(dy, x, gamma, saved, dx, dgamma, dbeta);
                  const std::vector<double> dbeta_r = host_values(dbeta), dgamma_r = host_values(dgamma);
                  std::vector<double> sums(2 * c_count);
                  for (std::size_t c = 0; c < c_count; ++c) {
                    sums[c] = dbeta_r[c];
                    sums[c_count + c] = dgamma_r[c];
                  }
                  job->all_reduce_sum(sums.data(), sums.size());
                  if (!counted) return {dx, dgamma, dbeta};  // dy is zero here: so is dx
                  // dx += gamma invstd (a + xhat b) = scale x + shift, per channel.
                  const std::vector<double> g = host_values(gamma);
                  std::vector<double> scale(c_count), shift(c_count), zeros(c_count, 0.0), ones(c_count, 1.0);
                  for (std::size_t c = 0; c < c_count; ++c) {
                    const double a = dbeta_r[c] / m_r - sums[c] / M, b = dgamma_r[c] / m_r - sums[c_count + c] / M;
                    scale[c] = g[c] * invstd[c] * invstd[c] * b;
                    shift[c] = g[c] * invstd[c] * a - scale[c] * mean[c];
                  }
                  const Tensor correction = be.batch_norm2d_eval_forward(x, tensor_like(scale, x), tensor_like(shift, x),
                                                                         tensor_like(zeros, x), tensor_like(ones, x), 0.0);
                  be.axpy(dx, correction, 1.0);
                  return {dx, dgamma, dbeta};
                });
}

}  // namespace ednn
