#include "engine/autograd.h"

#include <chrono>
#include <unordered_map>
#include <unordered_set>

#include "engine/backend.h"
#include "engine/device.h"

namespace ednn {

namespace {
thread_local bool g_grad_enabled = true;
thread_local std::vector<BackwardTiming>* g_backward_timing = nullptr;
}

void set_backward_timing(std::vector<BackwardTiming>* sink) { g_backward_timing = sink; }

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor record(Tensor output, const char* name, std::vector<Tensor> inputs, BackwardFn backward) {
  if (!needs_grad(inputs)) return output;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  output.impl()->grad_fn = std::move(node);
  return output;
}

// Adds g into *slot, allocating it on first use (a fresh copy, so later in-place adds never
// write into a tensor some backward function still holds).
static void accumulate(std::shared_ptr<TensorImpl>& slot, const Tensor& g) {
  if (!slot) {
    slot = g.clone().impl();
    return;
  }
  Tensor acc(slot);
  backend_for(acc.device()).axpy(acc, g, 1.0);
}

void run_backward(const Tensor& root, const Tensor& grad_output) {
  EDNN_CHECK(root.requires_grad(), "backward: the tensor does not require a gradient (no graph was recorded)");
  EDNN_CHECK(grad_output.shape() == root.shape(), "backward: gradient ", grad_output.describe(),
             " does not match output ", root.describe());
  if (!root.grad_fn()) {  // a leaf: its gradient is the given one
    auto slot = root.impl()->grad;
    accumulate(slot, grad_output);
    root.impl()->grad = slot;
    return;
  }

  // Reverse topological order by an iterative depth-first search (deep nets must not overflow the stack).
  std::vector<Node*> order;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<Node*, std::size_t>> stack{{root.grad_fn().get(), 0}};
  seen.insert(root.grad_fn().get());
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      const Tensor& in = node->inputs[next++];
      if (in.defined() && in.grad_fn() && seen.insert(in.grad_fn().get()).second)
        stack.push_back({in.grad_fn().get(), 0});
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }

  std::unordered_map<Node*, std::shared_ptr<TensorImpl>> grads;
  grads[root.grad_fn().get()] = grad_output.impl();
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* node = *it;
    auto found = grads.find(node);
    if (found == grads.end() || !found->second) continue;
    Tensor g(found->second);
    grads.erase(found);
    const auto start = std::chrono::steady_clock::now();
    std::vector<Tensor> input_grads = node->backward(g);
    if (g_backward_timing) {
      device_synchronize(g.device());
      g_backward_timing->push_back(
          {node->name, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()});
    }
    EDNN_CHECK(input_grads.size() == node->inputs.size(), "backward of ", node->name, ": returned ",
               input_grads.size(), " gradients for ", node->inputs.size(), " inputs");
    for (std::size_t i = 0; i < node->inputs.size(); ++i) {
      const Tensor& in = node->inputs[i];
      const Tensor& gi = input_grads[i];
      if (!in.defined() || !gi.defined() || !in.requires_grad()) continue;
      EDNN_CHECK(gi.shape() == in.shape(), "backward of ", node->name, ": gradient ", gi.describe(),
                 " for input ", i, " of shape ", shape_str(in.shape()));
      if (in.grad_fn()) accumulate(grads[in.grad_fn().get()], gi);
      else accumulate(in.impl()->grad, gi);
    }
  }
  // Release what the graph saved: a second backward through the same graph is an error, as in PyTorch.
  for (Node* node : order) {
    node->backward = [name = node->name](const Tensor&) -> std::vector<Tensor> {
      fail("backward: the graph through ", name, " was already used; run the forward pass again");
    };
  }
}

}  // namespace ednn
