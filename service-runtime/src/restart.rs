//! Restart policies: what happens to a task or child service that ends.
//!
//! A [`Restart`] says when a task is started again ([`Restart::never`],
//! [`Restart::on_failure`], [`Restart::always`]), how often it may be (its *intensity*: more
//! than `max_restarts` restarts inside any window of `within` gives up, and the last failure
//! becomes a failure of the service), and how long to wait in between (exponential
//! [`Restart::backoff`] with jitter, reset once the task has run `within` without ending).
//! Nothing is restarted once the service is cancelled.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// When and how often a task or child service is restarted.
///
/// | policy | after an error or panic | after a clean exit |
/// |---|---|---|
/// | [`Restart::never()`] (default) | failure | done (daemon: `DaemonExit` failure) |
/// | [`Restart::on_failure()`] | restart | done (daemon: restart) |
/// | [`Restart::always()`] | restart | restart |
///
/// ```
/// use std::time::Duration;
/// use service_runtime::Restart;
///
/// let policy = Restart::on_failure()
///     .max_restarts(5)
///     .within(Duration::from_secs(60))
///     .backoff(Duration::from_millis(100), Duration::from_secs(10));
/// assert_eq!(policy.max_restarts_allowed(), 5);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restart {
    policy: Policy,
    max_restarts: usize,
    within: Duration,
    backoff: Option<(Duration, Duration)>,
    jitter: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Policy {
    Never,
    OnFailure,
    Always,
}

impl Default for Restart {
    fn default() -> Self {
        Restart::never()
    }
}

impl Restart {
    fn with(policy: Policy) -> Restart {
        Restart {
            policy,
            max_restarts: 3,
            within: Duration::from_secs(5),
            backoff: None,
            jitter: true,
        }
    }

    /// Never restart (the default): an error or panic is a failure of the service.
    pub fn never() -> Restart {
        Restart::with(Policy::Never)
    }

    /// Restart after an error or a panic (and a daemon after any exit).
    pub fn on_failure() -> Restart {
        Restart::with(Policy::OnFailure)
    }

    /// Restart after every exit, clean or not.
    pub fn always() -> Restart {
        Restart::with(Policy::Always)
    }

    /// At most `n` restarts inside any window of [`Restart::within`]; one more gives up.
    /// Default: 3.
    pub fn max_restarts(mut self, n: usize) -> Restart {
        self.max_restarts = n;
        self
    }

    /// The window of the restart intensity, and how long a task must run without ending for
    /// its backoff to reset. Default: 5 s.
    pub fn within(mut self, period: Duration) -> Restart {
        self.within = period;
        self
    }

    /// Wait between restarts: `min` after the first, doubling up to `max`, each delay
    /// jittered to between half and all of it. Default: no wait.
    pub fn backoff(mut self, min: Duration, max: Duration) -> Restart {
        self.backoff = Some((min, max.max(min)));
        self
    }

    /// Exact backoff delays, without jitter (for tests and reproducible schedules).
    pub fn without_jitter(mut self) -> Restart {
        self.jitter = false;
        self
    }

    /// The intensity limit set by [`Restart::max_restarts`].
    pub fn max_restarts_allowed(&self) -> usize {
        self.max_restarts
    }

    /// The window set by [`Restart::within`].
    pub fn window(&self) -> Duration {
        self.within
    }

    /// Whether this policy ever restarts anything.
    pub(crate) fn restarts(&self) -> bool {
        self.policy != Policy::Never
    }
}

/// What a supervisor decided about a task that ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Not restarted: the ending stands as it is.
    Finish,
    /// Restart after this delay.
    Restart(Duration),
    /// Restarted too often: the ending stands, noting how many restarts there were.
    GiveUp(usize),
}

/// The restart state of one task.
pub(crate) struct Supervisor {
    restart: Restart,
    /// When the restarts inside the current window happened.
    recent: VecDeque<Instant>,
    /// Restarts since the backoff last reset.
    attempt: u32,
    started_at: Instant,
    restarts: usize,
    seed: u64,
}

impl Supervisor {
    pub(crate) fn new(restart: Restart, seed: u64) -> Supervisor {
        Supervisor {
            restart,
            recent: VecDeque::new(),
            attempt: 0,
            started_at: Instant::now(),
            restarts: 0,
            seed: seed | 1,
        }
    }

    /// A new incarnation of the task starts now.
    pub(crate) fn started(&mut self, now: Instant) {
        self.started_at = now;
    }

    /// Decides about a task that ended: `failed` for an error or a panic.
    pub(crate) fn decide(&mut self, failed: bool, daemon: bool, now: Instant) -> Decision {
        let wanted = match self.restart.policy {
            Policy::Never => false,
            Policy::OnFailure => failed || daemon,
            Policy::Always => true,
        };
        if !wanted {
            return Decision::Finish;
        }
        while let Some(&at) = self.recent.front() {
            if now.duration_since(at) >= self.restart.within {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        if self.recent.len() >= self.restart.max_restarts {
            return Decision::GiveUp(self.restarts);
        }
        self.recent.push_back(now);
        self.restarts += 1;
        if now.duration_since(self.started_at) >= self.restart.within {
            self.attempt = 0;
        }
        let delay = match self.restart.backoff {
            None => Duration::ZERO,
            Some((min, max)) => {
                let exponential = min
                    .saturating_mul(1u32.checked_shl(self.attempt).unwrap_or(u32::MAX))
                    .min(max);
                if self.restart.jitter {
                    self.jitter(exponential)
                } else {
                    exponential
                }
            }
        };
        self.attempt = self.attempt.saturating_add(1);
        Decision::Restart(delay)
    }

    /// Between half and all of `delay`, chosen by a xorshift generator (no need for a
    /// cryptographic source: jitter only spreads restarts apart).
    fn jitter(&mut self, delay: Duration) -> Duration {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let half = delay / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        // `nanos + 1` overflows for a half beyond ~584 years: any `u64` is in range then.
        let extra = nanos
            .checked_add(1)
            .map_or(self.seed, |span| self.seed % span);
        half.saturating_add(Duration::from_nanos(extra))
    }

    /// Restarts so far.
    pub(crate) fn restarts(&self) -> usize {
        self.restarts
    }

    pub(crate) fn policy(&self) -> &Restart {
        &self.restart
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn policies_decide_by_ending() {
        let now = Instant::now();
        let mut never = Supervisor::new(Restart::never(), 1);
        assert_eq!(never.decide(true, false, now), Decision::Finish);
        let mut on_failure = Supervisor::new(Restart::on_failure(), 1);
        assert_eq!(on_failure.decide(false, false, now), Decision::Finish);
        assert_eq!(
            on_failure.decide(false, true, now),
            Decision::Restart(Duration::ZERO)
        );
        assert_eq!(
            on_failure.decide(true, false, now),
            Decision::Restart(Duration::ZERO)
        );
        let mut always = Supervisor::new(Restart::always(), 1);
        assert_eq!(
            always.decide(false, false, now),
            Decision::Restart(Duration::ZERO)
        );
    }

    #[test]
    fn intensity_counts_restarts_inside_a_sliding_window() {
        let base = Instant::now();
        let policy = Restart::on_failure()
            .max_restarts(2)
            .within(Duration::from_secs(1));
        let mut supervisor = Supervisor::new(policy, 1);
        assert!(matches!(
            supervisor.decide(true, false, at(base, 0)),
            Decision::Restart(_)
        ));
        assert!(matches!(
            supervisor.decide(true, false, at(base, 500)),
            Decision::Restart(_)
        ));
        assert_eq!(
            supervisor.decide(true, false, at(base, 900)),
            Decision::GiveUp(2)
        );
        // The first restart has left the window.
        assert!(matches!(
            supervisor.decide(true, false, at(base, 1000)),
            Decision::Restart(_)
        ));
        assert_eq!(supervisor.restarts(), 3);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets_after_a_stable_run() {
        let base = Instant::now();
        let policy = Restart::always()
            .max_restarts(100)
            .within(Duration::from_secs(10))
            .backoff(Duration::from_millis(100), Duration::from_millis(350))
            .without_jitter();
        let mut supervisor = Supervisor::new(policy, 1);
        supervisor.started(base);
        let delays: Vec<_> = (0..4)
            .map(|i| match supervisor.decide(true, false, at(base, i)) {
                Decision::Restart(d) => d.as_millis(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(delays, [100, 200, 350, 350]);
        supervisor.started(at(base, 10));
        assert_eq!(
            supervisor.decide(true, false, at(base, 20_010)),
            Decision::Restart(Duration::from_millis(100))
        );
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_delay() {
        let now = Instant::now();
        let policy = Restart::always()
            .max_restarts(1000)
            .within(Duration::from_secs(3600))
            .backoff(Duration::from_millis(400), Duration::from_millis(400));
        let mut supervisor = Supervisor::new(policy, 42);
        for _ in 0..200 {
            match supervisor.decide(true, false, now) {
                Decision::Restart(d) => assert!(
                    d >= Duration::from_millis(200) && d <= Duration::from_millis(400),
                    "{d:?}"
                ),
                other => panic!("{other:?}"),
            }
        }
    }

    /// Backoffs at the limits of `Duration` (beyond `u64` nanoseconds) neither panic nor
    /// wrap: the delay stays between half and all of the bound.
    #[test]
    fn extreme_backoffs_do_not_overflow() {
        let now = Instant::now();
        for (min, max) in [
            (Duration::MAX, Duration::MAX),
            (Duration::from_secs(3600), Duration::MAX),
        ] {
            let policy = Restart::always()
                .max_restarts(100)
                .within(Duration::MAX)
                .backoff(min, max);
            let mut supervisor = Supervisor::new(policy, 7);
            for _ in 0..40 {
                match supervisor.decide(true, false, now) {
                    Decision::Restart(d) => assert!(d >= min / 2 && d <= max, "{d:?}"),
                    other => panic!("{other:?}"),
                }
            }
        }
    }
}
