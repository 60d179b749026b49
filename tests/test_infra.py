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
from tests.infra_shapes import declared_node_types, load_docs, pod_shape, ray_cluster_spec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INFRA = os.path.join(ROOT, "infra")
YAMLS = sorted(glob.glob(os.path.join(INFRA, "**", "*.yaml"), recursive=True))


def _read(path) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _load(path):
    (doc,) = load_docs(path)
    return doc


RAY_KINDS = ("RayJob", "RayCluster", "RayService")


def _ray_docs():
    """(path, doc) of every KubeRay resource in infra/kuberay."""
    return [(p, d) for p in YAMLS for d in load_docs(p) if d.get("kind") in RAY_KINDS]


def _pod_templates(doc) -> list[dict]:
    spec = ray_cluster_spec(doc)
    return [spec["headGroupSpec"], *spec.get("workerGroupSpecs", [])]


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
    docs = load_docs(path)
    assert docs and all(isinstance(d, dict) for d in docs)
    images = re.findall(r"image: (\S+)", _read(path))
    project = [i for i in images if "restyle" in i]
    assert all(i.endswith(_image_tag()) for i in project), project
    if any(d.get("kind") in RAY_KINDS for d in docs) or "cluster_name" in docs[0]:
        assert project and project == images, images  # Ray nodes run the project image


def test_cluster_launcher_has_bounds_gpu_workers_and_worker_credentials():
    import json

    import jsonschema
    import ray

    c = _load(os.path.join(INFRA, "cluster-aws.yaml"))
    schema_path = os.path.join(os.path.dirname(ray.__file__), "autoscaler", "ray-schema.json")
    with open(schema_path, encoding="utf-8") as f:
        jsonschema.validate(c, json.load(f))
    types = c["available_node_types"]
    assert c["head_node_type"] in types
    assert types[c["head_node_type"]]["resources"]["CPU"] == 0
    assert any(t["resources"].get("GPU", 0) >= 1 for t in types.values())
    workers = {n: t for n, t in types.items() if n != c["head_node_type"]}
    for name, t in workers.items():
        assert 0 <= t["min_workers"] <= t["max_workers"] <= c["max_workers"]
        # Ray gives only the head a default profile: workers need their own for S3
        assert "instance-profile/" in t["node_config"]["IamInstanceProfile"]["Arn"], name
    # the global cap does not silently cut the per-type bounds README gives (8 GPU + 4 CPU)
    assert sum(t["max_workers"] for t in workers.values()) <= c["max_workers"]
    assert c["provider"]["type"] == "aws"


def test_rayjobs_run_real_commands_recur_and_go_soon_after():
    nightly = _load(os.path.join(INFRA, "kuberay", "rayjob-nightly.yaml"))
    args = _parse_restyle(nightly["spec"]["entrypoint"])
    assert args.command == "nightly" and args.out.startswith("s3://")

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
        # a fresh RayJob per `kubectl create` (a fixed name would be "unchanged" the
        # next night), and the cluster deleted soon after the run
        assert "name" not in spec["metadata"] and spec["metadata"]["generateName"]
        assert spec["spec"]["shutdownAfterJobFinishes"] is True
        assert spec["spec"]["ttlSecondsAfterFinished"] <= 300
    assert nightly["spec"]["activeDeadlineSeconds"] <= 24 * 3600


def test_declared_node_types_match_the_worker_groups():
    """RESTYLE_NODE_TYPES on a head is what the nightly plans on: it must say exactly what
    the manifest's worker groups are."""
    checked = 0
    for path, doc in _ray_docs():
        declared = declared_node_types(path)
        if declared is None:
            continue
        groups = ray_cluster_spec(doc)["workerGroupSpecs"]
        want = []
        for g in groups:
            cpus, gpus, mem = pod_shape(g)
            want.append(
                {"name": g["groupName"], "cpus": cpus, "gpus": gpus, "memory_gib": mem,
                 "max": g["maxReplicas"]}
            )  # fmt: skip
        assert sorted(declared, key=lambda t: t["name"]) == sorted(want, key=lambda t: t["name"])
        checked += 1
    assert checked >= 3  # the nightly and training RayJobs and the RayCluster


def test_every_pod_runs_as_the_restyle_account_and_keys_are_optional():
    accounts = {
        d["metadata"]["name"]: d
        for d in load_docs(os.path.join(INFRA, "kuberay", "serviceaccount.yaml"))
        if d["kind"] == "ServiceAccount"
    }
    assert "eks.amazonaws.com/role-arn" in accounts["restyle"]["metadata"]["annotations"]
    assert accounts["restyle"]["imagePullSecrets"]
    for path, doc in _ray_docs():
        for pod in _pod_templates(doc):
            spec = pod["template"]["spec"]
            assert spec.get("serviceAccountName") == "restyle", path
            for ref in spec["containers"][0].get("envFrom", []):
                if ref["secretRef"]["name"] == "restyle-s3":
                    assert ref["secretRef"].get("optional") is True, path


def test_nightly_cronjob_creates_a_fresh_rayjob_from_the_manifest():
    path = os.path.join(INFRA, "kuberay", "nightly-cronjob.yaml")
    cron = _load(path)
    assert cron["kind"] == "CronJob" and cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    script = container["args"][0]
    assert "kubectl create -f /template/rayjob.yaml" in script
    assert "kubectl apply" not in script
    (vol,) = pod["volumes"]
    cm = vol["configMap"]["name"]
    create = f"kubectl create configmap {cm} --from-file=rayjob.yaml="
    assert create + "infra/kuberay/rayjob-nightly.yaml" in _read(path)
    # the account it runs as may create (and prune) RayJobs
    rbac = load_docs(os.path.join(INFRA, "kuberay", "serviceaccount.yaml"))
    role = next(d for d in rbac if d["kind"] == "Role")
    binding = next(d for d in rbac if d["kind"] == "RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["name"] == pod["serviceAccountName"]
    (rule,) = role["rules"]
    assert rule["resources"] == ["rayjobs"] and {"create", "list", "delete"} <= set(rule["verbs"])
    nightly = _load(os.path.join(INFRA, "kuberay", "rayjob-nightly.yaml"))
    label = nightly["metadata"]["labels"]["app.kubernetes.io/name"]
    assert f"-l app.kubernetes.io/name={label}" in script


def test_set_image_sets_every_project_image_in_one_step(tmp_path):
    import shutil
    import subprocess

    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy)
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/restyle:1.2.3"
    res = subprocess.run([str(copy / "set-image"), image], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    for path in glob.glob(str(copy / "**" / "*.yaml"), recursive=True):
        text = _read(path)
        for found in re.findall(r"image: (\S+)", text):
            assert found == image or "restyle" not in found, (path, found)
    assert "alpine/k8s" in _read(str(copy / "kuberay" / "nightly-cronjob.yaml"))  # not ours
    bad = subprocess.run([str(copy / "set-image"), "no tag"], capture_output=True, text=True)
    assert bad.returncode == 2 and "not an image reference" in bad.stderr
    usage = subprocess.run([str(copy / "set-image")], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage: infra/set-image" in usage.stderr


def test_raycluster_has_autoscaling_worker_groups():
    rc = _load(os.path.join(INFRA, "kuberay", "raycluster.yaml"))
    assert rc["kind"] == "RayCluster" and rc["spec"]["rayVersion"].startswith("2.60")
    for g in rc["spec"]["workerGroupSpecs"]:
        assert g["minReplicas"] <= g["replicas"] <= g["maxReplicas"]


def test_dockerfile_installs_the_project():
    text = _read(os.path.join(INFRA, "Dockerfile"))
    assert re.search(r"^FROM rayproject/ray:2\.60\.\d+-py311", text, re.M)
    assert "restyle --help" in text
    # a regular install (the legacy builder cannot do `pip install -e .`); the demo models
    # stay beside it, found through RESTYLE_HOME
    assert re.search(r"^RUN pip install --no-cache-dir \. ", text, re.M)
    assert not re.search(r"^RUN pip install.* -e ", text, re.M)
    assert "ENV RESTYLE_HOME=/opt/restyle" in text and "WORKDIR /opt/restyle" in text
    assert "580" in text  # the NVIDIA driver the CUDA 13 torch wheels need
    for path in re.findall(r"^COPY (?:--\S+ )*(\S+)", text, re.M):
        for p in path.split():
            assert os.path.exists(os.path.join(ROOT, p)), f"Dockerfile copies missing {p}"


def test_an_installed_package_finds_the_demo_models_through_restyle_home(tmp_path):
    """What the image does: a non-editable install, run away from the checkout."""
    import subprocess
    import sys

    site = tmp_path / "site"
    res = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), ROOT],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    probe = (
        "import os, pipelines.models as m; "
        "print(m.__file__); print(os.path.isdir(m.DEFAULT_STYLE_MODEL))"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "RESTYLE_HOME": ROOT}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert out.returncode == 0, out.stderr[-2000:]
    where, found = out.stdout.split()
    assert where.startswith(str(site)) and found == "True"
    env.pop("RESTYLE_HOME")
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert out.stdout.split()[1] == "False"  # without it the models are not in site-packages


def test_rayservice_builds_the_serve_application():
    """The RayService's Serve config names a real application builder, whose args build a
    valid service config whose replicas fit the worker pods."""
    import importlib

    from jobs.config import load_config
    from pipelines.serve.config import APP_NAME, ServeJobConfig

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


def _cron_script() -> str:
    cron = _load(os.path.join(INFRA, "kuberay", "nightly-cronjob.yaml"))
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["/bin/sh", "-c"]
    return container["args"][0]


FAKE_KUBECTL = """#!/bin/sh
echo "$*" >> "$KUBECTL_LOG"
case "$*" in
  *jsonpath*) printf '%s' "$RUNNING" ;;
  *"-o name"*) for i in $(seq 1 16); do echo "rayjob.ray.io/restyle-nightly-$i"; done ;;
esac
"""


@pytest.mark.parametrize("running", ["", "restyle-nightly-16 "])
def test_nightly_cronjob_script_creates_skips_and_prunes(tmp_path, running):
    """The CronJob's own script, run by sh against a stand-in kubectl that records its
    calls: it creates a RayJob unless one is still running, and keeps the newest 14."""
    import subprocess

    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "kubectl").write_text(FAKE_KUBECTL)
    (bindir / "kubectl").chmod(0o755)
    log = tmp_path / "calls"
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "KUBECTL_LOG": str(log),
           "RUNNING": running}  # fmt: skip
    res = subprocess.run(["sh", "-c", _cron_script()], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    calls = log.read_text().splitlines()
    if running:
        assert not any(c.startswith("create") for c in calls)
        assert "still going" in res.stdout
        return
    assert "create -f /template/rayjob.yaml" in calls
    (delete,) = [c for c in calls if c.startswith("delete")]
    assert delete.split()[1:] == [
        "rayjob.ray.io/restyle-nightly-1",
        "rayjob.ray.io/restyle-nightly-2",
    ]
