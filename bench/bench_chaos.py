"""The nightly through a faulty object store, several seeds, against a fault-free run.

Starts ``moto_server`` on loopback behind the fault-injecting proxy of the tests
(``tests/faultproxy.py``: 500, 503, SlowDown, connection resets, truncated bodies and
0.5 s stalls, spread evenly over the fault rate), a local Ray, and writes a small
catalogue to the store. One fault-free ``restyle nightly`` run is the reference; then each
seed runs the same catalogue into a fresh prefix through the faults. For every run:
rows lost, duplicated and unplanned against the plan, statuses and published hashes
against the reference, every published object re-read (``restyle verify``), and the wall
time over the fault-free run's.

    .venv/bin/python bench/bench_chaos.py --json bench/results/chaos.json

About 4 minutes on 2 cores with the defaults (24 photos, 5% and 20%, 3 seeds each).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

STYLES = "default: wood\ncategories:\n  mug: watercolour\nstyles:\n  wood: {}\n  watercolour: {}\n"


def start_moto() -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or "moto_server"
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).read()
            return proc, url
        except Exception:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"moto_server did not start on {url}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--photos", type=int, default=24)
    ap.add_argument("--rates", type=float, nargs="+", default=[0.05, 0.2])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()

    moto, moto_url = start_moto()
    from tests.faultproxy import FaultProxy

    proxy = FaultProxy(moto_url).start()
    os.environ.update(
        AWS_ENDPOINT_URL=proxy.url,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench-secret",
        AWS_DEFAULT_REGION="us-east-1",
        RAY_AUTH_MODE="disabled",
    )
    import ray
    import s3fs

    from jobs.cli import main as restyle
    from pipelines.nightly import manifest
    from pipelines.nightly.plan import read_plan
    from pipelines.nightly.verify import verify_run
    from tests.test_nightly import write_catalogue

    bucket = f"chaos-{uuid.uuid4().hex[:8]}"
    s3fs.S3FileSystem(endpoint_url=proxy.url, skip_instance_cache=True).mkdir(bucket)
    cat = f"s3://{bucket}/catalogue"
    write_catalogue(cat, args.photos)
    work = tempfile.mkdtemp(prefix="chaos-")
    styles = os.path.join(work, "styles.yaml")
    with open(styles, "w") as f:
        f.write(STYLES)
    ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False)

    def run(run_id: str) -> tuple[int, float]:
        t0 = time.perf_counter()
        code = restyle(
            ["-q", "nightly", "--images", cat, "--styles", styles, "--shards", "4",
             "--out", f"s3://{bucket}/{run_id}", "--run-id", run_id, "--max-failure-ratio", "1"]
        )  # fmt: skip
        return code, time.perf_counter() - t0

    def outcome(run_id: str) -> dict:
        out = f"s3://{bucket}/{run_id}"
        rows = manifest.read_manifest(out, run_id).to_pylist()
        plan = {p["image_id"] for p in read_plan(out, run_id).to_pylist()}
        ids = [r["image_id"] for r in rows]
        return {
            "lost": len(plan - set(ids)),
            "duplicated": len(ids) - len(set(ids)),
            "statuses": {r["image_id"]: r["status"] for r in rows},
            "published": {r["image_id"]: r["output_sha256"] for r in rows if r["status"] == "ok"},
            "verify": verify_run(out, run_id),
        }

    results = {"benchmark": "chaos", "photos": args.photos, "runs": []}
    try:
        code, clean_wall = run("clean")
        ref = outcome("clean")
        assert code == 0 and ref["verify"]["ok"], (code, ref["verify"])
        results["fault_free_wall_s"] = clean_wall
        for rate in args.rates:
            for seed in range(1, args.seeds + 1):
                run_id = f"r{int(rate * 100)}-s{seed}"
                proxy.set_faults(total=rate, seed=seed)
                code, wall = run(run_id)
                injected, requests = dict(proxy.counts), proxy.requests
                proxy.set_faults()
                got = outcome(run_id)
                different = sum(
                    got["published"].get(i) != h for i, h in ref["published"].items()
                ) + len(set(got["published"]) - set(ref["published"]))
                row = {
                    "rate": rate,
                    "seed": seed,
                    "exit_code": code,
                    "requests": requests,
                    "faults": injected,
                    "wall_s": wall,
                    "wall_over_fault_free": wall / clean_wall,
                    "rows_lost": got["lost"],
                    "rows_duplicated": got["duplicated"],
                    "status_changed": sum(
                        got["statuses"].get(i) != s for i, s in ref["statuses"].items()
                    ),
                    "published_differs": different,
                    "verify_problems": got["verify"]["problems"],
                }
                results["runs"].append(row)
                print(json.dumps(row), flush=True)
    finally:
        ray.shutdown()
        proxy.stop()
        moto.terminate()
    print(f"fault-free: {clean_wall:.1f} s")
    print(f"{'rate':>5} {'seed':>4} {'faults':>6} {'wall x':>7} lost dup changed differs corrupt")
    for r in results["runs"]:
        bad = r["verify_problems"]
        print(
            f"{r['rate']:5.0%} {r['seed']:4d} {sum(r['faults'].values()):6d} "
            f"{r['wall_over_fault_free']:7.2f} {r['rows_lost']:4d} {r['rows_duplicated']:3d} "
            f"{r['status_changed']:7d} {r['published_differs']:7d} "
            f"{bad['corrupt'] + bad['missing']:7d}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
