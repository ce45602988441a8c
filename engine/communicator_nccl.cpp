// The NCCL backend of engine/communicator.h: CUDA tensors are summed on the GPUs by NCCL, queued
// on the engine's stream after the backward kernels that wrote them (nothing waits on the host).
// The bucket is one ncclGroupStart/End group of calls, which NCCL fuses. Host values and the
// set-up (rank 0's ncclUniqueId sent to every rank) go through MPI; without an MPI launcher the
// job is one rank. Each rank takes GPU (local rank mod GPU count) before it allocates anything.
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdio>
#include <cstdlib>

#include "engine/communicator.h"
#include "engine/cuda_device.h"
#include "engine/device.h"
#include "core/error.h"

namespace ednn {

#if EDNN_HAVE_MPI
std::unique_ptr<Communicator> make_mpi_communicator();  // communicator_mpi.cpp
#endif

namespace {

void check_nccl(ncclResult_t rc, const char* what) {
  if (rc != ncclSuccess) fail("NCCL ", what, " failed: ", ncclGetErrorString(rc));
}

int local_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"})
    if (const char* v = std::getenv(name)) return std::atoi(v);
  return 0;
}

class Nccl final : public Communicator {
public:
  Nccl() {
#if EDNN_HAVE_MPI
    if (launched_by_mpi()) host_ = make_mpi_communicator();
#endif
    EDNN_CHECK(size() == 1 || chosen_cuda_device() < 0, "nccl: --device cuda:", chosen_cuda_device(),
               " picks one card for one process, but this job has ", size(),
               " ranks, each taking card local_rank % cards: use --device cuda");
    int devices = 0;
    EDNN_CHECK(cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0, "nccl: no usable GPU on rank ", rank());
    // One rank alone keeps the card --device cuda:N chose.
    const int card = size() == 1 && chosen_cuda_device() >= 0 ? chosen_cuda_device() : local_rank() % devices;
    EDNN_CHECK(cudaSetDevice(card) == cudaSuccess, "nccl: cannot select GPU ", card, " on rank ", rank());
    ncclUniqueId id;
    if (rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    if (host_) host_->broadcast(&id, sizeof id, 0);
    check_nccl(ncclCommInitRank(&comm_, size(), id, rank()), "ncclCommInitRank");
  }
  ~Nccl() override {
    // The job's host side takes over as the active communicator (its destructor decides whether
    // MPI must stay up for an error's abort).
    if (active_communicator() == this) set_active_communicator(host_.get());
    if (comm_) ncclCommDestroy(comm_);
  }
  int rank() const override { return host_ ? host_->rank() : 0; }
  int size() const override { return host_ ? host_->size() : 1; }
  const char* name() const override { return "nccl"; }

  void all_reduce_sum(const std::vector<Tensor>& tensors) override {
    auto stream = reinterpret_cast<cudaStream_t>(cuda::stream());
    check_nccl(ncclGroupStart(), "ncclGroupStart");
    for (const Tensor& t : tensors) {
      EDNN_CHECK(t.dtype() == DType::f32 && t.device() == Device::cuda,
                 "nccl all_reduce_sum: expected float32 CUDA tensors, got ", t.describe());
      void* p = const_cast<void*>(t.raw_data());
      check_nccl(ncclAllReduce(p, p, std::size_t(t.numel()), ncclFloat, ncclSum, comm_, stream), "ncclAllReduce");
    }
    check_nccl(ncclGroupEnd(), "ncclGroupEnd");
  }
  void all_reduce_sum(double* values, std::size_t count) override {
    if (host_) host_->all_reduce_sum(values, count);
  }
  void broadcast(void* bytes, std::size_t count, int root) override {
    if (host_) host_->broadcast(bytes, count, root);
  }
  void gather(const void* mine, std::size_t count, std::vector<unsigned char>& all, int root) override {
    if (host_) return host_->gather(mine, count, all, root);
    const auto* p = static_cast<const unsigned char*>(mine);
    all.assign(p, p + count);
  }
  void barrier() override {
    if (host_) host_->barrier();
  }
  [[noreturn]] void abort(const std::string& message) override {
    if (host_) host_->abort(message);
    std::fprintf(stderr, "%s\n", message.c_str());
    std::exit(1);
  }

private:
  std::unique_ptr<Communicator> host_;  // MPI, or null for a job of one rank
  ncclComm_t comm_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator() { return std::make_unique<Nccl>(); }

}  // namespace ednn
