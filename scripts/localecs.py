"""The local ECS endpoint (a pinned moto server) for the demo and the benchmarks.

Run with the project virtualenv's Python (`make setup` creates it):
    localecs.py serve HOST PORT   run the endpoint in this process: moto with ECS's behaviour
                                  (scripts/ecs_behaviour.py); LOCALECS_PLAIN=1 for plain moto
    localecs.py start DIR         start `serve` on a free loopback port; writes DIR/url, DIR/pid
    localecs.py demo-setup URL    clusters, IAM roles and the token secret the examples name
    localecs.py network URL       "SUBNET SECURITY_GROUP" of moto's default VPC
    localecs.py summary URL       the services and task definitions the demo created
    localecs.py stop DIR          stop the server started in DIR
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import boto3

REGION = "us-east-1"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(directory, record=None):
    """Starts `serve` in a child process on a free loopback port."""
    os.makedirs(directory, exist_ok=True)
    port = free_port()
    env = dict(os.environ)
    if record:
        env["MOTO_ENABLE_RECORDING"] = "true"
        env["MOTO_RECORDER_FILEPATH"] = record
    log = open(os.path.join(directory, "moto.log"), "w")
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "serve", "127.0.0.1", str(port)],
        stdout=log,
        stderr=log,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).read()
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                raise SystemExit(f"moto did not start; see {directory}/moto.log")
            time.sleep(0.1)
    with open(os.path.join(directory, "url"), "w") as f:
        f.write(url)
    with open(os.path.join(directory, "pid"), "w") as f:
        f.write(str(proc.pid))
    return proc, url


def serve(host, port):
    """The endpoint in this process: moto's server with ECS's behaviour patched in."""
    from moto import server

    if os.environ.get("LOCALECS_PLAIN") != "1":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import ecs_behaviour

        ecs_behaviour.install()
    else:
        # Plain moto: standalone tasks stay RUNNING instead of advancing on every DescribeTasks.
        from moto.moto_api import state_manager

        state_manager.set_transition(
            model_name="ecs::task", transition={"progression": "manual", "times": 1000000}
        )
    server.main(["-H", host, "-p", str(port)])


def client(service, url, region=REGION):
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def network(url):
    ec2 = client("ec2", url)
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    group = ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"]
    return subnet, group


# What an execution role needs to read the delegate token (ECS fetches it before the task starts).
READ_TOKEN = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue", "ssm:GetParameters"],
            "Resource": "*",
        }
    ],
}


def create_roles(url, names=("ecsTaskExecutionRole", "delegate-task-role")):
    iam = client("iam", url)
    for role in names:
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST))
        iam.put_role_policy(RoleName=role, PolicyName="read-delegate-token", PolicyDocument=json.dumps(READ_TOKEN))
        print(f"  IAM role      {role} (trusts ecs-tasks.amazonaws.com, may read the token)")


def register_instance(url, cluster):
    """An EC2 instance in moto's EC2, registered as a container instance (4096 CPU, 7482 MiB)."""
    ec2, ecs = client("ec2", url), client("ecs", url)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
    document = json.dumps({"instanceId": instance["InstanceId"], "region": REGION})
    ecs.register_container_instance(cluster=cluster, instanceIdentityDocument=document)
    return instance["InstanceId"]


def demo_setup(url):
    ecs = client("ecs", url)
    ecs.create_cluster(clusterName="delegates")
    print("  cluster       delegates")
    # examples/fargate-spot.yaml's providers are associated with its cluster.
    ecs.create_cluster(clusterName="delegates-fargate", capacityProviders=["FARGATE", "FARGATE_SPOT"])
    print("  cluster       delegates-fargate (capacity providers FARGATE, FARGATE_SPOT)")
    # Room for the four EC2 delegates of the examples (up to 6144 MiB each; 7482 per instance).
    for _ in range(4):
        instance = register_instance(url, "delegates")
        print(f"  container instance {instance} in delegates (4096 CPU units, 7482 MiB)")
    create_roles(url)
    sm = client("secretsmanager", url)
    for name in ("delegate-token", "firstgen-account-secret"):
        arn = sm.create_secret(Name=name, SecretString="not-a-real-token")["ARN"]
        print(f"  secret        {arn}")
    ssm = client("ssm", url)
    ssm.put_parameter(Name="/harness/delegate-token", Value="not-a-real-token", Type="SecureString")
    print("  SSM parameter /harness/delegate-token")
    other_account_setup(url)


# The account of examples/other-account.yaml, reached through a role (README "Several accounts").
OTHER_ACCOUNT, OTHER_REGION, OTHER_EXTERNAL_ID = "111122223333", "eu-west-1", "edc-6f1e0c3a"


def in_account(name, url, account, region=REGION):
    """A client acting in another account of the endpoint (moto's x-moto-account-id), as that
    account's administrator would."""
    c = client(name, url, region)
    c.meta.events.register("before-sign.*.*", lambda request, **_: request.headers.__setitem__("x-moto-account-id", account))
    return c


def other_account_setup(url):
    iam = in_account("iam", url, OTHER_ACCOUNT)
    with open(os.path.join(os.path.dirname(__file__), "..", "deploy", "target-account-trust.json")) as f:
        trust = json.load(f)
    statement = trust["Statement"][0]
    statement["Principal"]["AWS"] = "arn:aws:iam::123456789012:root"
    statement["Condition"]["StringEquals"]["sts:ExternalId"] = OTHER_EXTERNAL_ID
    iam.create_role(RoleName="ecs-delegate-controller-target", AssumeRolePolicyDocument=json.dumps(trust))
    print(f"  account {OTHER_ACCOUNT}: role ecs-delegate-controller-target (trusts 123456789012 with external id {OTHER_EXTERNAL_ID})")
    for role in ("ecsTaskExecutionRole",):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST))
        iam.put_role_policy(RoleName=role, PolicyName="read-delegate-token", PolicyDocument=json.dumps(READ_TOKEN))
        print(f"  account {OTHER_ACCOUNT}: IAM role {role}")
    in_account("ecs", url, OTHER_ACCOUNT, OTHER_REGION).create_cluster(clusterName="delegates-fargate")
    print(f"  account {OTHER_ACCOUNT}: cluster delegates-fargate in {OTHER_REGION}")
    arn = in_account("secretsmanager", url, OTHER_ACCOUNT, OTHER_REGION).create_secret(
        Name="delegate-token", SecretString="not-a-real-token"
    )["ARN"]
    print(f"  account {OTHER_ACCOUNT}: secret {arn}")


def other_network(url):
    ec2 = in_account("ec2", url, OTHER_ACCOUNT, OTHER_REGION)
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    group = ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"]
    return subnet, group


def summary(url):
    ecs = client("ecs", url)
    for cluster in ecs.list_clusters()["clusterArns"]:
        arns = ecs.list_services(cluster=cluster)["serviceArns"]
        if not arns:
            continue
        services = ecs.describe_services(cluster=cluster, services=arns[:10], include=["TAGS"])
        for s in services["services"]:
            tags = {t["key"]: t["value"] for t in s.get("tags", [])}
            td = s["taskDefinition"].split("/")[-1]
            providers = "+".join(i["capacityProvider"] for i in s.get("capacityProviderStrategy") or [])
            print(
                f"  {cluster.split('/')[-1]:<18} {s['serviceName']:<18} desired={s['desiredCount']} "
                f"running={s['runningCount']} "
                f"{s.get('launchType') or providers:<8} {td:<22} managed-by={tags.get('ecs-delegate-controller.io/managed-by')}"
            )


def stop(directory):
    try:
        with open(os.path.join(directory, "pid")) as f:
            os.kill(int(f.read()), 15)
    except (OSError, ValueError):
        pass


def main():
    command, arg = sys.argv[1], sys.argv[2]
    if command == "serve":
        serve(arg, sys.argv[3])
    elif command == "start":
        proc, url = start(arg)
        print(url)
    elif command == "demo-setup":
        demo_setup(arg)
    elif command == "network":
        print(*network(arg))
    elif command == "other-network":
        print(*other_network(arg))
    elif command == "summary":
        summary(arg)
    elif command == "stop":
        stop(arg)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
