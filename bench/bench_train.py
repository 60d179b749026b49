"""Training step time on Ray Train with 1 and 2 CPU workers, side by side in one run.

    .venv/bin/python bench/bench_train.py [--steps 16] [--out bench/results/train.json]

The demo model's configuration (StyleTrainConfig defaults: batch 4 per worker, 128 px
crops) trains for ``--steps`` steps on the sample catalogue with 1 worker (2 torch
threads) and with 2 workers (1 thread each), so both use every core. The median step
time of the second half of each run (after warm-up) is reported with samples/s (global
batch / step time) and the 2-worker speedup in samples/s.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "train.json"))
    args = ap.parse_args()

    import ray
    import torch

    from pipelines.sample_catalogue import SampleCatalogueConfig, write_sample_catalogue
    from pipelines.training.config import DistConfig
    from pipelines.training.style_gan_job import fit
    from stylecore.training.style_gan import StyleTrainConfig

    tmp = tempfile.mkdtemp(prefix="bench-train-")
    cat = os.path.join(tmp, "catalogue")
    write_sample_catalogue(cat, SampleCatalogueConfig(count=16, seed=5, contact_sheet=False))
    styles = [os.path.join(cat, "styles", s) for s in ("wood", "watercolour")]
    cpus = os.cpu_count() or 2
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    train = dataclasses.asdict(StyleTrainConfig(steps=args.steps))
    half = max(2, args.steps // 2)
    runs = {}
    for workers in (1, 2):
        # Leave half a CPU for the dataset's read tasks; torch uses every core either way.
        d = DistConfig(
            workers=workers,
            cpus_per_worker=(cpus - 0.5) / workers,
            torch_threads=max(1, cpus // workers),
            checkpoint_every=half,
            max_failures=0,
            log_every=1000,
        )
        t0 = time.perf_counter()
        res = fit(train, d, os.path.join(cat, "catalogue.csv"), styles, tmp, f"w{workers}", False)
        m = res["metrics"]
        runs[f"{workers}_workers"] = {
            "wall_s": time.perf_counter() - t0,
            "step_s_median": m["step_s_median"],  # second half of the run: warm
            "samples_per_s": m["images_per_s"],
            "global_batch": train["batch_size"] * workers,
            "threads_per_worker": d.torch_threads,
        }
        print(workers, runs[f"{workers}_workers"], flush=True)
    ray.shutdown()
    one, two = runs["1_workers"], runs["2_workers"]
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {cpus} cores",
        "torch": torch.__version__,
        "ray": ray.__version__,
        "steps": args.steps,
        "config": "StyleTrainConfig defaults (batch 4 per worker, 128 px crops)",
        **runs,
        "speedup_2_vs_1": two["samples_per_s"] / one["samples_per_s"],
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
