//! STL (Cleveland et al., 1990) for one period, without robustness iterations.
//!
//! This is the algorithm of the original Fortran (netlib `stl`), which statsmodels' `STL` and
//! the `stlrs` crate both port, restricted to what MSTL uses: every point smoothed (all "jumps"
//! are 1) and no robustness weights. It is written here rather than taken from `stlrs` for speed:
//! `stlrs` computes every Loess fit from scratch, recomputing the tricube weights and a weighted
//! linear fit for each point, which made one MSTL of 8,760 hourly points take ~400 ms. Here a
//! point whose window lies wholly inside the series uses one precomputed kernel: its window is
//! symmetric, so the weighted linear fit's slope term is exactly zero and the local fit is a
//! plain weighted mean, i.e. a convolution. Only the first and last half-windows need the full
//! local fit, done in one pass over the window. Results agree with statsmodels to about 1e-14
//! relative (the summation order differs, nothing else).

/// Loess windows keep only neighbours closer than this fraction of the bandwidth (Fortran `h9`).
const OUTER_CUTOFF: f64 = 0.999;
/// Neighbours closer than this fraction of the bandwidth get weight 1 (Fortran `h1`).
const INNER_CUTOFF: f64 = 0.001;
/// A local linear fit is used only when the weighted spread of the window's positions exceeds
/// this fraction of the series' range; otherwise the fit is a weighted mean (Fortran `est`).
const SPREAD_CUTOFF: f64 = 0.001;
/// Outputs per block of the centred convolution: 512 f64 accumulators plus the inputs they read
/// (512 + the kernel) fit in a 32 KiB L1 data cache for kernels up to ~3,000 points.
const AXPY_BLOCK: usize = 512;

/// Loess smoother settings: window length (odd) and local polynomial degree (0 or 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Loess {
    /// Number of neighbours in each local fit.
    pub length: usize,
    /// 0: local constant; 1: local line.
    pub degree: u8,
}

/// STL for one period: seasonal, trend and low-pass smoothers and the number of passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Stl {
    /// The period, at least 2.
    pub period: usize,
    /// Smoother of each cycle-subseries.
    pub seasonal: Loess,
    /// Smoother of the deseasonalised series.
    pub trend: Loess,
    /// Smoother of the low-pass filter that removes the trend from the cycle-subseries.
    pub low_pass: Loess,
    /// Passes of the inner loop.
    pub inner_loops: usize,
}

impl Stl {
    /// The seasonal and trend components of `y`. The caller guarantees at least two full periods
    /// (`y.len() >= 2 * period`) and `period >= 2`; anything shorter returns `None`.
    pub fn fit(&self, y: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
        let n = y.len();
        let np = self.period;
        if np < 2 || n < 2 * np {
            return None;
        }
        let mut seasonal = vec![0.0; n];
        let mut trend = vec![0.0; n];
        let mut work = vec![0.0; n];
        // The cycle-subseries smooths extend one period past each end of the series.
        let mut cycle = vec![0.0; n + 2 * np];
        for _ in 0..self.inner_loops {
            for ((w, yi), t) in work.iter_mut().zip(y).zip(&trend) {
                *w = yi - t;
            }
            self.smooth_cycle_subseries(&work, &mut cycle);
            // Low-pass filter of the smoothed cycle-subseries: moving averages of length np, np,
            // 3 (n + 2np points down to n), then Loess.
            let averaged = moving_average(&moving_average(&moving_average(&cycle, np), np), 3);
            let low_pass = smooth(&averaged, self.low_pass);
            for (i, s) in seasonal.iter_mut().enumerate() {
                *s = cycle[np + i] - low_pass[i];
            }
            for ((w, yi), s) in work.iter_mut().zip(y).zip(&seasonal) {
                *w = yi - s;
            }
            trend = smooth(&work, self.trend);
        }
        Some((seasonal, trend))
    }

    /// Smooths each cycle-subseries (every `period`-th point) of `detrended` and extrapolates it
    /// one step before and after, writing the result interleaved back into `cycle`, which is
    /// `n + 2 * period` long and starts one period before the series.
    fn smooth_cycle_subseries(&self, detrended: &[f64], cycle: &mut [f64]) {
        let n = detrended.len();
        let np = self.period;
        let mut sub = Vec::with_capacity(n / np + 1);
        for phase in 0..np {
            sub.clear();
            sub.extend(detrended.iter().skip(phase).step_by(np));
            let k = sub.len();
            let fitted = smooth(&sub, self.seasonal);
            let nright = self.seasonal.length.min(k);
            let before = local_fit(&sub, self.seasonal, 0.0, 1, nright).unwrap_or(fitted[0]);
            let nleft = (k + 1).saturating_sub(self.seasonal.length).max(1);
            let after =
                local_fit(&sub, self.seasonal, (k + 1) as f64, nleft, k).unwrap_or(fitted[k - 1]);
            let values = std::iter::once(before)
                .chain(fitted.iter().copied())
                .chain(std::iter::once(after));
            for (slot, v) in cycle.iter_mut().skip(phase).step_by(np).zip(values) {
                *slot = v;
            }
        }
    }
}

/// Loess of `y` at every point (positions 1..=n), Fortran `ess` with a jump of 1.
pub(super) fn smooth(y: &[f64], loess: Loess) -> Vec<f64> {
    let n = y.len();
    if n < 2 {
        return y.to_vec();
    }
    let len = loess.length;
    let fit_at = |i: usize, nleft: usize, nright: usize| {
        local_fit(y, loess, i as f64, nleft, nright).unwrap_or(y[i - 1])
    };
    if len >= n {
        return (1..=n).map(|i| fit_at(i, 1, n)).collect();
    }
    // Windows of `len` points slide with the fitted point and stop at the ends of the series.
    let half = len / 2;
    let window = |i: usize| {
        let nleft = (i + 1)
            .saturating_sub(len.div_ceil(2))
            .clamp(1, n - len + 1);
        (nleft, nleft + len - 1)
    };
    // Every length STL uses is odd; an even one has no centred windows and takes the slow path.
    if len.is_multiple_of(2) {
        return (1..=n)
            .map(|i| {
                let (nleft, nright) = window(i);
                fit_at(i, nleft, nright)
            })
            .collect();
    }
    // Points half + 1 ..= n - half (1-based) have their window centred on them and share one
    // kernel; the half-windows at either end need the full local fit.
    let (first, last) = (half + 1, n - half);
    let mut out = vec![0.0; n];
    for i in (1..first).chain(last + 1..=n) {
        let (nleft, nright) = window(i);
        out[i - 1] = fit_at(i, nleft, nright);
    }
    let kernel = centred_kernel(half);
    // out[i] = Σ_m kernel[m] y[i - half + m], accumulated one kernel weight at a time: an axpy,
    // which vectorises (a dot product per point would not, without fast-math). Blocks of outputs
    // keep the accumulators and the inputs they read in L1 cache. The window of point `first`
    // starts at y[0].
    for (block, out_block) in out[first - 1..last].chunks_mut(AXPY_BLOCK).enumerate() {
        let start = block * AXPY_BLOCK;
        for (m, &w) in kernel.iter().enumerate() {
            let shifted = &y[start + m..start + m + out_block.len()];
            for (o, v) in out_block.iter_mut().zip(shifted) {
                *o += w * v;
            }
        }
    }
    out
}

/// The normalised tricube weights of a window of `2 * half + 1` points centred on the fitted
/// point, as `local_fit` computes them with bandwidth `half`.
fn centred_kernel(half: usize) -> Vec<f64> {
    let h = half as f64;
    let mut kernel: Vec<f64> = (0..=2 * half)
        .map(|m| tricube(m.abs_diff(half) as f64, h))
        .collect();
    let total: f64 = kernel.iter().sum();
    for w in &mut kernel {
        *w /= total;
    }
    kernel
}

/// The tricube weight of a neighbour at distance `r` for bandwidth `h`, with the Fortran's
/// cut-offs: 1 very close, 0 at (or within 0.1% of) the bandwidth.
fn tricube(r: f64, h: f64) -> f64 {
    if r <= INNER_CUTOFF * h {
        1.0
    } else if r <= OUTER_CUTOFF * h {
        let u = r / h;
        let v = 1.0 - u * u * u;
        v * v * v
    } else {
        0.0
    }
}

/// The Loess estimate at position `xs` (1-based, may lie outside the series) from the points
/// `nleft..=nright` (1-based) of `y`: Fortran `est` without robustness weights. `None` when every
/// weight is zero.
fn local_fit(y: &[f64], loess: Loess, xs: f64, nleft: usize, nright: usize) -> Option<f64> {
    let n = y.len();
    let range = n as f64 - 1.0;
    let mut h = (xs - nleft as f64).max(nright as f64 - xs);
    if loess.length > n {
        h += ((loess.length - n) / 2) as f64;
    }
    // Weighted moments of the positions (relative to `xs`, to keep them small) and of y. Only
    // the neighbours within the bandwidth can have a weight.
    let reach = (OUTER_CUTOFF * h).floor();
    let lo = nleft.max((xs - reach).ceil().max(1.0) as usize);
    let hi = nright.min((xs + reach).floor().max(0.0) as usize);
    let (mut sw, mut swd, mut swdd, mut swy, mut swdy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    // `tricube` inlined for the hot loop: every neighbour in lo..=hi is within the outer cut-off,
    // and a multiplication by 1/h replaces the division (a rounding-level difference).
    let inner = INNER_CUTOFF * h;
    let inverse_h = if h > 0.0 { 1.0 / h } else { 0.0 };
    for (j, &v) in (lo..=hi).zip(&y[lo.saturating_sub(1)..hi.min(n)]) {
        let d = j as f64 - xs;
        let r = d.abs();
        let u = if r <= inner { 0.0 } else { r * inverse_h };
        let c = 1.0 - u * u * u;
        let w = c * c * c;
        let wd = w * d;
        sw += w;
        swd += wd;
        swdd += wd * d;
        swy += w * v;
        swdy += wd * v;
    }
    if sw <= 0.0 {
        return None;
    }
    let mean_d = swd / sw;
    let mean_y = swy / sw;
    if h > 0.0 && loess.degree > 0 {
        let spread = swdd / sw - mean_d * mean_d;
        if spread.max(0.0).sqrt() > SPREAD_CUTOFF * range {
            // The weighted least-squares line through the window, evaluated at xs (d = 0).
            let covariance = swdy / sw - mean_d * mean_y;
            return Some(mean_y - mean_d * covariance / spread);
        }
    }
    Some(mean_y)
}

/// Moving averages of length `len` (the output is `len - 1` shorter than `x`).
fn moving_average(x: &[f64], len: usize) -> Vec<f64> {
    if len == 0 || x.len() < len {
        return Vec::new();
    }
    let scale = 1.0 / len as f64;
    let mut sum: f64 = x[..len].iter().sum();
    let mut out = Vec::with_capacity(x.len() - len + 1);
    out.push(sum * scale);
    for (leaving, entering) in x.iter().zip(&x[len..]) {
        sum += entering - leaving;
        out.push(sum * scale);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: Loess = Loess {
        length: 7,
        degree: 1,
    };

    #[test]
    fn local_lines_reproduce_a_straight_line_everywhere() {
        let y: Vec<f64> = (0..30).map(|t| 2.0 + 0.5 * t as f64).collect();
        let fitted = smooth(&y, LINE);
        for (a, b) in fitted.iter().zip(&y) {
            assert!((a - b).abs() < 1e-10, "{a} vs {b}");
        }
        // ... and extrapolate it, as the cycle-subseries ends need.
        let after = local_fit(&y, LINE, 31.0, 24, 30).unwrap();
        assert!((after - (2.0 + 0.5 * 30.0)).abs() < 1e-10);
    }

    #[test]
    fn the_centred_kernel_matches_the_general_local_fit() {
        let y: Vec<f64> = (0..40).map(|t| ((t * 7919) % 13) as f64).collect();
        let fitted = smooth(&y, LINE);
        for i in 4..=37 {
            let direct = local_fit(&y, LINE, i as f64, i - 3, i + 3).unwrap();
            assert!((fitted[i - 1] - direct).abs() < 1e-12);
        }
    }

    #[test]
    fn windows_longer_than_the_series_still_smooth() {
        let y = [1.0, 3.0, 2.0];
        let fitted = smooth(
            &y,
            Loess {
                length: 11,
                degree: 0,
            },
        );
        assert!(fitted.iter().all(|v| (1.0..=3.0).contains(v)));
    }

    #[test]
    fn moving_averages_shorten_by_the_window() {
        assert_eq!(moving_average(&[1.0, 2.0, 3.0, 4.0], 3), vec![2.0, 3.0]);
        assert!(moving_average(&[1.0], 3).is_empty());
    }

    #[test]
    fn a_pure_cycle_is_all_seasonal() {
        let period = 6;
        let pattern = [1.0, -2.0, 0.5, 3.0, -1.5, -1.0];
        let y: Vec<f64> = (0..60).map(|t| 10.0 + pattern[t % period]).collect();
        let stl = Stl {
            period,
            seasonal: Loess {
                length: 11,
                degree: 0,
            },
            trend: Loess {
                length: 11,
                degree: 1,
            },
            low_pass: Loess {
                length: 7,
                degree: 1,
            },
            inner_loops: 5,
        };
        let (seasonal, trend) = stl.fit(&y).unwrap();
        for (t, (s, level)) in seasonal.iter().zip(&trend).enumerate() {
            assert!((s - pattern[t % period]).abs() < 1e-6, "{t}: {s}");
            assert!((level - 10.0).abs() < 1e-6);
        }
    }

    #[test]
    fn fewer_than_two_periods_is_refused() {
        let stl = Stl {
            period: 6,
            seasonal: Loess {
                length: 11,
                degree: 0,
            },
            trend: Loess {
                length: 11,
                degree: 1,
            },
            low_pass: Loess {
                length: 7,
                degree: 1,
            },
            inner_loops: 5,
        };
        assert!(stl.fit(&[1.0; 11]).is_none());
    }
}
