#include "apps/numerics_options.h"

#include <nlohmann/json.hpp>

namespace ednn::io {

void add_numerics_options(Cli& cli) {
  std::vector<std::string> algos;
  for (ConvAlgo a : conv_algos()) {
    algos.push_back(conv_algo_name(a));
    algos.push_back(std::to_string(int(a)));
  }
  cli.choice_option("conv-algo", algos,
                    "CUDA convolution algorithm, by name or by its version in kernels/README.md: auto (0: the float "
                    "kernels' choice, or tf32 with --tf32), tiled (2), large-tiles (3), tf32 (4), 3xtf32 (5), "
                    "winograd (6), winograd-2 (7)",
                    "auto");
  cli.flag("tf32", "CUDA: convolutions on the tensor cores with TF32 inputs (faster; each product rounded to 10 "
           "mantissa bits, as PyTorch's allow_tf32)");
  cli.flag("no-fusion", "run every layer on its own instead of fusing a convolution with its activation (the same "
           "values, more kernels; for comparisons)");
}

Numerics numerics_from(const Cli& cli, Numerics base) {
  if (cli.given("conv-algo")) base.conv_algo = parse_conv_algo(cli.get("conv-algo"));
  if (cli.given("tf32")) base.tf32 = cli.has("tf32");
  if (cli.given("no-fusion")) base.fusion = !cli.has("no-fusion");
  return base;
}

std::vector<std::string> numerics_options_given(const Cli& cli) {
  std::vector<std::string> names;
  for (const char* name : {"conv-algo", "tf32", "no-fusion"})
    if (cli.given(name)) names.push_back(name);
  return names;
}

}  // namespace ednn::io

namespace ednn::io {

std::vector<std::pair<std::string, std::string>> run_provenance(int argc, char** argv, Device device,
                                                                const Numerics& numerics) {
  auto out = provenance(argc, argv);
  out.emplace_back("device", device_name(device));
  out.emplace_back("numerics", device == Device::cuda ? numerics.describe() : "float32 on the cpu");
  return out;
}

std::string provenance_json(const std::vector<std::pair<std::string, std::string>>& provenance) {
  nlohmann::ordered_json object = nlohmann::ordered_json::object();
  for (const auto& [key, value] : provenance) object[key] = value;
  return object.dump();
}

}  // namespace ednn::io
