// The choices of engine/numerics.h on a command line, spelled the same in every program that
// runs the network (train, infer, bench_train_step):
//   --conv-algo NAME|N   the convolution algorithm (auto, tiled, large-tiles, tf32, 3xtf32,
//                        winograd, winograd-2, or the tour's numbers 0, 2-7)
//   --tf32               CUDA convolutions on the tensor cores with TF32 inputs (=false: not)
//   --no-fusion          every layer on its own (=false: fused, the default)
#pragma once
#include "apps/cli.h"
#include "engine/numerics.h"

namespace ednn::io {

void add_numerics_options(Cli& cli);
// `base` (the defaults, or what a checkpoint records) with what the command line gives changed.
Numerics numerics_from(const Cli& cli, Numerics base = {});
// The options of the three above that the command line gives, by name.
std::vector<std::string> numerics_options_given(const Cli& cli);

}  // namespace ednn::io
