// The data set files that datagen writes and the trainer reads (HDF5, readable with h5py).
//
// Layout (N samples, L x L lattice, M = max_sources):
//   inputs     float32 [N, 1, L, L]  source image x, max 1    chunk [1, 1, L, L], optional deflate
//   targets    float32 [N, 1, L, L]  steady state y           chunk [1, 1, L, L], optional deflate
//   n_sources  int32   [N]           number of sources
//   sources    float32 [N, M, 3]     (x = column, y = row, value); rows >= n_sources are zero
//   split      uint8   [N]           0 train, 1 test, 2 validation
//   sweeps     int32   [N]           SOR sweeps the sample took
//   residual   float64 [N]           max|r| / ((4D + gamma) max u) of the stored field
// Every data set carries its dimension labels (H5DS: h5py's ds.dims[i].label, e.g. sample, channel,
// y, x) and a `description`; `split` its `codes` ("0: train, 1: test, 2: validation"), `sources` its `fields`
// ("x, y, value").
// Group `provenance`: text attributes naming the version, git commit, command line, date, device
// and numerics of the run that finished the file (DatasetWriter::write_provenance).
// File attributes: L, D, gamma, radius, model, tolerance, omega, max_sweeps, seed,
// engine_version, per_n, min_sources, max_sources, test_fraction, train_per_n, test_per_n,
// validation_fraction, validation_per_n (files without them have no validation split), compressed, format_version, ordering (this rule in words), device ("cpu": the double CPU
// solver, "cuda": the float CUDA kernel of solver/sor_cuda.h; the two agree to about the
// tolerance, not bitwise, so a file holds one device's samples only; files without the attribute
// predate it and were solved on the CPU) and completed (samples written; N in a finished file).
//
// Ordering. With K = max_sources - min_sources + 1 source counts, sample i has
//     n_sources = min_sources + i % K,   rank = i / K   (its position among the samples with n),
// split = train for rank < train_per_n, test for the next test_per_n ranks and validation for the
// last validation_per_n, and it is sample i of the random stream `seed`
// (solver::sample_sources(config, seed, i, n)). So the file holds, in order, rank 0 of every n,
// rank 1 of every n, ...: every train sample precedes every test sample, and
// "the first k train samples of each n" is the file prefix [0, k K). The nested training subsets
// of SPEC section 2 (1.25% .. 100% of the train split, equal per n) are therefore prefixes:
//     train_indices(info, 0.0125) = 0 .. k K - 1 with k = round(0.0125 * train_per_n),
// the test set is [train_per_n K, (train_per_n + test_per_n) K) and the validation set the rest.
// Validation comes last so that a file made with more samples per n and a validation fraction
// holds the same train and test samples as one without (the same indices, the same stream): e.g.
// per_n 120, test and validation fractions 1/6 each extend per_n 100, test fraction 0.2 by 20
// validation samples per n and change nothing else. For a single n (the "trained on n = P" runs), take
// train_indices(info, fraction, P): the indices rank * K + (P - min_sources), rank < k.
//
// Writing is resumable: datagen writes FILE.partial, records `completed` and flushes after every
// batch, and renames it to FILE when all N samples are in (see solver/datagen.h).
//
// HDF5 is not thread-safe in Debian's build: use a DatasetReader or DatasetWriter from one thread.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "solver/solver.h"

namespace ednn::dataset {

// A file that opens as HDF5 and has every attribute and data set, but contradicts its own
// description: attributes out of range or inconsistent with each other, a data set whose type,
// rank or shape is not the one the attributes imply, or n_sources and split values that break the
// ordering. Readers and writers throw it before touching a sample (a hand-edited or converted
// file must never be read or written past its buffers). datagen refuses such a .partial rather
// than restarting it, since it is not an interrupted write.
class InconsistentFile : public Error {
public:
  using Error::Error;
};

// Everything a data set file records about how it was made.
struct DatasetInfo {
  solver::SolverConfig solver;   // L, D, gamma, radius, model, tol, omega (the value used), ...
  std::uint64_t seed = 0;
  int per_n = 0;                 // samples per number of sources
  double test_fraction = 0.2;
  double validation_fraction = 0;
  int train_per_n = 0;           // per_n - test_per_n - validation_per_n
  int test_per_n = 0;            // round(per_n * test_fraction)
  int validation_per_n = 0;      // round(per_n * validation_fraction); 0: no validation split
  bool compressed = false;
  std::string engine_version;
  std::string device = "cpu";    // what solved the targets: "cpu" or "cuda"
  std::int64_t completed = 0;    // samples written so far

  int source_counts() const { return solver.max_sources - solver.min_sources + 1; }  // K
  std::int64_t size() const { return static_cast<std::int64_t>(per_n) * source_counts(); }  // N
  bool finished() const { return completed == size(); }
};

// Fills train_per_n, test_per_n and validation_per_n from per_n and the fractions, checks the
// ranges and sets omega to the value the solver will use. device: "cpu" or "cuda".
DatasetInfo make_dataset_info(const solver::SolverConfig& config, std::uint64_t seed, int per_n,
                              double test_fraction, bool compressed, const std::string& device = "cpu",
                              double validation_fraction = 0);

// "" when a and b describe the same data (everything but `completed`, the device last), otherwise
// the first difference, e.g. "seed: file has 1, requested 2".
std::string parameter_difference(const DatasetInfo& file, const DatasetInfo& requested);

// The codes of the `split` column.
enum class Split : std::uint8_t { train = 0, test = 1, validation = 2 };
const char* split_name(Split split);  // "train", "test", "validation"

// Where sample i sits in the ordering described above.
struct SampleSlot {
  int n_sources = 0;
  int rank = 0;      // among the samples with this n
  Split split = Split::train;
};
SampleSlot slot_of(const DatasetInfo& info, std::int64_t index);
std::int64_t index_of(const DatasetInfo& info, int n_sources, int rank);

// The first round(fraction * train_per_n) train samples of each n, in file order (a prefix of the
// file); with n_sources > 0 only those of that n. fraction in (0, 1].
// subset > 0 takes the subset-th disjoint block of the same size instead: ranks [subset k, (subset + 1) k)
// with k = round(fraction * train_per_n) (the paper's "sets A, B, C" of equal size and no overlap,
// Figs. 6 and 9); it must fit in the train split.
std::vector<std::int64_t> train_indices(const DatasetInfo& info, double fraction, int n_sources = 0, int subset = 0);
// All test samples (of one n when n_sources > 0), in file order.
std::vector<std::int64_t> test_indices(const DatasetInfo& info, int n_sources = 0);
// All validation samples (of one n when n_sources > 0), in file order; empty without a validation split.
std::vector<std::int64_t> validation_indices(const DatasetInfo& info, int n_sources = 0);

// Whether `path` is an HDF5 file that says it is a datagen data set (has `format_version`), so
// that a program reading it as plain inputs first checks it through DatasetReader.
bool is_datagen_file(const std::string& path);

// Read access to a finished data set (or, with allow_unfinished, to the first `completed`
// samples of a partial one). Opening checks the file against its own description (see
// InconsistentFile): every data set's type, rank and shape against the attributes, and the
// n_sources and split columns against the ordering.
class DatasetReader {
public:
  explicit DatasetReader(const std::string& path, bool allow_unfinished = false);
  ~DatasetReader();
  DatasetReader(DatasetReader&&) noexcept;
  DatasetReader& operator=(DatasetReader&&) noexcept;

  const DatasetInfo& info() const;
  const std::string& path() const;
  std::int64_t size() const { return info().size(); }
  int L() const { return info().solver.L; }

  void read_input(std::int64_t index, std::span<float> image) const;   // [L, L]
  void read_target(std::int64_t index, std::span<float> image) const;  // [L, L]
  int n_sources(std::int64_t index) const;
  std::uint8_t split(std::int64_t index) const;                         // a Split code
  std::vector<solver::Source> sources(std::int64_t index) const;        // n_sources rows
  solver::SolveStats stats(std::int64_t index) const;
  // Per-sample SOR statistics of samples [0, count).
  std::vector<solver::SolveStats> read_stats(std::int64_t count) const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Write access: create a new file with every data set allocated, or reopen one to continue it.
class DatasetWriter {
public:
  static DatasetWriter create(const std::string& path, const DatasetInfo& info);
  static DatasetWriter open(const std::string& path);
  ~DatasetWriter();
  DatasetWriter(DatasetWriter&&) noexcept;
  DatasetWriter& operator=(DatasetWriter&&) noexcept;

  const DatasetInfo& info() const;
  // Writes batch sample b at file index first + b (inputs, targets, sources, sweeps, residual).
  void write(std::int64_t first, const solver::SampleBatch& batch);
  // Records that samples [0, completed) are written and flushes the file to disk.
  void mark_completed(std::int64_t completed);
  // Per-sample SOR statistics of samples [0, count), for summaries.
  std::vector<solver::SolveStats> read_stats(std::int64_t count) const;
  // Records where the file came from as text attributes of a group `provenance` (replacing one
  // there): the program's version, commit, command line, date, device, ... (built by apps/).
  // A group of its own, apart from the file's description, because it differs between runs that
  // write the same data (a resumed run, another number of ranks): comparisons of two files leave
  // it out.
  void write_provenance(const std::vector<std::pair<std::string, std::string>>& attributes);
  void close();

private:
  DatasetWriter();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ednn::dataset
