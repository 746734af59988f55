//! Protections an item puts between itself and the systems behind it: a circuit breaker
//! (stop trying for a while after repeated failures) and a rate limit (token bucket).

use crate::lock::LockExt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Circuit breaker state.
#[derive(Debug, Default)]
struct BreakerState {
    /// Failures since the last success.
    consecutive_failures: u32,
    /// While set and in the future, no calls are made.
    open_until: Option<Instant>,
    /// A half-open probe call is under way; other callers wait.
    probing: bool,
}

/// Opens after `threshold` consecutive failures; after `cooldown` lets one probe call
/// through (half-open): success closes it, failure opens it again.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<BreakerState>,
}

/// What a caller may do now.
#[derive(Debug, PartialEq, Eq)]
pub enum Permit {
    /// Call.
    Go,
    /// Call as the half-open probe.
    Probe,
    /// Wait this long, then ask again.
    Wait(Duration),
}

impl Breaker {
    /// A breaker; `threshold` 0 disables it.
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker { threshold, cooldown, state: Mutex::new(BreakerState::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        self.state.lock_unpoisoned()
    }

    /// Whether a call may be made now.
    pub fn permit(&self) -> Permit {
        if self.threshold == 0 {
            return Permit::Go;
        }
        let mut s = self.lock();
        match s.open_until {
            None => Permit::Go,
            Some(t) if Instant::now() < t => Permit::Wait(t - Instant::now()),
            Some(_) if s.probing => Permit::Wait(Duration::from_millis(100)),
            Some(_) => {
                s.probing = true;
                Permit::Probe
            }
        }
    }

    /// Records a call's result; returns `Some(true)` when the breaker just opened and
    /// `Some(false)` when it just closed.
    pub fn record(&self, success: bool) -> Option<bool> {
        if self.threshold == 0 {
            return None;
        }
        let mut s = self.lock();
        let was_open = s.open_until.is_some();
        s.probing = false;
        if success {
            s.consecutive_failures = 0;
            s.open_until = None;
            return was_open.then_some(false);
        }
        s.consecutive_failures += 1;
        if was_open || s.consecutive_failures >= self.threshold {
            s.open_until = Some(Instant::now() + self.cooldown);
            return (!was_open).then_some(true);
        }
        None
    }

    /// Whether the breaker is open (or half-open).
    pub fn is_open(&self) -> bool {
        self.lock().open_until.is_some()
    }
}

/// A token bucket: at most `rate` calls per second, with a burst of at most one
/// second's worth (so the rate holds over any window of a few seconds).
#[derive(Debug)]
pub struct RateLimit {
    interval: Duration,
    burst: u32,
    next: Mutex<Instant>,
}

impl RateLimit {
    /// A limiter for `rate` calls per second.
    pub fn new(rate: f64) -> RateLimit {
        let rate = rate.max(0.001);
        RateLimit {
            interval: Duration::from_secs_f64(1.0 / rate),
            burst: (rate.round() as u32).clamp(1, 1000) / 10 + 1,
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits until a call is allowed.
    pub async fn acquire(&self) {
        let wait = {
            let mut next = self.next.lock_unpoisoned();
            let now = Instant::now();
            // Idle time earns at most `burst` tokens.
            let earliest = now.checked_sub(self.interval * self.burst).unwrap_or(now);
            if *next < earliest {
                *next = earliest;
            }
            let at = *next;
            *next += self.interval;
            at.saturating_duration_since(now)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_threshold_and_closes_after_a_good_probe() {
        let b = Breaker::new(3, Duration::from_millis(50));
        assert_eq!(b.permit(), Permit::Go);
        assert_eq!(b.record(false), None);
        assert_eq!(b.record(false), None);
        assert_eq!(b.record(false), Some(true));
        assert!(matches!(b.permit(), Permit::Wait(_)));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(b.permit(), Permit::Probe);
        assert!(matches!(b.permit(), Permit::Wait(_)), "one probe at a time");
        assert_eq!(b.record(true), Some(false));
        assert_eq!(b.permit(), Permit::Go);
    }

    #[test]
    fn a_failed_probe_opens_the_breaker_again() {
        let b = Breaker::new(1, Duration::from_millis(20));
        assert_eq!(b.record(false), Some(true));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(b.permit(), Permit::Probe);
        assert_eq!(b.record(false), None);
        assert!(matches!(b.permit(), Permit::Wait(_)));
    }
}
