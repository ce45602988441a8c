// The metrics of SPEC section 7 and the data transform of section 5.
//
// Mean absolute error |y_hat - y| (after inverting any transform) over pixel regions, each the
// mean over all masked pixels of the set (not a mean of per-sample means):
//   sources  x > 0 (from the input image)       field  x == 0        all  every pixel
//   R1  field pixels with y >= 0.2    R2  field, 0.1 <= y < 0.2    R3  field, 0.05 <= y < 0.1
// reported overall and per number of sources n.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>

namespace ednn::nets {

enum Region { kSources = 0, kField, kAll, kR1, kR2, kR3, kRegionCount };
const char* region_name(int region);  // "sources", "field", "all", "R1", "R2", "R3"

// Sums of |error| and pixel counts per region.
struct RegionErrors {
  std::array<double, kRegionCount> abs_sum{};
  std::array<std::int64_t, kRegionCount> count{};
  // One image of `pixels` values: input x, target y, prediction p (all untransformed).
  void add(const float* x, const float* y, const float* p, std::int64_t pixels);
  void merge(const RegionErrors& other);
  double mae(int region) const;  // NaN when the region is empty
};

// Errors overall and per number of sources.
struct MetricsTable {
  RegionErrors overall;
  std::map<int, RegionErrors> per_n;
  void add(int n_sources, const float* x, const float* y, const float* p, std::int64_t pixels);
  // CSV: n,region,mae,pixels rows with n = "all" for the overall rows.
  std::string csv() const;
  // {"overall": {"sources": {"mae": .., "pixels": ..}, ...}, "per_n": {"1": {...}, ...}}
  std::string json(const std::string& extra_fields_json = "") const;
};

// The optional transform of inputs and targets (SPEC section 5).
enum class Transform { none, sqrt };
Transform parse_transform(const std::string& text);  // "none" or "sqrt"
const char* transform_name(Transform t);
// Forward on inputs/targets (sqrt(max(v, 0))), inverse on predictions (sign(v) v^2).
void apply_transform(Transform t, float* values, std::int64_t count);
void invert_transform(Transform t, float* values, std::int64_t count);

}  // namespace ednn::nets
