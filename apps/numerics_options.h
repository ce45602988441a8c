// The choices of engine/numerics.h on a command line, spelled the same in every program that
// runs the network (train, infer, bench_train_step):
//   --conv-algo NAME|N   the convolution algorithm (auto, tiled, large-tiles, tf32, 3xtf32,
//                        winograd, winograd-2, or the tour's numbers 0, 2-7)
//   --tf32               CUDA convolutions on the tensor cores with TF32 inputs (=false: not)
//   --no-fusion          every layer on its own (=false: fused, the default)
//
// run_provenance: io::provenance (version, commit, command, date) with the device and the numerics
// the run computes with, as every file a program writes records it.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "apps/cli.h"
#include "engine/numerics.h"
#include "engine/tensor.h"

namespace ednn::io {

void add_numerics_options(Cli& cli);
// `base` (the defaults, or what a checkpoint records) with what the command line gives changed.
Numerics numerics_from(const Cli& cli, Numerics base = {});
// The options of the three above that the command line gives, by name.
std::vector<std::string> numerics_options_given(const Cli& cli);

// io::provenance(argc, argv) and then device ("cpu"/"cuda") and numerics (Numerics::describe() on
// cuda, "float32 on the cpu" on the cpu).
std::vector<std::pair<std::string, std::string>> run_provenance(int argc, char** argv, Device device,
                                                                const Numerics& numerics);
// Those pairs as one JSON object's text, for a checkpoint's `provenance` metadata.
std::string provenance_json(const std::vector<std::pair<std::string, std::string>>& provenance);

}  // namespace ednn::io
