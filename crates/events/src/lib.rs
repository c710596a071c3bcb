//! Event-driven drift detection: the ECS events EventBridge sends (service actions, deployment
//! and task state changes) and the CloudTrail API-call events of ECS writes, read from an SQS
//! queue a rule feeds, each mapped to the groups it concerns.
//!
//! Shapes, from the ECS developer guide ("Amazon ECS events", with their examples) and the
//! EventBridge reference ("Amazon Elastic Container Service events"):
//! - `ECS Service Action` and `ECS Deployment State Change`: the service ARN in `resources`,
//!   `detail.eventType` (INFO/WARN/ERROR) and `detail.eventName`;
//! - `ECS Task State Change`: `detail.clusterArn`, `detail.group` (`service:NAME` or
//!   `family:FAMILY`), `detail.taskDefinitionArn`, `detail.lastStatus`, `detail.stoppedReason`;
//! - `AWS API Call via CloudTrail` with `detail.eventSource` `ecs.amazonaws.com`: the caller in
//!   `detail.userIdentity.arn`, the call's `requestParameters` and `responseElements`.
//!
//! Unknown properties are ignored (ECS adds them); a body that is not such an event is an error
//! the caller logs and deletes.

use std::collections::{BTreeSet, HashMap, HashSet};

use plan::DesiredGroup;
use serde_json::Value;
use spec::arn::{cluster_name, Arn};

mod sqs;

pub use sqs::{EventQueue, Message, QueueError, SqsQueue};

/// What happened, as far as reconciling is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `ECS Service Action`: `eventName`, and whether its `eventType` is WARN or ERROR.
    ServiceAction {
        /// e.g. `SERVICE_TASK_START_IMPAIRED`.
        name: String,
        /// WARN or ERROR.
        problem: bool,
    },
    /// `ECS Deployment State Change`.
    Deployment {
        /// e.g. `SERVICE_DEPLOYMENT_FAILED`.
        name: String,
        /// The deployment failed (or was rolled back).
        failed: bool,
    },
    /// `ECS Task State Change`.
    Task {
        /// `lastStatus`.
        status: plan::TaskStatus,
        /// Stopped by this controller (its stop reason prefix): not drift.
        stopped_by_us: bool,
        /// Stopped by the service scheduler (`stopCode` `ServiceSchedulerInitiated`): a
        /// deployment or scale-in, which the controller's own writes cause.
        by_scheduler: bool,
    },
    /// `AWS API Call via CloudTrail` of an ECS operation.
    ApiCall {
        /// e.g. `UpdateService`.
        operation: String,
        /// `userIdentity.arn`: who made the call.
        caller: Option<String>,
        /// The call failed (`errorCode`): it changed nothing.
        failed: bool,
    },
}

impl Kind {
    /// The metrics label: `service_action`, `deployment`, `task`, `api_call`.
    pub fn label(&self) -> &'static str {
        match self {
            Kind::ServiceAction { .. } => "service_action",
            Kind::Deployment { .. } => "deployment",
            Kind::Task { .. } => "task",
            Kind::ApiCall { .. } => "api_call",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::ServiceAction { name, .. } | Kind::Deployment { name, .. } => f.write_str(name),
            Kind::Task { status, .. } => write!(f, "task {status}"),
            Kind::ApiCall { operation, .. } => write!(f, "{operation} (CloudTrail)"),
        }
    }
}

/// A resource an event names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ref {
    /// A service; `cluster` is `None` when the event does not say (an old-format ARN).
    Service {
        /// The cluster's name.
        cluster: Option<String>,
        /// The service's name.
        service: String,
    },
    /// A task definition family.
    Family(String),
}

/// One event, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// EventBridge's `id`: the same event delivered twice has the same id.
    pub id: String,
    /// What happened.
    pub kind: Kind,
    /// The account it happened in (`account`; CloudTrail's `recipientAccountId`).
    pub account: Option<String>,
    /// The region (`region`; CloudTrail's `awsRegion`).
    pub region: Option<String>,
    /// What it names.
    pub refs: BTreeSet<Ref>,
}

/// Why a message is not an event this controller reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON, or not an EventBridge event (no `detail-type` and `detail`).
    #[error("not an EventBridge event: {0}")]
    Malformed(String),
    /// An event of another source or type.
    #[error("an event this controller does not read: {0}")]
    Unknown(String),
}

impl ParseError {
    /// The metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            ParseError::Malformed(_) => "malformed",
            ParseError::Unknown(_) => "unknown",
        }
    }
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// Parses the body of a message the queue received (the event itself, as EventBridge's SQS
/// target delivers it).
///
/// # Errors
/// A body that is not an event, or an event of another kind.
pub fn parse(body: &str) -> Result<Event, ParseError> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| ParseError::Malformed(e.to_string()))?;
    let (Some(detail_type), Some(detail)) = (
        text(&value, "detail-type"),
        value.get("detail").filter(|d| d.is_object()),
    ) else {
        return Err(ParseError::Malformed(
            "no detail-type and detail object".into(),
        ));
    };
    let source = text(&value, "source").unwrap_or_default();
    if source != "aws.ecs" {
        return Err(ParseError::Unknown(format!("{source} {detail_type}")));
    }
    let mut refs = BTreeSet::new();
    let resources = value
        .get("resources")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect::<Vec<_>>())
        .unwrap_or_default();
    let kind = match detail_type {
        "ECS Service Action" | "ECS Deployment State Change" => {
            for arn in &resources {
                refs.extend(arn_ref(arn));
            }
            let name = text(detail, "eventName").unwrap_or_default().to_owned();
            if detail_type == "ECS Service Action" {
                let problem = matches!(text(detail, "eventType"), Some("WARN" | "ERROR"));
                Kind::ServiceAction { name, problem }
            } else {
                let failed = name.contains("FAILED") || name.contains("ROLLBACK");
                Kind::Deployment { name, failed }
            }
        }
        "ECS Task State Change" => {
            task_refs(detail, &mut refs);
            Kind::Task {
                status: text(detail, "lastStatus").unwrap_or_default().into(),
                stopped_by_us: text(detail, "stoppedReason")
                    .is_some_and(|r| r.starts_with(spec::render::STOP_REASON_PREFIX)),
                by_scheduler: text(detail, "stopCode").map(plan::StopCode::from)
                    == Some(plan::StopCode::ServiceSchedulerInitiated),
            }
        }
        "AWS API Call via CloudTrail" => {
            if text(detail, "eventSource") != Some("ecs.amazonaws.com") {
                return Err(ParseError::Unknown(format!(
                    "CloudTrail {}",
                    text(detail, "eventSource").unwrap_or_default()
                )));
            }
            let failed = detail.get("errorCode").is_some_and(|c| !c.is_null());
            if !failed {
                api_call_refs(detail, &mut refs);
            }
            Kind::ApiCall {
                operation: text(detail, "eventName").unwrap_or_default().to_owned(),
                caller: detail
                    .get("userIdentity")
                    .and_then(|u| text(u, "arn"))
                    .map(str::to_owned),
                failed,
            }
        }
        other => return Err(ParseError::Unknown(format!("aws.ecs {other}"))),
    };
    let account = text(&value, "account")
        .or_else(|| text(detail, "recipientAccountId"))
        .or_else(|| {
            resources
                .iter()
                .find_map(|a| Arn::parse(a).map(|a| a.account))
        })
        .map(str::to_owned);
    let region = text(&value, "region")
        .or_else(|| text(detail, "awsRegion"))
        .map(str::to_owned);
    Ok(Event {
        id: text(&value, "id").unwrap_or_default().to_owned(),
        kind,
        account,
        region,
        refs,
    })
}

/// A service or task definition named by an ARN (other ARNs name nothing a group is found by).
fn arn_ref(arn: &str) -> Option<Ref> {
    let parsed = Arn::parse(arn)?;
    if let Some(rest) = parsed.resource_of("service") {
        return Some(match rest.split_once('/') {
            Some((cluster, service)) => Ref::Service {
                cluster: Some(cluster.to_owned()),
                service: service.to_owned(),
            },
            None => Ref::Service {
                cluster: None,
                service: rest.to_owned(),
            },
        });
    }
    parsed
        .resource_of("task-definition")
        .map(|rest| Ref::Family(family(rest).to_owned()))
}

/// `family` of `family`, `family:3` or a task definition ARN.
fn family(task_definition: &str) -> &str {
    let short = spec::arn::task_definition_short(task_definition);
    short.split_once(':').map_or(short, |(family, _)| family)
}

/// A task's group (`service:NAME` or `family:FAMILY`) and task definition.
fn task_refs(task: &Value, refs: &mut BTreeSet<Ref>) {
    let cluster = text(task, "clusterArn").map(|c| cluster_name(c).to_owned());
    match text(task, "group").and_then(|g| g.split_once(':')) {
        Some(("service", service)) => {
            refs.insert(Ref::Service {
                cluster: cluster.clone(),
                service: service.to_owned(),
            });
        }
        Some(("family", f)) => {
            refs.insert(Ref::Family(f.to_owned()));
        }
        _ => {}
    }
    if let Some(td) = text(task, "taskDefinitionArn") {
        refs.insert(Ref::Family(family(td).to_owned()));
    }
}

/// What a CloudTrail record of an ECS call names: its parameters (cluster, service, task
/// definition, resource ARN, group) and, where the parameters do not say (StopTask's task),
/// its response.
fn api_call_refs(detail: &Value, refs: &mut BTreeSet<Ref>) {
    let empty = Value::Null;
    let request = detail.get("requestParameters").unwrap_or(&empty);
    let response = detail.get("responseElements").unwrap_or(&empty);
    // An absent cluster is the default cluster.
    let cluster = text(request, "cluster").map_or("default", cluster_name);
    for key in ["service", "serviceName"] {
        if let Some(service) = text(request, key) {
            refs.insert(arn_ref(service).unwrap_or_else(|| Ref::Service {
                cluster: Some(cluster.to_owned()),
                service: service.to_owned(),
            }));
        }
    }
    if let Some(arn) = text(request, "resourceArn") {
        refs.extend(arn_ref(arn));
    }
    if let Some(td) = text(request, "taskDefinition") {
        refs.insert(Ref::Family(family(td).to_owned()));
    }
    if let Some(tds) = request.get("taskDefinitions").and_then(Value::as_array) {
        refs.extend(
            tds.iter()
                .filter_map(Value::as_str)
                .map(|td| Ref::Family(family(td).to_owned())),
        );
    }
    if let Some(group) = text(request, "group") {
        let task = serde_json::json!({"group": group, "clusterArn": cluster});
        task_refs(&task, refs);
    }
    if let Some(service) = response.get("service") {
        if let Some(arn) = text(service, "serviceArn") {
            refs.extend(arn_ref(arn));
        }
    }
    let tasks = response.get("task").into_iter().chain(
        response
            .get("tasks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten(),
    );
    for task in tasks {
        task_refs(task, refs);
    }
}

/// (account: `None` for the controller's own, region, name).
type Key = (Option<String>, String, String);

/// The desired groups by what events name them by: service, task definition family; and the
/// role sessions the controller writes to other accounts as.
#[derive(Debug, Default)]
pub struct Index {
    services: HashMap<Key, Vec<(String, String)>>,
    families: HashMap<Key, Vec<String>>,
    accounts: HashSet<String>,
    sessions: HashSet<String>,
}

impl Index {
    /// The index of `groups`.
    pub fn new<'a>(groups: impl IntoIterator<Item = &'a DesiredGroup>) -> Index {
        let mut index = Index::default();
        for group in groups {
            let account = group.target.account_id().map(str::to_owned);
            let region = group.target.region.clone();
            index
                .services
                .entry((
                    account.clone(),
                    region.clone(),
                    group.service_name().to_owned(),
                ))
                .or_default()
                .push((
                    cluster_name(group.cluster()).to_owned(),
                    group.name().to_owned(),
                ));
            index
                .families
                .entry((account.clone(), region, group.group.family().to_owned()))
                .or_default()
                .push(group.name().to_owned());
            if let (Some(id), Some(a)) = (account, &group.target.account) {
                let partition = Arn::parse(&a.role_arn).map_or("aws", |arn| arn.partition);
                let session = a.session_name.as_deref().unwrap_or(SESSION_NAME);
                index.sessions.insert(format!(
                    "arn:{partition}:sts::{id}:assumed-role/{}/{session}",
                    spec::arn::role_name(&a.role_arn)
                ));
                index.accounts.insert(id);
            }
        }
        index
    }

    /// The groups `event` concerns, by name (sorted). An event of an account that is neither
    /// a target account nor `own_account` (when known) concerns none.
    pub fn groups(&self, event: &Event, own_account: Option<&str>) -> Vec<String> {
        let account = match event.account.as_deref() {
            Some(a) if self.accounts.contains(a) => Some(a.to_owned()),
            Some(a) if own_account.is_some_and(|own| own != a) => return Vec::new(),
            _ => None,
        };
        let Some(region) = event.region.clone() else {
            return Vec::new();
        };
        let mut found = BTreeSet::new();
        for r in &event.refs {
            match r {
                Ref::Service { cluster, service } => {
                    let key = (account.clone(), region.clone(), service.clone());
                    for (c, group) in self.services.get(&key).into_iter().flatten() {
                        if cluster.as_ref().is_none_or(|cluster| cluster == c) {
                            found.insert(group.clone());
                        }
                    }
                }
                Ref::Family(f) => {
                    let key = (account.clone(), region.clone(), f.clone());
                    found.extend(self.families.get(&key).into_iter().flatten().cloned());
                }
            }
        }
        found.into_iter().collect()
    }

    /// Whether `caller` (CloudTrail's `userIdentity.arn`) is this controller in a target
    /// account: the role it assumes there, with its session name.
    pub fn is_target_session(&self, caller: &str) -> bool {
        self.sessions.contains(caller)
    }
}

/// The role session name the controller uses in other accounts by default (the aws crate's).
const SESSION_NAME: &str = "ecs-delegate-controller";

/// Who the controller is, as CloudTrail names its callers: from STS GetCallerIdentity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The account the controller runs in.
    pub account: Option<String>,
    /// An assumed role: any session of it (`arn:aws:sts::A:assumed-role/ROLE/`), which covers
    /// every replica; otherwise the exact ARN of the user.
    caller: Option<String>,
    prefix: bool,
}

impl Identity {
    /// From GetCallerIdentity's account and ARN.
    pub fn new(account: Option<String>, arn: Option<&str>) -> Identity {
        let Some(arn) = arn else {
            return Identity {
                account,
                ..Identity::default()
            };
        };
        let assumed = Arn::parse(arn)
            .filter(|a| a.service == "sts")
            .and_then(|a| a.resource_of("assumed-role"))
            .is_some();
        match arn.rsplit_once('/').filter(|_| assumed) {
            Some((head, _session)) => Identity {
                account,
                caller: Some(format!("{head}/")),
                prefix: true,
            },
            None => Identity {
                account,
                caller: Some(arn.to_owned()),
                prefix: false,
            },
        }
    }

    /// Whether a CloudTrail caller is this controller (any replica), here or in a target
    /// account.
    pub fn is_own(&self, caller: &str, index: &Index) -> bool {
        index.is_target_session(caller)
            || self.caller.as_deref().is_some_and(|own| {
                if self.prefix {
                    caller.starts_with(own)
                } else {
                    caller == own
                }
            })
    }
}

#[cfg(test)]
mod tests;
