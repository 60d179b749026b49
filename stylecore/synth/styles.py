"""Procedural style references: a few images per look, generated from a seed.

Each look is a function ``(h, w, rng, variant) -> (H, W, 3) uint8 RGB``. The variants of one
look share palette and structure and differ in layout, so a set reads as "one campaign"
the way a merchandiser's reference board does. Pure NumPy/OpenCV.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from stylecore.synth.noise import fractal_noise, grain, value_noise


def _to_u8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.clip(img, 0.0, 1.0) * 255.0), 0, 255).astype(np.uint8)


def _ramp(t: np.ndarray, stops: list[tuple[float, tuple[float, float, float]]]) -> np.ndarray:
    """Map ``t`` in [0, 1] through a piecewise-linear colour ramp. Returns ``(..., 3)``."""
    xs = np.array([s[0] for s in stops], np.float32)
    cs = np.array([s[1] for s in stops], np.float32)
    return np.stack([np.interp(t, xs, cs[:, k]) for k in range(3)], axis=-1).astype(np.float32)


def marble(h: int, w: int, rng: np.random.Generator, variant: int) -> np.ndarray:
    """Polished marble: a pale ground with turbulent grey veins and a few gold threads."""
    turb = fractal_noise((h, w), rng, base_cells=3, octaves=6, persistence=0.55)
    theta = rng.uniform(0.3, 1.2) + 0.4 * variant
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) / max(h, w)
    phase = (xx * np.cos(theta) + yy * np.sin(theta)) * rng.uniform(5.0, 8.0) * np.pi
    v = np.abs(np.sin(phase + 7.0 * turb))
    veins = np.exp(-v * rng.uniform(4.0, 6.0)) * (0.55 + 0.45 * fractal_noise((h, w), rng, 3, 3))
    veins = cv2.GaussianBlur(veins, (0, 0), max(h, w) / 700)
    fine = np.exp(-np.abs(np.sin(phase * 2.3 + 12.0 * turb)) * 30.0)
    cloud = fractal_noise((h, w), rng, base_cells=2, octaves=4)
    ground = _ramp(cloud, [(0.0, (0.90, 0.89, 0.86)), (1.0, (0.98, 0.97, 0.95))])
    vein_col = np.array((0.36, 0.36, 0.38), np.float32)
    gold = np.array((0.78, 0.62, 0.30), np.float32)
    img = ground * (1 - 0.8 * veins[..., None]) + vein_col * 0.8 * veins[..., None]
    img = img * (1 - 0.45 * fine[..., None]) + gold * 0.45 * fine[..., None]
    return _to_u8(img + 0.01 * grain((h, w), rng, 0.7)[..., None])


def watercolour(h: int, w: int, rng: np.random.Generator, variant: int) -> np.ndarray:
    """Watercolour wash: overlapping translucent blooms on cold-press paper, with pigment
    pooling along the edges and granulation in the wash."""
    palette = np.array(
        [
            (0.16, 0.45, 0.66),
            (0.35, 0.66, 0.70),
            (0.85, 0.45, 0.52),
            (0.95, 0.75, 0.45),
            (0.42, 0.35, 0.62),
        ],
        np.float32,
    )
    paper = 0.96 - 0.05 * fractal_noise((h, w), rng, base_cells=40, octaves=3)
    img = np.stack([paper * 1.0, paper * 0.99, paper * 0.96], axis=-1)
    n_blooms = 7 + variant * 2
    s = max(h, w)
    for k in range(n_blooms):
        cx, cy = rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h
        r = rng.uniform(0.15, 0.38) * s
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        wobble = 0.35 * r * (value_noise((h, w), 6, rng) - 0.5)
        d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) + wobble
        shape = np.clip((r - d) / (0.05 * r), 0.0, 1.0)
        pooled = np.clip(shape - cv2.GaussianBlur(shape, (0, 0), 0.03 * r), 0, 1) * 2.2
        gran = 0.75 + 0.5 * fractal_noise((h, w), rng, base_cells=60, octaves=2)
        density = (0.45 * shape * gran + pooled) * rng.uniform(0.5, 0.9)
        pigment = palette[(k + variant) % len(palette)]
        # Subtractive mixing: pigment absorbs the complement of its colour.
        img = img * (1.0 - density[..., None] * (1.0 - pigment))
    return _to_u8(img)


def wood(h: int, w: int, rng: np.random.Generator, variant: int) -> np.ndarray:
    """Wood planks: warped growth rings, fibre streaks along the grain, plank seams."""
    planks = 3 + variant % 3
    out = np.zeros((h, w, 3), np.float32)
    light = np.array((0.80, 0.60, 0.38), np.float32) * rng.uniform(0.9, 1.05)
    dark = np.array((0.46, 0.28, 0.14), np.float32) * rng.uniform(0.85, 1.0)
    edges = np.linspace(0, h, planks + 1).astype(int)
    for p in range(planks):
        y0, y1 = edges[p], edges[p + 1]
        ph = y1 - y0
        yy, xx = np.mgrid[0:ph, 0:w].astype(np.float32)
        warp = 40.0 * fractal_noise((ph, w), rng, base_cells=3, octaves=4)
        centre = rng.uniform(-0.5, 1.5) * ph
        dist = np.sqrt(((yy - centre) * 1.0) ** 2 + ((xx - rng.uniform(0, w)) * 0.04) ** 2) + warp
        rings = 0.5 + 0.5 * np.sin(dist * rng.uniform(0.09, 0.16))
        rings = rings**1.6
        fibre = cv2.GaussianBlur(grain((ph, w), rng, 0.0), (0, 0), sigmaX=18.0, sigmaY=0.7)
        fibre = fibre / max(float(np.abs(fibre).max()), 1e-6)
        t = np.clip(0.65 * rings + 0.2 * fibre + 0.15, 0, 1)
        plank = _ramp(t, [(0.0, tuple(light)), (1.0, tuple(dark))])
        plank *= rng.uniform(0.9, 1.08)
        out[y0:y1] = plank
        out[max(y1 - 2, 0) : y1] *= 0.45  # seam
    return _to_u8(out)


def geometric(h: int, w: int, rng: np.random.Generator, variant: int) -> np.ndarray:
    """A Bauhaus-like tile pattern: circles, quarter circles, triangles and stripes in a
    fixed mustard / teal / coral / navy / cream palette. Each tile is drawn on its own
    canvas, so shapes never spill into their neighbours."""
    pal = [
        (0.91, 0.72, 0.22),
        (0.10, 0.52, 0.55),
        (0.93, 0.42, 0.35),
        (0.12, 0.17, 0.33),
        (0.96, 0.93, 0.86),
    ]
    t = int(max(h, w) / (5 + variant))
    img = np.zeros((h, w, 3), np.uint8)
    for ty in range(0, h, t):
        for tx in range(0, w, t):
            bg, fg = rng.choice(len(pal), 2, replace=False)
            tile = np.empty((t, t, 3), np.uint8)
            tile[:] = [int(c * 255) for c in pal[bg]]
            col = tuple(int(c * 255) for c in pal[fg])
            kind = int(rng.integers(0, 4))
            if kind == 0:
                cv2.circle(tile, (t // 2, t // 2), int(t * 0.38), col, -1, cv2.LINE_AA)
            elif kind == 1:
                corner = [(0, 0), (t, 0), (t, t), (0, t)][int(rng.integers(0, 4))]
                cv2.circle(tile, corner, t, col, -1, cv2.LINE_AA)
            elif kind == 2:
                tri = [(0, t), (t, t), (t, 0)] if rng.random() < 0.5 else [(0, 0), (t, 0), (0, t)]
                cv2.fillConvexPoly(tile, np.array(tri), col, cv2.LINE_AA)
            else:
                for k in range(3):
                    y = int((k + 0.5) * t / 3)
                    cv2.line(tile, (t // 8, y), (t - t // 8, y), col, max(t // 12, 2), cv2.LINE_AA)
            ph, pw = min(t, h - ty), min(t, w - tx)
            img[ty : ty + ph, tx : tx + pw] = tile[:ph, :pw]
    # A faint print texture keeps it from looking like vector art.
    tex = 1.0 + 0.03 * (fractal_noise((h, w), rng, base_cells=80, octaves=2) - 0.5)
    return _to_u8(img.astype(np.float32) / 255.0 * tex[..., None])


def bokeh(h: int, w: int, rng: np.random.Generator, variant: int) -> np.ndarray:
    """Warm autumn bokeh: out-of-focus discs of amber, red and gold on a dark warm ground."""
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    ground = (
        np.array((0.20, 0.09, 0.04), np.float32) * (1 - yy)
        + np.array((0.08, 0.04, 0.02), np.float32) * yy
    )
    img = np.broadcast_to(ground, (h, w, 3)).copy()
    cols = np.array(
        [(1.0, 0.62, 0.18), (0.95, 0.30, 0.10), (1.0, 0.82, 0.40), (0.75, 0.20, 0.08)], np.float32
    )
    s = max(h, w)
    for layer, (n, rmin, rmax, blur) in enumerate(
        ((30, 0.05, 0.12, 0.012), (45, 0.02, 0.06, 0.004), (25, 0.01, 0.03, 0.002))
    ):
        acc = np.zeros((h, w, 3), np.float32)
        for _ in range(n + 5 * variant):
            c = cols[int(rng.integers(0, len(cols)))] * rng.uniform(0.3, 0.8)
            r = int(rng.uniform(rmin, rmax) * s)
            cv2.circle(
                acc,
                (int(rng.uniform(0, w)), int(rng.uniform(0, h * 0.85))),
                r,
                tuple(float(v) for v in c),
                -1,
                cv2.LINE_AA,
            )
        acc = cv2.GaussianBlur(acc, (0, 0), max(blur * s, 0.8))
        img = 1.0 - (1.0 - img) * (1.0 - 0.55 * acc)  # screen blend, as light adds up
        del layer
    return _to_u8(img)


STYLE_LOOKS: dict[str, Callable[[int, int, np.random.Generator, int], np.ndarray]] = {
    "marble": marble,
    "watercolour": watercolour,
    "wood": wood,
    "geometric": geometric,
    "bokeh": bokeh,
}
