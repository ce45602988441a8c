// What each kernel does to memory at the network's shapes, counted by the CPU emulation
// (kernels/simt_counters.h), no GPU needed: for every convolution of bench_conv (each layer,
// operation and kernel version, the same rows) and the op kernels of bench_ops, each kernel
// launch's global sectors per request, shared wavefronts per request, barriers, lanes, distinct
// sectors and its launch configuration. The rows go to CSV for bench/time_model.py, which turns
// them into predicted GPU times.
//
//   bench_counters [--preset paper|small] [--batch 16] [--layer TEXT] [--version V] [--only conv|ops]
//                  [--op forward,backward_data,backward_weight] [--full] [--no-extrapolation]
//                  [--jobs N] [--lines N] [--csv bench_counters.csv]
//
// Two shortcuts make the paper's layers countable in seconds per row (their errors, measured:
// kernels/README.md, "Reading the counters"):
//   sampling (--full turns it off): each launch runs the first, middle and last block along each
//     grid dimension, weighted by the blocks they stand for (simt::counters::begin(true));
//   extrapolation (--no-extrapolation turns it off): a block of a paper layer runs up to thousands
//     of K steps, so forward and backward-data are counted at 16 and 32 channels summed over, and
//     backward-weight (whose K is the batch's pixels, split-K) on one image of r and 2r rows (r
//     the fewest that keep the full batch's slices), and every count is extrapolated linearly to
//     the layer's.
// The rows run in --jobs processes side by side. The buffers are real (about 2 GiB at the paper's
// first layer, batch 16), filled with seeded values; the sampled launches compute nothing useful,
// which is fine: nothing is checked here but the counts (the kernels' results are checked by the
// kernel tests).
#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ednn_git_commit.h"  // EDNN_GIT_COMMIT (cmake/GitCommit.cmake)
#include "bench/conv_layers.h"
#include "core/error.h"
#include "core/geometry.h"
#include "core/loss_math.h"
#include "kernels/activation.h"
#include "kernels/adam.h"
#include "kernels/batch_norm.h"
#include "kernels/conv2d.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "kernels/pool.h"
#include "kernels/reduce.h"
#include "kernels/simt.h"
#include "kernels/simt_counters.h"
#include "solver/solver.h"
#include "solver/sor_cuda.h"

namespace {

using simt::counters::Counts;
using simt::counters::KernelCounts;

// The symbol of a kernel function of this program (mangled, as the PTX .entry names it), through
// addr2line: the kernels are internal symbols, which dladdr does not see.
std::string kernel_symbol(const void* kernel) {
  Dl_info info{};
  if (!kernel || !dladdr(kernel, &info) || !info.dli_fname) return "?";
  char command[512];
  std::snprintf(command, sizeof command, "addr2line -f -e '%s' 0x%lx 2>/dev/null", info.dli_fname,
                static_cast<unsigned long>(reinterpret_cast<std::uintptr_t>(kernel) -
                                           reinterpret_cast<std::uintptr_t>(info.dli_fbase)));
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command, "r"), pclose);
  char line[4096] = "?";
  if (!pipe || !std::fgets(line, sizeof line, pipe.get())) return "?";
  std::string s(line);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// The source lines of a kernel's instructions ("file.cu:123", "?" where unknown), through one
// addr2line per program file. An instruction's address is the return address of its access's
// hook call, so the address before it is looked up (the call itself, on the access's line).
std::vector<std::string> source_lines(const std::vector<simt::counters::InstructionCounts>& instructions) {
  std::vector<std::string> lines(instructions.size(), "?");
  Dl_info info{};
  if (instructions.empty() || !dladdr(instructions.front().instruction, &info) || !info.dli_fname) return lines;
  std::string command = "addr2line -e '" + std::string(info.dli_fname) + "'";
  for (const auto& i : instructions) {
    char offset[32];
    std::snprintf(offset, sizeof offset, " 0x%lx",
                  static_cast<unsigned long>(reinterpret_cast<std::uintptr_t>(i.instruction) -
                                             reinterpret_cast<std::uintptr_t>(info.dli_fbase) - 1));
    command += offset;
  }
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen((command + " 2>/dev/null").c_str(), "r"), pclose);
  char line[4096];
  for (std::size_t k = 0; pipe && k < lines.size() && std::fgets(line, sizeof line, pipe.get()); ++k) {
    std::string text(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (const std::size_t discriminator = text.find(" (discriminator"); discriminator != std::string::npos)
      text.erase(discriminator);
    text = text.substr(text.rfind('/') + 1);
    // The counted build compiles X.cu through a wrapper X.counted.cpp, whose one line includes it;
    // GCC's line table names the wrapper for some of X.cu's lines (their numbers are X.cu's).
    if (const std::size_t wrapper = text.find(".counted.cpp:"); wrapper != std::string::npos)
      text.replace(wrapper, 12, ".cu");
    lines[k] = text;
  }
  return lines;
}

struct Output {
  std::ofstream csv;
  int lines = 0;          // --lines N: under each kernel, its N costliest loads and stores by source line
  long row = 0;           // the row being written (its place in the order all processes share)
  bool row_prefix = false;  // a child of --jobs: each line starts with its row, for the merge
  std::vector<std::pair<const void*, std::string>> symbols;  // kernel -> symbol, looked up once each

  const std::string& symbol(const void* kernel) {
    for (const auto& [k, s] : symbols)
      if (k == kernel) return s;
    symbols.emplace_back(kernel, kernel_symbol(kernel));
    return symbols.back().second;
  }

  static constexpr const char* header =
      "op,shape,variant,kernel,symbol,launches,grid_x,grid_y,grid_z,block_threads,dynamic_shared_bytes,blocks,"
      "blocks_run,global_load_requests,global_load_lanes,global_load_sectors,global_load_bytes,"
      "global_store_requests,global_store_lanes,global_store_sectors,global_store_bytes,shared_load_requests,"
      "shared_load_wavefronts,shared_load_bytes,shared_store_requests,shared_store_wavefronts,shared_store_bytes,"
      "barriers,unique_sectors,footprint_bytes,copy_async_bytes,count_seconds";

  // The kernel's `lines` costliest source lines in global memory (by sectors) and in shared memory
  // (by wavefronts), loads and stores apart, with their shares of the kernel's total. (An
  // unrolled loop's copies of an access are instructions of their own, all on one line.)
  std::string costliest_lines(const KernelCounts& k) const {
    struct Line {
      std::string where;
      bool shared, store;
      std::uint64_t requests = 0, lanes = 0, cost = 0;
    };
    const std::vector<std::string> where = source_lines(k.instructions);
    std::vector<Line> by_line;
    for (std::size_t i = 0; i < k.instructions.size(); ++i) {
      const auto& in = k.instructions[i];
      auto it = std::find_if(by_line.begin(), by_line.end(), [&](const Line& l) {
        return l.where == where[i] && l.shared == in.shared && l.store == in.store;
      });
      if (it == by_line.end()) it = by_line.insert(by_line.end(), Line{where[i], in.shared, in.store});
      it->requests += in.requests, it->lanes += in.lanes, it->cost += in.shared ? in.wavefronts : in.sectors;
    }
    std::string text;
    for (const bool shared : {false, true}) {
      std::vector<const Line*> order;
      std::uint64_t total = 0;
      for (const Line& l : by_line)
        if (l.shared == shared) order.push_back(&l), total += l.cost;
      std::stable_sort(order.begin(), order.end(), [](const Line* a, const Line* b) { return a->cost > b->cost; });
      if (order.size() > std::size_t(lines)) order.resize(std::size_t(lines));
      for (const Line* l : order) {
        char line[512];
        std::snprintf(line, sizeof line, "        %-32s %-6s %-5s %12llu req  %5.2f %s/req  %4.1f lanes  %5.1f%% of its %s\n",
                      l->where.c_str(), shared ? "shared" : "global", l->store ? "store" : "load",
                      static_cast<unsigned long long>(l->requests),
                      l->requests ? double(l->cost) / double(l->requests) : 0.0, shared ? "wavefronts" : "sectors",
                      l->requests ? double(l->lanes) / double(l->requests) : 0.0,
                      total ? 100.0 * double(l->cost) / double(total) : 0.0, shared ? "wavefronts" : "sectors");
        text += line;
      }
    }
    return text;
  }

  // One row per kernel of one counted (op, shape, variant), and a few lines on stdout (written at
  // once, so that the lines of processes running side by side do not mix).
  void write(const std::string& op, const std::string& shape, const std::string& variant, const Counts& c,
             double seconds) {
    char line[512];
    std::snprintf(line, sizeof line, "%-16s | %-40s | %-30s | %.2f s\n", op.c_str(), shape.c_str(), variant.c_str(),
                  seconds);
    std::string text = line;
    for (const KernelCounts& k : c.kernels) {
      const auto& n = k.numbers;
      std::snprintf(line, sizeof line,
                    "    %-34s %5llu blk  gld %5.2f sec/req  gst %5.2f  shld %5.2f wf/req  shst %5.2f  bar/blk %6.1f"
                    "  lanes %4.1f\n",
                    k.launched_at.substr(k.launched_at.rfind('/') + 1).c_str(),
                    static_cast<unsigned long long>(n.blocks), n.global_load.sectors_per_request(),
                    n.global_store.sectors_per_request(), n.shared_load.wavefronts_per_request(),
                    n.shared_store.wavefronts_per_request(), n.blocks ? double(n.barriers) / double(n.blocks) : 0.0,
                    n.global_load.lanes_per_request());
      text += line;
      if (lines > 0) text += costliest_lines(k);
      const auto u = [](std::uint64_t v) { return std::to_string(v); };
      if (row_prefix) csv << row << "\t";
      csv << op << ",\"" << shape << "\",\"" << variant << "\"," << k.launched_at.substr(k.launched_at.rfind('/') + 1)
          << "," << symbol(k.kernel) << "," << u(k.launches) << "," << k.grid.x << "," << k.grid.y << "," << k.grid.z
          << "," << k.block.x * k.block.y * k.block.z << "," << u(k.dynamic_shared_bytes) << "," << u(n.blocks) << ","
          << u(n.blocks_run) << "," << u(n.global_load.requests) << "," << u(n.global_load.lanes) << ","
          << u(n.global_load.sectors) << "," << u(n.global_load.bytes) << "," << u(n.global_store.requests) << ","
          << u(n.global_store.lanes) << "," << u(n.global_store.sectors) << "," << u(n.global_store.bytes) << ","
          << u(n.shared_load.requests) << "," << u(n.shared_load.wavefronts) << "," << u(n.shared_load.bytes) << ","
          << u(n.shared_store.requests) << "," << u(n.shared_store.wavefronts) << "," << u(n.shared_store.bytes)
          << "," << u(n.barriers) << "," << u(n.unique_sectors) << "," << u(k.footprint_bytes) << ","
          << u(n.copy_async_bytes) << "," << seconds << "\n";
    }
    csv.flush();
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  }
};

// --jobs: the rows are shared among processes (fork). Every process walks the same rows in the
// same order; each takes the next row nobody has taken, through a counter in shared memory, runs
// it, and takes another. Rows differ a hundredfold in cost, so handing them out one at a time
// balances the processes where a fixed split would not.
struct Rows {
  std::atomic<long>* next_free = nullptr;  // shared by the processes; null: one process runs all
  long seen = -1;                          // rows this process has walked past
  long taken = -1;                         // the row this process took last

  // Called once per row, in order: does this process run it?
  bool take() {
    ++seen;
    if (!next_free) return true;
    if (taken < seen) taken = next_free->fetch_add(1);
    return taken == seen;
  }
};
Rows rows;

// A device buffer of n floats filled with a pattern (values in [-1, 1], none zero, period 1000),
// written straight into it: the emulation's device memory is the host's, and a paper layer's
// buffers are gigabytes, so no host copy.
simt::DeviceBuffer<float> device_values(long n) {
  constexpr std::size_t period = 1000;
  std::array<float, period> pattern;
  for (std::size_t i = 0; i < period; ++i) pattern[i] = 0.25f + 0.5f * static_cast<float>((i * 7919) % period) / 1000.f;
  const auto size = static_cast<std::size_t>(std::max(1L, n));
  simt::DeviceBuffer<float> buffer(size);
  for (std::size_t i = 0; i < size; i += period)
    std::memcpy(buffer.data() + i, pattern.data(), std::min(period, size - i) * sizeof(float));
  return buffer;
}

template <class F>
Counts counted(bool sample, F&& launch) {
  simt::counters::begin(sample);
  launch();
  return simt::counters::end();
}

// One row: counted here if this process takes it (Rows).
template <class F>
void count(Output& out, bool sample, const std::string& op, const std::string& shape, const std::string& variant,
           F&& launch) {
  if (!rows.take()) return;
  out.row = rows.seen;
  const auto start = std::chrono::steady_clock::now();
  const Counts c = counted(sample, launch);
  out.write(op, shape, variant, c, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

// a + (b - a) t for every count, kernel by kernel (the two must have launched the same kernels).
Counts extrapolate(const Counts& a, const Counts& b, double t) {
  const auto lin = [t](std::uint64_t x, std::uint64_t y) {
    return static_cast<std::uint64_t>(std::max(0.0, double(x) + (double(y) - double(x)) * t + 0.5));
  };
  const auto global = [&](simt::counters::GlobalRequests& r, const simt::counters::GlobalRequests& x,
                          const simt::counters::GlobalRequests& y) {
    r.requests = lin(x.requests, y.requests), r.lanes = lin(x.lanes, y.lanes), r.bytes = lin(x.bytes, y.bytes),
    r.sectors = lin(x.sectors, y.sectors);
  };
  const auto shared = [&](simt::counters::SharedRequests& r, const simt::counters::SharedRequests& x,
                          const simt::counters::SharedRequests& y) {
    r.requests = lin(x.requests, y.requests), r.lanes = lin(x.lanes, y.lanes), r.bytes = lin(x.bytes, y.bytes),
    r.wavefronts = lin(x.wavefronts, y.wavefronts);
  };
  const auto numbers = [&](simt::counters::Numbers& r, const simt::counters::Numbers& x,
                           const simt::counters::Numbers& y) {
    global(r.global_load, x.global_load, y.global_load), global(r.global_store, x.global_store, y.global_store);
    shared(r.shared_load, x.shared_load, y.shared_load), shared(r.shared_store, x.shared_store, y.shared_store);
    r.unique_sectors = lin(x.unique_sectors, y.unique_sectors), r.barriers = lin(x.barriers, y.barriers);
    r.copy_async_bytes = lin(x.copy_async_bytes, y.copy_async_bytes), r.blocks = lin(x.blocks, y.blocks);
    r.blocks_run = y.blocks_run;
  };
  EDNN_CHECK(a.kernels.size() == b.kernels.size(), "bench_counters: the reduced sizes launched different kernels");
  Counts r = b;
  numbers(r, a, b);
  for (std::size_t k = 0; k < r.kernels.size(); ++k) {
    KernelCounts& kr = r.kernels[k];
    const KernelCounts &ka = a.kernels[k], &kb = b.kernels[k];
    EDNN_CHECK(ka.launched_at == kb.launched_at, "bench_counters: the reduced sizes launched different kernels");
    numbers(kr.numbers, ka.numbers, kb.numbers);
    kr.footprint_bytes = lin(ka.footprint_bytes, kb.footprint_bytes);
    for (simt::counters::InstructionCounts& i : kr.instructions) {  // b's, matched in a by address
      simt::counters::InstructionCounts in_a;
      for (const auto& j : ka.instructions)
        if (j.instruction == i.instruction && j.shared == i.shared && j.store == i.store) in_a = j;
      i.requests = lin(in_a.requests, i.requests), i.lanes = lin(in_a.lanes, i.lanes);
      i.bytes = lin(in_a.bytes, i.bytes), i.sectors = lin(in_a.sectors, i.sectors);
      i.wavefronts = lin(in_a.wavefronts, i.wavefronts);
    }
    kr.launches = kb.launches;
    kr.grid = dim3(static_cast<unsigned>(lin(ka.grid.x, kb.grid.x)), static_cast<unsigned>(lin(ka.grid.y, kb.grid.y)),
                   static_cast<unsigned>(lin(ka.grid.z, kb.grid.z)));
  }
  return r;
}

// A row whose cost grows with one size (the K loop's length): counted at that size s1 and s2 and
// extrapolated linearly to `full` when full > s2 (every count of a tiled kernel is linear in its K
// steps), else counted as it is. launch(size) runs the row at that size.
bool extrapolation = true;  // --no-extrapolation clears it
std::string op_filter = "all";      // --op: only the convolution operations whose name contains it

template <class F>
void count_extrapolated(Output& out, bool sample, const std::string& op, const std::string& shape,
                        const std::string& variant, int full, int s1, int s2, F&& launch) {
  if (op_filter.find(op) == std::string::npos && op_filter != "all") return;
  if (full <= s2 || !extrapolation) return count(out, sample, op, shape, variant, [&] { launch(full); });
  if (!rows.take()) return;
  out.row = rows.seen;
  const auto start = std::chrono::steady_clock::now();
  const Counts a = counted(sample, [&] { launch(s1); });
  const Counts b = counted(sample, [&] { launch(s2); });
  out.write(op, shape, variant, extrapolate(a, b, double(full - s1) / double(s2 - s1)),
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

std::string version_name(int version) {  // bench_conv's variant names
  return version == 4   ? "ednn v4 (TF32)"
         : version == 5 ? "ednn v5 (3xTF32)"
         : version == 6 ? "ednn v6 (Winograd)"
         : version == 7 ? "ednn v7 (Winograd, 2 blocks/SM)"
         : version == 0 ? "ednn auto (v0)"
                        : "ednn v" + std::to_string(version);
}

// Forward and backward-data at reduced channels summed over (C_in, C_out: 16 and 32), backward-
// weight on one image of fewer rows (below), extrapolated to the layer's (count_extrapolated):
// the grid and the tiles do not depend on them, the K loop's length does, linearly.
void count_conv(Output& out, bool sample, const ednn::bench::ConvLayer& layer, int only_version) {
  namespace k = ednn::kernels;
  const auto with = [&](int N, int C_in, int C_out, int side = 0) {
    if (side == 0) side = layer.g.H_in;
    return ednn::conv2d_geometry({N, C_in, side, side}, {C_out, C_in, 3, 3}, 1, 1);
  };
  const ednn::ConvGeometry& full = layer.g;
  for (int version = 1; version <= 7; ++version) {
    if (only_version >= 0 && version != only_version) continue;
    const std::string variant = version_name(version);
    count_extrapolated(out, sample, "forward", layer.name, variant, full.C_in, 16, 32, [&](int C_in) {
      const ednn::ConvGeometry g = with(full.N, C_in, full.C_out);
      simt::DeviceBuffer<float> x = device_values(g.input_numel()), w = device_values(g.weight_numel()),
                                y = device_values(g.output_numel()),
                                ws = device_values(k::conv2d_forward_workspace_size(g, version));
      k::conv2d_forward(x.data(), w.data(), nullptr, y.data(), g, nullptr, {}, version, ws.data());
    });
    if (version == 1) continue;  // the direct kernel is forward only
    count_extrapolated(out, sample, "backward_data", layer.name, variant, full.C_out, 16, 32, [&](int C_out) {
      const ednn::ConvGeometry g = with(full.N, full.C_in, C_out);
      simt::DeviceBuffer<float> dx = device_values(g.input_numel()), w = device_values(g.weight_numel()),
                                dy = device_values(g.output_numel()),
                                ws = device_values(k::conv2d_backward_data_workspace_size(g, version));
      k::conv2d_backward_data(dy.data(), w.data(), dx.data(), g, nullptr, nullptr, {}, version, 1, ws.data());
    });
    // K is every pixel of the batch, split into slices (kernels/split_k.h) that run the grid's z:
    // counted on one image of the layer's width and r and 2r rows, r (at least 8) the fewest
    // that split K into as many slices as the whole batch's, so the grid is the full one
    // and only each slice's share of the pixels (its K loop) is shorter; every count is linear in
    // the rows (up to the top and bottom padding rows, 2 per image: the batch has 2N of them).
    const auto slices = [&](const ednn::ConvGeometry& g) {
      const long partials = k::conv2d_backward_weight_workspace_size(g, version) -
                            k::sum_per_channel_workspace_size(g.N, g.C_out, long(g.H_out) * g.W_out);
      return partials == 0 ? 1L : partials / g.weight_numel();
    };
    const auto rows = [&](int r) {
      return r == full.N * full.H_in ? full : ednn::conv2d_geometry({1, full.C_in, r, full.W_in}, {full.C_out, full.C_in, 3, 3}, 1, 1);
    };
    int r = 8;
    while (r < full.N * full.H_in && slices(rows(r)) != slices(full)) r *= 2;
    r = std::max(8, std::min(r, full.N * full.H_in / 2));
    // Without the bias gradient, as bench_conv times it (the row is the weight gradient's GEMM or
    // Winograd kernel and split-K's reduction).
    count_extrapolated(out, sample, "backward_weight", layer.name, variant, full.N * full.H_in, r, 2 * r, [&](int n) {
      const ednn::ConvGeometry g = rows(n);
      simt::DeviceBuffer<float> x = device_values(g.input_numel()), dw = device_values(g.weight_numel()),
                                dy = device_values(g.output_numel()),
                                ws = device_values(k::conv2d_backward_weight_workspace_size(g, version));
      k::conv2d_backward_weight(x.data(), dy.data(), dw.data(), nullptr, ws.data(), g, nullptr, version);
    });
  }
}

// The op kernels at the shapes bench_ops gives them (its first, middle and last layer of each kind).
void count_ops(Output& out, bool sample, const std::string& preset, int N) {
  namespace k = ednn::kernels;
  const bool paper = preset == "paper";
  const int L = paper ? 512 : 128, c0 = paper ? 64 : 8;
  const auto shape = [&](int C, int H, const std::string& what) {
    return preset + " " + std::to_string(N) + "x" + std::to_string(C) + "x" + std::to_string(H) + "x" +
           std::to_string(H) + " (" + what + ")";
  };
  for (const auto& [C, H, what] : {std::tuple{c0, L, "layer 3"}, std::tuple{c0 * 4, L / 4, "layer 9"},
                                   std::tuple{c0 * 16, L / 16, "layer 15"}}) {
    const ednn::PoolGeometry g = ednn::avg_pool2d_geometry({N, C, H, H}, 2, 2);
    simt::DeviceBuffer<float> x = device_values(long(N) * C * H * H), y = device_values(long(N) * C * H * H / 4);
    count(out, sample, "avg_pool2d_fwd", shape(C, H, what), "ednn",
          [&] { k::avg_pool2d_forward(x.data(), y.data(), g, nullptr); });
    count(out, sample, "avg_pool2d_bwd", shape(C, H, what), "ednn",
          [&] { k::avg_pool2d_backward(y.data(), x.data(), g, nullptr); });
  }
  for (const auto& [C, H, what] : {std::tuple{c0 * 8, L / 32, "layer 22"}, std::tuple{c0 * 2, L / 8, "layer 28"},
                                   std::tuple{c0 / 2, L / 2, "layer 34"}}) {
    simt::DeviceBuffer<float> x = device_values(long(N) * C * H * H), y = device_values(long(N) * C * H * H * 4);
    count(out, sample, "upsample2d_fwd", shape(C, H, what), "ednn",
          [&] { k::upsample_nearest2d_forward(x.data(), y.data(), N, C, H, H, 2, nullptr); });
    count(out, sample, "upsample2d_bwd", shape(C, H, what), "ednn",
          [&] { k::upsample_nearest2d_backward(y.data(), x.data(), N, C, H, H, 2, nullptr); });
  }
  for (const auto& [C, H, what] : {std::tuple{c0, L, "layer 2"}, std::tuple{c0 * 16, L / 32, "layer 19"},
                                   std::tuple{1, L, "layer 36"}}) {
    const long n = long(N) * C * H * H;
    simt::DeviceBuffer<float> x = device_values(n), y = device_values(n), dx = device_values(n);
    count(out, sample, "leaky_relu_fwd", shape(C, H, what), "ednn",
          [&] { k::leaky_relu_forward(x.data(), y.data(), n, 0.01f, nullptr); });
    count(out, sample, "leaky_relu_bwd", shape(C, H, what), "ednn",
          [&] { k::leaky_relu_backward(y.data(), x.data(), dx.data(), n, 0.01f, nullptr); });
  }
  {
    const long n = long(N) * L * L;
    simt::DeviceBuffer<float> x = device_values(n), y = device_values(n), s = device_values(1);
    count(out, sample, "scale", shape(1, L, "output"), "ednn", [&] { k::scale(y.data(), x.data(), n, s.data(), nullptr); });
  }
  for (const auto& [C, H, what] : {std::tuple{c0, L, "layer 0 output"}, std::tuple{c0 * 16, L / 32, "layer 18 output"},
                                   std::tuple{1, L, "layer 35 output"}}) {
    simt::DeviceBuffer<float> x = device_values(long(N) * C * H * H), o = device_values(C),
                              ws = device_values(k::sum_per_channel_workspace_size(N, C, long(H) * H));
    count(out, sample, "sum_per_channel", shape(C, H, what), "ednn",
          [&] { k::sum_per_channel(x.data(), N, C, long(H) * H, o.data(), ws.data(), nullptr); });
  }
}

// The network's BatchNorm2d (layer 1), its loss and its Adam step at the shapes bench_ops gives
// them, with bench_ops' variant names.
void count_training_ops(Output& out, bool sample, const std::string& preset, int N) {
  namespace k = ednn::kernels;
  const bool paper = preset == "paper";
  const int L = paper ? 512 : 128, c0 = paper ? 64 : 8;
  const std::string prefix = preset + " " + std::to_string(N) + "x";
  {
    const int C = c0;
    const long HW = long(L) * L, n = long(N) * C * HW;
    const std::string shape = prefix + std::to_string(C) + "x" + std::to_string(L) + "x" + std::to_string(L) + " (layer 1)";
    simt::DeviceBuffer<float> x = device_values(n), y = device_values(n), gamma = device_values(C),
                              beta = device_values(C), running_mean = device_values(C), running_var = device_values(C),
                              mean = device_values(C), invstd = device_values(C), dgamma = device_values(C),
                              dbeta = device_values(C);
    simt::DeviceBuffer<double> ws(static_cast<std::size_t>(k::batch_norm_workspace_size(N, C, HW)));
    count(out, sample, "batch_norm_train_fwd", shape, "ednn", [&] {
      k::batch_norm2d_train_forward(x.data(), gamma.data(), beta.data(), running_mean.data(), running_var.data(), 0.1,
                                    1e-5, y.data(), mean.data(), invstd.data(), N, C, HW, ws.data(), nullptr);
    });
    count(out, sample, "batch_norm_eval_fwd", shape, "ednn", [&] {
      k::batch_norm2d_eval_forward(x.data(), gamma.data(), beta.data(), running_mean.data(), running_var.data(), 1e-5,
                                   y.data(), N, C, HW, nullptr);
    });
    simt::DeviceBuffer<float> dx = device_values(n);  // dy: y's buffer
    count(out, sample, "batch_norm_bwd", shape, "ednn", [&] {
      k::batch_norm2d_backward(y.data(), x.data(), gamma.data(), mean.data(), invstd.data(), dx.data(), dgamma.data(),
                               dbeta.data(), N, C, HW, ws.data(), nullptr);
    });
  }
  {
    const long n = long(N) * L * L;
    const std::string loss = "exp-mae:w=1";  // bench_ops' default
    simt::DeviceBuffer<float> prediction = device_values(n), target = device_values(n), grad = device_values(n),
                              value = device_values(1), ws = device_values(k::weighted_loss_workspace_size(n));
    count(out, sample, "weighted_loss", prefix + "1x" + std::to_string(L) + "x" + std::to_string(L) + " (output) " + loss,
          "ednn", [&] {
            k::weighted_loss(prediction.data(), target.data(), grad.data(), n, ednn::loss_params(ednn::parse_loss(loss)),
                             value.data(), ws.data(), nullptr);
          });
  }
  {
    // The 28 parameter tensors (SPEC section 4): 13 convolutions' weights and biases, 1 -> c0 ->
    // ... -> 32 c0 -> ... -> c0 / 2 -> 1, and the BatchNorm's gamma and beta after the first.
    std::vector<long> sizes;
    int channels[] = {1, c0, 2 * c0, 4 * c0, 8 * c0, 16 * c0, 32 * c0, 16 * c0, 8 * c0, 4 * c0, 2 * c0, c0, c0 / 2, 1};
    for (int i = 0; i + 1 < 14; ++i) {
      sizes.push_back(9L * channels[i] * channels[i + 1]), sizes.push_back(channels[i + 1]);
      if (i == 0) sizes.push_back(c0), sizes.push_back(c0);
    }
    long total = 0;
    for (long t : sizes) total += t;
    simt::DeviceBuffer<float> p = device_values(total), g = device_values(total), m = device_values(total),
                              v = device_values(total);
    std::vector<k::AdamTensor> tensors;
    for (long at = 0; long t : sizes) tensors.push_back({p.data() + at, g.data() + at, m.data() + at, v.data() + at, t}), at += t;
    const simt::DeviceBuffer<k::AdamDeviceState> state(
        std::vector<k::AdamDeviceState>{k::adam_device_state(1e-3, 0.9, 0.999, 1e-8, 0.0, 1)});
    std::string values = std::to_string(total);  // with thousands separators, as bench_ops prints them
    for (int i = int(values.size()) - 3; i > 0; i -= 3) values.insert(std::size_t(i), ",");
    const std::string shape = preset + " " + std::to_string(sizes.size()) + " tensors, " + values + " values";
    count(out, sample, "adam", shape, "ednn multi-tensor (1 launch)", [&] { k::adam_step(tensors, state.data(), nullptr); });
    count(out, sample, "adam", shape, "ednn launch per tensor (" + std::to_string(sizes.size()) + ")", [&] {
      for (const k::AdamTensor& t : tensors) k::adam_step({t}, state.data(), nullptr);
    });
  }
}

// Every count of `c` times `factor` (a row of identical blocks counted on fewer of them).
Counts scaled(const Counts& c, double factor) {
  Counts none = c;
  static_cast<simt::counters::Numbers&>(none) = {};
  for (KernelCounts& k : none.kernels) {
    k.numbers = {}, k.footprint_bytes = 0, k.grid = dim3(0, 0, 0);
    for (auto& i : k.instructions) i.requests = i.lanes = i.bytes = i.sectors = i.wavefronts = 0;
  }
  return extrapolate(none, c, factor);
}

// The SOR kernel (solver/sor_kernel.cu) as bench_sor_kernel runs it (L = 512 or 128, batch 256,
// the clamp model, tol 1e-6): a packing launch, the sweep launch, an unpacking launch. The sweep
// launch loops, one block per sample, until the sample converges, which it decides from the
// data; so its blocks must run on complete data, which sampled blocks would not give (the
// packing launch would leave most of each sample unwritten, and the sweep would stop at once).
// The sweep is therefore counted on one sample, every block, and scaled to the batch (every
// block does the same: the batch holds copies of one input); the packing and unpacking launches
// (element-wise, grid-stride, no barrier) are counted at the batch with sampled blocks, as their
// grid is capped and does not scale. The sweeps: counted with the sweeps capped at 2 and 4 (the
// solve then stops with its no-convergence error, after every launch has run) and extrapolated
// to `sweeps` per sample (161 at L = 512: the mean of the H200 run, bench/RESULTS.md; paper
// only); the row "1 sweep" is one sweep's solve.
// Left out: the exact residual pass of the converging sweep (half a sweep's reads, once).
void count_sor(Output& out, bool sample, const std::string& preset) {
  ednn::solver::SolverConfig config;
  config.L = preset == "paper" ? 512 : 128;
  config.tol = 1e-6;
  const int batch = 256, sweeps = 161;
  const std::size_t pixels = std::size_t(config.L) * config.L;
  std::vector<float> inputs(batch * pixels);
  ednn::solver::render_input(config, ednn::solver::sample_sources(config, 1, 0, 1), std::span(inputs).first(pixels));
  for (int b = 1; b < batch; ++b) std::copy_n(inputs.begin(), pixels, inputs.begin() + std::ptrdiff_t(b * pixels));
  simt::DeviceBuffer<float> d_inputs(inputs), d_targets(inputs.size());
  std::vector<ednn::solver::SolveStats> stats(batch);
  const auto solve = [&](int samples, int max_sweeps) {
    config.max_sweeps = max_sweeps;
    try {
      ednn::solver::solve_batch_device(config, samples, d_inputs.data(), d_targets.data(),
                                       std::span(stats).first(std::size_t(samples)));
    } catch (const ednn::Error& e) {  // expected: too few sweeps to converge
      EDNN_CHECK(std::string(e.what()).find("no convergence") != std::string::npos, "bench_counters: sor: ", e.what());
    }
  };
  const std::string shape = preset + " " + std::to_string(batch) + "x" + std::to_string(config.L) + "x" +
                            std::to_string(config.L) + " clamp";
  // one_sample(): the solve's counts on one sample, every block.
  const auto row = [&](const std::string& what, const auto& one_sample) {
    if (!rows.take()) return;
    out.row = rows.seen;
    const auto start = std::chrono::steady_clock::now();
    Counts c = scaled(one_sample(), batch);
    const Counts element_wise = counted(sample, [&] { solve(batch, 1); });
    EDNN_CHECK(element_wise.kernels.size() == c.kernels.size(), "bench_counters: sor: the solves launched different kernels");
    for (std::size_t k = 0; k < c.kernels.size(); ++k)
      if (c.kernels[k].numbers.barriers == 0) c.kernels[k] = element_wise.kernels[k];
    out.write("sor", shape + " (" + what + ")", "ednn", c,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  };
  row("1 sweep", [&] { return counted(false, [&] { solve(1, 1); }); });
  if (preset == "paper")  // the H200's mean is at L = 512
    row(std::to_string(sweeps) + " sweeps, the H200 run's mean", [&] {
      const Counts a = counted(false, [&] { solve(1, 2); });
      const Counts b = counted(false, [&] { solve(1, 4); });
      return extrapolate(a, b, double(sweeps - 2) / double(4 - 2));
    });
}

// The command line. Not apps/cli.h's frame: ednn_cli links the engine and with it the kernels
// compiled for the GPU or the plain emulation, whose launchers would clash with the counted ones.
struct Options {
  std::string preset = "paper", only = "all", layer, csv = "bench_counters.csv";
  int batch = 16, version = -1;
  int jobs = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  int lines = 0;
  bool full = false;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf("bench_counters [--preset paper|small] [--batch 16] [--layer TEXT] [--version V] "
                  "[--only all|conv|ops] [--op forward,backward_data,backward_weight] [--full] [--no-extrapolation]\n"
                  "  [--jobs N] [--lines N] [--csv bench_counters.csv]\n"
                  "Counts, in the CPU emulation, what every kernel does to memory at the network's shapes (the rows "
                  "of bench_conv and bench_ops); CSV for bench/time_model.py. --full: every block, not a sample; --no-extrapolation: the\n"
                  "convolutions at their own channels and batch, not extrapolated from reduced ones (slow); --jobs: processes that\n"
                  "share the rows (default: one per hardware thread); --lines N: under each kernel, its N costliest global and shared\n"
                  "loads and stores by source line (sectors or wavefronts per request, share of the kernel's).\n");
      std::exit(0);
    }
    if (a == "--full") {
      o.full = true;
      continue;
    }
    if (a == "--no-extrapolation") {
      extrapolation = false;
      continue;
    }
    EDNN_CHECK(i + 1 < argc, "bench_counters: ", a, " needs a value (see --help)");
    const std::string v = argv[++i];
    const auto number = [&](int lo, int hi) {
      int n = 0;
      try {
        n = std::stoi(v);
      } catch (const std::exception&) {
        ednn::fail("bench_counters: ", a, " ", v, ": not a number");
      }
      EDNN_CHECK(n >= lo && n <= hi, "bench_counters: ", a, " ", v, ": must be in ", lo, "..", hi);
      return n;
    };
    if (a == "--preset") o.preset = v;
    else if (a == "--only") o.only = v;
    else if (a == "--layer") o.layer = v;
    else if (a == "--csv") o.csv = v;
    else if (a == "--op") op_filter = v;
    else if (a == "--batch") o.batch = number(1, 4096);
    else if (a == "--version") o.version = number(-1, 7);
    else if (a == "--jobs") o.jobs = number(1, 64);
    else if (a == "--lines") o.lines = number(0, 1000);
    else ednn::fail("bench_counters: unknown option ", a, " (see --help)");
  }
  EDNN_CHECK(o.preset == "paper" || o.preset == "small", "bench_counters: --preset ", o.preset, ": paper or small");
  EDNN_CHECK(o.only == "all" || o.only == "conv" || o.only == "ops", "bench_counters: --only ", o.only,
             ": all, conv or ops");
  return o;
}

// Every row of the options, in the order the processes share (Rows).
void count_all(Output& out, const Options& opt, const std::vector<ednn::bench::ConvLayer>& layers) {
  const bool sample = !opt.full;
  for (const auto& layer : layers) count_conv(out, sample, layer, opt.version);
  if (opt.only != "conv") {
    count_ops(out, sample, opt.preset, opt.batch);
    count_training_ops(out, sample, opt.preset, opt.batch);
    count_sor(out, sample, opt.preset);
  }
}

// --jobs N > 1: N processes share the rows; each writes its rows, prefixed by their place, to
// its own file, which are merged here in row order into `csv` (already holding the header).
void count_in_processes(std::ofstream& csv, const std::string& partial, const Options& opt,
                        const std::vector<ednn::bench::ConvLayer>& layers) {
  void* shared = mmap(nullptr, sizeof(std::atomic<long>), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  EDNN_CHECK(shared != MAP_FAILED, "bench_counters: cannot map memory shared by the --jobs processes");
  rows.next_free = new (shared) std::atomic<long>(0);
  std::fflush(stdout);
  std::vector<pid_t> children;
  std::vector<std::string> files;
  for (int job = 0; job < opt.jobs; ++job) {
    files.push_back(partial + ".job" + std::to_string(job));
    const pid_t pid = fork();
    EDNN_CHECK(pid >= 0, "bench_counters: fork failed for --jobs ", opt.jobs);
    if (pid == 0) {
      int status = 0;
      try {
        Output out;
        out.lines = opt.lines;
        out.row_prefix = true;
        out.csv.open(files.back());
        EDNN_CHECK(out.csv.good(), "cannot write ", files.back());
        count_all(out, opt, layers);
        out.csv.close();
        status = out.csv.good() ? 0 : 1;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_counters: error (process %d of --jobs): %s\n", job + 1, e.what());
        status = 1;
      }
      std::fflush(stdout);
      _exit(status);
    }
    children.push_back(pid);
  }
  bool failed = false;
  for (pid_t pid : children) {
    int status = 0;
    failed |= waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  }
  std::vector<std::pair<long, std::string>> lines;  // (row, CSV line), a row's lines in their order
  for (const std::string& file : files) {
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
      const std::size_t tab = line.find('\t');
      EDNN_CHECK(tab != std::string::npos, "bench_counters: ", file, ": a line without its row");
      lines.emplace_back(std::stol(line.substr(0, tab)), line.substr(tab + 1));
    }
    std::remove(file.c_str());
  }
  munmap(shared, sizeof(std::atomic<long>));
  EDNN_CHECK(!failed, "bench_counters: a process of --jobs failed (its error is above); nothing written");
  std::stable_sort(lines.begin(), lines.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [row, line] : lines) csv << line << "\n";
}

int run(int argc, char** argv) {
  const Options opt = parse(argc, argv);
  std::vector<ednn::bench::ConvLayer> layers;
  if (opt.only != "ops") {
    layers = opt.preset == "paper" ? ednn::bench::network_layers("paper", 512, 64, opt.batch)
                                   : ednn::bench::network_layers("small", 128, 8, opt.batch);
    std::erase_if(layers, [&](const auto& l) { return l.name.find(opt.layer) == std::string::npos; });
    EDNN_CHECK(!layers.empty(), "--layer ", opt.layer, ": no layer of preset ", opt.preset, " has that in its name");
  }
  // Written to a temporary and renamed: an earlier CSV is replaced only by a complete one.
  const std::string partial = opt.csv + ".partial";
  Output out;
  out.lines = opt.lines;
  out.csv.open(partial);
  EDNN_CHECK(out.csv.good(), "bench_counters: --csv ", opt.csv, ": cannot write ", partial);
  out.csv << "# bench_counters, git " << EDNN_GIT_COMMIT << ", preset " << opt.preset << ", batch " << opt.batch
          << (opt.full ? ", every block" : ", sampled blocks") << "\n"
          << Output::header << "\n";
  const auto start = std::chrono::steady_clock::now();
  try {
    if (opt.jobs == 1) count_all(out, opt, layers);
    else count_in_processes(out.csv, partial, opt, layers);
    out.csv.close();
    EDNN_CHECK(out.csv.good(), "bench_counters: cannot write ", partial);
    EDNN_CHECK(std::rename(partial.c_str(), opt.csv.c_str()) == 0, "bench_counters: cannot rename ", partial, " to ",
               opt.csv);
  } catch (...) {
    std::remove(partial.c_str());
    throw;
  }
  std::printf("written to %s in %.1f s (%d process%s)\n", opt.csv.c_str(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), opt.jobs,
              opt.jobs == 1 ? "" : "es");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::string what = e.what();  // one "bench_counters: " prefix, not two
    if (what.rfind("bench_counters: ", 0) == 0) what.erase(0, 16);
    std::fprintf(stderr, "bench_counters: error: %s\n", what.c_str());
    return 1;
  }
}
