// Adam, with PyTorch's semantics (torch.optim.Adam): bias-corrected moments, eps added after the
// square root, optional L2 weight decay. The state (moments and step count) can be saved and
// restored so a resumed run continues exactly.
#pragma once
#include <vector>

#include "engine/backend.h"
#include "engine/tensor.h"

namespace ednn {

class Adam {
public:
  Adam(std::vector<Tensor> params, AdamConfig config);

  // Updates every parameter that has a gradient, in one backend call (one launch per step on CUDA).
  void step();
  void zero_grad();

  AdamConfig& config() { return config_; }
  long steps() const { return step_; }
  void set_steps(long s) { step_ = s; }
  // The first and second moments, one per parameter, same shapes (for checkpoints).
  std::vector<Tensor>& exp_avg() { return exp_avg_; }
  std::vector<Tensor>& exp_avg_sq() { return exp_avg_sq_; }

private:
  std::vector<Tensor> params_, exp_avg_, exp_avg_sq_;
  AdamConfig config_;
  long step_ = 0;
};

}  // namespace ednn
