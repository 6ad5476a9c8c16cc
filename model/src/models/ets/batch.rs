//! Running many candidates' likelihood searches side by side.
//!
//! One likelihood evaluation is a chain of dependent steps (each state follows from the one
//! before), so a single search keeps the processor waiting on latency with most of its units
//! idle. The searches of an ETS selection are independent of each other once prepared (the
//! bounds they share are tightened before any search runs, `selection.rs`), and so are those of
//! different series. Here each search offers its next point ([`crate::optim::Search`]) and up to
//! [`LANES`] points of one model class over series of one length are filtered in one loop
//! ([`Dynamics::filter_lanes`]): the processor overlaps their chains. Every search still takes
//! its own steps and gets its own values to the bit, so the fitted models are those a search
//! at a time gives.

use std::collections::BTreeMap;

use super::core::{Dynamics, State};
use super::selection::{CandidateSearch, score};
use super::{ErrorKind, SeasonKind, TrendKind};

/// Searches evaluated together at most. On the 2-core machine, Chicago's ETS backtest took
/// 6.4 s with 4 lanes, 5.8 s with 8 and 6.4 s with 16 (one search at a time: 17.4 s), before
/// the lanes were laid out for the compiler to vectorise (`lanes.rs`; 8 lanes: 4.9 s).
pub(super) const LANES: usize = 8;

/// One search and the series it fits.
pub(super) struct Job<'a> {
    pub y: &'a [f64],
    pub search: CandidateSearch,
}

/// Runs every job's search to its end.
pub(super) fn run_all(jobs: &mut [Job<'_>]) {
    // Lanes share a class and a series length; group the jobs by both, in their order.
    let mut groups: BTreeMap<(u8, bool, u8, usize), Vec<usize>> = BTreeMap::new();
    for (index, job) in jobs.iter().enumerate() {
        let model = job.search.layout.model;
        let key = (
            (model.error == ErrorKind::Multiplicative) as u8,
            model.trend != TrendKind::None,
            match model.season {
                SeasonKind::None => 0,
                SeasonKind::Additive => 1,
                SeasonKind::Multiplicative => 2,
            },
            job.y.len(),
        );
        groups.entry(key).or_default().push(index);
    }
    for members in groups.values_mut() {
        // Searches over more parameters tend to run longer; starting them first leaves fewer
        // lanes idle at the end of the group.
        members.sort_by_key(|&index| std::cmp::Reverse(jobs[index].search.search.dimension()));
        run_group(jobs, members);
    }
}

/// Runs the searches of `members` (one class, one length), [`LANES`] at a time, each lane
/// taking the next waiting search when its own ends.
fn run_group(jobs: &mut [Job<'_>], members: &[usize]) {
    let mut waiting = members.iter().copied();
    let mut active: [Option<usize>; LANES] = [None; LANES];
    loop {
        let mut live = 0;
        let mut lanes = [None; LANES];
        for lane in &mut active {
            if let Some(point) = next_point(jobs, lane, &mut waiting) {
                lanes[live] = Some(point);
                live += 1;
            }
        }
        if live == 0 {
            return;
        }
        let lanes: Vec<(usize, Dynamics, State)> = lanes.into_iter().flatten().collect();
        let values: Vec<f64> = match live {
            1 => evaluate::<1>(jobs, &lanes).to_vec(),
            2 => evaluate::<2>(jobs, &lanes).to_vec(),
            3 | 4 => evaluate::<4>(jobs, &lanes).to_vec(),
            _ => evaluate::<LANES>(jobs, &lanes).to_vec(),
        };
        for (&(index, _, _), value) in lanes.iter().zip(values) {
            jobs[index].search.search.tell(score(value));
        }
    }
}

/// The next point of the search in a lane that needs the filter, taking a waiting search when
/// the lane's own has ended. Points the objective rejects without filtering are told `+inf`
/// here. `None` when the lane has nothing left to do.
fn next_point(
    jobs: &mut [Job<'_>],
    active: &mut Option<usize>,
    waiting: &mut impl Iterator<Item = usize>,
) -> Option<(usize, Dynamics, State)> {
    loop {
        let index = match *active {
            Some(index) => index,
            None => {
                let index = waiting.next()?;
                *active = Some(index);
                index
            }
        };
        let job = &mut jobs[index];
        let Some(point) = job.search.search.point() else {
            *active = None;
            continue;
        };
        match job.search.layout.start(point) {
            Some((dynamics, state)) => return Some((index, dynamics, state)),
            None => job.search.search.tell(f64::INFINITY),
        }
    }
}

/// Filters the lanes' points in `K` lanes; lanes past the live ones repeat the first, and their
/// values are not used.
fn evaluate<const K: usize>(jobs: &[Job<'_>], lanes: &[(usize, Dynamics, State)]) -> [f64; K] {
    let pick = |k: usize| &lanes[if k < lanes.len() { k } else { 0 }];
    let dynamics: [Dynamics; K] = std::array::from_fn(|k| pick(k).1);
    let ys: [&[f64]; K] = std::array::from_fn(|k| jobs[pick(k).0].y);
    let mut states: [State; K] = std::array::from_fn(|k| pick(k).2);
    Dynamics::filter_lanes(&dynamics, &ys, &mut states)
}
