// The MPI backend of engine/communicator.h. Tensors are reduced as one bucket: packed into one
// host buffer (for CUDA tensors that is the host staging), one MPI_Allreduce, unpacked.
#include <mpi.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>

#include "engine/communicator.h"
#include "core/error.h"

namespace ednn {

namespace {

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  fail("MPI ", what, " failed: ", std::string(text, std::size_t(length)));
}

class Mpi final : public Communicator {
public:
  Mpi() {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
      int provided = 0;  // MPI is called from the main thread only; OpenMP threads never call it
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owns_ = true;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~Mpi() override;
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* name() const override { return "mpi"; }

  void all_reduce_sum(const std::vector<Tensor>& tensors) override {
    if (tensors.empty()) return;
    std::size_t total = 0;
    for (const Tensor& t : tensors) {
      EDNN_CHECK(t.dtype() == DType::f32 && t.device() == tensors.front().device(),
                 "all_reduce_sum: expected float32 tensors on one device, got ", t.describe());
      total += std::size_t(t.numel());
    }
    bucket_.resize(total);
    std::size_t at = 0;
    for (const Tensor& t : tensors) {  // to the host (a plain copy on the CPU)
      device_copy(bucket_.data() + at, Device::cpu, t.raw_data(), t.device(), std::size_t(t.numel()) * sizeof(float));
      at += std::size_t(t.numel());
    }
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, bucket_.data(), int(total), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
              "MPI_Allreduce (gradients)");
    at = 0;
    for (const Tensor& t : tensors) {
      device_copy(const_cast<void*>(t.raw_data()), t.device(), bucket_.data() + at, Device::cpu,
                  std::size_t(t.numel()) * sizeof(float));
      at += std::size_t(t.numel());
    }
  }
  void all_reduce_sum(double* values, std::size_t count) override {
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, values, int(count), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
  }
  void broadcast(void* bytes, std::size_t count, int root) override {
    check_mpi(MPI_Bcast(bytes, int(count), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
  }
  void gather(const void* mine, std::size_t count, std::vector<unsigned char>& all, int root) override {
    EDNN_CHECK(count <= std::size_t(INT32_MAX), "gather: ", count, " bytes from one rank, at most 2^31 - 1 in one call");
    const int my_count = int(count);
    std::vector<int> counts(rank_ == root ? std::size_t(size_) : 0), offsets(counts.size());
    check_mpi(MPI_Gather(&my_count, 1, MPI_INT, counts.data(), 1, MPI_INT, root, MPI_COMM_WORLD), "MPI_Gather");
    all.clear();
    if (rank_ == root) {
      std::size_t total = 0;
      for (std::size_t r = 0; r < counts.size(); ++r) {
        offsets[r] = int(total);
        total += std::size_t(counts[r]);
      }
      EDNN_CHECK(total <= std::size_t(INT32_MAX), "gather: ", total, " bytes in all, at most 2^31 - 1 in one call");
      all.resize(total);
    }
    check_mpi(MPI_Gatherv(mine, my_count, MPI_BYTE, all.data(), counts.data(), offsets.data(), MPI_BYTE, root,
                          MPI_COMM_WORLD),
              "MPI_Gatherv");
  }
  void barrier() override { check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }
  [[noreturn]] void abort(const std::string& message) override {
    std::fprintf(stderr, "%s (rank %d of %d; stopping the job)\n", message.c_str(), rank_, size_);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);
  }

private:
  int rank_ = 0, size_ = 1;
  bool owns_ = false;
  std::vector<float> bucket_;
};

// What is left of a job whose communicator an exception destroyed: MPI still runs, so the error
// can stop every rank (io::run_main calls abort); nothing else may be called.
class UnwoundJob final : public Communicator {
public:
  int rank_ = 0, size_ = 1;
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* name() const override { return "mpi (stopping)"; }
  void all_reduce_sum(const std::vector<Tensor>&) override { fail("communicator: the job is stopping"); }
  void all_reduce_sum(double*, std::size_t) override { fail("communicator: the job is stopping"); }
  void broadcast(void*, std::size_t, int) override { fail("communicator: the job is stopping"); }
  void gather(const void*, std::size_t, std::vector<unsigned char>&, int) override {
    fail("communicator: the job is stopping");
  }
  void barrier() override { fail("communicator: the job is stopping"); }
  [[noreturn]] void abort(const std::string& message) override {
    std::fprintf(stderr, "%s (rank %d of %d; stopping the job)\n", message.c_str(), rank_, size_);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);
  }
};

Mpi::~Mpi() {
  if (active_communicator() == this) {
    if (std::uncaught_exceptions() > 0) {  // an error on its way to run_main: keep MPI for its abort
      static UnwoundJob stopping;
      stopping.rank_ = rank_;
      stopping.size_ = size_;
      set_active_communicator(&stopping);
      return;
    }
    set_active_communicator(nullptr);
  }
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (owns_ && !finalised) MPI_Finalize();
}

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<Mpi>(); }

}  // namespace ednn
