// Figures fit for a paper, drawn with cairo (a 2-D vector renderer) and written three ways: PDF and
// SVG (vector, fonts embedded) and PNG at twice the nominal size, each atomically (a temporary, then
// renamed, through nets::write_text_atomically).
//
// A Figure is a grid of panels (line plots, heat maps, images) under an optional title, with one
// legend for the whole figure below the panels and an optional caption under it. lay_out() places
// everything in points (1/72 inch) from the text extents cairo measures in DejaVu Sans, so that
// nothing is cut and nothing overlaps; draw() then only paints what lay_out placed. The layout is a
// value the tests read: where each panel's data area is, where its axes map a value, where every
// piece of text went and the room it had.
//
// Conventions: ticks at 1-2-5 steps (0.05, 0.1, 0.2 ...), decade ticks on log axes; series colours
// from the Okabe-Ito palette (safe for colour-blind readers) with a marker shape per series; heat
// maps, images and colour bars in viridis; dashed lines for fits; error bars with caps.
#pragma once
#include <string>
#include <variant>
#include <vector>

namespace ednn::io {

struct Colour {
  double r = 0, g = 0, b = 0;  // each in [0, 1]
  bool operator==(const Colour&) const = default;
};

// The viridis colour map at t in [0, 1] (clamped; NaN reads as 0), interpolated from 17 anchors.
Colour viridis(double t);
// The i-th series colour: Okabe-Ito's blue, vermillion, bluish green, orange, reddish purple, sky
// blue, black and yellow, in that order; i wraps after 8.
Colour series_colour(int i);

// ---- ticks --------------------------------------------------------------------------------------

// The smallest 1, 2 or 5 x 10^k that is at least raw (> 0).
double nice_step(double raw);
// Ticks at multiples of a 1-2-5 step, at most max_intervals steps across [lo, hi]. widen: the range
// grows to the multiples of the step around it (y axes); otherwise the ticks are those inside it.
// Hand-worked: 0.0123..0.187 -> step 0.05, widened to 0..0.2.
struct Ticks {
  double lo = 0, hi = 1, step = 1;
  std::vector<double> values;
};
Ticks linear_ticks(double lo, double hi, int max_intervals = 5, bool widen = true);
// A tick's text with as many decimals as the step needs ("0.05", "0.10", "15"); negatives with a
// true minus sign.
std::string tick_text(double value, double step);
// 10^k as text: "1", "10" ... "1000", "0.1", "0.01"; beyond those "10⁴", "10⁻³".
std::string decade_text(int k);
// A number for captions and notes, 3 significant digits: "0.0123", "12.3", "1.2×10⁻⁵".
std::string number_text(double v);

// ---- what a figure holds ------------------------------------------------------------------------

enum class Marker { circle, square, triangle, diamond, triangle_down, none };
Marker series_marker(int i);  // circle, square, triangle, diamond, triangle_down, wrapping

struct Series {
  std::string label;             // legend entry (one per distinct label in a figure); empty: none
  std::vector<double> x, y;      // non-finite values (and x <= 0 on a log axis) are left out
  std::vector<double> err = {};  // empty, or one per y: a bar from y - err to y + err
  Colour colour = {};
  Marker marker = Marker::circle;
  bool dashed = false;  // a dashed line without markers (a fit)
};

struct Axis {
  std::string label;
  bool log = false;      // log10 axis with decade ticks
  bool integer = false;  // the values count things: ticks at whole numbers only
};

struct PlotPanel {
  std::string title;     // above the panel
  std::string subtitle;  // a second, smaller line under the title (e.g. a fit's R²); may be empty
  Axis x, y;
  std::vector<Series> series;
};

// Values on a grid of cells in viridis with a colour bar: a heat map (labelled rows and columns,
// row 0 at the bottom) or an image (no labels, row 0 at the top as arrays are stored).
struct GridPanel {
  std::string title, x_label, y_label, bar_label;
  int rows = 0, columns = 0;
  std::vector<double> values;                 // [rows, columns] row-major; NaN: an empty cell, light grey
  std::vector<std::string> x_ticks, y_ticks;  // one per column / row, or both empty (an image)
  double lo = 0, hi = 1;                      // colour range
  bool image() const { return x_ticks.empty() && y_ticks.empty(); }
};

struct Figure {
  std::string title;    // top left, may be empty
  int columns = 3;      // panels to a row
  std::vector<std::variant<PlotPanel, GridPanel>> panels;
  std::string caption;  // one line under the legend, may be empty
};

// ---- where things go ------------------------------------------------------------------------------

struct Box {
  double x = 0, y = 0, w = 0, h = 0;  // top-left corner and size, points, y downwards
  double right() const { return x + w; }
  double bottom() const { return y + h; }
  bool contains(const Box& o, double slack = 1e-6) const;
  bool overlaps(const Box& o) const;  // the interiors meet
};

// A line of text as placed: its baseline origin, size, weight and turn; `ink` is the box its glyphs
// cover (cairo's text extents, turned with it) and `room` the box it was given.
struct PlacedText {
  std::string text;
  double x = 0, y = 0, size = 9;
  bool bold = false, vertical = false;  // vertical: turned a quarter left, reading upwards
  Box ink, room;
};

struct PanelLayout {
  Box outer;  // the panel with its titles, tick labels and axis labels
  Box area;   // the data area (a plot's axes box, a grid's cells)
  Box bar;    // a grid panel's colour bar (empty for plots)
  double x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;  // axis ranges (log10 of the values on a log axis)
  bool log_x = false, log_y = false;
  std::vector<double> x_ticks, y_ticks;  // positions (points) of the tick marks
  // Where a data value lands on the page.
  double to_x(double v) const;
  double to_y(double v) const;
};

struct LegendEntry {
  std::string label;
  Colour colour;
  Marker marker = Marker::circle;
  bool dashed = false, error_bar = false;
  Box box;  // the sample and its label
};

struct FigureLayout {
  double width = 0, height = 0;  // points, whole numbers
  std::vector<PanelLayout> panels;
  Box legend;  // empty when no series has a label
  std::vector<LegendEntry> legend_entries;
  std::vector<PlacedText> texts;
};

FigureLayout lay_out(const Figure& figure);

// The PNG's pixels per point: PNGs are written at twice the nominal size.
constexpr double kPngScale = 2;

// Writes stem.pdf, stem.svg and stem.png; returns their paths. Throws ednn::Error naming the file
// when one cannot be written, or the figure when it is malformed (values that do not match the shape).
std::vector<std::string> write_figure(const Figure& figure, const std::string& stem);

// The titles figures give the regions of nets/metrics.h: "Sources", "Field", "All pixels",
// "Region 1 (0.2–1)", ... (the paper's names and field ranges, so that no region reads as R²).
std::string region_title(int region);

}  // namespace ednn::io
