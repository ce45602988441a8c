#include "nets/ednn_cnn.h"

#include <iomanip>
#include <sstream>

#include "core/error.h"

namespace ednn::nets {

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names{"paper", "small", "tiny"};
  return names;
}

NetConfig preset_config(const std::string& name) {
  if (name == "paper") return {"paper", 512, 64};
  if (name == "small") return {"small", 128, 8};
  if (name == "tiny") return {"tiny", 64, 4};
  fail("unknown preset '", name, "': expected paper (L 512, c0 64), small (L 128, c0 8) or tiny (L 64, c0 4)");
}

NetConfig config_from_shapes(const std::map<std::string, Shape>& shapes, int L, const std::string& file) {
  const auto first = shapes.find("0.weight");
  EDNN_CHECK(first != shapes.end(), "checkpoint ", file, ": no tensor '0.weight', so not an ED-CNN state_dict (",
             shapes.size(), " tensors)");
  const Shape& w = first->second;
  EDNN_CHECK(w.size() == 4 && w[1] == 1 && w[2] == 3 && w[3] == 3, "checkpoint ", file, ": '0.weight' has shape ",
             shape_str(w), ", an ED-CNN's first convolution is [c0, 1, 3, 3]");
  NetConfig c;
  c.preset = "custom";
  c.L = L;
  c.c0 = int(w[0]);
  c.batch_norm = shapes.count("1.weight") > 0;
  for (const auto& name : preset_names()) {
    const NetConfig p = preset_config(name);
    if (p.L == c.L && p.c0 == c.c0) c.preset = name;
  }
  validate(c);
  return c;
}

NetConfig config_for_state_dict(const std::map<std::string, Shape>& shapes, const std::string& preset, int L,
                                const std::string& file) {
  int side = L;
  if (!preset.empty()) {
    const NetConfig p = preset_config(preset);
    EDNN_CHECK(L == 0 || L == p.L, "--L ", L, " contradicts --preset ", preset, " (L ", p.L, ")");
    side = p.L;
  }
  EDNN_CHECK(side > 0, "checkpoint ", file, " has no ednn metadata (a state_dict saved by PyTorch?) and so no "
             "lattice side, which no weight's shape holds: give --preset NAME or --L N");
  NetConfig c = config_from_shapes(shapes, side, file);
  if (!preset.empty()) {
    const NetConfig p = preset_config(preset);
    EDNN_CHECK(c.c0 == p.c0, "checkpoint ", file, " has c0 = ", c.c0, " ('0.weight' ", shape_str(shapes.at("0.weight")),
               "), preset ", preset, " has c0 = ", p.c0, "; give --L ", p.L, " instead of --preset for a custom width");
  }
  return c;
}

void validate(const NetConfig& c) {
  EDNN_CHECK(c.L > 0 && c.L % 32 == 0, "ED-CNN: L must be a positive multiple of 32 (five 2x pools), got ", c.L);
  EDNN_CHECK(c.c0 >= 2 && c.c0 % 2 == 0, "ED-CNN: c0 must be a positive even number, got ", c.c0);
}

std::unique_ptr<Sequential> build_ednn(const NetConfig& config, std::uint64_t seed, DType dtype) {
  validate(config);
  auto net = std::make_unique<Sequential>();
  InitRng rng{seed};
  auto w = [&](int k) { return config.c0 << k; };
  // Encoder: the first convolution is followed by the network's only batch norm.
  net->add<Conv2d>(1, w(0), 3, 1, 1, rng, dtype);
  if (config.batch_norm) net->add<BatchNorm2d>(w(0), 0.1, 1e-5, dtype);
  else net->add<Identity>();
  net->add<LeakyReLU>(kLeakySlope);
  net->add<AvgPool2d>(2);
  for (int k = 1; k <= 4; ++k) {
    net->add<Conv2d>(w(k - 1), w(k), 3, 1, 1, rng, dtype);
    net->add<LeakyReLU>(kLeakySlope);
    net->add<AvgPool2d>(2);
  }
  net->add<Conv2d>(w(4), w(5), 3, 1, 1, rng, dtype);
  net->add<LeakyReLU>(kLeakySlope);
  // Decoder.
  net->add<ConvTranspose2d>(w(5), w(4), 3, 1, 1, 0, rng, dtype);
  net->add<LeakyReLU>(kLeakySlope);
  for (int k = 4; k >= 1; --k) {
    net->add<ConvTranspose2d>(w(k), w(k - 1), 3, 1, 1, 0, rng, dtype);
    net->add<LeakyReLU>(kLeakySlope);
    net->add<Upsample>(2);
  }
  net->add<ConvTranspose2d>(w(0), w(0) / 2, 3, 1, 1, 0, rng, dtype);
  net->add<LeakyReLU>(kLeakySlope);
  net->add<Upsample>(2);
  net->add<ConvTranspose2d>(w(0) / 2, 1, 3, 1, 1, 0, rng, dtype);
  net->add<LeakyReLU>(kLeakySlope);
  return net;
}

std::vector<LayerSummary> summarize(Sequential& net, int L) {
  std::vector<LayerSummary> out;
  Shape s{1, L, L};
  for (std::size_t i = 0; i < net.size(); ++i) {
    Module& m = net[i];
    if (auto* c = dynamic_cast<Conv2d*>(&m)) {
      const auto k = c->weight.dim(2);
      s = {c->weight.dim(0), (s[1] + 2 * c->padding - k) / c->stride + 1, (s[2] + 2 * c->padding - k) / c->stride + 1};
    } else if (auto* t = dynamic_cast<ConvTranspose2d*>(&m)) {
      const auto k = t->weight.dim(2);
      auto side = [&](std::int64_t h) { return (h - 1) * t->stride - 2 * t->padding + k + t->output_padding; };
      s = {t->weight.dim(1), side(s[1]), side(s[2])};
    } else if (auto* p = dynamic_cast<AvgPool2d*>(&m)) {
      s = {s[0], (s[1] - p->kernel) / p->stride + 1, (s[2] - p->kernel) / p->stride + 1};
    } else if (auto* u = dynamic_cast<Upsample*>(&m)) {
      s = {s[0], s[1] * u->scale, s[2] * u->scale};
    }
    out.push_back({i, m.describe(), s, m.parameter_count()});
  }
  return out;
}

std::string with_commas(std::int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string summary_table(Sequential& net, const NetConfig& config) {
  std::ostringstream os;
  os << "ED-CNN preset " << config.preset << " (L " << config.L << ", c0 " << config.c0 << ")\n";
  os << std::left << std::setw(6) << "index" << std::setw(72) << "layer" << std::setw(20) << "output [C, H, W]"
     << std::right << std::setw(14) << "parameters" << "\n";
  std::int64_t total = 0;
  for (const auto& l : summarize(net, config.L)) {
    os << std::left << std::setw(6) << l.index << std::setw(72) << l.layer << std::setw(20) << shape_str(l.output)
       << std::right << std::setw(14) << with_commas(l.parameters) << "\n";
    total += l.parameters;
  }
  os << "total parameters: " << with_commas(total) << "\n";
  return os.str();
}

}  // namespace ednn::nets
