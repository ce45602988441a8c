// Synchronised batch norm (engine/sync_batch_norm.h) against the plain batch norm of the whole
// batch: two ranks, each a thread of this process holding half of the batch, must give the
// outputs, running statistics and gradients of batch_norm2d on all of it; one rank alone must
// give batch_norm2d's; a rank with a stand-in sample must change nothing.
#include <barrier>
#include <thread>

#include "engine/sync_batch_norm.h"
#include "tests/engine/test_util.h"

using namespace ednn;
using ednn::test::max_abs_diff;
using ednn::test::random_tensor;

namespace {

// Ranks that are threads of one process: host sums through a shared buffer between two barriers.
// Only what synchronised batch norm calls is implemented.
class ThreadRanks {
public:
  explicit ThreadRanks(int size) : size_(size), sync_(size) {}

  class Rank final : public Communicator {
  public:
    Rank(ThreadRanks& job, int rank) : job_(job), rank_(rank) {}
    int rank() const override { return rank_; }
    int size() const override { return job_.size_; }
    const char* name() const override { return "threads"; }
    void all_reduce_sum(double* values, std::size_t count) override {
      if (rank_ == 0) job_.sum_.assign(count, 0.0);
      job_.sync_.arrive_and_wait();
      {
        std::lock_guard<std::mutex> g(job_.lock_);
        for (std::size_t i = 0; i < count; ++i) job_.sum_[i] += values[i];
      }
      job_.sync_.arrive_and_wait();
      for (std::size_t i = 0; i < count; ++i) values[i] = job_.sum_[i];
      job_.sync_.arrive_and_wait();  // nobody starts the next sum before all have read this one
    }
    void all_reduce_sum(const std::vector<Tensor>&) override { FAIL("not used"); }
    void broadcast(void*, std::size_t, int) override { FAIL("not used"); }
    void gather(const void*, std::size_t, std::vector<unsigned char>&, int) override { FAIL("not used"); }
    void barrier() override { job_.sync_.arrive_and_wait(); }
    [[noreturn]] void abort(const std::string& message) override { throw Error(message); }

  private:
    ThreadRanks& job_;
    int rank_;
  };

private:
  int size_;
  std::barrier<> sync_;
  std::mutex lock_;
  std::vector<double> sum_;
};

// Rows [first, end) of a [N, ...] tensor.
Tensor rows(const Tensor& t, std::int64_t first, std::int64_t end) {
  Shape shape = t.shape();
  const std::int64_t per_row = t.numel() / shape[0];
  shape[0] = end - first;
  const auto all = t.to_vector();
  return Tensor::from_vector(std::vector<double>(all.begin() + first * per_row, all.begin() + end * per_row), shape);
}

struct Result {
  Tensor y, dx, dgamma, dbeta, running_mean, running_var;
};

// batch_norm2d-like call on x (one rank's rows) with the loss sum(y * r), its gradients.
template <class Norm>
Result run(const Tensor& x_rows, const Tensor& r_rows, int C, Norm&& norm) {
  Tensor x = x_rows.clone().set_requires_grad(true);
  Tensor gamma = random_tensor({C}, 41, DType::f64, 0.5, 1.5, true);
  Tensor beta = random_tensor({C}, 42, DType::f64, -1, 1, true);
  Result res;
  res.running_mean = random_tensor({C}, 44, DType::f64, -0.5, 0.5);
  res.running_var = random_tensor({C}, 45, DType::f64, 0.5, 2);
  res.y = norm(x, gamma, beta, res.running_mean, res.running_var);
  dot(res.y, r_rows).backward();
  res.dx = x.grad();
  res.dgamma = gamma.grad();
  res.dbeta = beta.grad();
  return res;
}

}  // namespace

TEST_CASE("sync_batch_norm2d: two ranks of half a batch each are batch_norm2d on the whole batch") {
  const int C = 3;
  const Tensor x = random_tensor({6, C, 4, 5}, 40, DType::f64, -2, 3);
  const Tensor r = random_tensor({6, C, 4, 5}, 43);
  const Result whole = run(x, r, C, [](Tensor& xx, Tensor& g, Tensor& b, Tensor& rm, Tensor& rv) {
    return batch_norm2d(xx, g, b, rm, rv, true, 0.1, 1e-5);
  });

  ThreadRanks job(2);
  Result half[2];
  // Unequal shares (4 + 2 samples), as the last batch of an epoch may be split.
  const std::int64_t bounds[3] = {0, 4, 6};
  auto rank_body = [&](int k) {
    ThreadRanks::Rank comm(job, k);
    half[k] = run(rows(x, bounds[k], bounds[k + 1]), rows(r, bounds[k], bounds[k + 1]), C,
                  [&](Tensor& xx, Tensor& g, Tensor& b, Tensor& rm, Tensor& rv) {
                    return sync_batch_norm2d(xx, g, b, rm, rv, 0.1, 1e-5, comm);
                  });
  };
  std::thread other(rank_body, 1);
  rank_body(0);
  other.join();

  for (int k = 0; k < 2; ++k) {
    INFO("rank ", k);
    CHECK(max_abs_diff(half[k].y, rows(whole.y, bounds[k], bounds[k + 1])) < 1e-12);
    CHECK(max_abs_diff(half[k].dx, rows(whole.dx, bounds[k], bounds[k + 1])) < 1e-12);
    CHECK(max_abs_diff(half[k].running_mean, whole.running_mean) < 1e-12);
    CHECK(max_abs_diff(half[k].running_var, whole.running_var) < 1e-12);
  }
  // Each rank's gamma and beta gradients are its share: they sum to the whole batch's (the
  // training step's gradient all-reduce adds them).
  const auto dg0 = half[0].dgamma.to_vector(), dg1 = half[1].dgamma.to_vector(), dg = whole.dgamma.to_vector();
  const auto db0 = half[0].dbeta.to_vector(), db1 = half[1].dbeta.to_vector(), db = whole.dbeta.to_vector();
  for (int c = 0; c < C; ++c) {
    CHECK(dg0[std::size_t(c)] + dg1[std::size_t(c)] == doctest::Approx(dg[std::size_t(c)]).epsilon(1e-12));
    CHECK(db0[std::size_t(c)] + db1[std::size_t(c)] == doctest::Approx(db[std::size_t(c)]).epsilon(1e-12));
  }
}

TEST_CASE("sync_batch_norm2d: a rank with a stand-in sample of weight 0 leaves the batch's statistics alone") {
  const int C = 2;
  const Tensor x = random_tensor({3, C, 3, 3}, 60, DType::f64, -1, 2);
  const Tensor r = random_tensor({3, C, 3, 3}, 61);
  const Result whole = run(x, r, C, [](Tensor& xx, Tensor& g, Tensor& b, Tensor& rm, Tensor& rv) {
    return batch_norm2d(xx, g, b, rm, rv, true, 0.1, 1e-5);
  });
  ThreadRanks job(2);
  Result real, stand_in;
  std::thread other([&] {  // rank 1: the batch's first sample again, not counted, its loss weight 0
    ThreadRanks::Rank comm(job, 1);
    stand_in = run(rows(x, 0, 1), Tensor::zeros({1, C, 3, 3}, DType::f64), C, [&](Tensor& xx, Tensor& g, Tensor& b, Tensor& rm, Tensor& rv) {
      return sync_batch_norm2d(xx, g, b, rm, rv, 0.1, 1e-5, comm, false);
    });
  });
  {
    ThreadRanks::Rank comm(job, 0);
    real = run(x, r, C, [&](Tensor& xx, Tensor& g, Tensor& b, Tensor& rm, Tensor& rv) {
      return sync_batch_norm2d(xx, g, b, rm, rv, 0.1, 1e-5, comm);
    });
  }
  other.join();
  CHECK(max_abs_diff(real.y, whole.y) < 1e-12);
  CHECK(max_abs_diff(real.dx, whole.dx) < 1e-12);
  CHECK(max_abs_diff(real.running_var, whole.running_var) < 1e-12);
  CHECK(max_abs_diff(stand_in.running_var, whole.running_var) < 1e-12);
  for (double v : stand_in.dx.to_vector()) CHECK(v == 0);
}
