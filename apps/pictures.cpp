#include "apps/pictures.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#if EDNN_HAVE_PNG
#include <png.h>
#endif

#include "engine/error.h"

namespace ednn::io {

Rgb viridis(double t) {
  static const double a[9][3] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},  {44, 113, 142}, {33, 144, 141},
                                 {39, 173, 129}, {92, 200, 99},  {170, 220, 50}, {253, 231, 37}};
  if (!std::isfinite(t)) t = 0;
  t = std::clamp(t, 0.0, 1.0) * 8;
  const int i = std::min(7, int(t));
  const double f = t - i;
  Rgb c;
  for (int k = 0; k < 3; ++k) c[std::size_t(k)] = std::uint8_t(std::lround(a[i][k] + f * (a[i + 1][k] - a[i][k])));
  return c;
}

Canvas::Canvas(int w, int h, Rgb bg) : w_(w), h_(h), rgb_(std::size_t(w) * std::size_t(h) * 3) {
  for (std::size_t i = 0; i < rgb_.size(); i += 3) std::memcpy(&rgb_[i], bg.data(), 3);
}
void Canvas::set(int x, int y, Rgb c) {
  if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
  std::memcpy(&rgb_[(std::size_t(y) * std::size_t(w_) + std::size_t(x)) * 3], c.data(), 3);
}
Rgb Canvas::get(int x, int y) const {
  Rgb c{};
  std::memcpy(c.data(), &rgb_[(std::size_t(y) * std::size_t(w_) + std::size_t(x)) * 3], 3);
  return c;
}
void Canvas::fill_rect(int x, int y, int w, int h, Rgb c) {
  for (int j = y; j < y + h; ++j)
    for (int i = x; i < x + w; ++i) set(i, j, c);
}
void Canvas::line(int x0, int y0, int x1, int y1, Rgb c) {  // Bresenham
  const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  int err = dx + dy;
  for (;;) {
    set(x0, y0, c);
    if (x0 == x1 && y0 == y1) break;
    const int e2 = 2 * err;
    if (e2 >= dy) { err += dy; x0 += sx; }
    if (e2 <= dx) { err += dx; y0 += sy; }
  }
}

namespace {
// 5x7 glyphs, one string of 35 characters per glyph ('#' set), rows top to bottom.
const char* glyph(char ch) {
  switch (std::toupper(static_cast<unsigned char>(ch))) {
    case '0': return " ### #   ##  ### # ###  ##   # ### ";
    case '1': return "  #   ##    #    #    #    #   ### ";
    case '2': return " ### #   #    #   #   #   #   #####";
    case '3': return "#####   #   #     #     ##   # ### ";
    case '4': return "   #   ##  # # #  # #####   #    # ";
    case '5': return "######    ####     #    ##   # ### ";
    case '6': return "  ##  #   #    #### #   ##   # ### ";
    case '7': return "#####    #   #   #   #    #    #   ";
    case '8': return " ### #   ##   # ### #   ##   # ### ";
    case '9': return " ### #   ##   # ####    #   #  ##  ";
    case 'A': return " ### #   ##   #######   ##   ##   #";
    case 'B': return "#### #   ##   ##### #   ##   ##### ";
    case 'C': return " ### #   ##    #    #    #   # ### ";
    case 'D': return "###  #  # #   ##   ##   ##  # ###  ";
    case 'E': return "######    #    #### #    #    #####";
    case 'F': return "######    #    #### #    #    #    ";
    case 'G': return " ### #   ##    # ####   ##   # ####";
    case 'H': return "#   ##   ##   #######   ##   ##   #";
    case 'I': return " ###   #    #    #    #    #   ### ";
    case 'J': return "  ###   #    #    #    # #  #  ##  ";
    case 'K': return "#   ##  # # #  ##   # #  #  # #   #";
    case 'L': return "#    #    #    #    #    #    #####";
    case 'M': return "#   ### ### # ##   ##   ##   ##   #";
    case 'N': return "#   ##   ###  ## # ##  ###   ##   #";
    case 'O': return " ### #   ##   ##   ##   ##   # ### ";
    case 'P': return "#### #   ##   ##### #    #    #    ";
    case 'Q': return " ### #   ##   ##   ## # ##  #  ## #";
    case 'R': return "#### #   ##   ##### # #  #  # #   #";
    case 'S': return " ####    #     ###     #    #####  ";
    case 'T': return "#####  #    #    #    #    #    #  ";
    case 'U': return "#   ##   ##   ##   ##   ##   # ### ";
    case 'V': return "#   ##   ##   ##   ##   # # #   #  ";
    case 'W': return "#   ##   ##   ## # ## # ## # # # # ";
    case 'X': return "#   ##   # # #   #   # # #   ##   #";
    case 'Y': return "#   ##   # # #   #    #    #    #  ";
    case 'Z': return "#####    #   #   #   #   #    #####";
    case '.': return "                         ##   ##   ";
    case ',': return "                    ##   ##   #    ";
    case '-': return "               #####               ";
    case '+': return "       #    #  #####  #    #       ";
    case '|': return "  #    #    #    #    #    #    #  ";
    case '=': return "          #####     #####          ";
    case ':': return "      ##   ##         ##   ##      ";
    case '/': return "    #    #   #   #   #    #    #   ";
    case '(': return "   #   #   #    #    #     #     # ";
    case ')': return " #     #     #    #    #   #   #   ";
    case '%': return "##   ##  #   #   #   #   #  ##   ##";
    case '_': return "                              #####";
    case '^': return "  #   # # #   #                    ";
    default: return nullptr;
  }
}
}  // namespace

void Canvas::text(int x, int y, const std::string& s, Rgb c, int scale) {
  for (std::size_t k = 0; k < s.size(); ++k) {
    const char* g = glyph(s[k]);
    if (!g) continue;
    for (int r = 0; r < 7; ++r)
      for (int col = 0; col < 5; ++col)
        if (g[r * 5 + col] == '#') fill_rect(x + int(k) * 6 * scale + col * scale, y + r * scale, scale, scale, c);
  }
}

void Canvas::write_png(const std::string& path) const {
#if EDNN_HAVE_PNG
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail("cannot write picture ", tmp, " (directory missing or not writable?)");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    std::fclose(f);
    std::remove(tmp.c_str());
    fail("libpng failed writing ", tmp);
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, png_uint_32(w_), png_uint_32(h_), 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < h_; ++y) png_write_row(png, const_cast<png_bytep>(&rgb_[std::size_t(y) * std::size_t(w_) * 3]));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  if (std::fclose(f) != 0) fail("cannot write picture ", tmp);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) fail("cannot rename ", tmp, " to ", path, ": ", ec.message());
#else
  fail("cannot write ", path, ": ednn was built without libpng (install libpng-dev and reconfigure)");
#endif
}

std::string short_number(double v) {
  char buf[32];
  const double a = std::abs(v);
  if (v == 0) return "0";
  if (a >= 0.01 && a < 1000) std::snprintf(buf, sizeof buf, "%.3g", v);
  else std::snprintf(buf, sizeof buf, "%.1e", v);
  return buf;
}

Canvas draw_panels(const std::vector<PanelImage>& images, int L, const std::string& caption) {
  const int scale = std::max(1, (256 + L - 1) / L);
  const int side = L * scale, bar_w = 14, label_w = 60, gap = 24, top = 40, bottom = 30;
  const int panel_w = side + 8 + bar_w + 4 + label_w;
  const int W = gap + int(images.size()) * (panel_w + gap), H = top + side + bottom;
  Canvas c(W, H);
  const Rgb black{0, 0, 0};
  c.text(gap, H - 20, caption, black, 1);
  for (std::size_t k = 0; k < images.size(); ++k) {
    const PanelImage& im = images[k];
    const int x0 = gap + int(k) * (panel_w + gap), y0 = top;
    c.text(x0, 12, im.title, black, 2);
    const double span = im.hi > im.lo ? im.hi - im.lo : 1;
    for (int r = 0; r < L; ++r)
      for (int q = 0; q < L; ++q) {
        const Rgb col = viridis((im.values[std::size_t(r) * std::size_t(L) + std::size_t(q)] - im.lo) / span);
        c.fill_rect(x0 + q * scale, y0 + r * scale, scale, scale, col);
      }
    // Colour bar: high at the top.
    const int bx = x0 + side + 8;
    for (int j = 0; j < side; ++j) c.fill_rect(bx, y0 + j, bar_w, 1, viridis(1.0 - double(j) / (side - 1)));
    c.line(bx - 1, y0 - 1, bx + bar_w, y0 - 1, black);
    c.line(bx - 1, y0 + side, bx + bar_w, y0 + side, black);
    c.line(bx - 1, y0 - 1, bx - 1, y0 + side, black);
    c.line(bx + bar_w, y0 - 1, bx + bar_w, y0 + side, black);
    for (int t = 0; t <= 4; ++t) {
      const int y = y0 + (side - 1) * t / 4;
      c.line(bx + bar_w, y, bx + bar_w + 3, y, black);
      c.text(bx + bar_w + 6, y - 3, short_number(im.hi - span * t / 4), black, 1);
    }
  }
  return c;
}

Canvas draw_plot(const std::vector<Series>& series, const std::string& title, const std::string& x_label,
                 const std::string& y_label) {
  const int W = 640, H = 420, left = 80, right = 150, top = 40, bottom = 50;
  const int pw = W - left - right, ph = H - top - bottom;
  Canvas c(W, H);
  const Rgb black{0, 0, 0}, grey{220, 220, 220};
  double xmin = INFINITY, xmax = -INFINITY, ymax = 0;
  for (const auto& s : series)
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      xmin = std::min(xmin, s.x[i]);
      xmax = std::max(xmax, s.x[i]);
      ymax = std::max(ymax, s.y[i]);
    }
  if (!std::isfinite(xmin)) { xmin = 0; xmax = 1; }
  if (xmax == xmin) xmax = xmin + 1;
  if (ymax <= 0) ymax = 1;
  ymax *= 1.1;
  auto px = [&](double x) { return left + int(std::lround((x - xmin) / (xmax - xmin) * pw)); };
  auto py = [&](double y) { return top + ph - int(std::lround(y / ymax * ph)); };
  c.text(left, 12, title, black, 2);
  for (int t = 0; t <= 5; ++t) {  // y grid and ticks
    const double v = ymax * t / 5;
    c.line(left, py(v), left + pw, py(v), grey);
    c.text(left - Canvas::text_width(short_number(v)) - 6, py(v) - 3, short_number(v), black);
  }
  // Integer ticks (the x axis counts sources), at most about 10.
  const double step = std::max(1.0, std::ceil((xmax - xmin) / 10));
  for (double v = xmin; v <= xmax + 1e-9; v += step) {
    c.line(px(v), top + ph, px(v), top + ph + 4, black);
    const std::string s = short_number(std::round(v * 100) / 100);
    c.text(px(v) - Canvas::text_width(s) / 2, top + ph + 8, s, black);
  }
  c.line(left, top, left, top + ph, black);
  c.line(left, top + ph, left + pw, top + ph, black);
  c.text(left + pw / 2 - Canvas::text_width(x_label) / 2, H - 20, x_label, black);
  c.text(8, top - 14, y_label, black);
  int legend_y = top;
  for (const auto& s : series) {
    int prev_x = -1, prev_y = -1;
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) { prev_x = -1; continue; }
      const int x = px(s.x[i]), y = py(s.y[i]);
      if (prev_x >= 0)
        for (int d = 0; d < 2; ++d) c.line(prev_x, prev_y + d, x, y + d, s.colour);
      c.fill_rect(x - 2, y - 2, 5, 5, s.colour);
      prev_x = x;
      prev_y = y;
    }
    c.fill_rect(left + pw + 12, legend_y + 2, 14, 4, s.colour);
    c.text(left + pw + 32, legend_y, s.label, black);
    legend_y += 14;
  }
  return c;
}

}  // namespace ednn::io
