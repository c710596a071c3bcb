//! A fault-injecting HTTP proxy between the binary and moto. Faults apply to ECS requests (those
//! with an `X-Amz-Target`); other traffic passes through. One request per connection: every
//! answer says `Connection: close`, which the SDK handles by opening a new connection.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What to inject.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Every Nth ECS request: HTTP 400 ThrottlingException.
    pub throttle_every: Option<u64>,
    /// Every Nth ECS request (not throttled): HTTP 503.
    pub fail_every: Option<u64>,
    /// Operations whose answers are dropped after the request reached moto (the write happened,
    /// the answer is lost).
    pub drop_answers_of: Vec<&'static str>,
    /// Added before forwarding.
    pub latency: Duration,
    /// Enforce ECS's token buckets per action family, sustained rates times this factor.
    pub token_buckets: Option<f64>,
    /// Operations refused with HTTP 400 AccessDeniedException, as IAM refuses an action the
    /// caller's policy does not allow. The message has the documented form (IAM User Guide,
    /// "Access denied error messages": "User: <arn> is not authorized to perform: <action> on
    /// resource: <arn> because no identity-based policy allows the <action> action").
    pub deny: Vec<&'static str>,
}

/// What the proxy did.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// ECS requests seen.
    pub requests: u64,
    /// Answered with a throttle.
    pub throttled: u64,
    /// Answered with a 503.
    pub failed: u64,
    /// Forwarded, answer dropped.
    pub dropped: u64,
    /// Every forwarded call with an `X-Amz-Target` (ECS, DynamoDB, ...): the operation and when
    /// it was sent upstream and answered.
    pub calls: Vec<Call>,
    /// Held requests dropped because their caller had gone.
    pub abandoned: Vec<String>,
    /// Lease releases (UpdateItem emptying the holder) forwarded while an ECS write of the
    /// same caller was held with its caller still waiting: a write that could still land.
    pub released_over_writes: u64,
}

/// One forwarded call.
#[derive(Debug, Clone)]
pub struct Call {
    /// `X-Amz-Target` before the dot, e.g. `AmazonEC2ContainerServiceV20141113`.
    pub service: String,
    /// After the dot, e.g. `CreateService`.
    pub operation: String,
    /// Sent upstream.
    pub started: Instant,
    /// Answered by upstream.
    pub ended: Instant,
    /// The request's body (JSON for these protocols).
    pub body: String,
}

/// Whether the operation named `operation` is a write ([`client::Operation::is_write`]), of
/// `service` (its IAM prefix, e.g. `ecs`) when one is given.
pub fn is_write(operation: &str, service: Option<&str>) -> bool {
    client::Operation::from_name(operation)
        .is_some_and(|o| o.is_write() && service.is_none_or(|s| o.service() == s))
}

impl Call {
    /// An ECS call that changes something.
    pub fn is_ecs_write(&self) -> bool {
        self.service.starts_with("AmazonEC2ContainerService")
            && is_write(&self.operation, Some("ecs"))
    }
}

struct Bucket {
    tokens: f64,
    burst: f64,
    rate: f64,
    updated: Instant,
}

struct Shared {
    faults: Faults,
    stats: Stats,
    buckets: HashMap<&'static str, Bucket>,
    hold: Hold,
}

/// A slow network: requests held until [`Proxy::heal`]. A held request whose caller has gone
/// (closed its connection: an attempt timed out, a write cut at its deadline, the process
/// exited) is dropped, never delivered: the network delivers a request while its sender still
/// waits for it, or not at all (the controller's assumption, README "Running several
/// replicas").
#[derive(Debug, Default)]
struct Hold {
    /// From the next ECS write on, hold ECS writes (`Some(false)`) or every request, the
    /// lease table's included (`Some(true)`: cut off).
    armed: Option<bool>,
    /// Holding now: ECS writes only, or everything.
    active: Option<bool>,
    /// ECS writes held whose caller still waits.
    writes_held: usize,
}

/// The proxy; stops accepting on drop.
pub struct Proxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    port: u16,
}

/// ECS's documented (family, burst, sustained/s). Written here again on purpose, not taken from
/// the controller's limiter: the proxy is the tests' model of ECS, and a shared table would hide
/// a wrong rate from both sides.
fn family(operation: &str) -> (&'static str, f64, f64) {
    match operation {
        "DescribeServices" | "ListServices" => ("describe-services", 100.0, 20.0),
        "CreateService" | "UpdateService" | "DeleteService" => ("mutate-services", 50.0, 5.0),
        "RegisterTaskDefinition" => ("register-task-definition", 20.0, 1.0),
        "ListTasks" | "DescribeTasks" => ("describe-tasks", 100.0, 20.0),
        "RunTask" => ("run-task", 100.0, 40.0),
        _ => ("other", 50.0, 20.0),
    }
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream` (a port on 127.0.0.1).
    pub fn start(upstream: u16, faults: Faults) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let shared = Arc::new(Mutex::new(Shared {
            faults,
            stats: Stats::default(),
            buckets: HashMap::new(),
            hold: Hold::default(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (accept_shared, accept_stop) = (Arc::clone(&shared), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !accept_stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let shared = Arc::clone(&accept_shared);
                        std::thread::spawn(move || {
                            let _ = handle(client, upstream, &shared);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Proxy {
            url: format!("http://127.0.0.1:{port}"),
            shared,
            stop,
            port,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.shared.lock().expect("lock").stats.clone()
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// From the next ECS write on, hold ECS writes until [`Proxy::heal`]; with `cut_off`, every
    /// request (the lease table's too).
    pub fn hold_from_next_write(&self, cut_off: bool) {
        self.shared.lock().expect("lock").hold.armed = Some(cut_off);
    }

    /// Whether a write is being held (the hold has begun).
    pub fn holding(&self) -> bool {
        self.shared.lock().expect("lock").hold.active.is_some()
    }

    /// Stops holding: held requests whose caller still waits are delivered now.
    pub fn heal(&self) {
        let mut shared = self.shared.lock().expect("lock");
        shared.hold.armed = None;
        shared.hold.active = None;
    }
}

/// Whether the caller at the other end of `client` has closed its connection.
fn gone(client: &TcpStream) -> bool {
    let _ = client.set_nonblocking(true);
    let mut byte = [0u8; 1];
    let closed = matches!(client.peek(&mut byte), Ok(0))
        || client
            .peek(&mut byte)
            .is_err_and(|e| e.kind() != std::io::ErrorKind::WouldBlock);
    let _ = client.set_nonblocking(false);
    closed
}

/// Holds the request while the proxy holds; whether to deliver it (false: its caller went).
fn hold(client: &TcpStream, shared: &Mutex<Shared>, operation: Option<&str>) -> bool {
    let ecs_write = operation.is_some_and(|o| is_write(o, Some("ecs")));
    {
        let mut shared = shared.lock().expect("lock");
        let hold = &mut shared.hold;
        if ecs_write {
            if let Some(cut_off) = hold.armed.take() {
                hold.active = Some(cut_off);
            }
        }
        match hold.active {
            Some(cut_off) if ecs_write || cut_off => {}
            _ => return true,
        }
        if ecs_write {
            hold.writes_held += 1;
        }
    }
    let deliver = loop {
        if shared.lock().expect("lock").hold.active.is_none() {
            break true;
        }
        if gone(client) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut shared = shared.lock().expect("lock");
    if ecs_write {
        shared.hold.writes_held -= 1;
    }
    if !deliver {
        shared
            .stats
            .abandoned
            .push(operation.unwrap_or_default().to_owned());
    }
    deliver
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

enum Verdict {
    Forward { drop_answer: bool },
    Throttle,
    Fail,
    Deny,
}

fn decide(shared: &Mutex<Shared>, operation: &str) -> Verdict {
    let mut shared = shared.lock().expect("lock");
    shared.stats.requests += 1;
    let n = shared.stats.requests;
    if shared.faults.deny.contains(&operation) {
        return Verdict::Deny;
    }
    if let Some(scale) = shared.faults.token_buckets {
        let (name, burst, rate) = family(operation);
        let now = Instant::now();
        let bucket = shared.buckets.entry(name).or_insert_with(|| Bucket {
            tokens: burst,
            burst,
            rate: rate * scale,
            updated: now,
        });
        bucket.tokens = (bucket.tokens
            + now.duration_since(bucket.updated).as_secs_f64() * bucket.rate)
            .min(bucket.burst);
        bucket.updated = now;
        if bucket.tokens < 1.0 {
            shared.stats.throttled += 1;
            return Verdict::Throttle;
        }
        bucket.tokens -= 1.0;
    }
    let every = |k: Option<u64>| k.is_some_and(|k| n.is_multiple_of(k));
    if every(shared.faults.throttle_every) {
        shared.stats.throttled += 1;
        return Verdict::Throttle;
    }
    if every(shared.faults.fail_every) {
        shared.stats.failed += 1;
        return Verdict::Fail;
    }
    let drop_answer = shared.faults.drop_answers_of.contains(&operation);
    if drop_answer {
        shared.stats.dropped += 1;
    }
    Verdict::Forward { drop_answer }
}

fn handle(client: TcpStream, upstream: u16, shared: &Mutex<Shared>) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut content_length = 0usize;
    let mut target = None;
    let mut service = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            content_length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("x-amz-target:") {
            service = line
                .split(':')
                .nth(1)
                .and_then(|t| t.trim().split('.').next())
                .unwrap_or("")
                .to_owned();
            target = line
                .split(':')
                .nth(1)
                .map(|t| t.trim().rsplit('.').next().unwrap_or("").to_owned());
        }
        if lower.starts_with("connection:") {
            continue;
        }
        if line == "\r\n" {
            head.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        head.extend_from_slice(line.as_bytes());
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    let mut client = client;
    if !hold(&client, shared, target.as_deref()) {
        return Ok(());
    }
    if target.as_deref() == Some("UpdateItem") {
        let body = String::from_utf8_lossy(&body);
        let mut shared = shared.lock().expect("lock");
        if body.contains(r#"":h":{"S":""}"#) && shared.hold.writes_held > 0 {
            shared.stats.released_over_writes += 1;
        }
    }
    let verdict = match &target {
        Some(operation) => decide(shared, operation),
        None => Verdict::Forward { drop_answer: false },
    };
    let latency = shared.lock().expect("lock").faults.latency;
    match verdict {
        Verdict::Throttle => answer(&mut client, 400, "ThrottlingException", "Rate exceeded"),
        Verdict::Fail => answer(&mut client, 503, "ServerException", "Service unavailable"),
        Verdict::Deny => {
            let operation = target.as_deref().unwrap_or_default();
            let message = format!(
                "User: arn:aws:sts::123456789012:assumed-role/ecs-delegate-controller/edc is not authorized to perform: ecs:{operation} on resource: arn:aws:ecs:us-east-1:123456789012:service/c1/g because no identity-based policy allows the ecs:{operation} action"
            );
            answer(&mut client, 400, "AccessDeniedException", &message)
        }
        Verdict::Forward { drop_answer } => {
            std::thread::sleep(latency);
            let started = Instant::now();
            let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
            up.write_all(&head)?;
            up.write_all(&body)?;
            let mut response = Vec::new();
            up.read_to_end(&mut response)?;
            if let Some(operation) = &target {
                shared.lock().expect("lock").stats.calls.push(Call {
                    service: service.clone(),
                    operation: operation.clone(),
                    started,
                    ended: Instant::now(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
            }
            if drop_answer {
                // The write happened upstream; the caller never hears of it.
                return Ok(());
            }
            client.write_all(&response)
        }
    }
}

fn answer(client: &mut TcpStream, status: u16, kind: &str, message: &str) -> std::io::Result<()> {
    let body = format!(r#"{{"__type":"{kind}","message":"{message}"}}"#);
    let reason = if status == 400 {
        "Bad Request"
    } else {
        "Service Unavailable"
    };
    write!(
        client,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-ErrorType: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
