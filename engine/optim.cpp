#include "engine/optim.h"

#include "engine/autograd.h"

namespace ednn {

Adam::Adam(std::vector<Tensor> params, AdamConfig config) : params_(std::move(params)), config_(config) {
  EDNN_CHECK(config.lr > 0, "Adam: learning rate must be positive, got ", config.lr);
  EDNN_CHECK(config.beta1 >= 0 && config.beta1 < 1 && config.beta2 >= 0 && config.beta2 < 1,
             "Adam: betas must be in [0, 1), got ", config.beta1, ", ", config.beta2);
  EDNN_CHECK(config.eps > 0, "Adam: eps must be positive, got ", config.eps);
  for (const Tensor& p : params_) {
    EDNN_CHECK(p.requires_grad(), "Adam: parameter ", p.describe(), " does not require a gradient");
    exp_avg_.push_back(Tensor::zeros(p.shape(), p.dtype(), p.device()));
    exp_avg_sq_.push_back(Tensor::zeros(p.shape(), p.dtype(), p.device()));
  }
}

void Adam::step() {
  NoGradGuard no_grad;
  ++step_;
  std::vector<Tensor> params, grads, m, v;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor g = params_[i].grad();
    if (!g.defined()) continue;  // as PyTorch: parameters without a gradient are left alone
    params.push_back(params_[i]);
    grads.push_back(g);
    m.push_back(exp_avg_[i]);
    v.push_back(exp_avg_sq_[i]);
  }
  if (params.empty()) return;
  backend_for(params.front().device()).adam_step(params, grads, m, v, config_, step_);
}

void Adam::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

}  // namespace ednn
