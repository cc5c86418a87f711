"""cluster.yaml: valid for Ray's own cluster launcher, offline, and private where it must be."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER_YAML = Path(__file__).resolve().parents[1] / "cluster.yaml"
PRIVATE_PORTS = (8265, 10001)  # dashboard / job API, Ray client: they run code for whoever calls


@pytest.fixture(scope="module")
def cluster() -> dict:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def test_cluster_yaml_passes_ray_autoscaler_validation(cluster):
    validate_config(prepare_config(copy.deepcopy(cluster)))


@pytest.mark.parametrize(
    "path, key, typo",
    [
        ((), "setup_commands", "setup_comands"),
        (("available_node_types", "gpu_worker"), "min_workers", "min_worker"),
    ],
)
def test_cluster_yaml_with_typo_key_fails_validation(cluster, path, key, typo):
    bad = copy.deepcopy(cluster)
    node = bad
    for part in path:
        node = node[part]
    node[typo] = node.pop(key)
    with pytest.raises(jsonschema.ValidationError, match=typo):
        validate_config(prepare_config(bad))


def test_cluster_has_cpu_head_and_autoscaled_gpu_workers(cluster):
    types = cluster["available_node_types"]
    head = types[cluster["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0
    gpu = [
        t
        for name, t in types.items()
        if name != cluster["head_node_type"] and t["resources"].get("GPU", 0) >= 1
    ]
    assert gpu and all(0 <= t["min_workers"] <= t["max_workers"] for t in gpu)


def test_cluster_syncs_repo_and_installs_project_and_data(cluster):
    assert "." in cluster["file_mounts"].values()
    setup = "\n".join(cluster["setup_commands"])
    assert "pip install" in setup and "-e ~/nc_core" in setup
    assert "load_fashion_mnist" in setup and "NC_DATA_DIR" in setup


def _covers(rule: dict, port: int) -> bool:
    if str(rule.get("IpProtocol")) == "-1":
        return True
    lo, hi = rule.get("FromPort", -1), rule.get("ToPort", -1)
    return lo == -1 or lo <= port <= hi


def test_every_node_uses_a_security_group_made_beforehand(cluster):
    """Ray's AWS provider opens 22 to 0.0.0.0/0 in any group it creates; it creates none when
    every node type names its groups (SecurityGroupIds), so the file must name them all."""
    assert "security_group" not in cluster["provider"]
    for name, node_type in cluster["available_node_types"].items():
        groups = node_type["node_config"].get("SecurityGroupIds")
        assert groups and all(g.startswith("sg-") for g in groups), name
    text = CLUSTER_YAML.read_text()
    assert "0.0.0.0/0" in text and "authorize-security-group-ingress" in text  # the how-to


def test_dashboard_and_client_ports_not_open_to_world(cluster):
    rules = cluster["provider"].get("security_group", {}).get("IpPermissions", [])
    for rule in rules:
        world = [r.get("CidrIp") for r in rule.get("IpRanges", [])] + [
            r.get("CidrIpv6") for r in rule.get("Ipv6Ranges", [])
        ]
        if {"0.0.0.0/0", "::/0"} & set(world):
            for port in PRIVATE_PORTS:
                assert not _covers(rule, port), f"port {port} open to the world by {rule}"
    # and the dashboard listens on the head's loopback only (reach it with `ray dashboard`)
    start = " ".join(cluster["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in start and "0.0.0.0" not in start
