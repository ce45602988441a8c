#include "nets/samples.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace ednn::nets {

MemoryStore::MemoryStore(const solver::SampleBatch& b, std::string name)
    : inputs(b.inputs), targets(b.targets), n_sources(b.n_sources.begin(), b.n_sources.end()), L_(b.L),
      name_(std::move(name)) {}

void MemoryStore::read(std::span<const std::int64_t> idx, float* x, float* y, int* n) {
  const std::size_t px = std::size_t(L_) * L_;
  for (std::size_t k = 0; k < idx.size(); ++k) {
    EDNN_CHECK(idx[k] >= 0 && idx[k] < size(), name_, ": sample ", idx[k], " out of range [0, ", size(), ")");
    const std::size_t i = std::size_t(idx[k]);
    std::memcpy(x + k * px, inputs.data() + i * px, px * sizeof(float));
    if (y) std::memcpy(y + k * px, targets.data() + i * px, px * sizeof(float));
    if (n) n[k] = n_sources[i];
  }
}

std::string OnlineStore::name() const {
  return "online solver (seed " + std::to_string(stream_.seed) +
         (stream_.domain == solver::SampleDomain::online ? ", online domain" : "") +
         (solver_ ? ", " + solver_->device() : std::string()) + ")";
}

void OnlineStore::read(std::span<const std::int64_t> idx, float* x, float* y, int* n) {
  std::vector<solver::SampleRequest> req(idx.size());
  for (std::size_t k = 0; k < idx.size(); ++k) {
    req[k].index = std::uint64_t(idx[k]);
    req[k].n_sources = solver::sample_source_count(config_, stream_, req[k].index);
  }
  const solver::SampleBatch b =
      solver_ ? solver::generate_samples(config_, stream_, req, *solver_) : solver::generate_samples(config_, stream_, req);
  std::copy(b.inputs.begin(), b.inputs.end(), x);
  if (y) std::copy(b.targets.begin(), b.targets.end(), y);
  if (n) std::copy(b.n_sources.begin(), b.n_sources.end(), n);
}

MemoryStore generate_memory_store(const solver::SolverConfig& config, solver::SampleStream stream, std::int64_t count,
                                  solver::BatchSolver* solver) {
  OnlineStore online(config, stream, solver);
  MemoryStore store(config.L, "generated (" + online.name() + ", " + std::to_string(count) + " samples)");
  const std::size_t px = std::size_t(config.L) * config.L;
  store.inputs.resize(std::size_t(count) * px);
  store.targets.resize(std::size_t(count) * px);
  store.n_sources.resize(std::size_t(count));
  std::vector<std::int64_t> idx(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) idx[std::size_t(i)] = i;
  online.read(idx, store.inputs.data(), store.targets.data(), store.n_sources.data());
  return store;
}

}  // namespace ednn::nets
