//! Change windows: when the controller may write. Operator-set (`--window`, or the policy
//! file's `windows`), as Argo CD's sync windows: each is `allow` or `deny`, starts at the times
//! of a five-field cron schedule in a time zone, and lasts a duration.
//!
//! - Inside any `deny` window, or (when there are `allow` windows) outside all of them, writes
//!   are held: the pass observes, plans and reports "held by window", and writes nothing.
//! - Drift (ECS changed, the files did not since the group's last clean pass) is held by the
//!   same rule unless the operator lets drift always be put back.
//! - A held group stays Progressing, so it is looked at again within the requeue delay: when
//!   the window opens, the held change is applied by the next pass, whatever started it (Argo
//!   CD's #21692: a change held in a deny window was never applied afterwards, because its sync
//!   only ran on a new commit).
//!
//! Schedules are parsed by the `croner` crate (five fields: minute, hour, day of month, month,
//! day of week) and evaluated in the window's IANA time zone (`chrono-tz`), so a window at
//! 22:00 Europe/Berlin follows daylight saving time.

use std::str::FromStr as _;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use croner::Cron;

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// Writes only inside (when any allow window is set).
    Allow,
    /// No writes inside.
    Deny,
}

/// One window.
#[derive(Debug, Clone)]
pub struct Window {
    kind: WindowKind,
    pattern: String,
    schedule: Cron,
    duration: Duration,
    zone: chrono_tz::Tz,
}

/// The longest window: a year (a longer one is a mistake, or a deny that never ends).
const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

impl Window {
    /// `KIND MIN HOUR DOM MONTH DOW DURATION [TIME_ZONE]`, e.g. `deny 0 22 * * 5 48h
    /// Europe/Berlin` (UTC when no zone is given).
    ///
    /// # Errors
    /// What is wrong, naming the part.
    pub fn parse(text: &str) -> Result<Window, String> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        if !(7..=8).contains(&parts.len()) {
            return Err(format!(
                "{text:?}: a window is `allow|deny MIN HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK \
                 DURATION [TIME_ZONE]`, e.g. `deny 0 22 * * 5 48h Europe/Berlin`"
            ));
        }
        let kind = match parts[0] {
            "allow" => WindowKind::Allow,
            "deny" => WindowKind::Deny,
            other => return Err(format!("{text:?}: {other:?} is neither allow nor deny")),
        };
        let pattern = parts[1..6].join(" ");
        let duration = humantime::parse_duration(parts[6])
            .map_err(|e| format!("{text:?}: duration {:?}: {e}", parts[6]))?;
        let zone = match parts.get(7) {
            Some(zone) => zone
                .parse::<chrono_tz::Tz>()
                .map_err(|_| format!("{text:?}: {zone:?} is not an IANA time zone"))?,
            None => chrono_tz::UTC,
        };
        Window::new(kind, &pattern, duration, zone).map_err(|e| format!("{text:?}: {e}"))
    }

    /// A window from its parts (the policy file's form).
    ///
    /// # Errors
    /// A schedule that is not five cron fields, or never fires; a duration of zero or over a
    /// year.
    pub fn new(
        kind: WindowKind,
        pattern: &str,
        duration: Duration,
        zone: chrono_tz::Tz,
    ) -> Result<Window, String> {
        if pattern.split_whitespace().count() != 5 {
            return Err(format!(
                "schedule {pattern:?}: five cron fields (minute hour day-of-month month \
                 day-of-week)"
            ));
        }
        let schedule = Cron::from_str(pattern).map_err(|e| format!("schedule {pattern:?}: {e}"))?;
        if duration.is_zero() || duration > MAX_DURATION {
            return Err(format!(
                "duration {}: more than zero and at most a year",
                humantime::format_duration(duration)
            ));
        }
        let window = Window {
            kind,
            pattern: pattern.to_owned(),
            schedule,
            duration,
            zone,
        };
        if window.next_start(Utc::now()).is_none() {
            return Err(format!("schedule {pattern:?} never fires"));
        }
        Ok(window)
    }

    /// Allow or deny.
    pub fn kind(&self) -> WindowKind {
        self.kind
    }

    /// The start of the occurrence `now` is inside, if any.
    fn active_since(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&self.zone);
        let start = self
            .schedule
            .find_previous_occurrence(&local, true)
            .ok()?
            .with_timezone(&Utc);
        (now < start + self.duration).then_some(start)
    }

    /// The end of the occurrence `now` is inside, if any.
    fn active_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.active_since(now).map(|start| start + self.duration)
    }

    /// The next start after `now`.
    fn next_start(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&self.zone);
        self.schedule
            .find_next_occurrence(&local, false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            WindowKind::Allow => "allow",
            WindowKind::Deny => "deny",
        };
        write!(
            f,
            "{kind} {} {} {}",
            self.pattern,
            humantime::format_duration(self.duration),
            self.zone.name()
        )
    }
}

/// What the windows say at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Writes may happen; `closes`: when the next deny window starts or the allow window ends.
    Open {
        /// When writing is next held.
        closes: Option<SystemTime>,
    },
    /// Writes are held.
    Held {
        /// Why, for people.
        reason: String,
        /// When writing is next allowed.
        opens: Option<SystemTime>,
    },
}

impl Verdict {
    /// Whether writes are held.
    pub fn is_held(&self) -> bool {
        matches!(self, Verdict::Held { .. })
    }

    /// For status: `held by window ...; opens at T` or `open; next held at T`.
    pub fn describe(&self) -> String {
        let at = |t: &Option<SystemTime>| {
            t.map_or("unknown".into(), |t| {
                humantime::format_rfc3339_seconds(t).to_string()
            })
        };
        match self {
            Verdict::Open { closes: None } => "open".into(),
            Verdict::Open { closes } => format!("open; writes are next held at {}", at(closes)),
            Verdict::Held { reason, opens } => {
                format!("held by window ({reason}); writes resume at {}", at(opens))
            }
        }
    }
}

/// The operator's windows and the drift rule.
#[derive(Debug, Clone, Default)]
pub struct Windows {
    windows: Vec<Window>,
    /// Drift is put back even while writes are held.
    pub drift_always: bool,
}

/// How far ahead the next opening or closing is looked for.
const LOOKAHEAD: usize = 32;

impl Windows {
    /// `windows`, and whether drift may always be put back.
    pub fn new(windows: Vec<Window>, drift_always: bool) -> Windows {
        Windows {
            windows,
            drift_always,
        }
    }

    /// No windows: always open.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// The windows, for logs.
    pub fn list(&self) -> &[Window] {
        &self.windows
    }

    /// Why writes are held at `now`, and until when it holds for that reason; `None`: open.
    fn held_at(&self, now: DateTime<Utc>) -> Option<(String, Option<DateTime<Utc>>)> {
        let denies: Vec<(&Window, DateTime<Utc>)> = self
            .windows
            .iter()
            .filter(|w| w.kind == WindowKind::Deny)
            .filter_map(|w| w.active_until(now).map(|end| (w, end)))
            .collect();
        if let Some((window, end)) = denies.iter().max_by_key(|(_, end)| *end) {
            return Some((window.to_string(), Some(*end)));
        }
        let allows: Vec<&Window> = self
            .windows
            .iter()
            .filter(|w| w.kind == WindowKind::Allow)
            .collect();
        if allows.is_empty() || allows.iter().any(|w| w.active_since(now).is_some()) {
            return None;
        }
        let next = allows.iter().filter_map(|w| w.next_start(now)).min();
        Some(("outside every allow window".into(), next))
    }

    /// What the windows say at `now`.
    pub fn at(&self, now: SystemTime) -> Verdict {
        let now: DateTime<Utc> = now.into();
        let Some((reason, until)) = self.held_at(now) else {
            return Verdict::Open {
                closes: self.closes_after(now).map(Into::into),
            };
        };
        // The end of this reason may fall into another: follow it a few steps.
        let mut opens = until;
        for _ in 0..LOOKAHEAD {
            let Some(t) = opens else { break };
            match self.held_at(t) {
                None => break,
                Some((_, next)) => opens = next.filter(|n| *n > t),
            }
        }
        Verdict::Held {
            reason,
            opens: opens.map(Into::into),
        }
    }

    /// When writes are next held after `now`, an open moment.
    fn closes_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let deny = self
            .windows
            .iter()
            .filter(|w| w.kind == WindowKind::Deny)
            .filter_map(|w| w.next_start(now))
            .min();
        let allow_end = self
            .windows
            .iter()
            .filter(|w| w.kind == WindowKind::Allow)
            .filter_map(|w| w.active_until(now))
            .max();
        match (deny, allow_end) {
            (Some(d), Some(a)) => Some(d.min(a)),
            (d, a) => d.or(a),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap()
    }

    fn windows(specs: &[&str]) -> Windows {
        Windows::new(
            specs.iter().map(|s| Window::parse(s).unwrap()).collect(),
            false,
        )
    }

    #[test]
    fn a_deny_window_holds_until_it_ends_in_its_time_zone() {
        // Fridays 22:00 in Berlin for 48 h; 2026-12-04 is a Friday, Berlin is UTC+1 in winter.
        let w = windows(&["deny 0 22 * * 5 48h Europe/Berlin"]);
        assert!(!w.at(at("2026-12-04T20:59:00Z")).is_held());
        let held = w.at(at("2026-12-04T21:00:00Z"));
        assert_eq!(
            held,
            Verdict::Held {
                reason: "deny 0 22 * * 5 2days Europe/Berlin".into(),
                opens: Some(at("2026-12-06T21:00:00Z")),
            }
        );
        assert!(!w.at(at("2026-12-06T21:00:00Z")).is_held());
        assert_eq!(
            w.at(at("2026-12-07T12:00:00Z")),
            Verdict::Open {
                closes: Some(at("2026-12-11T21:00:00Z"))
            }
        );
        // Summer: UTC+2.
        assert!(w.at(at("2026-07-03T20:00:00Z")).is_held());
    }

    #[test]
    fn outside_every_allow_window_is_held_until_the_next_one_and_deny_wins() {
        // Weekdays 09:00-17:00 UTC, but not the Wednesday 12:00 freeze of an hour.
        let w = windows(&["allow 0 9 * * 1-5 8h", "deny 0 12 * * 3 1h UTC"]);
        // Saturday.
        let saturday = w.at(at("2026-12-05T10:00:00Z"));
        assert!(saturday.is_held());
        assert_eq!(
            saturday,
            Verdict::Held {
                reason: "outside every allow window".into(),
                opens: Some(at("2026-12-07T09:00:00Z")),
            }
        );
        assert!(!w.at(at("2026-12-07T10:00:00Z")).is_held());
        let freeze = w.at(at("2026-12-09T12:30:00Z"));
        assert!(freeze.is_held(), "deny inside allow");
        assert!(
            freeze.describe().contains("2026-12-09T13:00:00Z"),
            "{freeze:?}"
        );
        assert!(w
            .at(at("2026-12-09T13:00:00Z"))
            .describe()
            .contains("17:00"));
    }

    #[test]
    fn bad_windows_are_refused_with_the_part() {
        for (bad, part) in [
            ("deny 0 22 * * 5", "a window is"),
            ("hold 0 22 * * 5 1h", "neither allow nor deny"),
            ("deny 0 25 * * 5 1h", "schedule"),
            ("deny 0 22 * * 5 soon", "duration"),
            ("deny 0 22 * * 5 0s", "more than zero"),
            ("deny 0 22 * * 5 1h Mars/Olympus", "IANA"),
            ("deny 0 0 30 2 * 1h", "never fires"),
        ] {
            let e = Window::parse(bad).unwrap_err();
            assert!(e.contains(part), "{bad}: {e}");
        }
    }
}
