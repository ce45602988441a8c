#include "apps/pictures.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#if EDNN_HAVE_PNG
#include <png.h>
#endif

#include "core/error.h"

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

Rgb palette(int i) {
  static const Rgb tab10[10] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},   {214, 39, 40},  {148, 103, 189},
                                {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  return tab10[((i % 10) + 10) % 10];
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
void Canvas::blit(const Canvas& src, int x, int y) {
  for (int j = 0; j < src.h_; ++j)
    for (int i = 0; i < src.w_; ++i) set(x + i, y + j, src.get(i, j));
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
    case 'S': return " #####    #     ###     #    ##### ";
    case 'T': return "#####  #    #    #    #    #    #  ";
    case 'U': return "#   ##   ##   ##   ##   ##   # ### ";
    case 'V': return "#   ##   ##   ##   ##   # # #   #  ";
    case 'W': return "#   ##   ##   ## # ## # ## # # # # ";
    case 'X': return "#   ##   # # #   #   # # #   ##   #";
    case 'Y': return "#   ##   # # #   #    #    #    #  ";
    case 'Z': return "#####    #   #   #   #   #    #####";
    case '.': return "                          ##   ##  ";
    case ',': return "                     ##    #   #   ";
    case '-': return "               #####               ";
    case '+': return "       #    #  #####  #    #       ";
    case '|': return "  #    #    #    #    #    #    #  ";
    case '=': return "          #####     #####          ";
    case ':': return "      ##   ##        ##   ##       ";
    case '/': return "    #    #   #   #   #   #    #    ";
    case '(': return "   #   #   #    #    #     #     # ";
    case ')': return " #     #     #    #    #   #   #   ";
    case '%': return "##   ##  #   #   #   #   #  ##   ##";
    case '_': return "                              #####";
    case '^': return "  #   # # #   #                    ";
    case ';': return "      ##   ##        ##    #   #   ";
    case '<': return "   #   #   #   #     #     #     # ";
    case '>': return " #     #     #     #   #   #   #   ";
    case '[': return " ###  #    #    #    #    #    ### ";
    case ']': return " ###    #    #    #    #    #  ### ";
    case '{': return "  ##  #    #   #     #    #     ## ";
    case '}': return " ##     #    #     #   #    #  ##  ";
    case '*': return "       #  # # # ### # # #  #       ";
    case '#': return " # #  # # ##### # # ##### # #  # # ";
    case '!': return "  #    #    #    #    #         #  ";
    case '?': return " ### #   #    #   #   #         #  ";
    case '\'': return "  #    #                           ";
    case '"': return " # #  # #                          ";
    case '&': return " ##  #  # # #   #   # # ##  #  ## #";
    case '~': return "           #   # # #   #           ";
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


namespace {

const Rgb black{0, 0, 0}, grid_grey{220, 220, 220}, empty_cell_grey{220, 220, 220};

// s cut to at most max_w pixels at `scale`, ending in ".." when it was cut.
std::string fit(const std::string& s, int max_w, int scale = 1) {
  const std::size_t n = std::size_t(std::max(0, max_w / (6 * scale)));
  if (s.size() <= n) return s;
  return n >= 3 ? s.substr(0, n - 2) + ".." : s.substr(0, n);
}

// A title at (x, y) within max_w pixels: scale 2 when it fits, else scale 1 (shortened if need be),
// centred on the scale-2 line.
void title_text(Canvas& c, int x, int y, const std::string& s, int max_w) {
  if (Canvas::text_width(s, 2) <= max_w) c.text(x, y, s, black, 2);
  else c.text(x, y + 3, fit(s, max_w), black, 1);
}

// Text turned a quarter left, reading upwards; (x, y) is its bottom-left corner.
void text_up(Canvas& c, int x, int y, const std::string& s, Rgb colour) {
  Canvas line(Canvas::text_width(s), 7);
  line.text(0, 0, s, colour);
  for (int j = 0; j < 7; ++j)
    for (int i = 0; i < line.width(); ++i)
      if (line.get(i, j) == colour) c.set(x + j, y - i, colour);
}

// A dashed line, 6 pixels drawn and 4 left out; `phase` carries the pattern from one segment to the next.
void dashed_line(Canvas& c, int x0, int y0, int x1, int y1, Rgb colour, int& phase) {
  const int n = std::max(std::abs(x1 - x0), std::abs(y1 - y0));
  for (int k = 0; k <= n; ++k, ++phase)
    if (phase % 10 < 6) {
      const double f = n ? double(k) / n : 0;
      c.set(x0 + int(std::lround(f * (x1 - x0))), y0 + int(std::lround(f * (y1 - y0))), colour);
    }
}

// The smallest 1, 2 or 5 x 10^k that is at least `raw` (> 0).
double nice_step(double raw) {
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0})
    if (m * p >= raw * (1 - 1e-9)) return m * p;
  return 10 * p;
}

// A vertical colour bar, high at the top, in a black frame, with `intervals` + 1 labelled ticks.
void colour_bar(Canvas& c, int x, int y, int w, int h, double lo, double hi, int intervals) {
  const double span = hi > lo ? hi - lo : 1;
  for (int j = 0; j < h; ++j) c.fill_rect(x, y + j, w, 1, viridis(1.0 - double(j) / (h - 1)));
  c.line(x - 1, y - 1, x + w, y - 1, black);
  c.line(x - 1, y + h, x + w, y + h, black);
  c.line(x - 1, y - 1, x - 1, y + h, black);
  c.line(x + w, y - 1, x + w, y + h, black);
  for (int t = 0; t <= intervals; ++t) {
    const int ty = y + (h - 1) * t / intervals;
    c.line(x + w, ty, x + w + 3, ty, black);
    c.text(x + w + 6, ty - 3, short_number(hi - span * t / intervals), black, 1);
  }
}

}  // namespace

Canvas draw_panels(const std::vector<PanelImage>& images, int L, const std::string& caption) {
  const int scale = std::max(1, (256 + L - 1) / L);
  const int side = L * scale, bar_w = 14, label_w = 60, gap = 24, top = 40, bottom = 30;
  const int panel_w = side + 8 + bar_w + 4 + label_w;
  const int W = gap + int(images.size()) * (panel_w + gap), H = top + side + bottom;
  Canvas c(W, H);
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
    colour_bar(c, x0 + side + 8, y0, bar_w, side, im.lo, im.hi, 4);
  }
  return c;
}

Canvas draw_plot(const std::vector<Series>& series, const std::string& title, const std::string& x_label,
                 const std::string& y_label, const PlotStyle& style) {
  const int W = style.width, H = style.height, left = 80, top = 54, bottom = 50;  // title, then the y label, above
  // The legend takes the longest label's width, between 150 pixels and 2/5 of the canvas.
  std::size_t longest = 0;
  for (const auto& s : series) longest = std::max(longest, s.label.size());
  const int right = std::clamp(32 + Canvas::text_width(std::string(longest, ' ')) + 8, 150, std::max(150, W * 2 / 5));
  const int pw = W - left - right, ph = H - top - bottom;
  EDNN_CHECK(pw >= 50 && ph >= 50, "draw_plot '", title, "': a ", W, " x ", H, " canvas leaves a ", pw, " x ", ph,
             " plot area, expected at least 50 x 50");
  for (const auto& s : series)
    EDNN_CHECK(s.y.size() == s.x.size() && (s.err.empty() || s.err.size() == s.y.size()), "draw_plot '", title,
               "': series '", s.label, "' has ", s.x.size(), " x, ", s.y.size(), " y and ", s.err.size(),
               " error values, expected as many y as x and no errors or one per y");
  Canvas c(W, H);

  // Points drawn: finite, and x > 0 on a log axis. Axis coordinates are log10(x) on a log axis.
  auto usable = [&](const Series& s, std::size_t i) {
    return std::isfinite(s.x[i]) && std::isfinite(s.y[i]) && (!style.log_x || s.x[i] > 0);
  };
  auto err = [](const Series& s, std::size_t i) {
    return s.err.empty() || !std::isfinite(s.err[i]) ? 0.0 : std::abs(s.err[i]);
  };
  auto axis_x = [&](double x) { return style.log_x ? std::log10(x) : x; };
  double xmin = INFINITY, xmax = -INFINITY, ymax = 0;
  for (const auto& s : series)
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!usable(s, i)) continue;
      xmin = std::min(xmin, axis_x(s.x[i]));
      xmax = std::max(xmax, axis_x(s.x[i]));
      ymax = std::max(ymax, s.y[i] + err(s, i));
    }
  if (!std::isfinite(xmin)) { xmin = 0; xmax = 1; }
  if (xmax == xmin) {
    if (style.log_x) { xmin -= 0.5; xmax += 0.5; }
    else xmax = xmin + 1;
  }
  if (ymax <= 0) ymax = 1;
  ymax *= 1.1;
  auto px = [&](double x) { return left + int(std::lround((axis_x(x) - xmin) / (xmax - xmin) * pw)); };
  auto py = [&](double y) { return top + ph - int(std::lround(y / ymax * ph)); };

  if (Canvas::text_width(title, 2) <= W - left - 4) c.text(left, 10, title, black, 2);
  else title_text(c, 8, 10, title, W - 16);
  for (int t = 0; t <= 5; ++t) {  // y grid and ticks
    const double v = ymax * t / 5;
    c.line(left, py(v), left + pw, py(v), grid_grey);
    c.text(left - Canvas::text_width(short_number(v)) - 6, py(v) - 3, short_number(v), black);
  }
  auto x_tick = [&](double v, int length, bool labelled) {
    c.line(px(v), top + ph, px(v), top + ph + length, black);
    if (!labelled) return;
    // Whole numbers as they are ("1000", not "1.0e+03": a log axis of sample counts reaches them).
    const std::string s = v == std::round(v) && std::abs(v) < 1e6 ? std::to_string(std::llround(v)) : short_number(v);
    c.text(px(v) - Canvas::text_width(s) / 2, top + ph + 8, s, black);
  };
  if (style.log_x && xmax - xmin < 1.2) {
    // Less than about a decade: 1-2-5 steps in x itself, placed on the log axis, each labelled
    // where it clears the previous label.
    const double lo = std::pow(10.0, xmin), hi = std::pow(10.0, xmax), step = nice_step((hi - lo) / 5);
    int last_label_end = -1000;
    for (double k = std::ceil(lo / step - 1e-9); k * step <= hi * (1 + 1e-9); ++k) {
      const double v = k * step;
      const int half = Canvas::text_width(short_number(v)) / 2;
      const bool labelled = px(v) - half > last_label_end + 6;
      if (labelled) last_label_end = px(v) + half;
      x_tick(v, 4, labelled);
    }
  } else if (style.log_x) {
    // Ticks at 1, 2 and 5 x 10^k. Powers of ten are labelled every `every` decades so that labels
    // do not overlap; 2x and 5x are labelled only when the narrowest gap (5 to 10) has room.
    const double px_per_decade = pw / (xmax - xmin), widest = Canvas::text_width("0.0e+00") + 6;
    const int every = std::max(1, int(std::ceil(widest / px_per_decade)));
    const bool minor_labels = std::log10(2.0) * px_per_decade >= widest;
    for (int k = int(std::floor(xmin)); k <= int(std::ceil(xmax)); ++k)
      for (int m : {1, 2, 5}) {
        const double v = m * std::pow(10.0, k);
        if (std::log10(v) < xmin - 1e-9 || std::log10(v) > xmax + 1e-9) continue;
        x_tick(v, m == 1 ? 4 : 2, m == 1 ? k % every == 0 : minor_labels);
      }
  } else if (style.integer_x) {
    // Integer ticks (the x axis counts sources), at most about 10.
    const double step = std::max(1.0, std::ceil((xmax - xmin) / 10));
    // (from the first whole number: points may sit a little beside theirs, as error bars that would overlap)
    for (double v = std::ceil(xmin - 1e-9); v <= xmax + 1e-9; v += step) x_tick(v, 4, true);
  } else {  // about 6 ticks at multiples of a 1-2-5 step
    const double step = nice_step((xmax - xmin) / 6);
    for (double k = std::ceil(xmin / step - 1e-9); k * step <= xmax + 1e-9 * step; ++k) x_tick(k * step, 4, true);
  }
  c.line(left, top, left, top + ph, black);
  c.line(left, top + ph, left + pw, top + ph, black);
  const std::string xl = fit(x_label, W - 8);
  c.text(std::max(4, left + pw / 2 - Canvas::text_width(xl) / 2), H - 20, xl, black);
  c.text(8, top - 14, fit(y_label, W - 16), black);

  const int legend_x = left + pw + 12, legend_text_w = W - (legend_x + 20) - 4;
  int legend_y = top;
  for (const auto& s : series) {
    int prev_x = -1, prev_y = -1, phase = 0;
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!usable(s, i)) { prev_x = -1; continue; }
      const int x = px(s.x[i]), y = py(s.y[i]);
      if (prev_x >= 0) {
        const int start = phase;  // both rows of the 2-pixel line start the dashes at the same place
        for (int d = 0; d < 2; ++d) {
          phase = start;
          if (s.dashed) dashed_line(c, prev_x, prev_y + d, x, y + d, s.colour, phase);
          else c.line(prev_x, prev_y + d, x, y + d, s.colour);
        }
      }
      if (err(s, i) > 0) {  // error bar with caps, clipped to the plot area
        const int hi = py(s.y[i] + err(s, i)), lo = py(s.y[i] - err(s, i));
        c.line(x, std::max(top, hi), x, std::min(top + ph, lo), s.colour);
        if (hi >= top) c.line(x - 3, hi, x + 3, hi, s.colour);
        if (lo <= top + ph) c.line(x - 3, lo, x + 3, lo, s.colour);
      }
      if (!s.dashed) c.fill_rect(x - 2, y - 2, 5, 5, s.colour);
      prev_x = x;
      prev_y = y;
    }
    if (s.label.empty() || legend_y + 8 > H - 4) continue;  // unlabelled, or no room left for this legend entry
    if (!s.dashed) c.fill_rect(legend_x, legend_y + 2, 14, 4, s.colour);
    else
      for (int d = 0; d < 2; ++d) {
        int legend_phase = 2;
        dashed_line(c, legend_x, legend_y + 3 + d, legend_x + 13, legend_y + 3 + d, s.colour, legend_phase);
      }
    c.text(legend_x + 20, legend_y, fit(s.label, legend_text_w), black);
    legend_y += 14;
  }
  return c;
}

Canvas draw_heatmap(const HeatMap& m) {
  const int rows = int(m.y_ticks.size()), cols = int(m.x_ticks.size());
  EDNN_CHECK(rows > 0 && cols > 0, "draw_heatmap '", m.title, "': needs at least one row and one column label, got ",
             rows, " row and ", cols, " column labels");
  EDNN_CHECK(m.values.size() == std::size_t(rows) * std::size_t(cols), "draw_heatmap '", m.title, "': ", rows, " x ",
             cols, " labels need ", rows * cols, " values, got ", m.values.size());
  const int cell = std::clamp(360 / std::max(rows, cols), 14, 40), gw = cols * cell, gh = rows * cell;
  const int label_max_w = 120;  // row and column labels are cut to 20 characters
  int row_label_w = 0, col_label_w = 0, bar_label_w = 0;
  for (const auto& s : m.y_ticks) row_label_w = std::max(row_label_w, Canvas::text_width(fit(s, label_max_w)));
  for (const auto& s : m.x_ticks) col_label_w = std::max(col_label_w, Canvas::text_width(fit(s, label_max_w)));
  const double span = m.hi > m.lo ? m.hi - m.lo : 1;
  for (int t = 0; t <= 2; ++t)  // the colour bar's labels, as colour_bar writes them
    bar_label_w = std::max(bar_label_w, Canvas::text_width(short_number(m.hi - span * t / 2)));
  const bool upright = col_label_w - 1 <= cell;  // column labels side by side; otherwise turned, reading upwards

  // Left to right: y label (turned), row labels, ticks, grid, colour bar and its labels. Top to
  // bottom: title, grid (centred beside a bar at least 100 high), column labels, x label.
  const int top = 40, bar_w = 14, bar_h = std::max(gh, 100), area_h = std::max(gh, bar_h);
  const int gx = 8 + (m.y_label.empty() ? 0 : 7 + 10) + row_label_w + 8, gy = top + (area_h - gh) / 2;
  const int bx = gx + gw + 14, by = top + (area_h - bar_h) / 2;
  const int labels_y = gy + gh + 8, labels_h = upright ? 7 : col_label_w;
  const int x_label_y = std::max(labels_y + labels_h, by + bar_h) + 10;
  int W = bx + bar_w + 6 + bar_label_w + 10;
  W = std::max(W, std::min(1200, Canvas::text_width(m.title, 2) + 16));
  W = std::max(W, std::min(1200, Canvas::text_width(m.x_label) + 16));
  const int H = x_label_y + (m.x_label.empty() ? 0 : 7 + 10);
  Canvas c(W, H);

  for (int r = 0; r < rows; ++r) {
    const int y = gy + (rows - 1 - r) * cell;  // row 0 at the bottom
    for (int q = 0; q < cols; ++q) {
      const double v = m.values[std::size_t(r) * std::size_t(cols) + std::size_t(q)];
      const Rgb colour = std::isnan(v) ? empty_cell_grey : viridis(std::clamp((v - m.lo) / span, 0.0, 1.0));
      c.fill_rect(gx + q * cell, y, cell, cell, colour);
    }
    const std::string s = fit(m.y_ticks[std::size_t(r)], label_max_w);
    c.line(gx - 4, y + cell / 2, gx - 1, y + cell / 2, black);
    c.text(gx - 7 - Canvas::text_width(s), y + cell / 2 - 3, s, black);
  }
  for (int q = 0; q < cols; ++q) {
    const std::string s = fit(m.x_ticks[std::size_t(q)], label_max_w);
    const int x = gx + q * cell + cell / 2;
    c.line(x, gy + gh, x, gy + gh + 3, black);
    if (upright) c.text(x - Canvas::text_width(s) / 2 + 1, labels_y, s, black);
    else text_up(c, x - 3, labels_y + Canvas::text_width(s) - 1, s, black);
  }
  c.line(gx - 1, gy - 1, gx + gw, gy - 1, black);  // frame
  c.line(gx - 1, gy + gh, gx + gw, gy + gh, black);
  c.line(gx - 1, gy - 1, gx - 1, gy + gh, black);
  c.line(gx + gw, gy - 1, gx + gw, gy + gh, black);
  colour_bar(c, bx, by, bar_w, bar_h, m.lo, m.hi, 2);

  const int title_w = Canvas::text_width(m.title, 2);
  const int title_x = title_w > W - 16 ? 8 : std::clamp(gx + gw / 2 - title_w / 2, 8, W - 8 - title_w);
  title_text(c, title_x, 12, m.title, W - 16);
  const std::string xl = fit(m.x_label, W - 16);
  c.text(std::clamp(gx + gw / 2 - Canvas::text_width(xl) / 2, 8, W - 8 - Canvas::text_width(xl)), x_label_y, xl, black);
  const std::string yl = fit(m.y_label, H - top - 8);
  text_up(c, 8, std::min(H - 8, gy + gh / 2 + Canvas::text_width(yl) / 2), yl, black);
  return c;
}

Canvas compose_grid(const std::vector<Canvas>& panels, int columns, const std::string& title) {
  EDNN_CHECK(columns > 0, "compose_grid '", title, "': needs at least one column, got ", columns);
  const int gap = 10, title_h = 36, n = int(panels.size()), rows = (n + columns - 1) / columns;
  std::vector<int> col_w(std::size_t(columns), 0), row_h(std::size_t(rows), 0);
  for (int k = 0; k < n; ++k) {
    col_w[std::size_t(k % columns)] = std::max(col_w[std::size_t(k % columns)], panels[std::size_t(k)].width());
    row_h[std::size_t(k / columns)] = std::max(row_h[std::size_t(k / columns)], panels[std::size_t(k)].height());
  }
  // Left (top) edges of the columns (rows); the last entry is the canvas width (height).
  std::vector<int> col_x{gap}, row_y{title_h};
  for (int w : col_w) col_x.push_back(col_x.back() + w + gap);
  for (int h : row_h) row_y.push_back(row_y.back() + h + gap);
  Canvas c(col_x.back(), std::max(row_y.back(), title_h));
  for (int k = 0; k < n; ++k)
    c.blit(panels[std::size_t(k)], col_x[std::size_t(k % columns)], row_y[std::size_t(k / columns)]);
  title_text(c, gap, 12, title, c.width() - 2 * gap);
  return c;
}

}  // namespace ednn::io
