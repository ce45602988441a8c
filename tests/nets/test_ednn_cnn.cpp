// The ED-CNN: parameter counts from construction, layer names, output shapes.
#include <doctest/doctest.h>

#include "engine/autograd.h"
#include "nets/ednn_cnn.h"

using namespace ednn;
using namespace ednn::nets;

TEST_CASE("ednn: parameter counts of the presets (SPEC section 4)") {
  auto paper = build_ednn(preset_config("paper"), 0);
  CHECK(paper->parameter_count() == 50307969);
  auto small = build_ednn(preset_config("small"), 0);
  CHECK(small->parameter_count() == 786833);
  // The summary sums the same counts and prints them with separators.
  const std::string table = summary_table(*paper, preset_config("paper"));
  CHECK(table.find("total parameters: 50,307,969") != std::string::npos);
}

TEST_CASE("ednn: layer indices and state names match torch.nn.Sequential") {
  auto net = build_ednn(preset_config("tiny"), 0);
  REQUIRE(net->size() == 37);
  auto state = net->state();
  REQUIRE(state.size() >= 6);
  CHECK(state[0].name == "0.weight");
  CHECK(state[1].name == "0.bias");
  CHECK(state[2].name == "1.weight");
  CHECK(state[4].name == "1.running_mean");
  CHECK(state[5].name == "1.running_var");
  CHECK_FALSE(state[4].trainable);
  CHECK(state[6].name == "4.weight");
  CHECK(state.back().name == "35.bias");
  // ConvTranspose2d weights in PyTorch's [in, out, kh, kw] layout.
  CHECK(state[state.size() - 2].tensor->shape() == Shape{2, 1, 3, 3});
}

TEST_CASE("ednn: summary shapes follow the paper's topology and match a forward pass") {
  const NetConfig cfg = preset_config("tiny");
  auto net = build_ednn(cfg, 1);
  const auto rows = summarize(*net, cfg.L);
  CHECK(rows[3].output == Shape{4, 32, 32});
  CHECK(rows[16].output == Shape{128, 2, 2});  // bottleneck: 5 pools, 64 -> 2
  CHECK(rows.back().output == Shape{1, 64, 64});
  NoGradGuard no_grad;
  Tensor y = net->forward(Tensor::zeros({2, 1, 64, 64}));
  CHECK(y.shape() == Shape{2, 1, 64, 64});
}

TEST_CASE("ednn: presets and bad configurations") {
  CHECK(preset_config("small").L == 128);
  CHECK(preset_config("small").c0 == 8);
  CHECK_THROWS_WITH_AS(preset_config("huge"), doctest::Contains("unknown preset 'huge'"), Error);
  CHECK_THROWS_WITH_AS(build_ednn(NetConfig{"custom", 100, 8}, 0), doctest::Contains("multiple of 32"), Error);
  // The same seed gives the same network.
  auto a = build_ednn(preset_config("tiny"), 7), b = build_ednn(preset_config("tiny"), 7);
  CHECK(a->state()[0].tensor->to_vector() == b->state()[0].tensor->to_vector());
}
