// Pictures without a plotting library: an RGB canvas, a colour map, a 5x7 bitmap font, PNG output
// through libpng, and the figures the programs draw: infer's Fig. 1 panels and MAE-vs-n plots, and
// study's line plots with error bars, heat maps and grids of panels.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace ednn::io {

using Rgb = std::array<std::uint8_t, 3>;

// The viridis colour map at t in [0, 1] (clamped), interpolated from 9 anchors.
Rgb viridis(double t);

// The 10 colours of matplotlib's "tab10" cycle; i wraps around (palette(10) == palette(0)).
Rgb palette(int i);

class Canvas {
public:
  Canvas(int width, int height, Rgb background = {255, 255, 255});
  int width() const { return w_; }
  int height() const { return h_; }
  void set(int x, int y, Rgb c);  // ignores pixels outside
  Rgb get(int x, int y) const;
  void fill_rect(int x, int y, int w, int h, Rgb c);
  void line(int x0, int y0, int x1, int y1, Rgb c);
  // Copies src with its top-left corner at (x, y); pixels that fall outside are dropped.
  void blit(const Canvas& src, int x, int y);
  // Text in the 5x7 font at `scale`, (x, y) its top-left corner: digits, letters (drawn upper
  // case), space and . , : ; - + = _ ^ ~ | / ( ) [ ] { } < > % * # ! ? & ' "
  void text(int x, int y, const std::string& s, Rgb c, int scale = 1);
  static int text_width(const std::string& s, int scale = 1) { return int(s.size()) * 6 * scale; }
  // Writes an 8-bit RGB PNG; throws ednn::Error naming the file when it cannot.
  void write_png(const std::string& path) const;

private:
  int w_, h_;
  std::vector<std::uint8_t> rgb_;
};

// One panel per image, side by side, each with a title, the image in `viridis` scaled to at least
// 256 pixels, and a colour bar with its min and max. Images are [L, L] row-major.
struct PanelImage {
  std::string title;
  const float* values;
  double lo, hi;  // colour range
};
Canvas draw_panels(const std::vector<PanelImage>& images, int L, const std::string& caption);

// A line plot of y against x (several series), axes with ticks and labels, and a legend. The y
// axis starts at 0 and reaches past the highest y + err.
struct Series {
  std::string label;         // empty: no legend entry
  std::vector<double> x, y;  // NaN y values are skipped
  Rgb colour;
  std::vector<double> err = {};  // empty, or one per y: an error bar from y - err to y + err
  bool dashed = false;           // a dashed line without point markers (a fitted line)
};
struct PlotStyle {
  bool log_x = false;     // log10 x axis, ticks at 1, 2 and 5 x 10^k; points with x <= 0 are skipped
  bool integer_x = true;  // linear x axis with integer ticks (x counts sources); false: 1-2-5 ticks
  int width = 640;
  int height = 420;
};
Canvas draw_plot(const std::vector<Series>& series, const std::string& title, const std::string& x_label,
                 const std::string& y_label, const PlotStyle& style = {});

// A grid of values in `viridis` with its row and column labels, a colour bar, axis labels and a
// title. Row 0 is drawn at the bottom (y grows upwards); cells are square, 14 to 40 pixels. Column
// labels that do not fit under their cell are drawn rotated, reading upwards.
struct HeatMap {
  std::string title, x_label, y_label;
  std::vector<std::string> x_ticks, y_ticks;  // column and row labels: their counts give the shape
  std::vector<double> values;                 // [rows, columns] row-major; NaN: an empty cell (light grey)
  double lo = 0, hi = 1;                      // colour range
};
Canvas draw_heatmap(const HeatMap& map);

// Panels left to right, top to bottom, `columns` to a row, each column as wide as its widest panel
// and each row as high as its highest, with a gap of 10 pixels around and between them, under a
// 36-pixel band holding `title` in scale-2 text. White background.
Canvas compose_grid(const std::vector<Canvas>& panels, int columns, const std::string& title);

// Short number text for axes and colour bars: "0.05", "1.2e-03".
std::string short_number(double v);

}  // namespace ednn::io
