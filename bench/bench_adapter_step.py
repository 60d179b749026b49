"""What decoder adapters cost per add-style step: the same `restyle add-style` training
step with ``decoder_adapters`` on and off, side by side in one process, interleaved
(on, off, on, off, ...) so that machine noise hits both alike.

    .venv/bin/python bench/bench_adapter_step.py --model models/style/multi \
        --content build/style-train/catalogue.csv --styles build/style-train/styles/wood \
        --json bench/results/adapter_step.json

Reports the median seconds per step of each and their ratio (on / off)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch

from pipelines.add_style import train_config
from pipelines.models import load_style_model, resolve_model_version, style_features
from pipelines.style_data import CONTENT_SIDE, STYLE_SIDE, load_content, load_style_sets
from stylecore.training.add_style import AddStyleConfig, AddStyleTrainer
from stylecore.training.data import ContentStream, StyleStream


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="base model folder")
    ap.add_argument("--content", required=True, help="catalogue table or folder")
    ap.add_argument("--styles", required=True, help="one style folder")
    ap.add_argument("--rounds", type=int, default=6, help="interleaved rounds (default 6)")
    ap.add_argument("--steps", type=int, default=5, help="steps per round and setting")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    uri, version = resolve_model_version(args.model)
    base = load_style_model(uri)
    _, refs, _ = load_style_sets([args.styles], STYLE_SIDE, min_refs=2)
    content = load_content(args.content, CONTENT_SIDE)
    trainers = {}
    for on in (True, False):
        add = AddStyleConfig(decoder_adapters=on)
        cfg = train_config(base, add)
        trainers[on] = AddStyleTrainer(
            cfg,
            add,
            style_features(cfg),
            ContentStream(content, cfg.crop, 1),
            StyleStream(refs, cfg.crop, 2),
            base.generator,
        )
        trainers[on].train_step()  # warm-up
    times: dict[bool, list[float]] = {True: [], False: []}
    for r in range(args.rounds):
        for on in (True, False) if r % 2 == 0 else (False, True):
            for _ in range(args.steps):
                t0 = time.perf_counter()
                trainers[on].train_step()
                times[on].append(time.perf_counter() - t0)
    on, off = statistics.median(times[True]), statistics.median(times[False])
    res = {
        "benchmark": "adapter_step",
        "model": version,
        "torch_threads": torch.get_num_threads(),
        "steps_each": len(times[True]),
        "step_s_decoder_adapters": round(on, 4),
        "step_s_without": round(off, 4),
        "ratio": round(on / off, 3),
        "adapter_numbers": {
            "with": trainers[True].G.adapter.shape[1],
            "without": trainers[False].G.adapter.shape[1],
        },
    }
    print(json.dumps(res, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
