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
    from pipelines import manifest
    from pipelines.plan import read_plan
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
        code = main(["-q", "nightly", "--catalogue", cat, "--styles", styles, "--out", out,
                     "--run-id", "c", "--shards", "3", "--address", cluster.address,
                     "--set", "resources.no_progress_timeout_s=240"])
        rows = manifest.read_manifest(out, "c").to_pylist()
        plan = read_plan(out, "c").to_pylist()
        print(json.dumps({
            "code": code,
            "rows": sorted(r["image_id"] for r in rows),
            "planned": sorted(p["image_id"] for p in plan),
            "statuses": sorted({r["status"] for r in rows}),
            "nodes": sorted({r["node_id"] for r in rows}),
            "cluster_nodes": len([n for n in ray.nodes() if n["Alive"]]),
        }))
    finally:
        ray.shutdown()
        cluster.shutdown()
    """
)


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
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    assert result["cluster_nodes"] == 3
    assert result["rows"] == result["planned"] and len(result["rows"]) == 9
    assert set(result["statuses"]) <= {"ok", "rejected"}
    # 1-CPU nodes fit one transfer actor each (0.75 CPU): the work spreads over nodes.
    assert len(result["nodes"]) >= 2
