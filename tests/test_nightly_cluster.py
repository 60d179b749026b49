"""The nightly job on a 3-node ``ray.cluster_utils.Cluster`` (1 CPU per node), in its own
process so that it does not meet the session's local Ray."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import ray
    from ray.cluster_utils import Cluster
    from jobs.cli import main
    from pipelines.nightly import manifest
    from pipelines.nightly.plan import read_plan
    from tests.test_nightly import write_catalogue

    tmp = sys.argv[1]
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        cat, out = os.path.join(tmp, "cat"), os.path.join(tmp, "out")
        write_catalogue(cat, 9)
        styles = os.path.join(tmp, "styles.yaml")
        with open(styles, "w") as f:
            f.write("default: wood\\nstyles:\\n  wood: {}\\n")
        code = main(["-q", "nightly", "--images", cat, "--styles", styles, "--out", out,
                     "--run-id", "c", "--shards", "3", "--address", cluster.address,
                     "--set", "resources.no_progress_timeout_s=240"])
        rows = manifest.read_manifest(out, "c").to_pylist()
        plan = read_plan(out, "c").to_pylist()
        with open(os.path.join(tmp, "result.json"), "w") as f:
            json.dump({
            "code": code,
            "rows": sorted(r["image_id"] for r in rows),
            "planned": sorted(p["image_id"] for p in plan),
            "statuses": sorted({r["status"] for r in rows}),
            "nodes": sorted({r["node_id"] for r in rows}),
            "cluster_nodes": len([n for n in ray.nodes() if n["Alive"]]),
        }, f)
    finally:
        ray.shutdown()
        cluster.shutdown()
    """
)


def _result(tmp_path) -> dict:
    """The script's result, from a file (Ray prints its own lines to stdout)."""
    with open(tmp_path / "result.json") as f:
        return json.load(f)


@pytest.mark.slow
def test_nightly_on_a_three_node_cluster(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root, "RAY_AUTH_MODE": "disabled"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=420,
        cwd=root,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = _result(tmp_path)
    assert result["code"] == 0
    assert result["cluster_nodes"] == 3
    assert result["rows"] == result["planned"] and len(result["rows"]) == 9
    assert set(result["statuses"]) <= {"ok", "rejected"}
    # 1-CPU nodes fit one transfer actor each (0.75 CPU): the work spreads over nodes.
    assert len(result["nodes"]) >= 2


NODE_LOSS = textwrap.dedent(
    """
    import hashlib, json, os, sys, threading, time
    import ray
    from ray._private import state
    from ray.cluster_utils import Cluster
    from jobs.cli import main
    from pipelines import storage
    from pipelines.nightly import manifest
    from pipelines.nightly.plan import read_plan
    from tests.test_nightly import write_catalogue

    tmp = sys.argv[1]
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    removed = []

    def remove_a_worker_node(out):
        # once two images are published, take away a worker node that runs an actor
        deadline = time.time() + 300
        while time.time() < deadline:
            images = os.path.join(out, "images")
            n = sum(len(f) for _, _, f in os.walk(images)) if os.path.isdir(images) else 0
            if n >= 2:
                busy = {a["Address"]["NodeID"] for a in state.actors().values()
                        if "FusedStage" in a["ActorClassName"] and a["State"] == "ALIVE"}
                for node in cluster.worker_nodes:
                    if node.node_id in busy:
                        cluster.remove_node(node, allow_graceful=False)
                        removed.append(node.node_id)
                        cluster.add_node(num_cpus=1)  # the replacement an autoscaler starts
                        return
            time.sleep(0.2)

    try:
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        cat = os.path.join(tmp, "cat")
        write_catalogue(cat, 12)
        styles = os.path.join(tmp, "styles.yaml")
        with open(styles, "w") as f:
            f.write("default: wood\\nstyles:\\n  wood: {}\\n")
        res = {}
        for run_id in ("clean", "lost"):
            out = os.path.join(tmp, run_id)
            killer = threading.Thread(target=remove_a_worker_node, args=(out,), daemon=True)
            if run_id == "lost":
                killer.start()
            code = main(["-q", "nightly", "--images", cat, "--styles", styles,
                         "--out", out, "--run-id", run_id, "--shards", "3",
                         "--address", cluster.address,
                         "--set", "resources.no_progress_timeout_s=240"])
            rows = manifest.read_manifest(out, run_id).to_pylist()
            plan = read_plan(out, run_id).to_pylist()
            verified = main(["-q", "verify", "--out", out, "--run-id", run_id])
            res[run_id] = {
                "code": code,
                "verify": verified,
                "rows": sorted(r["image_id"] for r in rows),
                "planned": sorted(p["image_id"] for p in plan),
                "published": {r["image_id"]: r["output_sha256"] for r in rows
                              if r["status"] == "ok"},
                "statuses": {r["image_id"]: r["status"] for r in rows},
            }
        res["removed"] = removed
        with open(os.path.join(tmp, "result.json"), "w") as f:
            json.dump(res, f)
    finally:
        ray.shutdown()
        cluster.shutdown()
    """
)


@pytest.mark.slow
def test_a_lost_worker_node_loses_nothing(tmp_path):
    """A worker node of a 3-node cluster is removed mid-run (its raylet and workers killed,
    then a fresh node joins, as an autoscaler would do): every planned image still has
    exactly one row, and the published images are byte-identical to a run without the
    loss."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root, "RAY_AUTH_MODE": "disabled"}
    proc = subprocess.run(
        [sys.executable, "-c", NODE_LOSS, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=560,
        cwd=root,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = _result(tmp_path)
    assert res["removed"], "the run ended before a node could be removed"
    for run_id in ("clean", "lost"):
        r = res[run_id]
        assert r["code"] == 0 and r["verify"] == 0, (run_id, r)
        assert r["rows"] == r["planned"] and len(r["rows"]) == 12
    assert res["lost"]["statuses"] == res["clean"]["statuses"]
    assert res["lost"]["published"] == res["clean"]["published"]
