// HDF5 access for the programs: the training data through solver/dataset_h5.h (datagen's files),
// a plain reader for inference inputs (any file with an `inputs` data set [N, 1, L, L] float32 and
// optionally `targets`, `n_sources`, `split`), and the predictions file infer writes.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nets/samples.h"
#include "solver/dataset_h5.h"

namespace ednn::io {

// A datagen file as a SampleStore (reads through DatasetReader; checks every image is finite).
class DatagenStore final : public nets::SampleStore {
public:
  explicit DatagenStore(const std::string& path);
  int L() const override { return reader_.L(); }
  std::string name() const override { return reader_.path(); }
  void read(std::span<const std::int64_t> indices, float* inputs, float* targets, int* n) override;
  const dataset::DatasetReader& reader() const { return reader_; }

private:
  dataset::DatasetReader reader_;
};

// Any HDF5 file with `inputs` [N, 1, L, L] float32; `targets` (same shape), `n_sources` int32 [N]
// and `split` uint8 [N] are used when present. Images are read per batch.
class PlainH5Store final : public nets::SampleStore {
public:
  explicit PlainH5Store(const std::string& path);
  ~PlainH5Store() override;
  int L() const override { return L_; }
  std::int64_t size() const { return N_; }
  std::string name() const override { return path_; }
  bool has_targets() const override { return has_targets_; }
  bool has_split() const { return !split_.empty(); }
  std::uint8_t split(std::int64_t i) const { return split_.at(std::size_t(i)); }
  void read(std::span<const std::int64_t> indices, float* inputs, float* targets, int* n) override;

private:
  std::string path_;
  std::int64_t file_ = -1, inputs_ = -1, targets_ = -1;
  int L_ = 0;
  std::int64_t N_ = 0;
  bool has_targets_ = false;
  std::vector<int> n_sources_;
  std::vector<std::uint8_t> split_;
};

// Throws unless every value is finite, naming the file, the data set and the sample.
void check_finite(const float* values, std::int64_t count, const std::string& file, const char* what,
                  std::int64_t sample);

// Writes `predictions` float32 [N, 1, L, L] and `indices` int64 [N] (the sample numbers in the
// source file) batch by batch, so that no more than a batch is ever held: into path.tmp, renamed to
// path by finish(), removed when the writer is destroyed unfinished (an error on the way). Extra
// data sets (infer --certify, --polish) are declared before the first write: per-sample columns
// float64 [N] and images float32 [N, 1, L, L]. Every data set has its dimension labels (sample,
// channel, y, x) and a `description`, as datagen's files.
class PredictionsWriter {
public:
  PredictionsWriter(std::string path, std::int64_t N, int L);
  ~PredictionsWriter();
  PredictionsWriter(const PredictionsWriter&) = delete;
  PredictionsWriter& operator=(const PredictionsWriter&) = delete;
  void add_column(const std::string& name, const std::string& description);  // float64 [N]
  void add_images(const std::string& name, const std::string& description);  // float32 [N, 1, L, L]
  // Samples [first, first + count): count images [L, L] and their indices.
  void write(std::int64_t first, int count, const float* predictions, const std::int64_t* indices);
  // Samples [first, first + count) of an extra data set.
  void write_column(const std::string& name, std::int64_t first, int count, const double* values);
  void write_images(const std::string& name, std::int64_t first, int count, const float* images);
  // Every sample of every data set written: records the checkpoint and `attributes` (text, e.g.
  // io::provenance) as file attributes, closes and renames.
  void finish(const std::string& checkpoint, const std::vector<std::pair<std::string, std::string>>& attributes = {});

private:
  struct DataSet {
    std::string name;
    std::int64_t id = -1;
    int rank = 1;
    std::int64_t written = 0;
  };
  DataSet& create(const std::string& name, int rank, bool images, const std::string& description);
  DataSet& find(const std::string& name);
  void write_rows(DataSet& d, std::int64_t first, int count, std::int64_t memtype, const void* data);
  void abandon();
  std::string path_;
  std::int64_t N_ = 0;
  int L_ = 0;
  std::int64_t file_ = -1;
  std::vector<DataSet> datasets_;  // predictions, indices, then the extras
};

// The whole of `predictions` at once, through PredictionsWriter.
void write_predictions(const std::string& path, const std::vector<float>& predictions, std::int64_t N, int L,
                       const std::vector<std::int64_t>& indices, const std::string& checkpoint);

}  // namespace ednn::io
