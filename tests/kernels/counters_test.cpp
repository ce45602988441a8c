// Known-answer tests of the emulation's memory counters (kernels/simt_counters.h): small kernels
// (counters_kernels.cu, compiled for counting) whose requests, sectors and wavefronts follow from
// the hardware's rules, computed here from the shapes, not taken from the counters' output:
//   global: a request's sectors are the distinct 32-byte pieces of memory its active lanes touch
//     (buffers are 256-byte aligned, as cudaMalloc's);
//   shared: 32 banks of 4 bytes (bank = word % 32); per phase (32 lanes for 4-byte accesses, 16
//     for 8-byte, 8 for 16-byte) the wavefronts are the largest number of distinct words one bank
//     serves.
// Each runs under the three schedules: the grouping of lanes into requests must not depend on the
// order the emulation runs them in.
#include <doctest/doctest.h>

#include <set>
#include <vector>

#include "kernels/simt_counters.h"
#include "kernels/simt_host.h"
#include "tests/kernels/counters_kernels.h"
#include "tests/kernels/test_util.h"

namespace {

using ednn::test::for_each_schedule;
using simt::counters::Counts;

constexpr int warp = 32;
constexpr int sector = 32;  // bytes

// The wavefronts of one 4-byte shared request in which lane t reads word words[t]: the rule.
int wavefronts_of_words(const std::vector<int>& words) {
  std::vector<std::set<int>> bank(32);
  for (int w : words) bank[w % 32].insert(w);
  std::size_t worst = 0;
  for (const auto& b : bank) worst = std::max(worst, b.size());
  return static_cast<int>(worst);
}

void check_no_shared(const Counts& c) {
  CHECK(c.shared_load.requests == 0);
  CHECK(c.shared_store.requests == 0);
  CHECK(c.barriers == 0);
}

}  // namespace

TEST_CASE("counters: a coalesced float copy takes 4 sectors per request of 32 lanes") {
  const int n = 1024, block = 128;
  simt::DeviceBuffer<float> in(std::vector<float>(n, 1.0f)), out(n);
  for_each_schedule([&](simt::Schedule) {
    simt::counters::begin();
    counters_test::copy_floats(in.data(), out.data(), n, block);
    const Counts c = simt::counters::end();
    const int warps = n / warp;                        // 32 requests each way
    const int sectors_per_request = warp * 4 / sector;  // 128 contiguous bytes: 4
    CHECK(sectors_per_request == 4);
    for (const auto* g : {&c.global_load, &c.global_store}) {
      CHECK(g->requests == warps);
      CHECK(g->lanes == n);
      CHECK(g->bytes == 4 * n);
      CHECK(g->sectors == warps * sectors_per_request);
    }
    CHECK(c.unique_sectors == 2 * (4 * n / sector));  // each buffer read or written once: 256
    CHECK(c.blocks == n / block);
    check_no_shared(c);
  });
}

TEST_CASE("counters: a stride-32 float gather takes 32 sectors per request, at its load instruction") {
  const int n = 1024;
  simt::DeviceBuffer<float> in(std::vector<float>(32 * n, 1.0f)), out(n);
  for_each_schedule([&](simt::Schedule) {
    simt::counters::begin();
    counters_test::gather_stride_32(in.data(), out.data(), n);
    const Counts c = simt::counters::end();
    // Lane addresses 128 bytes apart: every lane in a sector of its own.
    CHECK(c.global_load.requests == n / warp);
    CHECK(c.global_load.sectors == n);  // 32 per request
    CHECK(c.global_load.sectors_per_request() == 32.0);
    CHECK(c.global_load.bytes == 4 * n);
    CHECK(c.global_store.sectors == (n / warp) * 4);  // the store stays coalesced
    CHECK(c.unique_sectors == n + 4 * n / sector);    // 1024 read, 128 written
    check_no_shared(c);
    // Per instruction (bench_counters --lines): the kernel's one load (in[32 i]) and one store
    // (out[i]), each with its own sectors.
    REQUIRE(c.kernels.size() == 1);
    const auto& instructions = c.kernels[0].instructions;
    REQUIRE(instructions.size() == 2);
    for (const auto& i : instructions) {
      CAPTURE(i.store);
      CHECK(!i.shared);
      CHECK(i.instruction != nullptr);
      CHECK(i.requests == n / warp);
      CHECK(i.lanes == n);
      CHECK(i.bytes == 4 * n);
      CHECK(i.wavefronts == 0);
      CHECK(i.sectors == (i.store ? (n / warp) * 4 : n));  // 4 per request stored, 32 loaded
    }
    CHECK(instructions[0].store != instructions[1].store);
    CHECK(instructions[0].instruction != instructions[1].instruction);
  });
}

TEST_CASE("counters: float4 loads take 16 sectors per request of 32 lanes, 4 per 8 lanes") {
  const int n = 256;  // float4s
  simt::DeviceBuffer<float> in(std::vector<float>(4 * n, 1.0f)), out(4 * n);
  for_each_schedule([&](simt::Schedule) {
    simt::counters::begin();
    counters_test::copy_float4s(in.data(), out.data(), n);
    const Counts c = simt::counters::end();
    const int sectors_per_request = warp * 16 / sector;  // 512 contiguous bytes: 16
    const int sectors_per_8_lanes = 8 * 16 / sector;     // 4
    CHECK(sectors_per_request == 4 * sectors_per_8_lanes);
    for (const auto* g : {&c.global_load, &c.global_store}) {
      CHECK(g->requests == n / warp);  // one 16-byte instruction per lane, not four
      CHECK(g->lanes == n);
      CHECK(g->bytes == 16 * n);
      CHECK(g->sectors == (n / warp) * sectors_per_request);
    }
    check_no_shared(c);
  });
}

TEST_CASE("counters: the lanes of partial warps") {
  simt::DeviceBuffer<float> in(std::vector<float>(64, 1.0f)), out(64);
  for_each_schedule([&](simt::Schedule) {
    SUBCASE("a block of 48 threads: warps of 32 and 16 lanes") {
      simt::counters::begin();
      counters_test::copy_floats(in.data(), out.data(), 48, 48);
      const Counts c = simt::counters::end();
      CHECK(c.global_load.requests == 2);
      CHECK(c.global_load.lanes == 48);
      CHECK(c.global_load.lanes_per_request() == 24.0);
      CHECK(c.global_load.sectors == 32 * 4 / sector + 16 * 4 / sector);  // 4 + 2
      CHECK(c.global_load.bytes == 48 * 4);
    }
    SUBCASE("n = 40 in a block of 64: the second warp has 8 lanes active, the rest return") {
      simt::counters::begin();
      counters_test::copy_floats(in.data(), out.data(), 40, 64);
      const Counts c = simt::counters::end();
      CHECK(c.global_load.requests == 2);
      CHECK(c.global_load.lanes == 40);
      CHECK(c.global_load.sectors == 32 * 4 / sector + 8 * 4 / sector);  // 4 + 1
      CHECK(c.global_store.lanes == 40);
    }
  });
}

TEST_CASE("counters: a shared column read, stride 32 (32-way conflict) and padded stride 33 (none)") {
  simt::DeviceBuffer<float> in(std::vector<float>(32 * 32, 1.0f)), out(32);
  const int column = 5;
  for (int stride : {32, 33}) {
    CAPTURE(stride);
    // The row writes: lane t writes word j stride + t; the column read: word t stride + column.
    std::vector<int> read_words(32);
    for (int t = 0; t < 32; ++t) read_words[t] = t * stride + column;
    int write_wavefronts = 0;
    for (int j = 0; j < 32; ++j) {
      std::vector<int> words(32);
      for (int t = 0; t < 32; ++t) words[t] = j * stride + t;
      write_wavefronts += wavefronts_of_words(words);
    }
    const int read_wavefronts = wavefronts_of_words(read_words);
    CHECK(read_wavefronts == (stride == 32 ? 32 : 1));
    CHECK(write_wavefronts == 32);
    for_each_schedule([&](simt::Schedule) {
      simt::counters::begin();
      counters_test::shared_column(in.data(), out.data(), stride, column);
      const Counts c = simt::counters::end();
      CHECK(c.shared_store.requests == 32);
      CHECK(c.shared_store.lanes == 32 * 32);
      CHECK(c.shared_store.wavefronts == static_cast<unsigned>(write_wavefronts));
      CHECK(c.shared_load.requests == 1);
      CHECK(c.shared_load.lanes == 32);
      CHECK(c.shared_load.bytes == 32 * 4);
      CHECK(c.shared_load.wavefronts == static_cast<unsigned>(read_wavefronts));
      CHECK(c.barriers == 1);
      CHECK(c.global_load.requests == 32);   // the rows from `in`
      CHECK(c.global_store.requests == 1);   // out
    });
  }
}

TEST_CASE("counters: a shared broadcast costs one wavefront") {
  simt::DeviceBuffer<float> in(std::vector<float>(32, 1.0f)), out(32);
  const int word = 7;
  CHECK(wavefronts_of_words(std::vector<int>(32, word)) == 1);
  for_each_schedule([&](simt::Schedule) {
    simt::counters::begin();
    counters_test::shared_broadcast(in.data(), out.data(), word);  // static __shared__
    const Counts c = simt::counters::end();
    CHECK(c.shared_store.requests == 1);
    CHECK(c.shared_store.wavefronts == 1);
    CHECK(c.shared_load.requests == 1);
    CHECK(c.shared_load.lanes == 32);
    CHECK(c.shared_load.wavefronts == 1);
    CHECK(c.barriers == 1);
  });
}

TEST_CASE("counters: 8- and 16-byte shared accesses run in phases of 16 and 8 lanes") {
  simt::DeviceBuffer<float> in(std::vector<float>(128, 1.0f)), out(32);
  for (int bytes : {8, 16}) {
    CAPTURE(bytes);
    // Lane t touches words bytes/4 t .. bytes/4 (t + 1) - 1; a phase of 128 / bytes lanes covers
    // 128 consecutive bytes, one word per bank: one wavefront per phase.
    const int lanes_per_phase = 128 / bytes;
    const int phases = warp / lanes_per_phase;  // 2 or 4
    for_each_schedule([&](simt::Schedule) {
      simt::counters::begin();
      counters_test::shared_wide(in.data(), out.data(), bytes);
      const Counts c = simt::counters::end();
      for (const auto* s : {&c.shared_load, &c.shared_store}) {
        CHECK(s->requests == 1);
        CHECK(s->bytes == static_cast<unsigned>(32 * bytes));
        CHECK(s->wavefronts == static_cast<unsigned>(phases));
      }
      CHECK(c.global_load.sectors == static_cast<unsigned>(32 * bytes / sector));
    });
  }
}

TEST_CASE("counters: cp.async (simt::copy_async_16) is a global load and a shared store of 16 bytes per lane") {
  simt::DeviceBuffer<float> in(std::vector<float>(128, 1.0f)), out(128);
  for_each_schedule([&](simt::Schedule) {
    simt::counters::begin();
    counters_test::copy_async_float4s(in.data(), out.data());
    const Counts c = simt::counters::end();
    CHECK(c.copy_async_bytes == 32 * 16);
    // The copy's load and the output's store: 512 contiguous bytes each, 16 sectors.
    CHECK(c.global_load.requests == 1);
    CHECK(c.global_load.sectors == 32 * 16 / sector);
    CHECK(c.global_store.sectors == 32 * 16 / sector);
    // The copy's shared store and the shared read: 4 phases of 8 lanes, each 128 bytes, 1 wavefront.
    for (const auto* s : {&c.shared_store, &c.shared_load}) {
      CHECK(s->requests == 1);
      CHECK(s->bytes == 32 * 16);
      CHECK(s->wavefronts == 4);
    }
    CHECK(c.barriers == 1);
  });
}

TEST_CASE("counters: each kernel's numbers, by launch site") {
  simt::DeviceBuffer<float> in(std::vector<float>(32 * 32, 1.0f)), out(64);
  simt::counters::begin();
  counters_test::copy_floats(in.data(), out.data(), 64, 64);   // 2 warps, 4 sectors each way
  counters_test::gather_stride_32(in.data(), out.data(), 32);  // 1 warp, 32 sectors
  counters_test::copy_floats(in.data(), out.data(), 64, 64);   // the first kernel again
  const Counts c = simt::counters::end();
  REQUIRE(c.kernels.size() == 2);
  CHECK(c.kernels[0].launches == 2);
  CHECK(c.kernels[1].launches == 1);
  CHECK(c.kernels[0].numbers.global_load.requests == 2 * 2);
  CHECK(c.kernels[0].numbers.global_load.sectors == 2 * 2 * 4);
  CHECK(c.kernels[0].numbers.unique_sectors == 2 * (64 * 4 / sector));  // both launches touch the same
  CHECK(c.kernels[1].numbers.global_load.requests == 1);
  CHECK(c.kernels[1].numbers.global_load.sectors == 32);
  CHECK(c.global_load.sectors == 2 * 2 * 4 + 32);
  CHECK(c.blocks == 3);
  CHECK(c.kernels[0].launched_at != c.kernels[1].launched_at);
}

TEST_CASE("counters: nothing is counted outside begin() and end()") {
  simt::DeviceBuffer<float> in(std::vector<float>(64, 1.0f)), out(64);
  simt::counters::begin();
  const Counts before = simt::counters::end();
  counters_test::copy_floats(in.data(), out.data(), 64, 64);
  simt::counters::begin();
  const Counts c = simt::counters::end();
  CHECK(before.global_load.requests == 0);
  CHECK(c.global_load.requests == 0);
  CHECK(c.blocks == 0);
}

TEST_CASE("counters: a sampled launch (first, middle, last block, weighted) counts what the full one does") {
  // 1000 floats in blocks of 128: 8 blocks, the last one partial (104 threads: 3 warps and 8 lanes).
  const int n = 1000, block = 128, blocks = (n + block - 1) / block;
  simt::DeviceBuffer<float> in(std::vector<float>(n, 1.0f)), out(n);
  simt::counters::begin(true);
  counters_test::copy_floats(in.data(), out.data(), n, block);
  const Counts c = simt::counters::end();
  const int warps = (n + warp - 1) / warp;         // 32 requests each way, the last of 8 lanes
  const int sectors = (n / warp) * 4 + 1;          // 31 full warps of 4 sectors, 8 lanes in 1 sector
  CHECK(c.blocks_run == 3);                        // blocks 0, 4 (standing for 1 to 6) and 7
  CHECK(c.blocks == blocks);
  for (const auto* g : {&c.global_load, &c.global_store}) {
    CHECK(g->requests == warps);
    CHECK(g->lanes == n);
    CHECK(g->sectors == sectors);
  }
  REQUIRE(c.kernels.size() == 1);
  CHECK(c.kernels[0].grid.x == blocks);
  CHECK(c.kernels[0].block.x == block);
  CHECK(c.kernels[0].kernel != nullptr);
  CHECK(c.kernels[0].footprint_bytes == 2 * n * sizeof(float));  // the two buffers, each once
}
