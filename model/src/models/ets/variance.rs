//! Forecast variances of the fitted model, for Gaussian prediction intervals.
//!
//! StatsForecast groups ETS models into the classes of Hyndman et al. (2008, ch. 6) and has an
//! exact formula for each class it allows:
//!
//! * class 1 (additive error, additive or no components): `sigma^2 (1 + sum_{j<h} c_j^2)`;
//! * class 2 (multiplicative error, additive or no components): the recursion
//!   `theta_h = mu_h^2 + sigma^2 sum_{j<h} c_j^2 theta_(h-j)`, variance `(1 + sigma^2) theta_h - mu_h^2`;
//! * class 3 (multiplicative error and season): the mean and variance recursions of the
//!   Kronecker-product form (R forecast's `class3models`);
//!
//! with `c_j = alpha + beta phi_j + gamma d_j` (`phi_j = phi + ... + phi^j`, `d_j = 1` when `j` is
//! a whole number of seasons). Three places where StatsForecast 2.1.1 departs from those formulas
//! are *not* reproduced, because the intervals would then disagree with the model they describe
//! (and with our sample paths, which simulate it):
//!
//! * additive-season class-1 models use the last step's number of seasons for every step;
//! * MAA's coefficient is `alpha * beta * j` instead of `alpha + beta * j`;
//! * the class-3 mean recursion sits after its loop instead of inside it, so every step's
//!   variance is built on the one-step mean (widths off by -50% .. +165% on our fixtures).
//!
//! For damped class-3 models the transition uses `l + phi b` (R uses `l + b`), again so that the
//! variance matches the point forecasts and the simulated paths. Models outside these classes
//! (additive error with a multiplicative season) are not fitted by AutoETS; for them the caller
//! falls back to simulation.

use super::core::Dynamics;
use super::{ErrorKind, SeasonKind};

/// `c_1 .. c_h`: the effect of today's error on the forecast `j` steps on (additive scale).
fn coefficients(d: &Dynamics, horizon: usize) -> Vec<f64> {
    let mut phi_j = 0.0;
    let mut phi_pow = 1.0;
    (1..=horizon)
        .map(|j| {
            phi_pow *= d.phi;
            phi_j += phi_pow;
            let seasonal = if d.season != SeasonKind::None && j % d.m == 0 {
                d.gamma
            } else {
                0.0
            };
            let trend = if d.trend { d.beta * phi_j } else { 0.0 };
            d.alpha + trend + seasonal
        })
        .collect()
}

/// Variances of the `horizon` forecasts `point` of a model with innovation variance `sigma2`
/// and last state `last_state` (StatsForecast layout). `None` for models without a formula.
pub(crate) fn forecast_variance(
    d: &Dynamics,
    sigma2: f64,
    last_state: &[f64],
    point: &[f64],
) -> Option<Vec<f64>> {
    let horizon = point.len();
    match (d.error, d.season) {
        (ErrorKind::Additive, SeasonKind::Multiplicative) => None,
        (ErrorKind::Additive, _) => {
            let c = coefficients(d, horizon);
            let mut sum = 0.0;
            Some(
                (0..horizon)
                    .map(|h| {
                        let v = sigma2 * (1.0 + sum);
                        sum += c[h] * c[h];
                        v
                    })
                    .collect(),
            )
        }
        (ErrorKind::Multiplicative, SeasonKind::Multiplicative) => {
            class3(d, sigma2, last_state, horizon)
        }
        (ErrorKind::Multiplicative, _) => {
            let c2: Vec<f64> = coefficients(d, horizon).iter().map(|c| c * c).collect();
            let mut theta: Vec<f64> = Vec::with_capacity(horizon);
            for h in 0..horizon {
                let spread: f64 = (0..h).map(|j| c2[j] * theta[h - 1 - j]).sum();
                theta.push(point[h] * point[h] + sigma2 * spread);
            }
            Some(
                theta
                    .iter()
                    .zip(point)
                    .map(|(t, mu)| (1.0 + sigma2) * t - mu * mu)
                    .collect(),
            )
        }
    }
}

/// A small dense row-major matrix.
#[derive(Clone, Debug)]
struct Mat {
    rows: usize,
    cols: usize,
    v: Vec<f64>,
}

impl Mat {
    fn zeros(rows: usize, cols: usize) -> Mat {
        Mat {
            rows,
            cols,
            v: vec![0.0; rows * cols],
        }
    }
    fn at(&self, r: usize, c: usize) -> f64 {
        self.v[r * self.cols + c]
    }
    fn set(&mut self, r: usize, c: usize, x: f64) {
        self.v[r * self.cols + c] = x;
    }
    fn mul(&self, o: &Mat) -> Mat {
        let mut out = Mat::zeros(self.rows, o.cols);
        for r in 0..self.rows {
            for k in 0..self.cols {
                let a = self.at(r, k);
                if a != 0.0 {
                    for c in 0..o.cols {
                        out.v[r * o.cols + c] += a * o.at(k, c);
                    }
                }
            }
        }
        out
    }
    fn t(&self) -> Mat {
        let mut out = Mat::zeros(self.cols, self.rows);
        for r in 0..self.rows {
            for c in 0..self.cols {
                out.set(c, r, self.at(r, c));
            }
        }
        out
    }
    fn kron(&self, o: &Mat) -> Mat {
        let mut out = Mat::zeros(self.rows * o.rows, self.cols * o.cols);
        for r in 0..self.rows {
            for c in 0..self.cols {
                for i in 0..o.rows {
                    for j in 0..o.cols {
                        out.set(r * o.rows + i, c * o.cols + j, self.at(r, c) * o.at(i, j));
                    }
                }
            }
        }
        out
    }
    fn add(&self, o: &Mat, scale: f64) -> Mat {
        let v = self
            .v
            .iter()
            .zip(&o.v)
            .map(|(a, b)| a + scale * b)
            .collect();
        Mat {
            rows: self.rows,
            cols: self.cols,
            v,
        }
    }
    /// `a * b * a'`.
    fn sandwich(a: &Mat, b: &Mat) -> Mat {
        a.mul(b).mul(&a.t())
    }
}

/// Class-3 variances: the state is the outer product `X = (l, b)' s'`, which evolves as
/// `X_t = (F1 + G1 e)(X_(t-1))(F2 + G2 e)'`; its vectorisation's mean and covariance follow
/// exact recursions (Hyndman et al., 2008, section 6.5).
fn class3(d: &Dynamics, sigma2: f64, last_state: &[f64], horizon: usize) -> Option<Vec<f64>> {
    let m = d.m;
    let p1 = if d.trend { 2 } else { 1 };
    if last_state.len() != p1 + m || m == 0 {
        return None;
    }
    let (mut h1, mut f1, mut g1) = (Mat::zeros(1, p1), Mat::zeros(p1, p1), Mat::zeros(p1, p1));
    if d.trend {
        h1.v = vec![1.0, d.phi];
        f1.v = vec![1.0, d.phi, 0.0, d.phi];
        g1.v = vec![d.alpha, d.alpha * d.phi, d.beta, d.beta * d.phi];
    } else {
        h1.v = vec![1.0];
        f1.v = vec![1.0];
        g1.v = vec![d.alpha];
    }
    let mut h2 = Mat::zeros(1, m);
    h2.set(0, m - 1, 1.0);
    let mut f2 = Mat::zeros(m, m);
    f2.set(0, m - 1, 1.0);
    for i in 1..m {
        f2.set(i, i - 1, 1.0);
    }
    let mut g2 = Mat::zeros(m, m);
    g2.set(0, m - 1, d.gamma);

    let mut mh = Mat::zeros(p1, m);
    for i in 0..p1 {
        for j in 0..m {
            mh.set(i, j, last_state[i] * last_state[p1 + j]);
        }
    }
    let size = p1 * m;
    let mut vh = Mat::zeros(size, size);
    let h21 = h2.kron(&h1);
    let f21 = f2.kron(&f1);
    let g21 = g2.kron(&g1);
    let k = g2.kron(&f1).add(&f2.kron(&g1), 1.0);
    let (f21t, g21t, kt) = (f21.t(), g21.t(), k.t());
    let mut var = Vec::with_capacity(horizon);
    for _ in 0..horizon {
        let mu = h1.mul(&mh).mul(&h2.t()).at(0, 0);
        var.push((1.0 + sigma2) * Mat::sandwich(&h21, &vh).at(0, 0) + sigma2 * mu * mu);
        // vec(Mh), column-major, as the Kronecker products expect.
        let mut outer = Mat::zeros(size, size);
        let vec_m: Vec<f64> = (0..size).map(|idx| mh.at(idx % p1, idx / p1)).collect();
        for (r, a) in vec_m.iter().enumerate() {
            for (c, b) in vec_m.iter().enumerate() {
                outer.set(r, c, a * b);
            }
        }
        let cross = f21.mul(&vh).mul(&g21t).add(&g21.mul(&vh).mul(&f21t), 1.0);
        let through_k = k.mul(&vh.add(&outer, 1.0)).mul(&kt);
        let second = g21.mul(&vh.add(&vh, 2.0).add(&outer, 2.0)).mul(&g21t);
        let noise = cross.add(&through_k, 1.0).add(&second, sigma2);
        vh = Mat::sandwich(&f21, &vh).add(&noise, sigma2);
        mh = f1
            .mul(&mh)
            .mul(&f2.t())
            .add(&g1.mul(&mh).mul(&g2.t()), sigma2);
    }
    var.iter().all(|v| v.is_finite()).then_some(var)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dynamics(error: ErrorKind, trend: bool, season: SeasonKind, m: usize) -> Dynamics {
        Dynamics {
            error,
            trend,
            season,
            m,
            alpha: 0.3,
            beta: 0.1,
            gamma: 0.2,
            phi: 1.0,
        }
    }

    #[test]
    fn simple_smoothing_variance_grows_by_alpha_squared_per_step() {
        let d = dynamics(ErrorKind::Additive, false, SeasonKind::None, 1);
        let v = forecast_variance(&d, 2.0, &[5.0], &[5.0; 4]).unwrap();
        for (h, value) in v.iter().enumerate() {
            assert!(
                (value - 2.0 * (1.0 + 0.09 * h as f64)).abs() < 1e-12,
                "{v:?}"
            );
        }
    }

    #[test]
    fn holt_winters_variance_matches_the_closed_form_per_step() {
        let d = dynamics(ErrorKind::Additive, true, SeasonKind::Additive, 4);
        let v = forecast_variance(&d, 1.0, &[0.0; 6], &[0.0; 9]).unwrap();
        for (i, value) in v.iter().enumerate() {
            let h = (i + 1) as f64;
            let hm = (i / 4) as f64;
            let (a, b, g) = (0.3, 0.1, 0.2);
            let exp1 = a * a + a * b * h + b * b * h * (2.0 * h - 1.0) / 6.0;
            let closed = 1.0 + (h - 1.0) * exp1 + g * hm * (2.0 * a + g + b * 4.0 * (hm + 1.0));
            assert!(
                (value - closed).abs() < 1e-12,
                "step {h}: {value} vs {closed}"
            );
        }
    }

    #[test]
    fn class_three_reduces_to_class_two_without_a_real_season() {
        // A flat multiplicative season with gamma = 0 behaves as MNN.
        let mut d = dynamics(
            ErrorKind::Multiplicative,
            false,
            SeasonKind::Multiplicative,
            3,
        );
        d.gamma = 0.0;
        let point = [10.0; 5];
        let c3 = forecast_variance(&d, 0.01, &[10.0, 1.0, 1.0, 1.0], &point).unwrap();
        let mnn = Dynamics {
            season: SeasonKind::None,
            m: 1,
            ..d
        };
        let c2 = forecast_variance(&mnn, 0.01, &[10.0], &point).unwrap();
        for (a, b) in c3.iter().zip(&c2) {
            assert!((a - b).abs() < 1e-9 * b, "{c3:?} vs {c2:?}");
        }
    }
}
