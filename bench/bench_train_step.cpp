// bench_train_step: samples/s of a full ED-CNN training step (forward, loss, backward, Adam),
// with the time split by layer.
//
//   bench_train_step --preset small|paper|tiny --batch B --steps K --device cpu|cuda [--forward-only]
//                    [--no-fusion] [--tf32] [--conv-algo NAME|V] [--graph]
//
// The numerics options are train's (apps/numerics_options.h, engine/numerics.h). By default each
// convolution runs fused with the leaky ReLU after it (engine/modules.h, Sequential); --no-fusion
// runs every layer on its own, for comparison. --tf32 lets the CUDA convolutions use the tensor
// cores with TF32 inputs; compare it with PyTorch's allow_tf32 (torch_train_step.py --tf32).
// --conv-algo runs one convolution algorithm of the tour everywhere, e.g. 3xtf32 (5), the tensor
// cores with float accuracy, or winograd (6), beside PyTorch's fp32.
// The per-layer split then shows a fused pair's time on the convolution's line.
// --graph (cuda) also captures the step in a CUDA graph (engine/cuda_graph.h) and times its
// replays after the eager steps, in the same run: both medians are printed, and the last line
// is the graph's rate.
//
// Under `mpirun -np K` (or --comm mpi) the step is data parallel as in `train` (nets/trainer.h):
// each rank takes its share of the global batch B, the gradients are summed over the ranks
// (timed on their own), then Adam steps; rank 0 prints a scaling line with the all-reduce's share
// of the step, and the rate is the global batch's. bench/mpi_scaling.sh runs 1 and 2 ranks side by
// side. The per-layer split is left out then.
//
// Inputs are seeded random images in [0, 1). After two warm-up steps, K steps are timed one by
// one and the median is reported; then one more step runs with per-layer timing (the device is
// synchronised after each layer, so the split adds up to a little more than the median). The last
// line states the rate as "N samples/s" (bench/torch_train_step.py reads it).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "apps/cli.h"
#include "apps/numerics_options.h"
#include "engine/autograd.h"
#include "engine/communicator.h"
#include "engine/device.h"
#include "engine/functional.h"
#include "engine/optim.h"
#include "nets/ednn_cnn.h"
#if EDNN_WITH_CUDA
#include "engine/cuda_graph.h"
#endif

using namespace ednn;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string preset = "small", device = "cpu", loss = "exp-mae:w=1";
  int batch = 16, steps = 10;
  bool forward_only = false;
  Numerics numerics;
  bool graph = false;
  std::string comm = "auto";
};

// ", convolutions: kernel version V (...)" for the header line.
std::string conv_description(int version) {
  const char* what = version == 0   ? "automatic, fp32"
                     : version == 4 ? "tensor cores, TF32"
                     : version == 5 ? "tensor cores, 3xTF32 (fp32 accuracy)"
                     : version == 6 ? "Winograd F(2x2, 3x3), fp32"
                     : version == 7 ? "Winograd F(2x2, 3x3), fp32, 2 blocks/SM"
                                    : "fp32";
  return ", convolutions: kernel version " + std::to_string(version) + " (" + what + ")";
}

// The command line; throws io::UsageError. Returns false after --help or --version.
bool parse(int argc, char** argv, Options& o) {
  io::Cli cli("bench_train_step",
              "Times the ED-CNN training step (forward, loss, backward, Adam) and splits it by layer; the last "
              "line is 'N samples/s' (bench/torch_train_step.py reads it).\n\n"
              "  bench_train_step --preset small --batch 16 --steps 10 --device cpu\n"
              "  bench_train_step --preset small --batch 50 --device cuda --graph\n"
              "  mpirun -np K bench_train_step ...   (each rank a share of the batch, gradients summed)");
  cli.choice_option("preset", {"small", "paper", "tiny"}, "network preset", o.preset);
  cli.integer_option("batch", "B", "images per step (the global batch under mpirun)", std::to_string(o.batch), 1,
                     2147483647);
  cli.integer_option("steps", "K", "timed steps; the median is reported", std::to_string(o.steps), 1, 2147483647);
  cli.choice_option("device", {"cpu", "cuda", "auto"}, "where the step runs", o.device);
  cli.option("loss", "TEXT", "the loss (core/loss_spec.h)", o.loss);
  cli.flag("forward-only", "time the forward pass alone, without gradients");
  io::add_numerics_options(cli);
  cli.flag("graph", "device cuda: also time the step captured in a CUDA graph and replayed, after the eager steps; the "
           "last line is then the graph's rate");
  cli.choice_option("comm", {"auto", "single", "mpi", "nccl"}, "data-parallel backend (auto: mpi under mpirun)", o.comm);
  if (!cli.parse(argc, argv)) return false;
  o.preset = cli.get("preset");
  o.batch = int(cli.integer("batch"));
  o.steps = int(cli.integer("steps"));
  o.device = cli.get("device");
  o.loss = cli.get("loss");
  o.forward_only = cli.has("forward-only");
  o.numerics = io::numerics_from(cli);
  o.graph = cli.has("graph");
  o.comm = cli.get("comm");
  if (o.graph && (o.device != "cuda" || o.forward_only))
    throw io::UsageError("--graph captures the training step on the cuda device (--device cuda, no --forward-only)");
  return true;
}

Tensor seeded_uniform(const Shape& shape, std::uint64_t seed, Device device) {
  InitRng rng{seed};
  Tensor t = Tensor::empty(shape);
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = float(rng.uniform(0, 1));
  return t.to(device);
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Seconds of each of `steps` runs of step, after two untimed warm-up runs, sorted.
template <class Step>
std::vector<double> sorted_step_times(Step&& step, int steps) {
  for (int i = 0; i < 2; ++i) step();
  std::vector<double> times;
  for (int i = 0; i < steps; ++i) {
    auto t0 = Clock::now();
    step();
    times.push_back(seconds_since(t0));
  }
  std::sort(times.begin(), times.end());
  return times;
}

// The data-parallel step: this rank's share of the batch, the gradients summed over the ranks,
// Adam. Prints the scaling line on rank 0.
int data_parallel_step(const Options& o, Device device, Communicator& comm) {
  const nets::NetConfig config = nets::preset_config(o.preset);
  set_numerics(o.numerics);
  auto net = nets::build_ednn(config, 1);
  net->to(device);
  Adam adam(net->parameters(), AdamConfig{});
  const LossSpec loss_spec = parse_loss(o.loss);
  const Share share = share_of(o.batch, comm.rank(), comm.size());
  const int mine = int(share.count());
  const Tensor x = seeded_uniform({mine, 1, config.L, config.L}, 2 + std::uint64_t(comm.rank()), device);
  const Tensor y = seeded_uniform({mine, 1, config.L, config.L}, 1000 + std::uint64_t(comm.rank()), device);
  const double weight = double(mine) / o.batch;
  std::vector<double> reduce_times;
  auto step = [&] {
    adam.zero_grad();
    Tensor loss = weighted_loss(net->forward(x), y, loss_spec);
    loss.backward(Tensor::full(loss.shape(), weight, loss.dtype(), device));
    std::vector<Tensor> grads;
    for (Tensor& p : net->parameters()) grads.push_back(p.grad());
    device_synchronize(device);
    const auto t0 = Clock::now();
    comm.all_reduce_sum(grads);
    device_synchronize(device);
    reduce_times.push_back(seconds_since(t0));
    adam.step();
    device_synchronize(device);
  };
  const std::vector<double> times = sorted_step_times(step, o.steps);
  std::vector<double> reduced(reduce_times.begin() + 2, reduce_times.end());  // the timed steps only
  std::sort(reduced.begin(), reduced.end());
  const double median = times[times.size() / 2], reduce = reduced[reduced.size() / 2];
  if (comm.is_root()) {
    std::printf("training step, data parallel: preset %s (L %d, %s parameters), global batch %d over %d ranks (%s), "
                "device %s, loss %s\n",
                o.preset.c_str(), config.L, nets::with_commas(net->parameter_count()).c_str(), o.batch, comm.size(),
                comm.name(), device_name(device), o.loss.c_str());
    std::printf("scaling: %d ranks, median step %.3f ms, all-reduce of %s gradients %.3f ms (%.1f%% of the step)\n",
                comm.size(), median * 1e3, nets::with_commas(net->parameter_count()).c_str(), reduce * 1e3,
                100 * reduce / median);
    std::printf("%.2f samples/s\n", o.batch / median);
  }
  return 0;
}

int run(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, o)) return 0;  // --help, --version
  const Device device = parse_device(o.device);
  const std::unique_ptr<Communicator> comm = make_communicator(o.comm, device);
  if (comm->size() > 1 || o.comm == "mpi" || o.comm == "nccl") {  // a backend asked for is timed at any size
    EDNN_CHECK(!o.graph && !o.forward_only, "bench_train_step: the data-parallel step is timed eagerly, with backward");
    EDNN_CHECK(o.batch >= comm->size(), "bench_train_step: a batch of ", o.batch, " cannot be shared by ",
               comm->size(), " ranks");
    return data_parallel_step(o, device, *comm);
  }
  const nets::NetConfig config = nets::preset_config(o.preset);
  set_numerics(o.numerics);  // before the network is built: fusion is decided then
  auto net = nets::build_ednn(config, 1);
  net->to(device);
  Adam adam(net->parameters(), AdamConfig{});
  const LossSpec loss_spec = parse_loss(o.loss);
  const Tensor x = seeded_uniform({o.batch, 1, config.L, config.L}, 2, device);
  const Tensor y = seeded_uniform({o.batch, 1, config.L, config.L}, 3, device);

  auto train_once = [&] {  // forward, loss, backward, Adam: queued, not waited for
    adam.zero_grad();
    Tensor loss = weighted_loss(net->forward(x), y, loss_spec);
    loss.backward();
    adam.step();
  };
  auto step = [&] {
    if (o.forward_only) {
      NoGradGuard no_grad;
      Tensor out = net->forward(x);
      device_synchronize(device);
      return;
    }
    train_once();
    device_synchronize(device);
  };

  std::printf("%s: preset %s (L %d, c0 %d, %s parameters), batch %d, device %s, loss %s, fusion %s%s\n",
              o.forward_only ? "forward" : "training step", o.preset.c_str(), config.L, config.c0,
              nets::with_commas(net->parameter_count()).c_str(), o.batch, device_name(device), o.loss.c_str(),
              net->fusion() ? "on" : "off",
              device == Device::cuda ? conv_description(numerics().conv_version()).c_str() : "");
  std::vector<double> times = sorted_step_times(step, o.steps);
  double median = times[times.size() / 2];
  if (o.graph) {
#if EDNN_WITH_CUDA
    // The same step, captured once (a capture runs nothing: the first replay takes the step).
    cuda::CapturedTrainingStep graph(adam, train_once);
    auto replay = [&] {
      graph.replay();
      device_synchronize(device);
    };
    std::vector<double> graph_times = sorted_step_times(replay, o.steps);
    const double graph_median = graph_times[graph_times.size() / 2];
    std::printf("eager median %.3f ms; CUDA graph of %zu nodes, median %.3f ms (%.2fx the eager rate)\n",
                median * 1e3, graph.node_count(), graph_median * 1e3, median / graph_median);
    median = graph_median;
    times = graph_times;
#else
    fail("bench_train_step: --graph needs ednn built with CUDA");
#endif
  }

  // One profiled step: forward step by step (a fused pair is one step, timed on its first layer),
  // then the backward nodes (one per step, in reverse order).
  std::vector<double> forward_s(net->size(), 0.0);
  std::vector<std::size_t> step_starts;
  std::vector<BackwardTiming> backward;
  {
    adam.zero_grad();
    Tensor h = x;
    for (std::size_t i = 0; i < net->size(); i += net->step_size(i)) {
      step_starts.push_back(i);
      auto t0 = Clock::now();
      if (o.forward_only) {
        NoGradGuard no_grad;
        h = net->forward_step(i, h);
      } else {
        h = net->forward_step(i, h);
      }
      device_synchronize(device);
      forward_s[i] = seconds_since(t0);
    }
    if (!o.forward_only) {
      Tensor loss = weighted_loss(h, y, loss_spec);
      set_backward_timing(&backward);
      loss.backward();
      set_backward_timing(nullptr);
    }
  }
  // backward[0] is the loss; backward[k] (k >= 1) is step step_starts.size() - k.
  std::vector<double> backward_s(net->size(), 0.0);
  for (std::size_t s = 0; s < step_starts.size(); ++s) {
    const std::size_t k = step_starts.size() - s;
    if (k < backward.size()) backward_s[step_starts[s]] = backward[k].seconds;
  }
  std::printf("\n%5s  %-58s %10s %10s\n", "layer", "module", "fwd ms", "bwd ms");
  std::vector<bool> fused_into_previous(net->size(), false);  // layers that run inside an earlier step
  for (std::size_t s : step_starts)
    for (std::size_t j = s + 1; j < s + net->step_size(s) && j < net->size(); ++j) fused_into_previous[j] = true;
  for (std::size_t i = 0; i < net->size(); ++i) {
    const std::string name = (*net)[i].describe() + (fused_into_previous[i] ? " (fused above)" : "");
    std::printf("%5zu  %-58s %10.3f %10.3f\n", i, name.c_str(), forward_s[i] * 1e3, backward_s[i] * 1e3);
  }
  if (!backward.empty()) std::printf("%5s  %-58s %10s %10.3f\n", "", "loss", "", backward[0].seconds * 1e3);
  std::printf("\nmedian step %.3f ms over %d steps (min %.3f, max %.3f)\n", median * 1e3, o.steps, times.front() * 1e3,
              times.back() * 1e3);
  std::printf("%.2f samples/s\n", o.batch / median);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return ednn::io::run_main("bench_train_step", run, argc, argv); }
