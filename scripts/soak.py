"""make soak (not in CI): the loop for a while with random drift injected, resident memory
sampled. Reports drift injected and corrected, and memory growth.

    .venv/bin/python scripts/soak.py BIN [--minutes 10] [--groups 100]
"""

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
import bench  # noqa: E402
import localecs  # noqa: E402


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--interval", default="10s")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="edc-soak-")
    moto, url = localecs.start(work)
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               AWS_REGION="us-east-1", AWS_ENDPOINT_URL=url, AWS_EC2_METADATA_DISABLED="true")
    env.pop("AWS_PROFILE", None)
    localecs.create_roles(url, ("ecsTaskExecutionRole",))
    bench.NETWORK["subnet"], bench.NETWORK["group"] = localecs.network(url)
    ecs = localecs.client("ecs", url)
    ecs.create_cluster(clusterName="bench")
    groups = os.path.join(work, "groups")
    bench.write_groups(groups, "s", "bench", args.groups)
    loop, port = bench.start_loop(os.path.abspath(args.binary), env, groups, args.interval)
    rng = random.Random(42)
    injected, corrected, pending = 0, 0, {}
    samples = [rss_mib(loop.pid)]
    deadline = time.time() + args.minutes * 60
    try:
        while time.time() < deadline:
            name = f"s-{rng.randrange(args.groups):05d}"
            ecs.update_service(cluster="bench", service=name, desiredCount=rng.randint(2, 5))
            injected += 1
            pending[name] = time.time()
            time.sleep(rng.uniform(1, 5))
            for name in list(pending):
                service = ecs.describe_services(cluster="bench", services=[name])["services"][0]
                if service["desiredCount"] == 1:
                    corrected += 1
                    del pending[name]
            samples.append(rss_mib(loop.pid))
    finally:
        bench.stop_loop(loop)
        moto.terminate()
    print(f"soak: {args.minutes:g} min, {args.groups} groups, resync every {args.interval}")
    print(f"drift injected {injected}, corrected {corrected}, still pending at the end {len(pending)}")
    print(f"resident memory: start {samples[0]:.1f} MiB, end {samples[-1]:.1f} MiB, "
          f"max {max(samples):.1f} MiB, growth {samples[-1] - samples[0]:+.1f} MiB")


if __name__ == "__main__":
    main()
