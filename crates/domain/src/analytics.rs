//! Process-improvement analytics: how orders flow through the steps of a process version.
//!
//! A pure, streaming computation. Feed one [`OrderHistory`] per work order of one process
//! version to an [`Accumulator`] (in any order, one pass, each order's events in time order),
//! then [`Accumulator::finish`] it into a [`Report`]. Two reports (for example two versions of
//! the same process) are put side by side with [`compare`]; [`to_csv`] and
//! [`comparison_to_csv`] export them.
//!
//! Memory: the accumulator keeps counters per step plus one number per finished step episode
//! and per finished order (the exact percentiles need every value), and while an order is
//! being added, state for that order's steps only. Nothing sorts the events globally; the
//! duration lists of each step are sorted once, in [`Accumulator::finish`].
//!
//! # Which orders to feed
//!
//! The accumulator does not filter: the caller chooses the orders of the date range (for
//! example the orders *created* in the range) and feeds each order's history as it is known
//! at the moment of the report. To report "as of" an earlier instant, leave out the events
//! after it. Orders that are still running are fed like the others: their finished step
//! episodes count in the step figures; their open steps and the order itself produce no
//! duration and are counted as in flight.
//!
//! # Definitions
//!
//! * **Episode.** A step's time from an activation to its finish. `step.activated` opens an
//!   episode; `step.reopened` (a finished step becomes active again) opens a new episode at
//!   the reopen; `step.completed` finishes it as *done*, `step.skipped` as *skipped*. The
//!   `step.activated` that the domain emits right after a `step.reopened` belongs to the
//!   episode the reopen opened (it only sets the due time), it does not open another one.
//! * **Waiting time** of a done episode: activated (or reopened) → started; a step completed
//!   without `step.started` waited until its completion. **Working time**: started → done; 0
//!   for a step completed without being started. Skipped episodes have neither.
//! * **Total time** of a finished (done or skipped) episode: activated → finished.
//! * A step skipped while still pending (never activated) is a finished, skipped episode
//!   without any duration.
//! * **Rework.** A reopen of a step whose last episode was *done* (as the step's
//!   `rework_count` in the work-order aggregate); reopening a skipped step opens a new
//!   episode but is not rework.
//! * **Overdue.** A finished episode (done or skipped) with a due time that finished strictly
//!   after the due time.
//! * **Order outcome.** Decided at the end of the history: *cancelled* if it has a
//!   `work_order.cancelled`; else *completed* if it has a `work_order.completed` and no step
//!   episode is still open; else *in flight*. Every order is exactly one of the three.
//!   A completed order is also *closed* (paid in full) if it has a `work_order.closed`.
//!   `work_order.created` events are ignored: the creation time is
//!   [`OrderHistory::created_at`].
//! * **Cycle time to completion**: created → the last `work_order.completed` (an order that
//!   was reopened and completed again is measured to its final completion); **to payment**:
//!   created → the last `work_order.closed`, for closed orders.
//! * Durations are whole seconds (the difference truncated toward zero) and never negative:
//!   timestamps out of order give 0.
//! * Percentiles are **nearest-rank**: of the `n` values sorted ascending, the `p`-th
//!   percentile is the value at 1-based rank `ceil(p / 100 × n)`. So the median of an even
//!   count is the lower of the two middle values, and both are always one of the measured
//!   values. The mean is rounded to the nearest second (halves up).
//! * **Share of cycle time.** Over the completed orders only: each instant between an
//!   order's creation and its completion is attributed to the step episodes open at that
//!   instant, split equally when several are open at once (parallel steps, a reopened step
//!   running beside the next one); instants with no open episode belong to no step. A step's
//!   share is its attributed time summed over the completed orders divided by the sum of
//!   their cycle times (computed in milliseconds). So the shares of all steps add up to at
//!   most 1; the rest is time in which no step was open.
//! * **Bottleneck rank**: the steps with a share greater than zero ranked by share, largest
//!   first (rank 1); ties go to the earlier position.
//!
//! # Tolerance
//!
//! Events that do not fit the step state machine are ignored rather than rejected: a
//! `step.started`, `step.completed` or second `step.started` without an open episode, a
//! `step.reopened` while the step is open. Step keys not in the process version's step order
//! are reported after the known steps, in key order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use uuid::Uuid;

/// What happened to a step (the `step.*` events that matter for analytics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepEventKind {
    /// `step.activated`, with the due time the step got.
    Activated { due_at: Option<DateTime<Utc>> },
    /// `step.started`.
    Started,
    /// `step.completed` (by a person or automated).
    Completed,
    /// `step.skipped`.
    Skipped,
    /// `step.reopened`: a finished step becomes active again.
    Reopened,
}

/// What happened to an order (the `work_order.*` events that matter for analytics). Other
/// order events (held, resumed, invoiced, reopened, ...) need not be fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEventKind {
    /// `work_order.created` (ignored: see [`OrderHistory::created_at`]).
    Created,
    /// `work_order.completed`.
    Completed,
    /// `work_order.closed`: paid in full.
    Closed,
    /// `work_order.cancelled`.
    Cancelled,
}

/// One work order's history, as known at the moment of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderHistory {
    pub order_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// Order events in time order.
    pub order_events: Vec<(DateTime<Utc>, OrderEventKind)>,
    /// Step events in time order: when, the step key, what.
    pub step_events: Vec<(DateTime<Utc>, String, StepEventKind)>,
}

/// Summary of a list of durations, in seconds. All `None` when `count` is 0.
///
/// Percentiles are nearest-rank: the value at 1-based rank `ceil(p / 100 × count)` of the
/// sorted values (the median of an even count is the lower middle value). The mean is
/// rounded to the nearest second, halves up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DurationStats {
    pub count: u64,
    pub min_seconds: Option<i64>,
    pub median_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
    pub mean_seconds: Option<i64>,
    pub max_seconds: Option<i64>,
}

impl DurationStats {
    /// Summarizes `values` (sorted in place).
    pub fn from_values(values: &mut [i64]) -> Self {
        values.sort_unstable();
        let sum: i128 = values.iter().map(|v| i128::from(*v)).sum();
        let n = i128::try_from(values.len()).unwrap_or(i128::MAX);
        let mean = if n == 0 {
            None
        } else {
            i64::try_from((2 * sum + n).div_euclid(2 * n)).ok()
        };
        DurationStats {
            count: u64::try_from(values.len()).unwrap_or(u64::MAX),
            min_seconds: values.first().copied(),
            median_seconds: nearest_rank(values, 50),
            p90_seconds: nearest_rank(values, 90),
            mean_seconds: mean,
            max_seconds: values.last().copied(),
        }
    }
}

/// The `pct`-th nearest-rank percentile of ascending `sorted` values.
fn nearest_rank(sorted: &[i64], pct: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (pct.saturating_mul(sorted.len())).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// Figures of one step of the process version. Every rate is `None` when its denominator is
/// zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    pub step_key: String,
    /// 0-based index in the step order given to [`Accumulator::new`]; steps not in it follow,
    /// in key order.
    pub position: u32,
    /// Episodes opened: activations plus reopens.
    pub activated: u64,
    /// Finished episodes: `done + skipped`.
    pub passed: u64,
    /// Episodes finished by `step.completed`.
    pub done: u64,
    /// Episodes finished by `step.skipped` (including skips of steps never activated).
    pub skipped: u64,
    /// Rework: reopens of a step whose last episode was done.
    pub reopened: u64,
    /// Episodes still open at the end of orders that are not cancelled.
    pub in_flight: u64,
    /// Episodes left open by cancelled orders (they will never finish).
    pub abandoned: u64,
    /// Activated → started (or → completed when never started), over done episodes.
    pub waiting: DurationStats,
    /// Started → completed (0 when never started), over done episodes.
    pub working: DurationStats,
    /// Activated → finished, over finished episodes that were activated (done or skipped).
    pub total: DurationStats,
    /// `skipped / passed`.
    pub skip_rate: Option<f64>,
    /// Reopens per finished episode: `reopened / passed`.
    pub rework_rate: Option<f64>,
    /// Among finished episodes with a due time, the share that finished after it.
    pub overdue_rate: Option<f64>,
    /// Time attributed to this step (split equally among steps open at the same time) over
    /// completed orders, divided by the sum of those orders' cycle times. `None` when no
    /// completed order has a positive cycle time.
    pub share_of_cycle_time: Option<f64>,
    /// 1 = largest share; only steps with a share greater than zero are ranked.
    pub bottleneck_rank: Option<u32>,
}

/// Figures of a set of orders of one process version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Orders fed: `completed + cancelled + in_flight`.
    pub orders: u64,
    /// Orders completed with no step left open (closed ones included).
    pub completed: u64,
    /// Completed orders that were closed (paid in full).
    pub closed: u64,
    pub cancelled: u64,
    /// Orders neither completed nor cancelled.
    pub in_flight: u64,
    /// Created → last completion, over completed orders.
    pub cycle_to_completion: DurationStats,
    /// Created → last close, over closed orders.
    pub cycle_to_payment: DurationStats,
    /// Among completed orders, the share whose step episodes with a due time all finished by
    /// it (orders without due times count as on time).
    pub on_time_rate: Option<f64>,
    /// In the step order given to [`Accumulator::new`], then unknown keys in key order.
    pub steps: Vec<StepReport>,
}

#[derive(Debug, Clone, Default)]
struct StepAcc {
    activated: u64,
    done: u64,
    skipped: u64,
    reopened: u64,
    in_flight: u64,
    abandoned: u64,
    with_due: u64,
    overdue: u64,
    waiting: Vec<i64>,
    working: Vec<i64>,
    total: Vec<i64>,
    /// Milliseconds of completed orders' cycle time attributed to the step.
    attributed_ms: i128,
}

impl StepAcc {
    fn merge(&mut self, other: StepAcc) {
        self.activated += other.activated;
        self.done += other.done;
        self.skipped += other.skipped;
        self.reopened += other.reopened;
        self.in_flight += other.in_flight;
        self.abandoned += other.abandoned;
        self.with_due += other.with_due;
        self.overdue += other.overdue;
        self.waiting.extend(other.waiting);
        self.working.extend(other.working);
        self.total.extend(other.total);
        self.attributed_ms += other.attributed_ms;
    }
}

/// An open episode of one step within one order.
#[derive(Debug, Clone, Copy)]
struct Open {
    activated_at: DateTime<Utc>,
    due_at: Option<DateTime<Utc>>,
    started_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finish {
    Done,
    Skipped,
}

/// The state of one step within the order being added.
#[derive(Debug, Clone, Copy, Default)]
struct KeyState {
    open: Option<Open>,
    last: Option<Finish>,
}

/// Whole seconds from `a` to `b`, never negative.
fn seconds(a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
    (b - a).num_seconds().max(0)
}

/// Collects orders of one process version; see the module documentation for the definitions.
#[derive(Debug, Clone)]
pub struct Accumulator {
    /// Known step keys first (in step order), then unknown keys as they were met.
    keys: Vec<String>,
    known: usize,
    index: HashMap<String, usize>,
    steps: Vec<StepAcc>,
    orders: u64,
    completed: u64,
    closed: u64,
    cancelled: u64,
    in_flight: u64,
    on_time: u64,
    cycle_to_completion: Vec<i64>,
    cycle_to_payment: Vec<i64>,
    cycle_ms: i128,
}

impl Accumulator {
    /// An empty accumulator for a process version whose steps have these keys, in position
    /// order (a repeated key keeps its first position).
    pub fn new(step_order: &[String]) -> Self {
        let mut acc = Accumulator {
            keys: Vec::new(),
            known: 0,
            index: HashMap::new(),
            steps: Vec::new(),
            orders: 0,
            completed: 0,
            closed: 0,
            cancelled: 0,
            in_flight: 0,
            on_time: 0,
            cycle_to_completion: Vec::new(),
            cycle_to_payment: Vec::new(),
            cycle_ms: 0,
        };
        for key in step_order {
            acc.step_index(key);
        }
        acc.known = acc.keys.len();
        acc
    }

    fn step_index(&mut self, key: &str) -> usize {
        if let Some(i) = self.index.get(key) {
            return *i;
        }
        let i = self.keys.len();
        self.keys.push(key.to_owned());
        self.index.insert(key.to_owned(), i);
        self.steps.push(StepAcc::default());
        i
    }

    /// Adds one order's history (events in time order).
    pub fn add(&mut self, order: &OrderHistory) {
        let mut states: HashMap<usize, KeyState> = HashMap::new();
        // Finished, activated episodes of this order: (step, activated, finished).
        let mut intervals: Vec<(usize, DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        let mut late = false;

        for (at, key, kind) in &order.step_events {
            let at = *at;
            let step = self.step_index(key);
            let state = states.entry(step).or_default();
            let acc = &mut self.steps[step];
            match *kind {
                StepEventKind::Activated { due_at } => match &mut state.open {
                    Some(open) => {
                        if due_at.is_some() {
                            open.due_at = due_at;
                        }
                    }
                    None => {
                        acc.activated += 1;
                        state.open = Some(Open {
                            activated_at: at,
                            due_at,
                            started_at: None,
                        });
                    }
                },
                StepEventKind::Reopened => {
                    if state.open.is_none() && state.last.is_some() {
                        if state.last == Some(Finish::Done) {
                            acc.reopened += 1;
                        }
                        acc.activated += 1;
                        state.open = Some(Open {
                            activated_at: at,
                            due_at: None,
                            started_at: None,
                        });
                    }
                }
                StepEventKind::Started => {
                    if let Some(open) = &mut state.open
                        && open.started_at.is_none()
                    {
                        open.started_at = Some(at);
                    }
                }
                StepEventKind::Completed => {
                    if let Some(open) = state.open.take() {
                        let started = open.started_at.unwrap_or(at);
                        acc.done += 1;
                        acc.waiting.push(seconds(open.activated_at, started));
                        acc.working.push(seconds(started, at));
                        acc.total.push(seconds(open.activated_at, at));
                        late |= Self::due(acc, open.due_at, at);
                        intervals.push((step, open.activated_at, at));
                        state.last = Some(Finish::Done);
                    }
                }
                StepEventKind::Skipped => {
                    if let Some(open) = state.open.take() {
                        acc.total.push(seconds(open.activated_at, at));
                        late |= Self::due(acc, open.due_at, at);
                        intervals.push((step, open.activated_at, at));
                    }
                    // A pending step may be skipped without ever being activated.
                    acc.skipped += 1;
                    state.last = Some(Finish::Skipped);
                }
            }
        }

        let mut completed_at = None;
        let mut closed_at = None;
        let mut cancelled = false;
        for (at, kind) in &order.order_events {
            match kind {
                OrderEventKind::Created => {}
                OrderEventKind::Completed => completed_at = Some(*at),
                OrderEventKind::Closed => closed_at = Some(*at),
                OrderEventKind::Cancelled => cancelled = true,
            }
        }
        let still_open = states.values().any(|s| s.open.is_some());
        for (step, state) in &states {
            if state.open.is_some() {
                let acc = &mut self.steps[*step];
                if cancelled {
                    acc.abandoned += 1;
                } else {
                    acc.in_flight += 1;
                }
            }
        }

        self.orders += 1;
        match completed_at {
            _ if cancelled => self.cancelled += 1,
            Some(done) if !still_open => {
                self.completed += 1;
                if !late {
                    self.on_time += 1;
                }
                self.cycle_to_completion
                    .push(seconds(order.created_at, done));
                if let Some(paid) = closed_at {
                    self.closed += 1;
                    self.cycle_to_payment.push(seconds(order.created_at, paid));
                }
                let cycle_ms = (done - order.created_at).num_milliseconds().max(0);
                self.cycle_ms += i128::from(cycle_ms);
                self.attribute(&intervals, order.created_at, done);
            }
            _ => self.in_flight += 1,
        }
    }

    /// Counts a finished episode's due time; true if it finished late.
    fn due(acc: &mut StepAcc, due_at: Option<DateTime<Utc>>, finished: DateTime<Utc>) -> bool {
        match due_at {
            Some(due) => {
                acc.with_due += 1;
                let late = finished > due;
                if late {
                    acc.overdue += 1;
                }
                late
            }
            None => false,
        }
    }

    /// Splits `[from, to]` among the episodes open at each instant (equal parts, rounded
    /// down to the millisecond, so the parts never exceed the whole).
    fn attribute(
        &mut self,
        intervals: &[(usize, DateTime<Utc>, DateTime<Utc>)],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) {
        let clipped: Vec<(usize, DateTime<Utc>, DateTime<Utc>)> = intervals
            .iter()
            .map(|(step, start, end)| (*step, (*start).max(from), (*end).min(to)))
            .filter(|(_, start, end)| start < end)
            .collect();
        let mut points: Vec<DateTime<Utc>> = clipped
            .iter()
            .flat_map(|(_, start, end)| [*start, *end])
            .collect();
        points.sort_unstable();
        points.dedup();
        let mut open: Vec<usize> = Vec::new();
        for pair in points.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            open.clear();
            open.extend(
                clipped
                    .iter()
                    .filter(|(_, start, end)| *start <= a && b <= *end)
                    .map(|(step, _, _)| *step),
            );
            if open.is_empty() {
                continue;
            }
            let length = i128::from((b - a).num_milliseconds().max(0));
            let part = length / i128::try_from(open.len()).unwrap_or(i128::MAX);
            for step in &open {
                self.steps[*step].attributed_ms += part;
            }
        }
    }

    /// Adds everything another accumulator collected (for splitting the work; both must be
    /// for the same step order). The result is the same as feeding all orders to one.
    pub fn merge(&mut self, other: Accumulator) {
        let Accumulator {
            keys,
            steps,
            orders,
            completed,
            closed,
            cancelled,
            in_flight,
            on_time,
            cycle_to_completion,
            cycle_to_payment,
            cycle_ms,
            ..
        } = other;
        for (key, acc) in keys.iter().zip(steps) {
            let i = self.step_index(key);
            self.steps[i].merge(acc);
        }
        self.orders += orders;
        self.completed += completed;
        self.closed += closed;
        self.cancelled += cancelled;
        self.in_flight += in_flight;
        self.on_time += on_time;
        self.cycle_to_completion.extend(cycle_to_completion);
        self.cycle_to_payment.extend(cycle_to_payment);
        self.cycle_ms += cycle_ms;
    }

    /// The report.
    pub fn finish(self) -> Report {
        let Accumulator {
            keys,
            known,
            steps,
            orders,
            completed,
            closed,
            cancelled,
            in_flight,
            on_time,
            mut cycle_to_completion,
            mut cycle_to_payment,
            cycle_ms,
            ..
        } = self;
        let mut entries: Vec<(String, StepAcc)> = keys.into_iter().zip(steps).collect();
        if known < entries.len() {
            entries[known..].sort_by(|a, b| a.0.cmp(&b.0));
        }
        let mut reports: Vec<StepReport> = entries
            .into_iter()
            .enumerate()
            .map(|(position, (step_key, mut acc))| {
                let passed = acc.done + acc.skipped;
                StepReport {
                    step_key,
                    position: u32::try_from(position).unwrap_or(u32::MAX),
                    activated: acc.activated,
                    passed,
                    done: acc.done,
                    skipped: acc.skipped,
                    reopened: acc.reopened,
                    in_flight: acc.in_flight,
                    abandoned: acc.abandoned,
                    waiting: DurationStats::from_values(&mut acc.waiting),
                    working: DurationStats::from_values(&mut acc.working),
                    total: DurationStats::from_values(&mut acc.total),
                    skip_rate: ratio(acc.skipped, passed),
                    rework_rate: ratio(acc.reopened, passed),
                    overdue_rate: ratio(acc.overdue, acc.with_due),
                    share_of_cycle_time: (cycle_ms > 0)
                        .then(|| acc.attributed_ms as f64 / cycle_ms as f64),
                    bottleneck_rank: None,
                }
            })
            .collect();
        let mut ranked: Vec<usize> = (0..reports.len())
            .filter(|i| reports[*i].share_of_cycle_time.is_some_and(|s| s > 0.0))
            .collect();
        ranked.sort_by(|x, y| {
            let share = |i: usize| reports[i].share_of_cycle_time.unwrap_or(0.0);
            share(*y).total_cmp(&share(*x)).then(x.cmp(y))
        });
        for (rank, i) in ranked.into_iter().enumerate() {
            reports[i].bottleneck_rank = u32::try_from(rank + 1).ok();
        }
        Report {
            orders,
            completed,
            closed,
            cancelled,
            in_flight,
            cycle_to_completion: DurationStats::from_values(&mut cycle_to_completion),
            cycle_to_payment: DurationStats::from_values(&mut cycle_to_payment),
            on_time_rate: ratio(on_time, completed),
            steps: reports,
        }
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Whether a step is in both compared reports or only in one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepChange {
    /// In both reports.
    Kept,
    /// Only in `a`: the step was removed in `b`.
    Removed,
    /// Only in `b`: the step was added in `b`.
    Added,
}

impl StepChange {
    pub fn as_str(self) -> &'static str {
        match self {
            StepChange::Kept => "kept",
            StepChange::Removed => "removed",
            StepChange::Added => "added",
        }
    }
}

/// One step of two compared reports. Deltas are `b − a`, `None` unless both sides have a
/// value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepDelta {
    pub step_key: String,
    pub change: StepChange,
    pub position_a: Option<u32>,
    pub position_b: Option<u32>,
    /// Median total time (activated → finished).
    pub median_total_a_seconds: Option<i64>,
    pub median_total_b_seconds: Option<i64>,
    pub median_total_delta_seconds: Option<i64>,
    pub share_a: Option<f64>,
    pub share_b: Option<f64>,
    pub share_delta: Option<f64>,
    pub overdue_rate_a: Option<f64>,
    pub overdue_rate_b: Option<f64>,
    pub bottleneck_rank_a: Option<u32>,
    pub bottleneck_rank_b: Option<u32>,
}

/// Two reports side by side (typically two versions of one process, `a` the older).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub a: Report,
    pub b: Report,
    /// The steps of `a` in `a`'s order, then the steps only in `b`, in `b`'s order. A step is
    /// in a report when it is listed in its `steps`.
    pub steps: Vec<StepDelta>,
    /// Median cycle time to completion, `b − a`.
    pub cycle_median_delta_seconds: Option<i64>,
    /// On-time rate, `b − a`.
    pub on_time_rate_delta: Option<f64>,
}

fn delta_i64(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.zip(b).and_then(|(a, b)| b.checked_sub(a))
}

fn delta_f64(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    a.zip(b).map(|(a, b)| b - a)
}

/// Puts two reports side by side.
pub fn compare(a: Report, b: Report) -> Comparison {
    let mut steps = Vec::new();
    for sa in &a.steps {
        let sb = b.steps.iter().find(|s| s.step_key == sa.step_key);
        steps.push(step_delta(&sa.step_key, Some(sa), sb));
    }
    for sb in &b.steps {
        if !a.steps.iter().any(|s| s.step_key == sb.step_key) {
            steps.push(step_delta(&sb.step_key, None, Some(sb)));
        }
    }
    Comparison {
        cycle_median_delta_seconds: delta_i64(
            a.cycle_to_completion.median_seconds,
            b.cycle_to_completion.median_seconds,
        ),
        on_time_rate_delta: delta_f64(a.on_time_rate, b.on_time_rate),
        steps,
        a,
        b,
    }
}

fn step_delta(key: &str, a: Option<&StepReport>, b: Option<&StepReport>) -> StepDelta {
    let change = match (a.is_some(), b.is_some()) {
        (true, false) => StepChange::Removed,
        (false, true) => StepChange::Added,
        _ => StepChange::Kept,
    };
    let median_a = a.and_then(|s| s.total.median_seconds);
    let median_b = b.and_then(|s| s.total.median_seconds);
    let share_a = a.and_then(|s| s.share_of_cycle_time);
    let share_b = b.and_then(|s| s.share_of_cycle_time);
    StepDelta {
        step_key: key.to_owned(),
        change,
        position_a: a.map(|s| s.position),
        position_b: b.map(|s| s.position),
        median_total_a_seconds: median_a,
        median_total_b_seconds: median_b,
        median_total_delta_seconds: delta_i64(median_a, median_b),
        share_a,
        share_b,
        share_delta: delta_f64(share_a, share_b),
        overdue_rate_a: a.and_then(|s| s.overdue_rate),
        overdue_rate_b: b.and_then(|s| s.overdue_rate),
        bottleneck_rank_a: a.and_then(|s| s.bottleneck_rank),
        bottleneck_rank_b: b.and_then(|s| s.bottleneck_rank),
    }
}

/// An RFC 4180 field: quoted (with inner quotes doubled) when it holds a comma, a quote or a
/// line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn csv_row(out: &mut String, fields: &[String]) {
    let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

fn cell<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// A rate with 4 decimals (never `-0.0000`), empty for `None`.
fn rate_cell(value: Option<f64>) -> String {
    match value {
        Some(v) => {
            let text = format!("{v:.4}");
            if text == "-0.0000" {
                "0.0000".to_owned()
            } else {
                text
            }
        }
        None => String::new(),
    }
}

fn stats_cells(stats: &DurationStats) -> [String; 4] {
    [
        stats.count.to_string(),
        cell(stats.median_seconds),
        cell(stats.p90_seconds),
        cell(stats.mean_seconds),
    ]
}

/// Header of [`to_csv`].
pub const STEP_CSV_HEADER: [&str; 26] = [
    "step_key",
    "position",
    "activated",
    "passed",
    "done",
    "skipped",
    "reopened",
    "in_flight",
    "abandoned",
    "waiting_count",
    "waiting_median_seconds",
    "waiting_p90_seconds",
    "waiting_mean_seconds",
    "working_count",
    "working_median_seconds",
    "working_p90_seconds",
    "working_mean_seconds",
    "total_count",
    "total_median_seconds",
    "total_p90_seconds",
    "total_mean_seconds",
    "skip_rate",
    "rework_rate",
    "overdue_rate",
    "share_of_cycle_time",
    "bottleneck_rank",
];

/// The step figures as CSV (RFC 4180): a header row ([`STEP_CSV_HEADER`]), one row per step in report order, CRLF line ends, fields quoted when
/// they hold a comma, quote or line break. Numbers are plain decimals, rates have 4 decimals,
/// `None` is an empty cell. The order-level figures are not included (see [`Report`]).
pub fn to_csv(report: &Report) -> String {
    let mut out = String::new();
    let header: Vec<String> = STEP_CSV_HEADER.iter().map(|h| (*h).to_owned()).collect();
    csv_row(&mut out, &header);
    for s in &report.steps {
        let mut row = vec![
            s.step_key.clone(),
            s.position.to_string(),
            s.activated.to_string(),
            s.passed.to_string(),
            s.done.to_string(),
            s.skipped.to_string(),
            s.reopened.to_string(),
            s.in_flight.to_string(),
            s.abandoned.to_string(),
        ];
        row.extend(stats_cells(&s.waiting));
        row.extend(stats_cells(&s.working));
        row.extend(stats_cells(&s.total));
        row.push(rate_cell(s.skip_rate));
        row.push(rate_cell(s.rework_rate));
        row.push(rate_cell(s.overdue_rate));
        row.push(rate_cell(s.share_of_cycle_time));
        row.push(cell(s.bottleneck_rank));
        csv_row(&mut out, &row);
    }
    out
}

/// Header of [`comparison_to_csv`].
pub const COMPARISON_CSV_HEADER: [&str; 14] = [
    "step_key",
    "change",
    "position_a",
    "position_b",
    "median_total_a_seconds",
    "median_total_b_seconds",
    "median_total_delta_seconds",
    "share_a",
    "share_b",
    "share_delta",
    "overdue_rate_a",
    "overdue_rate_b",
    "bottleneck_rank_a",
    "bottleneck_rank_b",
];

/// The step deltas as CSV, in the format of [`to_csv`]: header [`COMPARISON_CSV_HEADER`], one
/// row per [`StepDelta`]. The order-level deltas are in [`Comparison`].
pub fn comparison_to_csv(c: &Comparison) -> String {
    let mut out = String::new();
    let header: Vec<String> = COMPARISON_CSV_HEADER
        .iter()
        .map(|h| (*h).to_owned())
        .collect();
    csv_row(&mut out, &header);
    for d in &c.steps {
        let row = vec![
            d.step_key.clone(),
            d.change.as_str().to_owned(),
            cell(d.position_a),
            cell(d.position_b),
            cell(d.median_total_a_seconds),
            cell(d.median_total_b_seconds),
            cell(d.median_total_delta_seconds),
            rate_cell(d.share_a),
            rate_cell(d.share_b),
            rate_cell(d.share_delta),
            rate_cell(d.overdue_rate_a),
            rate_cell(d.overdue_rate_b),
            cell(d.bottleneck_rank_a),
            cell(d.bottleneck_rank_b),
        ];
        csv_row(&mut out, &row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    /// Minutes after 2024-01-01 00:00 UTC.
    fn t(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
            .single()
            .expect("a valid instant")
            + Duration::minutes(minutes)
    }

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|k| (*k).to_owned()).collect()
    }

    fn activated(at: i64, key: &str, due: Option<i64>) -> (DateTime<Utc>, String, StepEventKind) {
        (
            t(at),
            key.to_owned(),
            StepEventKind::Activated { due_at: due.map(t) },
        )
    }

    fn ev(at: i64, key: &str, kind: StepEventKind) -> (DateTime<Utc>, String, StepEventKind) {
        (t(at), key.to_owned(), kind)
    }

    fn order(
        n: u128,
        order_events: Vec<(i64, OrderEventKind)>,
        step_events: Vec<(DateTime<Utc>, String, StepEventKind)>,
    ) -> OrderHistory {
        OrderHistory {
            order_id: Uuid::from_u128(n),
            created_at: t(0),
            order_events: order_events.into_iter().map(|(m, k)| (t(m), k)).collect(),
            step_events,
        }
    }

    use OrderEventKind as O;
    use StepEventKind as S;

    /// The fixture (times in minutes after creation; every order is created at 0):
    ///
    /// Order 1, completed at 110, closed at 200:
    ///   intake  activated 0 (due 30), started 10, completed 20: wait 10, work 10, total 20
    ///   repair  activated 20 (due 80), started 40, completed 100: wait 20, work 60, total 80,
    ///           overdue
    ///   check   activated 100 (no due), completed 110 unstarted: wait 10, work 0, total 10
    /// Order 2, completed at 95 (not closed); repair reopened while check runs, check skipped:
    ///   intake  activated 0 (due 30), started 5, completed 15: wait 5, work 10, total 15
    ///   repair  activated 15 (due 75), started 20, completed 50: wait 5, work 30, total 35
    ///   check   activated 50 (no due)
    ///   repair  reopened 60 + activated 60 (due 120), started 70, completed 90: wait 10,
    ///           work 20, total 30 (rework)
    ///   check   skipped 95: total 45
    /// Order 3, in flight:
    ///   intake  activated 0 (due 30), started 20, completed 40: wait 20, work 20, total 40,
    ///           overdue
    ///   repair  activated 40 (due 100), started 50, still open: in flight
    /// Order 4, cancelled at 30:
    ///   intake  activated 0 (due 30), completed 10 unstarted: wait 10, work 0, total 10
    ///   repair  activated 10, never finished: abandoned
    fn fixture() -> Vec<OrderHistory> {
        vec![
            order(
                1,
                vec![(0, O::Created), (110, O::Completed), (200, O::Closed)],
                vec![
                    activated(0, "intake", Some(30)),
                    ev(10, "intake", S::Started),
                    ev(20, "intake", S::Completed),
                    activated(20, "repair", Some(80)),
                    ev(40, "repair", S::Started),
                    ev(100, "repair", S::Completed),
                    activated(100, "check", None),
                    ev(110, "check", S::Completed),
                ],
            ),
            order(
                2,
                vec![(0, O::Created), (95, O::Completed)],
                vec![
                    activated(0, "intake", Some(30)),
                    ev(5, "intake", S::Started),
                    ev(15, "intake", S::Completed),
                    activated(15, "repair", Some(75)),
                    ev(20, "repair", S::Started),
                    ev(50, "repair", S::Completed),
                    activated(50, "check", None),
                    ev(60, "repair", S::Reopened),
                    activated(60, "repair", Some(120)),
                    ev(70, "repair", S::Started),
                    ev(90, "repair", S::Completed),
                    ev(95, "check", S::Skipped),
                ],
            ),
            order(
                3,
                vec![(0, O::Created)],
                vec![
                    activated(0, "intake", Some(30)),
                    ev(20, "intake", S::Started),
                    ev(40, "intake", S::Completed),
                    activated(40, "repair", Some(100)),
                    ev(50, "repair", S::Started),
                ],
            ),
            order(
                4,
                vec![(0, O::Created), (30, O::Cancelled)],
                vec![
                    activated(0, "intake", Some(30)),
                    ev(10, "intake", S::Completed),
                    activated(10, "repair", None),
                ],
            ),
        ]
    }

    fn report_of(step_order: &[&str], orders: &[OrderHistory]) -> Report {
        let mut acc = Accumulator::new(&keys(step_order));
        for o in orders {
            acc.add(o);
        }
        acc.finish()
    }

    fn stats(count: u64, min: i64, median: i64, p90: i64, mean: i64, max: i64) -> DurationStats {
        DurationStats {
            count,
            min_seconds: Some(min),
            median_seconds: Some(median),
            p90_seconds: Some(p90),
            mean_seconds: Some(mean),
            max_seconds: Some(max),
        }
    }

    fn close(actual: Option<f64>, expected: f64) {
        let actual = actual.expect("a value");
        assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
    }

    #[test]
    fn fixture_report_matches_hand_computed_values() {
        let r = report_of(&["intake", "repair", "check"], &fixture());

        // Orders: 1 and 2 completed (1 closed), 3 in flight, 4 cancelled.
        assert_eq!(
            (r.orders, r.completed, r.closed, r.cancelled, r.in_flight),
            (4, 2, 1, 1, 1)
        );
        // Cycle to completion: [95 min, 110 min] = [5700 s, 6600 s]; nearest rank: median =
        // rank ceil(1.0) = 1 → 5700, p90 = rank ceil(1.8) = 2 → 6600; mean 6150.
        assert_eq!(
            r.cycle_to_completion,
            stats(2, 5700, 5700, 6600, 6150, 6600)
        );
        // Cycle to payment: order 1 only, 200 min.
        assert_eq!(
            r.cycle_to_payment,
            stats(1, 12000, 12000, 12000, 12000, 12000)
        );
        // On time: order 1 had repair late, order 2 all in time → 1 / 2.
        close(r.on_time_rate, 0.5);

        let keys: Vec<&str> = r.steps.iter().map(|s| s.step_key.as_str()).collect();
        assert_eq!(keys, ["intake", "repair", "check"]);
        let [intake, repair, check] = [&r.steps[0], &r.steps[1], &r.steps[2]];

        // intake: 4 episodes, all done.
        assert_eq!(intake.position, 0);
        assert_eq!(
            (intake.activated, intake.passed, intake.done, intake.skipped),
            (4, 4, 4, 0)
        );
        assert_eq!(
            (intake.reopened, intake.in_flight, intake.abandoned),
            (0, 0, 0)
        );
        // waiting [5, 10, 10, 20] min = [300, 600, 600, 1200] s: median rank 2 → 600,
        // p90 rank ceil(3.6) = 4 → 1200, mean 2700 / 4 = 675.
        assert_eq!(intake.waiting, stats(4, 300, 600, 1200, 675, 1200));
        // working [0, 10, 10, 20] min: median 600, p90 1200, mean 2400 / 4 = 600.
        assert_eq!(intake.working, stats(4, 0, 600, 1200, 600, 1200));
        // total [10, 15, 20, 40] min: median 900, p90 2400, mean 5100 / 4 = 1275.
        assert_eq!(intake.total, stats(4, 600, 900, 2400, 1275, 2400));
        close(intake.skip_rate, 0.0);
        close(intake.rework_rate, 0.0);
        // 4 with a due time, order 3 late → 1 / 4.
        close(intake.overdue_rate, 0.25);

        // repair: episodes o1, o2 ×2 (reopen), o3 (in flight), o4 (abandoned).
        assert_eq!(
            (repair.activated, repair.passed, repair.done, repair.skipped),
            (5, 3, 3, 0)
        );
        assert_eq!(
            (repair.reopened, repair.in_flight, repair.abandoned),
            (1, 1, 1)
        );
        // waiting [5, 10, 20] min: median rank ceil(1.5) = 2 → 600, p90 rank ceil(2.7) = 3
        // → 1200, mean 2100 / 3 = 700.
        assert_eq!(repair.waiting, stats(3, 300, 600, 1200, 700, 1200));
        // working [20, 30, 60] min: median 1800, p90 3600, mean 6600 / 3 = 2200.
        assert_eq!(repair.working, stats(3, 1200, 1800, 3600, 2200, 3600));
        // total [30, 35, 80] min: median 2100, p90 4800, mean 8700 / 3 = 2900.
        assert_eq!(repair.total, stats(3, 1800, 2100, 4800, 2900, 4800));
        close(repair.skip_rate, 0.0);
        // 1 reopen per 3 finished episodes.
        close(repair.rework_rate, 1.0 / 3.0);
        // due times on all 3 finished episodes, order 1 late → 1 / 3.
        close(repair.overdue_rate, 1.0 / 3.0);

        // check: order 1 done, order 2 skipped.
        assert_eq!(
            (check.activated, check.passed, check.done, check.skipped),
            (2, 2, 1, 1)
        );
        assert_eq!(
            (check.reopened, check.in_flight, check.abandoned),
            (0, 0, 0)
        );
        assert_eq!(check.waiting, stats(1, 600, 600, 600, 600, 600));
        assert_eq!(check.working, stats(1, 0, 0, 0, 0, 0));
        // total [10 (done), 45 (skipped)] min: median rank 1 → 600, p90 rank 2 → 2700,
        // mean 1650.
        assert_eq!(check.total, stats(2, 600, 600, 2700, 1650, 2700));
        close(check.skip_rate, 0.5);
        close(check.rework_rate, 0.0);
        assert_eq!(check.overdue_rate, None);

        // Shares over the completed orders 1 and 2 (cycle 110 + 95 = 205 min):
        // order 1: intake 0–20, repair 20–100, check 100–110 → 20 / 80 / 10.
        // order 2: intake 0–15; repair 15–50; check alone 50–60; repair and check together
        // 60–90 (15 each); check alone 90–95 → intake 15, repair 35 + 15 = 50,
        // check 10 + 15 + 5 = 30.
        // intake 35 / 205, repair 130 / 205, check 40 / 205; together exactly 1.
        close(intake.share_of_cycle_time, 35.0 / 205.0);
        close(repair.share_of_cycle_time, 130.0 / 205.0);
        close(check.share_of_cycle_time, 40.0 / 205.0);
        let sum: f64 = r.steps.iter().filter_map(|s| s.share_of_cycle_time).sum();
        assert!(sum <= 1.0 + 1e-9);
        assert_eq!(repair.bottleneck_rank, Some(1));
        assert_eq!(check.bottleneck_rank, Some(2));
        assert_eq!(intake.bottleneck_rank, Some(3));
    }

    #[test]
    fn in_flight_order_counts_its_finished_steps_only() {
        let fx = fixture();
        let r = report_of(&["intake", "repair", "check"], &fx[2..3]);
        assert_eq!((r.orders, r.completed, r.in_flight), (1, 0, 1));
        assert_eq!(r.cycle_to_completion.count, 0);
        assert_eq!(r.cycle_to_completion.median_seconds, None);
        assert_eq!(r.on_time_rate, None);
        let intake = &r.steps[0];
        assert_eq!(intake.done, 1);
        assert_eq!(intake.total, stats(1, 2400, 2400, 2400, 2400, 2400));
        let repair = &r.steps[1];
        assert_eq!(
            (repair.activated, repair.passed, repair.in_flight),
            (1, 0, 1)
        );
        assert_eq!(repair.waiting.count, 0);
        assert_eq!(repair.skip_rate, None);
        // No completed order: no shares, no ranks.
        assert!(r.steps.iter().all(|s| s.share_of_cycle_time.is_none()));
        assert!(r.steps.iter().all(|s| s.bottleneck_rank.is_none()));
    }

    #[test]
    fn reopen_after_order_completion_puts_the_order_back_in_flight() {
        // Completed at 20, then a step is reopened: in flight until completed again.
        let mut o = order(
            1,
            vec![(20, O::Completed)],
            vec![
                activated(0, "a", None),
                ev(20, "a", S::Completed),
                ev(30, "a", S::Reopened),
                activated(30, "a", None),
            ],
        );
        let r = report_of(&["a"], std::slice::from_ref(&o));
        assert_eq!((r.completed, r.in_flight), (0, 1));
        assert_eq!((r.steps[0].reopened, r.steps[0].in_flight), (1, 1));
        // Completed again at 50: measured to the last completion.
        o.step_events.push(ev(50, "a", S::Completed));
        o.order_events.push((t(50), O::Completed));
        let r = report_of(&["a"], &[o]);
        assert_eq!((r.completed, r.in_flight), (1, 0));
        assert_eq!(r.cycle_to_completion.median_seconds, Some(3000));
        // Step open 0–20 and 30–50 of 50 minutes: share 40 / 50.
        close(r.steps[0].share_of_cycle_time, 0.8);
        assert_eq!(r.steps[0].activated, 2);
        assert_eq!(r.steps[0].passed, 2);
        close(r.steps[0].rework_rate, 0.5);
    }

    #[test]
    fn skips_of_pending_steps_and_of_skipped_steps_reopened() {
        let o = order(
            1,
            vec![(30, O::Completed)],
            vec![
                activated(0, "a", Some(5)),
                // b skipped while still pending: finished, skipped, no duration.
                ev(0, "b", S::Skipped),
                // a skipped late (due 5), reopened (not rework: it was skipped), done.
                ev(10, "a", S::Skipped),
                ev(10, "a", S::Reopened),
                activated(10, "a", Some(40)),
                ev(30, "a", S::Completed),
            ],
        );
        let r = report_of(&["a", "b"], &[o]);
        let (a, b) = (&r.steps[0], &r.steps[1]);
        assert_eq!(
            (a.activated, a.passed, a.done, a.skipped, a.reopened),
            (2, 2, 1, 1, 0)
        );
        // Skipped episode: only a total (600 s); done episode: wait 1200, work 0, total 1200.
        assert_eq!(a.waiting, stats(1, 1200, 1200, 1200, 1200, 1200));
        assert_eq!(a.total, stats(2, 600, 600, 1200, 900, 1200));
        close(a.overdue_rate, 0.5);
        close(a.rework_rate, 0.0);
        assert_eq!((b.activated, b.passed, b.skipped), (0, 1, 1));
        assert_eq!(b.total.count, 0);
        close(b.skip_rate, 1.0);
        // The late skip makes the order late.
        close(r.on_time_rate, 0.0);
        close(a.share_of_cycle_time, 1.0);
        close(b.share_of_cycle_time, 0.0);
        assert_eq!((a.bottleneck_rank, b.bottleneck_rank), (Some(1), None));
    }

    #[test]
    fn unknown_keys_follow_in_key_order() {
        let o = order(
            1,
            vec![],
            vec![
                activated(0, "zeta", None),
                activated(0, "alpha", None),
                activated(0, "known", None),
            ],
        );
        let r = report_of(&["known", "never"], &[o]);
        let listed: Vec<(&str, u32)> = r
            .steps
            .iter()
            .map(|s| (s.step_key.as_str(), s.position))
            .collect();
        assert_eq!(
            listed,
            [("known", 0), ("never", 1), ("alpha", 2), ("zeta", 3)]
        );
    }

    /// A tiny RFC 4180 reader: records of fields, CRLF-terminated.
    fn parse_csv(text: &str) -> Vec<Vec<String>> {
        let mut records = Vec::new();
        let mut record = Vec::new();
        let mut field = String::new();
        let mut chars = text.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            if quoted {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        field.push('"');
                    } else {
                        quoted = false;
                    }
                } else {
                    field.push(c);
                }
            } else {
                match c {
                    '"' => quoted = true,
                    ',' => record.push(std::mem::take(&mut field)),
                    '\r' => {
                        assert_eq!(chars.next(), Some('\n'), "CR without LF");
                        record.push(std::mem::take(&mut field));
                        records.push(std::mem::take(&mut record));
                    }
                    '\n' => panic!("bare LF outside quotes"),
                    _ => field.push(c),
                }
            }
        }
        assert!(
            !quoted && field.is_empty() && record.is_empty(),
            "unterminated"
        );
        records
    }

    #[test]
    fn csv_round_trips_with_quoted_keys() {
        let tricky = "wash, \"dry\"\nfold";
        let o = order(
            1,
            vec![(10, O::Completed)],
            vec![
                activated(0, tricky, None),
                ev(10, tricky, S::Completed),
                activated(0, "plain", None),
            ],
        );
        let r = report_of(&[tricky, "plain"], &[o]);
        let text = to_csv(&r);
        assert!(text.ends_with("\r\n"));
        let header_line = STEP_CSV_HEADER.join(",") + "\r\n";
        assert!(text.starts_with(&header_line));
        let second = &text[header_line.len()..];
        assert!(
            second.starts_with("\"wash, \"\"dry\"\"\nfold\",0,1,1,1,0,0,0,0,1,600,600,600,"),
            "{second}"
        );

        let rows = parse_csv(&text);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0], STEP_CSV_HEADER);
        assert!(rows.iter().all(|row| row.len() == STEP_CSV_HEADER.len()));
        let col = |name: &str| {
            STEP_CSV_HEADER
                .iter()
                .position(|h| *h == name)
                .expect("a column")
        };
        assert_eq!(rows[1][col("step_key")], tricky);
        assert_eq!(rows[1][col("total_median_seconds")], "600");
        assert_eq!(rows[1][col("skip_rate")], "0.0000");
        assert_eq!(rows[1][col("overdue_rate")], "");
        // "plain" is still open although the order says completed: the order is in flight,
        // so there are no shares.
        assert_eq!(rows[1][col("share_of_cycle_time")], "");
        assert_eq!(rows[2][col("step_key")], "plain");
        assert_eq!(rows[2][col("in_flight")], "1");
        assert_eq!(rows[2][col("waiting_median_seconds")], "");

        let fixture_csv = parse_csv(&to_csv(&report_of(
            &["intake", "repair", "check"],
            &fixture(),
        )));
        assert_eq!(fixture_csv[2][col("rework_rate")], "0.3333");
        assert_eq!(fixture_csv[2][col("share_of_cycle_time")], "0.6341");
        assert_eq!(fixture_csv[2][col("bottleneck_rank")], "1");
    }

    #[test]
    fn comparison_shows_the_effect_of_removing_a_step() {
        // Version A: the fixture (intake, repair, check).
        let a = report_of(&["intake", "repair", "check"], &fixture());
        // Version B: check removed, a new step "sign" added. Two orders:
        //   intake 0–10 (due 30), repair 10–60 (due 90), sign 60–70 → completed 70, on time
        //   intake 0–20 (due 30), repair 20–80 (due 90), sign 80–90 → completed 90, on time
        let b_orders: Vec<OrderHistory> = [(10, 60, 70), (20, 80, 90)]
            .into_iter()
            .enumerate()
            .map(|(i, (x, y, z))| {
                order(
                    10 + i as u128,
                    vec![(z, O::Completed)],
                    vec![
                        activated(0, "intake", Some(30)),
                        ev(x, "intake", S::Completed),
                        activated(x, "repair", Some(90)),
                        ev(y, "repair", S::Completed),
                        activated(y, "sign", None),
                        ev(z, "sign", S::Completed),
                    ],
                )
            })
            .collect();
        let b = report_of(&["intake", "repair", "sign"], &b_orders);
        // Reports and comparisons are stored and served as JSON: they come back unchanged.
        fn round_trip<T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug>(
            value: &T,
        ) {
            let json = serde_json::to_string(value).expect("serialize");
            let back: T = serde_json::from_str(&json).expect("deserialize");
            assert_eq!(&back, value, "{json}");
        }
        round_trip(&a);
        round_trip(&b);
        let c = compare(a, b);
        round_trip(&c);

        // Median cycle: A 5700 s (95 min), B 4200 s (70 min) → −1500 s.
        assert_eq!(c.cycle_median_delta_seconds, Some(-1500));
        // On time: A 0.5, B 1.0.
        close(c.on_time_rate_delta, 0.5);

        let changes: Vec<(&str, StepChange)> = c
            .steps
            .iter()
            .map(|d| (d.step_key.as_str(), d.change))
            .collect();
        assert_eq!(
            changes,
            [
                ("intake", StepChange::Kept),
                ("repair", StepChange::Kept),
                ("check", StepChange::Removed),
                ("sign", StepChange::Added),
            ]
        );
        let check = &c.steps[2];
        assert_eq!((check.position_a, check.position_b), (Some(2), None));
        assert_eq!(check.median_total_a_seconds, Some(600));
        assert_eq!(check.median_total_b_seconds, None);
        assert_eq!(check.median_total_delta_seconds, None);
        close(check.share_a, 40.0 / 205.0);
        assert_eq!(check.share_b, None);
        // repair total: A median 2100 s; B [50, 60] min → median 3000 s.
        let repair = &c.steps[1];
        assert_eq!(repair.median_total_delta_seconds, Some(900));
        // repair share B: (50 + 60) / (70 + 90) = 110 / 160.
        close(repair.share_b, 110.0 / 160.0);
        close(repair.share_delta, 110.0 / 160.0 - 130.0 / 205.0);

        let rows = parse_csv(&comparison_to_csv(&c));
        assert_eq!(rows[0], COMPARISON_CSV_HEADER);
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[3][0..4], ["check", "removed", "2", ""]);
        assert_eq!(rows[4][0..4], ["sign", "added", "", "2"]);
        assert_eq!(rows[2][6], "900");
    }

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(nearest_rank(&[], 50), None);
        assert_eq!(nearest_rank(&[7], 90), Some(7));
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(nearest_rank(&ten, 50), Some(5));
        assert_eq!(nearest_rank(&ten, 90), Some(9));
        let eleven: Vec<i64> = (1..=11).collect();
        assert_eq!(nearest_rank(&eleven, 50), Some(6));
        assert_eq!(nearest_rank(&eleven, 90), Some(10));
        // Mean rounds halves up: (1 + 2) / 2 = 1.5 → 2.
        assert_eq!(
            DurationStats::from_values(&mut [2, 1]).mean_seconds,
            Some(2)
        );
    }

    const PROP_KEYS: [&str; 4] = ["a", "b", "c", "x"];

    fn step_kind(kind: u8, due: Option<i64>, at: i64) -> StepEventKind {
        match kind {
            0 | 1 => StepEventKind::Activated {
                due_at: due.map(|d| t(at + d)),
            },
            2 => StepEventKind::Started,
            3 | 4 => StepEventKind::Completed,
            5 => StepEventKind::Skipped,
            _ => StepEventKind::Reopened,
        }
    }

    /// Arbitrary histories (valid or not): increasing times, keys from a small set (one not
    /// in the step order), arbitrary order events.
    fn arb_order() -> impl Strategy<Value = OrderHistory> {
        (
            any::<u128>(),
            0i64..1000,
            prop::collection::vec(
                (0i64..90, 0usize..4, 0u8..7, prop::option::of(0i64..120)),
                0..24,
            ),
            prop::collection::vec((0i64..400, 0u8..5), 0..4),
        )
            .prop_map(|(id, start, steps, orders)| {
                let mut at = start;
                let step_events = steps
                    .into_iter()
                    .map(|(gap, key, kind, due)| {
                        at += gap;
                        (t(at), PROP_KEYS[key].to_owned(), step_kind(kind, due, at))
                    })
                    .collect();
                let mut at = start;
                let order_events = orders
                    .into_iter()
                    .map(|(gap, kind)| {
                        at += gap;
                        let kind = match kind {
                            0 => O::Created,
                            1 | 2 => O::Completed,
                            3 => O::Closed,
                            _ => O::Cancelled,
                        };
                        (t(at), kind)
                    })
                    .collect();
                OrderHistory {
                    order_id: Uuid::from_u128(id),
                    created_at: t(start),
                    order_events,
                    step_events,
                }
            })
    }

    /// Well-formed histories: stage {a, b} in parallel, then c (and sometimes x); each step
    /// activated, maybe started, done or skipped, maybe reopened once; then cut off at a
    /// random time (in flight), or completed (maybe closed), or cancelled.
    fn arb_valid_order() -> impl Strategy<Value = OrderHistory> {
        let step = (
            0i64..60,
            0i64..60,
            any::<bool>(),
            0u8..4,
            prop::option::of(0i64..90),
        );
        (
            any::<u128>(),
            prop::collection::vec(step, 4),
            any::<bool>(),
            0u8..4,
            0i64..400,
        )
            .prop_map(|(id, steps, with_x, end, cutoff)| {
                let mut events: Vec<(DateTime<Utc>, String, StepEventKind)> = Vec::new();
                let mut stage_start = 0;
                let stages: Vec<Vec<usize>> = if with_x {
                    vec![vec![0, 1], vec![2], vec![3]]
                } else {
                    vec![vec![0, 1], vec![2]]
                };
                for stage in stages {
                    let mut stage_end = stage_start;
                    for i in stage {
                        let (wait, work, started, finish, due) = steps[i];
                        let key = PROP_KEYS[i];
                        let mut at = stage_start;
                        let rounds = if finish == 3 { 2 } else { 1 };
                        for round in 0..rounds {
                            if round == 1 {
                                events.push(ev(at, key, S::Reopened));
                            }
                            events.push(activated(at, key, due.map(|d| at + d)));
                            at += wait;
                            if started {
                                events.push(ev(at, key, S::Started));
                            }
                            at += work;
                            let kind = if finish == 1 {
                                S::Skipped
                            } else {
                                S::Completed
                            };
                            events.push(ev(at, key, kind));
                        }
                        stage_end = stage_end.max(at);
                    }
                    stage_start = stage_end;
                }
                let mut order_events = vec![(t(0), O::Created)];
                match end {
                    0 => {
                        events.retain(|(at, _, _)| *at <= t(cutoff));
                    }
                    1 => {
                        events.retain(|(at, _, _)| *at <= t(cutoff));
                        order_events.push((t(cutoff), O::Cancelled));
                    }
                    _ => {
                        order_events.push((t(stage_start), O::Completed));
                        if end == 3 {
                            order_events.push((t(stage_start + cutoff), O::Closed));
                        }
                    }
                }
                events.sort_by_key(|(at, _, _)| *at);
                OrderHistory {
                    order_id: Uuid::from_u128(id),
                    created_at: t(0),
                    order_events,
                    step_events: events,
                }
            })
    }

    fn arb_orders() -> impl Strategy<Value = Vec<OrderHistory>> {
        prop::collection::vec(prop_oneof![arb_order(), arb_valid_order()], 0..12)
    }

    fn check_stats(s: &DurationStats) -> Result<(), TestCaseError> {
        if s.count == 0 {
            prop_assert_eq!(*s, DurationStats::default());
            return Ok(());
        }
        let (min, max) = (s.min_seconds.expect("min"), s.max_seconds.expect("max"));
        for v in [s.median_seconds, s.p90_seconds, s.mean_seconds] {
            let v = v.expect("a value");
            prop_assert!(min <= v && v <= max, "{v} outside [{min}, {max}]");
        }
        prop_assert!(s.median_seconds <= s.p90_seconds);
        prop_assert!(min >= 0);
        Ok(())
    }

    const PROP_ORDER: [&str; 3] = ["a", "b", "c"];

    proptest! {
        #[test]
        fn shares_sum_to_at_most_one(orders in arb_orders()) {
            let r = report_of(&PROP_ORDER, &orders);
            let sum: f64 = r.steps.iter().filter_map(|s| s.share_of_cycle_time).sum();
            prop_assert!(sum <= 1.0 + 1e-9, "shares sum to {}", sum);
            for s in &r.steps {
                if let Some(share) = s.share_of_cycle_time {
                    prop_assert!(share >= 0.0);
                }
            }
        }

        #[test]
        fn stats_lie_between_min_and_max(orders in arb_orders()) {
            let r = report_of(&PROP_ORDER, &orders);
            check_stats(&r.cycle_to_completion)?;
            check_stats(&r.cycle_to_payment)?;
            for s in &r.steps {
                check_stats(&s.waiting)?;
                check_stats(&s.working)?;
                check_stats(&s.total)?;
            }
        }

        #[test]
        fn counts_add_up(orders in arb_orders()) {
            let r = report_of(&PROP_ORDER, &orders);
            prop_assert_eq!(r.orders, orders.len() as u64);
            prop_assert_eq!(r.orders, r.completed + r.cancelled + r.in_flight);
            prop_assert!(r.closed <= r.completed);
            prop_assert_eq!(r.cycle_to_completion.count, r.completed);
            prop_assert_eq!(r.cycle_to_payment.count, r.closed);
            for s in &r.steps {
                prop_assert_eq!(s.passed, s.done + s.skipped);
                prop_assert_eq!(s.waiting.count, s.done);
                prop_assert_eq!(s.working.count, s.done);
                prop_assert!(s.total.count <= s.passed);
                // Every opened episode is finished, in flight or abandoned.
                prop_assert_eq!(
                    s.activated,
                    s.total.count + s.in_flight + s.abandoned
                );
                prop_assert!(s.reopened <= s.passed);
                for rate in [s.skip_rate, s.rework_rate, s.overdue_rate].into_iter().flatten() {
                    prop_assert!((0.0..=1.0).contains(&rate));
                }
            }
            let ranks: Vec<u32> = r.steps.iter().filter_map(|s| s.bottleneck_rank).collect();
            let mut sorted = ranks.clone();
            sorted.sort_unstable();
            prop_assert_eq!(sorted, (1..=ranks.len() as u32).collect::<Vec<_>>());
        }

        #[test]
        fn order_of_adding_does_not_matter(
            (orders, shuffled) in arb_orders().prop_flat_map(|o| {
                (Just(o.clone()), Just(o).prop_shuffle())
            }),
            split in 0usize..12,
        ) {
            let r = report_of(&PROP_ORDER, &orders);
            prop_assert_eq!(&r, &report_of(&PROP_ORDER, &shuffled));
            // Splitting the work and merging gives the same report too.
            let split = split.min(shuffled.len());
            let mut left = Accumulator::new(&keys(&PROP_ORDER));
            let mut right = Accumulator::new(&keys(&PROP_ORDER));
            for o in &shuffled[..split] {
                left.add(o);
            }
            for o in &shuffled[split..] {
                right.add(o);
            }
            right.merge(left);
            prop_assert_eq!(&r, &right.finish());
        }

        #[test]
        fn csv_has_one_row_per_step(orders in arb_orders()) {
            let r = report_of(&PROP_ORDER, &orders);
            let rows = parse_csv(&to_csv(&r));
            prop_assert_eq!(rows.len(), r.steps.len() + 1);
            for (row, step) in rows[1..].iter().zip(&r.steps) {
                prop_assert_eq!(row.len(), STEP_CSV_HEADER.len());
                prop_assert_eq!(&row[0], &step.step_key);
            }
        }
    }
}
