//! Several replicas, one writer: three loops of the real binary against one local endpoint
//! (moto serves DynamoDB with conditional writes), each through its own recording proxy so
//! every ECS write is attributed to a replica. Short lease durations; only generous bounds.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::proxy::{Call, Faults, Proxy};
use support::{assert_has, eventually, group_yaml, Loop, Moto};

const TABLE: &str = "edc-leases";

/// A replica and its proxy.
struct Replica {
    looping: Loop,
    proxy: Proxy,
}

impl Replica {
    fn leadership(&self) -> Option<Value> {
        let (code, body) = self.looping.get("/status");
        let status: Value = serde_json::from_str(&body).ok()?;
        (code == 200).then(|| status["leader"].clone())
    }

    fn leading(&self) -> bool {
        self.leadership()
            .is_some_and(|l| l["leading"] == Value::Bool(true))
    }

    fn ecs_writes(&self) -> Vec<Call> {
        self.proxy
            .stats()
            .calls
            .into_iter()
            .filter(Call::is_ecs_write)
            .collect()
    }
}

/// Three replicas with the lease durations given as `--lease-*` flags.
fn replicas(moto: &Moto, lease: &[&str]) -> Vec<Replica> {
    (0..3)
        .map(|_| {
            let proxy = Proxy::start(moto.port(), Faults::default());
            let mut args = vec!["groups", "--interval", "300s", "--lease-table", TABLE];
            args.extend(lease);
            let looping = Loop::start_via(moto, &proxy, &args);
            Replica { looping, proxy }
        })
        .collect()
}

/// 4 s >= 2 s + 1.5 s + 0.2 s (the renew deadline, the write timeout and the drift margin).
const FAST: &[&str] = &[
    "--lease-duration",
    "4s",
    "--lease-renew-deadline",
    "2s",
    "--lease-retry",
    "500ms",
    "--lease-write-timeout",
    "1.5s",
];

/// The default write timeout (4 s), a short renew deadline: 8 s >= 3 s + 4 s + 0.4 s.
const SLOW_NETWORK: &[&str] = &[
    "--lease-duration",
    "8s",
    "--lease-renew-deadline",
    "3s",
    "--lease-retry",
    "500ms",
];

fn world() -> Moto {
    let moto = Moto::with_clusters(&["c1"]);
    moto.register_container_instances("c1", 3);
    moto.create_lease_table(TABLE);
    moto.write("groups/a.yaml", &group_yaml("a", "c1", ""));
    moto
}

fn the_leader(replicas: &[Replica], limit: Duration) -> usize {
    eventually(limit, || {
        let leading: Vec<usize> = (0..replicas.len())
            .filter(|i| replicas[*i].leading())
            .collect();
        (leading.len() == 1).then(|| leading[0])
    })
    .unwrap_or_else(|| {
        panic!(
            "no single leader: {:?}",
            replicas
                .iter()
                .map(|r| r.looping.logs())
                .collect::<Vec<_>>()
        )
    })
}

/// No two replicas' ECS writes overlap in time.
fn no_overlap(replicas: &[Replica]) {
    let writes: Vec<(usize, Call)> = replicas
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.ecs_writes().into_iter().map(move |c| (i, c)))
        .collect();
    for (i, a) in &writes {
        for (j, b) in &writes {
            if i < j {
                assert!(
                    a.ended <= b.started || b.ended <= a.started,
                    "replica {i}'s {} overlaps replica {j}'s {}",
                    a.operation,
                    b.operation
                );
            }
        }
    }
}

#[test]
fn exactly_one_replica_writes_and_the_others_serve_status() {
    let moto = world();
    let replicas = replicas(&moto, FAST);
    let leader = the_leader(&replicas, Duration::from_secs(30));
    assert!(
        moto.reaches_desired("c1", "a", 2, Duration::from_secs(30)),
        "{}",
        replicas[leader].looping.logs()
    );
    // A file change: the leader writes it, nobody else.
    write_count(&moto, 3);
    assert!(moto.reaches_desired("c1", "a", 3, Duration::from_secs(30)));
    for (i, r) in replicas.iter().enumerate() {
        let writes = r.ecs_writes();
        if i == leader {
            assert!(!writes.is_empty());
        } else {
            assert!(writes.is_empty(), "replica {i} wrote: {writes:?}");
            // Standbys observe and serve.
            assert!(
                r.looping.wait_ready(Duration::from_secs(30)),
                "{}",
                r.looping.logs()
            );
            let l = r.leadership().unwrap();
            assert_eq!(l["leading"], false);
            assert_eq!(l["lease"], "default");
            let (_, metrics) = r.looping.get("/metrics");
            assert_has(
                &metrics,
                "ecs_delegate_controller_lease_held{shard=\"0\"} 0",
            );
        }
    }
    let (_, metrics) = replicas[leader].looping.get("/metrics");
    assert_has(
        &metrics,
        "ecs_delegate_controller_lease_held{shard=\"0\"} 1",
    );
    assert!(replicas[leader]
        .looping
        .logs()
        .contains("acquired the lease"));
}

#[test]
fn a_killed_holder_is_replaced_and_the_new_one_converges_a_change_made_meanwhile() {
    let moto = world();
    let mut replicas = replicas(&moto, FAST);
    let leader = the_leader(&replicas, Duration::from_secs(30));
    assert!(moto.reaches_desired("c1", "a", 2, Duration::from_secs(30)));
    replicas[leader].looping.signal("-KILL");
    let killed = Instant::now();
    moto.write(
        "groups/a.yaml",
        &group_yaml("a", "c1", "").replace("count: 2", "count: 4"),
    );
    let survivors: Vec<Replica> = {
        let mut all = std::mem::take(&mut replicas);
        all.remove(leader);
        all
    };
    let _new_leader = the_leader(&survivors, Duration::from_secs(20));
    assert!(
        moto.reaches_desired("c1", "a", 4, Duration::from_secs(30)),
        "the new holder converges the change made while the old one was gone"
    );
    // Lease duration (4 s) + retry (0.5 s), with a generous margin for a loaded machine.
    assert!(killed.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_paused_holder_writes_nothing_after_it_resumes() {
    let moto = world();
    let replicas = replicas(&moto, FAST);
    let leader = the_leader(&replicas, Duration::from_secs(30));
    assert!(moto.reaches_desired("c1", "a", 2, Duration::from_secs(30)));
    replicas[leader].looping.signal("-STOP");
    // Another replica takes over once the lease has been seen unchanged for its duration.
    let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    assert!(
        eventually(Duration::from_secs(30), || others
            .iter()
            .find(|i| replicas[**i].leading())
            .copied())
        .is_some(),
        "nobody took over"
    );
    write_count(&moto, 3);
    assert!(moto.reaches_desired("c1", "a", 3, Duration::from_secs(30)));
    let resumed = Instant::now();
    replicas[leader].looping.signal("-CONT");
    // Give the resumed replica time to act on anything it had in hand.
    std::thread::sleep(Duration::from_secs(4));
    let late: Vec<Call> = replicas[leader]
        .ecs_writes()
        .into_iter()
        .filter(|c| c.started >= resumed)
        .collect();
    assert!(
        late.is_empty(),
        "the old holder wrote after resuming: {late:?}"
    );
    assert!(!replicas[leader].leading());
    no_overlap(&replicas);
}

#[test]
fn sigterm_hands_the_lease_over_in_about_one_retry_period() {
    let moto = world();
    // A long lease: a hand-over by expiry would take 20 s; a release takes one retry (500 ms).
    let slow = [
        "--lease-duration",
        "20s",
        "--lease-renew-deadline",
        "10s",
        "--lease-retry",
        "500ms",
    ];
    let mut replicas = replicas(&moto, &slow);
    let leader = the_leader(&replicas, Duration::from_secs(30));
    replicas[leader].looping.signal("-TERM");
    let terminated = Instant::now();
    let status = replicas[leader].looping.wait_exit(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()));
    assert!(replicas[leader]
        .looping
        .logs()
        .contains("released the lease"));
    let survivors: Vec<Replica> = {
        let mut all = std::mem::take(&mut replicas);
        all.remove(leader);
        all
    };
    the_leader(&survivors, Duration::from_secs(15));
    let took = terminated.elapsed();
    assert!(
        took < Duration::from_secs(15),
        "took {took:?}: by expiry, not by release"
    );
}

/// The loop started with `flags` on one group: it must fail; the endpoint and its stderr.
fn refused_at_startup(flags: &[&str]) -> (Moto, String) {
    let moto = Moto::start();
    moto.write("groups/a.yaml", &group_yaml("a", "c1", ""));
    let mut args = vec!["reconcile", "groups", "--listen", "127.0.0.1:0"];
    args.extend(flags);
    let out = moto.run(&args);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (moto, err)
}

#[test]
fn a_missing_table_is_a_startup_error_naming_the_table_and_the_action() {
    let (moto, err) = refused_at_startup(&["--lease-table", "no-such-table"]);
    assert_has(&err, "no-such-table");
    assert_has(&err, "dynamodb:GetItem");
    let writes = moto.writes();
    assert!(
        writes.iter().all(|w| w == "GetItem"),
        "no ECS write before the lease works: {writes:?}"
    );
}

#[test]
fn lease_durations_that_let_a_write_outlive_the_lease_are_a_startup_error() {
    // 12 s < 10 s + 4 s + 0.6 s: a write permitted just before the holder stops writing could
    // reach ECS after another replica took the lease.
    let (moto, err) = refused_at_startup(&["--lease-table", TABLE, "--lease-duration", "12s"]);
    for flag in [
        "--lease-duration",
        "--lease-renew-deadline",
        "--lease-write-timeout",
        "drift margin",
    ] {
        assert_has(&err, flag);
    }
    assert!(
        moto.calls().is_empty(),
        "nothing is called before the durations are checked: {:?}",
        moto.calls()
    );
}

/// The group an ECS write is for: services, families and tags are named after the group.
fn group_of(call: &Call) -> String {
    let body: Value = serde_json::from_str(&call.body).unwrap_or_default();
    let name = [
        "serviceName",
        "service",
        "family",
        "resourceArn",
        "startedBy",
    ]
    .iter()
    .find_map(|k| body[*k].as_str())
    .unwrap_or_else(|| panic!("which group is {} for: {}", call.operation, call.body));
    name.rsplit('/').next().unwrap_or(name).to_owned()
}

/// Per group, the replicas that wrote it (writes started at or after `since`).
fn writers(
    replicas: &[&Replica],
    since: Instant,
) -> std::collections::BTreeMap<String, std::collections::BTreeSet<usize>> {
    let mut writers = std::collections::BTreeMap::<_, std::collections::BTreeSet<usize>>::new();
    for (i, r) in replicas.iter().enumerate() {
        for call in r.ecs_writes().iter().filter(|c| c.started >= since) {
            writers.entry(group_of(call)).or_default().insert(i);
        }
    }
    writers
}

fn held(r: &Replica) -> Vec<u64> {
    r.leadership()
        .and_then(|l| {
            l["held"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
        })
        .unwrap_or_default()
}

fn shares(replicas: &[&Replica]) -> Vec<usize> {
    let mut sizes: Vec<usize> = replicas.iter().map(|r| held(r).len()).collect();
    sizes.sort_unstable();
    sizes
}

#[test]
fn eight_shards_over_three_replicas_each_group_written_by_one_and_moved_when_one_dies() {
    const GROUPS: usize = 16;
    let moto = Moto::with_clusters(&["c1"]);
    moto.register_container_instances("c1", 12);
    moto.create_lease_table(TABLE);
    moto.write("groups/README", "no groups yet");
    let mut args = FAST.to_vec();
    args.extend(["--shards", "8"]);
    let mut replicas = replicas(&moto, &args);
    // The shards settle: a fair share each (ceil(8 / 3) = 3), all eight held.
    let all: Vec<&Replica> = replicas.iter().collect();
    assert!(
        eventually(Duration::from_secs(40), || (shares(&all) == [2, 3, 3])
            .then_some(()))
        .is_some(),
        "shares {:?}",
        shares(&all)
    );
    let start = Instant::now();
    for i in 0..GROUPS {
        moto.write(
            &format!("groups/g{i}.yaml"),
            &group_yaml(&format!("g{i}"), "c1", ""),
        );
    }
    let converged =
        |count: i64| (0..GROUPS).all(|i| moto.desired("c1", &format!("g{i}")) == Some(count));
    assert!(
        eventually(Duration::from_secs(60), || converged(2).then_some(())).is_some(),
        "{}",
        replicas[0].looping.logs()
    );
    let first = writers(&all, start);
    assert_eq!(first.len(), GROUPS, "{first:?}");
    for (group, by) in &first {
        assert_eq!(by.len(), 1, "{group} written by replicas {by:?}");
    }
    // Each replica's /status shows its own shards' groups.
    let (_, body) = replicas[0].looping.get("/status");
    let status: Value = serde_json::from_str(&body).unwrap();
    let shown = status["groups"].as_array().unwrap().len();
    let mine = first.values().filter(|by| by.contains(&0)).count();
    assert_eq!(shown, mine, "{body}");

    // Kill the replica with the most groups; change every group meanwhile.
    let victim = (0..3)
        .max_by_key(|i| first.values().filter(|by| by.contains(i)).count())
        .unwrap();
    let moved: Vec<String> = first
        .iter()
        .filter(|(_, by)| by.contains(&victim))
        .map(|(g, _)| g.clone())
        .collect();
    replicas[victim].looping.signal("-KILL");
    let killed = Instant::now();
    for i in 0..GROUPS {
        moto.write(
            &format!("groups/g{i}.yaml"),
            &group_yaml(&format!("g{i}"), "c1", "").replace("count: 2", "count: 3"),
        );
    }
    let survivors: Vec<Replica> = {
        let mut all = std::mem::take(&mut replicas);
        all.remove(victim);
        all
    };
    let both: Vec<&Replica> = survivors.iter().collect();
    assert!(
        eventually(Duration::from_secs(60), || converged(3).then_some(())).is_some(),
        "every group converges without the killed replica: {}",
        survivors[0].looping.logs()
    );
    assert_eq!(shares(&both), [4, 4], "its shards moved");
    let second = writers(&both, killed);
    for group in &moved {
        assert!(second.contains_key(group), "{group} was not taken over");
    }
    for (group, by) in &second {
        assert_eq!(by.len(), 1, "{group} written by replicas {by:?}");
    }
}

/// Rewrites groups/a.yaml with `count` delegates.
fn write_count(moto: &Moto, count: u32) {
    let yaml = group_yaml("a", "c1", "").replace("count: 2", &format!("count: {count}"));
    moto.write("groups/a.yaml", &yaml);
}

/// Waits until `replica`'s proxy holds a write, then until another replica writes to ECS; that
/// replica and when its first write was sent.
fn takeover(replicas: &[Replica], holder: usize) -> (usize, Instant) {
    assert!(
        eventually(Duration::from_secs(30), || replicas[holder]
            .proxy
            .holding()
            .then_some(()))
        .is_some(),
        "the holder never wrote the change"
    );
    eventually(Duration::from_secs(60), || {
        (0..replicas.len())
            .filter(|i| *i != holder)
            .find_map(|i| replicas[i].ecs_writes().first().map(|c| (i, c.started)))
    })
    .unwrap_or_else(|| panic!("nobody took over: {}", replicas[holder].looping.logs()))
}

/// The holder's ECS writes that reached the endpoint at or after `since`.
fn late_writes(replica: &Replica, since: Instant) -> Vec<String> {
    replica
        .ecs_writes()
        .into_iter()
        .filter(|c| c.started >= since)
        .map(|c| c.operation)
        .collect()
}

#[test]
fn a_write_the_network_holds_is_cut_at_its_deadline_and_never_lands_after_the_new_holder_writes() {
    let moto = world();
    let replicas = replicas(&moto, SLOW_NETWORK);
    let leader = the_leader(&replicas, Duration::from_secs(30));
    assert!(moto.reaches_desired("c1", "a", 2, Duration::from_secs(30)));
    // From its next ECS write on, the holder is cut off: that write and its lease renews are
    // held by the network, and delivered if their caller still waits when it heals.
    replicas[leader].proxy.hold_from_next_write(true);
    write_count(&moto, 3);
    let (next, first) = takeover(&replicas, leader);
    assert!(replicas[next].leading());
    // The network heals after the new holder's first write.
    std::thread::sleep(Duration::from_secs(1));
    replicas[leader].proxy.heal();
    assert!(moto.reaches_desired("c1", "a", 3, Duration::from_secs(30)));
    std::thread::sleep(Duration::from_secs(3));
    let late = late_writes(&replicas[leader], first);
    assert!(
        late.is_empty(),
        "the old holder's {late:?} reached ECS after the new holder's first write: {}",
        replicas[leader].looping.logs()
    );
    // Its held write was cut at the lease's deadline (the caller went), not delivered.
    assert!(replicas[leader]
        .proxy
        .stats()
        .abandoned
        .iter()
        .any(|op| op == "UpdateService"));
    assert!(replicas[leader]
        .looping
        .logs()
        .contains("abandoned at its lease deadline"));
    no_overlap(&replicas);
}

#[test]
fn sigterm_with_a_write_in_flight_releases_the_lease_only_once_no_write_can_land() {
    let moto = world();
    let mut replicas = replicas(&moto, SLOW_NETWORK);
    let leader = the_leader(&replicas, Duration::from_secs(30));
    assert!(moto.reaches_desired("c1", "a", 2, Duration::from_secs(30)));
    // The holder's ECS writes are held (its lease calls are not: it stays the holder).
    replicas[leader].proxy.hold_from_next_write(false);
    write_count(&moto, 3);
    assert!(eventually(Duration::from_secs(30), || replicas[leader]
        .proxy
        .holding()
        .then_some(()))
    .is_some());
    std::thread::sleep(Duration::from_secs(5));
    replicas[leader].looping.signal("-TERM");
    let status = replicas[leader].looping.wait_exit(Duration::from_secs(60));
    assert!(status.is_some_and(|s| s.success()));
    let stats = replicas[leader].proxy.stats();
    assert_eq!(
        stats.released_over_writes,
        0,
        "the lease was released while a write of the holder was in flight: {}",
        replicas[leader].looping.logs()
    );
    assert!(replicas[leader]
        .looping
        .logs()
        .contains("released the lease"));
    let (_, first) = takeover(&replicas, leader);
    replicas[leader].proxy.heal();
    assert!(moto.reaches_desired("c1", "a", 3, Duration::from_secs(30)));
    std::thread::sleep(Duration::from_secs(2));
    let late = late_writes(&replicas[leader], first);
    assert!(late.is_empty(), "the old holder's {late:?} landed late");
    no_overlap(&replicas);
    drop(std::mem::take(&mut replicas));
}
