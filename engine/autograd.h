// Autograd: a minimal define-by-run graph.
//
// Every differentiable operation (engine/functional.h) computes its output, and when gradients
// are enabled and an input requires them, attaches a Node to the output: the inputs, whatever the
// backward pass needs (captured in the closure), and a function that maps the gradient of the
// output to the gradients of the inputs. backward() orders the nodes reachable from the root
// topologically and runs them in reverse, summing gradients where a tensor feeds several nodes.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace ednn {

// Gradients of the output -> gradient for each input (undefined where an input needs none).
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  std::string name;             // the operation, for error messages and profiles
  std::vector<Tensor> inputs;   // kept alive until the graph is dropped
  BackwardFn backward;
};

// Whether operations record the graph (true by default, per thread).
bool grad_enabled();

// Turns recording off for its lifetime: evaluation, optimiser updates, metrics.
class NoGradGuard {
public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;
private:
  bool previous_;
};

// True when recording is on and one of the inputs requires a gradient.
bool needs_grad(const std::vector<Tensor>& inputs);

// Attaches a node to `output` when needs_grad(inputs); returns output either way.
Tensor record(Tensor output, const char* name, std::vector<Tensor> inputs, BackwardFn backward);

// Runs the backward pass from `root` with d(loss)/d(root) = grad_output, accumulating into the
// .grad() of every leaf that requires a gradient. The graph below root is released afterwards.
void run_backward(const Tensor& root, const Tensor& grad_output);

// Benchmarks only: while a sink is set, run_backward synchronises the device after each node and
// appends (node name, seconds), in the order the nodes ran. Pass nullptr to stop.
struct BackwardTiming {
  std::string name;
  double seconds;
};
void set_backward_timing(std::vector<BackwardTiming>* sink);

}  // namespace ednn
