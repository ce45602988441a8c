// The figures the programs draw, checked by finding their pixels: where a log axis puts its points,
// how far an error bar reaches, where a heat map puts its first cell and in which colour, how a
// grid of panels is laid out; and the font and palette they use. With EDNN_PLOT_DIR set, the last
// case also leaves one example of each figure there to look at.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "apps/pictures.h"
#include "tests/test_helpers.h"

using namespace ednn;
using io::Canvas;
using io::Rgb;

namespace {

const Rgb black{0, 0, 0}, white{255, 255, 255}, grey{220, 220, 220};

// The lowest row holding `colour` (-1 when none).
int bottom_row(const Canvas& c, Rgb colour) {
  for (int y = c.height() - 1; y >= 0; --y)
    for (int x = 0; x < c.width(); ++x)
      if (c.get(x, y) == colour) return y;
  return -1;
}

// The centres of the runs of `colour` along `row`, left to right.
std::vector<double> run_centres(const Canvas& c, int row, Rgb colour) {
  std::vector<double> centres;
  for (int x = 0; x < c.width(); ++x) {
    if (c.get(x, row) != colour) continue;
    const int start = x;
    while (x + 1 < c.width() && c.get(x + 1, row) == colour) ++x;
    centres.push_back((start + x) / 2.0);
  }
  return centres;
}

// The column holding most pixels of `colour`, with the first and last row it holds it in.
struct ColumnSpan {
  int x = -1, first = -1, last = -1;
};
ColumnSpan tallest_column(const Canvas& c, Rgb colour) {
  ColumnSpan best;
  int best_count = 0;
  for (int x = 0; x < c.width(); ++x) {
    ColumnSpan s{x};
    int count = 0;
    for (int y = 0; y < c.height(); ++y)
      if (c.get(x, y) == colour) {
        if (s.first < 0) s.first = y;
        s.last = y;
        ++count;
      }
    if (count > best_count) best = s, best_count = count;
  }
  return best;
}

// The x positions of the tick marks under the x axis: the longest black horizontal run.
std::vector<double> x_tick_columns(const Canvas& c) {
  int axis = 0, start = 0, length = 0;
  for (int y = 0; y < c.height(); ++y)
    for (int x = 0; x < c.width(); ++x) {
      int end = x;
      while (end < c.width() && c.get(end, y) == black) ++end;
      if (end - x > length) axis = y, start = x, length = end - x;
      x = end;
    }
  std::vector<double> ticks;
  for (double x : run_centres(c, axis + 2, black))
    if (x >= start && x < start + length) ticks.push_back(x);
  return ticks;
}

// The rows of `colour` in column x: first and last of the run that holds `inside` (inclusive).
std::pair<int, int> column_run(const Canvas& c, int x, int inside, Rgb colour) {
  int a = inside, b = inside;
  while (a > 0 && c.get(x, a - 1) == colour) --a;
  while (b + 1 < c.height() && c.get(x, b + 1) == colour) ++b;
  return {a, b};
}

// The leftmost column holding `colour`, and the lowest row it holds it in there.
std::pair<int, int> leftmost(const Canvas& c, Rgb colour) {
  for (int x = 0; x < c.width(); ++x)
    for (int y = c.height() - 1; y >= 0; --y)
      if (c.get(x, y) == colour) return {x, y};
  return {-1, -1};
}

}  // namespace

TEST_CASE("pictures: palette is matplotlib's tab10 and cycles after 10") {
  CHECK(io::palette(0) == Rgb{31, 119, 180});   // #1f77b4
  CHECK(io::palette(1) == Rgb{255, 127, 14});   // #ff7f0e
  CHECK(io::palette(9) == Rgb{23, 190, 207});   // #17becf
  std::set<Rgb> distinct;
  for (int i = 0; i < 10; ++i) distinct.insert(io::palette(i));
  CHECK(distinct.size() == 10);
  for (int i = 0; i < 10; ++i) CHECK(io::palette(i + 10) == io::palette(i));
  CHECK(io::palette(23) == io::palette(3));
  CHECK(io::palette(-1) == io::palette(9));
}

TEST_CASE("pictures: every character of the font has its own glyph; lower case draws as upper case") {
  const std::string chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.,:;-+=_^~|/()[]{}<>%*#!?&'\"";
  std::set<std::vector<bool>> glyphs;
  for (char ch : chars) {
    Canvas c(6, 7);
    c.text(0, 0, std::string(1, ch), black);
    std::vector<bool> bits;
    for (int y = 0; y < 7; ++y)
      for (int x = 0; x < 6; ++x) bits.push_back(c.get(x, y) == black);
    CAPTURE(ch);
    CHECK(std::count(bits.begin(), bits.end(), true) > 0);
    glyphs.insert(bits);
  }
  CHECK(glyphs.size() == chars.size());
  Canvas lower(60, 7), upper(60, 7);
  lower.text(0, 0, "fit [a]", black);
  upper.text(0, 0, "FIT [A]", black);
  for (int y = 0; y < 7; ++y)
    for (int x = 0; x < 60; ++x) CHECK(lower.get(x, y) == upper.get(x, y));
}

TEST_CASE("pictures: a log x axis spaces 1, 10 and 100 evenly and skips x <= 0") {
  const Rgb red = io::palette(3);
  io::Series s{"mae", {-1, 0, 1, 10, 100}, {1, 1, 1, 1, 1}, red};
  io::PlotStyle style;
  style.log_x = true;
  const Canvas c = io::draw_plot({s}, "log", "n", "mae", style);
  // On a flat line the markers reach two rows below it; that row shows them alone.
  const std::vector<double> markers = run_centres(c, bottom_row(c, red), red);
  REQUIRE(markers.size() == 3);
  CHECK(markers[1] - markers[0] > 50);
  CHECK(markers[2] - markers[1] == doctest::Approx(markers[1] - markers[0]).epsilon(0.01));
  // Ticks at 1, 2, 5, 10, 20, 50, 100: the decades under the markers, 2 and 5 at log10(2), log10(5) of a decade.
  const std::vector<double> ticks = x_tick_columns(c);
  REQUIRE(ticks.size() == 7);
  const double decade = markers[1] - markers[0];
  CHECK(ticks[0] == doctest::Approx(markers[0]).epsilon(0.005));
  CHECK(ticks[3] == doctest::Approx(markers[1]).epsilon(0.005));
  CHECK(ticks[6] == doctest::Approx(markers[2]).epsilon(0.005));
  CHECK(ticks[1] - ticks[0] == doctest::Approx(std::log10(2.0) * decade).epsilon(0.02));
  CHECK(ticks[2] - ticks[0] == doctest::Approx(std::log10(5.0) * decade).epsilon(0.02));
}

TEST_CASE("pictures: linear x axes tick integers, or about 6 values 1-2-5 apart") {
  io::Series counts{"a", {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, std::vector<double>(10, 1.0), io::palette(0)};
  const std::vector<double> integer_ticks = x_tick_columns(io::draw_plot({counts}, "t", "x", "y"));
  CHECK(integer_ticks.size() == 10);

  io::Series fractions{"b", {0, 0.25, 0.5, 0.75, 1}, std::vector<double>(5, 1.0), io::palette(0)};
  io::PlotStyle style;
  style.integer_x = false;
  const std::vector<double> ticks = x_tick_columns(io::draw_plot({fractions}, "t", "x", "y", style));
  REQUIRE(ticks.size() == 6);  // 0, 0.2, ..., 1
  for (std::size_t k = 1; k < ticks.size(); ++k)
    CHECK(ticks[k] - ticks[k - 1] == doctest::Approx((ticks.back() - ticks.front()) / 5).epsilon(0.01));
}

TEST_CASE("pictures: error bars reach y - err and y + err, widen the y axis and stop at y = 0") {
  // Three single points: y = 1 and y = 2 give the scale; y = 1 +- 1.5 is the highest value and
  // reaches below the axis.
  const Rgb a = io::palette(0), b = io::palette(1), bar = io::palette(2);
  io::Series one{"one", {1}, {1}, a}, two{"two", {2}, {2}, b}, wide{"wide", {3}, {1}, bar, {1.5}};
  const Canvas c = io::draw_plot({one, two, wide}, "error bars", "x", "y");
  const ColumnSpan m1 = tallest_column(c, a), m2 = tallest_column(c, b), e = tallest_column(c, bar);
  const double row1 = (m1.first + m1.last) / 2.0, row2 = (m2.first + m2.last) / 2.0, unit = row1 - row2;
  REQUIRE(m1.last - m1.first == 4);  // a 5-pixel marker
  REQUIRE(unit > 50);
  CHECK(e.first == doctest::Approx(row1 - 1.5 * unit).epsilon(0.01));  // y + err = 2.5
  CHECK(e.last == doctest::Approx(row1 + unit).epsilon(0.01));         // clipped at y = 0
  CHECK(c.get(e.x - 3, e.first) == bar);                               // the cap at the top
  CHECK(c.get(e.x + 3, e.first) == bar);
  CHECK(c.get(e.x - 3, e.last) != bar);  // no cap where the bar was cut
  CHECK(e.first > 30);                   // below the title: the axis reaches past y + err
}

TEST_CASE("pictures: a dashed series has gaps and no markers") {
  const Rgb fit = io::palette(4);
  io::Series s{"fit", {1, 10}, {1, 1}, fit, {}, true};
  const Canvas c = io::draw_plot({s}, "dashed", "x", "y");
  const int row = bottom_row(c, fit);  // the lower of the line's two rows
  int first = c.width(), last = -1, drawn = 0;
  for (int x = 0; x < c.width(); ++x)
    if (c.get(x, row) == fit) first = std::min(first, x), last = std::max(last, x), ++drawn;
  REQUIRE(last > first + 100);
  CHECK(double(drawn) / (last - first + 1) == doctest::Approx(0.6).epsilon(0.05));
  CHECK(run_centres(c, row - 2, fit).empty());  // markers would reach two rows above the line
}

TEST_CASE("pictures: long legend labels and titles are cut to fit the canvas") {
  const std::string long_text(120, 'w');
  io::Series s{long_text, {1, 2}, {1, 2}, io::palette(0)};
  const Canvas c = io::draw_plot({s}, long_text, long_text, long_text);
  bool text_near_edge = false;
  for (int y = 0; y < c.height(); ++y) {
    for (int x = c.width() - 3; x < c.width(); ++x) CHECK(c.get(x, y) == white);
    for (int x = c.width() - 30; x < c.width() - 3; ++x) text_near_edge |= c.get(x, y) == black;
  }
  CHECK(text_near_edge);  // the legend is cut, not left out
}

TEST_CASE("pictures: a heat map draws row 0 at the bottom, in viridis, empty cells grey") {
  // 3 rows x 4 columns, value r * 4 + q + 1 (all distinct colours); (row 1, column 1) is empty.
  io::HeatMap m{"map", "column", "row", {"a", "b", "c", "d"}, {"0", "1", "2"}, {}, 0, 13};
  for (int r = 0; r < 3; ++r)
    for (int q = 0; q < 4; ++q) m.values.push_back(r == 1 && q == 1 ? NAN : r * 4 + q + 1);
  const Canvas c = io::draw_heatmap(m);
  auto colour = [&](int r, int q) { return io::viridis((r * 4 + q + 1) / 13.0); };

  const auto [x0, y_low] = leftmost(c, colour(0, 0));
  REQUIRE(x0 >= 0);
  const auto [top, bottom] = column_run(c, x0, y_low, colour(0, 0));
  const int side = bottom - top + 1;
  CHECK(side >= 14);
  int x1 = x0;
  while (x1 < c.width() && c.get(x1, top) != colour(0, 1)) ++x1;
  CHECK(x1 - x0 == side);  // square: (0, 1) starts one side further right
  CHECK(c.get(x0 + side - 1, bottom) == colour(0, 0));
  CHECK(c.get(x0, bottom + 1) == black);  // nothing below row 0 but the frame
  CHECK(c.get(x0 - 1, bottom) == black);  // nothing left of column 0 but the frame
  // Rows grow upwards: row 1 right above row 0, row 2 above row 1.
  CHECK(c.get(x0, top - 1) == colour(1, 0));
  CHECK(c.get(x0, top - side) == colour(1, 0));
  CHECK(c.get(x0, top - side - 1) == colour(2, 0));
  CHECK(c.get(x0 + 3 * side + side / 2, top - 2 * side + side / 2) == colour(2, 3));
  CHECK(c.get(x0 + side + side / 2, top - side + side / 2) == grey);  // the empty cell

  CHECK_THROWS_WITH_AS(io::draw_heatmap({"bad", "", "", {"a"}, {"0", "1"}, {1, 2, 3}}),
                       doctest::Contains("2 x 1 labels need 2 values, got 3"), Error);
}

TEST_CASE("pictures: a 20 x 20 heat map keeps cells of at least 14 pixels") {
  io::HeatMap m{"checkerboard", "q", "r", {}, {}, {}, 0, 1};
  for (int k = 0; k < 20; ++k) {
    m.x_ticks.push_back("1e-" + std::to_string(k));  // wider than a cell: drawn turned
    m.y_ticks.push_back(std::to_string(k));
  }
  for (int r = 0; r < 20; ++r)
    for (int q = 0; q < 20; ++q) m.values.push_back((r + q) % 2);
  const Canvas c = io::draw_heatmap(m);
  const auto [x0, y_low] = leftmost(c, io::viridis(0));
  const auto [top, bottom] = column_run(c, x0, y_low, io::viridis(0));
  CHECK(bottom - top + 1 >= 14);
  CHECK(c.get(x0 + bottom - top + 1, bottom) == io::viridis(1));  // (0, 1) beside (0, 0), one side on
  CHECK(c.width() <= 800);
  CHECK(c.height() <= 800);
}

TEST_CASE("pictures: compose_grid lays panels out in columns and rows with 10-pixel gaps") {
  const Rgb red{255, 0, 0}, blue{0, 0, 255}, green{0, 160, 0};
  const Canvas a(100, 50, red), b(80, 70, blue), d(60, 40, green);
  const Canvas g = io::compose_grid({a, b, d}, 2, "grid");
  // Columns 100 and 80 wide (the widest panel of each), rows 70 and 40 high, under a 36-pixel title band.
  CHECK(g.width() == 10 + 100 + 10 + 80 + 10);
  CHECK(g.height() == 36 + 70 + 10 + 40 + 10);
  CHECK(g.get(10, 36) == red);
  CHECK(g.get(10 + 99, 36 + 49) == red);
  CHECK(g.get(10 + 100, 36) == white);
  CHECK(g.get(10 + 99, 36 + 50) == white);
  CHECK(g.get(120, 36) == blue);
  CHECK(g.get(120 + 79, 36 + 69) == blue);
  CHECK(g.get(10, 116) == green);
  CHECK(g.get(10 + 59, 116 + 39) == green);
  CHECK(g.get(10 + 60, 116) == white);
  bool title_drawn = false;
  for (int y = 0; y < 36; ++y)
    for (int x = 0; x < g.width(); ++x) title_drawn |= g.get(x, y) == black;
  CHECK(title_drawn);

  // blit copies pixel for pixel and drops what falls outside.
  Canvas pattern(5, 5, red), target(10, 10);
  pattern.set(1, 3, blue);
  target.blit(pattern, 7, -2);
  CHECK(target.get(7, 0) == red);
  CHECK(target.get(9, 2) == red);
  CHECK(target.get(8, 1) == blue);  // pattern (1, 3)
  CHECK(target.get(6, 0) == white);
  CHECK(target.get(7, 3) == white);
}

#if EDNN_HAVE_PNG
TEST_CASE("pictures: one example of each figure, as PNG") {
  ednn::test::TempDir tmp("pictures");
  const char* keep = std::getenv("EDNN_PLOT_DIR");  // where to leave them for a person to look at
  const std::filesystem::path dir = keep ? std::filesystem::path(keep) : tmp.path;
  std::filesystem::create_directories(dir);

  std::vector<double> n, mae, err, fit;
  for (int k = 1; k <= 10; ++k) {
    n.push_back(k);
    mae.push_back(0.02 + 0.004 * k + 0.002 * std::sin(k));
    err.push_back(0.002 + 0.0005 * k);
    fit.push_back(0.02 + 0.004 * k);
  }
  const Canvas lines = io::draw_plot({{"ED-CNN (mean of 5 seeds)", n, mae, io::palette(0), err},
                                      {"fit: 0.02 + 0.004 n [R^2 = 0.97]", n, fit, io::palette(1), {}, true}},
                                     "MAE vs number of sources", "number of sources", "MAE");
  std::vector<double> size{100, 300, 1000, 3000, 10000, 30000}, loss, loss_err;
  for (double s : size) {
    loss.push_back(0.5 / std::sqrt(s));
    loss_err.push_back(0.1 / std::sqrt(s));
  }
  io::PlotStyle log_style;
  log_style.log_x = true;
  const Canvas log_lines = io::draw_plot({{"test MAE", size, loss, io::palette(2), loss_err},
                                          {"~ n^-0.5 (fitted)", size, loss, io::palette(3), {}, true}},
                                         "Scaling with training set size", "training samples", "MAE", log_style);
  io::HeatMap small{"MAE by learning rate and batch", "learning rate", "batch size", {}, {}, {}, 0.01, 0.05};
  for (const char* lr : {"1e-4", "3e-4", "1e-3", "3e-3", "1e-2"}) small.x_ticks.push_back(lr);
  for (const char* b : {"8", "16", "32", "64"}) small.y_ticks.push_back(b);
  for (int r = 0; r < 4; ++r)
    for (int q = 0; q < 5; ++q) small.values.push_back(r == 3 && q == 4 ? NAN : 0.01 + 0.002 * r + 0.004 * q);
  io::HeatMap big{"20 x 20 cells", "column", "row", {}, {}, {}, 0, 1};
  for (int k = 0; k < 20; ++k) {
    big.x_ticks.push_back(std::to_string(k));
    big.y_ticks.push_back(std::to_string(k));
  }
  for (int r = 0; r < 20; ++r)
    for (int q = 0; q < 20; ++q) big.values.push_back(r == q ? NAN : std::abs(r - q) / 19.0);
  const Canvas heat_small = io::draw_heatmap(small), heat_big = io::draw_heatmap(big);
  const Canvas grid = io::compose_grid({lines, log_lines, heat_small, heat_big}, 2, "Figure 3: all four");

  for (const auto& [name, canvas] : std::vector<std::pair<std::string, const Canvas*>>{
           {"plot.png", &lines}, {"plot_log.png", &log_lines}, {"heatmap.png", &heat_small},
           {"heatmap_20.png", &heat_big}, {"grid.png", &grid}}) {
    canvas->write_png((dir / name).string());
    CHECK(ednn::test::read_bytes(dir / name).substr(1, 3) == "PNG");
  }
}
#endif
