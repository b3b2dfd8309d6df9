//! Charts and maps as server-rendered SVG: no JavaScript, no tiles from a
//! CDN. Every figure has a title and a description for screen readers,
//! each mark has its own `<title>` (the tooltip), and the page puts the
//! same numbers in a table next to it. Text from the data is escaped.

use std::fmt::Write as _;

use datalab_query::chart::{ChartKind, ChartPoint, Feature, MapCell, extent};

/// Marks in the state's blue, dark enough against white (WCAG 1.4.11).
const INK: &str = "#1d5b8c";
/// Slices of a pie: distinct hues, each ≥ 3:1 against white.
const PALETTE: [&str; 8] = ["#1d5b8c", "#b0482b", "#2e7d32", "#6a3d9a", "#8a6d00", "#00796b", "#ad1457", "#455a64"];

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// 1234567.891 → "1,234,567.89"; whole numbers without decimals.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return "—".into();
    }
    let rounded = if value.fract().abs() < 1e-9 { format!("{value:.0}") } else { format!("{value:.2}") };
    let (sign, digits) = rounded.strip_prefix('-').map(|rest| ("-", rest)).unwrap_or(("", &rounded));
    let (whole, fraction) = digits.split_once('.').map(|(w, f)| (w, Some(f))).unwrap_or((digits, None));
    let mut grouped = String::new();
    for (index, character) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(character);
    }
    match fraction {
        Some(fraction) => format!("{sign}{grouped}.{fraction}"),
        None => format!("{sign}{grouped}"),
    }
}

fn shorten(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(limit - 1).collect::<String>())
    }
}

/// `id` prefixes the ids of the title and description, unique in the page.
fn open_svg(out: &mut String, id: &str, width: f64, height: f64, title: &str, description: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" aria-labelledby="{id}-title {id}-desc" class="chart"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        escape(title),
        escape(description)
    );
}

/// A chart of `points`. `title` names it; `description` summarises it in words.
pub fn chart_svg(kind: ChartKind, points: &[ChartPoint], title: &str, description: &str) -> String {
    match kind {
        ChartKind::Bar => bar_svg(points, title, description),
        ChartKind::Pie => pie_svg(points, title, description),
        ChartKind::Line => line_svg(points, title, description),
        ChartKind::Histogram => histogram_svg(points, title, description),
    }
}

fn bar_svg(points: &[ChartPoint], title: &str, description: &str) -> String {
    let row = 26.0;
    let (label_width, bar_width, width) = (190.0, 330.0, 640.0);
    let height = row * points.len().max(1) as f64 + 10.0;
    let top = points.iter().map(|point| point.value).fold(0.0_f64, f64::max).max(f64::MIN_POSITIVE);
    let mut out = String::new();
    open_svg(&mut out, "chart", width, height, title, description);
    for (index, point) in points.iter().enumerate() {
        let y = 5.0 + row * index as f64;
        let length = (point.value.max(0.0) / top * bar_width).max(1.0);
        let _ = write!(
            out,
            r#"<g><title>{label}: {value}</title><text x="{lx}" y="{ty}" text-anchor="end" font-size="13">{short}</text><rect x="{bx}" y="{ry}" width="{length:.1}" height="{h}" fill="{INK}"/><text x="{vx:.1}" y="{ty}" font-size="12">{value}</text></g>"#,
            label = escape(&point.label),
            value = number(point.value),
            short = escape(&shorten(&point.label, 26)),
            lx = label_width - 6.0,
            ty = y + 17.0,
            bx = label_width,
            ry = y + 3.0,
            h = row - 8.0,
            vx = label_width + length + 5.0,
        );
    }
    out.push_str("</svg>");
    out
}

fn histogram_svg(points: &[ChartPoint], title: &str, description: &str) -> String {
    let (width, height, left, bottom) = (640.0, 300.0, 60.0, 40.0);
    let plot_width = width - left - 10.0;
    let plot_height = height - bottom - 10.0;
    let top = points.iter().map(|point| point.value).fold(0.0_f64, f64::max).max(f64::MIN_POSITIVE);
    let bin = plot_width / points.len().max(1) as f64;
    let mut out = String::new();
    open_svg(&mut out, "chart", width, height, title, description);
    let _ = write!(
        out,
        r##"<line x1="{left}" y1="{b}" x2="{r}" y2="{b}" stroke="#333"/><text x="{lt}" y="20" font-size="12" text-anchor="end">{max}</text><text x="{lt}" y="{b}" font-size="12" text-anchor="end">0</text>"##,
        b = 10.0 + plot_height,
        r = left + plot_width,
        lt = left - 6.0,
        max = number(top),
    );
    for (index, point) in points.iter().enumerate() {
        let bar = point.value.max(0.0) / top * plot_height;
        let _ = write!(
            out,
            r##"<g><title>{label}: {value}</title><rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{bar:.1}" fill="{INK}" stroke="#fff"/></g>"##,
            label = escape(&point.label),
            value = number(point.value),
            x = left + bin * index as f64,
            y = 10.0 + plot_height - bar,
            w = bin,
        );
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let start = first.label.split(" – ").next().unwrap_or_default();
        let end = last.label.split(" – ").nth(1).unwrap_or_default();
        let _ = write!(
            out,
            r#"<text x="{left}" y="{y}" font-size="12">{}</text><text x="{r}" y="{y}" font-size="12" text-anchor="end">{}</text>"#,
            escape(start),
            escape(end),
            y = height - 12.0,
            r = left + plot_width,
        );
    }
    out.push_str("</svg>");
    out
}

fn line_svg(points: &[ChartPoint], title: &str, description: &str) -> String {
    let (width, height, left, bottom) = (640.0, 300.0, 70.0, 40.0);
    let plot_width = width - left - 20.0;
    let plot_height = height - bottom - 10.0;
    let top = points.iter().map(|point| point.value).fold(f64::MIN, f64::max);
    let low = points.iter().map(|point| point.value).fold(f64::MAX, f64::min).min(0.0);
    let span = if top > low { top - low } else { 1.0 };
    let step = if points.len() > 1 { plot_width / (points.len() - 1) as f64 } else { 0.0 };
    let position = |index: usize, value: f64| {
        (left + step * index as f64, 10.0 + plot_height - (value - low) / span * plot_height)
    };
    let mut out = String::new();
    open_svg(&mut out, "chart", width, height, title, description);
    let _ = write!(
        out,
        r##"<line x1="{left}" y1="{b}" x2="{r}" y2="{b}" stroke="#333"/><text x="{lt}" y="20" font-size="12" text-anchor="end">{max}</text><text x="{lt}" y="{b}" font-size="12" text-anchor="end">{min}</text>"##,
        b = 10.0 + plot_height,
        r = left + plot_width,
        lt = left - 6.0,
        max = number(top.max(low)),
        min = number(low),
    );
    let path: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(index, point)| {
            let (x, y) = position(index, point.value);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let _ = write!(out, r#"<polyline points="{}" fill="none" stroke="{INK}" stroke-width="2"/>"#, path.join(" "));
    if points.len() <= 120 {
        for (index, point) in points.iter().enumerate() {
            let (x, y) = position(index, point.value);
            let _ = write!(
                out,
                r#"<g><title>{}: {}</title><circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{INK}"/></g>"#,
                escape(&point.label),
                number(point.value)
            );
        }
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let _ = write!(
            out,
            r#"<text x="{left}" y="{y}" font-size="12">{}</text><text x="{r}" y="{y}" font-size="12" text-anchor="end">{}</text>"#,
            escape(&shorten(&first.label, 24)),
            escape(&shorten(&last.label, 24)),
            y = height - 12.0,
            r = left + plot_width,
        );
    }
    out.push_str("</svg>");
    out
}

fn pie_svg(points: &[ChartPoint], title: &str, description: &str) -> String {
    let shown: Vec<&ChartPoint> = points.iter().filter(|point| point.value > 0.0).take(PALETTE.len()).collect();
    let total: f64 = shown.iter().map(|point| point.value).sum::<f64>().max(f64::MIN_POSITIVE);
    let (width, height, cx, cy, radius) = (640.0, 280.0, 140.0, 140.0, 120.0);
    let mut out = String::new();
    open_svg(&mut out, "chart", width, height, title, description);
    let mut angle = -std::f64::consts::FRAC_PI_2;
    for (index, point) in shown.iter().enumerate() {
        let share = point.value / total;
        let colour = PALETTE[index % PALETTE.len()];
        let label = escape(&point.label);
        let percent = format!("{:.1} %", share * 100.0);
        if share >= 0.9999 {
            let _ = write!(
                out,
                r#"<g><title>{label}: {} ({percent})</title><circle cx="{cx}" cy="{cy}" r="{radius}" fill="{colour}"/></g>"#,
                number(point.value)
            );
        } else {
            let end = angle + share * std::f64::consts::TAU;
            let (x1, y1) = (cx + radius * angle.cos(), cy + radius * angle.sin());
            let (x2, y2) = (cx + radius * end.cos(), cy + radius * end.sin());
            let large = if share > 0.5 { 1 } else { 0 };
            let _ = write!(
                out,
                r##"<g><title>{label}: {} ({percent})</title><path d="M{cx},{cy} L{x1:.1},{y1:.1} A{radius},{radius} 0 {large} 1 {x2:.1},{y2:.1} Z" fill="{colour}" stroke="#fff"/></g>"##,
                number(point.value)
            );
            angle = end;
        }
        let _ = write!(
            out,
            r#"<rect x="300" y="{ry}" width="14" height="14" fill="{colour}"/><text x="320" y="{ty}" font-size="13">{} — {percent}</text>"#,
            escape(&shorten(&point.label, 34)),
            ry = 20.0 + 28.0 * index as f64,
            ty = 32.0 + 28.0 * index as f64,
        );
    }
    out.push_str("</svg>");
    out
}

/// A small histogram for a profile table: `label` says in words what it shows.
pub fn sparkline(counts: &[u64], label: &str) -> String {
    let (width, height) = (120.0, 28.0);
    let most = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let bar = width / counts.len().max(1) as f64;
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{}">"#,
        escape(label)
    );
    for (index, count) in counts.iter().enumerate() {
        let length = (*count as f64 / most * (height - 2.0)).max(if *count > 0 { 1.0 } else { 0.0 });
        let _ = write!(
            out,
            r##"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{length:.1}" fill="{INK}" stroke="#fff" stroke-width="0.5"/>"##,
            x = bar * index as f64,
            y = height - length,
            w = bar,
        );
    }
    out.push_str("</svg>");
    out
}

/// An equirectangular plot framed on `[west, south, east, north]`, with the
/// aspect ratio kept at its middle latitude so shapes are not stretched.
struct MapFrame {
    west: f64,
    south: f64,
    squeeze: f64,
    scale: f64,
    margin: f64,
    height: f64,
}

impl MapFrame {
    /// Draws the background and the corner coordinates (to `decimals`
    /// places); spans below `min_span` degrees count as `min_span`.
    fn draw(
        out: &mut String,
        (width, height, margin): (f64, f64, f64),
        [west, south, east, north]: [f64; 4],
        min_span: f64,
        decimals: usize,
    ) -> MapFrame {
        let squeeze = ((south + north) / 2.0).to_radians().cos().max(0.1);
        let lon_span = (east - west).max(min_span);
        let lat_span = (north - south).max(min_span);
        let scale = ((width - 2.0 * margin) / (lon_span * squeeze)).min((height - 2.0 * margin) / lat_span);
        let _ = write!(
            out,
            r##"<rect x="0" y="0" width="{width}" height="{height}" fill="#f4f7fa"/><text x="6" y="{hb}" font-size="11">{south:.decimals$}°, {west:.decimals$}°</text><text x="{r}" y="14" font-size="11" text-anchor="end">{north:.decimals$}°, {east:.decimals$}°</text>"##,
            hb = height - 6.0,
            r = width - 6.0,
        );
        MapFrame { west, south, squeeze, scale, margin, height }
    }

    /// Where a longitude and latitude fall on the plot.
    fn project(&self, x: f64, y: f64) -> (f64, f64) {
        (
            self.margin + (x - self.west) * self.squeeze * self.scale,
            self.height - self.margin - (y - self.south) * self.scale,
        )
    }
}

/// Rows per grid cell on an equirectangular plot framed on the data.
pub fn map_svg(cells: &[MapCell], title: &str, description: &str) -> String {
    let (width, height, margin) = (640.0, 480.0, 30.0);
    let mut out = String::new();
    open_svg(&mut out, "map", width, height, title, description);
    if cells.is_empty() {
        out.push_str("</svg>");
        return out;
    }
    let mut bounds = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    for cell in cells {
        bounds = [
            bounds[0].min(cell.longitude),
            bounds[1].min(cell.latitude),
            bounds[2].max(cell.longitude),
            bounds[3].max(cell.latitude),
        ];
    }
    let frame = MapFrame::draw(&mut out, (width, height, margin), bounds, 0.01, 2);
    let most = cells.iter().map(|cell| cell.count).max().unwrap_or(1).max(1) as f64;
    for cell in cells {
        let (x, y) = frame.project(cell.longitude, cell.latitude);
        let radius = 1.5 + 7.0 * (cell.count as f64 / most).sqrt();
        let _ = write!(
            out,
            r#"<g><title>{:.3}, {:.3}: {}</title><circle cx="{x:.1}" cy="{y:.1}" r="{radius:.1}" fill="{INK}" fill-opacity="0.55"/></g>"#,
            cell.latitude,
            cell.longitude,
            number(cell.count as f64)
        );
    }
    out.push_str("</svg>");
    out
}

/// Geometries drawn as they are: polygons filled, lines stroked, points as
/// dots, each with its label as a tooltip. Positions closer than half a
/// pixel to the previous one are dropped, so a detailed border does not
/// weigh more than the picture can show.
pub fn shapes_svg(features: &[Feature], title: &str, description: &str) -> String {
    let (width, height, margin) = (640.0, 480.0, 20.0);
    let mut out = String::new();
    open_svg(&mut out, "map", width, height, title, description);
    let mut bounds: Option<[f64; 4]> = None;
    for feature in features {
        if let Some([west, south, east, north]) = extent(&feature.geometry) {
            let total = bounds.get_or_insert([west, south, east, north]);
            total[0] = total[0].min(west);
            total[1] = total[1].min(south);
            total[2] = total[2].max(east);
            total[3] = total[3].max(north);
        }
    }
    let Some(bounds) = bounds else {
        out.push_str("</svg>");
        return out;
    };
    let frame = MapFrame::draw(&mut out, (width, height, margin), bounds, 1e-6, 3);
    let project = |x: f64, y: f64| frame.project(x, y);
    fn ring(points: &serde_json::Value, project: &dyn Fn(f64, f64) -> (f64, f64), closed: bool, d: &mut String) {
        let mut last: Option<(f64, f64)> = None;
        for position in points.as_array().into_iter().flatten() {
            let (Some(x), Some(y)) = (position[0].as_f64(), position[1].as_f64()) else { continue };
            let (px, py) = project(x, y);
            if let Some((lx, ly)) = last
                && (px - lx).abs() < 0.5
                && (py - ly).abs() < 0.5
            {
                continue;
            }
            let _ = write!(d, "{}{px:.1} {py:.1}", if last.is_none() { "M" } else { "L" });
            last = Some((px, py));
        }
        if closed && last.is_some() {
            d.push('Z');
        }
    }
    for feature in features {
        let geometry = &feature.geometry;
        let parts: Vec<&serde_json::Value> = match geometry["type"].as_str() {
            Some("GeometryCollection") => {
                geometry["geometries"].as_array().map(|all| all.iter().collect()).unwrap_or_default()
            }
            _ => vec![geometry],
        };
        let _ = write!(out, "<g><title>{}</title>", escape(&feature.label));
        for part in parts {
            let coordinates = &part["coordinates"];
            let mut d = String::new();
            let (fill, dots): (bool, Vec<&serde_json::Value>) = match part["type"].as_str() {
                Some("Point") => (false, vec![coordinates]),
                Some("MultiPoint") => {
                    (false, coordinates.as_array().map(|all| all.iter().collect()).unwrap_or_default())
                }
                Some("LineString") => {
                    ring(coordinates, &project, false, &mut d);
                    (false, Vec::new())
                }
                Some("MultiLineString") => {
                    for line in coordinates.as_array().into_iter().flatten() {
                        ring(line, &project, false, &mut d);
                    }
                    (false, Vec::new())
                }
                Some("Polygon") => {
                    for line in coordinates.as_array().into_iter().flatten() {
                        ring(line, &project, true, &mut d);
                    }
                    (true, Vec::new())
                }
                Some("MultiPolygon") => {
                    for polygon in coordinates.as_array().into_iter().flatten() {
                        for line in polygon.as_array().into_iter().flatten() {
                            ring(line, &project, true, &mut d);
                        }
                    }
                    (true, Vec::new())
                }
                _ => (false, Vec::new()),
            };
            for dot in dots {
                if let (Some(x), Some(y)) = (dot[0].as_f64(), dot[1].as_f64()) {
                    let (px, py) = project(x, y);
                    let _ = write!(out, r#"<circle cx="{px:.1}" cy="{py:.1}" r="3" fill="{INK}" fill-opacity="0.7"/>"#);
                }
            }
            if !d.is_empty() {
                if fill {
                    let _ = write!(
                        out,
                        r#"<path d="{d}" fill="{INK}" fill-opacity="0.25" fill-rule="evenodd" stroke="{INK}" stroke-width="1"/>"#
                    );
                } else {
                    let _ = write!(out, r#"<path d="{d}" fill="none" stroke="{INK}" stroke-width="1.5"/>"#);
                }
            }
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(number(1234567.891), "1,234,567.89");
        assert_eq!(number(-1000.0), "-1,000");
        assert_eq!(number(12.0), "12");
    }

    #[test]
    fn shapes_are_drawn_with_escaped_labels() {
        let features = vec![
            Feature {
                label: "<script>x</script>".into(),
                geometry: serde_json::json!({"type": "Polygon", "coordinates": [[[-100.3, 25.6], [-100.2, 25.6], [-100.2, 25.7], [-100.3, 25.6]]]}),
            },
            Feature {
                label: "punto".into(),
                geometry: serde_json::json!({"type": "Point", "coordinates": [-100.25, 25.65]}),
            },
            Feature {
                label: "línea".into(),
                geometry: serde_json::json!({"type": "LineString", "coordinates": [[-100.3, 25.7], [-100.2, 25.6]]}),
            },
        ];
        let svg = shapes_svg(&features, "Mapa", "tres formas");
        assert!(!svg.contains("<script>"), "{svg}");
        assert_eq!(svg.matches("<path").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 1);
        assert!(svg.contains("Z\"") && svg.contains("fill=\"none\""));
    }

    #[test]
    fn labels_from_the_data_are_escaped() {
        let points = vec![ChartPoint { label: "<script>alert(1)</script>".into(), value: 3.0 }];
        for kind in [ChartKind::Bar, ChartKind::Pie, ChartKind::Line, ChartKind::Histogram] {
            let svg = chart_svg(kind, &points, "t <b>", "d");
            assert!(!svg.contains("<script>") && !svg.contains("<b>"), "{svg}");
            assert!(svg.contains("role=\"img\"") && svg.contains("<title id=\"chart-title\">"));
        }
    }
}
