#include "nets/metrics.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"

namespace ednn::nets {

const char* region_name(int r) {
  static const char* names[kRegionCount] = {"sources", "field", "all", "R1", "R2", "R3"};
  EDNN_CHECK(r >= 0 && r < kRegionCount, "region_name: bad region ", r);
  return names[r];
}

void RegionErrors::add(const float* x, const float* y, const float* p, std::int64_t pixels) {
  for (std::int64_t i = 0; i < pixels; ++i) {
    const double e = std::abs(double(p[i]) - double(y[i]));
    abs_sum[kAll] += e;
    ++count[kAll];
    if (x[i] > 0) {
      abs_sum[kSources] += e;
      ++count[kSources];
      continue;
    }
    abs_sum[kField] += e;
    ++count[kField];
    const int r = y[i] >= 0.2f ? kR1 : y[i] >= 0.1f ? kR2 : y[i] >= 0.05f ? kR3 : -1;
    if (r >= 0) {
      abs_sum[r] += e;
      ++count[r];
    }
  }
}

void RegionErrors::merge(const RegionErrors& o) {
  for (int r = 0; r < kRegionCount; ++r) {
    abs_sum[r] += o.abs_sum[r];
    count[r] += o.count[r];
  }
}

double RegionErrors::mae(int r) const {
  return count[r] > 0 ? abs_sum[r] / double(count[r]) : std::numeric_limits<double>::quiet_NaN();
}

void MetricsTable::add(int n, const float* x, const float* y, const float* p, std::int64_t pixels) {
  RegionErrors e;
  e.add(x, y, p, pixels);
  overall.merge(e);
  per_n[n].merge(e);
}

std::string MetricsTable::csv() const {
  std::ostringstream os;
  os.precision(9);
  os << "n_sources,region,mae,pixels\n";
  auto rows = [&](const std::string& n, const RegionErrors& e) {
    for (int r = 0; r < kRegionCount; ++r) {
      os << n << ',' << region_name(r) << ',';
      if (e.count[r] > 0) os << e.mae(r);
      os << ',' << e.count[r] << '\n';
    }
  };
  rows("all", overall);
  for (const auto& [n, e] : per_n) rows(std::to_string(n), e);
  return os.str();
}

std::string MetricsTable::json(const std::string& extra) const {
  auto block = [](const RegionErrors& e) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    for (int r = 0; r < kRegionCount; ++r) {
      nlohmann::ordered_json v;
      v["mae"] = e.count[r] > 0 ? nlohmann::ordered_json(e.mae(r)) : nlohmann::ordered_json(nullptr);
      v["pixels"] = e.count[r];
      j[region_name(r)] = v;
    }
    return j;
  };
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  if (!extra.empty()) {
    const auto fields = nlohmann::ordered_json::parse(extra);
    for (const auto& [k, v] : fields.items()) j[k] = v;
  }
  j["overall"] = block(overall);
  nlohmann::ordered_json pn = nlohmann::ordered_json::object();
  for (const auto& [n, e] : per_n) pn[std::to_string(n)] = block(e);
  j["per_n"] = pn;
  return j.dump(2) + "\n";
}

Transform parse_transform(const std::string& t) {
  if (t == "none" || t.empty()) return Transform::none;
  if (t == "sqrt") return Transform::sqrt;
  fail("unknown transform '", t, "': expected none or sqrt");
}

const char* transform_name(Transform t) { return t == Transform::sqrt ? "sqrt" : "none"; }

void apply_transform(Transform t, float* v, std::int64_t n) {
  if (t == Transform::none) return;
  for (std::int64_t i = 0; i < n; ++i) v[i] = std::sqrt(std::max(v[i], 0.0f));
}

void invert_transform(Transform t, float* v, std::int64_t n) {
  if (t == Transform::none) return;
  for (std::int64_t i = 0; i < n; ++i) v[i] = v[i] * std::abs(v[i]);
}

}  // namespace ednn::nets
