#include "apps/pictures.h"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <type_traits>

#include "core/error.h"
#include "nets/checkpoint.h"
#include "nets/metrics.h"

namespace ednn::io {

// ---- colours ------------------------------------------------------------------------------------

Colour viridis(double t) {
  // R's viridis(9), the anchors of matplotlib's map at t = 0, 1/8, ..., 1.
  static const double a[9][3] = {{68, 1, 84},    {71, 45, 123},  {59, 82, 139},  {44, 114, 142}, {33, 144, 140},
                                 {39, 173, 129}, {93, 200, 99},  {170, 220, 50}, {253, 231, 37}};
  if (!std::isfinite(t)) t = 0;
  t = std::clamp(t, 0.0, 1.0) * 8;
  const int i = std::min(7, int(t));
  const double f = t - i;
  auto channel = [&](int k) { return (a[i][k] + f * (a[i + 1][k] - a[i][k])) / 255; };
  return {channel(0), channel(1), channel(2)};
}

Colour series_colour(int i) {
  static const double okabe_ito[8][3] = {{0, 114, 178},   {213, 94, 0},    {0, 158, 115}, {230, 159, 0},
                                         {204, 121, 167}, {86, 180, 233},  {0, 0, 0},     {240, 228, 66}};
  const auto& c = okabe_ito[((i % 8) + 8) % 8];
  return {c[0] / 255, c[1] / 255, c[2] / 255};
}

Marker series_marker(int i) {
  static const Marker m[5] = {Marker::circle, Marker::square, Marker::triangle, Marker::diamond, Marker::triangle_down};
  return m[((i % 5) + 5) % 5];
}

std::string region_title(int region) {
  switch (region) {
    case nets::kSources: return "Sources";
    case nets::kField: return "Field";
    case nets::kAll: return "All pixels";
    case nets::kR1: return "Region 1 (0.2\u20131)";
    case nets::kR2: return "Region 2 (0.1\u20130.2)";
    case nets::kR3: return "Region 3 (0.05\u20130.1)";
    default: return "region " + std::to_string(region);
  }
}

// ---- ticks and numbers --------------------------------------------------------------------------

double nice_step(double raw) {
  EDNN_CHECK(raw > 0 && std::isfinite(raw), "nice_step: expected a positive step, got ", raw);
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw * (1 - 1e-9)) return m * p;
  return 10 * p;
}

Ticks linear_ticks(double lo, double hi, int max_intervals, bool widen) {
  if (hi < lo) std::swap(lo, hi);
  if (!(hi - lo > 1e-12 * std::max(1.0, std::abs(hi)))) {  // one value: a range around it
    const double half = std::abs(lo) > 0 ? 0.1 * std::abs(lo) : 0.5;
    lo -= half;
    hi += half;
  }
  Ticks t;
  t.step = nice_step((hi - lo) / std::max(1, max_intervals));
  const double first = std::ceil(lo / t.step - 1e-9), last = std::floor(hi / t.step + 1e-9);
  t.lo = widen ? std::floor(lo / t.step + 1e-9) * t.step : lo;
  t.hi = widen ? std::ceil(hi / t.step - 1e-9) * t.step : hi;
  const double from = widen ? std::round(t.lo / t.step) : first, to = widen ? std::round(t.hi / t.step) : last;
  for (double k = from; k <= to + 1e-9; ++k) t.values.push_back(std::abs(k) < 1e-9 ? 0.0 : k * t.step);
  return t;
}

std::string tick_text(double value, double step) {
  const int decimals = std::max(0, int(-std::floor(std::log10(step) + 1e-9)));
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, std::abs(value) < 0.5 * step ? 0.0 : std::abs(value));
  return (value < 0 && std::abs(value) >= 0.5 * step ? "\u2212" : "") + std::string(buf);
}

namespace {
std::string superscript(int k) {
  static const char* digits[10] = {"\u2070", "\u00b9", "\u00b2", "\u00b3", "\u2074",
                                   "\u2075", "\u2076", "\u2077", "\u2078", "\u2079"};
  std::string s = k < 0 ? "\u207b" : "";
  for (char c : std::to_string(std::abs(k))) s += digits[c - '0'];
  return s;
}
}  // namespace

std::string decade_text(int k) {
  if (k >= 0 && k <= 3) return std::string("1") + std::string(std::size_t(k), '0');
  if (k < 0 && k >= -2) return "0." + std::string(std::size_t(-k - 1), '0') + "1";
  return "10" + superscript(k);
}

std::string number_text(double v) {
  if (!std::isfinite(v)) return "\u2013";
  if (v == 0) return "0";
  const double a = std::abs(v);
  char buf[48];
  if (a >= 1e-3 && a < 1e5) {
    std::snprintf(buf, sizeof buf, "%.3g", a);
    return (v < 0 ? "\u2212" : "") + std::string(buf);
  }
  const int k = int(std::floor(std::log10(a)));
  std::snprintf(buf, sizeof buf, "%.2g", a / std::pow(10.0, k));
  return (v < 0 ? "\u2212" : "") + std::string(buf) + "\u00d710" + superscript(k);
}

// ---- boxes and axes -----------------------------------------------------------------------------

bool Box::contains(const Box& o, double slack) const {
  return o.x >= x - slack && o.y >= y - slack && o.right() <= right() + slack && o.bottom() <= bottom() + slack;
}
bool Box::overlaps(const Box& o) const {
  return o.x < right() && x < o.right() && o.y < bottom() && y < o.bottom();
}

double PanelLayout::to_x(double v) const {
  const double u = log_x ? std::log10(v) : v;
  return area.x + (u - x_lo) / (x_hi - x_lo) * area.w;
}
double PanelLayout::to_y(double v) const {
  const double u = log_y ? std::log10(v) : v;
  return area.bottom() - (u - y_lo) / (y_hi - y_lo) * area.h;
}

namespace {

// ---- text measurement -----------------------------------------------------------------------------

constexpr const char* kFont = "DejaVu Sans";
constexpr double kTitleSize = 12, kPanelTitleSize = 10, kSubtitleSize = 8.5, kLabelSize = 9, kTickSize = 8,
                 kLegendSize = 9, kCaptionSize = 9;
constexpr double kMargin = 10, kPanelGap = 14, kTickLength = 3, kGap = 3;
constexpr double kPlotW = 180, kPlotH = 130, kImageSide = 140, kHeatSide = 170, kBarW = 9;
constexpr int kBarIntervals = 5;  // at most, between a colour bar's ticks
const Colour kInk{0.1, 0.1, 0.1}, kGridLine{0.88, 0.88, 0.88}, kEmptyCell{0.85, 0.85, 0.85};

void set_font(cairo_t* cr, double size, bool bold) {
  cairo_select_font_face(cr, kFont, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

// Text extents from a scratch cairo context: the same font machinery the surfaces draw with.
class Measure {
public:
  Measure() : surface_(cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1)), cr_(cairo_create(surface_)) {}
  ~Measure() {
    cairo_destroy(cr_);
    cairo_surface_destroy(surface_);
  }
  Measure(const Measure&) = delete;
  Measure& operator=(const Measure&) = delete;
  cairo_text_extents_t text(const std::string& s, double size, bool bold = false) {
    set_font(cr_, size, bold);
    cairo_text_extents_t e;
    cairo_text_extents(cr_, s.c_str(), &e);
    return e;
  }
  double width(const std::string& s, double size, bool bold = false) { return text(s, size, bold).x_advance; }
  cairo_font_extents_t font(double size, bool bold = false) {
    set_font(cr_, size, bold);
    cairo_font_extents_t e;
    cairo_font_extents(cr_, &e);
    return e;
  }
  double line_height(double size, bool bold = false) {
    const auto f = font(size, bold);
    return f.ascent + f.descent;
  }

private:
  cairo_surface_t* surface_;
  cairo_t* cr_;
};

// A text placed with its baseline origin at (x, y); its ink box from the extents.
PlacedText place(Measure& m, const std::string& s, double size, bool bold, double x, double y, bool vertical = false) {
  PlacedText t{s, x, y, size, bold, vertical, {}, {}};
  const cairo_text_extents_t e = m.text(s, size, bold);
  if (!vertical) t.ink = {x + e.x_bearing, y + e.y_bearing, e.width, e.height};
  else t.ink = {x + e.y_bearing, y - e.x_bearing - e.width, e.height, e.width};  // (gx, gy) -> (x + gy, y - gx)
  return t;
}
// Horizontal text: `align` 0 left, 0.5 centre, 1 right of x; its line's top at `top`.
PlacedText place_line(Measure& m, const std::string& s, double size, bool bold, double x, double top, double align) {
  const double w = m.width(s, size, bold);
  return place(m, s, size, bold, x - align * w, top + m.font(size, bold).ascent);
}
// Horizontal text whose ink is centred vertically on y, `align` as above.
PlacedText place_centred(Measure& m, const std::string& s, double size, double x, double y, double align) {
  const cairo_text_extents_t e = m.text(s, size);
  return place(m, s, size, false, x - align * e.x_advance, y - e.y_bearing - e.height / 2);
}
// Vertical text (reading upwards) centred on y, its line's right edge at `right`.
PlacedText place_vertical(Measure& m, const std::string& s, double size, double right, double y) {
  const auto f = m.font(size);
  return place(m, s, size, false, right - f.descent, y + m.width(s, size) / 2, true);
}

Box union_box(const Box& a, const Box& b) {
  if (a.w <= 0 && a.h <= 0) return b;
  const double x = std::min(a.x, b.x), y = std::min(a.y, b.y);
  return {x, y, std::max(a.right(), b.right()) - x, std::max(a.bottom(), b.bottom()) - y};
}

// ---- panels, measured around their data area at (0, 0) ---------------------------------------------

struct MeasuredPanel {
  PanelLayout layout;  // in coordinates with the data area's top-left corner at (0, 0)
  std::vector<PlacedText> texts;
  Box bounds;  // everything the panel draws
};

// Labels along an axis, each accepted only when its ink keeps `gap` from those accepted before:
// candidates come in priority order (decades before 2x and 5x, for instance).
void add_thinned(std::vector<PlacedText>& out, std::vector<PlacedText> candidates, double gap) {
  std::vector<Box> taken;
  for (auto& c : candidates) {
    const Box grown{c.ink.x - gap, c.ink.y - gap, c.ink.w + 2 * gap, c.ink.h + 2 * gap};
    if (std::any_of(taken.begin(), taken.end(), [&](const Box& b) { return b.overlaps(grown); })) continue;
    taken.push_back(c.ink);
    out.push_back(std::move(c));
  }
}

struct AxisTicks {
  double lo = 0, hi = 1;  // axis coordinates (log10 on a log axis)
  std::vector<double> marks;                             // values (not log) with a tick mark
  std::vector<std::pair<double, std::string>> labels;    // values and texts, in priority order
};

AxisTicks axis_ticks(const Axis& axis, std::vector<double> values, bool is_y) {
  AxisTicks a;
  if (values.empty()) values = axis.log ? std::vector<double>{1, 10} : std::vector<double>{0, 1};
  double lo = *std::min_element(values.begin(), values.end()), hi = *std::max_element(values.begin(), values.end());
  if (axis.log) {
    lo = std::log10(lo);
    hi = std::log10(hi);
    const double pad = hi > lo ? 0.06 * (hi - lo) : 0.5;
    a.lo = lo - pad;
    a.hi = hi + pad;
    const int k0 = int(std::floor(a.lo)), k1 = int(std::ceil(a.hi));
    int decades = 0;
    for (int k = k0; k <= k1; ++k)
      if (k >= a.lo - 1e-9 && k <= a.hi + 1e-9) {
        a.labels.push_back({std::pow(10.0, k), decade_text(k)});
        ++decades;
      }
    // Few decades in view: 2x and 5x labelled too, and with fewer than 3 labels so far every minor
    // tick; each only where it fits (add_thinned), decades first.
    std::vector<std::pair<double, std::string>> two_five, others;
    for (int k = k0; k <= k1; ++k)
      for (int m = 2; m <= 9; ++m) {
        const double u = k + std::log10(double(m));
        if (u < a.lo - 1e-9 || u > a.hi + 1e-9) continue;
        const double v = m * std::pow(10.0, k);
        const std::string text = k >= 0 && k <= 3 ? std::to_string(std::llround(v)) : number_text(v);
        (m == 2 || m == 5 ? two_five : others).push_back({v, text});
      }
    for (int k = k0; k <= k1; ++k)
      if (k >= a.lo - 1e-9 && k <= a.hi + 1e-9) a.marks.push_back(std::pow(10.0, k));
    for (const auto& [v, s] : two_five) a.marks.push_back(v);
    for (const auto& [v, s] : others) a.marks.push_back(v);
    if (decades < 3) a.labels.insert(a.labels.end(), two_five.begin(), two_five.end());
    if (std::size_t(decades) + (decades < 3 ? two_five.size() : 0) < 3) a.labels.insert(a.labels.end(), others.begin(), others.end());
    return a;
  }
  if (is_y) {
    // A little room above and below the data before the range is widened to whole steps, so that no
    // marker sits on the frame; a quantity that is never negative keeps its axis from 0 up.
    const double room = 0.03 * (hi - lo);
    const Ticks t = linear_ticks(lo >= 0 ? std::max(0.0, lo - room) : lo - room, hi + room, 5, true);
    a.lo = t.lo;
    a.hi = t.hi;
    for (double v : t.values) {
      a.marks.push_back(v);
      a.labels.push_back({v, tick_text(v, t.step)});
    }
    return a;
  }
  const double span = hi > lo ? hi - lo : std::max(1.0, std::abs(lo));
  const double pad = axis.integer ? std::max(0.5, 0.04 * span) : 0.04 * span;
  a.lo = lo - pad;
  a.hi = hi + pad;
  Ticks t = linear_ticks(a.lo, a.hi, 6, false);
  if (axis.integer && t.step < 1) t = linear_ticks(std::ceil(a.lo), std::floor(a.hi), int(std::floor(a.hi) - std::ceil(a.lo)), false);
  for (double v : t.values) {
    a.marks.push_back(v);
    a.labels.push_back({v, tick_text(v, axis.integer ? 1.0 : t.step)});
  }
  return a;
}

bool usable(const Axis& axis, double v) { return std::isfinite(v) && (!axis.log || v > 0); }
double err_of(const Series& s, std::size_t i) {
  return s.err.empty() || !std::isfinite(s.err[i]) ? 0.0 : std::abs(s.err[i]);
}

// Title and subtitle centred over [0, width], their lines ending `gap` above y = 0.
void add_titles(Measure& m, std::vector<PlacedText>& texts, const std::string& title, const std::string& subtitle,
                double width) {
  double bottom = -4;
  if (!subtitle.empty()) {
    const double h = m.line_height(kSubtitleSize);
    texts.push_back(place_line(m, subtitle, kSubtitleSize, false, width / 2, bottom - h, 0.5));
    bottom -= h + 1;
  }
  if (!title.empty())
    texts.push_back(place_line(m, title, kPanelTitleSize, true, width / 2, bottom - m.line_height(kPanelTitleSize, true), 0.5));
}

MeasuredPanel measure_plot(Measure& m, const PlotPanel& p, const std::string& where) {
  MeasuredPanel out;
  PanelLayout& L = out.layout;
  std::vector<double> xs, ys;
  for (const Series& s : p.series) {
    EDNN_CHECK(s.y.size() == s.x.size() && (s.err.empty() || s.err.size() == s.y.size()), where, ": series '",
               s.label, "' has ", s.x.size(), " x, ", s.y.size(), " y and ", s.err.size(),
               " error values, expected as many y as x and no errors or one per y");
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!usable(p.x, s.x[i]) || !usable(p.y, s.y[i])) continue;
      xs.push_back(s.x[i]);
      const double e = err_of(s, i);
      ys.push_back(s.y[i] + e);
      // A bar reaching below 0 on a positive quantity, or below the log axis, is cut there.
      const double low = s.y[i] - e;
      ys.push_back(p.y.log ? (low > 0 ? low : s.y[i]) : (s.y[i] >= 0 ? std::max(0.0, low) : low));
    }
  }
  const AxisTicks ax = axis_ticks(p.x, xs, false), ay = axis_ticks(p.y, ys, true);
  L.area = {0, 0, kPlotW, kPlotH};
  L.x_lo = ax.lo, L.x_hi = ax.hi, L.y_lo = ay.lo, L.y_hi = ay.hi;
  L.log_x = p.x.log, L.log_y = p.y.log;
  for (double v : ax.marks) L.x_ticks.push_back(L.to_x(v));
  for (double v : ay.marks) L.y_ticks.push_back(L.to_y(v));

  std::vector<PlacedText> xl, yl;
  const double x_label_top = kPlotH + kTickLength + kGap;
  for (const auto& [v, s] : ax.labels) xl.push_back(place_line(m, s, kTickSize, false, L.to_x(v), x_label_top, 0.5));
  for (const auto& [v, s] : ay.labels) yl.push_back(place_centred(m, s, kTickSize, -kTickLength - kGap, L.to_y(v), 1));
  add_thinned(out.texts, xl, 4);
  add_thinned(out.texts, yl, 1);
  double widest = 0;
  for (const auto& t : out.texts)
    if (t.ink.right() <= 0) widest = std::max(widest, -t.ink.x);
  const double below = x_label_top + m.line_height(kTickSize) + kGap;
  if (!p.x.label.empty()) out.texts.push_back(place_line(m, p.x.label, kLabelSize, false, kPlotW / 2, below, 0.5));
  if (!p.y.label.empty()) out.texts.push_back(place_vertical(m, p.y.label, kLabelSize, -widest - kGap - 1, kPlotH / 2));
  add_titles(m, out.texts, p.title, p.subtitle, kPlotW);
  out.bounds = L.area;
  for (const auto& t : out.texts) out.bounds = union_box(out.bounds, t.ink);
  return out;
}

MeasuredPanel measure_grid(Measure& m, const GridPanel& g, const std::string& where) {
  EDNN_CHECK(g.rows > 0 && g.columns > 0, where, ": a grid panel needs at least one row and one column, got ", g.rows,
             " x ", g.columns);
  EDNN_CHECK(g.values.size() == std::size_t(g.rows) * std::size_t(g.columns), where, ": ", g.rows, " x ", g.columns,
             " cells need ", g.rows * g.columns, " values, got ", g.values.size());
  EDNN_CHECK(g.image() || (g.x_ticks.size() == std::size_t(g.columns) && g.y_ticks.size() == std::size_t(g.rows)),
             where, ": ", g.rows, " x ", g.columns, " cells need ", g.columns, " column and ", g.rows,
             " row labels, got ", g.x_ticks.size(), " and ", g.y_ticks.size());
  MeasuredPanel out;
  PanelLayout& L = out.layout;
  // An image's cells are whole PNG pixels (no resampling stripes): 2 pixels for L = 64, 1 for 128.
  const double cell = g.image() ? std::max(1.0, std::floor(kImageSide * kPngScale / std::max(g.rows, g.columns))) / kPngScale
                                : std::clamp(kHeatSide / std::max(g.rows, g.columns), 8.0, 28.0);
  L.area = {0, 0, cell * g.columns, cell * g.rows};
  // Cell (row r, column q) has its centre at x = q + 0.5, y = r + 0.5 in axis units; a heat map's row
  // 0 is at the bottom, an image's at the top.
  L.x_lo = 0, L.x_hi = g.columns;
  L.y_lo = g.image() ? g.rows : 0, L.y_hi = g.image() ? 0 : g.rows;
  if (!g.image()) {
    // Labels that are whole numbers are thinned to multiples of 1, 2, 5, 10 ...; others to every k-th.
    auto thinned = [&](const std::vector<std::string>& labels, double room_per_label, bool horizontal) {
      double widest = 0;
      for (const auto& s : labels) widest = std::max(widest, horizontal ? m.width(s, kTickSize) : m.line_height(kTickSize));
      const int every = int(std::ceil((widest + 3) / room_per_label - 1e-9));
      const int k = every <= 1 ? 1 : int(nice_step(every));
      std::vector<int> keep;
      for (std::size_t i = 0; i < labels.size(); ++i) {
        char* end = nullptr;
        const long v = std::strtol(labels[i].c_str(), &end, 10);
        const bool whole = end && *end == '\0' && !labels[i].empty();
        if (k == 1 || (whole ? v % k == 0 : i % std::size_t(k) == 0)) keep.push_back(int(i));
      }
      return keep;
    };
    const double x_label_top = L.area.h + kTickLength + kGap;
    for (int q : thinned(g.x_ticks, cell, true)) {
      out.texts.push_back(place_line(m, g.x_ticks[std::size_t(q)], kTickSize, false, L.to_x(q + 0.5), x_label_top, 0.5));
      L.x_ticks.push_back(L.to_x(q + 0.5));
    }
    for (int r : thinned(g.y_ticks, cell, false)) {
      out.texts.push_back(place_centred(m, g.y_ticks[std::size_t(r)], kTickSize, -kTickLength - kGap, L.to_y(r + 0.5), 1));
      L.y_ticks.push_back(L.to_y(r + 0.5));
    }
  }
  double widest = 0;
  for (const auto& t : out.texts)
    if (t.ink.right() <= 0) widest = std::max(widest, -t.ink.x);
  const double below = L.area.h + (g.image() ? kGap : kTickLength + kGap + m.line_height(kTickSize) + kGap);
  if (!g.x_label.empty()) out.texts.push_back(place_line(m, g.x_label, kLabelSize, false, L.area.w / 2, below, 0.5));
  if (!g.y_label.empty())
    out.texts.push_back(place_vertical(m, g.y_label, kLabelSize, -widest - kGap - 1, L.area.h / 2));
  // The colour bar: ticks at 1-2-5 steps inside [lo, hi], labelled on its right, its label beyond.
  L.bar = {L.area.w + 8, 0, kBarW, L.area.h};
  const double lo = g.lo, hi = g.hi > g.lo ? g.hi : g.lo + 1;
  const Ticks t = linear_ticks(lo, hi, kBarIntervals, false);
  double label_right = L.bar.right();
  std::vector<PlacedText> bar_labels;
  for (double v : t.values) {
    const double y = L.bar.bottom() - (v - lo) / (hi - lo) * L.bar.h;
    bar_labels.push_back(place_centred(m, tick_text(v, t.step), kTickSize, L.bar.right() + kTickLength + kGap, y, 0));
  }
  add_thinned(out.texts, bar_labels, 1);
  for (const auto& b : out.texts)
    if (b.ink.x >= L.bar.right()) label_right = std::max(label_right, b.ink.right());
  if (!g.bar_label.empty())
    out.texts.push_back(place_vertical(m, g.bar_label, kLabelSize,
                                       label_right + kGap + m.font(kLabelSize).ascent + m.font(kLabelSize).descent,
                                       L.area.h / 2));
  add_titles(m, out.texts, g.title, "", L.area.w);
  out.bounds = union_box(L.area, L.bar);
  for (const auto& tx : out.texts) out.bounds = union_box(out.bounds, tx.ink);
  return out;
}

void shift(Box& b, double dx, double dy) {
  b.x += dx;
  b.y += dy;
}

}  // namespace

// ---- the figure's layout ----------------------------------------------------------------------------

FigureLayout lay_out(const Figure& fig) {
  EDNN_CHECK(fig.columns > 0, "figure '", fig.title, "': needs at least one column, got ", fig.columns);
  Measure m;
  FigureLayout out;
  const int n = int(fig.panels.size()), cols = std::max(1, std::min(fig.columns, n)), rows = (n + cols - 1) / cols;
  std::vector<MeasuredPanel> panels;
  for (int k = 0; k < n; ++k) {
    const std::string where = "figure '" + fig.title + "', panel " + std::to_string(k + 1);
    panels.push_back(std::visit(
        [&](const auto& p) {
          if constexpr (std::is_same_v<std::decay_t<decltype(p)>, PlotPanel>) return measure_plot(m, p, where);
          else return measure_grid(m, p, where);
        },
        fig.panels[std::size_t(k)]));
  }
  // Columns as wide as their widest panel on each side of the data areas, rows likewise, so that
  // the areas of a row (column) line up.
  std::vector<double> left(std::size_t(cols), 0), right(std::size_t(cols), 0), above(std::size_t(rows), 0),
      below(std::size_t(rows), 0);
  for (int k = 0; k < n; ++k) {
    const Box& b = panels[std::size_t(k)].bounds;
    const std::size_t c = std::size_t(k % cols), r = std::size_t(k / cols);
    left[c] = std::max(left[c], -b.x);
    right[c] = std::max(right[c], b.right());
    above[r] = std::max(above[r], -b.y);
    below[r] = std::max(below[r], b.bottom());
  }
  double top = kMargin;
  if (!fig.title.empty()) {
    out.texts.push_back(place_line(m, fig.title, kTitleSize, true, kMargin, top, 0));
    top += m.line_height(kTitleSize, true) + 8;
  }
  std::vector<double> col_x{kMargin}, row_y{top};
  for (int c = 0; c < cols; ++c) col_x.push_back(col_x.back() + left[std::size_t(c)] + right[std::size_t(c)] + kPanelGap);
  for (int r = 0; r < rows; ++r) row_y.push_back(row_y.back() + above[std::size_t(r)] + below[std::size_t(r)] + kPanelGap);
  const double grid_right = col_x.back() - kPanelGap, grid_bottom = n > 0 ? row_y.back() - kPanelGap : top;
  for (int k = 0; k < n; ++k) {
    const std::size_t c = std::size_t(k % cols), r = std::size_t(k / cols);
    // Data areas start on whole PNG pixels, so that images and cells are not resampled across them.
    const double dx = std::round((col_x[c] + left[c]) * kPngScale) / kPngScale,
                 dy = std::round((row_y[r] + above[r]) * kPngScale) / kPngScale;
    MeasuredPanel& p = panels[std::size_t(k)];
    PanelLayout L = p.layout;
    shift(L.area, dx, dy);
    if (L.bar.w > 0) shift(L.bar, dx, dy);
    for (double& x : L.x_ticks) x += dx;
    for (double& y : L.y_ticks) y += dy;
    L.outer = p.bounds;
    shift(L.outer, dx, dy);
    const Box room{col_x[c] - 0.5, row_y[r] - 0.5, left[c] + right[c] + 1, above[r] + below[r] + 1};  // +- the rounding
    for (PlacedText t : p.texts) {
      t.x += dx;
      t.y += dy;
      shift(t.ink, dx, dy);
      t.room = room;
      out.texts.push_back(t);
    }
    out.panels.push_back(L);
  }

  // One legend for the figure: every distinct series label, in the order first met, laid out in as
  // many equal columns as fit the figure's width, below the panels.
  for (const auto& panel : fig.panels)
    if (const PlotPanel* p = std::get_if<PlotPanel>(&panel))
      for (const Series& s : p->series) {
        if (s.label.empty()) continue;
        auto it = std::find_if(out.legend_entries.begin(), out.legend_entries.end(),
                               [&](const LegendEntry& e) { return e.label == s.label; });
        if (it == out.legend_entries.end()) {
          out.legend_entries.push_back({s.label, s.colour, s.dashed ? Marker::none : s.marker, s.dashed, false, {}});
          it = std::prev(out.legend_entries.end());
        }
        it->error_bar = it->error_bar || std::any_of(s.err.begin(), s.err.end(), [](double v) { return v > 0; });
      }
  const double sample_w = 22, entry_gap = 16, pad = 6, row_h = m.line_height(kLegendSize) + 3;
  double width = std::max(grid_right + kMargin, 2 * kMargin);
  double bottom = grid_bottom;
  if (!out.legend_entries.empty()) {
    double entry_w = 0;
    for (const auto& e : out.legend_entries) entry_w = std::max(entry_w, sample_w + 5 + m.width(e.label, kLegendSize));
    width = std::max(width, entry_w + 2 * pad + 2 * kMargin);
    const int per_row = std::max(1, std::min(int(out.legend_entries.size()),
                                             int((width - 2 * kMargin - 2 * pad + entry_gap) / (entry_w + entry_gap))));
    const int legend_rows = (int(out.legend_entries.size()) + per_row - 1) / per_row;
    const double w = per_row * entry_w + (per_row - 1) * entry_gap + 2 * pad, h = legend_rows * row_h + 2 * pad - 3;
    out.legend = {std::round((width - w) / 2), bottom + 10, w, h};
    for (std::size_t i = 0; i < out.legend_entries.size(); ++i) {
      LegendEntry& e = out.legend_entries[i];
      const double x = out.legend.x + pad + double(i % std::size_t(per_row)) * (entry_w + entry_gap),
                   y = out.legend.y + pad + double(i / std::size_t(per_row)) * row_h;
      e.box = {x, y, entry_w, row_h - 3};
      PlacedText t = place_line(m, e.label, kLegendSize, false, x + sample_w + 5, y, 0);
      t.room = e.box;
      out.texts.push_back(t);
    }
    bottom = out.legend.bottom();
  }
  if (!fig.caption.empty()) {
    out.texts.push_back(place_line(m, fig.caption, kCaptionSize, false, kMargin, bottom + 8, 0));
    bottom += 8 + m.line_height(kCaptionSize);
  }
  for (const auto& t : out.texts) width = std::max(width, t.ink.right() + kMargin);
  out.width = std::ceil(width);
  out.height = std::ceil(bottom + kMargin);
  for (auto& t : out.texts)
    if (t.room.w == 0) t.room = {kMargin, kMargin, out.width - 2 * kMargin, out.height - 2 * kMargin};
  return out;
}

// ---- drawing ------------------------------------------------------------------------------------------

namespace {

void set_colour(cairo_t* cr, const Colour& c) { cairo_set_source_rgb(cr, c.r, c.g, c.b); }

void marker_path(cairo_t* cr, Marker marker, double x, double y, double r) {
  switch (marker) {
    case Marker::circle: cairo_new_sub_path(cr); cairo_arc(cr, x, y, r, 0, 2 * M_PI); break;
    case Marker::square: cairo_rectangle(cr, x - 0.88 * r, y - 0.88 * r, 1.76 * r, 1.76 * r); break;
    case Marker::triangle:
    case Marker::triangle_down: {
      const double s = marker == Marker::triangle ? 1 : -1;
      cairo_move_to(cr, x, y - s * 1.25 * r);
      cairo_line_to(cr, x + 1.1 * r, y + s * 0.7 * r);
      cairo_line_to(cr, x - 1.1 * r, y + s * 0.7 * r);
      cairo_close_path(cr);
      break;
    }
    case Marker::diamond:
      cairo_move_to(cr, x, y - 1.25 * r);
      cairo_line_to(cr, x + r, y);
      cairo_line_to(cr, x, y + 1.25 * r);
      cairo_line_to(cr, x - r, y);
      cairo_close_path(cr);
      break;
    case Marker::none: break;
  }
}

void line(cairo_t* cr, double x0, double y0, double x1, double y1) {
  cairo_move_to(cr, x0, y0);
  cairo_line_to(cr, x1, y1);
  cairo_stroke(cr);
}

constexpr double kSeriesWidth = 1.3, kMarkerRadius = 2.4, kCap = 2.2;
const double kDash[2] = {4.0, 2.5};

void draw_plot(cairo_t* cr, const PlotPanel& p, const PanelLayout& L) {
  const Box& a = L.area;
  cairo_set_line_width(cr, 0.5);
  set_colour(cr, kGridLine);
  for (double y : L.y_ticks) line(cr, a.x, y, a.right(), y);
  cairo_save(cr);
  cairo_rectangle(cr, a.x, a.y, a.w, a.h);
  cairo_clip(cr);
  auto usable_point = [&](const Series& s, std::size_t i) { return usable(p.x, s.x[i]) && usable(p.y, s.y[i]); };
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  for (const Series& s : p.series) {
    set_colour(cr, s.colour);
    cairo_set_line_width(cr, kSeriesWidth);
    if (s.dashed) cairo_set_dash(cr, kDash, 2, 0);
    bool open = false;
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!usable_point(s, i)) { open = false; continue; }
      if (open) cairo_line_to(cr, L.to_x(s.x[i]), L.to_y(s.y[i]));
      else cairo_move_to(cr, L.to_x(s.x[i]), L.to_y(s.y[i]));
      open = true;
    }
    cairo_stroke(cr);
    cairo_set_dash(cr, nullptr, 0, 0);
    cairo_set_line_width(cr, 0.8);
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      const double e = err_of(s, i);
      if (!usable_point(s, i) || e == 0) continue;
      const double x = L.to_x(s.x[i]), hi = L.to_y(s.y[i] + e);
      const double lo = p.y.log && s.y[i] - e <= 0 ? a.bottom() + 5 : L.to_y(s.y[i] - e);
      line(cr, x, hi, x, lo);
      line(cr, x - kCap, hi, x + kCap, hi);
      line(cr, x - kCap, lo, x + kCap, lo);
    }
    if (s.dashed || s.marker == Marker::none) continue;
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!usable_point(s, i)) continue;
      marker_path(cr, s.marker, L.to_x(s.x[i]), L.to_y(s.y[i]), kMarkerRadius);
      set_colour(cr, s.colour);
      cairo_fill_preserve(cr);
      cairo_set_source_rgb(cr, 1, 1, 1);
      cairo_set_line_width(cr, 0.5);
      cairo_stroke(cr);
    }
  }
  cairo_restore(cr);
  set_colour(cr, kInk);
  cairo_set_line_width(cr, 0.8);
  cairo_set_line_cap(cr, CAIRO_LINE_CAP_SQUARE);
  line(cr, a.x, a.y, a.x, a.bottom());
  line(cr, a.x, a.bottom(), a.right(), a.bottom());
  cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
  cairo_set_line_width(cr, 0.6);
  for (double x : L.x_ticks) line(cr, x, a.bottom(), x, a.bottom() + kTickLength);
  for (double y : L.y_ticks) line(cr, a.x, y, a.x - kTickLength, y);
}

// Cells as rectangles (crisp in every format); more than 4096 cells (an image) as one bitmap drawn
// with nearest-neighbour sampling, which PDF viewers honour.
void draw_grid(cairo_t* cr, const GridPanel& g, const PanelLayout& L) {
  const Box& a = L.area;
  const double span = g.hi > g.lo ? g.hi - g.lo : 1, cw = a.w / g.columns, ch = a.h / g.rows;
  auto colour_of = [&](double v) { return std::isnan(v) ? kEmptyCell : viridis((v - g.lo) / span); };
  auto top_of_row = [&](int r) { return g.image() ? a.y + r * ch : a.bottom() - (r + 1) * ch; };
  if (g.rows * g.columns <= 4096) {
    for (int r = 0; r < g.rows; ++r)
      for (int q = 0; q < g.columns; ++q) {
        set_colour(cr, colour_of(g.values[std::size_t(r) * std::size_t(g.columns) + std::size_t(q)]));
        // A hair wider than the cell, so that anti-aliasing leaves no seams between neighbours.
        cairo_rectangle(cr, a.x + q * cw, top_of_row(r), cw + (q + 1 < g.columns ? 0.3 : 0), ch + (r > 0 ? 0.3 : 0));
        cairo_fill(cr);
      }
  } else {
    cairo_surface_t* img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, g.columns, g.rows);
    cairo_surface_flush(img);
    unsigned char* data = cairo_image_surface_get_data(img);
    const int stride = cairo_image_surface_get_stride(img);
    for (int r = 0; r < g.rows; ++r) {
      const int row = g.image() ? r : g.rows - 1 - r;
      auto* px = reinterpret_cast<std::uint32_t*>(data + std::size_t(row) * std::size_t(stride));
      for (int q = 0; q < g.columns; ++q) {
        const Colour c = colour_of(g.values[std::size_t(r) * std::size_t(g.columns) + std::size_t(q)]);
        px[q] = (std::uint32_t(std::lround(c.r * 255)) << 16) | (std::uint32_t(std::lround(c.g * 255)) << 8) |
                std::uint32_t(std::lround(c.b * 255));
      }
    }
    cairo_surface_mark_dirty(img);
    cairo_save(cr);
    cairo_translate(cr, a.x, a.y);
    cairo_scale(cr, cw, ch);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_rectangle(cr, 0, 0, g.columns, g.rows);
    cairo_fill(cr);
    cairo_restore(cr);
    cairo_surface_destroy(img);
  }
  set_colour(cr, kInk);
  cairo_set_line_width(cr, 0.6);
  cairo_rectangle(cr, a.x, a.y, a.w, a.h);
  cairo_stroke(cr);
  for (double x : L.x_ticks) line(cr, x, a.bottom(), x, a.bottom() + kTickLength);
  for (double y : L.y_ticks) line(cr, a.x, y, a.x - kTickLength, y);
  // The colour bar: a vertical gradient, high at the top.
  const Box& b = L.bar;
  cairo_pattern_t* grad = cairo_pattern_create_linear(0, b.bottom(), 0, b.y);
  for (int k = 0; k <= 16; ++k) {
    const Colour c = viridis(k / 16.0);
    cairo_pattern_add_color_stop_rgb(grad, k / 16.0, c.r, c.g, c.b);
  }
  cairo_set_source(cr, grad);
  cairo_rectangle(cr, b.x, b.y, b.w, b.h);
  cairo_fill(cr);
  cairo_pattern_destroy(grad);
  set_colour(cr, kInk);
  cairo_rectangle(cr, b.x, b.y, b.w, b.h);
  cairo_stroke(cr);
  const double lo = g.lo, hi = g.hi > g.lo ? g.hi : g.lo + 1;
  for (double v : linear_ticks(lo, hi, kBarIntervals, false).values) {
    const double y = b.bottom() - (v - lo) / (hi - lo) * b.h;
    line(cr, b.right(), y, b.right() + kTickLength, y);
  }
}

void draw_legend_sample(cairo_t* cr, const LegendEntry& e) {
  const double x0 = e.box.x, x1 = e.box.x + 22, y = e.box.y + e.box.h / 2;
  set_colour(cr, e.colour);
  cairo_set_line_width(cr, kSeriesWidth);
  if (e.dashed) cairo_set_dash(cr, kDash, 2, 0);
  line(cr, x0, y, x1, y);
  cairo_set_dash(cr, nullptr, 0, 0);
  const double xm = (x0 + x1) / 2;
  if (e.error_bar) {
    cairo_set_line_width(cr, 0.8);
    line(cr, xm, y - 4.5, xm, y + 4.5);
    line(cr, xm - kCap, y - 4.5, xm + kCap, y - 4.5);
    line(cr, xm - kCap, y + 4.5, xm + kCap, y + 4.5);
  }
  if (e.marker == Marker::none) return;
  marker_path(cr, e.marker, xm, y, kMarkerRadius);
  cairo_fill_preserve(cr);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_set_line_width(cr, 0.5);
  cairo_stroke(cr);
}

void draw(cairo_t* cr, const Figure& fig, const FigureLayout& L) {
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  for (std::size_t k = 0; k < fig.panels.size(); ++k) {
    if (const PlotPanel* p = std::get_if<PlotPanel>(&fig.panels[k])) draw_plot(cr, *p, L.panels[k]);
    else draw_grid(cr, std::get<GridPanel>(fig.panels[k]), L.panels[k]);
  }
  if (!L.legend_entries.empty()) {
    cairo_set_source_rgb(cr, 0.75, 0.75, 0.75);
    cairo_set_line_width(cr, 0.6);
    cairo_rectangle(cr, L.legend.x, L.legend.y, L.legend.w, L.legend.h);
    cairo_stroke(cr);
    for (const auto& e : L.legend_entries) draw_legend_sample(cr, e);
  }
  set_colour(cr, kInk);
  for (const PlacedText& t : L.texts) {
    set_font(cr, t.size, t.bold);
    cairo_save(cr);
    cairo_move_to(cr, t.x, t.y);
    if (t.vertical) cairo_rotate(cr, -M_PI / 2);
    cairo_show_text(cr, t.text.c_str());
    cairo_restore(cr);
  }
}

cairo_status_t append_bytes(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

void check(cairo_status_t status, const std::string& path) {
  if (status != CAIRO_STATUS_SUCCESS) fail("cannot draw ", path, ": cairo says ", cairo_status_to_string(status));
}

// One format: draws onto `surface` (its bytes collected in `bytes`), then writes them atomically.
std::string render(const Figure& fig, const FigureLayout& L, const std::string& path, const std::string& format) {
  std::string bytes;
  cairo_surface_t* surface = nullptr;
  if (format == "pdf") surface = cairo_pdf_surface_create_for_stream(append_bytes, &bytes, L.width, L.height);
  else if (format == "svg") surface = cairo_svg_surface_create_for_stream(append_bytes, &bytes, L.width, L.height);
  else
    surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, int(std::lround(L.width * kPngScale)),
                                         int(std::lround(L.height * kPngScale)));
  std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> owned(surface, cairo_surface_destroy);
  check(cairo_surface_status(surface), path);
  {
    cairo_t* cr = cairo_create(surface);
    if (format == "png") cairo_scale(cr, kPngScale, kPngScale);
    draw(cr, fig, L);
    const cairo_status_t status = cairo_status(cr);
    cairo_destroy(cr);
    check(status, path);
  }
  if (format == "png") check(cairo_surface_write_to_png_stream(surface, append_bytes, &bytes), path);
  cairo_surface_finish(surface);
  check(cairo_surface_status(surface), path);
  nets::write_text_atomically(path, bytes);
  return path;
}

}  // namespace

std::vector<std::string> write_figure(const Figure& figure, const std::string& stem) {
  const FigureLayout layout = lay_out(figure);
  std::vector<std::string> written;
  for (const char* format : {"pdf", "svg", "png"}) written.push_back(render(figure, layout, stem + "." + format, format));
  return written;
}

}  // namespace ednn::io
