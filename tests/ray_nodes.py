"""A Ray cluster of a head and worker nodes on this machine, every node on 127.0.0.1.

    python tests/ray_nodes.py --workers 2 --temp-dir DIR

starts the head (GCS, raylet, object store, worker pool) and each worker node (its own raylet,
object store and worker pool) with Ray's own multi-node test harness, `ray.cluster_utils.Cluster`,
1 CPU each; prints one JSON line, `{"address": "127.0.0.1:PORT", "nodes": [{"node_id",
"raylet_pid"}, ...]}` (the head first); then obeys its standard input, a command a line:
`remove I` kills worker node I (1-based) at once and answers `{"removed": I}`; `stop` or the end of
input shuts every node down.

Why not `ray start --address`: with multi-node mode on (Linux's default) Ray maps 127.0.0.1 to
the machine's interface address and binds every interface; with it off
(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, set here, and needed by a driver joining the cluster too)
every node stays on loopback, but `ray start` refuses to add worker nodes. The harness adds
them without that check. `tests/cluster_helpers.py` drives this program from the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
os.environ.update(LOOPBACK_ENV)  # before Ray is imported: it reads them once

import ray  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

OBJECT_STORE = 80 * 1024**2  # per node: the smallest Ray accepts, plenty for a smoke study


def node_info(node: ray._private.node.Node) -> dict:
    """What a test needs to know of one node: its id and its raylet's PID (trial workers are
    the raylet's children)."""
    raylet = node.all_processes[ray._private.ray_constants.PROCESS_TYPE_RAYLET][0]
    return {"node_id": node.node_id, "raylet_pid": raylet.process.pid}


def lose(cluster: Cluster, node: ray._private.node.Node) -> None:
    """Kill `node` at once, as a machine that dies: SIGKILL its raylet's workers (a stopped or
    hung one too), then every process of the node."""
    import psutil  # shipped inside Ray's package

    raylet = psutil.Process(node_info(node)["raylet_pid"])
    workers = raylet.children(recursive=True)
    for proc in workers:
        proc.kill()
    psutil.wait_procs(workers, timeout=10)
    cluster.remove_node(node, allow_graceful=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=2, help="worker nodes beside the head")
    p.add_argument("--temp-dir", required=True, help="Ray's temporary folder, for these nodes")
    args = p.parse_args(argv)
    # Ray's default folder (its address file) and the nodes' sessions, both inside --temp-dir
    os.environ["RAY_TMPDIR"] = args.temp_dir
    temp = os.path.join(args.temp_dir, "ray")
    os.makedirs(temp, exist_ok=True)
    node_args = dict(num_cpus=1, object_store_memory=OBJECT_STORE, temp_dir=temp)
    cluster = Cluster(
        initialize_head=True,
        head_node_args=dict(node_args, include_dashboard=False),
    )
    try:
        workers = [cluster.add_node(**node_args) for _ in range(args.workers)]
        cluster.wait_for_nodes()
        nodes = [node_info(n) for n in [cluster.head_node, *workers]]
        print(json.dumps({"address": cluster.address, "nodes": nodes}), flush=True)
        for line in sys.stdin:
            command, *rest = line.split()
            if command == "stop":
                break
            if command == "remove":
                index = int(rest[0])
                lose(cluster, workers[index - 1])
                print(json.dumps({"removed": index}), flush=True)
    finally:
        cluster.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
