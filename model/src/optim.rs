//! Bounded Nelder-Mead minimisation: StatsForecast's `nelder_mead.h`, step for step, shared by
//! ETS and Theta.
//!
//! # Why a port and not a library optimiser
//!
//! Both models are measured against StatsForecast, and both run its Nelder-Mead with a loose
//! stop (the spread of the simplex's values below 1e-4, at most 1000 iterations). On 10-30
//! parameters (ETS with a weekly or daily season's initial states), or on the flat criteria of
//! Theta's variants (Chicago `Clark_Lake`: STM 390.51525, OTM 390.51561, DOTM 390.51635), the
//! search usually stops *before* it converges. Which model AICc (ETS) or the criterion (Theta)
//! then picks depends on exactly where each search stopped, so matching StatsForecast's choices
//! and forecasts needs its exact steps, not a better optimiser. A textbook variant (`argmin`'s,
//! or the one this file used to hold) ends elsewhere in 8 of the 28 Theta variant fits of our
//! reference cases, some with point forecasts 4% apart; with this port they agree to 1e-13.
//!
//! # The rules, and what each one decides
//!
//! * **Adaptive coefficients** (Gao and Han, 2012): reflection 1, expansion `1 + 2/n`,
//!   contraction `3/4 - 1/(2n)`, shrink `1 - 1/n`. They set the step sizes, hence every trial
//!   point.
//! * **Initial simplex.** Vertex `i` is the clamped start with coordinate `i` stepped by 5%
//!   (to `1e-4` when it is 0); the unperturbed start is the *last* vertex. Ties keep index
//!   order, so on a flat objective (a constant series) this decides the answer: vertex 0.
//! * **Clamping.** Every trial point is clamped to the box before it is evaluated, and
//!   expansion and both contractions start from the *clamped* reflected point. This matters
//!   whenever a smoothing parameter sits at a bound, which is often.
//! * **Stop rule**: the population standard deviation of the values below `tol_std`, checked
//!   at the top of each iteration. With infinite values the spread is NaN, which never stops
//!   the search (as in StatsForecast). Whether the check comes before or after the vertices are
//!   ranked decides which vertex is returned ([`StopCheck`]), and the two callers need
//!   different answers: ETS's backtests move (39 of Chicago's 160 windows, up to 11%) if it
//!   checks after ranking, Theta's references fail if it checks before. This is the one
//!   algorithmic setting; everything else below is common.
//! * **Order and ties.** Vertices are ranked by a stable sort on `<` (ties keep index order, as
//!   `std::sort`'s insertion sort does on so few elements); the simplex itself is never
//!   reordered.
//! * **Centroid**: the sum of all vertices minus the worst, divided by `n`. The summation order
//!   matters: summing the best `n` in rank order instead rounds differently and changes one of
//!   our ETS reference models.
//! * **Acceptance.** A reflection in `[best, second worst)` replaces the worst vertex; one better
//!   than the best tries an expansion and keeps the better of the two; an *outside* contraction
//!   (reflection in `[second worst, worst)`) is accepted if no worse than the reflection, an
//!   *inside* one if strictly better than the worst.
//! * **Shrink** moves vertices 1..=n (by index, so vertex 0 stays even when it is not the best)
//!   towards the best.
//!
//! # What the caller decides
//!
//! The iteration cap, the tolerance and the stop check ([`NelderMead`]), and what a non-finite
//! objective
//! means. The optimiser compares values as they are: `+inf` is a rejected point, `-inf` an
//! (odd) very good one, which StatsForecast's ETS objective returns for a NaN likelihood. NaN
//! should not reach the optimiser (it is neither better nor worse than anything, so it would
//! freeze the ranking); each objective maps it to the infinity its reference uses.
//!
//! The search allocates its buffers once, so its own cost is small next to the objective's.

/// Relative size of the initial simplex steps (StatsForecast's `init_step`).
const INIT_STEP: f64 = 0.05;
/// Step used for coordinates that start at zero (StatsForecast's `zero_pert`).
const ZERO_PERTURBATION: f64 = 1.0e-4;
/// Reflection coefficient (StatsForecast's `alpha`; not changed by the adaptive rule).
const REFLECTION: f64 = 1.0;

/// When the stop rule is checked relative to ranking the vertices, which decides the vertex
/// returned when the tolerance stops the search (a search stopped by the cap returns the best
/// at the start of its last iteration either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopCheck {
    /// Check, then rank: the result is the best vertex at the start of the previous iteration,
    /// not counting the point that iteration accepted (`nelder_mead.h` as ETS runs it).
    BeforeRanking,
    /// Rank, then check: the result is the best vertex of the final simplex (what Theta's
    /// references need).
    AfterRanking,
}

/// What the callers of [`nelder_mead`] may choose. The default cap and tolerance are the ones
/// StatsForecast uses for both ETS and Theta; the stop check is the caller's (see
/// [`StopCheck`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NelderMead {
    /// Iteration cap.
    pub max_iter: usize,
    /// Stop when the population standard deviation of the simplex's values is below this.
    pub tol_std: f64,
    /// Whether the stop rule is checked before or after ranking.
    pub stop_check: StopCheck,
}

impl NelderMead {
    /// StatsForecast's cap (1000) and tolerance (1e-4) with the given stop check.
    pub fn statsforecast(stop_check: StopCheck) -> Self {
        NelderMead {
            max_iter: 1_000,
            tol_std: 1.0e-4,
            stop_check,
        }
    }
}

/// The result of a minimisation.
#[derive(Clone, Debug, PartialEq)]
pub struct Minimum {
    /// The vertex returned (see the module doc for which one).
    pub x: Vec<f64>,
    /// The objective there.
    pub value: f64,
    /// Iterations done (the stop check that ends the search does not count).
    pub iterations: usize,
}

/// Clamps `x` into `lower..=upper` element-wise: max then min, like Eigen's
/// `cwiseMax(lower).cwiseMin(upper)`, so an empty box (`lo > hi`) gives `hi` instead of a panic.
fn clamp_into(x: &mut [f64], lower: &[f64], upper: &[f64]) {
    for ((v, lo), hi) in x.iter_mut().zip(lower).zip(upper) {
        *v = v.max(*lo).min(*hi);
    }
}

/// Population standard deviation, StatsForecast's stop statistic.
fn spread(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt()
}

/// Ranks `order` (indices into `values`) by value with a stable insertion sort on `<`. Stable
/// like the small-array path of `std::sort`, and unlike `slice::sort_by` it cannot panic when a
/// stray NaN makes the comparison inconsistent.
fn rank(order: &mut [usize], values: &[f64]) {
    for (k, o) in order.iter_mut().enumerate() {
        *o = k;
    }
    for i in 1..order.len() {
        let mut j = i;
        while j > 0 && values[order[j]] < values[order[j - 1]] {
            order.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// Minimises `f` from `x0` within the box `lower..=upper` (infinite bounds allowed), by
/// StatsForecast's rules (module doc). `lower` and `upper` must be as long as `x0`.
pub fn nelder_mead(
    mut f: impl FnMut(&[f64]) -> f64,
    x0: &[f64],
    lower: &[f64],
    upper: &[f64],
    settings: &NelderMead,
) -> Minimum {
    let mut search = Search::new(x0, lower, upper, settings);
    while let Some(value) = search.point().map(&mut f) {
        search.tell(value);
    }
    search.minimum()
}

/// What the point [`Search::point`] offers is, and so what its value decides.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// Vertex `r` of the initial simplex.
    Start(usize),
    Reflect,
    /// The expansion; the reflection's value is kept for the comparison.
    Expand {
        reflected: f64,
    },
    /// A contraction, outside or inside, after a reflection of that value.
    Contract {
        reflected: f64,
        outside: bool,
    },
    /// Vertex `r` moved towards the best.
    Shrink(usize),
    Done,
}

/// [`nelder_mead`] turned inside out: the search offers one point at a time ([`Search::point`])
/// and is told its value ([`Search::tell`]). Several searches can then be evaluated together
/// (ETS runs independent candidates' likelihoods side by side, `models/ets/batch.rs`), while
/// each one takes exactly the steps of the loop it replaces: the same points in the same order.
#[derive(Clone, Debug)]
pub struct Search {
    n: usize,
    expand: f64,
    contract: f64,
    shrink: f64,
    lower: Vec<f64>,
    upper: Vec<f64>,
    settings: NelderMead,
    /// Row-major (n + 1) x n.
    simplex: Vec<f64>,
    values: Vec<f64>,
    order: Vec<usize>,
    centroid: Vec<f64>,
    reflected: Vec<f64>,
    trial: Vec<f64>,
    best: usize,
    worst: usize,
    second_worst: usize,
    iteration: usize,
    phase: Phase,
}

impl Search {
    /// A search from `x0` within `lower..=upper`; `lower` and `upper` must be as long as `x0`.
    pub fn new(x0: &[f64], lower: &[f64], upper: &[f64], settings: &NelderMead) -> Search {
        let n = x0.len();
        let nf = n as f64;
        let mut start = x0.to_vec();
        clamp_into(&mut start, lower, upper);
        let mut simplex: Vec<f64> = Vec::with_capacity((n + 1) * n);
        for _ in 0..=n {
            simplex.extend_from_slice(&start);
        }
        for i in 0..n {
            let v = simplex[i * n + i];
            let v = if v == 0.0 {
                ZERO_PERTURBATION
            } else {
                v * (1.0 + INIT_STEP)
            };
            simplex[i * n + i] = v.max(lower[i]).min(upper[i]);
        }
        Search {
            n,
            expand: 1.0 + 2.0 / nf,
            contract: 0.75 - 1.0 / (2.0 * nf),
            shrink: 1.0 - 1.0 / nf,
            lower: lower.to_vec(),
            upper: upper.to_vec(),
            settings: *settings,
            simplex,
            values: vec![f64::NAN; n + 1],
            order: (0..=n).collect(),
            centroid: vec![0.0; n],
            reflected: vec![0.0; n],
            trial: vec![0.0; n],
            best: 0,
            worst: 0,
            second_worst: 0,
            iteration: 0,
            phase: Phase::Start(0),
        }
    }

    /// The number of parameters searched over.
    pub fn dimension(&self) -> usize {
        self.n
    }

    /// The point whose value the search needs next; `None` once it has stopped.
    pub fn point(&self) -> Option<&[f64]> {
        let n = self.n;
        match self.phase {
            Phase::Start(r) => Some(&self.simplex[r * n..(r + 1) * n]),
            Phase::Reflect => Some(&self.reflected),
            Phase::Expand { .. } | Phase::Contract { .. } | Phase::Shrink(_) => Some(&self.trial),
            Phase::Done => None,
        }
    }

    /// Takes the value of the point [`Search::point`] offered and moves on to the next one.
    pub fn tell(&mut self, value: f64) {
        let n = self.n;
        match self.phase {
            Phase::Start(r) => {
                self.values[r] = value;
                if r < n {
                    self.phase = Phase::Start(r + 1);
                } else {
                    self.next_iteration();
                }
            }
            Phase::Reflect => {
                let (best, second_worst) = (self.values[self.best], self.values[self.second_worst]);
                if best <= value && value < second_worst {
                    self.replace_worst(false, value);
                } else if value < best {
                    for j in 0..n {
                        self.trial[j] =
                            self.centroid[j] + self.expand * (self.reflected[j] - self.centroid[j]);
                    }
                    clamp_into(&mut self.trial, &self.lower, &self.upper);
                    self.phase = Phase::Expand { reflected: value };
                } else {
                    // Outside contraction when the reflection beats only the worst, inside
                    // otherwise.
                    let outside = second_worst <= value && value < self.values[self.worst];
                    let direction = if outside {
                        self.contract
                    } else {
                        -self.contract
                    };
                    for j in 0..n {
                        self.trial[j] =
                            self.centroid[j] + direction * (self.reflected[j] - self.centroid[j]);
                    }
                    clamp_into(&mut self.trial, &self.lower, &self.upper);
                    self.phase = Phase::Contract {
                        reflected: value,
                        outside,
                    };
                }
            }
            Phase::Expand { reflected } => {
                if value < reflected {
                    self.replace_worst(true, value);
                } else {
                    self.replace_worst(false, reflected);
                }
            }
            Phase::Contract { reflected, outside } => {
                let accepted = if outside {
                    value <= reflected
                } else {
                    value < self.values[self.worst]
                };
                if accepted {
                    self.replace_worst(true, value);
                } else {
                    self.shrink_towards_best(1);
                }
            }
            Phase::Shrink(r) => {
                self.simplex[r * n..(r + 1) * n].copy_from_slice(&self.trial);
                self.values[r] = value;
                if r < n {
                    self.shrink_towards_best(r + 1);
                } else {
                    self.next_iteration();
                }
            }
            Phase::Done => {}
        }
    }

    /// The vertex returned (see the module doc for which one) and its value.
    pub fn minimum(&self) -> Minimum {
        let n = self.n;
        Minimum {
            x: self.simplex[self.best * n..(self.best + 1) * n].to_vec(),
            value: self.values[self.best],
            iterations: self.iteration,
        }
    }

    /// The worst vertex becomes the trial point (`trial`) or the reflection.
    fn replace_worst(&mut self, trial: bool, value: f64) {
        let (n, worst) = (self.n, self.worst);
        let point = if trial { &self.trial } else { &self.reflected };
        self.simplex[worst * n..(worst + 1) * n].copy_from_slice(point);
        self.values[worst] = value;
        self.next_iteration();
    }

    /// Offers vertex `r` moved towards the best. Vertices are moved in index order, each one
    /// as soon as its value is told, so a later vertex sees the earlier ones moved (as in the
    /// loop this replaces; the best vertex itself does not move).
    fn shrink_towards_best(&mut self, r: usize) {
        let n = self.n;
        for j in 0..n {
            let b = self.simplex[self.best * n + j];
            self.trial[j] = b + self.shrink * (self.simplex[r * n + j] - b);
        }
        clamp_into(&mut self.trial, &self.lower, &self.upper);
        self.phase = Phase::Shrink(r);
    }

    /// The top of an iteration: the stop checks, the ranking and the reflection.
    fn next_iteration(&mut self) {
        let n = self.n;
        if n == 0 || self.iteration >= self.settings.max_iter {
            self.phase = Phase::Done;
            return;
        }
        let ranked_first = self.settings.stop_check == StopCheck::AfterRanking;
        if ranked_first {
            rank(&mut self.order, &self.values);
            self.best = self.order[0];
        }
        if spread(&self.values) < self.settings.tol_std {
            self.phase = Phase::Done;
            return;
        }
        if !ranked_first {
            rank(&mut self.order, &self.values);
            self.best = self.order[0];
        }
        self.worst = self.order[n];
        self.second_worst = self.order[n - 1];
        self.iteration += 1;
        let nf = n as f64;
        for (j, c) in self.centroid.iter_mut().enumerate() {
            let total: f64 = (0..=n).map(|r| self.simplex[r * n + j]).sum();
            *c = (total - self.simplex[self.worst * n + j]) / nf;
        }
        for j in 0..n {
            self.reflected[j] = self.centroid[j]
                + REFLECTION * (self.centroid[j] - self.simplex[self.worst * n + j]);
        }
        clamp_into(&mut self.reflected, &self.lower, &self.upper);
        self.phase = Phase::Reflect;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimise(f: impl FnMut(&[f64]) -> f64, x0: &[f64], lower: &[f64], upper: &[f64]) -> Minimum {
        nelder_mead(
            f,
            x0,
            lower,
            upper,
            &NelderMead::statsforecast(StopCheck::AfterRanking),
        )
    }

    #[test]
    fn finds_the_bottom_of_a_bowl_inside_the_box() {
        // Scaled so that the 1e-4 stop on the values' spread pins the point down tightly.
        let f = |x: &[f64]| 1e6 * ((x[0] - 0.3).powi(2) + 2.0 * (x[1] + 0.2).powi(2));
        let min = minimise(f, &[0.9, 0.9], &[-1.0, -1.0], &[1.0, 1.0]);
        assert!((min.x[0] - 0.3).abs() < 1e-4, "{min:?}");
        assert!((min.x[1] + 0.2).abs() < 1e-4, "{min:?}");
    }

    #[test]
    fn a_tighter_tolerance_gets_closer_to_an_unscaled_bowl() {
        let f = |x: &[f64]| (x[0] - 0.3).powi(2) + 2.0 * (x[1] + 0.2).powi(2);
        let settings = NelderMead {
            max_iter: 2_000,
            tol_std: 1e-12,
            stop_check: StopCheck::BeforeRanking,
        };
        let min = nelder_mead(f, &[0.9, 0.9], &[-1.0, -1.0], &[1.0, 1.0], &settings);
        assert!((min.x[0] - 0.3).abs() < 1e-4, "{min:?}");
        assert!((min.x[1] + 0.2).abs() < 1e-4, "{min:?}");
        assert!(min.iterations <= settings.max_iter, "{min:?}");
    }

    #[test]
    fn never_leaves_the_box() {
        let f = |x: &[f64]| 1e6 * (x[0] + x[1]);
        let min = minimise(f, &[0.5, 0.5], &[0.1, 0.2], &[0.9, 0.9]);
        assert!(min.x[0] >= 0.1 && min.x[1] >= 0.2, "{min:?}");
        assert!(
            (min.x[0] - 0.1).abs() < 1e-6 && (min.x[1] - 0.2).abs() < 1e-6,
            "{min:?}"
        );
    }

    #[test]
    fn a_flat_objective_returns_the_first_vertex_at_once() {
        let min = minimise(
            |_: &[f64]| 7.0,
            &[0.5, 2.0],
            &[0.0, f64::NEG_INFINITY],
            &[1.0, f64::INFINITY],
        );
        // Vertex 0: the start with its first coordinate stepped by 5%, as StatsForecast returns.
        assert_eq!(min.x, vec![0.525, 2.0]);
        assert_eq!(min.value, 7.0);
        assert_eq!(min.iterations, 0);
    }

    #[test]
    fn an_objective_rejects_points_by_mapping_nan_to_infinity() {
        // The raw function is NaN left of 0; the objective, as Theta's does, scores that +inf.
        let raw = |x: &[f64]| {
            if x[0] < 0.0 {
                f64::NAN
            } else {
                1e6 * (x[0] - 0.5).powi(2)
            }
        };
        let objective = |x: &[f64]| {
            let v = raw(x);
            if v.is_nan() { f64::INFINITY } else { v }
        };
        let min = minimise(objective, &[0.05], &[-1.0], &[1.0]);
        assert!(min.value.is_finite(), "{min:?}");
        assert!((min.x[0] - 0.5).abs() < 1e-2, "{min:?}");
    }

    #[test]
    fn infinite_values_do_not_stop_the_search() {
        // The spread of values with an infinity is NaN, which must not count as converged.
        let f = |x: &[f64]| {
            if x[0] > 0.6 {
                f64::INFINITY
            } else {
                (x[0] - 0.5).powi(2)
            }
        };
        let min = minimise(f, &[0.59], &[0.0], &[1.0]);
        assert!(min.value.is_finite(), "{min:?}");
        assert!(min.iterations > 0, "{min:?}");
    }

    #[test]
    fn the_stop_check_decides_which_vertex_a_converged_search_returns() {
        // Two coordinates with very different scales: the search stops on the spread while the
        // last accepted point is better than the vertex ranked best before it.
        let f = |x: &[f64]| 1e3 * (x[0] - 0.3).powi(2) + (x[1] - 0.7).powi(2);
        let run = |stop_check| {
            nelder_mead(
                f,
                &[0.9, 0.1],
                &[0.0, 0.0],
                &[1.0, 1.0],
                &NelderMead::statsforecast(stop_check),
            )
        };
        let (before, after) = (run(StopCheck::BeforeRanking), run(StopCheck::AfterRanking));
        assert_eq!(before.iterations, after.iterations);
        // Same iterations, different answers: rank-then-check returns the point the last
        // iteration accepted, check-then-rank the best vertex from before it, which is worse.
        assert!(after.value < before.value, "{before:?} vs {after:?}");
        assert_ne!(after.x, before.x);
        // Each reports the objective at the vertex it returns.
        assert_eq!(after.value, f(&after.x));
        assert_eq!(before.value, f(&before.x));
    }

    #[test]
    fn ranking_is_stable_and_survives_nan() {
        let mut order = [0; 4];
        rank(&mut order, &[2.0, 1.0, 2.0, 1.0]);
        assert_eq!(order, [1, 3, 0, 2]);
        rank(&mut order, &[f64::NAN, 1.0, 0.0, 3.0]);
        assert_eq!(order.len(), 4);
    }
}
