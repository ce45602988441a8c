// The figures infer and study draw (apps/pictures.h), checked on what a reader sees: the tick
// generator against hand-worked 1-2-5 cases, the three files and their signatures (PNG at twice the
// nominal size), a layout in which no text is cut or collides and the one legend stays clear of the
// panels, and pixels of the PNG, read back, where a marker, a line, a heat map's cells and its empty
// cell must be. With EDNN_PLOT_DIR set, the figures are left there to look at.
#include <doctest/doctest.h>

#include <cairo.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <tuple>

#include "apps/pictures.h"
#include "core/error.h"
#include "tests/test_helpers.h"

using namespace ednn;
using io::Colour;
namespace fs = std::filesystem;

namespace {

// The PNG read back through cairo; pixels as 0..255 channels.
class Png {
public:
  explicit Png(const fs::path& path) : s_(cairo_image_surface_create_from_png(path.c_str())) {
    REQUIRE(cairo_surface_status(s_) == CAIRO_STATUS_SUCCESS);
  }
  ~Png() { cairo_surface_destroy(s_); }
  Png(const Png&) = delete;
  Png& operator=(const Png&) = delete;
  int width() const { return cairo_image_surface_get_width(s_); }
  int height() const { return cairo_image_surface_get_height(s_); }
  std::array<int, 3> at(double x, double y) const {  // (x, y) in pixels
    const int px = int(x), py = int(y);
    REQUIRE(px >= 0);
    REQUIRE(py >= 0);
    REQUIRE(px < width());
    REQUIRE(py < height());
    const auto* row = cairo_image_surface_get_data(s_) + std::size_t(py) * std::size_t(cairo_image_surface_get_stride(s_));
    const std::uint32_t p = reinterpret_cast<const std::uint32_t*>(row)[px];
    return {int(p >> 16 & 255), int(p >> 8 & 255), int(p & 255)};
  }

private:
  cairo_surface_t* s_;
};

bool near(const std::array<int, 3>& pixel, const Colour& c, int tolerance = 3) {
  return std::abs(pixel[0] - int(std::lround(c.r * 255))) <= tolerance &&
         std::abs(pixel[1] - int(std::lround(c.g * 255))) <= tolerance &&
         std::abs(pixel[2] - int(std::lround(c.b * 255))) <= tolerance;
}

// How much of `c` over white a pixel holds (anti-aliasing blends a thin line with the paper): the
// least-squares a in pixel = 255 - a (255 - c), or -1 when the pixel is not such a blend.
double coverage(const std::array<int, 3>& pixel, const Colour& c) {
  double num = 0, den = 0, res = 0;
  const double ch[3] = {255 * c.r, 255 * c.g, 255 * c.b};
  for (int k = 0; k < 3; ++k) {
    num += (255 - pixel[std::size_t(k)]) * (255 - ch[k]);
    den += (255 - ch[k]) * (255 - ch[k]);
  }
  const double a = num / den;
  for (int k = 0; k < 3; ++k) res = std::max(res, std::abs(255 - a * (255 - ch[k]) - pixel[std::size_t(k)]));
  return res <= 4 ? a : -1;
}

fs::path plot_dir(const ednn::test::TempDir& tmp) {
  const char* keep = std::getenv("EDNN_PLOT_DIR");  // where to leave the figures for a person to look at
  const fs::path dir = keep ? fs::path(keep) : tmp.path;
  fs::create_directories(dir);
  return dir;
}

// Six panels of MAE-like curves, eight series with long labels, error bars and a dashed fit: the
// shape of the study's figures.
io::Figure busy_figure() {
  io::Figure f;
  f.title = "MAE against the number of sources, 1.25% of the training data";
  f.caption = "Mean ± standard deviation over 3 seeds; dashed: least-squares fit (R² = 0.93)";
  for (int region = 0; region < 6; ++region) {
    io::PlotPanel p;
    p.title = io::region_title(region);
    p.x = {"Number of sources n", false, true};
    p.y = {"MAE", false, false};
    for (int s = 0; s < 8; ++s) {
      io::Series series{"80E1 with a long description " + std::to_string(s), {}, {}, {}, io::series_colour(s),
                        io::series_marker(s)};
      for (int n = 1; n <= 20; ++n) {
        series.x.push_back(n);
        series.y.push_back(0.01 * (region + 1) + 0.004 * n + 0.002 * s);
        series.err.push_back(0.003);
      }
      p.series.push_back(series);
    }
    p.series.push_back({"fit", {1, 20}, {0.02, 0.1}, {}, io::series_colour(0), io::Marker::none, true});
    f.panels.push_back(p);
  }
  return f;
}

}  // namespace

TEST_CASE("pictures: series colours are Okabe-Ito's and cycle after 8; viridis runs purple to yellow") {
  CHECK(io::series_colour(0) == Colour{0, 114 / 255.0, 178 / 255.0});   // #0072B2 blue
  CHECK(io::series_colour(1) == Colour{213 / 255.0, 94 / 255.0, 0});     // #D55E00 vermillion
  CHECK(io::series_colour(6) == Colour{0, 0, 0});                        // black
  std::set<std::tuple<double, double, double>> distinct;
  for (int i = 0; i < 8; ++i) distinct.insert({io::series_colour(i).r, io::series_colour(i).g, io::series_colour(i).b});
  CHECK(distinct.size() == 8);
  CHECK(io::series_colour(9) == io::series_colour(1));
  CHECK(io::series_colour(-1) == io::series_colour(7));
  CHECK(io::viridis(0) == Colour{68 / 255.0, 1 / 255.0, 84 / 255.0});
  CHECK(io::viridis(1) == Colour{253 / 255.0, 231 / 255.0, 37 / 255.0});
  CHECK(io::viridis(2) == io::viridis(1));
  CHECK(io::viridis(NAN) == io::viridis(0));
}

TEST_CASE("pictures: ticks at 1-2-5 steps, worked by hand") {
  CHECK(io::nice_step(0.0349) == doctest::Approx(0.05));
  CHECK(io::nice_step(0.15) == doctest::Approx(0.2));
  CHECK(io::nice_step(3) == doctest::Approx(5));
  CHECK(io::nice_step(7) == doctest::Approx(10));
  CHECK(io::nice_step(0.1) == doctest::Approx(0.1));

  // 0.0123..0.187 over at most 5 intervals: 0.1747 / 5 = 0.035 -> 0.05, the axis widened to 0..0.2.
  io::Ticks t = io::linear_ticks(0.0123, 0.187);
  CHECK(t.step == doctest::Approx(0.05));
  CHECK(t.lo == doctest::Approx(0));
  CHECK(t.hi == doctest::Approx(0.2));
  REQUIRE(t.values.size() == 5);
  for (std::size_t k = 0; k < 5; ++k) CHECK(t.values[k] == doctest::Approx(0.05 * double(k)));
  // The old axis's top, 1.1 x 0.2236 = 0.2459, divided in fifths gave ticks at 0.0492: now 0.05 steps to 0.25.
  t = io::linear_ticks(0, 0.2459);
  CHECK(t.step == doctest::Approx(0.05));
  CHECK(t.hi == doctest::Approx(0.25));
  // Not widened (x axes, colour bars): the multiples inside. 1..20 over at most 6 intervals: step 5.
  t = io::linear_ticks(1, 20, 6, false);
  CHECK(t.step == 5);
  CHECK(t.values == std::vector<double>{5, 10, 15, 20});
  t = io::linear_ticks(0.62, 1, 4, false);  // a row-normalised heat map's colour bar
  CHECK(t.step == doctest::Approx(0.1));
  CHECK(t.values.front() == doctest::Approx(0.7));
  CHECK(t.values.back() == doctest::Approx(1.0));
  // One value: a range around it.
  t = io::linear_ticks(3, 3);
  CHECK(t.lo < 3);
  CHECK(t.hi > 3);

  CHECK(io::tick_text(0.1, 0.05) == "0.10");
  CHECK(io::tick_text(0.15, 0.05) == "0.15");
  CHECK(io::tick_text(1e-17, 0.05) == "0.00");
  CHECK(io::tick_text(-0.5, 0.5) == "\u22120.5");
  CHECK(io::tick_text(15, 5) == "15");
  CHECK(io::decade_text(0) == "1");
  CHECK(io::decade_text(3) == "1000");
  CHECK(io::decade_text(4) == "10\u2074");
  CHECK(io::decade_text(-1) == "0.1");
  CHECK(io::decade_text(-2) == "0.01");
  CHECK(io::decade_text(-3) == "10\u207b\u00b3");
  CHECK(io::number_text(0.012345) == "0.0123");
  CHECK(io::number_text(1.234e-5) == "1.2\u00d710\u207b\u2075");
  CHECK(io::number_text(-2) == "\u22122");
}

TEST_CASE("pictures: a figure is written as PDF, SVG and PNG, the PNG at twice the nominal size") {
  const ednn::test::TempDir tmp("pictures_files");
  const fs::path dir = plot_dir(tmp);
  const io::Figure fig = busy_figure();
  const auto written = io::write_figure(fig, (dir / "busy").string());
  REQUIRE(written.size() == 3);
  CHECK(written[0] == (dir / "busy.pdf").string());
  CHECK(ednn::test::read_bytes(dir / "busy.pdf").substr(0, 5) == "%PDF-");
  const std::string svg = ednn::test::read_bytes(dir / "busy.svg");
  CHECK(svg.find("<svg") < 200);
  CHECK(svg.find("</svg>") != std::string::npos);
  const std::string png = ednn::test::read_bytes(dir / "busy.png");
  REQUIRE(png.size() > 24);
  CHECK(png.substr(0, 8) == "\x89PNG\r\n\x1a\n");
  const io::FigureLayout L = io::lay_out(fig);
  auto be32 = [&](std::size_t at) {
    return (std::uint32_t(std::uint8_t(png[at])) << 24) | (std::uint32_t(std::uint8_t(png[at + 1])) << 16) |
           (std::uint32_t(std::uint8_t(png[at + 2])) << 8) | std::uint32_t(std::uint8_t(png[at + 3]));
  };
  CHECK(be32(16) == std::uint32_t(2 * L.width));  // IHDR: width, height
  CHECK(be32(20) == std::uint32_t(2 * L.height));
  // The PDF's page is the nominal size in points.
  const std::string pdf = ednn::test::read_bytes(dir / "busy.pdf");
  CHECK(pdf.find("/MediaBox [ 0 0 " + std::to_string(int(L.width)) + " " + std::to_string(int(L.height)) + " ]") !=
        std::string::npos);
  for (const auto& f : fs::directory_iterator(dir)) CHECK(f.path().extension() != ".tmp");  // no temporaries left

  // An unwritable destination: an error naming it.
  std::ofstream(dir / "plain_file") << "x";
  CHECK_THROWS_WITH_AS(io::write_figure(fig, (dir / "plain_file" / "f").string()),
                       doctest::Contains((dir / "plain_file" / "f.pdf").string().c_str()), Error);
}

TEST_CASE("pictures: one legend outside the panels; no text is cut, none collides, none covers data") {
  const io::Figure fig = busy_figure();
  const io::FigureLayout L = io::lay_out(fig);
  const io::Box page{0, 0, L.width, L.height};
  // Nine distinct labels (eight series and the fit), once each, though six panels draw them.
  REQUIRE(L.legend_entries.size() == 9);
  CHECK(L.legend_entries[8].dashed);
  CHECK(L.legend_entries[0].error_bar);
  CHECK(page.contains(L.legend));
  REQUIRE(L.panels.size() == 6);
  for (const auto& p : L.panels) {
    CHECK_FALSE(L.legend.overlaps(p.outer));
    CHECK(p.outer.contains(p.area));
  }
  for (std::size_t a = 0; a < L.panels.size(); ++a)
    for (std::size_t b = a + 1; b < L.panels.size(); ++b) CHECK_FALSE(L.panels[a].outer.overlaps(L.panels[b].outer));
  for (const auto& e : L.legend_entries) CHECK(L.legend.contains(e.box));
  // Every text inside its room and the page (cairo's extents); no two overlap; none on a data area.
  int tick_labels = 0;
  for (std::size_t i = 0; i < L.texts.size(); ++i) {
    const io::PlacedText& t = L.texts[i];
    CAPTURE(t.text);
    CHECK(t.ink.w > 0);
    CHECK(t.room.contains(t.ink));
    CHECK(page.contains(t.room));
    for (std::size_t j = i + 1; j < L.texts.size(); ++j) {
      CAPTURE(L.texts[j].text);
      CHECK_FALSE(t.ink.overlaps(L.texts[j].ink));
    }
    for (const auto& p : L.panels) CHECK_FALSE(t.ink.overlaps(p.area));
    tick_labels += t.text == "0.05" || t.text == "0.10";
  }
  CHECK(tick_labels > 0);  // 1-2-5 labels on the MAE axes
  // The y-axis label reads upwards, left of the tick labels.
  const auto mae = std::find_if(L.texts.begin(), L.texts.end(), [](const io::PlacedText& t) { return t.text == "MAE"; });
  REQUIRE(mae != L.texts.end());
  CHECK(mae->vertical);
  CHECK(mae->ink.h > mae->ink.w);
}

TEST_CASE("pictures: a marker, a line and error bars land where their values map, in the PNG") {
  const ednn::test::TempDir tmp("pictures_pixels");
  const fs::path dir = plot_dir(tmp);
  io::Figure fig;
  fig.columns = 1;
  io::PlotPanel p;
  p.title = "Pixels";
  p.x = {"x", false, false};
  p.y = {"y", false, false};
  const Colour blue = io::series_colour(0), red = io::series_colour(1);
  p.series.push_back({"line", {0, 1}, {0.5, 0.5}, {}, blue, io::Marker::square});
  p.series.push_back({"bar", {0.5}, {0.2}, {0.1}, red, io::Marker::circle});
  fig.panels.push_back(p);
  io::write_figure(fig, (dir / "pixels").string());
  const io::FigureLayout L = io::lay_out(fig);
  const io::PanelLayout& P = L.panels[0];
  const Png png(dir / "pixels.png");
  const double s = io::kPngScale;
  CHECK(near(png.at(s * P.to_x(0), s * P.to_y(0.5)), blue));      // the first marker
  CHECK(near(png.at(s * P.to_x(0.25), s * P.to_y(0.5)), blue));   // the line between the markers
  CHECK(near(png.at(s * P.to_x(0.25), s * P.to_y(0.5) + 4 * s), {1, 1, 1}));  // 4 points below it: white
  CHECK(near(png.at(s * P.to_x(0.5), s * P.to_y(0.2)), red));     // the second series' marker
  // Its bar, 0.8 points (1.6 pixels) wide, above and below the marker: the two pixel columns
  // nearest its centre hold 1.6 pixels of red between them.
  for (double y : {0.27, 0.13}) {
    const double x = s * P.to_x(0.5), py = s * P.to_y(y);
    const double left = coverage(png.at(std::floor(x - 0.5), py), red), right = coverage(png.at(std::floor(x + 0.5), py), red);
    CAPTURE(y);
    CHECK(left >= 0);
    CHECK(right >= 0);
    CHECK(left + right == doctest::Approx(1.6).epsilon(0.05));
  }
  CHECK(near(png.at(s * P.to_x(0.5), s * P.to_y(0.35)), {1, 1, 1}));  // beyond y + err: nothing
  // The legend's samples: the line's colour in its entry, left of its label.
  const io::LegendEntry& e = L.legend_entries[0];
  CHECK(near(png.at(s * (e.box.x + 2), s * (e.box.y + e.box.h / 2)), blue));
}

TEST_CASE("pictures: a log axis puts decades evenly and labels them; x <= 0 is left out") {
  io::Figure fig;
  io::PlotPanel p;
  p.x = {"Training samples", true, false};
  p.y = {"MAE", false, false};
  p.series.push_back({"", {-1, 0, 20, 200, 1600}, {1, 1, 0.5, 0.3, 0.2}, {}, io::series_colour(0)});
  fig.panels.push_back(p);
  const io::FigureLayout L = io::lay_out(fig);
  const io::PanelLayout& P = L.panels[0];
  CHECK(P.to_x(200) - P.to_x(20) == doctest::Approx(P.to_x(2000) - P.to_x(200)));
  CHECK(P.area.contains({P.to_x(20), P.area.y, 0, 0}));
  CHECK(P.area.contains({P.to_x(1600), P.area.y, 0, 0}));
  // The y axis spans only the usable points (0.2..0.5), not the 1 of x <= 0.
  CHECK(P.y_hi < 0.8);
  std::set<std::string> labels;
  for (const auto& t : L.texts) labels.insert(t.text);
  CHECK(labels.count("100"));
  CHECK(labels.count("1000"));
  // Tick marks at 20, 30, ..., 90, 100, 200 ... : 100 and 1000 among them.
  auto has_tick = [&](double v) {
    return std::any_of(P.x_ticks.begin(), P.x_ticks.end(), [&](double x) { return std::abs(x - P.to_x(v)) < 1e-6; });
  };
  CHECK(has_tick(100));
  CHECK(has_tick(1000));
  CHECK(has_tick(30));
}

TEST_CASE("pictures: a heat map puts row 0 at the bottom in viridis, empty cells grey, with a colour bar") {
  const ednn::test::TempDir tmp("pictures_heat");
  const fs::path dir = plot_dir(tmp);
  io::GridPanel g;
  g.title = "Heat";
  g.x_label = "Trained on P sources";
  g.y_label = "Tested on M";
  g.bar_label = "MAE / row maximum";
  g.rows = 3;
  g.columns = 4;
  g.x_ticks = {"1", "2", "3", "4"};
  g.y_ticks = {"1", "2", "3"};
  g.lo = 0;
  g.hi = 11;
  for (int r = 0; r < 3; ++r)
    for (int q = 0; q < 4; ++q) g.values.push_back(r == 1 && q == 1 ? NAN : r * 4 + q);
  io::Figure fig;
  fig.panels.push_back(g);
  io::write_figure(fig, (dir / "heat").string());
  const io::FigureLayout L = io::lay_out(fig);
  const io::PanelLayout& P = L.panels[0];
  const Png png(dir / "heat.png");
  const double s = io::kPngScale, cw = P.area.w / 4, ch = P.area.h / 3;
  CHECK(cw == doctest::Approx(ch));  // square cells
  auto centre = [&](int r, int q) { return png.at(s * (P.area.x + (q + 0.5) * cw), s * (P.area.bottom() - (r + 0.5) * ch)); };
  CHECK(near(centre(0, 0), io::viridis(0)));
  CHECK(near(centre(0, 3), io::viridis(3 / 11.0)));
  CHECK(near(centre(2, 3), io::viridis(1)));
  CHECK(near(centre(1, 1), {0.85, 0.85, 0.85}));  // the empty cell
  // The colour bar: high at the top, low at the bottom, right of the cells.
  CHECK(P.bar.x > P.area.right());
  for (double depth : {1.5, P.bar.h / 2, P.bar.h - 1.5}) {  // points below the bar's top
    CAPTURE(depth);
    CHECK(near(png.at(s * (P.bar.x + P.bar.w / 2), s * (P.bar.y + depth)), io::viridis(1 - depth / P.bar.h), 6));
  }
  std::set<std::string> labels;
  for (const auto& t : L.texts) labels.insert(t.text);
  for (const char* v : {"0", "5", "10"}) CHECK(labels.count(v));  // the bar's values, 1-2-5 steps

  // Shapes that do not match are errors naming the figure and what was expected.
  g.values.pop_back();
  io::Figure bad;
  bad.title = "bad";
  bad.panels.push_back(g);
  CHECK_THROWS_WITH_AS(io::lay_out(bad), doctest::Contains("3 x 4 cells need 12 values, got 11"), Error);
  io::PlotPanel uneven;
  uneven.series.push_back({"s", {1, 2}, {1}, {}, io::series_colour(0)});
  bad.panels = {uneven};
  CHECK_THROWS_WITH_AS(io::lay_out(bad), doctest::Contains("series 's' has 2 x, 1 y"), Error);
}

TEST_CASE("pictures: an image panel keeps its rows top-down at the PNG's resolution") {
  const ednn::test::TempDir tmp("pictures_image");
  const fs::path dir = plot_dir(tmp);
  const int n = 100;  // 10,000 cells: drawn as one bitmap
  io::GridPanel g;
  g.title = "Prediction";
  g.rows = g.columns = n;
  g.lo = 0;
  g.hi = 1;
  for (int r = 0; r < n; ++r)
    for (int q = 0; q < n; ++q) g.values.push_back(r < n / 2 ? 1.0 : 0.0);  // top half high
  io::Figure fig;
  fig.panels.push_back(g);
  io::write_figure(fig, (dir / "image").string());
  const io::PanelLayout P = io::lay_out(fig).panels[0];
  const Png png(dir / "image.png");
  const double s = io::kPngScale;
  CHECK(near(png.at(s * (P.area.x + P.area.w / 2), s * (P.area.y + P.area.h / 4)), io::viridis(1)));
  CHECK(near(png.at(s * (P.area.x + P.area.w / 2), s * (P.area.y + 3 * P.area.h / 4)), io::viridis(0)));
}
