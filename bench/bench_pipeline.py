"""The nightly pipeline against a plain loop, and the driver's memory as the catalogue grows.

    .venv/bin/python bench/bench_pipeline.py [--count 48] [--repeats 2] \
        [--out bench/results/pipeline.json]

**Throughput.** The same sample catalogue is restyled twice, side by side in one run:
(a) a plain single-process loop calling the same stage code (decode, then segment,
transfer, check and write) with torch on all cores; (b) ``pipelines.nightly.run.execute`` on a
local Ray (the job's default fused layout). Both times include loading the models; Ray's
own start (``ray.init``) is reported apart. Each is repeated and the median taken.

**Driver memory.** ``restyle nightly`` runs in a fresh process on a catalogue of N and then
10 N small photos; the driver's peak RSS (VmHWM of that process: ru_maxrss would include
the parent's size at fork; Ray's workers are other processes) should stay flat.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

STYLES = "default: wood\ncategories:\n  mug: watercolour\nstyles:\n  wood: {}\n  watercolour: {}\n"


def _context(out: str, run_id: str, styles_path: str, threads: int):
    from pipelines.nightly.runconfig import NightlyConfig, RunContext, load_styles

    cfg = NightlyConfig(shards=4)
    styles = load_styles(styles_path)
    ctx = RunContext.create(run_id, out, styles, cfg).with_device("cpu", threads)
    return cfg, styles, ctx


def plain_loop(catalogue: str, styles_path: str, out: str) -> tuple[float, int]:
    """Every image through the same stages, one process, no Ray."""
    from pipelines.nightly.plan import build_plan
    from pipelines.nightly.rows import batch_to_rows, rows_to_batch
    from pipelines.nightly.stages.decode import DecodeContext, DecodeStage
    from pipelines.nightly.stages.fused import FusedStage

    threads = os.cpu_count() or 1
    t0 = time.perf_counter()
    cfg, styles, ctx = _context(out, "plain", styles_path, threads)
    plan = build_plan(catalogue, styles, ctx, cfg.shards, incremental=False)
    decode = DecodeStage(DecodeContext.of(ctx), incremental=False)
    fused = FusedStage(ctx)
    n_ok = 0
    for row in plan.to_pylist():
        rows = decode.run_rows(batch_to_rows(rows_to_batch([row])))
        rows = fused.stages[0].run_rows(rows)
        for stage in fused.stages[1:]:
            rows = stage.run_rows(rows)
        n_ok += rows[0]["status"] in ("ok", "rejected")
    return time.perf_counter() - t0, n_ok


def ray_pipeline(catalogue: str, styles_path: str, out: str, run_id: str) -> tuple[float, int]:
    from pipelines.nightly.manifest import read_manifest
    from pipelines.nightly.plan import build_plan
    from pipelines.nightly.run import execute

    t0 = time.perf_counter()
    cfg, styles, ctx = _context(out, run_id, styles_path, 1)
    plan = build_plan(catalogue, styles, ctx, cfg.shards, incremental=False)
    execute(plan, ctx, cfg, incremental=False)
    wall = time.perf_counter() - t0
    statuses = read_manifest(out, run_id, ["status"]).column("status").to_pylist()
    return wall, sum(s in ("ok", "rejected") for s in statuses)


def stage_split(out: str, run_id: str) -> dict:
    """Median seconds per image of each stage, from a run's manifest."""
    from pipelines.nightly.manifest import TIMING_COLUMNS, read_manifest

    t = read_manifest(out, run_id, list(TIMING_COLUMNS)).to_pydict()
    return {
        c[2:]: statistics.median([v for v in t[c] if v is not None]) * 1000
        for c in TIMING_COLUMNS
        if any(v is not None for v in t[c])
    }


def driver_rss(catalogue: str, styles_path: str, out: str) -> dict:
    code = (
        "import sys, json\n"
        "from jobs.cli import main\n"
        "rc = main(['-q', 'nightly', '--images', sys.argv[1], '--styles', sys.argv[2],\n"
        "           '--out', sys.argv[3], '--run-id', 'm', '--shards', '16',\n"
        "           '--max-failure-ratio', '1'])\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print(json.dumps({'rc': rc, 'rss_mib': int(hwm.split()[1]) / 1024}))\n"
    )
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-c", code, catalogue, styles_path, out],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["wall_s"] = time.perf_counter() - t0
    return res


def small_catalogue(root: str, n: int) -> str:
    from tests.test_nightly import write_catalogue

    write_catalogue(root, n)
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=48, help="sample-catalogue photos (throughput)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--memory-count", type=int, default=24, help="N for the 1x / 10x test")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "pipeline.json"))
    args = ap.parse_args()

    import ray
    import torch

    from pipelines.sample_catalogue import SampleCatalogueConfig, write_sample_catalogue

    tmp = tempfile.mkdtemp(prefix="bench-pipeline-")
    cat = os.path.join(tmp, "catalogue")
    write_sample_catalogue(
        cat, SampleCatalogueConfig(count=args.count, seed=11, contact_sheet=False)
    )
    styles = os.path.join(tmp, "styles.yaml")
    with open(styles, "w") as f:
        f.write(STYLES)
    table = os.path.join(cat, "catalogue.csv")

    t0 = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    ray_init_s = time.perf_counter() - t0
    plain, piped = [], []
    for k in range(args.repeats):
        torch.set_num_threads(os.cpu_count() or 1)
        w, n = plain_loop(table, styles, os.path.join(tmp, f"plain{k}"))
        plain.append(args.count / w)
        print(f"plain loop: {w:.1f} s, {n} images, {plain[-1]:.3f} img/s", flush=True)
        w, n = ray_pipeline(table, styles, os.path.join(tmp, f"ray{k}"), f"r{k}")
        piped.append(args.count / w)
        print(f"ray pipeline: {w:.1f} s, {n} images, {piped[-1]:.3f} img/s", flush=True)
    split = stage_split(os.path.join(tmp, f"ray{args.repeats - 1}"), f"r{args.repeats - 1}")
    ray.shutdown()
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "ray": ray.__version__,
        "count": args.count,
        "ray_init_s": ray_init_s,
        "plain_img_per_s": statistics.median(plain),
        "pipeline_img_per_s": statistics.median(piped),
        "ratio": statistics.median(piped) / statistics.median(plain),
        "runs": {"plain": plain, "pipeline": piped},
        "stage_median_ms": split,
    }
    print(f"pipeline / plain = {result['ratio']:.2f}", flush=True)
    if not args.skip_memory:
        mem = {}
        for mult in (1, 10):
            n = args.memory_count * mult
            c = small_catalogue(os.path.join(tmp, f"mem{mult}"), n)
            r = driver_rss(c, styles, os.path.join(tmp, f"memout{mult}"))
            mem[f"{mult}x"] = {"images": n, **r}
            print(f"driver peak RSS at {n} images: {r['rss_mib']:.0f} MiB", flush=True)
        mem["growth"] = mem["10x"]["rss_mib"] / mem["1x"]["rss_mib"]
        result["driver_memory"] = mem
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
