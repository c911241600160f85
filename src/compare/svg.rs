//! A horizontal bar chart as SVG text: one group per workload, one bar per style, log scale,
//! so a 3 ns call and a 30 ms one read at a glance on the same axis.

use std::fmt::Write as _;

pub(crate) struct Bar {
    pub label: &'static str,
    pub value: f64,
    pub text: String,
    /// Drawn in the baseline colour.
    pub baseline: bool,
}

pub(crate) struct Group {
    pub title: String,
    pub bars: Vec<Bar>,
}

const WIDTH: f64 = 960.0;
const LABEL: f64 = 190.0;
const PLOT: f64 = 560.0;
const BAR: f64 = 15.0;
const GAP: f64 = 4.0;
const TITLE: f64 = 22.0;

/// Escapes text for an SVG text node.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(crate) fn chart(title: &str, groups: &[Group], footer: &[String]) -> String {
    let values = groups.iter().flat_map(|g| g.bars.iter().map(|b| b.value));
    let (low, high) = values.fold((f64::INFINITY, 0f64), |(lo, hi), v| {
        (lo.min(v.max(1e-3)), hi.max(v))
    });
    // Whole decades around the data.
    let (first, last) = (
        low.log10().floor(),
        high.log10().ceil().max(low.log10().floor() + 1.0),
    );
    let x = |value: f64| LABEL + PLOT * (value.max(1e-3).log10() - first) / (last - first);
    let height = 50.0
        + groups
            .iter()
            .map(|g| TITLE + g.bars.len() as f64 * (BAR + GAP) + 10.0)
            .sum::<f64>()
        + 30.0;
    let chart_height = height;
    let height = height + footer.len() as f64 * 15.0 + 10.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let axis_top = 40.0;
    let axis_bottom = chart_height - 30.0;
    // Decade lines, labelled in time units.
    let mut decade = first;
    while decade <= last {
        let value = 10f64.powf(decade);
        let px = x(value);
        let _ = writeln!(
            svg,
            r##"<line x1="{px:.1}" y1="{axis_top}" x2="{px:.1}" y2="{axis_bottom}" stroke="#ddd"/>"##
        );
        let _ = writeln!(
            svg,
            r##"<text x="{px:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            axis_bottom + 16.0,
            escape(&super::format_ns(value))
        );
        decade += 1.0;
    }
    let mut y = 50.0;
    for group in groups {
        let _ = writeln!(
            svg,
            r#"<text x="10" y="{:.1}" font-weight="bold">{}</text>"#,
            y + 14.0,
            escape(&group.title)
        );
        y += TITLE;
        for bar in &group.bars {
            let colour = if bar.baseline { "#888" } else { "#3b73b9" };
            let end = x(bar.value);
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                LABEL - 6.0,
                y + BAR - 3.0,
                escape(bar.label)
            );
            let _ = writeln!(
                svg,
                r#"<rect x="{LABEL}" y="{y:.1}" width="{:.1}" height="{BAR}" fill="{colour}"/>"#,
                (end - LABEL).max(1.0)
            );
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                end + 5.0,
                y + BAR - 3.0,
                escape(&bar.text)
            );
            y += BAR + GAP;
        }
        y += 10.0;
    }
    // The whole picture, as text lines below the chart.
    let mut line_y = chart_height + 5.0;
    for line in footer {
        let _ = writeln!(
            svg,
            r#"<text x="10" y="{line_y:.1}" font-family="monospace" font-size="11" xml:space="preserve">{}</text>"#,
            escape(line)
        );
        line_y += 15.0;
    }
    svg.push_str("</svg>\n");
    svg
}
