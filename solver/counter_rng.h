// Counter-based random numbers: the k-th number of stream (seed, index, tag) is a pure function
// of those four integers, so a sample never depends on what was drawn before it, on the batching
// or on the thread that makes it.
//
//   key(seed, index, tag) = mix(mix(seed ^ TAG_SALT * tag) + GOLDEN * (index + 1))
//   draw(key, k)          = mix(key + GOLDEN * (k + 1))
// with mix the splitmix64 finaliser (a bijection of 64-bit integers with full avalanche).
// Written with plain integer arithmetic so that a CUDA kernel can include it unchanged.
#pragma once
#include <cstdint>

namespace ednn::solver {

struct CounterRng {
  static constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ull;
  static constexpr std::uint64_t kTagSalt = 0xD1B54A32D192ED03ull;

  static constexpr std::uint64_t mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  constexpr CounterRng(std::uint64_t seed, std::uint64_t index, std::uint64_t tag)
      : key(mix(mix(seed ^ (kTagSalt * tag)) + kGolden * (index + 1))) {}

  // The same stream in another domain d >= 1: key_d = mix(key ^ DOMAIN_SALT * d). Why not a
  // different seed or tag? The key is a bijection of the seed for a fixed index, and shifting the
  // index or xoring the seed or tag would be matched by one other seed for every index at once:
  // a whole stream of domain 0 would equal a whole stream of domain d. Mixing after the index
  // is folded in breaks that: a seed that reproduces sample i of a domain-d stream is a different
  // 64-bit number for every i, so no seed's stream shares more than chance (2^-64 per pair) with it.
  static constexpr std::uint64_t kDomainSalt = 0x8CB92BA72F3D8DD7ull;
  constexpr CounterRng(std::uint64_t seed, std::uint64_t index, std::uint64_t tag, std::uint64_t domain)
      : CounterRng(seed, index, tag) {
    if (domain != 0) key = mix(key ^ (kDomainSalt * domain));
  }

  // The next 64 random bits of the stream.
  constexpr std::uint64_t next_bits() { return mix(key + kGolden * (++counter)); }

  // Uniform integer in [0, range), range >= 1 (multiply-shift; bias below 2^-40 for our ranges).
  constexpr std::uint64_t uniform_below(std::uint64_t range) {
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next_bits()) * range) >> 64);
  }

  // Uniform double in (0, 1]: one of the 2^53 values k * 2^-53, k = 1 .. 2^53.
  constexpr double uniform_open_closed() {
    return static_cast<double>((next_bits() >> 11) + 1) * 0x1.0p-53;
  }

  std::uint64_t key;
  std::uint64_t counter = 0;
};

}  // namespace ednn::solver
