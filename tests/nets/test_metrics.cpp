// The metrics of SPEC section 7 on a hand-made 8 x 8 example whose regions are known.
#include <doctest/doctest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "nets/metrics.h"

using namespace ednn::nets;

TEST_CASE("metrics: regions of a hand-made 8x8 example") {
  // Input: sources on the 4 pixels of row 0, columns 0..3. Target: 1 on the sources; in the field
  // rows 1 (0.3, R1), 2 (0.15, R2), 3 (0.07, R3) and 0.01 elsewhere (no R region), row 0 columns
  // 4..7 at 0.2 (R1, the boundary value). The prediction is the target plus an error that
  // identifies the region: 0.5 on sources, 0.1 in R1, 0.2 in R2, -0.3 in R3, 0.05 elsewhere.
  float x[64] = {}, y[64], p[64];
  for (int i = 0; i < 64; ++i) {
    const int r = i / 8, c = i % 8;
    if (r == 0 && c < 4) { x[i] = 1; y[i] = 1; p[i] = 1.5f; continue; }
    if (r == 0) { y[i] = 0.2f; p[i] = y[i] + 0.1f; continue; }
    if (r == 1) { y[i] = 0.3f; p[i] = y[i] + 0.1f; continue; }
    if (r == 2) { y[i] = 0.15f; p[i] = y[i] + 0.2f; continue; }
    if (r == 3) { y[i] = 0.07f; p[i] = y[i] - 0.3f; continue; }
    y[i] = 0.01f; p[i] = y[i] + 0.05f;
  }
  RegionErrors e;
  e.add(x, y, p, 64);
  CHECK(e.count[kSources] == 4);
  CHECK(e.count[kField] == 60);
  CHECK(e.count[kAll] == 64);
  CHECK(e.count[kR1] == 12);
  CHECK(e.count[kR2] == 8);
  CHECK(e.count[kR3] == 8);
  CHECK(e.mae(kSources) == doctest::Approx(0.5));
  CHECK(e.mae(kR1) == doctest::Approx(0.1));
  CHECK(e.mae(kR2) == doctest::Approx(0.2));
  CHECK(e.mae(kR3) == doctest::Approx(0.3));
  const double field = (12 * 0.1 + 8 * 0.2 + 8 * 0.3 + 32 * 0.05) / 60;
  CHECK(e.mae(kField) == doctest::Approx(field));
  CHECK(e.mae(kAll) == doctest::Approx((4 * 0.5 + 60 * field) / 64));

  // Per n, and the overall value is the mean over pixels, not over samples.
  MetricsTable t;
  t.add(1, x, y, p, 64);
  t.add(3, x, y, y, 64);  // a perfect prediction
  CHECK(t.per_n.size() == 2);
  CHECK(t.per_n[3].mae(kAll) == 0);
  CHECK(t.overall.mae(kAll) == doctest::Approx(e.mae(kAll) / 2));
  const auto j = nlohmann::json::parse(t.json());
  CHECK(j["per_n"]["1"]["R2"]["mae"].get<double>() == doctest::Approx(0.2));
  CHECK(t.csv().find("all,R3,") != std::string::npos);
  RegionErrors empty;
  CHECK(std::isnan(empty.mae(kR1)));
}

TEST_CASE("metrics: the sqrt transform and its inverse") {
  float v[4] = {0, 0.25f, 1, 0.01f};
  apply_transform(Transform::sqrt, v, 4);
  CHECK(v[1] == doctest::Approx(0.5));
  invert_transform(Transform::sqrt, v, 4);
  CHECK(v[1] == doctest::Approx(0.25));
  CHECK(v[3] == doctest::Approx(0.01));
  float neg = -0.5f;
  invert_transform(Transform::sqrt, &neg, 1);
  CHECK(neg == doctest::Approx(-0.25));
  CHECK_THROWS_AS(parse_transform("log"), ednn::Error);
}
