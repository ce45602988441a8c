// Pictures without a plotting library: an RGB canvas, a colour map, a 5x7 bitmap font, PNG output
// through libpng, and the two figures infer draws (the paper's Fig. 1 panel and MAE-vs-n plots).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace ednn::io {

using Rgb = std::array<std::uint8_t, 3>;

// The viridis colour map at t in [0, 1] (clamped), interpolated from 9 anchors.
Rgb viridis(double t);

class Canvas {
public:
  Canvas(int width, int height, Rgb background = {255, 255, 255});
  int width() const { return w_; }
  int height() const { return h_; }
  void set(int x, int y, Rgb c);  // ignores pixels outside
  Rgb get(int x, int y) const;
  void fill_rect(int x, int y, int w, int h, Rgb c);
  void line(int x0, int y0, int x1, int y1, Rgb c);
  // Text in the 5x7 font at `scale`: digits, letters (drawn upper case), space and . - + | = : / ( ) % , _ ^
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

// A line plot of y against x (several series), axes with ticks and labels, and a legend.
struct Series {
  std::string label;
  std::vector<double> x, y;  // NaN y values are skipped
  Rgb colour;
};
Canvas draw_plot(const std::vector<Series>& series, const std::string& title, const std::string& x_label,
                 const std::string& y_label);

// Short number text for axes and colour bars: "0.05", "1.2e-03".
std::string short_number(double v);

}  // namespace ednn::io
