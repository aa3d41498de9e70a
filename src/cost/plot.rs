//! Cost against size for both options as an SVG chart, with the crossovers marked.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::compare::{Comparison, CurvePoint, cost_curve};
use super::error::CostError;
use super::price::PriceBook;
use super::size::trim_number;

const CHART_SIZE: (u32, u32) = (900, 560);
const SAMPLES: usize = 300;
const EFS_COLOR: RGBColor = RGBColor(31, 119, 180);
const EBS_COLOR: RGBColor = RGBColor(214, 39, 40);

type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// Draws monthly cost against size per volume for EFS and EBS, marking the crossovers and the
/// size of the comparison.
pub fn render_svg(comparison: &Comparison, book: &PriceBook) -> Result<String, CostError> {
    let curve = cost_curve(&comparison.scenario, book, sample_sizes(comparison))?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, CHART_SIZE).into_drawing_area();
        draw(&root, comparison, &curve)
            .and_then(|()| root.present())
            .map_err(|error| CostError::Plot(error.to_string()))?;
    }
    Ok(svg)
}

/// Sizes from 0 to twice the larger of the chosen size and the last crossover.
fn sample_sizes(comparison: &Comparison) -> impl Iterator<Item = f64> {
    let chosen = comparison.scenario.size.gib();
    let last_crossover = comparison
        .crossovers
        .points
        .iter()
        .map(|crossover| crossover.size_gib)
        .fold(0.0, f64::max);
    let max = 2.0 * chosen.max(last_crossover);
    (1..=SAMPLES).map(move |index| max * index as f64 / SAMPLES as f64)
}

fn draw(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    comparison: &Comparison,
    curve: &[CurvePoint],
) -> DrawResult {
    root.fill(&WHITE)?;
    let x_max = curve.last().map_or(1.0, |point| point.size_gib);
    let y_max = curve
        .iter()
        .map(|point| point.efs.max(point.ebs))
        .fold(1.0, f64::max)
        * 1.1;
    let caption = format!(
        "{} vs {} in {}",
        comparison.efs.title, comparison.ebs.title, comparison.scenario.region
    );
    let mut chart = ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 18))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    let dollars = |usd: &f64| dollar_tick(*usd, y_max);
    chart
        .configure_mesh()
        .x_desc("size per volume (GiB)")
        .y_desc("USD per month")
        .y_label_formatter(&dollars)
        .draw()?;
    for (label, color, cost) in [
        (
            "EFS",
            EFS_COLOR,
            (|point: &CurvePoint| point.efs) as fn(&CurvePoint) -> f64,
        ),
        ("EBS", EBS_COLOR, |point: &CurvePoint| point.ebs),
    ] {
        chart
            .draw_series(LineSeries::new(
                curve.iter().map(|point| (point.size_gib, cost(point))),
                color.stroke_width(2),
            ))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    for crossover in &comparison.crossovers.points {
        let x = crossover.size_gib;
        let cost = comparison_cost_at(curve, x);
        chart.draw_series([PathElement::new(
            vec![(x, 0.0), (x, y_max)],
            BLACK.stroke_width(1),
        )])?;
        chart.draw_series([Circle::new((x, cost), 5, BLACK.filled())])?;
        chart.draw_series([Text::new(
            format!("crossover {} GiB", trim_number(x)),
            (x + x_max * 0.01, y_max * 0.95),
            ("sans-serif", 14),
        )])?;
    }
    let chosen = comparison.scenario.size.gib();
    let (efs_total, ebs_total) = (comparison.efs.total, comparison.ebs.total);
    chart.draw_series([
        Circle::new((chosen, efs_total), 4, EFS_COLOR.filled()),
        Circle::new((chosen, ebs_total), 4, EBS_COLOR.filled()),
    ])?;
    chart.draw_series([Text::new(
        "this estimate",
        (
            chosen + x_max * 0.01,
            efs_total.max(ebs_total) + y_max * 0.03,
        ),
        ("sans-serif", 13),
    )])?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// A y-axis tick: dollars, with cents only when the axis is short enough to need them.
fn dollar_tick(usd: f64, axis_max: f64) -> String {
    if axis_max >= 100.0 {
        format!("${usd:.0}")
    } else {
        format!("${usd:.2}")
    }
}

/// The EFS cost at the sample nearest to `size_gib` (both options cost the same there).
fn comparison_cost_at(curve: &[CurvePoint], size_gib: f64) -> f64 {
    curve
        .iter()
        .min_by(|a, b| {
            (a.size_gib - size_gib)
                .abs()
                .total_cmp(&(b.size_gib - size_gib).abs())
        })
        .map_or(0.0, |point| point.efs)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ticks_show_dollars() {
        assert_eq!(super::dollar_tick(40.0, 120.0), "$40");
        assert_eq!(super::dollar_tick(2.5, 9.0), "$2.50");
    }

    use super::*;
    use crate::cost::compare::compare;
    use crate::cost::scenario::{EfsConfig, Scenario};
    use crate::cost::size::Share;

    #[test]
    fn the_svg_shows_both_curves_and_the_crossover() {
        let scenario = Scenario {
            efs: EfsConfig {
                standard_share: Share::from_fraction(0.2).unwrap(),
                archive_share: Share::from_fraction(0.8).unwrap(),
                read_gb: 30.0,
                write_gb: 10.0,
                ..EfsConfig::default()
            },
            ..Scenario::for_test("us-east-1", 1000.0)
        };
        let book = PriceBook::bundled().unwrap();
        let comparison = compare(&scenario, &book).unwrap();
        let svg = render_svg(&comparison, &book).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        assert!(svg.contains("crossover 134 GiB"), "crossover label missing");
        assert!(svg.contains("\n$40\n</text>"), "y ticks in dollars");
        assert!(
            svg.contains("\nEFS\n") && svg.contains("\nEBS\n"),
            "legend missing"
        );
        for color in ["#1F77B4", "#D62728"] {
            let line = format!(r#"stroke="{color}" stroke-width="2" points=""#);
            let longest = svg
                .lines()
                .filter(|row| row.contains(&line))
                .map(|row| row.matches(',').count())
                .max();
            assert_eq!(longest, Some(SAMPLES), "curve drawn in {color}");
        }
    }
}
