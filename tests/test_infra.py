"""Every cluster file in infra/ parses, names the command that uses it, and holds what
that command needs: entrypoints that are real `restyle` commands, resources that match
their flags, and the image the Dockerfile builds."""

from __future__ import annotations

import glob
import os
import re
import shlex

import pytest
import yaml

from jobs.cli import build_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INFRA = os.path.join(ROOT, "infra")
YAMLS = sorted(glob.glob(os.path.join(INFRA, "**", "*.yaml"), recursive=True))


def _read(path) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _image_tag() -> str:
    with open(os.path.join(INFRA, "Dockerfile"), encoding="utf-8") as f:
        m = re.search(r"docker build -f infra/Dockerfile -t (\S+) \.", f.read())
    assert m, "the Dockerfile names its build command"
    return m.group(1)


def _parse_restyle(entrypoint: str):
    argv = shlex.split(entrypoint)
    assert argv[0] == "restyle", entrypoint
    return build_parser().parse_args(argv[1:])  # exits (SystemExit) on a bad command


def _containers(pod_template: dict) -> list[dict]:
    return pod_template["spec"]["containers"]


def _gpus(group: dict) -> int:
    c = _containers(group["template"])[0]
    return int(c["resources"]["limits"].get("nvidia.com/gpu", 0))


def _cpus(group: dict) -> float:
    return float(_containers(group["template"])[0]["resources"]["limits"]["cpu"])


def test_there_are_files_and_each_names_its_command():
    assert len(YAMLS) >= 4
    for path in [*YAMLS, os.path.join(INFRA, "Dockerfile")]:
        with open(path, encoding="utf-8") as f:
            head = "".join(f.readline() for _ in range(4))
        assert "Used by:" in head, f"{path}: no 'Used by:' comment naming its command"


@pytest.mark.parametrize("path", YAMLS, ids=os.path.basename)
def test_yaml_parses_and_uses_the_project_image(path):
    doc = _load(path)
    assert isinstance(doc, dict)
    images = re.findall(r"image: (\S+)", _read(path))
    assert images and all(i.endswith(_image_tag()) for i in images), images


def test_cluster_launcher_has_bounds_and_gpu_workers():
    c = _load(os.path.join(INFRA, "cluster-aws.yaml"))
    types = c["available_node_types"]
    assert c["head_node_type"] in types
    assert types[c["head_node_type"]]["resources"]["CPU"] == 0
    assert any(t["resources"].get("GPU", 0) >= 1 for t in types.values())
    for name, t in types.items():
        if name != c["head_node_type"]:
            assert 0 <= t["min_workers"] <= t["max_workers"] <= c["max_workers"]
    assert c["provider"]["type"] == "aws"


def test_rayjobs_run_real_commands_with_matching_resources():
    nightly = _load(os.path.join(INFRA, "kuberay", "rayjob-nightly.yaml"))
    args = _parse_restyle(nightly["spec"]["entrypoint"])
    assert args.command == "nightly" and args.out.startswith("s3://")
    groups = nightly["spec"]["rayClusterSpec"]["workerGroupSpecs"]
    assert sum(g["replicas"] * _gpus(g) for g in groups) >= 1  # GPU transfer actors

    train = _load(os.path.join(INFRA, "kuberay", "rayjob-train.yaml"))
    args = _parse_restyle(train["spec"]["entrypoint"])
    assert args.command == "train" and args.workers and not args.local
    groups = train["spec"]["rayClusterSpec"]["workerGroupSpecs"]
    gpus = sum(g["minReplicas"] * _gpus(g) for g in groups)
    assert gpus >= args.workers * args.gpus_per_worker, "not enough GPUs for --workers"
    # each worker fits in one pod
    assert any(
        _cpus(g) >= args.cpus_per_worker and _gpus(g) >= args.gpus_per_worker for g in groups
    )
    for spec in (nightly, train):
        head = spec["spec"]["rayClusterSpec"]["headGroupSpec"]
        assert head["rayStartParams"]["num-cpus"] == "0"


def test_raycluster_has_autoscaling_worker_groups():
    rc = _load(os.path.join(INFRA, "kuberay", "raycluster.yaml"))
    assert rc["kind"] == "RayCluster" and rc["spec"]["rayVersion"].startswith("2.60")
    for g in rc["spec"]["workerGroupSpecs"]:
        assert g["minReplicas"] <= g["replicas"] <= g["maxReplicas"]


def test_dockerfile_installs_the_project():
    text = _read(os.path.join(INFRA, "Dockerfile"))
    assert re.search(r"^FROM rayproject/ray:2\.60\.\d+-py311", text, re.M)
    assert "pip install" in text and "restyle --help" in text
    for path in re.findall(r"^COPY (?:--\S+ )*(\S+)", text, re.M):
        for p in path.split():
            assert os.path.exists(os.path.join(ROOT, p)), f"Dockerfile copies missing {p}"


def test_rayservice_builds_the_serve_application():
    """The RayService's Serve config names a real application builder, whose args build a
    valid service config whose replicas fit the worker pods."""
    import importlib

    from jobs.config import load_config
    from pipelines.serve import APP_NAME, ServeJobConfig

    rs = _load(os.path.join(INFRA, "kuberay", "rayservice.yaml"))
    assert rs["kind"] == "RayService"
    serve_cfg = yaml.safe_load(rs["spec"]["serveConfigV2"])
    assert serve_cfg["http_options"]["port"] == 8000
    (app,) = serve_cfg["applications"]
    assert app["name"] == APP_NAME
    module, _, attr = app["import_path"].partition(":")
    assert callable(getattr(importlib.import_module(module), attr))
    assert app["args"]["styles"].startswith("s3://")
    cfg = load_config(ServeJobConfig, None, app["args"]["set"], {}).serve
    (gpu,) = rs["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    assert cfg.replica_cpus <= _cpus(gpu) and cfg.replica_gpus <= _gpus(gpu)
    assert gpu["maxReplicas"] >= cfg.max_replicas  # one replica per GPU pod at most
    for pod in (rs["spec"]["rayClusterConfig"]["headGroupSpec"], gpu):
        secrets = [e["secretRef"]["name"] for e in _containers(pod["template"])[0]["envFrom"]]
        assert "restyle-serve-token" in secrets  # the token on every node that builds
