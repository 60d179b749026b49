"""The style judge's calibration table in docs/quality.md, as the gate sees it: for each of
the five sample styles, statistics from three rendered references, three catalogue photos
with the background replaced by the held-out fourth reference, by colour-matched noise, by
a flat tint of the references' mean colour, or left unchanged. The same scenario as
``tests/test_quality.py::test_gate_passes_an_unseen_reference_and_rejects_noise_tint_and_the_input``.
Usage:
    .venv/bin/python bench/judge_calibration.py [--json bench/results/judge_calibration.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
KINDS = ("pasted", "noise", "tint", "unchanged")
LABELS = {
    "pasted": "an unseen reference",
    "noise": "colour-matched white noise",
    "tint": "flat tint of the reference's mean colour",
    "unchanged": "unchanged input",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    out = os.path.join(ROOT, "bench", "results", "judge_calibration.json")
    ap.add_argument("--json", default=out)
    args = ap.parse_args()
    import torch

    from stylecore.quality.gate import assess, compute_style_stats
    from stylecore.quality.texture import calibration_images
    from stylecore.synth.catalogue import plan_item, plan_styles, render_item, render_style

    torch.set_num_threads(2)
    shots = [render_item(plan_item(i), seed=5) for i in (0, 3, 6)]
    photos = [(s.image, (s.mask >= 128).astype(np.float32)) for s in shots]
    rows = []
    for style in ("autumn-bokeh", "geometric", "marble", "watercolour", "wood"):
        refs = [render_style(r, seed=11) for r in plan_styles() if r.style_id == style]
        stats = compute_style_stats(refs[1:])
        for k, (rgb, alpha) in enumerate(photos):
            cal = calibration_images(rgb, alpha, refs[0], seed=k)
            cal["unchanged"] = rgb.copy()
            for kind in KINDS:
                rep = assess(rgb, cal[kind], alpha, stats)
                s = rep.scores
                views = {f"judge_{v}": s.get(f"judge_{v}") for v in ("raw", "centred", "pairs")}
                rows.append({"style": style, "photo": k, "kind": kind, "passed": rep.passed,
                             "judge": s.get("judge"), "judge_spread": s.get("judge_spread"),
                             **views})  # fmt: skip
                print(f"{style:13s} photo {k} {kind:9s} judge {s.get('judge', np.nan):5.2f} "
                      f"spread {s.get('judge_spread', np.nan):5.2f} "
                      f"{'pass' if rep.passed else 'held'}", flush=True)  # fmt: skip
    print("\n| background | judge | judge_spread | gate |\n|---|---|---|---|")
    for kind in KINDS:
        r = [x for x in rows if x["kind"] == kind]
        j = np.array([x["judge"] for x in r], float)
        sp = np.array([x["judge_spread"] for x in r], float)
        print(f"| {LABELS[kind]} | {np.nanmin(j):.2f} to {np.nanmax(j):.2f} | "
              f"{np.nanmin(sp):.2f} to {np.nanmax(sp):.2f} | "
              f"{sum(x['passed'] for x in r)} of {len(r)} pass |")  # fmt: skip
    with open(args.json, "w") as f:
        json.dump({"command": "python bench/judge_calibration.py", "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
