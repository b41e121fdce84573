//! The latency distribution, two ways: HdrHistogram's classic percentile
//! spectrum, the text its plotter (and wrk2's users) read, and a small
//! histogram drawn in text for a terminal.

use std::io::{self, Write};

use hdrhistogram::Histogram;

/// Percentile steps per halving of the distance to 100 %, as HdrHistogram's
/// own output uses by default.
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// The blocks a bar ends with, by eighths of a cell.
const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/// Writes `hist` (in microseconds) as HdrHistogram's percentile
/// distribution ("Value Percentile TotalCount 1/(1-Percentile)"), with
/// values in milliseconds.
pub fn write_percentiles(hist: &Histogram<u64>, out: &mut impl Write) -> io::Result<()> {
    let ms = |us: f64| us / 1000.0;
    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    let mut total = 0;
    for step in hist.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
        total += step.count_since_last_iteration();
        let value = ms(step.value_iterated_to() as f64);
        let quantile = step.quantile_iterated_to();
        if quantile < 1.0 {
            let inverse = 1.0 / (1.0 - quantile);
            writeln!(out, "{value:12.3} {quantile:2.12} {total:10} {inverse:14.2}")?;
        } else {
            writeln!(out, "{value:12.3} {quantile:2.12} {total:10}")?;
        }
    }
    let sub_buckets = (2 * 10u64.pow(u32::from(hist.sigfig()))).next_power_of_two();
    writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        ms(hist.mean()),
        ms(hist.stdev())
    )?;
    writeln!(
        out,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        ms(hist.max() as f64),
        hist.len()
    )?;
    writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        hist.buckets(),
        sub_buckets
    )
}

/// `hist` (in microseconds) drawn in text: up to `rows` bins spaced evenly on
/// a log scale from its least to its greatest value, each with its upper
/// bound, a bar of up to `width` cells and its count. Empty for no values.
pub fn draw(hist: &Histogram<u64>, rows: usize, width: usize) -> Vec<String> {
    if hist.is_empty() || rows == 0 {
        return Vec::new();
    }
    let low = hist.min().max(1) as f64;
    let high = (hist.max() as f64).max(low);
    // Each bin's upper bound is `step` times its lower one.
    let rows = if high > low { rows } else { 1 };
    let step = (high / low).powf(1.0 / rows as f64);
    let mut counts = vec![0u64; rows];
    for value in hist.iter_recorded() {
        let position = (value.value_iterated_to().max(1) as f64 / low).ln() / step.ln();
        let bin = if position.is_finite() {
            position as usize
        } else {
            0
        };
        counts[bin.min(rows - 1)] += value.count_at_value();
    }
    let most = counts.iter().copied().max().unwrap_or(1).max(1);
    counts
        .iter()
        .enumerate()
        .map(|(bin, &count)| {
            let upper = if bin + 1 == rows {
                high
            } else {
                low * step.powi(bin as i32 + 1)
            };
            format!(
                "≤ {:>9}  {:<width$}  {count}",
                super::report::micros(upper.round() as u64),
                bar(count, most, width)
            )
        })
        .collect()
}

/// A bar of `count / most` of `width` cells, in eighths of a cell; at least
/// an eighth for any count above zero.
fn bar(count: u64, most: u64, width: usize) -> String {
    let eighths = (count as f64 / most as f64 * (width * 8) as f64).round() as usize;
    let eighths = if count > 0 { eighths.max(1) } else { 0 };
    let mut bar = "█".repeat(eighths / 8);
    if eighths % 8 > 0 {
        bar.push(EIGHTHS[eighths % 8]);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values: &[u64]) -> Histogram<u64> {
        let mut hist = Histogram::new_with_bounds(1, 60_000_000, 3).unwrap();
        for &v in values {
            hist.record(v).unwrap();
        }
        hist
    }

    #[test]
    fn the_spectrum_is_hdrhistograms_text() {
        let values: Vec<u64> = (1..=1000).map(|i| i * 10).collect();
        let mut out = Vec::new();
        write_percentiles(&histogram(&values), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines.next().unwrap(), "");
        assert_eq!(
            lines.next().unwrap(),
            "       0.010 0.000000000000          1           1.00"
        );
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(2)
            .take_while(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().collect())
            .collect();
        let last = rows.last().unwrap();
        assert_eq!(last.len(), 3, "the 100 % line has no 1/(1-Percentile)");
        assert_eq!(last[1], "1.000000000000");
        assert_eq!(last[2], "1000");
        let values: Vec<f64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
        assert!(values.windows(2).all(|w| w[0] <= w[1]));
        assert!((values.last().unwrap() - 10.0).abs() < 0.01, "{values:?}");
        assert!(text.contains("#[Max     =       10.007, Total count    =         1000]"));
        assert!(
            text.ends_with("#[Buckets =           16, SubBuckets     =         2048]\n"),
            "{text}"
        );
    }

    #[test]
    fn a_small_histogram_on_a_log_scale() {
        let mut values = vec![100; 90];
        values.extend([10_000; 10]);
        let lines = draw(&histogram(&values), 4, 20);
        assert_eq!(lines.len(), 4);
        assert!(
            lines[0].starts_with("≤    316 µs  ████████████████████  90"),
            "{lines:?}"
        );
        assert!(lines[1].ends_with("  0"), "{lines:?}");
        assert!(lines[3].starts_with("≤  10.01 ms  ██▎"), "{lines:?}");
        assert!(lines[3].ends_with("  10"), "{lines:?}");
        // One value: one row.
        assert_eq!(draw(&histogram(&[5]), 8, 20).len(), 1);
        assert!(draw(&histogram(&[]), 8, 20).is_empty());
    }

    #[test]
    fn bars_show_any_count() {
        assert_eq!(bar(0, 100, 10), "");
        assert_eq!(bar(1, 1_000, 10), "▏");
        assert_eq!(bar(100, 100, 3), "███");
        assert_eq!(bar(50, 100, 3), "█▌");
    }
}
