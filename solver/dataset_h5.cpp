// HDF5 data set files: layout and ordering are documented in solver/dataset_h5.h.
//
// Crash safety without compression: every data set is created with early allocation and no fill
// writes (H5D_ALLOC_TIME_EARLY, H5D_FILL_TIME_NEVER), n_sources and split are written at
// creation, and the file is flushed once. From then on writes change raw data and the value of
// the fixed-size `completed` attribute only, never the file's structure. Object modification
// times are not tracked, so a file's bytes do not depend on when it was written.
#include "solver/dataset_h5.h"

#include <hdf5.h>
#include <hdf5_hl.h>  // H5DS: dimension labels

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "core/error.h"

namespace ednn::dataset {
namespace {

constexpr int kFormatVersion = 1;
constexpr const char* kOrdering =
    "sample i: n_sources = min_sources + i % K, rank = i / K (K = max_sources - min_sources + 1); "
    "split = train (0) when rank < train_per_n, then test (1) for test_per_n ranks, then validation (2); "
    "sample i of random stream `seed`; the first k train samples of each n are the prefix [0, k*K)";

// Owns one HDF5 identifier and closes it with the matching H5?close.
class H5Id {
public:
  H5Id() = default;
  H5Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  H5Id(H5Id&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = H5I_INVALID_HID; }
  H5Id& operator=(H5Id&& o) noexcept {
    std::swap(id_, o.id_);
    std::swap(close_, o.close_);
    return *this;
  }
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  ~H5Id() { reset(); }
  void reset() {
    if (id_ >= 0 && close_) close_(id_);
    id_ = H5I_INVALID_HID;
  }
  hid_t get() const { return id_; }

private:
  hid_t id_ = H5I_INVALID_HID;
  herr_t (*close_)(hid_t) = nullptr;
};

// HDF5 prints its error stack to stderr by default; ours are thrown as ednn::Error instead.
void silence_hdf5_errors() {
  static const bool silenced = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)silenced;
}

hid_t check_id(hid_t id, const std::string& path, const char* what) {
  EDNN_CHECK(id >= 0, "dataset ", path, ": ", what, " failed");
  return id;
}
void check_status(herr_t status, const std::string& path, const char* what) {
  EDNN_CHECK(status >= 0, "dataset ", path, ": ", what, " failed");
}

// ---- attributes ------------------------------------------------------------------------------
void write_attribute(hid_t file, const char* name, hid_t type, const void* value, const std::string& path) {
  H5Id space(check_id(H5Screate(H5S_SCALAR), path, "H5Screate"), H5Sclose);
  H5Id attr(check_id(H5Acreate2(file, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT), path, name),
            H5Aclose);
  check_status(H5Awrite(attr.get(), type, value), path, name);
}
void write_attribute(hid_t file, const char* name, std::int64_t v, const std::string& path) {
  write_attribute(file, name, H5T_NATIVE_INT64, &v, path);
}
void write_attribute(hid_t file, const char* name, int v, const std::string& path) {
  write_attribute(file, name, H5T_NATIVE_INT32, &v, path);
}
void write_attribute(hid_t file, const char* name, double v, const std::string& path) {
  write_attribute(file, name, H5T_NATIVE_DOUBLE, &v, path);
}
void write_attribute(hid_t file, const char* name, std::uint64_t v, const std::string& path) {
  write_attribute(file, name, H5T_NATIVE_UINT64, &v, path);
}
// Strings are variable-length UTF-8: h5py reads them as `str` (a fixed-length string comes back
// as `bytes`). Files written before that, with fixed-length strings, still read.
void write_attribute(hid_t file, const char* name, const std::string& v, const std::string& path) {
  H5Id type(check_id(H5Tcopy(H5T_C_S1), path, "H5Tcopy"), H5Tclose);
  check_status(H5Tset_size(type.get(), H5T_VARIABLE), path, "H5Tset_size");
  check_status(H5Tset_cset(type.get(), H5T_CSET_UTF8), path, "H5Tset_cset");
  const char* text = v.c_str();
  write_attribute(file, name, type.get(), &text, path);
}

// Attributes are read into one value: an attribute that holds several (an array written by
// another tool) would be read past it, so it is refused.
void check_single_value(hid_t attr, const char* name, const std::string& path) {
  H5Id space(check_id(H5Aget_space(attr), path, "H5Aget_space"), H5Sclose);
  const hssize_t count = H5Sget_simple_extent_npoints(space.get());
  if (count != 1)
    throw InconsistentFile(detail::concat("dataset ", path, ": attribute '", name, "' holds ", count,
                                          " values, expected a single value"));
}

template <class T>
T read_numeric_attribute(hid_t file, const char* name, hid_t memtype, const std::string& path) {
  EDNN_CHECK(H5Aexists(file, name) > 0, "dataset ", path, ": attribute '", name,
             "' is missing (not a file written by datagen?)");
  H5Id attr(check_id(H5Aopen(file, name, H5P_DEFAULT), path, name), H5Aclose);
  check_single_value(attr.get(), name, path);
  H5Id type(check_id(H5Aget_type(attr.get()), path, "H5Aget_type"), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls != H5T_INTEGER && cls != H5T_FLOAT)
    throw InconsistentFile(detail::concat("dataset ", path, ": attribute '", name, "' is not a number"));
  T v{};
  check_status(H5Aread(attr.get(), memtype, &v), path, name);
  return v;
}
std::string read_string_attribute(hid_t file, const char* name, const std::string& path) {
  EDNN_CHECK(H5Aexists(file, name) > 0, "dataset ", path, ": attribute '", name, "' is missing");
  H5Id attr(check_id(H5Aopen(file, name, H5P_DEFAULT), path, name), H5Aclose);
  check_single_value(attr.get(), name, path);
  H5Id type(check_id(H5Aget_type(attr.get()), path, "H5Aget_type"), H5Tclose);
  EDNN_CHECK(H5Tget_class(type.get()) == H5T_STRING, "dataset ", path, ": attribute '", name, "' is not a string");
  if (H5Tis_variable_str(type.get()) > 0) {
    char* text = nullptr;
    check_status(H5Aread(attr.get(), type.get(), &text), path, name);
    std::string v = text ? text : "";
    H5free_memory(text);
    return v;
  }
  std::string v(H5Tget_size(type.get()), '\0');
  check_status(H5Aread(attr.get(), type.get(), v.data()), path, name);
  return v.substr(0, v.find('\0'));
}

void write_info_attributes(hid_t file, const DatasetInfo& info, const std::string& path) {
  const solver::SolverConfig& s = info.solver;
  write_attribute(file, "format_version", kFormatVersion, path);
  write_attribute(file, "L", s.L, path);
  write_attribute(file, "D", s.D, path);
  write_attribute(file, "gamma", s.gamma, path);
  write_attribute(file, "radius", s.radius, path);
  write_attribute(file, "model", std::string(solver::to_string(s.model)), path);
  write_attribute(file, "tolerance", s.tol, path);
  write_attribute(file, "omega", s.omega, path);
  write_attribute(file, "max_sweeps", s.max_sweeps, path);
  write_attribute(file, "seed", info.seed, path);
  write_attribute(file, "engine_version", info.engine_version, path);
  write_attribute(file, "per_n", info.per_n, path);
  write_attribute(file, "min_sources", s.min_sources, path);
  write_attribute(file, "max_sources", s.max_sources, path);
  write_attribute(file, "test_fraction", info.test_fraction, path);
  write_attribute(file, "train_per_n", info.train_per_n, path);
  write_attribute(file, "test_per_n", info.test_per_n, path);
  write_attribute(file, "validation_fraction", info.validation_fraction, path);
  write_attribute(file, "validation_per_n", info.validation_per_n, path);
  write_attribute(file, "compressed", info.compressed ? 1 : 0, path);
  write_attribute(file, "ordering", std::string(kOrdering), path);
  write_attribute(file, "device", info.device, path);
  write_attribute(file, "completed", info.completed, path);
}

DatasetInfo read_info_attributes(hid_t file, const std::string& path) {
  const int format = read_numeric_attribute<int>(file, "format_version", H5T_NATIVE_INT32, path);
  EDNN_CHECK(format == kFormatVersion, "dataset ", path, ": format_version ", format,
             ", this build reads ", kFormatVersion);
  DatasetInfo info;
  solver::SolverConfig& s = info.solver;
  auto get_int = [&](const char* name) { return read_numeric_attribute<int>(file, name, H5T_NATIVE_INT32, path); };
  auto get_double = [&](const char* name) {
    return read_numeric_attribute<double>(file, name, H5T_NATIVE_DOUBLE, path);
  };
  s.L = get_int("L");
  s.D = get_double("D");
  s.gamma = get_double("gamma");
  s.radius = get_int("radius");
  s.model = solver::parse_source_model(read_string_attribute(file, "model", path));
  s.tol = get_double("tolerance");
  s.omega = get_double("omega");
  s.max_sweeps = get_int("max_sweeps");
  s.min_sources = get_int("min_sources");
  s.max_sources = get_int("max_sources");
  info.seed = read_numeric_attribute<std::uint64_t>(file, "seed", H5T_NATIVE_UINT64, path);
  info.engine_version = read_string_attribute(file, "engine_version", path);
  info.per_n = get_int("per_n");
  info.test_fraction = get_double("test_fraction");
  info.train_per_n = get_int("train_per_n");
  info.test_per_n = get_int("test_per_n");
  // Files written before the validation split existed have none.
  if (H5Aexists(file, "validation_per_n") > 0) {
    info.validation_fraction = get_double("validation_fraction");
    info.validation_per_n = get_int("validation_per_n");
  }
  info.compressed = get_int("compressed") != 0;
  // Files written before the GPU path existed have no `device`: they were solved on the CPU.
  info.device = H5Aexists(file, "device") > 0 ? read_string_attribute(file, "device", path) : "cpu";
  info.completed = read_numeric_attribute<std::int64_t>(file, "completed", H5T_NATIVE_INT64, path);
  return info;
}

// ---- data sets ---------------------------------------------------------------------------------
struct DatasetSpec {
  const char* name;
  hid_t file_type;
  std::vector<hsize_t> dims;
  bool image;  // chunked one sample per chunk, compressible
  // What a reader sees without this header: one label per dimension (H5DS, h5py's ds.dims[i].label)
  // and a description attribute.
  std::vector<const char*> labels;
  const char* description;
};

std::vector<DatasetSpec> dataset_specs(const DatasetInfo& info) {
  const auto N = static_cast<hsize_t>(info.size()), L = static_cast<hsize_t>(info.solver.L);
  const auto M = static_cast<hsize_t>(info.solver.max_sources);
  const std::vector<const char*> image = {"sample", "channel", "y", "x"}, per_sample = {"sample"};
  return {{"inputs", H5T_IEEE_F32LE, {N, 1, L, L}, true, image,
           "source image x: the sum of value * disk over the sources, divided by its maximum (max 1)"},
          {"targets", H5T_IEEE_F32LE, {N, 1, L, L}, true, image,
           "steady state u of D lap(u) - gamma u = 0 with the sources (file attributes D, gamma, model)"},
          {"n_sources", H5T_STD_I32LE, {N}, false, per_sample, "number of sources of each sample"},
          {"sources", H5T_IEEE_F32LE, {N, M, 3}, false, {"sample", "source", "field"},
           "the sources: rows >= n_sources are zero; fields (attribute 'fields'): x = column and y = row of "
           "the disk's centre in lattice sites, value in (0, 1]"},
          {"split", H5T_STD_U8LE, {N}, false, per_sample, "0: train, 1: test, 2: validation (attribute 'codes')"},
          {"sweeps", H5T_STD_I32LE, {N}, false, per_sample, "red-black SOR sweeps the sample took"},
          {"residual", H5T_IEEE_F64LE, {N}, false, per_sample,
           "relative residual max|r| / ((4D + gamma) max u) of the stored target"}};
}

// Dimension labels and the description (and, where they apply, the split codes and the source
// fields) on a data set just created.
void describe_dataset(hid_t dataset, const DatasetSpec& spec, const std::string& path) {
  for (std::size_t d = 0; d < spec.labels.size(); ++d)
    check_status(H5DSset_label(dataset, static_cast<unsigned>(d), spec.labels[d]), path, "H5DSset_label");
  write_attribute(dataset, "description", std::string(spec.description), path);
  if (std::string(spec.name) == "split") write_attribute(dataset, "codes", std::string("0: train, 1: test, 2: validation"), path);
  if (std::string(spec.name) == "sources") write_attribute(dataset, "fields", std::string("x, y, value"), path);
}

H5Id create_dataset(hid_t file, const DatasetSpec& spec, bool compress, const std::string& path) {
  const int rank = static_cast<int>(spec.dims.size());
  H5Id space(check_id(H5Screate_simple(rank, spec.dims.data(), nullptr), path, "H5Screate_simple"), H5Sclose);
  H5Id dcpl(check_id(H5Pcreate(H5P_DATASET_CREATE), path, "H5Pcreate"), H5Pclose);
  check_status(H5Pset_obj_track_times(dcpl.get(), false), path, "H5Pset_obj_track_times");
  check_status(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER), path, "H5Pset_fill_time");
  if (spec.image && spec.dims[0] > 0) {
    std::vector<hsize_t> chunk = spec.dims;
    chunk[0] = 1;
    check_status(H5Pset_chunk(dcpl.get(), rank, chunk.data()), path, "H5Pset_chunk");
    if (compress) {
      check_status(H5Pset_shuffle(dcpl.get()), path, "H5Pset_shuffle");
      check_status(H5Pset_deflate(dcpl.get(), 4), path, "H5Pset_deflate");
    }
  }
  if (!(spec.image && compress))
    check_status(H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY), path, "H5Pset_alloc_time");
  H5Id dataset(check_id(H5Dcreate2(file, spec.name, spec.file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                        path, spec.name),
               H5Dclose);
  describe_dataset(dataset.get(), spec, path);
  return dataset;
}

H5Id open_dataset(hid_t file, const char* name, const std::string& path) {
  EDNN_CHECK(H5Lexists(file, name, H5P_DEFAULT) > 0, "dataset ", path, ": data set '", name,
             "' is missing");
  return H5Id(check_id(H5Dopen2(file, name, H5P_DEFAULT), path, name), H5Dclose);
}

// Reads or writes the block [first, first + count) x (the rest of the data set's shape).
void transfer_rows(hid_t dataset, hid_t memtype, std::int64_t first, std::int64_t count, void* data,
                   bool write, const std::string& path) {
  H5Id file_space(check_id(H5Dget_space(dataset), path, "H5Dget_space"), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(file_space.get());
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(file_space.get(), dims.data(), nullptr);
  EDNN_CHECK(first >= 0 && count >= 0 && static_cast<hsize_t>(first + count) <= dims[0], "dataset ",
             path, ": samples [", first, ", ", first + count, ") outside [0, ", dims[0], ")");
  if (count == 0) return;
  std::vector<hsize_t> start(dims.size(), 0), block = dims;
  start[0] = static_cast<hsize_t>(first);
  block[0] = static_cast<hsize_t>(count);
  check_status(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, block.data(), nullptr),
          path, "H5Sselect_hyperslab");
  H5Id mem_space(check_id(H5Screate_simple(rank, block.data(), nullptr), path, "H5Screate_simple"), H5Sclose);
  const herr_t status = write ? H5Dwrite(dataset, memtype, mem_space.get(), file_space.get(), H5P_DEFAULT, data)
                              : H5Dread(dataset, memtype, mem_space.get(), file_space.get(), H5P_DEFAULT, data);
  check_status(status, path, write ? "H5Dwrite" : "H5Dread");
}

// ---- the file against its own description -------------------------------------------------------
// Every size the reader and writer compute (buffers of L*L floats, M*3 source rows, N flags)
// comes from the attributes, and HDF5 copies as many bytes as the selection in the file holds.
// So before any sample moves, the attributes must describe a possible data set and every data
// set must be exactly what they imply; otherwise a lie in either corrupts memory.
[[noreturn]] void inconsistent(const std::string& path, const std::string& what) {
  throw InconsistentFile("dataset " + path + ": " + what);
}

void check_attributes(const DatasetInfo& info, const std::string& path) {
  try {
    solver::validate(info.solver);
  } catch (const Error& e) {
    inconsistent(path, detail::concat("the attributes describe no valid data set (", e.what(), ")"));
  }
  if (info.per_n < 1 || info.train_per_n < 1 || info.test_per_n < 0 || info.validation_per_n < 0 ||
      std::int64_t(info.train_per_n) + info.test_per_n + info.validation_per_n != info.per_n)
    inconsistent(path, detail::concat("attributes per_n = ", info.per_n, ", train_per_n = ", info.train_per_n,
                                      ", test_per_n = ", info.test_per_n, ", validation_per_n = ", info.validation_per_n,
                                      " do not add up (expected train_per_n >= 1, test_per_n >= 0, "
                                      "validation_per_n >= 0, train_per_n + test_per_n + validation_per_n = per_n)"));
  if (info.completed < 0 || info.completed > info.size())
    inconsistent(path, detail::concat("attribute completed = ", info.completed, " outside [0, N = ", info.size(),
                                      "] (N = per_n * (max_sources - min_sources + 1))"));
}

// "float32", "int32", "uint8", ...: how a type reads in a message.
std::string type_name(H5T_class_t cls, size_t bytes, bool is_signed) {
  const std::string bits = std::to_string(8 * bytes);
  switch (cls) {
    case H5T_FLOAT: return "float" + bits;
    case H5T_INTEGER: return (is_signed ? "int" : "uint") + bits;
    case H5T_STRING: return "string";
    default: return "a compound or other non-numeric type";
  }
}
std::string type_name(hid_t type) {
  const H5T_class_t cls = H5Tget_class(type);
  return type_name(cls, H5Tget_size(type), cls == H5T_INTEGER && H5Tget_sign(type) == H5T_SGN_2);
}

std::string dims_text(const std::vector<hsize_t>& dims) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < dims.size(); ++i) os << (i ? ", " : "") << dims[i];
  os << "]";
  return os.str();
}

// The data set's type (class, size, signedness: byte order is HDF5's to convert), rank and shape
// against the spec the attributes imply.
void check_dataset(hid_t dataset, const DatasetSpec& spec, const DatasetInfo& info, const std::string& path) {
  H5Id type(check_id(H5Dget_type(dataset), path, "H5Dget_type"), H5Tclose);
  H5Id space(check_id(H5Dget_space(dataset), path, "H5Dget_space"), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 0)));
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  const std::string held = type_name(type.get()), expected = type_name(spec.file_type);
  if (held != expected || rank != static_cast<int>(spec.dims.size()) || dims != spec.dims)
    inconsistent(path, detail::concat("data set '", spec.name, "' holds ", held, " ", dims_text(dims),
                                      ", but the attributes (L = ", info.solver.L, ", max_sources = ",
                                      info.solver.max_sources, ", N = ", info.size(), ") say ", expected, " ",
                                      dims_text(spec.dims)));
}

// The handles both the reader and the writer keep open, and the two columns that follow from the
// ordering alone (checked against it when the file is opened).
struct OpenFile {
  std::string path;
  H5Id file;
  DatasetInfo info;
  H5Id inputs, targets, n_sources, sources, split, sweeps, residual;
  std::vector<std::int32_t> n_sources_column;
  std::vector<std::uint8_t> split_column;

  void open_datasets() {
    inputs = open_dataset(file.get(), "inputs", path);
    targets = open_dataset(file.get(), "targets", path);
    n_sources = open_dataset(file.get(), "n_sources", path);
    sources = open_dataset(file.get(), "sources", path);
    split = open_dataset(file.get(), "split", path);
    sweeps = open_dataset(file.get(), "sweeps", path);
    residual = open_dataset(file.get(), "residual", path);
  }
  // The attributes, each data set against them, then n_sources and split against the ordering
  // (a wrong n_sources would make sources() read past its row; a wrong split would put test
  // samples into training).
  void check_description() {
    check_attributes(info, path);
    const std::vector<DatasetSpec> specs = dataset_specs(info);
    const hid_t opened[] = {inputs.get(), targets.get(), n_sources.get(), sources.get(),
                            split.get(),  sweeps.get(),  residual.get()};
    for (size_t k = 0; k < specs.size(); ++k) check_dataset(opened[k], specs[k], info, path);
    n_sources_column.resize(static_cast<size_t>(info.size()));
    split_column.resize(static_cast<size_t>(info.size()));
    transfer_rows(n_sources.get(), H5T_NATIVE_INT32, 0, info.size(), n_sources_column.data(), false, path);
    transfer_rows(split.get(), H5T_NATIVE_UINT8, 0, info.size(), split_column.data(), false, path);
    for (std::int64_t i = 0; i < info.size(); ++i) {
      const SampleSlot slot = slot_of(info, i);
      const auto k = static_cast<size_t>(i);
      if (n_sources_column[k] != slot.n_sources || split_column[k] != std::uint8_t(slot.split))
        inconsistent(path, detail::concat("sample ", i, " has n_sources = ", n_sources_column[k], ", split = ",
                                          int(split_column[k]), "; the ordering of the attributes says ",
                                          slot.n_sources, ", ", int(slot.split)));
    }
  }
  void close() {
    for (H5Id* id : {&inputs, &targets, &n_sources, &sources, &split, &sweeps, &residual}) id->reset();
    file.reset();
  }
};

std::vector<solver::SolveStats> read_sample_stats(const OpenFile& f, std::int64_t count) {
  EDNN_CHECK(count >= 0 && count <= f.info.completed, "dataset ", f.path, ": statistics of ", count,
             " samples requested, the file holds ", f.info.completed);
  std::vector<std::int32_t> sweeps(static_cast<size_t>(count));
  std::vector<double> residual(static_cast<size_t>(count));
  transfer_rows(f.sweeps.get(), H5T_NATIVE_INT32, 0, count, sweeps.data(), false, f.path);
  transfer_rows(f.residual.get(), H5T_NATIVE_DOUBLE, 0, count, residual.data(), false, f.path);
  std::vector<solver::SolveStats> stats(static_cast<size_t>(count));
  for (size_t i = 0; i < stats.size(); ++i) stats[i] = {sweeps[i], residual[i]};
  return stats;
}

void open_file(OpenFile& f, const std::string& path, bool writable) {
  silence_hdf5_errors();
  f.path = path;
  const hid_t id = H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
  EDNN_CHECK(id >= 0, "dataset ", path, ": cannot open as HDF5", writable ? " for writing" : "",
             " (missing, unreadable, or not an HDF5 file)");
  f.file = H5Id(id, H5Fclose);
  f.info = read_info_attributes(f.file.get(), path);
  f.open_datasets();
  f.check_description();
}

}  // namespace

// ---- info and ordering ---------------------------------------------------------------------------
DatasetInfo make_dataset_info(const solver::SolverConfig& config, std::uint64_t seed, int per_n,
                              double test_fraction, bool compressed, const std::string& device,
                              double validation_fraction) {
  solver::validate(config);
  EDNN_CHECK(device == "cpu" || device == "cuda", "data set: device '", device, "', expected cpu or cuda");
  EDNN_CHECK(per_n >= 1, "data set: per_n = ", per_n, ", expected >= 1");
  EDNN_CHECK(test_fraction >= 0 && test_fraction < 1, "data set: test_fraction = ", test_fraction,
             ", expected 0 <= test_fraction < 1");
  DatasetInfo info;
  info.solver = config;
  info.solver.omega = solver::effective_omega(config);
  info.seed = seed;
  info.per_n = per_n;
  info.test_fraction = test_fraction;
  EDNN_CHECK(validation_fraction >= 0 && validation_fraction < 1, "data set: validation_fraction = ",
             validation_fraction, ", expected 0 <= validation_fraction < 1");
  info.validation_fraction = validation_fraction;
  info.test_per_n = static_cast<int>(std::llround(per_n * test_fraction));
  info.validation_per_n = static_cast<int>(std::llround(per_n * validation_fraction));
  info.train_per_n = per_n - info.test_per_n - info.validation_per_n;
  EDNN_CHECK(info.train_per_n >= 1, "data set: test_fraction ", test_fraction, " and validation_fraction ",
             validation_fraction, " of ", per_n, " samples per n leave no train sample");
  info.compressed = compressed;
  info.engine_version = EDNN_VERSION;
  info.device = device;
  return info;
}

std::string parameter_difference(const DatasetInfo& a, const DatasetInfo& b) {
  std::ostringstream os;
  auto compare = [&os](const char* name, const auto& file, const auto& requested) {
    if (os.tellp() == 0 && !(file == requested))
      os << name << ": file has " << file << ", requested " << requested;
  };
  compare("L", a.solver.L, b.solver.L);
  compare("D", a.solver.D, b.solver.D);
  compare("gamma", a.solver.gamma, b.solver.gamma);
  compare("radius", a.solver.radius, b.solver.radius);
  compare("model", std::string(solver::to_string(a.solver.model)), std::string(solver::to_string(b.solver.model)));
  compare("tolerance", a.solver.tol, b.solver.tol);
  compare("omega", a.solver.omega, b.solver.omega);
  compare("max_sweeps", a.solver.max_sweeps, b.solver.max_sweeps);
  compare("min_sources", a.solver.min_sources, b.solver.min_sources);
  compare("max_sources", a.solver.max_sources, b.solver.max_sources);
  compare("seed", a.seed, b.seed);
  compare("per_n", a.per_n, b.per_n);
  compare("test_fraction", a.test_fraction, b.test_fraction);
  compare("validation_fraction", a.validation_fraction, b.validation_fraction);
  compare("compressed", a.compressed, b.compressed);
  compare("device", a.device, b.device);
  return os.str();
}

SampleSlot slot_of(const DatasetInfo& info, std::int64_t index) {
  EDNN_CHECK(index >= 0 && index < info.size(), "data set: sample ", index, " outside [0, ", info.size(), ")");
  const int K = info.source_counts();
  SampleSlot slot;
  slot.n_sources = info.solver.min_sources + static_cast<int>(index % K);
  slot.rank = static_cast<int>(index / K);
  slot.split = slot.rank < info.train_per_n                     ? Split::train
               : slot.rank < info.train_per_n + info.test_per_n ? Split::test
                                                                 : Split::validation;
  return slot;
}

const char* split_name(Split split) {
  switch (split) {
    case Split::train: return "train";
    case Split::test: return "test";
    case Split::validation: return "validation";
  }
  return "?";
}

std::int64_t index_of(const DatasetInfo& info, int n_sources, int rank) {
  EDNN_CHECK(n_sources >= info.solver.min_sources && n_sources <= info.solver.max_sources,
             "data set: n_sources ", n_sources, " outside ", info.solver.min_sources, " .. ",
             info.solver.max_sources);
  EDNN_CHECK(rank >= 0 && rank < info.per_n, "data set: rank ", rank, " outside [0, ", info.per_n, ")");
  return static_cast<std::int64_t>(rank) * info.source_counts() + (n_sources - info.solver.min_sources);
}

namespace {
std::vector<std::int64_t> ranks_to_indices(const DatasetInfo& info, int first_rank, int end_rank, int n_sources) {
  std::vector<std::int64_t> indices;
  for (int rank = first_rank; rank < end_rank; ++rank)
    for (int n = info.solver.min_sources; n <= info.solver.max_sources; ++n)
      if (n_sources == 0 || n == n_sources) indices.push_back(index_of(info, n, rank));
  return indices;
}
}  // namespace

std::vector<std::int64_t> train_indices(const DatasetInfo& info, double fraction, int n_sources, int subset) {
  EDNN_CHECK(fraction > 0 && fraction <= 1, "train_indices: fraction ", fraction, ", expected (0, 1]");
  const int k = static_cast<int>(std::llround(fraction * info.train_per_n));
  EDNN_CHECK(subset >= 0 && std::int64_t(subset + 1) * k <= info.train_per_n, "train_indices: disjoint subset ",
             subset, " of ", k, " samples per n needs ", std::int64_t(subset + 1) * k, " train samples per n, the data set has ",
             info.train_per_n);
  return ranks_to_indices(info, subset * k, (subset + 1) * k, n_sources);
}

std::vector<std::int64_t> test_indices(const DatasetInfo& info, int n_sources) {
  return ranks_to_indices(info, info.train_per_n, info.train_per_n + info.test_per_n, n_sources);
}

std::vector<std::int64_t> validation_indices(const DatasetInfo& info, int n_sources) {
  return ranks_to_indices(info, info.train_per_n + info.test_per_n, info.per_n, n_sources);
}

// ---- reader --------------------------------------------------------------------------------------
bool is_datagen_file(const std::string& path) {
  silence_hdf5_errors();
  if (H5Fis_hdf5(path.c_str()) <= 0) return false;
  const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) return false;
  H5Id file(id, H5Fclose);
  return H5Aexists(file.get(), "format_version") > 0;
}

struct DatasetReader::Impl {
  OpenFile f;
};

DatasetReader::DatasetReader(const std::string& path, bool allow_unfinished) : impl_(std::make_unique<Impl>()) {
  open_file(impl_->f, path, false);
  const DatasetInfo& info = impl_->f.info;
  EDNN_CHECK(allow_unfinished || info.finished(), "dataset ", path, ": unfinished, ", info.completed,
             " of ", info.size(), " samples written; run datagen again with the same options to finish it");
}
DatasetReader::~DatasetReader() = default;
DatasetReader::DatasetReader(DatasetReader&&) noexcept = default;
DatasetReader& DatasetReader::operator=(DatasetReader&&) noexcept = default;

const DatasetInfo& DatasetReader::info() const { return impl_->f.info; }
const std::string& DatasetReader::path() const { return impl_->f.path; }

namespace {
void check_readable(const DatasetInfo& info, std::int64_t index, const std::string& path) {
  EDNN_CHECK(index >= 0 && index < info.completed, "dataset ", path, ": sample ", index,
             " not available, the file holds samples [0, ", info.completed, ")");
}
void read_image(const OpenFile& f, hid_t dataset, std::int64_t index, std::span<float> image) {
  check_readable(f.info, index, f.path);
  const size_t pixels = static_cast<size_t>(f.info.solver.L) * f.info.solver.L;
  EDNN_CHECK(image.size() == pixels, "dataset ", f.path, ": image buffer has ", image.size(),
             " floats, expected L*L = ", pixels);
  transfer_rows(dataset, H5T_NATIVE_FLOAT, index, 1, image.data(), false, f.path);
}
}  // namespace

void DatasetReader::read_input(std::int64_t index, std::span<float> image) const {
  read_image(impl_->f, impl_->f.inputs.get(), index, image);
}
void DatasetReader::read_target(std::int64_t index, std::span<float> image) const {
  read_image(impl_->f, impl_->f.targets.get(), index, image);
}
int DatasetReader::n_sources(std::int64_t index) const {
  check_readable(info(), index, path());
  return impl_->f.n_sources_column[static_cast<size_t>(index)];
}
std::uint8_t DatasetReader::split(std::int64_t index) const {
  check_readable(info(), index, path());
  return impl_->f.split_column[static_cast<size_t>(index)];
}
std::vector<solver::Source> DatasetReader::sources(std::int64_t index) const {
  check_readable(info(), index, path());
  std::vector<float> rows(static_cast<size_t>(info().solver.max_sources) * 3);
  transfer_rows(impl_->f.sources.get(), H5T_NATIVE_FLOAT, index, 1, rows.data(), false, path());
  std::vector<solver::Source> sources(static_cast<size_t>(n_sources(index)));
  for (size_t s = 0; s < sources.size(); ++s) sources[s] = {rows[3 * s], rows[3 * s + 1], rows[3 * s + 2]};
  return sources;
}
std::vector<solver::SolveStats> DatasetReader::read_stats(std::int64_t count) const {
  return read_sample_stats(impl_->f, count);
}
solver::SolveStats DatasetReader::stats(std::int64_t index) const {
  check_readable(info(), index, path());
  std::int32_t sweeps = 0;
  double residual = 0;
  transfer_rows(impl_->f.sweeps.get(), H5T_NATIVE_INT32, index, 1, &sweeps, false, path());
  transfer_rows(impl_->f.residual.get(), H5T_NATIVE_DOUBLE, index, 1, &residual, false, path());
  return {sweeps, residual};
}

// ---- writer --------------------------------------------------------------------------------------
struct DatasetWriter::Impl {
  OpenFile f;
};

DatasetWriter::DatasetWriter() : impl_(std::make_unique<Impl>()) {}
DatasetWriter::~DatasetWriter() = default;
DatasetWriter::DatasetWriter(DatasetWriter&&) noexcept = default;
DatasetWriter& DatasetWriter::operator=(DatasetWriter&&) noexcept = default;

DatasetWriter DatasetWriter::create(const std::string& path, const DatasetInfo& requested) {
  silence_hdf5_errors();
  DatasetWriter w;
  OpenFile& f = w.impl_->f;
  f.path = path;
  f.info = requested;
  f.info.completed = 0;
  H5Id fcpl(check_id(H5Pcreate(H5P_FILE_CREATE), path, "H5Pcreate"), H5Pclose);
  const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_EXCL, fcpl.get(), H5P_DEFAULT);
  EDNN_CHECK(id >= 0, "dataset ", path, ": cannot create the file (does its directory exist and is it "
             "writable? does a file of that name exist already?)");
  f.file = H5Id(id, H5Fclose);
  write_info_attributes(f.file.get(), f.info, path);
  for (const DatasetSpec& spec : dataset_specs(f.info)) create_dataset(f.file.get(), spec, f.info.compressed, path);
  f.open_datasets();
  // n_sources and split follow from the ordering alone: written now, readable at once.
  std::vector<std::int32_t> n_sources(static_cast<size_t>(f.info.size()));
  std::vector<std::uint8_t> split(n_sources.size());
  for (std::int64_t i = 0; i < f.info.size(); ++i) {
    const SampleSlot slot = slot_of(f.info, i);
    n_sources[static_cast<size_t>(i)] = slot.n_sources;
    split[static_cast<size_t>(i)] = std::uint8_t(slot.split);
  }
  transfer_rows(f.n_sources.get(), H5T_NATIVE_INT32, 0, f.info.size(), n_sources.data(), true, path);
  transfer_rows(f.split.get(), H5T_NATIVE_UINT8, 0, f.info.size(), split.data(), true, path);
  check_status(H5Fflush(f.file.get(), H5F_SCOPE_GLOBAL), path, "H5Fflush");
  return w;
}

DatasetWriter DatasetWriter::open(const std::string& path) {
  DatasetWriter w;
  open_file(w.impl_->f, path, true);
  return w;
}

const DatasetInfo& DatasetWriter::info() const { return impl_->f.info; }

void DatasetWriter::write_provenance(const std::vector<std::pair<std::string, std::string>>& attributes) {
  OpenFile& f = impl_->f;
  if (H5Lexists(f.file.get(), "provenance", H5P_DEFAULT) > 0)
    check_status(H5Ldelete(f.file.get(), "provenance", H5P_DEFAULT), f.path, "H5Ldelete provenance");
  H5Id group(check_id(H5Gcreate2(f.file.get(), "provenance", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), f.path,
                      "H5Gcreate provenance"),
             H5Gclose);
  for (const auto& [name, value] : attributes) write_attribute(group.get(), name.c_str(), value, f.path);
  check_status(H5Fflush(f.file.get(), H5F_SCOPE_GLOBAL), f.path, "H5Fflush");
}

void DatasetWriter::write(std::int64_t first, const solver::SampleBatch& batch) {
  OpenFile& f = impl_->f;
  const std::int64_t B = batch.size();
  EDNN_CHECK(batch.L == f.info.solver.L && batch.max_sources == f.info.solver.max_sources, "dataset ",
             f.path, ": batch has L = ", batch.L, ", max_sources = ", batch.max_sources, ", file expects ",
             f.info.solver.L, ", ", f.info.solver.max_sources);
  for (std::int64_t b = 0; b < B; ++b)
    EDNN_CHECK(batch.n_sources[static_cast<size_t>(b)] == slot_of(f.info, first + b).n_sources, "dataset ",
               f.path, ": sample ", first + b, " has ", batch.n_sources[static_cast<size_t>(b)],
               " sources, the ordering expects ", slot_of(f.info, first + b).n_sources);
  std::vector<float> sources(batch.sources.size() * 3);
  for (size_t s = 0; s < batch.sources.size(); ++s) {
    sources[3 * s] = batch.sources[s].x;
    sources[3 * s + 1] = batch.sources[s].y;
    sources[3 * s + 2] = batch.sources[s].value;
  }
  std::vector<std::int32_t> sweeps(static_cast<size_t>(B));
  std::vector<double> residual(static_cast<size_t>(B));
  for (size_t b = 0; b < sweeps.size(); ++b) {
    sweeps[b] = batch.stats[b].sweeps;
    residual[b] = batch.stats[b].residual;
  }
  // Chunk by chunk: one sample per chunk, so the chunk cache never holds a partial one.
  const size_t pixels = static_cast<size_t>(batch.L) * batch.L;
  for (std::int64_t b = 0; b < B; ++b) {
    transfer_rows(f.inputs.get(), H5T_NATIVE_FLOAT, first + b, 1,
                  const_cast<float*>(batch.inputs.data() + b * pixels), true, f.path);
    transfer_rows(f.targets.get(), H5T_NATIVE_FLOAT, first + b, 1,
                  const_cast<float*>(batch.targets.data() + b * pixels), true, f.path);
  }
  transfer_rows(f.sources.get(), H5T_NATIVE_FLOAT, first, B, sources.data(), true, f.path);
  transfer_rows(f.sweeps.get(), H5T_NATIVE_INT32, first, B, sweeps.data(), true, f.path);
  transfer_rows(f.residual.get(), H5T_NATIVE_DOUBLE, first, B, residual.data(), true, f.path);
}

void DatasetWriter::mark_completed(std::int64_t completed) {
  OpenFile& f = impl_->f;
  EDNN_CHECK(completed >= 0 && completed <= f.info.size(), "dataset ", f.path, ": completed ", completed,
             " outside [0, ", f.info.size(), "]");
  // Data first, then the count that vouches for it.
  check_status(H5Fflush(f.file.get(), H5F_SCOPE_GLOBAL), f.path, "H5Fflush");
  H5Id attr(check_id(H5Aopen(f.file.get(), "completed", H5P_DEFAULT), f.path, "completed"), H5Aclose);
  check_status(H5Awrite(attr.get(), H5T_NATIVE_INT64, &completed), f.path, "completed");
  attr.reset();
  check_status(H5Fflush(f.file.get(), H5F_SCOPE_GLOBAL), f.path, "H5Fflush");
  f.info.completed = completed;
}

std::vector<solver::SolveStats> DatasetWriter::read_stats(std::int64_t count) const {
  return read_sample_stats(impl_->f, count);
}

void DatasetWriter::close() {
  if (impl_) impl_->f.close();
}

}  // namespace ednn::dataset
