"""Images per second on this machine's cores: Restyle's whole default path against Johnson
et al.'s network, each in the layout that suits it best.

    .venv/bin/python bench/bench_throughput.py [--looks wood,marble,...] [--json F]

The whole default path is what the nightly does to a photo: segment (``auto``), synthesise
the background, composite, and check (``assess``: product fidelity, the style judge, the
colour and out-of-palette checks). Johnson et al.'s feed-forward network
(``bench/peers.py``, random weights: only its speed matters) runs the same frame.

Each is run in two layouts of the same cores:

- ``1x2``: one process, every thread pool (torch, OpenBLAS, OpenCV) at the core count;
- ``2x1``: one process per core, each pool at 1 thread, as the nightly's actors run (one
  CPU each; Ray sets ``OMP_NUM_THREADS`` to an actor's CPUs).

A layout's images/s is the photos every process finished over the wall time from a common
start (a barrier after loading and warming up) to the last one's end. Before the barrier
each process restyles ``--warm`` photos with other ids, untimed, as a night's first photos
fill the per-process caches (colour-matched references, search features, spectra); a cold
process pays that once per look. The ratio compares each side's best layout. All on the
1024 x 768 sample frame that ``bench/bench_background.py`` times.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _worker(what: str, threads: int, warm: int, photos: int, offset: int, barrier, out) -> None:
    """One process of a layout: set its thread pools, load, warm up, wait, time."""
    for var in THREAD_VARS:  # before NumPy and torch load their pools
        os.environ[var] = str(threads)
    import cv2

    import stylecore  # noqa: F401  (the OpenMP wait policy, as the product sets it)

    cv2.setNumThreads(threads)
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from bench.bench_background import _shots

    ((_, img, _alpha),) = _shots(1, 1024)
    if what == "johnson":
        from bench.peers import JohnsonNet

        net = JohnsonNet().eval()
        layout = os.environ.get("BENCH_JOHNSON_LAYOUT", "")
        if layout == "channels_last":
            net = net.to(memory_format=torch.channels_last)

        def one(_k: int) -> None:
            x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
            if layout == "channels_last":
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                net(x)

        warm = min(warm, 2)
    else:
        from pipelines.models import load_segmenter, load_style_model
        from stylecore.quality.gate import assess
        from stylecore.segmentation import SegmenterConfig
        from stylecore.transfer.restyle import TransferConfig, restyle_image

        model = load_style_model()
        seg = load_segmenter(SegmenterConfig())
        cfg = TransferConfig(style=what)

        def one(k: int) -> None:
            mask = seg.segment(img)
            r = restyle_image(img, mask.alpha, model, cfg, image_id=f"photo-{k}")
            report = assess(img, r.image, mask.alpha, model.stats[what])
            assert np.isfinite(report.scores.get("judge", 0.0))

    for k in range(warm):
        one(10_000 + offset * 1000 + k)
    barrier.wait()
    t0 = time.time()
    for k in range(photos):
        one(offset * 1000 + k)
    out.put((t0, time.time(), photos))


def measure(what: str, procs: int, threads: int, warm: int, photos: int) -> dict:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(procs), ctx.Queue()
    ps = [
        ctx.Process(target=_worker, args=(what, threads, warm, photos, i, barrier, out))
        for i in range(procs)
    ]
    for p in ps:
        p.start()
    got = [out.get(timeout=1800) for _ in ps]
    for p in ps:
        p.join()
        if p.exitcode:
            raise RuntimeError(f"{what} {procs}x{threads}: a worker exited {p.exitcode}")
    start, end = min(g[0] for g in got), max(g[1] for g in got)
    n = sum(g[2] for g in got)
    return {"images": n, "wall_s": end - start, "images_per_s": n / (end - start)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--looks", default="wood,marble,watercolour,geometric,autumn-bokeh")
    ap.add_argument("--photos", type=int, default=6, help="timed photos per process")
    ap.add_argument("--warm", type=int, default=12, help="untimed photos per process first")
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "throughput.json"))
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    layouts = sorted({(1, cores), (cores, 1)})
    result: dict = {
        "command": "python bench/bench_throughput.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {cores} cores",
        "frame": "1024 x 768 sample shot",
        "rows": [],
    }
    subjects = [*args.looks.split(","), "johnson"]
    for what in subjects:
        variants = [""] if what != "johnson" else ["", "channels_last"]
        for variant in variants:
            os.environ["BENCH_JOHNSON_LAYOUT"] = variant
            for procs, threads in layouts:
                photos = args.photos if what != "johnson" else max(2, args.photos // 2)
                r = measure(what, procs, threads, args.warm, photos)
                name = what if not variant else f"{what} ({variant})"
                row = {"subject": name, "layout": f"{procs}x{threads}", **r}
                result["rows"].append(row)
                print(f"  {name:<26} {procs}x{threads}: {r['images_per_s']:.2f} images/s "
                      f"({r['images']} in {r['wall_s']:.1f} s)", flush=True)  # fmt: skip
    best = {}
    for row in result["rows"]:
        key = row["subject"].split(" (")[0]
        best[key] = max(best.get(key, 0.0), row["images_per_s"])
    johnson = best.pop("johnson")
    result["best_images_per_s"] = {**best, "johnson": johnson}
    result["vs_johnson"] = {look: v / johnson for look, v in best.items()}
    one_proc = {
        r["subject"]: r["images_per_s"] for r in result["rows"] if r["layout"] == f"1x{cores}"
    }
    j1 = max(v for k, v in one_proc.items() if k.startswith("johnson"))
    result["vs_johnson_one_process"] = {
        look: one_proc[look] / j1 for look in best if look in one_proc
    }
    print("vs Johnson's best layout: " + ", ".join(
        f"{k} {v:.1f}x" for k, v in result["vs_johnson"].items()), flush=True)  # fmt: skip
    latency = result["vs_johnson_one_process"]
    print("one process each: " + ", ".join(f"{k} {v:.1f}x" for k, v in latency.items()))
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
