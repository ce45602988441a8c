#include "engine/numerics.h"

#include <atomic>

#include "core/error.h"

namespace ednn {
namespace {

struct AlgoName {
  ConvAlgo algo;
  const char* name;
};
constexpr AlgoName kAlgos[] = {{ConvAlgo::automatic, "auto"},   {ConvAlgo::tiled, "tiled"},
                               {ConvAlgo::large_tiles, "large-tiles"}, {ConvAlgo::tf32, "tf32"},
                               {ConvAlgo::tf32x3, "3xtf32"},     {ConvAlgo::winograd, "winograd"},
                               {ConvAlgo::winograd_2, "winograd-2"}};

std::string valid_list() {
  std::string s;
  for (const AlgoName& a : kAlgos) s += (s.empty() ? "" : ", ") + std::string(a.name) + " (" + std::to_string(int(a.algo)) + ")";
  return s;
}

// Set from several threads at most at start-up, read on every launch: atomics, no lock.
std::atomic<int> g_conv_algo{0};
std::atomic<bool> g_tf32{false};
std::atomic<bool> g_fusion{true};

}  // namespace

const std::vector<ConvAlgo>& conv_algos() {
  static const std::vector<ConvAlgo> all = [] {
    std::vector<ConvAlgo> v;
    for (const AlgoName& a : kAlgos) v.push_back(a.algo);
    return v;
  }();
  return all;
}

const char* conv_algo_name(ConvAlgo algo) {
  for (const AlgoName& a : kAlgos)
    if (a.algo == algo) return a.name;
  fail("convolution algorithm ", int(algo), " does not exist (expected one of ", valid_list(), ")");
}

ConvAlgo parse_conv_algo(const std::string& text) {
  for (const AlgoName& a : kAlgos)
    if (text == a.name || text == std::to_string(int(a.algo))) return a.algo;
  fail("convolution algorithm '", text, "' does not exist (expected one of ", valid_list(),
       "; the numbers are the versions of kernels/README.md)");
}

int Numerics::conv_version() const {
  if (conv_algo != ConvAlgo::automatic) return int(conv_algo);
  return tf32 ? int(ConvAlgo::tf32) : 0;
}

std::string Numerics::describe() const {
  std::string s = std::string("conv ") + conv_algo_name(conv_algo);
  if (conv_algo == ConvAlgo::automatic) s += tf32 ? " (TF32 tensor cores)" : " (float32)";
  else if (tf32 && conv_algo != ConvAlgo::tf32) s += ", TF32 allowed";
  return s + (fusion ? ", fusion on" : ", fusion off");
}

Numerics numerics() {
  Numerics n;
  n.conv_algo = static_cast<ConvAlgo>(g_conv_algo.load());
  n.tf32 = g_tf32.load();
  n.fusion = g_fusion.load();
  return n;
}

void set_numerics(const Numerics& n) {
  conv_algo_name(n.conv_algo);  // a valid algorithm, or an error
  g_conv_algo = int(n.conv_algo);
  g_tf32 = n.tf32;
  g_fusion = n.fusion;
}

bool allow_tf32() { return g_tf32.load(); }
void set_allow_tf32(bool allow) { g_tf32 = allow; }
int conv_kernel_version() { return numerics().conv_version(); }

void set_conv_kernel_version(int version) {
  for (const AlgoName& a : kAlgos)
    if (int(a.algo) == version) {
      g_conv_algo = version;
      return;
    }
  fail("set_conv_kernel_version: convolution kernel version ", version, " does not exist (expected ", valid_list(), ")");
}

}  // namespace ednn
