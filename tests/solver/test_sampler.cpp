// The source sampler of SPEC section 2: geometry, values, counts and reproducibility.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "solver/solver.h"

using namespace ednn::solver;

TEST_CASE("solver_sampler: disks of radius R inside the lattice, one value 1, others in (0, 1]") {
  SolverConfig c;
  c.L = 64;
  const int L = c.L, R = c.radius;
  int min_centre = L, max_centre = -1;
  double value_sum = 0;
  int value_count = 0;
  for (std::uint64_t index = 0; index < 2000; ++index) {
    const int n = 1 + static_cast<int>(index % 20);
    const std::vector<Source> sources = sample_sources(c, 2024, index, n);
    REQUIRE(static_cast<int>(sources.size()) == n);
    CHECK(sources[0].value == 1.0f);
    for (const Source& s : sources) {
      CHECK(s.x == std::floor(s.x));
      CHECK(s.y == std::floor(s.y));
      CHECK(s.x >= R);
      CHECK(s.x <= L - 1 - R);
      CHECK(s.y >= R);
      CHECK(s.y <= L - 1 - R);
      CHECK(s.value > 0.0f);
      CHECK(s.value <= 1.0f);
      min_centre = std::min({min_centre, int(s.x), int(s.y)});
      max_centre = std::max({max_centre, int(s.x), int(s.y)});
    }
    for (size_t s = 1; s < sources.size(); ++s) {
      value_sum += sources[s].value;
      ++value_count;
    }
  }
  CHECK(min_centre == R);          // the whole centre range is reached
  CHECK(max_centre == L - 1 - R);
  CHECK(value_sum / value_count == doctest::Approx(0.5).epsilon(0.02));
}

TEST_CASE("solver_sampler: the input image is the normalised sum of 81-pixel disks") {
  SolverConfig c;
  c.L = 48;
  std::vector<float> x(48 * 48);
  render_input(c, std::vector<Source>{{20, 30, 1.0f}}, x);
  CHECK(std::count_if(x.begin(), x.end(), [](float v) { return v > 0; }) == 81);
  CHECK(x[30 * 48 + 25] == 1.0f);  // (dx, dy) = (5, 0): on the boundary, included
  CHECK(x[34 * 48 + 24] == 0.0f);  // dx^2 + dy^2 = 32 > 25
  CHECK(x[33 * 48 + 24] == 1.0f);  // 16 + 9 = 25
  // Overlaps add, then the image is divided by its maximum.
  render_input(c, std::vector<Source>{{20, 20, 1.0f}, {22, 20, 0.5f}}, x);
  CHECK(*std::max_element(x.begin(), x.end()) == 1.0f);
  CHECK(x[20 * 48 + 21] == 1.0f);
  CHECK(x[20 * 48 + 16] == doctest::Approx(1.0 / 1.5));
  CHECK(x[20 * 48 + 27] == doctest::Approx(0.5 / 1.5));
  for (std::uint64_t index = 0; index < 200; ++index) {
    render_input(c, sample_sources(c, 3, index, 1 + int(index % 20)), x);
    CHECK(*std::max_element(x.begin(), x.end()) == 1.0f);
  }
  CHECK_THROWS_AS(render_input(c, std::vector<Source>{{2, 20, 1.0f}}, x), ednn::Error);
}

TEST_CASE("solver_sampler: the number of sources is uniform over min .. max") {
  SolverConfig c;
  c.L = 64;
  c.min_sources = 3;
  c.max_sources = 12;
  std::vector<int> counts(13, 0);
  const int draws = 20000;
  for (int index = 0; index < draws; ++index) ++counts[sample_source_count(c, 8, index)];
  CHECK(counts[0] + counts[1] + counts[2] == 0);
  const double expected = draws / 10.0, sigma = std::sqrt(expected * 0.9);
  for (int n = 3; n <= 12; ++n) {
    CAPTURE(n);
    CHECK(std::abs(counts[n] - expected) < 5 * sigma);
  }
}

TEST_CASE("solver_sampler: a sample is a pure function of (seed, index, n)") {
  SolverConfig c;
  c.L = 128;
  auto same = [](const std::vector<Source>& a, const std::vector<Source>& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](const Source& p, const Source& q) {
             return p.x == q.x && p.y == q.y && p.value == q.value;
           });
  };
  const std::vector<Source> first = sample_sources(c, 42, 1000, 7);
  sample_sources(c, 42, 5, 20);  // drawing other samples in between changes nothing
  CHECK(same(first, sample_sources(c, 42, 1000, 7)));
  CHECK(!same(first, sample_sources(c, 43, 1000, 7)));
  CHECK(!same(first, sample_sources(c, 42, 1001, 7)));
  // Fewer sources give a prefix of the same stream.
  const std::vector<Source> three = sample_sources(c, 42, 1000, 3);
  CHECK(same(three, std::vector<Source>(first.begin(), first.begin() + 3)));
}

namespace {
// A sample as its sources, for equality: centres and values, bit for bit.
std::string sample_key(const std::vector<Source>& sources) {
  std::string key;
  for (const Source& s : sources) key += std::to_string(s.x) + "," + std::to_string(s.y) + "," + std::to_string(s.value) + ";";
  return key;
}
}  // namespace

TEST_CASE("solver_sampler: online streams share no sample with any data file's, for seeds 0-20") {
  // What train --online draws for --seed s (training stream 2s+1, test stream 2s+2, online domain)
  // against what datagen --seed d writes (sample j with the ordering's n = 1 + j % 20), for
  // s, d in 0..20 and the first 1000 samples of each. Samples with one source are left out: a
  // single disk at one of the 118^2 centres of L = 128 recurs by chance, whatever the streams.
  SolverConfig c;
  c.L = 128;
  constexpr int kSeeds = 21, kSamples = 1000;
  std::set<std::string> in_files;
  for (std::uint64_t d = 0; d < kSeeds; ++d)
    for (std::uint64_t j = 0; j < kSamples; ++j)
      if (const int n = 1 + int(j % 20); n >= 2) in_files.insert(sample_key(sample_sources(c, d, j, n)));
  REQUIRE(in_files.size() == std::size_t(kSeeds) * (kSamples - kSamples / 20));  // no chance repeats among them

  int online_samples = 0, shared = 0, shared_in_data_domain = 0;
  for (std::uint64_t s = 0; s < kSeeds; ++s)
    for (const std::uint64_t seed : {2 * s + 1, 2 * s + 2}) {
      const SampleStream online(seed, SampleDomain::online), same_seed_as_data(seed);
      for (std::uint64_t i = 0; i < kSamples; ++i) {
        const int n = sample_source_count(c, online, i);
        if (n < 2) continue;
        ++online_samples;
        shared += int(in_files.count(sample_key(sample_sources(c, online, i, n))));
        // The same seeds in the data domain (what train --online drew before the domains were
        // separated) do repeat file samples: the check can see a shared stream.
        shared_in_data_domain += int(in_files.count(sample_key(sample_sources(c, same_seed_as_data, i, 1 + int(i % 20)))));
      }
    }
  CHECK(online_samples > 35000);
  CHECK(shared == 0);
  CHECK(shared_in_data_domain > 10000);
}
