"""`restyle serve` against the same stages called directly in one process, side by side.

1. **direct**: in this process, one photo after another: ``decode_untrusted``, the
   nightly's ``SegmentStage``, ``TransferStage`` and ``CheckStage``, then encoding. Torch
   uses every core. This is the floor the service adds its overhead to.
2. **serve**: a local Ray with the machine's CPUs and the application ``restyle serve``
   deploys by default on it (one replica with every core), called over real HTTP on
   loopback by 1, 4 and 16 concurrent clients, with ``@serve.batch`` on and off. Each
   client sends its requests one after another.

Reported per setting: p50 / p95 / p99 latency, images/s, and the ratios the targets name:
throughput at 4 clients over the direct loop's, and p99 at 1 client over the direct
call's p99. Every request must get exactly one answer.

    .venv/bin/python bench/bench_serve.py --json bench/results/serve.json

About 6 minutes on 2 cores (photos: the seed-2026 sample catalogue's first 24, 384 px).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

STYLES_YAML = "default: wood\nstyles:\n  wood: {}\n"


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summarise(latencies: list[float], wall: float, statuses: list[int]) -> dict:
    return {
        "requests": len(latencies),
        "statuses": {str(s): statuses.count(s) for s in sorted(set(statuses))},
        "p50_s": percentile(latencies, 0.5),
        "p95_s": percentile(latencies, 0.95),
        "p99_s": percentile(latencies, 0.99),
        "images_per_s": len(latencies) / wall,
        "wall_s": wall,
    }


def direct(photos: list[bytes], styles_file: str, threads: int) -> dict:
    import torch

    from pipelines.nightly.rows import new_row
    from pipelines.nightly.runconfig import load_styles
    from pipelines.nightly.stages.check import CheckStage
    from pipelines.nightly.stages.segment import SegmentStage
    from pipelines.nightly.stages.transfer import TransferStage
    from pipelines.serve.config import FORMAT_FAMILY, ServeJobConfig
    from stylecore.io.codec import decode_untrusted, encode_image

    cfg = ServeJobConfig()
    ctx = cfg.context(load_styles(styles_file)).with_device("cpu", threads)
    stages = [SegmentStage(ctx), TransferStage(ctx), CheckStage(ctx)]

    def one(data: bytes) -> str:
        d = decode_untrusted(data, cfg.limits)
        row = new_row(image_id="x", style_id="wood")
        row.update(pixels=d.image, alpha=None, output=None)
        rows = [row]
        with torch.inference_mode():
            for st in stages:
                rows = st.run_rows(rows)
        encode_image(rows[0]["output"], FORMAT_FAMILY.get(d.format, "png"), 92)
        return rows[0]["status"]

    one(photos[0])  # warm-up
    lat, statuses = [], []
    t0 = time.perf_counter()
    for data in photos:
        t = time.perf_counter()
        statuses.append(200 if one(data) == "ok" else 422)
        lat.append(time.perf_counter() - t)
    return summarise(lat, time.perf_counter() - t0, statuses)


def post(port: int, data: bytes) -> tuple[int, float]:
    t = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("POST", "/v1/restyle", data, {"Content-Type": "image/jpeg"})
        r = conn.getresponse()
        r.read()
        return r.status, time.perf_counter() - t
    finally:
        conn.close()


def load(port: int, photos: list[bytes], clients: int, per_client: int) -> dict:
    def client(k: int) -> list[tuple[int, float]]:
        return [post(port, photos[(k * per_client + i) % len(photos)]) for i in range(per_client)]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        got = [r for f in [pool.submit(client, k) for k in range(clients)] for r in f.result()]
    wall = time.perf_counter() - t0
    assert len(got) == clients * per_client
    return summarise([t for _, t in got], wall, [s for s, _ in got])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--photos", type=int, default=24, help="distinct photos (default 24)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--port", type=int, default=8931)
    args = ap.parse_args()

    import ray
    from ray import serve

    from jobs.config import load_config
    from pipelines.nightly.runconfig import load_styles
    from pipelines.sample_catalogue import SampleCatalogueConfig, write_sample_catalogue
    from pipelines.serve.app import build_app
    from pipelines.serve.config import APP_NAME, ServeJobConfig, fit_to_cluster

    work = tempfile.mkdtemp(prefix="bench-serve-")
    write_sample_catalogue(
        work, SampleCatalogueConfig(count=args.photos, seed=2026, contact_sheet=False)
    )
    names = sorted(os.listdir(os.path.join(work, "images")))
    photos = []
    for n in names:
        with open(os.path.join(work, "images", n), "rb") as f:
            photos.append(f.read())
    styles_file = os.path.join(work, "styles.yaml")
    with open(styles_file, "w") as f:
        f.write(STYLES_YAML)
    cores = os.cpu_count() or 1
    res: dict = {
        "benchmark": "serve",
        "machine": f"{platform.machine()}, {cores} cores",
        "photos": len(photos),
        "photo_px": 384,
    }
    print("direct, in-process ...", flush=True)
    res["direct"] = direct(photos, styles_file, threads=cores)
    print(json.dumps(res["direct"]), flush=True)

    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": args.port, "request_timeout_s": 300})
    styles = load_styles(styles_file)
    res["serve"] = {}
    try:
        for batching in (True, False):
            cfg = load_config(ServeJobConfig, None, [f"serve.batching={batching}"], {})
            s = fit_to_cluster(cfg.serve, cpus_given=False, local=True)
            cfg = ServeJobConfig(**{**cfg.__dict__, "serve": s})
            serve.run(build_app(styles, cfg, None, 0.0), name=APP_NAME)
            for data in photos[:2]:  # warm-up
                post(args.port, data)
            key = "batching_on" if batching else "batching_off"
            res["serve"][key] = {"replica_cpus": s.replica_cpus, "max_batch_size": s.max_batch_size}
            for clients in (1, 4, 16):
                per = max(2, (len(photos) * (2 if clients > 1 else 1)) // clients)
                print(f"serve {key}, {clients} client(s) x {per} ...", flush=True)
                r = load(args.port, photos, clients, per)
                res["serve"][key][f"clients_{clients}"] = r
                print(json.dumps(r), flush=True)
            serve.delete(APP_NAME)
    finally:
        serve.shutdown()
        ray.shutdown()
    d = res["direct"]
    res["ratios"] = {
        key: {
            "throughput_4_clients_over_direct": v["clients_4"]["images_per_s"] / d["images_per_s"],
            "p99_1_client_over_direct_p99": v["clients_1"]["p99_s"] / d["p99_s"],
        }
        for key, v in res["serve"].items()
    }
    print(json.dumps(res["ratios"], indent=1))
    print(f"{'setting':<28}{'p50 s':>8}{'p95 s':>8}{'p99 s':>8}{'img/s':>8}  statuses")
    rows = [("direct", d)] + [
        (f"serve {k}, {c.split('_')[1]} client(s)", v[c])
        for k, v in res["serve"].items()
        for c in ("clients_1", "clients_4", "clients_16")
    ]
    for name, r in rows:
        print(
            f"{name:<28}{r['p50_s']:8.2f}{r['p95_s']:8.2f}{r['p99_s']:8.2f}"
            f"{r['images_per_s']:8.2f}  {r['statuses']}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
