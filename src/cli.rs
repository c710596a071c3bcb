//! The command line: argument types (clap derive; doc comments are the help text).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Reconciles Harness Delegate fleets on AWS ECS from DelegateGroup YAML files.
#[derive(Debug, Parser)]
#[command(name = "ecs-delegate-controller", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// AWS region of groups without spec.region (default: the AWS configuration chain).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// AWS shared-config profile.
    #[arg(long, global = true, value_name = "PROFILE")]
    pub profile: Option<String>,
    /// ECS endpoint, e.g. a local test endpoint (default: AWS_ENDPOINT_URL, else AWS).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Scale ECS's documented sustained API rates by this factor in the client-side rate
    /// limiter (default 1; off against a loopback endpoint unless given).
    #[arg(long, global = true, value_name = "FACTOR")]
    pub api_rate_scale: Option<f64>,
    /// Value of the managed-by tag; controllers with different ids never touch each other's
    /// resources.
    #[arg(
        long,
        global = true,
        env = "ECS_DELEGATE_CONTROLLER_ID",
        default_value = "default",
        value_name = "ID",
        value_parser = controller_id
    )]
    pub controller_id: String,
    /// Only groups whose metadata.labels match, e.g. `team=platform` (repeat or comma-separate
    /// to require several).
    #[arg(long, global = true, value_name = "KEY=VALUE", value_delimiter = ',')]
    pub selector: Vec<String>,
    /// The operator's guardrail policy (deploy/policy.yaml shows the format): allow-lists every
    /// group must satisfy, and the baseline. Kept outside the PATHs. Without it: the baseline
    /// only, and no adoption.
    #[arg(long, global = true, env = "EDC_POLICY", value_name = "FILE")]
    pub policy: Option<std::path::PathBuf>,
    /// Ready also means connected: the ARN of a Secrets Manager secret or SSM parameter holding
    /// a Harness API key (never the key itself) that may view delegates. Without it, Ready is
    /// what ECS says and status shows the Harness check as off.
    #[arg(
        long,
        global = true,
        env = "EDC_HARNESS_API_KEY_SECRET",
        value_name = "ARN"
    )]
    pub harness_api_key_secret: Option<String>,
    /// With the Harness check: the origins (`https://host[:port]`) the API key may be sent to;
    /// a group whose spec.delegate.managerUrl has another origin is not checked (Connected
    /// Unknown, HarnessOriginNotAllowed). https only; plain http only to a loopback address.
    /// Default: https://app.harness.io.
    #[arg(
        long = "harness-origin",
        global = true,
        env = "EDC_HARNESS_ORIGINS",
        value_name = "ORIGIN",
        value_delimiter = ','
    )]
    pub harness_origins: Vec<String>,
    /// With the Harness check: how long after a deployment the delegates may take to connect
    /// before a group whose tasks run is Degraded (NotConnected).
    #[arg(long, global = true, default_value = "10m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub harness_grace: std::time::Duration,
    /// A change window (repeatable): `allow|deny MIN HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK
    /// DURATION [TIME_ZONE]`, e.g. `deny 0 22 * * 5 48h Europe/Berlin`. Inside a deny window,
    /// or outside every allow window, changes are planned and reported but not written.
    #[arg(
        long = "window",
        global = true,
        env = "EDC_WINDOWS",
        value_delimiter = ';',
        value_name = "WINDOW"
    )]
    pub windows: Vec<String>,
    /// Put drift back (ECS changed, the files did not) even while a window holds changes.
    #[arg(long, global = true, env = "EDC_DRIFT_OUTSIDE_WINDOWS")]
    pub drift_outside_windows: bool,
    /// Rollout waves (`spec.rollout.wave`): how long every changed group of a wave must have
    /// been Ready before the next wave starts.
    #[arg(long, global = true, env = "EDC_WAVE_BAKE", default_value = "5m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub wave_bake: std::time::Duration,
    /// Rollout waves: after a failed or rolled-back group, `halt` later waves until a new
    /// commit fixes it, or `continue`.
    #[arg(long, global = true, env = "EDC_WAVE_FAILURE", default_value = "halt", value_parser = ["halt", "continue"], value_name = "POLICY")]
    pub wave_failure: String,
    /// With the Harness check: warn (condition ExpiringSoon, a notification) this long before
    /// a connected delegate's version expires.
    #[arg(long, global = true, default_value = "30d", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub harness_expiry_warning: std::time::Duration,
    /// With the Harness check: give up a Harness request after this long (retried twice).
    #[arg(long, global = true, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub harness_timeout: std::time::Duration,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More logs: -v info, -vv debug (RUST_LOG overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// `--prune`, `--max-prune`, `--allow-replace`.
#[derive(Debug, Clone, Copy, Args)]
pub struct LifecycleArgs {
    /// Also remove what this controller created for groups no longer in the files (services
    /// scaled to 0 and deleted, standalone tasks stopped). Only resources whose managed-by tag
    /// is this --controller-id. Refused when the files describe no group or with --selector.
    #[arg(long)]
    pub prune: bool,
    /// Refuse to prune (delete nothing) when more groups than this would go.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub max_prune: usize,
    /// Carry out replacements (launch type, scheduling strategy, service name changes): delete
    /// the service, wait for its name to be free, create it again. Without it they are refused.
    #[arg(long)]
    pub allow_replace: bool,
    /// Exit 1 when the paths hold no DelegateGroup (by default a warning): a pipeline pointed at
    /// the wrong directory notices.
    #[arg(long)]
    pub fail_on_empty: bool,
}

/// Event-driven mode: ECS and CloudTrail events through an SQS queue.
#[derive(Debug, Clone, Args)]
pub struct EventsArgs {
    /// Loop: reconcile the groups ECS and CloudTrail events concern as they arrive, from this
    /// SQS queue (URL) an EventBridge rule feeds (deploy/events-rules.json); the resync
    /// interval then defaults to 10m.
    #[arg(
        long,
        value_name = "URL",
        env = "EDC_EVENTS_QUEUE",
        conflicts_with = "once"
    )]
    pub events_queue: Option<String>,
    /// While the events queue cannot be read, every group is reconciled at least this often.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration, value_name = "DURATION", requires = "events_queue")]
    pub events_fallback_interval: std::time::Duration,
}

/// Notifications of the loop.
#[derive(Debug, Clone, Args)]
pub struct NotifyArgs {
    /// Loop: POST a Slack-compatible JSON notice to this webhook when a group becomes Degraded
    /// or Stalled, recovers, has drift corrected, or is pruned (repeatable; several in
    /// EDC_NOTIFY separated by commas, e.g. from an ECS secret).
    #[arg(
        long,
        value_name = "URL",
        env = "EDC_NOTIFY",
        value_delimiter = ',',
        hide_env_values = true,
        conflicts_with = "once"
    )]
    pub notify: Vec<String>,
    /// Loop: webhook URLs read from this file, one per line (a mounted secret); `#` comments.
    #[arg(long, value_name = "FILE", conflicts_with = "once")]
    pub notify_file: Option<PathBuf>,
    /// At most one notice per group this often (the latest state wins).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, value_name = "DURATION", hide = true)]
    pub notify_gap: std::time::Duration,
}

/// Several replicas of the loop: leader election on a DynamoDB lease.
#[derive(Debug, Clone, Args)]
pub struct LeaseArgs {
    /// Loop: compete for a lease item in this DynamoDB table (created by deploy/, never by the
    /// controller); only the holder writes, the others observe and serve HTTP.
    #[arg(long, value_name = "TABLE", conflicts_with = "once")]
    pub lease_table: Option<String>,
    /// The lease item's name (default: --controller-id).
    #[arg(long, value_name = "NAME", requires = "lease_table")]
    pub lease_name: Option<String>,
    /// How long a lease seen unchanged is taken as alive (client-go's 15s).
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub lease_duration: std::time::Duration,
    /// The holder stops writing this long after the start of its last successful renew
    /// (client-go's 10s), less the clock-drift margin (1/20 of --lease-duration): every write
    /// is over by then.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub lease_renew_deadline: std::time::Duration,
    /// Under a lease, the longest one attempt of an ECS, IAM, Secrets Manager or Application
    /// Auto Scaling call may take (the SDK's attempt timeout); a request is assumed to reach AWS
    /// within it or never. --lease-duration must be
    /// at least --lease-renew-deadline + this + the drift margin (1/20 of --lease-duration).
    #[arg(long, default_value = "4s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub lease_write_timeout: std::time::Duration,
    /// How often each replica tries to take or renew the lease (client-go's 2s).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub lease_retry: std::time::Duration,
    /// Split the groups by a stable hash of (account, region, cluster, name) into N leases;
    /// each replica holds ceil(N / replicas alive) and observes and writes only their groups.
    /// 1: plain leader election. Every replica of one --lease-name needs the same N.
    #[arg(long, default_value_t = 1, value_name = "N", requires = "lease_table", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub shards: u32,
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Plan output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// Like a Terraform plan: +, ~ and -/+ with the changed fields.
    Text,
    /// `{"changes":[...],"errors":[...],"summary":{...}}`, stable.
    Json,
    /// A table for a pull-request comment.
    Markdown,
}

/// Shells with completions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
}

/// Status output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    /// One line per group.
    Table,
    /// `{"groups":[{"name","cluster","mode","desired","running","pending","taskDefinition","inSync","conditions":[...]}]}`.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check DelegateGroup files without touching AWS: exit 0 when valid, 1 with every error
    /// (file:line:col) on stderr otherwise.
    Validate {
        /// Files, or directories searched recursively for *.yaml and *.yml.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Show what reconcile would change, reading ECS but never writing. Exit 0, or 1 on any
    /// error; with --detailed-exitcode 2 when there are changes.
    Plan {
        /// Files, or directories searched recursively for *.yaml and *.yml.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = PlanFormat::Text)]
        output: PlanFormat,
        /// Exit 2 when the plan changes what runs (0 when not, 1 on error); updates of
        /// ownership tags alone (adoption) are shown but do not count.
        #[arg(long)]
        detailed_exitcode: bool,
        #[command(flatten)]
        lifecycle: LifecycleArgs,
    },
    /// Make ECS match the files: register task definitions, create and update services, run and
    /// stop standalone tasks (with --prune, also remove what the files no longer describe).
    /// Without --once, keep doing it: react to file changes, put drift back every --interval,
    /// serve /healthz, /readyz, /metrics and /status on --listen, stop cleanly on SIGTERM/SIGINT.
    Reconcile {
        /// Files, or directories searched recursively for *.yaml and *.yml.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// One pass, then exit: 0 when every group converged, 1 when any failed.
        #[arg(long)]
        once: bool,
        /// Plan and print (--once) or log (loop), write nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        lifecycle: LifecycleArgs,
        /// AWS calls in flight at once.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: u16,
        /// With --once: then wait this long (e.g. 10m) until every group is Ready: services run
        /// their count in one completed deployment, tasks mode runs its count on the desired
        /// revision. A failed or rolled-back deployment ends the wait at once. Exit 1 on either,
        /// naming each group that is not ready and why.
        #[arg(long, value_parser = humantime::parse_duration, requires = "once", value_name = "DURATION")]
        wait: Option<std::time::Duration>,
        /// Loop: every group is reconciled at least this often (jittered ±10 %), e.g. 30s, 5m
        /// [default: 60s; 10m with --events-queue]
        #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "once", value_name = "DURATION")]
        interval: Option<std::time::Duration>,
        /// Loop: address of the HTTP endpoints.
        #[arg(long, default_value = "127.0.0.1:9464", conflicts_with = "once")]
        listen: std::net::SocketAddr,
        #[command(flatten)]
        lease: LeaseArgs,
        #[command(flatten)]
        events: EventsArgs,
        #[command(flatten)]
        notify: NotifyArgs,
    },
    /// Check what a first deploy needs, in one run that only reads: credentials and who they
    /// are, the region, the files, each cluster (and room for EC2 groups), the roles and the
    /// token each group needs, Harness (with --harness-api-key-secret), the lease table and the
    /// events queue (when given). Prints a checklist with a fix for each failure; exit 1 when one
    /// fails.
    Doctor {
        /// Files, or directories searched recursively for *.yaml and *.yml.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Check this lease table (as `reconcile --lease-table` would use it).
        #[arg(long, value_name = "TABLE")]
        lease_table: Option<String>,
        /// Check this events queue (as `reconcile --events-queue` would read it).
        #[arg(long, value_name = "URL", env = "EDC_EVENTS_QUEUE")]
        events_queue: Option<String>,
    },
    /// Show each group's delegates: desired, running and pending tasks, task definition, whether
    /// the files and ECS agree, and conditions (Ready, Progressing, Degraded, Stalled) with
    /// reasons. Reads only.
    Status {
        /// Files, or directories searched recursively for *.yaml and *.yml.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = StatusFormat::Table)]
        output: StatusFormat,
    },
    /// Write a DelegateGroup on stdout from Harness's downloaded ecs-task-spec.json (and the
    /// awsvpc service spec), or from a live service to adopt it without downtime. A token in
    /// plain text is never copied: a marked placeholder takes its place.
    #[command(group(clap::ArgGroup::new("from").required(true).args(["task_spec", "service"])))]
    Import {
        /// Harness's ecs-task-spec.json.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["cluster", "service"])]
        task_spec: Option<PathBuf>,
        /// Harness's service-spec-for-awsvpc-mode.json (with --task-spec).
        #[arg(long, value_name = "FILE", requires = "task_spec")]
        service_spec: Option<PathBuf>,
        /// The live service's cluster (with --service).
        #[arg(long, value_name = "CLUSTER", requires = "service")]
        cluster: Option<String>,
        /// A live service to adopt (with --cluster).
        #[arg(long, value_name = "SERVICE", requires = "cluster")]
        service: Option<String>,
        /// The live service is in another account: the role to assume there (written into the
        /// group as spec.account, with --region as spec.region when given).
        #[arg(long, value_name = "ARN", requires = "cluster")]
        account_role_arn: Option<String>,
        /// The external id that role's trust requires (with --account-role-arn).
        #[arg(long, value_name = "ID", requires = "account_role_arn")]
        external_id: Option<String>,
        /// The group name (default: the delegate's name).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
    /// Print shell completions: `source <(ecs-delegate-controller completions bash)`.
    Completions {
        /// bash, zsh or fish.
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// GET a URL and exit 0 on a 2xx answer, 1 otherwise: the container health check in images
    /// without curl (`probe http://127.0.0.1:9464/healthz`).
    Probe {
        /// An http:// URL on this host.
        url: String,
    },
    /// Print the JSON Schema of DelegateGroup, for editors
    /// (`# yaml-language-server: $schema=...`) and linters.
    Schema,
}

impl Cli {
    /// Parses the process arguments and runs the command.
    pub fn parse_and_run() -> ExitCode {
        let cli = Cli::parse();
        crate::cmd::init_logging(&cli.global);
        crate::cmd::run(cli)
    }
}

/// `--controller-id`: it becomes the value of the managed-by tag on everything the controller
/// creates, so it is refused here, before any call, where ECS would refuse that tag.
fn controller_id(value: &str) -> Result<String, String> {
    let tag = spec::render::TAG_MANAGED_BY;
    if value.is_empty() {
        return Err(format!(
            "must not be empty: it is the value of the tag {tag}"
        ));
    }
    match spec::validate::tag_value_problem(value) {
        Some(problem) => Err(format!(
            "it becomes the value of the tag {tag}, and it {problem}"
        )),
        None => Ok(value.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn a_controller_id_ecs_would_refuse_as_a_tag_value_is_refused() {
        assert_eq!(controller_id("team-a_1").as_deref(), Ok("team-a_1"));
        for refused in ["", "a,b", "aws:x", "\u{24b6}", "x\ty"] {
            assert!(controller_id(refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
