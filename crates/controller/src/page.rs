//! `GET /`: the fleet at a glance, server rendered. No script at all and no asset from
//! elsewhere (the stylesheet is `/page.css`, and the Content-Security-Policy allows nothing
//! else); it refreshes itself with a meta refresh; the state filter is a link (`?state=`).
//! Every value from files or AWS goes through maud's escaping.

use maud::{html, Markup, DOCTYPE};
use plan::{ConditionStatus, ConditionType, GroupStatus};

use crate::status::StatusState;

/// The page's Content-Security-Policy: nothing but its own stylesheet.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Seconds between refreshes.
pub const REFRESH_SECONDS: u32 = 5;

/// What state a group is in, for the totals and the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Runs as the files say.
    Ready,
    /// Getting there.
    Progressing,
    /// Running, but not as wanted.
    Degraded,
    /// Needs help.
    Stalled,
}

impl State {
    /// Every state, in the order the page shows them.
    pub const ALL: [State; 4] = [
        State::Ready,
        State::Progressing,
        State::Degraded,
        State::Stalled,
    ];

    /// `ready`, `progressing`, ...: the filter's value and the CSS class.
    pub fn key(self) -> &'static str {
        match self {
            State::Ready => "ready",
            State::Progressing => "progressing",
            State::Degraded => "degraded",
            State::Stalled => "stalled",
        }
    }

    /// `Ready`, `Progressing`, ...
    pub fn label(self) -> &'static str {
        match self {
            State::Ready => "Ready",
            State::Progressing => "Progressing",
            State::Degraded => "Degraded",
            State::Stalled => "Stalled",
        }
    }

    /// From a filter value.
    pub fn parse(key: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.key() == key)
    }

    /// A group's state: Stalled, else Degraded, else Ready, else Progressing.
    pub fn of(group: &GroupStatus) -> State {
        let holds = |kind| {
            group
                .condition(kind)
                .is_some_and(|c| c.status == ConditionStatus::True)
        };
        if holds(ConditionType::Stalled) {
            State::Stalled
        } else if holds(ConditionType::Degraded) {
            State::Degraded
        } else if group.is_ready() {
            State::Ready
        } else {
            State::Progressing
        }
    }
}

/// Extra lines under the title: leadership, the events queue.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// e.g. `leader (shards 0, 3, 5)`, `standby`.
    pub replica: Option<String>,
    /// e.g. `events queue: receiving`.
    pub events: Option<String>,
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// The page, with the groups in `filter` only (all without one).
pub fn render(status: &StatusState, filter: Option<State>, context: &Context) -> String {
    // With invalid files, every group is shown Stalled (as `/status` does).
    let groups = status.shown();
    let count = |s: State| groups.iter().filter(|g| State::of(g) == s).count();
    let shown: Vec<&GroupStatus> = groups
        .iter()
        .filter(|g| filter.is_none_or(|f| State::of(g) == f))
        .collect();
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content=(REFRESH_SECONDS);
                title { "ecs-delegate-controller" }
                link rel="stylesheet" href="/page.css";
            }
            body {
                header {
                    h1 { "ecs-delegate-controller" }
                    p.meta {
                        (groups.len()) " groups"
                        @if let Some(git) = &status.git { " · revision " code { (short(git)) } }
                        @if let Some(replica) = &context.replica { " · " (replica) }
                        @if let Some(events) = &context.events { " · " (events) }
                        " · refreshed every " (REFRESH_SECONDS) " s"
                    }
                    @if let Some(window) = groups.iter().find_map(|g| g.window.as_deref()) {
                        p.meta { "Change window: " (window) }
                    }
                }
                @if !status.config_errors.is_empty() {
                    section.errors role="alert" {
                        h2 { "The files are invalid; the last valid state is kept" }
                        ul { @for line in &status.config_errors { li { code { (line) } } } }
                    }
                }
                nav.totals aria-label="Filter by state" {
                    a.all href="/" aria-current=[filter.is_none().then_some("page")] {
                        "All " b { (groups.len()) }
                    }
                    @for s in State::ALL {
                        a class=(s.key()) href={ "/?state=" (s.key()) }
                            aria-current=[(filter == Some(s)).then_some("page")] {
                            (s.label()) " " b { (count(s)) }
                        }
                    }
                }
                @if shown.is_empty() {
                    p.empty { "No group" @if let Some(f) = filter { " is " (f.label()) } "." }
                } @else {
                    table.groups {
                        thead { tr {
                            th { "Group" } th { "State" } th { "Account" } th { "Region" }
                            th { "Cluster" } th { "Desired / running / pending" }
                            th { "Task definition" } th { "Applied revision" }
                            th { "Conditions" } th { "Last reconcile" }
                        } }
                        @for g in &shown {
                            (row(status, g))
                        }
                    }
                }
                footer {
                    "JSON: " a href="/status" { "/status" } " · " a href="/metrics" { "/metrics" }
                }
            }
        }
    };
    markup.into_string()
}

fn row(status: &StatusState, g: &GroupStatus) -> Markup {
    let state = State::of(g);
    let events = status.events.get(&g.name);
    html! {
        tbody class={ "group " (state.key()) } id={ "group-" (g.name) } {
            tr {
                td data-label="Group" {
                    strong { (g.name) }
                    @if let Some(labels) = status.labels.get(&g.name).filter(|l| !l.is_empty()) {
                        ul.labels { @for (k, v) in labels { li { code { (k) "=" (v) } } } }
                    }
                }
                td data-label="State" { span class={ "badge " (state.key()) } { (state.label()) } }
                td data-label="Account" { (g.account.as_deref().unwrap_or("self")) }
                td data-label="Region" { (g.region) }
                td data-label="Cluster" { (g.cluster) }
                td data-label="Desired / running / pending" {
                    (g.desired) " / " (g.running) " / " (g.pending)
                    @if let Some(scaling) = &g.autoscaling {
                        " " span.version title=(scaling.metric) { "autoscaling " (scaling.min) "–" (scaling.max) " at " (scaling.target) "%" }
                    }
                }
                td data-label="Task definition" {
                    (g.task_definition.as_deref().unwrap_or("-"))
                    @if let Some(version) = &g.version {
                        " " span.version title=(version.source) { (version.image.as_deref().unwrap_or("version not resolved")) }
                    }
                }
                td data-label="Applied revision" {
                    @match status.applied.get(&g.name) {
                        Some(rev) => code title=(rev) { (short(rev)) },
                        None => "-",
                    }
                }
                td data-label="Conditions" {
                    ul.conditions {
                        @for c in &g.conditions {
                            li class={ "c-" (format!("{:?}", c.status).to_lowercase()) } title=(c.message) {
                                (format!("{:?}", c.kind)) "=" (format!("{:?}", c.status)) " " em { (c.reason.to_string()) }
                                @if c.status == ConditionStatus::True && matches!(c.kind, ConditionType::Degraded | ConditionType::Stalled | ConditionType::ExpiringSoon | ConditionType::Expired) || c.kind == ConditionType::Ready && c.status != ConditionStatus::True {
                                    span.message { ": " (c.message) }
                                }
                            }
                        }
                    }
                }
                td data-label="Last reconcile" { (status.last_reconciled.get(&g.name).map_or("-", String::as_str)) }
            }
            @if let Some(events) = events.filter(|e| !e.is_empty()) {
                tr.events {
                    td colspan="10" {
                        details {
                            summary { "Events (" (events.len()) ")" }
                            ul {
                                @for e in events {
                                    li class=(format!("{:?}", e.r#type).to_lowercase()) {
                                        span.type { (format!("{:?}", e.r#type)) } " "
                                        strong { (e.reason) }
                                        @if e.count > 1 { " ×" (e.count) }
                                        ": " (e.message)
                                        " " time { (e.last_seen) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The stylesheet: readable on a phone (each group becomes a card under 720 px).
pub const CSS: &str = r#"
:root { color-scheme: light dark; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --stall: #8250df; --muted: #6e7781; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; padding: 1rem; max-width: 1400px; }
h1 { font-size: 1.3rem; margin: 0 0 .25rem; }
.meta, footer, time, .empty { color: var(--muted); }
code { font-family: ui-monospace, monospace; font-size: .95em; }
.errors { border: 2px solid var(--bad); border-radius: 6px; padding: .5rem 1rem; margin: 1rem 0; }
.errors h2 { font-size: 1rem; color: var(--bad); margin: .25rem 0; }
.totals { display: flex; flex-wrap: wrap; gap: .5rem; margin: 1rem 0; }
.totals a { text-decoration: none; color: inherit; border: 1px solid var(--muted); border-radius: 999px; padding: .25rem .75rem; }
.totals a[aria-current="page"] { outline: 2px solid currentColor; font-weight: 600; }
.totals a.ready b, .badge.ready { color: var(--ok); }
.totals a.progressing b, .badge.progressing { color: var(--warn); }
.totals a.degraded b, .badge.degraded { color: var(--bad); }
.totals a.stalled b, .badge.stalled { color: var(--stall); }
.badge { font-weight: 600; }
table.groups { width: 100%; border-collapse: collapse; }
th, td { text-align: left; vertical-align: top; padding: .4rem .5rem; border-bottom: 1px solid rgba(110,119,129,.3); }
th { font-size: .85rem; color: var(--muted); font-weight: 600; }
tbody.group.degraded tr:first-child td:first-child { border-left: 4px solid var(--bad); }
tbody.group.stalled tr:first-child td:first-child { border-left: 4px solid var(--stall); }
tbody.group.progressing tr:first-child td:first-child { border-left: 4px solid var(--warn); }
tbody.group.ready tr:first-child td:first-child { border-left: 4px solid var(--ok); }
ul.labels { list-style: none; margin: .2rem 0 0; padding: 0; font-size: .85em; color: var(--muted); }
ul.conditions, tr.events ul { list-style: none; margin: 0; padding: 0; }
span.version { display: block; font-size: smaller; }
li.c-true em { color: inherit; }
li.warning .type { color: var(--bad); font-weight: 600; }
li.normal .type { color: var(--ok); }
.message { color: var(--muted); overflow-wrap: anywhere; }
tr.events td { border-bottom: 2px solid rgba(110,119,129,.3); }
details summary { cursor: pointer; color: var(--muted); }
@media (max-width: 720px) {
  table.groups, table.groups thead, table.groups tbody, table.groups tr, table.groups th, table.groups td { display: block; }
  table.groups thead { display: none; }
  tbody.group { border: 1px solid rgba(110,119,129,.4); border-radius: 8px; margin-bottom: .75rem; padding: .25rem; }
  table.groups td { border: 0; padding: .2rem .5rem; }
  table.groups td[data-label]::before { content: attr(data-label) ": "; color: var(--muted); font-size: .85rem; }
  tbody.group tr:first-child td:first-child { border-left: 0 !important; }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use plan::{Condition, Reason};

    fn group(name: &str, degraded: Option<&str>) -> GroupStatus {
        let mut conditions = vec![Condition::new(
            ConditionType::Ready,
            degraded.is_none(),
            Reason::Converged,
            "2 of 2 tasks running",
        )];
        if let Some(message) = degraded {
            conditions.push(Condition::new(
                ConditionType::Degraded,
                true,
                Reason::InsufficientCapacity,
                message,
            ));
        }
        GroupStatus {
            name: name.into(),
            cluster: "c1".into(),
            account: None,
            region: "us-east-1".into(),
            mode: "service".into(),
            desired: 2,
            running: 2,
            pending: 0,
            task_definition: Some(format!("{name}:1")),
            capacity: None,
            in_sync: true,
            harness: plan::harness::Connection::default(),
            conditions,
            version: None,
            window: None,
            autoscaling: None,
        }
    }

    fn fleet() -> StatusState {
        let mut status = StatusState::default();
        status.groups.insert("a".into(), group("a", None));
        status.groups.insert(
            "b".into(),
            group("b", Some("<script>alert('ecs')</script> cannot place")),
        );
        status.labels.insert(
            "a".into(),
            [("team".to_owned(), "<script>alert(1)</script>".to_owned())].into(),
        );
        crate::history::record(
            status.events.entry("b".into()).or_default(),
            crate::history::EventType::Warning,
            "InsufficientCapacity",
            "ECS says: <script>alert(2)</script>",
            std::time::SystemTime::UNIX_EPOCH,
        );
        status.git = Some("0123456789abcdef0123456789abcdef01234567".into());
        status
    }

    #[test]
    fn every_value_from_files_or_aws_is_escaped() {
        let html = render(&fleet(), None, &Context::default());
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(
            html.contains("&lt;script&gt;alert('ecs')&lt;/script&gt;")
                || html.contains("&lt;script&gt;alert(&#39;ecs&#39;)")
        );
        assert!(html.contains("ECS says: &lt;script&gt;alert(2)&lt;/script&gt;"));
        assert!(!html.contains("<script"), "no script of any kind");
    }

    #[test]
    fn totals_and_the_state_filter() {
        let status = fleet();
        let all = render(&status, None, &Context::default());
        assert!(all.contains("id=\"group-a\"") && all.contains("id=\"group-b\""));
        assert!(all.contains("Ready <b>1</b>") && all.contains("Degraded <b>1</b>"));
        assert!(all.contains("0123456789ab"));
        let degraded = render(&status, Some(State::Degraded), &Context::default());
        assert!(!degraded.contains("id=\"group-a\"") && degraded.contains("id=\"group-b\""));
        assert_eq!(State::parse("stalled"), Some(State::Stalled));
        assert_eq!(State::parse("<x>"), None);
    }
}
