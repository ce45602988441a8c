#include "apps/h5_io.h"

#include <hdf5.h>
#include <hdf5_hl.h>  // H5DS: dimension labels

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/error.h"

namespace ednn::io {

void check_finite(const float* v, std::int64_t count, const std::string& file, const char* what, std::int64_t sample) {
  for (std::int64_t i = 0; i < count; ++i)
    if (!std::isfinite(v[i]))
      fail("data ", file, ": ", what, " of sample ", sample, " has a non-finite value (", v[i], ") at pixel ", i);
}

// ---- datagen files -------------------------------------------------------------------------------

DatagenStore::DatagenStore(const std::string& path) : reader_(path) {}

void DatagenStore::read(std::span<const std::int64_t> idx, float* x, float* y, int* n) {
  const std::size_t px = std::size_t(L()) * L();
  for (std::size_t k = 0; k < idx.size(); ++k) {
    reader_.read_input(idx[k], std::span<float>(x + k * px, px));
    check_finite(x + k * px, std::int64_t(px), name(), "inputs", idx[k]);
    if (y) {
      reader_.read_target(idx[k], std::span<float>(y + k * px, px));
      check_finite(y + k * px, std::int64_t(px), name(), "targets", idx[k]);
    }
    if (n) n[k] = reader_.n_sources(idx[k]);
  }
}

// ---- plain files ---------------------------------------------------------------------------------

namespace {

void quiet_hdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

// Opens data set `name` and returns its dims; -1 when absent (and required false).
hid_t open_dataset(hid_t file, const char* name, const std::string& path, bool required, std::vector<hsize_t>& dims,
                   H5T_class_t expected_class, std::size_t expected_size) {
  if (H5Lexists(file, name, H5P_DEFAULT) <= 0) {
    EDNN_CHECK(!required, "data ", path, ": data set '", name, "' is missing (expected ", name,
               " float32 [N, 1, L, L])");
    return -1;
  }
  const hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
  EDNN_CHECK(d >= 0, "data ", path, ": cannot open data set '", name, "'");
  const hid_t type = H5Dget_type(d);
  const H5T_class_t cls = H5Tget_class(type);
  const std::size_t size = H5Tget_size(type);
  H5Tclose(type);
  if (cls != expected_class || size != expected_size) {
    H5Dclose(d);
    fail("data ", path, ": data set '", name, "' has the wrong type (class ", int(cls), ", ", size,
         " bytes), expected ", expected_class == H5T_FLOAT ? "float" : "integer", " of ", expected_size, " bytes");
  }
  const hid_t space = H5Dget_space(d);
  const int rank = H5Sget_simple_extent_ndims(space);
  dims.assign(std::size_t(std::max(rank, 0)), 0);
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  H5Sclose(space);
  return d;
}

std::string dims_str(const std::vector<hsize_t>& d) {
  std::string s = "[";
  for (std::size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

}  // namespace

PlainH5Store::PlainH5Store(const std::string& path) : path_(path) {
  quiet_hdf5();
  namespace fs = std::filesystem;
  EDNN_CHECK(fs::exists(path), "data ", path, ": file does not exist");
  EDNN_CHECK(H5Fis_hdf5(path.c_str()) > 0, "data ", path,
             ": not an HDF5 file (or truncated / unreadable)");
  file_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  EDNN_CHECK(file_ >= 0, "data ", path, ": cannot open as HDF5 (truncated or corrupt?)");
  try {
    std::vector<hsize_t> dims, tdims, ndims, sdims;
    inputs_ = open_dataset(file_, "inputs", path, true, dims, H5T_FLOAT, 4);
    EDNN_CHECK(dims.size() == 4 && dims[1] == 1 && dims[2] == dims[3] && dims[2] > 0, "data ", path,
               ": data set 'inputs' has shape ", dims_str(dims), ", expected [N, 1, L, L]");
    N_ = std::int64_t(dims[0]);
    L_ = int(dims[2]);
    targets_ = open_dataset(file_, "targets", path, false, tdims, H5T_FLOAT, 4);
    if (targets_ >= 0) {
      EDNN_CHECK(tdims == dims, "data ", path, ": 'targets' has shape ", dims_str(tdims), " but 'inputs' ",
                 dims_str(dims));
      has_targets_ = true;
    }
    const hid_t n = open_dataset(file_, "n_sources", path, false, ndims, H5T_INTEGER, 4);
    if (n >= 0) {
      const bool ok = ndims.size() == 1 && ndims[0] == dims[0];
      n_sources_.resize(std::size_t(N_));
      if (ok) H5Dread(n, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, n_sources_.data());
      H5Dclose(n);
      EDNN_CHECK(ok, "data ", path, ": 'n_sources' has shape ", dims_str(ndims), ", expected [", N_, "]");
    }
    const hid_t s = open_dataset(file_, "split", path, false, sdims, H5T_INTEGER, 1);
    if (s >= 0) {
      const bool ok = sdims.size() == 1 && sdims[0] == dims[0];
      split_.resize(std::size_t(N_));
      if (ok) H5Dread(s, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, split_.data());
      H5Dclose(s);
      EDNN_CHECK(ok, "data ", path, ": 'split' has shape ", dims_str(sdims), ", expected [", N_, "]");
    }
  } catch (...) {
    if (inputs_ >= 0) H5Dclose(inputs_);
    if (targets_ >= 0) H5Dclose(targets_);
    H5Fclose(file_);
    throw;
  }
}

PlainH5Store::~PlainH5Store() {
  if (inputs_ >= 0) H5Dclose(inputs_);
  if (targets_ >= 0) H5Dclose(targets_);
  if (file_ >= 0) H5Fclose(file_);
}

void PlainH5Store::read(std::span<const std::int64_t> idx, float* x, float* y, int* n) {
  const hsize_t px = hsize_t(L_) * hsize_t(L_);
  for (std::size_t k = 0; k < idx.size(); ++k) {
    EDNN_CHECK(idx[k] >= 0 && idx[k] < N_, "data ", path_, ": sample ", idx[k], " outside [0, ", N_, ")");
    for (int which = 0; which < 2; ++which) {
      const hid_t d = which == 0 ? inputs_ : targets_;
      float* dst = which == 0 ? x + k * px : (y ? y + k * px : nullptr);
      if (!dst || d < 0) continue;
      const hid_t space = H5Dget_space(d);
      const hsize_t start[4] = {hsize_t(idx[k]), 0, 0, 0}, count[4] = {1, 1, hsize_t(L_), hsize_t(L_)};
      H5Sselect_hyperslab(space, H5S_SELECT_SET, start, nullptr, count, nullptr);
      const hid_t mem = H5Screate_simple(4, count, nullptr);
      const herr_t st = H5Dread(d, H5T_NATIVE_FLOAT, mem, space, H5P_DEFAULT, dst);
      H5Sclose(mem);
      H5Sclose(space);
      EDNN_CHECK(st >= 0, "data ", path_, ": cannot read sample ", idx[k], " of '", which ? "targets" : "inputs",
                 "' (truncated or corrupt file?)");
      check_finite(dst, std::int64_t(px), path_, which ? "targets" : "inputs", idx[k]);
    }
    if (n) n[k] = n_sources_.empty() ? 0 : n_sources_[std::size_t(idx[k])];
  }
}

// ---- predictions ---------------------------------------------------------------------------------

namespace {

// A variable-length UTF-8 string attribute, as datagen's (h5py reads a `str`).
bool write_text_attribute(hid_t object, const std::string& name, const std::string& value) {
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  const char* text = value.c_str();
  const hid_t a = H5Acreate2(object, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
  const bool ok = a >= 0 && H5Awrite(a, type, &text) >= 0;
  if (a >= 0) H5Aclose(a);
  H5Tclose(type);
  H5Sclose(space);
  return ok;
}

}  // namespace

PredictionsWriter::PredictionsWriter(std::string path, std::int64_t N, int L) : path_(std::move(path)), N_(N), L_(L) {
  quiet_hdf5();
  EDNN_CHECK(N >= 1 && L >= 1, "predictions ", path_, ": ", N, " samples of L = ", L, ", expected at least one");
  const std::string tmp = path_ + ".tmp";
  file_ = H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  EDNN_CHECK(file_ >= 0, "cannot write predictions ", tmp, " (directory missing or not writable?)");
  create("predictions", 4, true, "the network's prediction of the target, after inverting any transform");
  create("indices", 1, false, "the sample's index in the input file");
}

PredictionsWriter::DataSet& PredictionsWriter::create(const std::string& name, int rank, bool images,
                                                      const std::string& description) {
  const std::string tmp = path_ + ".tmp";
  EDNN_CHECK(file_ >= 0, "predictions ", path_, ": data set ", name, " declared after finish()");
  for (const DataSet& d : datasets_)
    EDNN_CHECK(d.name != name && d.written == 0, "predictions ", path_, ": data set ", name,
               d.name == name ? " declared twice" : " declared after the first write");
  const hsize_t dims[4] = {hsize_t(N_), 1, hsize_t(L_), hsize_t(L_)}, chunk[4] = {1, 1, hsize_t(L_), hsize_t(L_)};
  const hid_t space = H5Screate_simple(rank, dims, nullptr);
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (rank == 4) H5Pset_chunk(dcpl, 4, chunk);  // one sample per chunk: each batch is written as it is predicted
  const hid_t type = images ? H5T_IEEE_F32LE : name == "indices" ? H5T_STD_I64LE : H5T_IEEE_F64LE;
  const hid_t id = H5Dcreate2(file_, name.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5Pclose(dcpl);
  H5Sclose(space);
  if (id < 0) {
    abandon();
    fail("cannot create data set ", name, " in ", tmp, " (disk full?)");
  }
  datasets_.push_back({name, id, rank, 0});
  // The axes by name, as datagen's files have them (h5py: ds.dims[i].label), and what it holds.
  const char* labels[] = {"sample", "channel", "y", "x"};
  bool ok = write_text_attribute(id, "description", description);
  for (int d = 0; d < rank; ++d) ok = H5DSset_label(id, unsigned(d), labels[d]) >= 0 && ok;
  if (!ok) {
    abandon();
    fail("cannot label data set ", name, " of ", tmp);
  }
  return datasets_.back();
}

void PredictionsWriter::add_column(const std::string& name, const std::string& description) {
  create(name, 1, false, description);
}

void PredictionsWriter::add_images(const std::string& name, const std::string& description) {
  create(name, 4, true, description);
}

PredictionsWriter::DataSet& PredictionsWriter::find(const std::string& name) {
  for (DataSet& d : datasets_)
    if (d.name == name) return d;
  fail("predictions ", path_, ": no data set ", name, " was declared");
}

PredictionsWriter::~PredictionsWriter() { abandon(); }

void PredictionsWriter::abandon() {
  for (DataSet& d : datasets_)
    if (d.id >= 0) H5Dclose(d.id);
  datasets_.clear();
  if (file_ >= 0) {
    H5Fclose(file_);
    std::remove((path_ + ".tmp").c_str());
  }
  file_ = -1;
}

void PredictionsWriter::write_rows(DataSet& d, std::int64_t first, int count, std::int64_t memtype, const void* data) {
  EDNN_CHECK(file_ >= 0, "predictions ", path_, ": written after finish()");
  EDNN_CHECK(first >= 0 && count >= 1 && first + count <= N_, "predictions ", path_, ", ", d.name, ": samples [",
             first, ", ", first + count, ") outside [0, ", N_, ")");
  const hid_t space = H5Dget_space(d.id);
  hsize_t start[4] = {hsize_t(first), 0, 0, 0}, block[4] = {hsize_t(count), 1, hsize_t(L_), hsize_t(L_)};
  H5Sselect_hyperslab(space, H5S_SELECT_SET, start, nullptr, block, nullptr);
  const hid_t mem = H5Screate_simple(d.rank, block, nullptr);
  const herr_t status = H5Dwrite(d.id, memtype, mem, space, H5P_DEFAULT, data);
  H5Sclose(mem);
  H5Sclose(space);
  EDNN_CHECK(status >= 0, "cannot write ", d.name, " to ", path_, ".tmp, samples [", first, ", ", first + count,
             ") (disk full?)");
  d.written += count;
}

void PredictionsWriter::write(std::int64_t first, int count, const float* predictions, const std::int64_t* indices) {
  write_rows(find("predictions"), first, count, H5T_NATIVE_FLOAT, predictions);
  write_rows(find("indices"), first, count, H5T_NATIVE_INT64, indices);
}

void PredictionsWriter::write_column(const std::string& name, std::int64_t first, int count, const double* values) {
  DataSet& d = find(name);
  EDNN_CHECK(d.rank == 1, "predictions ", path_, ": ", name, " holds images, not a column");
  write_rows(d, first, count, H5T_NATIVE_DOUBLE, values);
}

void PredictionsWriter::write_images(const std::string& name, std::int64_t first, int count, const float* images) {
  DataSet& d = find(name);
  EDNN_CHECK(d.rank == 4, "predictions ", path_, ": ", name, " is a column, not images");
  write_rows(d, first, count, H5T_NATIVE_FLOAT, images);
}

void PredictionsWriter::finish(const std::string& checkpoint,
                               const std::vector<std::pair<std::string, std::string>>& attributes) {
  EDNN_CHECK(file_ >= 0, "predictions ", path_, ": finish() called twice");
  for (const DataSet& d : datasets_)
    EDNN_CHECK(d.written == N_, "predictions ", path_, ": ", d.written, " of ", N_, " samples of ", d.name,
               " written before finish()");
  bool ok = write_text_attribute(file_, "checkpoint", checkpoint);
  for (const auto& [name, value] : attributes) ok = write_text_attribute(file_, name, value) && ok;
  for (DataSet& d : datasets_) ok = H5Dclose(d.id) >= 0 && ok;
  datasets_.clear();
  ok = H5Fclose(file_) >= 0 && ok;
  file_ = -1;
  const std::string tmp = path_ + ".tmp";
  if (!ok) {
    std::remove(tmp.c_str());
    fail("cannot write predictions ", tmp, " (disk full?)");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path_, ec);
  if (ec) fail("cannot rename ", tmp, " to ", path_, ": ", ec.message());
}

void write_predictions(const std::string& path, const std::vector<float>& p, std::int64_t N, int L,
                       const std::vector<std::int64_t>& indices, const std::string& checkpoint) {
  EDNN_CHECK(std::int64_t(p.size()) == N * L * L && std::int64_t(indices.size()) == N, "predictions ", path, ": ",
             p.size(), " values and ", indices.size(), " indices for ", N, " samples of L = ", L);
  PredictionsWriter writer(path, N, L);
  writer.write(0, int(N), p.data(), indices.data());
  writer.finish(checkpoint);
}

}  // namespace ednn::io
