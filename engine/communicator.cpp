// The single-process communicator, the choice of backend, and the shares of a batch (see
// engine/communicator.h). The MPI and NCCL backends are in communicator_mpi.cpp and
// communicator_nccl.cpp, compiled when the build finds them (EDNN_HAVE_MPI, EDNN_HAVE_NCCL).
#include "engine/communicator.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.h"

namespace ednn {

#if EDNN_HAVE_MPI
std::unique_ptr<Communicator> make_mpi_communicator();    // communicator_mpi.cpp
#endif
#if EDNN_HAVE_NCCL
std::unique_ptr<Communicator> make_nccl_communicator();   // communicator_nccl.cpp
#endif

namespace {

Communicator* g_active = nullptr;

class SingleProcess final : public Communicator {
public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  const char* name() const override { return "single"; }
  void all_reduce_sum(const std::vector<Tensor>&) override {}
  void all_reduce_sum(double*, std::size_t) override {}
  void broadcast(void*, std::size_t, int root) override {
    EDNN_CHECK(root == 0, "broadcast: root ", root, " in a job of one process");
  }
  void gather(const void* mine, std::size_t count, std::vector<unsigned char>& all, int root) override {
    EDNN_CHECK(root == 0, "gather: root ", root, " in a job of one process");
    const auto* p = static_cast<const unsigned char*>(mine);
    all.assign(p, p + count);
  }
  void barrier() override {}
  [[noreturn]] void abort(const std::string& message) override {
    std::fprintf(stderr, "%s\n", message.c_str());
    std::exit(1);
  }
};

long env_long(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::strtol(v, nullptr, 10) : -1;
}

}  // namespace

bool launched_by_mpi() {
  return env_long("OMPI_COMM_WORLD_SIZE") > 0 || env_long("PMI_SIZE") > 0 || std::getenv("PMIX_RANK") != nullptr ||
         (env_long("SLURM_NTASKS") > 1 && std::getenv("SLURM_PROCID") != nullptr);
}

int launcher_rank() {
  if (!launched_by_mpi()) return 0;
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"})
    if (const long rank = env_long(name); rank >= 0) return int(rank);
  return 0;
}

std::string communicator_backends() {
  std::string s = "single";
#if EDNN_HAVE_MPI
  s += ", mpi";
#endif
#if EDNN_HAVE_NCCL
  s += ", nccl";
#endif
  return s;
}

std::unique_ptr<Communicator> make_communicator(const std::string& kind_in, Device device) {
  std::string kind = kind_in;
  if (kind == "auto") {
    kind = "single";
    if (launched_by_mpi()) {
#if EDNN_HAVE_NCCL
      kind = device == Device::cuda ? "nccl" : "mpi";
#else
      kind = "mpi";
#endif
    }
  }
  std::unique_ptr<Communicator> c;
  if (kind == "single") {
    c = std::make_unique<SingleProcess>();
  } else if (kind == "mpi") {
#if EDNN_HAVE_MPI
    c = make_mpi_communicator();
#else
    fail("communicator: this build has no MPI (backends: ", communicator_backends(),
         "); install Debian's libopenmpi-dev and reconfigure");
#endif
  } else if (kind == "nccl") {
#if EDNN_HAVE_NCCL
    EDNN_CHECK(device == Device::cuda, "communicator: nccl reduces CUDA tensors; the device is ", device_name(device),
               " (use mpi)");
    c = make_nccl_communicator();
#else
    fail("communicator: this build has no NCCL (backends: ", communicator_backends(),
         "); it needs the CUDA build with nccl.h and libnccl, and MPI");
#endif
  } else {
    fail("communicator: unknown backend '", kind_in, "': expected auto, single, mpi or nccl");
  }
  if (c->size() > 1) g_active = c.get();
  return c;
}

Communicator* active_communicator() { return g_active; }
void set_active_communicator(Communicator* c) { g_active = c; }

}  // namespace ednn
