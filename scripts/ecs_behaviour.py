"""ECS's behaviour on top of moto's ECS API: the local endpoint the demo, the tests and the
benchmarks use (`localecs.py serve` applies it; `LOCALECS_PLAIN=1` leaves moto as it is).

moto keeps ECS's API surface but accepts requests real ECS refuses and never schedules, fails or
rolls back anything. This module patches moto's ECS backend in the server process so that it
behaves like ECS where the controller's correctness depends on it. Everything modelled here names
the AWS documentation page it comes from; where AWS documents a rule but not its exact message,
the message says what ECS checks and the comment says "message modelled".

Model (advanced lazily: before every ECS request, under one lock, the whole account/region is
brought up to "now"; nothing runs between requests, so tests are deterministic):
- Scheduler. A service's primary deployment gets tasks placed until it has desiredCount: on
  FARGATE always; on EC2 on an ACTIVE container instance with enough free CPU and memory, else
  the service event ECS writes ("unable to place a task because no container instance met all
  of its requirements"). Tasks start PENDING and become RUNNING after LOCALECS_START_SECONDS
  (default 1; the delay is modelled). When the primary deployment runs its count, older
  deployments are drained (their tasks stopped) and the rollout becomes COMPLETED with the
  "steady state" event (the order of starts and stops within a rollout is modelled: all new
  tasks first, maximumPercent not applied).
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service_definition_parameters.html
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-placement.html
- Unreadable secrets. A task whose execution role's identity policies do not allow reading a
  container secret (secretsmanager:GetSecretValue, ssm:GetParameters) stops before starting with
  ECS's ResourceInitializationError (stopCode TaskFailedToStart).
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/resource-initialization-error.html
- Quotas. With LOCALECS_FARGATE_TASK_LIMIT=N, a FARGATE task beyond N running ones in the
  region is not placed; the service gets the event the service event messages page documents,
  "service (service-name) was unable to place a task. Reason: You've reached the limit on the
  number of tasks you can run concurrently" (RunTask reports the failure QUOTA:TASKS, modelled).
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-event-messages-list.html
- Failing images (the tag rule is a test knob). A container image whose tag starts with
  "crash" (or that is listed in
  LOCALECS_FAILING_IMAGES, comma separated) exits with code 1 when it would become RUNNING: the
  task stops with stopCode EssentialContainerExited, "Essential container in task exited".
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-errors.html
- Flaky images (a test knob, modelled). A tag starting with "flaky": the first task of each
  deployment runs, every later one exits 1 (EssentialContainerExited). With the circuit breaker's rule (Deployment.failedTasks
  in the API reference: "Once a service deployment has one or more successfully running tasks,
  the failed task count resets to zero and stops being evaluated"), such a rollout never fails.
- Interruptions. A task whose image tag starts with "interrupted" runs, then is stopped by ECS
  at the next observation (after LOCALECS_START_SECONDS) with stopCode SpotInterruption: what
  a Fargate Spot interruption leaves (when it happens is modelled; the message "Your Spot Task
  was interrupted." is modelled, no source). It is no failure: the circuit breaker does not count
  it, and the service replaces the task. The stop codes are the TaskStopCode enum of the API
  (botocore's ecs/2014-11-13 model): TaskFailedToStart, EssentialContainerExited,
  UserInitiated, ServiceSchedulerInitiated, SpotInterruption, TerminationNotice,
  InfrastructureHealth.
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Task.html
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-capacity-providers.html
- Circuit breaker. With deploymentCircuitBreaker.enable, a deployment fails when its failed tasks
  reach the threshold 0.5 x desired count, at least 3 and at most 200 (rolloutState FAILED,
  "ECS deployment circuit breaker: tasks failed to start."); with rollback, a new deployment of
  the last COMPLETED deployment's task definition becomes primary, and the failed deployment's
  rolloutStateReason is the one the guide documents, "ECS deployment circuit breaker: rolling
  back to deploymentId <id>." No service event names the rollback (none is documented).
- Service deployments and revisions (ListServiceDeployments, DescribeServiceDeployments,
  DescribeServiceRevisions, with the model's shapes): one revision per deployment, one service
  deployment per UpdateService or CreateService that deploys (IN_PROGRESS, SUCCESSFUL, and
  STOPPED when the breaker fails it without rollback: that status is modelled, no source); a
  rollback is part of the service deployment it
  rolls back (ROLLBACK_IN_PROGRESS, then ROLLBACK_SUCCESSFUL when the old revision runs again),
  with rollback.serviceRevisionArn the revision it went back to.
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeployment.html
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeploymentCircuitBreaker.html
- Deployments. UpdateService starts a new deployment whenever it carries taskDefinition,
  networkConfiguration or platformVersion ("This parameter triggers a new service deployment."),
  or forceNewDeployment; desiredCount, deploymentConfiguration, placementStrategy,
  enableExecuteCommand and propagateTags do not ("This parameter doesn't trigger a new service
  deployment."). deploymentConfiguration is replaced whole (modelled, no source: the reference
  does not say whether members left out are kept; assuming they are not is the safe side).
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html
- Deletion. DeleteService stops the tasks and leaves the service DRAINING for
  LOCALECS_DRAIN_SECONDS (default 5; how long is modelled) before INACTIVE: "the service status
  moves from ACTIVE to DRAINING, and the service is no longer visible in the console or in the
  ListServices API operation ... Services in the DRAINING or INACTIVE status can still be viewed
  with the DescribeServices API operation" (DeleteService): neither is listed, both described.
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeleteService.html
- Paging: ListServices (default 10, at most 100) and ListTasks (default 100, at most 100) return
  pages with nextToken ("This value can be between 1 and 100", maxResults of each). ListTasks without desiredStatus lists RUNNING-desired tasks, and honours
  serviceName.
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListServices.html
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListTasks.html
- Client tokens: CreateService and RunTask with a token already used return the first answer
  ("An identifier that you provide to ensure the idempotency of the request"; up to 36 and 64
  characters, clientToken of each in the model). How long a token is remembered is modelled
  (for the server's life). A CreateService of an existing ACTIVE service with the same
  parameters answers it; with others, "Creation of service was not idempotent." (modelled, as
  users of ECS report the message).
- Eventual consistency. "The Amazon ECS API follows an eventual consistency model ... the
  result of an API command you run that affects your Amazon ECS resources might not be
  immediately visible to all subsequent commands you run" (RunTask, API reference). With
  LOCALECS_VISIBLE_AFTER_SECONDS=N (a test knob; the delay is modelled, ECS gives no bound) a
  service CreateService made is answered MISSING by DescribeServices and not listed by
  ListServices, and the tasks RunTask started are not listed by ListTasks, for N seconds.
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html
- Capacity providers. CreateService and RunTask take a launchType, else a
  capacityProviderStrategy, else the cluster's default strategy ("If no
  capacityProviderStrategy or launchType is specified, the defaultCapacityProviderStrategy for
  the cluster is used"; with none, EC2: modelled); a provider must be associated with the
  cluster (message modelled). FARGATE and FARGATE_SPOT tasks are placed as FARGATE ones, an
  Auto Scaling group provider's on the cluster's container instances. A service keeps its
  strategy (DescribeServices answers it, with weight and base). UpdateService with a strategy
  changes it ("This parameter doesn't trigger a new service deployment"), from a launch type
  only with forceNewDeployment (modelled, as the Terraform AWS provider encodes it); an empty
  list goes back to a launch type (EC2: modelled).
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html
- Describe failures. DescribeServices answers a name it does not know in `failures` with reason
  MISSING ("The specified service wasn't found", the API failure reasons page, which gives no
  other reason for DescribeServices). A test knob (modelled): LOCALECS_DESCRIBE_FAILURES
  ("name=REASON,...") answers those services as failures with that reason instead.
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/api_failures_messages.html
- Role trust (STS, for the accounts a controller reaches through roles). AssumeRole succeeds only
  when the role exists in its account and its trust policy allows the caller (its account's
  root, the account id, the caller's ARN, or "*") for sts:AssumeRole, with the sts:ExternalId
  its condition names; otherwise AccessDenied (HTTP 403) "User: ... is not authorized to perform:
  sts:AssumeRole on resource: ...". moto assumes any role.
  https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
  https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-user_externalid.html

The request rules are the `rule_*` functions below, each with its source page. Before them,
every request is checked against ECS's published service model (`ecs_model.py`: required and
unknown members, types, enums, lengths, ranges, patterns), and refused with the code
LocalModelViolation (the endpoint's own) when the model does not allow it; so are the requests
to Secrets Manager, SSM, DynamoDB and SQS (every member), IAM and STS (top-level members).
"""

import base64
import os
import threading
import time
import uuid
from datetime import datetime, timezone

START_SECONDS = float(os.environ.get("LOCALECS_START_SECONDS", "1"))
DRAIN_SECONDS = float(os.environ.get("LOCALECS_DRAIN_SECONDS", "5"))
FAILING_IMAGES = {i for i in os.environ.get("LOCALECS_FAILING_IMAGES", "").split(",") if i}
# The account's quota of concurrent Fargate tasks (unset: none), per region.
FARGATE_TASK_LIMIT = int(os.environ.get("LOCALECS_FARGATE_TASK_LIMIT", "0") or 0)
# A test knob (modelled): services DescribeServices answers as a failure with a reason other
# than MISSING ("name=REASON,..."). The API failure reasons page documents only MISSING for
# DescribeServices; the Failure shape (arn, reason, detail) is the model's.
DESCRIBE_FAILURES = dict(
    item.split("=", 1) for item in os.environ.get("LOCALECS_DESCRIBE_FAILURES", "").split(",") if "=" in item
)
# Eventual consistency (a test knob; how long is modelled): services CreateService made and
# tasks RunTask started are not described or listed until this many seconds later.
VISIBLE_AFTER = float(os.environ.get("LOCALECS_VISIBLE_AFTER_SECONDS", "0") or 0)
# Stopped tasks ECS keeps describable per service (it keeps them about an hour); a crash loop
# would otherwise grow without bound.
STOPPED_KEPT = 30

LOCK = threading.RLock()

try:  # moto is only there when the endpoint runs; the docstring is readable without it.
    from moto.ecs import models as ecs_models
    from moto.ecs import responses as ecs_responses
    from moto.ecs.exceptions import ECSException, InvalidParameterException
except ImportError:  # pragma: no cover
    ecs_models = None


def now():
    return datetime.now(timezone.utc)


def ts(moment):
    return moment.timestamp()


def invalid(message):
    return InvalidParameterException(message)


def client_error(message):
    return ECSException("ClientException", message)


# ---------------------------------------------------------------------------------------------
# Request rules. Each raises ECS's error before moto sees the request.


def rule_tags(tags, existing=None):
    """Tag rules of every call that takes tags (CreateService, RunTask, RegisterTaskDefinition,
    TagResource) beyond the model's (lengths and characters, `ecs_model.py`): no `aws:` prefix
    on keys or values, at most 50 per resource counting those it has. Messages modelled.
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Tag.html
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-using-tags.html"""
    keys = set(existing or ())
    for tag in tags or []:
        key, value = tag.get("key") or "", tag.get("value") or ""
        for text in (key, value):
            if text.lower().startswith("aws:"):
                raise invalid(f"Tag keys and values may not start with the reserved prefix 'aws:': '{text}'")
        keys.add(key)
    if len(keys) > 50:
        raise invalid(f"A resource may have at most 50 tags; this request would give it {len(keys)}")


def raw_body(body):
    import json

    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        value = json.loads(body or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def model_refusal(operation, params):
    """Every request as ECS's published service model allows it (`ecs_model.py`): the error for
    a request the controller should never send, which fails the test that sent it, or None."""
    import ecs_model

    found = ecs_model.problems(operation, params)
    return ECSException("LocalModelViolation", "; ".join(found)) if found else None


def rule_list_tasks(params):
    """`startedBy` must be the only filter of a ListTasks request. Message modelled.
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListTasks.html"""
    if params.get("startedBy"):
        others = [f for f in ("serviceName", "family", "containerInstance", "desiredStatus") if params.get(f)]
        if others:
            raise invalid(f"startedBy must be the only filter; the request also has {', '.join(others)}")
    rule_max_results(params)


def rule_max_results(params):
    """maxResults is 1-100 for ListServices and ListTasks. Message modelled.
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListServices.html"""
    value = params.get("maxResults")
    if value is not None and not 1 <= int(value) <= 100:
        raise invalid("maxResults must be between 1 and 100")


def visible(resource):
    """Whether List/Describe show `resource` yet (LOCALECS_VISIBLE_AFTER_SECONDS)."""
    return getattr(resource, "_visible_at", 0) <= time.time()


def rule_describe_services(params):
    """At most 10 services per DescribeServices. Message modelled.
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeServices.html"""
    if len(params.get("services") or []) > 10:
        raise invalid("You may specify up to 10 services to describe in a single operation")


# FARGATE task sizes: cpu -> allowed memory (MiB).
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size
FARGATE_SIZES = {
    256: [512, 1024, 2048],
    512: list(range(1024, 4097, 1024)),
    1024: list(range(2048, 8193, 1024)),
    2048: list(range(4096, 16385, 1024)),
    4096: list(range(8192, 30721, 1024)),
    8192: list(range(16384, 61441, 4096)),
    16384: list(range(32768, 122881, 8192)),
}


def units(value, unit_word, factor):
    """'1024', '1 vCPU' or '2 GB' as CPU units or MiB."""
    text = str(value).strip()
    if text.lower().endswith(unit_word.lower()):
        return int(float(text[: -len(unit_word)].strip()) * factor)
    return int(text)


def rule_register_task_definition(params):
    """FARGATE task definitions: networkMode awsvpc, task-level cpu and memory from the size
    table, and tags by the tag rules. ECS's messages.
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html"""
    rule_tags(params.get("tags"))
    if "FARGATE" not in (params.get("requiresCompatibilities") or []):
        return
    if params.get("networkMode") != "awsvpc":
        raise client_error("Fargate only supports network mode 'awsvpc'.")
    if not params.get("cpu"):
        raise client_error("Fargate requires that 'cpu' be defined at the task level.")
    if not params.get("memory"):
        raise client_error("Fargate requires that 'memory' be defined at the task level.")
    cpu, memory = units(params["cpu"], "vCPU", 1024), units(params["memory"], "GB", 1024)
    if memory not in FARGATE_SIZES.get(cpu, []):
        raise client_error(
            f"No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. "
            "See the Amazon ECS documentation for the valid values."
        )


def rule_network(launch_type, task_definition, network, creating):
    """networkConfiguration belongs to awsvpc task definitions, which need one; a public IP
    only on FARGATE; the task definition must be compatible with the launch type. ECS's messages.
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_AwsVpcConfiguration.html
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html"""
    mode = task_definition.network_mode if task_definition else None
    if network and mode != "awsvpc":
        raise invalid("Network Configuration is not valid for the given networkMode of this task definition.")
    if creating and mode == "awsvpc" and not network:
        raise invalid("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
    vpc = (network or {}).get("awsvpcConfiguration") or {}
    if vpc.get("assignPublicIp") == "ENABLED" and launch_type != "FARGATE":
        raise invalid("Assign public IP is not supported for this launch type.")
    if task_definition and launch_type == "FARGATE":
        required = task_definition.requires_compatibilities
        fits = mode == "awsvpc" and task_definition.cpu and task_definition.memory
        if (required and "FARGATE" not in required) or (not required and not fits):
            raise invalid("Task definition does not support launch_type FARGATE.")


FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")


def capacity(cluster, params):
    """The launch type and capacity provider strategy a CreateService or RunTask gets: the
    launchType, else the strategy given, else the cluster's default strategy ("If no
    capacityProviderStrategy or launchType is specified, the defaultCapacityProviderStrategy for
    the cluster is used"), else EC2 (a cluster without a default strategy, modelled). Each
    provider must be associated with the cluster ("Only capacity providers that are already
    associated with a cluster ... can be used in a capacity provider strategy"; message
    modelled). Items are echoed with weight and base (default 0).
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CapacityProviderStrategyItem.html"""
    if params.get("launchType") and params.get("capacityProviderStrategy"):
        # "If a launchType is specified, the capacityProviderStrategy parameter must be omitted"
        # (CreateService, RunTask; message modelled).
        raise invalid("Specifying both a launch type and capacity provider strategy is not supported.")
    if params.get("launchType"):
        return params["launchType"], []
    strategy = params.get("capacityProviderStrategy") or cluster.default_capacity_provider_strategy or []
    if not strategy:
        return "EC2", []
    associated = set(cluster.capacity_providers or [])
    for item in strategy:
        if item["capacityProvider"] not in associated:
            raise invalid(
                "The specified capacity provider strategy cannot contain a capacity provider that "
                "is not associated with the cluster. Associate the capacity provider with the "
                "cluster or specify a valid capacity provider and try again."
            )
    items = [
        {"capacityProvider": i["capacityProvider"], "weight": int(i.get("weight") or 0), "base": int(i.get("base") or 0)}
        for i in strategy
    ]
    return None, items


def runs_on(launch_type, strategy):
    """Where tasks go: FARGATE for the FARGATE launch type or Fargate providers, else EC2
    instances (an Auto Scaling group provider's instances are the cluster's container
    instances)."""
    if launch_type:
        return launch_type
    return "FARGATE" if strategy and strategy[0]["capacityProvider"] in FARGATE_PROVIDERS else "EC2"


def rule_client_token(params, limit):
    """clientToken: CreateService up to 36 ASCII characters, RunTask up to 64. Message modelled.
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html"""
    token = params.get("clientToken")
    if token is not None and (len(token) > limit or not token.isascii()):
        raise invalid(f"clientToken must be at most {limit} ASCII characters")


def rule_desired_count(params):
    """desiredCount is not negative. Message modelled.
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html"""
    if params.get("desiredCount") is not None and int(params["desiredCount"]) < 0:
        raise invalid("desiredCount cannot be negative")


def rule_update_service(service, params, backend):
    """UpdateService: only ACTIVE services; no taskDefinition or networkConfiguration for the
    CODE_DEPLOY and EXTERNAL deployment controllers; a launch type changes only to a capacity
    provider strategy, with forceNewDeployment (message modelled); network rules as above.
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html"""
    if service.status != "ACTIVE":
        raise ECSException("ServiceNotActiveException", "Service was not ACTIVE.")
    controller = (service.deployment_controller or {}).get("type", "ECS")
    if controller != "ECS" and (params.get("taskDefinition") or params.get("networkConfiguration")):
        if controller == "CODE_DEPLOY":
            raise invalid(
                "Unable to update task definition on services with a CODE_DEPLOY deployment "
                "controller. Use AWS CodeDeploy to trigger a new deployment."
            )
        raise invalid(
            "Unable to update task definition on services with a EXTERNAL deployment "
            "controller. Use task sets to deploy a new task definition."
        )
    # UpdateService has no launchType: the launch type is changed only to a capacity provider
    # strategy, and only with forceNewDeployment (as the Terraform AWS provider encodes it).
    if params.get("capacityProviderStrategy") and service.launch_type and not params.get("forceNewDeployment"):
        raise invalid(
            "Updating a service from a launch type to a capacity provider strategy requires forceNewDeployment."
        )
    rule_desired_count(params)
    if not (params.get("taskDefinition") or service.task_definition):
        return
    td = backend.describe_task_definition(params.get("taskDefinition") or service.task_definition)
    network = params.get("networkConfiguration")
    if network is None and td.network_mode == "awsvpc":
        network = service.network_configuration or None
    rule_network(runs_on(service.launch_type, getattr(service, "capacity_provider_strategy", [])), td, network, creating=True)


# ---------------------------------------------------------------------------------------------
# The scheduler.


def image_tags(task_definition):
    for container in task_definition.container_definitions:
        image = container.get("image") or ""
        yield image, image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""


def image_fails(task_definition):
    return any(tag.startswith("crash") or image in FAILING_IMAGES for image, tag in image_tags(task_definition))


def image_flaky(task_definition):
    return any(tag.startswith("flaky") for _, tag in image_tags(task_definition))


# Deployments (startedBy) that already placed the one task of a flaky image that runs.
FLAKY_STARTED = set()


def image_interrupted(task_definition):
    return any(tag.startswith("interrupted") for _, tag in image_tags(task_definition))


def requirements(task_definition):
    """What a task reserves on a container instance: the containers' cpu and memory (or
    memoryReservation), at least the task-level size, and the host ports outside awsvpc."""
    containers = task_definition.container_definitions
    need = {
        "CPU": sum(c.get("cpu") or 0 for c in containers),
        "MEMORY": sum(c.get("memory") or c.get("memoryReservation") or 0 for c in containers),
        "PORTS": [],
        "PORTS_UDP": [],
    }
    if task_definition.network_mode != "awsvpc":
        need["PORTS"] = [m["hostPort"] for c in containers for m in c.get("portMappings") or [] if m.get("hostPort")]
    if task_definition.cpu:
        need["CPU"] = max(need["CPU"], units(task_definition.cpu, "vCPU", 1024))
    if task_definition.memory:
        need["MEMORY"] = max(need["MEMORY"], units(task_definition.memory, "GB", 1024))
    return need


def free(instance, name):
    for r in instance.remaining_resources:
        if r["name"] == name:
            return r["integerValue"]
    return 0


def place(backend, cluster, task_definition, launch_type, network, group, started_by, tags, count):
    """Places up to `count` tasks; returns (tasks, failures) as RunTask reports them."""
    backend.tasks.setdefault(cluster.name, {})
    need = requirements(task_definition)
    if network:
        # ECS uses the VPC's default security group when none is given; moto needs the key.
        vpc = dict(network.get("awsvpcConfiguration") or {})
        vpc.setdefault("securityGroups", [])
        network = {**network, "awsvpcConfiguration": vpc}
    placed, failures = [], []
    for _ in range(count):
        instance = None
        if launch_type == "FARGATE" and FARGATE_TASK_LIMIT:
            live = [
                t
                for tasks in backend.tasks.values()
                for t in tasks.values()
                if t.desired_status == "RUNNING" and t.launch_type == "FARGATE"
            ]
            if len(live) >= FARGATE_TASK_LIMIT:
                failures.append({"reason": "QUOTA:TASKS"})
                continue
        if launch_type != "FARGATE":
            candidates = [
                i for i in backend.container_instances.get(cluster.name, {}).values() if i.status == "ACTIVE"
            ]
            fitting = [i for i in candidates if backend._can_be_placed(i, need)]
            if not fitting:
                if not candidates:
                    failures.append({"reason": "No Container Instances were found in your cluster."})
                else:
                    closest = max(candidates, key=lambda i: free(i, "MEMORY"))
                    short = "MEMORY" if free(closest, "MEMORY") < need["MEMORY"] else "CPU"
                    failures.append({"arn": closest.container_instance_arn, "reason": f"RESOURCE:{short}"})
                continue
            instance = fitting[0]
        task = ecs_models.Task(
            cluster,
            task_definition,
            instance.container_instance_arn if instance else None,
            need,
            backend=backend,
            group=group,
            started_by=started_by,
            tags=tags or [],
            launch_type=launch_type,
            networking_configuration=network,
        )
        if instance:
            backend.update_container_instance_resources(instance, need)
        created = now()
        task.last_status = "PENDING"
        task.created_at = created
        task._start_at = ts(created) + START_SECONDS
        task._fails = image_fails(task_definition)
        if image_flaky(task_definition):
            # The first task of a deployment runs; every later one exits 1.
            task._fails = started_by in FLAKY_STARTED
            FLAKY_STARTED.add(started_by)
        task._interrupted = image_interrupted(task_definition)
        task._secret_denied = unreadable_secret(backend, task_definition)
        for container in task.containers:
            container.last_status = "PENDING"
        backend.tasks[cluster.name][task.task_arn] = task
        placed.append(task)
    return placed, failures


def stop(backend, task, reason, code, exit_code=None):
    if task.desired_status == "STOPPED" and task.last_status == "STOPPED":
        return
    if task.container_instance_arn and task.last_status != "STOPPED":
        instance = backend.container_instances.get(task.cluster_name, {}).get(task.container_instance_arn.split("/")[-1])
        if instance:
            backend.update_container_instance_resources(instance, task.resource_requirements, removing=True)
    task.last_status = "STOPPED"
    task.desired_status = "STOPPED"
    task.stopped_reason = reason
    task.stop_code = code
    task.stopped_at = now()
    task.stopping_at = task.stopped_at
    for container in task.containers:
        container.last_status = "STOPPED"
        if exit_code is not None:
            container.exit_code = exit_code
            container.exitCode = exit_code
            container.reason = None


def unreadable_secret(backend, task_definition):
    """The first secret the execution role may not read: (action, ARN), else None. ECS reads
    the container secrets with the execution role before starting the task; identity policies
    only (inline and attached Allow statements, wildcards; no Deny, conditions or resource
    policies), which is what the controller's own check is compared with.
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/resource-initialization-error.html"""
    import fnmatch
    import json as _json
    from urllib.parse import unquote

    from moto.iam.models import iam_backends

    secrets = [s["valueFrom"] for c in task_definition.container_definitions for s in c.get("secrets") or []]
    role_arn = getattr(task_definition, "execution_role_arn", None)
    if not secrets or not role_arn:
        return None
    try:
        role = iam_backends[backend.account_id]["aws"].get_role(role_arn.split("/")[-1])
    except Exception:  # no such role: ECS fails differently; not modelled
        return None
    documents = list(role.policies.values()) + [
        v.document for p in role.managed_policies.values() for v in p.versions if v.is_default
    ]
    statements = []
    for document in documents:
        try:
            policy = _json.loads(unquote(document) if isinstance(document, str) else _json.dumps(document))
        except ValueError:
            continue
        found = policy.get("Statement", [])
        statements.extend(found if isinstance(found, list) else [found])

    def listed(value):
        return value if isinstance(value, list) else [value]

    for secret in secrets:
        action = "ssm:GetParameters" if secret.split(":")[2] == "ssm" else "secretsmanager:GetSecretValue"
        resources = [secret, secret + "-AbCdEf"]
        allowed = any(
            st.get("Effect") == "Allow"
            and any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in listed(st.get("Action", [])))
            and any(fnmatch.fnmatchcase(r, p) for p in listed(st.get("Resource", [])) for r in resources)
            for st in statements
        )
        if not allowed:
            return action, secret, role_arn
    return None


def advance_task(backend, task, moment):
    """PENDING -> RUNNING, or STOPPED: with exit code 1 when its image fails, before starting
    when the execution role cannot read a secret."""
    if task.last_status == "RUNNING" and task.desired_status == "RUNNING" and getattr(task, "_interrupted", False):
        if moment >= ts(task.started_at) + START_SECONDS:
            stop(backend, task, "Your Spot Task was interrupted.", "SpotInterruption")
            return "interrupted"
        return None
    if task.last_status != "PENDING" or task.desired_status != "RUNNING":
        return None
    if moment < getattr(task, "_start_at", 0):
        return None
    denied = getattr(task, "_secret_denied", None)
    if denied:
        action, secret, role = denied
        account = role.split(":")[4]
        stop(
            backend,
            task,
            "ResourceInitializationError: unable to pull secrets or registry auth: execution "
            "resource retrieval failed: unable to retrieve secret from asm: service call has been "
            f"retried 1 time(s): AccessDeniedException: User: arn:aws:sts::{account}:assumed-role/"
            f"{role.split('/')[-1]}/{task.id} is not authorized to perform: {action} on resource: "
            f"{secret} because no identity-based policy allows the {action} action",
            "TaskFailedToStart",
        )
        return "failed"
    if getattr(task, "_fails", False):
        stop(backend, task, "Essential container in task exited", "EssentialContainerExited", exit_code=1)
        return "failed"
    task.last_status = "RUNNING"
    task.started_at = now()
    for container in task.containers:
        container.last_status = "RUNNING"
    return "started"


def service_event(service, message):
    if service.events and service.events[0]["message"] == message:
        return
    service.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": now(), "message": message})
    del service.events[100:]


def breaker(service):
    config = getattr(service, "deployment_configuration", None) or {}
    b = config.get("deploymentCircuitBreaker") or {}
    return bool(b.get("enable")), bool(b.get("rollback"))


# Service revisions and service deployments (ListServiceDeployments, DescribeServiceDeployments,
# DescribeServiceRevisions): one revision per deployment started, one service deployment per
# deployment the service starts; a circuit-breaker rollback is part of the service deployment it
# rolls back (ROLLBACK_IN_PROGRESS, then ROLLBACK_SUCCESSFUL), whose `rollback.serviceRevisionArn`
# is "the service revision deployed as part of the rollback".
# https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeployment.html
# https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Rollback.html
REVISIONS = {}
SERVICE_DEPLOYMENTS = {}


def history_arn(service, kind):
    prefix = service.arn.split(":service/")[0]
    cluster = service.cluster_arn.split("/")[-1]
    return f"{prefix}:{kind}/{cluster}/{service.name}/{uuid.uuid4().hex[:20]}"


def new_revision(service, task_definition_arn, moment):
    arn = history_arn(service, "service-revision")
    REVISIONS[arn] = {
        "serviceRevisionArn": arn,
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "taskDefinition": task_definition_arn,
        "launchType": service.launch_type,
        "createdAt": moment,
    }
    return arn


def start_service_deployment(service, primary, moment):
    """The service deployment of a new deployment, from the revisions running before it."""
    sources = [d["_revision"] for d in service.deployments[1:] if d.get("_revision")]
    arn = history_arn(service, "service-deployment")
    SERVICE_DEPLOYMENTS[arn] = {
        "serviceDeploymentArn": arn,
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "createdAt": moment,
        "startedAt": moment,
        "updatedAt": moment,
        "sourceServiceRevisions": [{"arn": a} for a in dict.fromkeys(sources)],
        "targetServiceRevision": {"arn": primary["_revision"]},
        "status": "IN_PROGRESS",
    }
    primary["_service_deployment"] = arn


def service_deployment_status(deployment, status, moment, reason=None):
    record = SERVICE_DEPLOYMENTS.get(deployment.get("_service_deployment"))
    if record is None:
        return None
    record["status"] = status
    record["updatedAt"] = moment
    if status in ("SUCCESSFUL", "ROLLBACK_SUCCESSFUL", "STOPPED", "ROLLBACK_FAILED"):
        record["finishedAt"] = moment
    if reason:
        record["statusReason"] = reason
    return record


def new_deployment(service, task_definition_arn, network, reason="in progress", rollback_of=None):
    deployment_id = f"ecs-svc/{uuid.uuid4().int % 10**19:019d}"
    moment = now()
    for d in service.deployments:
        if d["status"] == "PRIMARY":
            d["status"] = "ACTIVE"
    service.deployments.insert(
        0,
        {
            "id": deployment_id,
            "status": "PRIMARY",
            "taskDefinition": task_definition_arn,
            "desiredCount": service.desired_count,
            "pendingCount": 0,
            "runningCount": 0,
            "failedTasks": 0,
            "createdAt": moment,
            "updatedAt": moment,
            "launchType": service.launch_type,
            "networkConfiguration": network or None,
            "rolloutState": "IN_PROGRESS",
            "rolloutStateReason": f"ECS deployment {deployment_id} {reason}.",
        },
    )
    service.task_definition = task_definition_arn
    primary = service.deployments[0]
    primary["_revision"] = new_revision(service, task_definition_arn, moment)
    if rollback_of is None:
        start_service_deployment(service, primary, moment)
    else:
        # The rollback belongs to the service deployment it rolls back.
        primary["_service_deployment"] = rollback_of.get("_service_deployment")
    return primary


def tick_service(backend, cluster, service, moment, tasks=None):
    if tasks is None:
        tasks = [t for t in backend.tasks.get(cluster.name, {}).values() if t.group == f"service:{service.name}"]
    by_deployment = {}
    for task in tasks:
        outcome = advance_task(backend, task, moment)
        for d in service.deployments:
            if d["id"] != task.started_by:
                continue
            # Deployment.failedTasks (API reference): "Once a service deployment has one or more
            # successfully running tasks, the failed task count resets to zero and stops being
            # evaluated."
            if outcome == "started":
                d["_ran"] = True
                d["failedTasks"] = 0
            elif outcome == "failed" and not d.get("_ran"):
                d["failedTasks"] += 1
        if outcome == "failed":
            service_event(service, f"(service {service.name}) has stopped 1 running tasks: (task {task.id}).")
        by_deployment.setdefault(task.started_by, []).append(task)
    live = {d: [t for t in ts_ if t.desired_status == "RUNNING"] for d, ts_ in by_deployment.items()}

    if service.status != "ACTIVE":
        for task in tasks:
            if task.desired_status == "RUNNING":
                stop(backend, task, "Service deleted", "ServiceSchedulerInitiated")
        if service.status == "DRAINING" and moment >= service._inactive_at:
            service.status = "INACTIVE"
        service.deployments = [d for d in service.deployments if d["status"] == "PRIMARY"]
        count(service, tasks)
        return

    primary = service.deployments[0] if service.deployments else None
    if primary is None:
        return
    enabled, rollback = breaker(service)
    threshold = min(max((primary["desiredCount"] + 1) // 2, 3), 200)
    if (
        enabled
        and primary["rolloutState"] == "IN_PROGRESS"
        and not primary.get("_ran")
        and primary["failedTasks"] >= threshold
    ):
        primary["rolloutState"] = "FAILED"
        primary["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
        service_event(
            service,
            f"(service {service.name}) (deployment {primary['id']}) deployment failed: tasks failed to start.",
        )
        last_good = getattr(service, "_last_completed_td", None)
        moment_now = now()
        if rollback and last_good and last_good != primary["taskDefinition"]:
            failed = primary
            primary = new_deployment(
                service, last_good, failed.get("networkConfiguration"), "rolling back", rollback_of=failed
            )
            # The reason ECS documents for a circuit-breaker rollback (deployment-circuit-breaker.html).
            reason = f"ECS deployment circuit breaker: rolling back to deploymentId {primary['id']}."
            failed["rolloutStateReason"] = reason
            record = service_deployment_status(failed, "ROLLBACK_IN_PROGRESS", moment_now, reason)
            if record is not None:
                record["rollback"] = {
                    "reason": reason,
                    "startedAt": moment_now,
                    "serviceRevisionArn": primary["_revision"],
                }
        else:
            service_deployment_status(primary, "STOPPED", moment_now, primary["rolloutStateReason"])

    mine = live.get(primary["id"], [])
    if primary["rolloutState"] != "FAILED":
        missing = primary["desiredCount"] - len(mine)
        if missing > 0:
            td = backend.describe_task_definition(primary["taskDefinition"])
            placed, failures = place(
                backend,
                cluster,
                td,
                runs_on(service.launch_type, getattr(service, "capacity_provider_strategy", [])),
                primary.get("networkConfiguration") or service.network_configuration or None,
                f"service:{service.name}",
                primary["id"],
                [],
                missing,
            )
            mine = mine + placed
            tasks = tasks + placed
            for failure in failures[:1]:
                if failure["reason"] == "QUOTA:TASKS":
                    # service-event-messages-list.html: "service (service-name) was unable to
                    # place a task. Reason: You've reached the limit on the number of tasks you
                    # can run concurrently" (the rest of the message modelled).
                    service_event(
                        service,
                        f"(service {service.name}) was unable to place a task. Reason: You've reached "
                        "the limit on the number of tasks you can run concurrently. For more "
                        "information, see the Troubleshooting section of the Amazon ECS Developer Guide.",
                    )
                elif failure.get("arn"):
                    kind = "memory" if failure["reason"] == "RESOURCE:MEMORY" else "CPU"
                    service_event(
                        service,
                        f"(service {service.name}) was unable to place a task because no container "
                        f"instance met all of its requirements. The closest matching (container-instance "
                        f"{failure['arn'].split('/')[-1]}) has insufficient {kind} available. For more "
                        "information, see the Troubleshooting section of the Amazon ECS Developer Guide.",
                    )
                else:
                    service_event(
                        service,
                        f"(service {service.name}) was unable to place a task because no container "
                        "instance met all of its requirements. Reason: No Container Instances were "
                        "found in your cluster. For more information, see the Troubleshooting section "
                        "of the Amazon ECS Developer Guide.",
                    )
        for extra in mine[primary["desiredCount"]:] if missing < 0 else []:
            stop(backend, extra, f"Scaling activity initiated by (deployment {primary['id']})", "ServiceSchedulerInitiated")
    running = [t for t in mine if t.last_status == "RUNNING" and t.desired_status == "RUNNING"]
    if len(running) >= primary["desiredCount"]:
        for d in service.deployments[1:]:
            for task in live.get(d["id"], []):
                stop(backend, task, f"Scaling activity initiated by (deployment {primary['id']})", "ServiceSchedulerInitiated")
        if len(running) >= primary["desiredCount"]:
            service.deployments[1:] = []
    if (
        primary["rolloutState"] == "IN_PROGRESS"
        and len(running) == primary["desiredCount"]
        and len(service.deployments) == 1
    ):
        primary["rolloutState"] = "COMPLETED"
        primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
        record = SERVICE_DEPLOYMENTS.get(primary.get("_service_deployment"))
        rolled_back = record is not None and record["status"] == "ROLLBACK_IN_PROGRESS"
        service_deployment_status(primary, "ROLLBACK_SUCCESSFUL" if rolled_back else "SUCCESSFUL", now())
        service._last_completed_td = primary["taskDefinition"]
        service_event(service, f"(service {service.name}) (deployment {primary['id']}) deployment completed.")
        service_event(service, f"(service {service.name}) has reached a steady state.")
    count(service, tasks)
    trim_stopped(backend, cluster, tasks)
    # Nothing changes for a settled service until a request touches it or its tasks.
    service._settled = (
        len(service.deployments) == 1
        and primary["rolloutState"] != "IN_PROGRESS"
        and service.pending_count == 0
        and service.running_count == primary["desiredCount"]
        and not any(getattr(t, "_interrupted", False) and t.desired_status == "RUNNING" for t in tasks)
    )


def count(service, tasks):
    total_running = total_pending = 0
    for d in service.deployments:
        own = [t for t in tasks if t.started_by == d["id"] and t.desired_status == "RUNNING"]
        d["runningCount"] = sum(1 for t in own if t.last_status == "RUNNING")
        d["pendingCount"] = sum(1 for t in own if t.last_status == "PENDING")
        total_running += d["runningCount"]
        total_pending += d["pendingCount"]
    service.running_count, service.pending_count = total_running, total_pending


def trim_stopped(backend, cluster, tasks):
    stopped = sorted((t for t in tasks if t.last_status == "STOPPED"), key=lambda t: ts(t.stopped_at))
    for task in stopped[:-STOPPED_KEPT]:
        backend.tasks[cluster.name].pop(task.task_arn, None)


def tick(backend):
    """Brings the account/region up to now: O(services + tasks) per request."""
    moment = ts(now())
    by_group = {}
    for cluster in list(backend.clusters.values()):
        for task in list(backend.tasks.get(cluster.name, {}).values()):
            group = task.group or ""
            if group.startswith("service:"):
                by_group.setdefault((cluster.name, group), []).append(task)
            else:
                advance_task(backend, task, moment)
    for service in list(backend.services.values()):
        cluster = backend.clusters.get(service.cluster_name)
        if cluster and service.status != "INACTIVE" and not getattr(service, "_settled", False):
            tasks = by_group.get((cluster.name, f"service:{service.name}"), [])
            tick_service(backend, cluster, service, moment, tasks)


# ---------------------------------------------------------------------------------------------
# The API: moto's response handlers, wrapped.


def rule_assume_role(caller_account, caller_arn, role_arn, external_id):
    """The refusal of an AssumeRole the role's trust policy does not allow, or None (API_AssumeRole.html;
    the message is AWS's AccessDenied wording)."""
    import json
    from urllib.parse import unquote

    from moto.iam.models import iam_backends

    denied = f"User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    parts = (role_arn or "").split(":")
    if len(parts) < 6:
        return denied
    try:
        role = iam_backends[parts[4]][parts[1]].get_role_by_arn(role_arn)
    except Exception:  # no such role in that account
        return denied
    document = role.assume_role_policy_document or "{}"
    try:
        policy = json.loads(unquote(document) if document.lstrip().startswith("%") else document)
    except ValueError:
        return denied
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    accepted = {"*", caller_account, f"arn:aws:iam::{caller_account}:root", caller_arn}
    for statement in statements:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if statement.get("Effect") != "Allow" or not {"sts:AssumeRole", "sts:*", "*"} & set(actions):
            continue
        principal = statement.get("Principal", {})
        aws = principal.get("AWS", []) if isinstance(principal, dict) else principal
        aws = [aws] if isinstance(aws, str) else aws
        if not accepted & set(aws):
            continue
        wanted = statement.get("Condition", {}).get("StringEquals", {}).get("sts:ExternalId")
        if wanted is not None and external_id not in ([wanted] if isinstance(wanted, str) else wanted):
            continue
        return None
    return denied


def page(items, params, default):
    start = int(base64.b64decode(params["nextToken"]).decode()) if params.get("nextToken") else 0
    size = int(params.get("maxResults") or default)
    chunk = items[start : start + size]
    token = base64.b64encode(str(start + size).encode()).decode() if start + size < len(items) else None
    return chunk, token


def install():
    """Patches moto's ECS in this process."""
    from moto.core.responses import ActionResult
    from moto.core.utils import camelcase_to_underscores
    from moto.moto_api import state_manager

    # Task states are this module's; moto's own per-describe progression is off.
    state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10**9})

    Response = ecs_responses.EC2ContainerServiceResponse
    Backend = ecs_models.EC2ContainerServiceBackend
    original_call = Response.call_action

    def call_action(self):
        with LOCK:
            tick(self.ecs_backend)
            # The body as sent: moto's params are already parsed with the model (types coerced,
            # unknown members dropped).
            refusal = model_refusal(self._get_action(), raw_body(self.body))
            if refusal is not None:
                # Raised from this request's handler, so that moto answers it as ECS's error.
                def refuse():
                    raise refusal

                setattr(self, camelcase_to_underscores(self._get_action()), refuse)
            return original_call(self)

    Response.call_action = call_action

    # The other services the controller calls, against their own models (ecs_model.py).
    from moto.core.exceptions import ServiceException
    from moto.core.responses import BaseResponse

    import ecs_model

    base_call = BaseResponse.call_action

    class LocalModelViolation(ServiceException):
        """The endpoint's own error (its module is not moto's: serialized with the service's
        model, whatever the code)."""

        code = "LocalModelViolation"

    def checked_call(self):
        service = getattr(self, "service_name", None)
        if service in ecs_model.CHECKED and service != "ecs":
            action = self._get_action()
            if ecs_model.service_model(service).metadata["protocol"] == "query":
                found = ecs_model.query_problems(service, action, self.querystring)
            else:
                found = ecs_model.problems(action, raw_body(getattr(self, "raw_body", b"")), service)
            if found:
                # Answered here, before moto reads the request for itself (it may not cope).
                return self.serialized(ActionResult(LocalModelViolation("; ".join(found))))
        return base_call(self)

    BaseResponse.call_action = checked_call

    def params(self):
        return self._get_params()

    def cluster_of(self, p):
        return self.ecs_backend._get_cluster(p.get("cluster") or "default")

    def register_task_definition(self, original=Response.register_task_definition):
        rule_register_task_definition(params(self))
        return original(self)

    def create_service(self):
        p = params(self)
        backend = self.ecs_backend
        cluster = cluster_of(self, p)
        rule_tags(p.get("tags"))
        rule_desired_count(p)
        rule_client_token(p, 36)
        launch_type, strategy = capacity(cluster, p)
        td = backend.describe_task_definition(p["taskDefinition"]) if p.get("taskDefinition") else None
        fingerprint = {k: v for k, v in p.items() if k != "clientToken"}
        existing = backend.services.get(f"{cluster.name}:{p['serviceName']}")
        if existing is not None and existing.status == "DRAINING":
            # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeleteService.html
            raise invalid("Unable to Start a service that is still Draining.")
        if existing is not None and existing.status == "ACTIVE":
            # Same parameters: ECS answers with the existing service; otherwise it refuses.
            # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html
            if getattr(existing, "_fingerprint", None) == fingerprint:
                return ActionResult({"service": existing})
            raise invalid("Creation of service was not idempotent.")
        rule_network(runs_on(launch_type, strategy), td, p.get("networkConfiguration"), creating=True)
        service = backend.create_service(
            p.get("cluster") or "default",
            p["serviceName"],
            p.get("desiredCount"),
            p.get("taskDefinition"),
            p.get("loadBalancers"),
            p.get("schedulingStrategy"),
            p.get("tags"),
            p.get("deploymentController"),
            launch_type,
            network_configuration=p.get("networkConfiguration"),
            service_registries=p.get("serviceRegistries"),
            platform_version=p.get("platformVersion"),
            propagate_tags=p.get("propagateTags") or "NONE",
            role_arn=p.get("role"),
        )
        # moto keeps no strategy and makes every service EC2: the answer's members are read from
        # these attributes.
        service.launch_type = launch_type
        service.capacity_provider_strategy = strategy
        service._fingerprint = fingerprint
        service._visible_at = time.time() + VISIBLE_AFTER
        service.deployment_configuration = p.get("deploymentConfiguration") or {
            "deploymentCircuitBreaker": {"enable": False, "rollback": False},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
        }
        service.enable_execute_command = bool(p.get("enableExecuteCommand"))
        service.created_at = now()
        service.running_count = service.pending_count = 0
        service.events = []
        service.deployments = []
        if service.deployment_controller.get("type", "ECS") == "ECS" and td:
            new_deployment(service, td.arn, p.get("networkConfiguration"))
        tick_service(backend, cluster, service, ts(now()))
        return ActionResult({"service": service})

    def update_service(self):
        p = params(self)
        backend = self.ecs_backend
        cluster = cluster_of(self, p)
        service = backend._get_service(cluster.name, p["service"])
        rule_update_service(service, p, backend)
        service._settled = False
        before_td, before_net = service.task_definition, service.network_configuration
        if p.get("desiredCount") is not None:
            service.desired_count = int(p["desiredCount"])
        if p.get("deploymentConfiguration"):
            service.deployment_configuration = p["deploymentConfiguration"]
        if p.get("enableExecuteCommand") is not None:
            service.enable_execute_command = bool(p["enableExecuteCommand"])
        if p.get("platformVersion"):
            service.platform_version = p["platformVersion"]
        if p.get("capacityProviderStrategy") is not None:
            # An empty list goes back to the launch type (UpdateServiceRequest); which one is not
            # said (modelled: EC2).
            strategy = []
            if p["capacityProviderStrategy"]:
                _, strategy = capacity(cluster, {"capacityProviderStrategy": p["capacityProviderStrategy"]})
            service.launch_type = None if strategy else "EC2"
            service.capacity_provider_strategy = strategy
        td_arn = backend.describe_task_definition(p["taskDefinition"]).arn if p.get("taskDefinition") else before_td
        network = p["networkConfiguration"] if p.get("networkConfiguration") else before_net
        # UpdateServiceRequest (botocore's ecs/2014-11-13/service-2.json): taskDefinition,
        # networkConfiguration and platformVersion: "This parameter triggers a new service
        # deployment." (whether or not the value differs); desiredCount, deploymentConfiguration,
        # placementStrategy, enableExecuteCommand, propagateTags: "This parameter doesn't trigger
        # a new service deployment." forceNewDeployment: "start a new deployment with no service
        # definition changes".
        carried = [m for m in ("taskDefinition", "networkConfiguration", "platformVersion") if p.get(m)]
        if carried or p.get("forceNewDeployment"):
            service.network_configuration = network or {}
            new_deployment(service, td_arn, network)
        elif service.deployments:
            service.deployments[0]["desiredCount"] = service.desired_count
            if service.deployments[0]["rolloutState"] == "COMPLETED":
                service.deployments[0]["rolloutState"] = "IN_PROGRESS"
        for d in service.deployments[:1]:
            d["desiredCount"] = service.desired_count
        tick_service(backend, cluster, service, ts(now()))
        return ActionResult({"service": service})

    def delete_service(self):
        p = params(self)
        backend = self.ecs_backend
        cluster = cluster_of(self, p)
        service = backend._get_service(cluster.name, p["service"])
        if service.status != "ACTIVE":
            raise ECSException("ServiceNotActiveException", "Service was not ACTIVE.")
        if service.desired_count > 0 and not p.get("force"):
            raise invalid("The service cannot be stopped while it is scaled above 0.")
        service.status = "DRAINING"
        service._settled = False
        service.desired_count = 0
        service._inactive_at = ts(now()) + DRAIN_SECONDS
        tick_service(backend, cluster, service, ts(now()))
        return ActionResult({"service": service})

    def list_services(self):
        p = params(self)
        rule_max_results(p)
        cluster = cluster_of(self, p)
        arns = sorted(
            s.arn
            for s in self.ecs_backend.services.values()
            if s.cluster_name == cluster.name
            and s.status == "ACTIVE"
            and visible(s)
            and (not p.get("launchType") or s.launch_type == p["launchType"])
            and (not p.get("schedulingStrategy") or s.scheduling_strategy == p["schedulingStrategy"])
        )
        chunk, token = page(arns, p, 10)
        return ActionResult({"serviceArns": chunk, "nextToken": token})

    def describe_services(self, original=Response.describe_services):
        p = params(self)
        rule_describe_services(p)
        names = p.get("services") or []
        cluster = cluster_of(self, p)

        def failure(name):
            """The failure reason a name is answered with instead of its service, if any."""
            short = name.rsplit("/", 1)[-1]
            if short in DESCRIBE_FAILURES:
                return DESCRIBE_FAILURES[short]
            service = self.ecs_backend.services.get(f"{cluster.name}:{short}")
            return None if service is None or visible(service) else "MISSING"

        refused = {n: reason for n in names if (reason := failure(n))}
        if not refused:
            return original(self)
        asked = [n for n in names if n not in refused]
        services, failures = self.ecs_backend.describe_services(cluster.name, asked)
        for name, reason in refused.items():
            short = name.rsplit("/", 1)[-1]
            arn = f"arn:aws:ecs:{self.region}:{self.current_account}:service/{cluster.name}/{short}"
            failures.append({"arn": arn, "reason": reason})
        if "TAGS" in (p.get("include") or []):
            self._include_in_response(ecs_responses.DESCRIBE_SERVICES_TAGS)
        else:
            self._exclude_from_response(ecs_responses.DESCRIBE_SERVICES_TAGS)
        return ActionResult({"services": services, "failures": failures})

    def list_tasks(self):
        p = params(self)
        rule_list_tasks(p)
        backend = self.ecs_backend
        cluster = cluster_of(self, p)
        wanted = p.get("desiredStatus") or "RUNNING"
        families = None
        if p.get("family"):
            families = set(backend.list_task_definitions(p["family"]))
        arns = []
        for task in backend.tasks.get(cluster.name, {}).values():
            if task.desired_status != wanted or not visible(task):
                continue
            if p.get("startedBy") and task.started_by != p["startedBy"]:
                continue
            if p.get("serviceName") and task.group != f"service:{p['serviceName'].split('/')[-1]}":
                continue
            if families is not None and task.task_definition_arn not in families:
                continue
            if p.get("containerInstance") and p["containerInstance"] not in (task.container_instance_arn or ""):
                continue
            arns.append(task.task_arn)
        chunk, token = page(arns, p, 100)
        return ActionResult({"taskArns": chunk, "nextToken": token})

    tokens = {}

    def run_task(self):
        p = params(self)
        backend = self.ecs_backend
        cluster = cluster_of(self, p)
        rule_tags(p.get("tags"))
        rule_client_token(p, 64)
        count_ = int(p.get("count") or 1)
        if not 1 <= count_ <= 10:
            # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html (message modelled)
            raise invalid("count must be between 1 and 10")
        key = (backend.account_id, backend.region_name, p.get("clientToken"))
        if p.get("clientToken") and key in tokens:
            tasks, failures = tokens[key]
            return ActionResult({"tasks": tasks, "failures": failures})
        td = backend.describe_task_definition(p["taskDefinition"])
        launch_type, strategy = capacity(cluster, p)
        launch_type = runs_on(launch_type, strategy)
        rule_network(launch_type, td, p.get("networkConfiguration"), creating=True)
        group = p.get("group") or f"family:{td.family}"
        tasks, failures = place(
            backend, cluster, td, launch_type, p.get("networkConfiguration"), group,
            p.get("startedBy") or "", p.get("tags"), count_,
        )
        for task in tasks:
            task._visible_at = time.time() + VISIBLE_AFTER
        if p.get("clientToken"):
            tokens[key] = (tasks, failures)
        return ActionResult({"tasks": tasks, "failures": failures})

    def stop_task(self):
        p = params(self)
        backend = self.ecs_backend
        cluster = cluster_of(self, p)
        task_id = p["task"].split("/")[-1]
        for arn, task in backend.tasks.get(cluster.name, {}).items():
            if arn.endswith(task_id):
                stop(backend, task, p.get("reason") or "Task stopped by user", "UserInitiated")
                for service in backend.services.values():
                    if task.group == f"service:{service.name}" and service.cluster_name == cluster.name:
                        service._settled = False
                return ActionResult({"task": task})
        # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_StopTask.html
        raise invalid("The referenced task was not found.")

    def tag_resource(self, original=Response.tag_resource):
        p = params(self)
        existing = []
        try:
            existing = [t["key"] for t in self.ecs_backend.list_tags_for_resource(p["resourceArn"])]
        except Exception:  # moto raises its own not-found error below
            pass
        rule_tags(p.get("tags"), existing)
        return original(self)

    def untag_resource(self, original=Response.untag_resource):
        for key in params(self).get("tagKeys") or []:
            if key.lower().startswith("aws:"):
                # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Tag.html
                raise invalid(f"Tag keys with the reserved prefix 'aws:' cannot be removed: '{key}'")
        return original(self)

    def list_service_deployments(self):
        """The service's deployments with one of `status`, newest first, at most maxResults
        (default 20). https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListServiceDeployments.html"""
        p = params(self)
        cluster = cluster_of(self, p)
        service = self.ecs_backend._get_service(cluster.name, p["service"])
        wanted = set(p.get("status") or [])
        found = [
            d
            for d in SERVICE_DEPLOYMENTS.values()
            if d["serviceArn"] == service.arn and (not wanted or d["status"] in wanted)
        ]
        found.sort(key=lambda d: d["createdAt"], reverse=True)
        brief = [
            {
                "serviceDeploymentArn": d["serviceDeploymentArn"],
                "serviceArn": d["serviceArn"],
                "clusterArn": d["clusterArn"],
                "createdAt": d["createdAt"],
                "startedAt": d.get("startedAt"),
                "finishedAt": d.get("finishedAt"),
                "targetServiceRevisionArn": d["targetServiceRevision"]["arn"],
                "status": d["status"],
                "statusReason": d.get("statusReason"),
            }
            for d in found[: int(p.get("maxResults") or 20)]
        ]
        return ActionResult({"serviceDeployments": brief})

    def describe_service_deployments(self):
        """https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeServiceDeployments.html"""
        arns = params(self).get("serviceDeploymentArns") or []
        found = [SERVICE_DEPLOYMENTS[a] for a in arns if a in SERVICE_DEPLOYMENTS]
        failures = [{"arn": a, "reason": "MISSING"} for a in arns if a not in SERVICE_DEPLOYMENTS]
        return ActionResult({"serviceDeployments": found, "failures": failures})

    def describe_service_revisions(self):
        """https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeServiceRevisions.html"""
        arns = params(self).get("serviceRevisionArns") or []
        found = [REVISIONS[a] for a in arns if a in REVISIONS]
        failures = [{"arn": a, "reason": "MISSING"} for a in arns if a not in REVISIONS]
        return ActionResult({"serviceRevisions": found, "failures": failures})

    for name, handler in {
        "list_service_deployments": list_service_deployments,
        "describe_service_deployments": describe_service_deployments,
        "describe_service_revisions": describe_service_revisions,
        "register_task_definition": register_task_definition,
        "create_service": create_service,
        "update_service": update_service,
        "delete_service": delete_service,
        "list_services": list_services,
        "describe_services": describe_services,
        "list_tasks": list_tasks,
        "run_task": run_task,
        "stop_task": stop_task,
        "tag_resource": tag_resource,
        "untag_resource": untag_resource,
    }.items():
        setattr(Response, name, handler)
    _ = Backend  # the backend's own methods stay moto's; the handlers above call them

    from moto.sts import responses as sts_responses
    from moto.sts.exceptions import STSClientError

    class AccessDenied(STSClientError):
        code = "AccessDenied"

    original_assume_role = sts_responses.TokenResponse.assume_role

    def assume_role(self):
        _, caller_arn, caller_account = self.backend.get_caller_identity(self.get_access_key(), self.region)
        refusal = rule_assume_role(
            caller_account, caller_arn, self._get_param("RoleArn"), self._get_param("ExternalId")
        )
        if refusal:
            raise AccessDenied(refusal)
        return original_assume_role(self)

    sts_responses.TokenResponse.assume_role = assume_role
