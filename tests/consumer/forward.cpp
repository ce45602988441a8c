// The consumer project's program (tests/consumer/CMakeLists.txt): the tiny ED-CNN built from
// ednn's headers and libraries, one forward pass, its output checked. Exit status 0 when the
// output has the input's shape (the network maps an L x L field to an L x L field, SPEC section 4)
// and every value is finite; 1 otherwise, saying what is wrong.
#include <cmath>
#include <cstdio>

#include "engine/autograd.h"
#include "nets/ednn_cnn.h"

int main() {
  using namespace ednn;
  const nets::NetConfig config = nets::preset_config("tiny");
  auto net = nets::build_ednn(config, 1);
  net->eval();
  NoGradGuard no_grad;
  const Shape shape{2, 1, config.L, config.L};
  const Tensor y = net->forward(Tensor::full(shape, 0.5));
  if (y.shape() != shape) {
    std::fprintf(stderr, "consumer: output of %zu dimensions, not the input's [2, 1, %d, %d]\n", y.shape().size(),
                 config.L, config.L);
    return 1;
  }
  for (double v : y.to_vector())
    if (!std::isfinite(v)) {
      std::fprintf(stderr, "consumer: the output holds %g\n", v);
      return 1;
    }
  std::printf("consumer: ednn %s, tiny ED-CNN forward [2, 1, %d, %d] -> the same shape, all finite\n", EDNN_VERSION,
              config.L, config.L);
  return 0;
}
