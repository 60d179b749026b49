"""Procedural product photos with exact ground-truth masks.

A product is drawn as a stack of parts (cylinders, inflated silhouettes, flat faces), each
with an anti-aliased coverage map, shaded under one key light, over a studio background
with a soft contact shadow, then passed through a light camera model (lens blur, sensor
noise). The ground-truth mask is the union of the parts' coverage thresholded at 0.5.

**The contact shadow is background.** It is cast on the backdrop, not part of the
product: masks never include it, RGBA cut-outs never carry it, and a background restyle
may re-apply it on the new backdrop. This follows what professional clipping paths and
alpha mattes deliver.

Everything here is pure: inputs are numbers and a ``numpy.random.Generator``, outputs
are arrays. Images are ``(H, W, 3)`` uint8 RGB; masks ``(H, W)`` uint8 in {0, 255}.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from stylecore.synth.noise import fractal_noise, grain
from stylecore.synth.shading import (
    Light,
    bulge_normals,
    cylinder_normals,
    flat_normals,
    shade,
)

CATEGORIES: tuple[str, ...] = (
    "bottle",
    "mug",
    "sneaker",
    "handbag",
    "box",
    "watch",
    "headphones",
)
BACKGROUNDS: tuple[str, ...] = ("white", "light_grey", "gradient", "paper")

# Width / height of each category's bounding box.
_ASPECT = {
    "bottle": 0.40,
    "mug": 1.22,
    "sneaker": 2.35,
    "handbag": 0.95,
    "box": 0.92,
    "watch": 0.46,
    "headphones": 1.0,
}

_PALETTES: dict[str, list[tuple[float, float, float]]] = {
    "bottle": [(0.20, 0.42, 0.26), (0.55, 0.30, 0.10), (0.16, 0.30, 0.55), (0.62, 0.12, 0.16)],
    "mug": [(0.85, 0.35, 0.25), (0.20, 0.45, 0.60), (0.25, 0.25, 0.28), (0.90, 0.75, 0.25)],
    "sneaker": [(0.15, 0.22, 0.45), (0.75, 0.15, 0.12), (0.30, 0.30, 0.32), (0.20, 0.50, 0.40)],
    "handbag": [(0.45, 0.22, 0.12), (0.12, 0.10, 0.10), (0.62, 0.12, 0.20), (0.72, 0.55, 0.38)],
    "box": [(0.80, 0.45, 0.15), (0.25, 0.40, 0.70), (0.35, 0.60, 0.30), (0.70, 0.20, 0.35)],
    "watch": [(0.30, 0.18, 0.10), (0.10, 0.10, 0.12), (0.25, 0.30, 0.45), (0.55, 0.42, 0.30)],
    "headphones": [(0.12, 0.12, 0.14), (0.80, 0.25, 0.20), (0.25, 0.35, 0.55), (0.55, 0.55, 0.58)],
}
_LIGHT_COLOURS = [(0.95, 0.95, 0.94), (0.97, 0.96, 0.92), (0.93, 0.94, 0.96), (0.96, 0.93, 0.90)]


@dataclass(frozen=True)
class ShotSpec:
    """Everything that decides one rendered photo (besides the random generator)."""

    category: str
    width: int
    height: int
    background: str = "white"
    light_product: bool = False  # a white or near-white product (hard on white backgrounds)
    touch_border: bool = False  # the product runs off one edge of the frame
    fill: float = 0.72  # fraction of the frame the product's long side spans

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"category {self.category!r}: expected one of {CATEGORIES}")
        if self.background not in BACKGROUNDS:
            raise ValueError(f"background {self.background!r}: expected one of {BACKGROUNDS}")
        if min(self.width, self.height) < 32:
            raise ValueError(f"size {self.width}x{self.height}: both sides must be >= 32 px")


@dataclass
class ProductShot:
    """A rendered photo with its ground truth."""

    image: np.ndarray  # (H, W, 3) uint8 RGB, background included
    mask: np.ndarray  # (H, W) uint8 in {0, 255}; product only, shadow excluded
    alpha: np.ndarray  # (H, W) float32 in [0, 1], anti-aliased product coverage
    spec: ShotSpec
    tags: tuple[str, ...] = field(default_factory=tuple)

    def cutout_rgba(self) -> np.ndarray:
        """The product as an RGBA cut-out: ``(H, W, 4)`` uint8, alpha from coverage."""
        a = np.clip(np.rint(self.alpha * 255.0), 0, 255).astype(np.uint8)
        return np.dstack([self.image, a])


class _Scene:
    """Accumulates shaded parts, painter's order, on a float canvas."""

    def __init__(self, h: int, w: int, light: Light, rng: np.random.Generator) -> None:
        self.h, self.w = h, w
        self.light = light
        self.rng = rng
        self.colour = np.zeros((h, w, 3), np.float32)  # premultiplied
        self.alpha = np.zeros((h, w), np.float32)

    # -- coverage primitives (anti-aliased, drawn with 4 bits of sub-pixel precision) --
    def _canvas(self) -> np.ndarray:
        return np.zeros((self.h, self.w), np.uint8)

    @staticmethod
    def _pts(points: list[tuple[float, float]]) -> np.ndarray:
        return np.round(np.asarray(points, np.float64) * 16).astype(np.int32)

    def poly(self, points: list[tuple[float, float]]) -> np.ndarray:
        c = self._canvas()
        cv2.fillPoly(c, [self._pts(points)], 255, cv2.LINE_AA, shift=4)
        return c.astype(np.float32) / 255.0

    def ellipse(
        self,
        centre: tuple[float, float],
        axes: tuple[float, float],
        start: float = 0.0,
        end: float = 360.0,
        thickness: float = -1,
    ) -> np.ndarray:
        """Filled ellipse (``thickness`` < 0) or an arc of ``thickness`` pixels."""
        if thickness < 0:
            pts = _ellipse_points(centre, axes, start, end)
            return self.poly(pts)
        outer = _ellipse_points(
            centre, (axes[0] + thickness / 2, axes[1] + thickness / 2), start, end
        )
        inner = _ellipse_points(
            centre, (axes[0] - thickness / 2, axes[1] - thickness / 2), start, end
        )
        cov = self.poly(outer + inner[::-1])
        # Round caps at both ends of an open arc.
        if (end - start) % 360 != 0:
            for ang in (start, end):
                p = _ellipse_points(centre, axes, ang, ang)[0]
                cov = np.maximum(cov, self.ellipse(p, (thickness / 2, thickness / 2)))
        return cov

    def rounded_rect(self, x0: float, y0: float, x1: float, y1: float, r: float) -> np.ndarray:
        r = max(min(r, (x1 - x0) / 2, (y1 - y0) / 2), 0.0)
        pts: list[tuple[float, float]] = []
        for cx, cy, a0 in (
            (x1 - r, y0 + r, -90),
            (x1 - r, y1 - r, 0),
            (x0 + r, y1 - r, 90),
            (x0 + r, y0 + r, 180),
        ):
            pts += _ellipse_points((cx, cy), (r, r), a0, a0 + 90, n=10)
        return self.poly(pts)

    # -- adding shaded parts --
    def add(
        self,
        coverage: np.ndarray,
        rgb: tuple[float, float, float] | np.ndarray,
        normals: np.ndarray,
        specular: float = 0.25,
        shininess: float = 24.0,
        texture: np.ndarray | None = None,
        clip_to: np.ndarray | None = None,
    ) -> np.ndarray:
        if clip_to is not None:
            coverage = np.minimum(coverage, clip_to)
        col = shade(rgb, normals, self.light, specular, shininess, texture)
        a = coverage[..., None]
        self.colour = self.colour * (1.0 - a) + col * a
        self.alpha = self.alpha + coverage * (1.0 - self.alpha)
        return coverage

    def add_bulge(self, coverage: np.ndarray, rgb, radius: float, **kw) -> np.ndarray:
        return self.add(coverage, rgb, bulge_normals(coverage, radius), **kw)

    def add_cylinder(self, coverage: np.ndarray, rgb, cx: float, radius: float, **kw) -> np.ndarray:
        return self.add(coverage, rgb, cylinder_normals((self.h, self.w), cx, radius), **kw)

    def add_flat(self, coverage: np.ndarray, rgb, normal=(0.0, 0.0, 1.0), **kw) -> np.ndarray:
        return self.add(coverage, rgb, flat_normals((self.h, self.w), normal), **kw)

    def line(self, p0, p1, rgb, width: float, darken: bool = False) -> None:
        """A painted stroke (stitching, laces, print) drawn over the existing parts only."""
        c = self._canvas()
        cv2.line(
            c,
            tuple(int(v) for v in self._pts([p0])[0]),
            tuple(int(v) for v in self._pts([p1])[0]),
            255,
            max(round(width), 1),
            cv2.LINE_AA,
            shift=4,
        )
        a = (c.astype(np.float32) / 255.0) * self.alpha
        col = np.asarray(rgb, np.float32)
        if darken:
            col = self.colour * col
        self.colour = self.colour * (1 - a[..., None]) + col * a[..., None]


def _ellipse_points(centre, axes, start, end, n: int | None = None) -> list[tuple[float, float]]:
    cx, cy = centre
    ax, ay = axes
    if n is None:
        n = max(int(abs(end - start) / 3), 2)
    angles = np.deg2rad(np.linspace(start, end, n))
    return [(cx + ax * math.cos(t), cy + ay * math.sin(t)) for t in angles]


def _jitter(rgb: tuple[float, float, float], rng: np.random.Generator, amount: float = 0.06):
    return tuple(float(np.clip(c + rng.uniform(-amount, amount), 0.02, 0.98)) for c in rgb)


# ---------------------------------------------------------------------------------------
# Category painters. Each receives the scene, the product box (x, y, w, h) in pixels, the
# main colour, an accent colour and the rng, and adds its parts. Comments name the hard
# cases each one carries on purpose.
# ---------------------------------------------------------------------------------------


def _bottle(s: _Scene, box, main, accent, rng) -> None:
    # Thin neck; glass-like high specular; label printed around the body.
    x, y, w, h = box
    cx = x + w / 2
    body = s.rounded_rect(x, y + 0.40 * h, x + w, y + h, 0.10 * w)
    shoulder_pts = []
    for t in np.linspace(0, 1, 16):
        half = 0.17 * w + (0.5 * w - 0.17 * w) * (3 * t**2 - 2 * t**3)
        shoulder_pts.append((cx + half, y + 0.2 * h + t * 0.21 * h))
    shoulder = s.poly(shoulder_pts + [(2 * cx - px, py) for px, py in shoulder_pts[::-1]])
    neck = s.rounded_rect(cx - 0.17 * w, y + 0.08 * h, cx + 0.17 * w, y + 0.22 * h, 0.02 * w)
    cap = s.rounded_rect(cx - 0.20 * w, y, cx + 0.20 * w, y + 0.10 * h, 0.04 * w)
    s.add_cylinder(np.maximum(body, shoulder), main, cx, w / 2, specular=0.55, shininess=60)
    s.add_cylinder(neck, main, cx, 0.17 * w, specular=0.55, shininess=60)
    s.add_cylinder(cap, accent, cx, 0.2 * w, specular=0.35, shininess=30)
    label = s.rounded_rect(x, y + 0.56 * h, x + w, y + 0.86 * h, 0)
    lab_col = (0.93, 0.91, 0.86) if np.mean(main) < 0.7 else (0.3, 0.3, 0.35)
    s.add_cylinder(label, lab_col, cx, w / 2, specular=0.08, shininess=10, clip_to=body)
    s.line((x + 0.1 * w, y + 0.66 * h), (x + 0.9 * w, y + 0.66 * h), accent, 0.05 * h)
    logo = s.ellipse((cx, y + 0.77 * h), (0.12 * w, 0.05 * h))
    s.add_flat(logo, accent, clip_to=label, specular=0.0)


def _mug(s: _Scene, box, main, accent, rng) -> None:
    # The handle's inside is a real hole that shows the background.
    x, y, w, h = box
    bw = 0.78 * w
    cx = x + bw / 2
    body = np.maximum(
        s.rounded_rect(x, y + 0.08 * h, x + bw, y + 0.95 * h, 0.02 * w),
        s.ellipse((cx, y + 0.95 * h), (bw / 2, 0.05 * h)),
    )
    handle = s.ellipse((x + bw, y + 0.50 * h), (0.19 * w, 0.24 * h), -80, 80, thickness=0.075 * w)
    s.add_bulge(handle, main, 0.04 * w, specular=0.4, shininess=40)
    s.add_cylinder(body, main, cx, bw / 2, specular=0.45, shininess=40)
    rim = s.ellipse((cx, y + 0.08 * h), (bw / 2, 0.06 * h))
    s.add_flat(rim, tuple(c * 0.92 for c in main), normal=(0, -0.8, 0.6), specular=0.2)
    inner = s.ellipse((cx, y + 0.085 * h), (bw / 2 - 0.03 * w, 0.048 * h))
    s.add_flat(inner, tuple(c * 0.45 for c in main), normal=(0.3, 0.2, 0.9), specular=0.0)
    band = s.rounded_rect(x, y + 0.45 * h, x + bw, y + 0.55 * h, 0)
    s.add_cylinder(band, accent, cx, bw / 2, specular=0.3, clip_to=body)


def _sneaker(s: _Scene, box, main, accent, rng) -> None:
    # Fabric texture; a white sole that meets a white floor; thin laces.
    x, y, w, h = box
    tex = 1.0 + 0.06 * grain((s.h, s.w), rng, sigma=max(w / 900, 0.7))
    sole_pts = [
        (x + 0.02 * w, y + 0.80 * h),
        (x + 0.96 * w, y + 0.78 * h),
        (x + 1.00 * w, y + 0.86 * h),
        (x + 0.97 * w, y + 0.97 * h),
        (x + 0.05 * w, y + 1.00 * h),
        (x, y + 0.92 * h),
    ]
    upper_pts = [
        (x + 0.02 * w, y + 0.84 * h),
        (x + 0.00 * w, y + 0.45 * h),
        (x + 0.04 * w, y + 0.18 * h),
        (x + 0.14 * w, y + 0.10 * h),
        (x + 0.30 * w, y + 0.22 * h),
        (x + 0.44 * w, y + 0.14 * h),
        (x + 0.50 * w, y + 0.02 * h),
        (x + 0.56 * w, y + 0.10 * h),
        (x + 0.70 * w, y + 0.38 * h),
        (x + 0.88 * w, y + 0.52 * h),
        (x + 0.99 * w, y + 0.68 * h),
        (x + 0.97 * w, y + 0.84 * h),
    ]
    upper = s.poly(upper_pts)
    s.add_bulge(upper, main, 0.09 * h, specular=0.12, shininess=12, texture=tex)
    sole_col = (0.96, 0.95, 0.92) if rng.random() < 0.7 else (0.70, 0.52, 0.32)
    s.add_bulge(s.poly(sole_pts), sole_col, 0.04 * h, specular=0.15)
    s.add_bulge(
        s.ellipse((x + 0.92 * w, y + 0.74 * h), (0.08 * w, 0.11 * h)),
        accent,
        0.05 * h,
        clip_to=upper,
    )
    s.add_bulge(
        s.poly(
            [
                (x, y + 0.30 * h),
                (x + 0.12 * w, y + 0.30 * h),
                (x + 0.14 * w, y + 0.82 * h),
                (x + 0.01 * w, y + 0.82 * h),
            ]
        ),
        accent,
        0.05 * h,
        clip_to=upper,
    )
    collar = s.ellipse((x + 0.26 * w, y + 0.20 * h), (0.12 * w, 0.06 * h))
    s.add_flat(collar, (0.08, 0.08, 0.09), normal=(0, 0.3, 0.95), specular=0.0, clip_to=upper)
    for k in range(5):
        u = 0.50 + 0.05 * k
        s.line(
            (x + u * w, y + (0.12 + 0.06 * k) * h),
            (x + (u + 0.07) * w, y + (0.22 + 0.06 * k) * h),
            (0.97, 0.97, 0.97),
            max(0.012 * h, 1.0),
        )
    s.line((x + 0.2 * w, y + 0.6 * h), (x + 0.75 * w, y + 0.45 * h), accent, 0.03 * h)


def _handbag(s: _Scene, box, main, accent, rng) -> None:
    # The strap is thin and encloses a large hole of background.
    x, y, w, h = box
    tex = 1.0 + 0.05 * (
        fractal_noise((s.h, s.w), rng, base_cells=max(int(w / 6), 8), octaves=2) - 0.5
    )
    strap = s.ellipse(
        (x + 0.5 * w, y + 0.46 * h), (0.30 * w, 0.42 * h), 180, 360, thickness=0.045 * w
    )
    s.add_bulge(strap, main, 0.02 * w, specular=0.3, shininess=30)
    body_pts = [
        (x + 0.10 * w, y + 0.44 * h),
        (x + 0.90 * w, y + 0.44 * h),
        (x + 1.00 * w, y + 0.93 * h),
    ]
    body_pts += _ellipse_points((x + 0.93 * w, y + 0.93 * h), (0.07 * w, 0.07 * h), 0, 90, n=8)
    body_pts += _ellipse_points((x + 0.07 * w, y + 0.93 * h), (0.07 * w, 0.07 * h), 90, 180, n=8)
    body = s.poly(body_pts)
    s.add_bulge(body, main, 0.14 * w, specular=0.3, shininess=28, texture=tex)
    flap_pts = [
        (x + 0.10 * w, y + 0.44 * h),
        (x + 0.90 * w, y + 0.44 * h),
        (x + 0.93 * w, y + 0.60 * h),
    ]
    flap_pts += _ellipse_points((x + 0.5 * w, y + 0.60 * h), (0.43 * w, 0.10 * h), 0, 180, n=20)
    flap = s.poly(flap_pts)
    s.add_bulge(
        flap, tuple(c * 0.95 for c in main), 0.06 * w, specular=0.35, shininess=30, texture=tex
    )
    clasp = s.rounded_rect(x + 0.45 * w, y + 0.64 * h, x + 0.55 * w, y + 0.71 * h, 0.01 * w)
    s.add_bulge(clasp, (0.85, 0.70, 0.35), 0.02 * w, specular=0.9, shininess=80)
    for side in (0.14, 0.86):
        ring = s.ellipse((x + side * w, y + 0.44 * h), (0.025 * w, 0.025 * w), thickness=0.01 * w)
        s.add_bulge(ring, (0.85, 0.70, 0.35), 0.005 * w, specular=0.9, shininess=80)


def _box(s: _Scene, box, main, accent, rng) -> None:
    # Flat faces with hard corners; a white box on white is the hardest case here.
    x, y, w, h = box
    d = 0.25  # oblique depth
    front = s.poly(
        [(x, y + d * h), (x + (1 - d) * w, y + d * h), (x + (1 - d) * w, y + h), (x, y + h)]
    )
    top = s.poly([(x, y + d * h), (x + d * w, y), (x + w, y), (x + (1 - d) * w, y + d * h)])
    side = s.poly(
        [
            (x + (1 - d) * w, y + d * h),
            (x + w, y),
            (x + w, y + (1 - d) * h),
            (x + (1 - d) * w, y + h),
        ]
    )
    s.add_flat(front, main, normal=(-0.2, -0.1, 1.0), specular=0.05)
    s.add_flat(top, main, normal=(-0.1, -1.0, 0.5), specular=0.1)
    s.add_flat(side, main, normal=(1.0, -0.1, 0.35), specular=0.05)
    band = s.poly(
        [
            (x, y + 0.55 * h),
            (x + (1 - d) * w, y + 0.55 * h),
            (x + (1 - d) * w, y + 0.72 * h),
            (x, y + 0.72 * h),
        ]
    )
    s.add_flat(band, accent, normal=(-0.2, -0.1, 1.0), specular=0.05, clip_to=front)
    logo = s.ellipse((x + 0.37 * w, y + 0.42 * h), (0.11 * w, 0.08 * h))
    s.add_flat(logo, accent, normal=(-0.2, -0.1, 1.0), specular=0.05, clip_to=front)
    for k in range(9):  # a barcode on the side
        u = x + (1 - d) * w + (0.04 + 0.018 * k) * w
        s.line(
            (u, y + (0.60 - 0.018 * k) * h),
            (u, y + (0.75 - 0.018 * k) * h),
            (0.1, 0.1, 0.1),
            max(0.006 * w * (1 + k % 3), 1.0),
        )


def _watch(s: _Scene, box, main, accent, rng) -> None:
    # Narrow straps (thin parts) and a polished metal case with strong highlights.
    x, y, w, h = box
    cx, cy = x + 0.5 * w, y + 0.5 * h
    r = 0.5 * w
    metal = (0.78, 0.76, 0.72) if rng.random() < 0.6 else (0.85, 0.68, 0.35)
    for y0, y1 in ((y, y + 0.36 * h), (y + 0.64 * h, y + h)):
        strap = s.rounded_rect(cx - 0.26 * w, y0, cx + 0.26 * w, y1, 0.05 * w)
        s.add_bulge(strap, main, 0.06 * w, specular=0.2, shininess=16)
        for k in range(3):
            hy = y0 + (y1 - y0) * (0.25 + 0.2 * k)
            s.add_flat(
                s.ellipse((cx, hy), (0.02 * w, 0.02 * w)),
                (0.05, 0.05, 0.05),
                specular=0.0,
                clip_to=strap,
            )
    crown = s.rounded_rect(cx + 0.9 * r, cy - 0.08 * r, cx + 1.06 * r, cy + 0.08 * r, 0.02 * w)
    s.add_bulge(crown, metal, 0.03 * w, specular=0.9, shininess=90)
    case = s.ellipse((cx, cy), (r * 0.96, r * 0.96))
    s.add_bulge(case, metal, 0.12 * w, specular=1.0, shininess=90)
    dial_col = (0.97, 0.96, 0.93) if rng.random() < 0.5 else (0.08, 0.10, 0.16)
    dial = s.ellipse((cx, cy), (r * 0.78, r * 0.78))
    s.add_flat(dial, dial_col, specular=0.3, shininess=120)
    tick = tuple(1 - c for c in dial_col)
    for k in range(12):
        t = k * math.pi / 6
        p0 = (cx + 0.62 * r * math.cos(t), cy + 0.62 * r * math.sin(t))
        p1 = (cx + 0.72 * r * math.cos(t), cy + 0.72 * r * math.sin(t))
        s.line(p0, p1, tick, max(0.02 * w, 1.0))
    a1, a2 = rng.uniform(0, 2 * math.pi, 2)
    s.line((cx, cy), (cx + 0.45 * r * math.cos(a1), cy + 0.45 * r * math.sin(a1)), tick, 0.03 * w)
    s.line(
        (cx, cy), (cx + 0.65 * r * math.cos(a2), cy + 0.65 * r * math.sin(a2)), accent, 0.015 * w
    )


def _headphones(s: _Scene, box, main, accent, rng) -> None:
    # A thin headband arc over an open gap of background (open below, so not a hole).
    x, y, w, h = box
    band = s.ellipse(
        (x + 0.5 * w, y + 0.56 * h), (0.40 * w, 0.50 * h), 180, 360, thickness=0.06 * w
    )
    s.add_bulge(band, main, 0.03 * w, specular=0.35, shininess=30)
    pad = s.ellipse(
        (x + 0.5 * w, y + 0.58 * h), (0.36 * w, 0.47 * h), 225, 315, thickness=0.035 * w
    )
    s.add_bulge(pad, tuple(c * 0.7 for c in main), 0.02 * w, specular=0.1)
    for side in (-1, 1):
        ux = x + (0.5 + side * 0.40) * w
        slider = s.rounded_rect(
            ux - 0.018 * w, y + 0.52 * h, ux + 0.018 * w, y + 0.66 * h, 0.01 * w
        )
        s.add_bulge(slider, (0.75, 0.75, 0.76), 0.01 * w, specular=0.8, shininess=60)
        cup_c = (x + (0.5 + side * 0.38) * w, y + 0.80 * h)
        cup = s.ellipse(cup_c, (0.12 * w, 0.19 * h))
        s.add_bulge(cup, main, 0.07 * w, specular=0.45, shininess=40)
        cushion = s.ellipse((cup_c[0] - side * 0.06 * w, cup_c[1]), (0.07 * w, 0.17 * h))
        s.add_bulge(cushion, (0.10, 0.10, 0.11), 0.04 * w, specular=0.1, clip_to=cup)
        logo = s.ellipse((cup_c[0] + side * 0.03 * w, cup_c[1]), (0.035 * w, 0.05 * h))
        s.add_bulge(logo, accent, 0.02 * w, specular=0.6, clip_to=cup)


_PAINTERS: dict[str, Callable] = {
    "bottle": _bottle,
    "mug": _mug,
    "sneaker": _sneaker,
    "handbag": _handbag,
    "box": _box,
    "watch": _watch,
    "headphones": _headphones,
}


# ---------------------------------------------------------------------------------------
# Backgrounds and shadow
# ---------------------------------------------------------------------------------------


def render_background(kind: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A studio backdrop. Returns ``(H, W, 3)`` float32; 'white' is slightly over 1 so the
    camera clips it to pure 255, as over-exposed e-commerce backdrops are."""
    if kind == "white":
        return np.full((h, w, 3), 1.03, np.float32)
    if kind == "light_grey":
        v = rng.uniform(0.84, 0.92)
        return np.full((h, w, 3), v, np.float32) * np.array(
            _jitter((1, 1, 1), rng, 0.01), np.float32
        )
    if kind == "gradient":
        top, bottom = rng.uniform(0.93, 0.99), rng.uniform(0.74, 0.84)
        yy = np.linspace(0, 1, h, dtype=np.float32)[:, None]
        xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
        g = top + (bottom - top) * yy**1.3 - 0.05 * xx**2
        tint = np.array(_jitter((1.0, 1.0, 1.0), rng, 0.025), np.float32)
        return (g[..., None] * tint).astype(np.float32)
    if kind == "paper":
        base = rng.uniform(0.90, 0.95)
        n = fractal_noise((h, w), rng, base_cells=6, octaves=6, persistence=0.6)
        fib = cv2.GaussianBlur(
            grain((h, w), rng, 0.0), (0, 0), sigmaX=max(w / 400, 1.0), sigmaY=0.6
        )
        v = base * (1.0 - 0.05 * n) + 0.006 * fib
        cream = np.array((1.0, 0.985, 0.95), np.float32)
        return (v[..., None] * cream).astype(np.float32)
    raise ValueError(f"background {kind!r}: expected one of {BACKGROUNDS}")


def contact_shadow(alpha: np.ndarray, strength: float = 0.55) -> np.ndarray:
    """Soft shadow under the product's footprint: ``(H, W)`` float32 darkening in [0, 1).

    It is the product silhouette's lowest band squashed onto the floor and blurred twice
    (a tight dark core and a wide penumbra), so it hugs the base as a real contact shadow.
    """
    h, w = alpha.shape
    rows = np.where(alpha.max(axis=1) > 0.5)[0]
    if rows.size == 0:
        return np.zeros_like(alpha)
    y0, y1 = int(rows[0]), int(rows[-1])
    ph = y1 - y0 + 1
    base = alpha[max(y1 - max(ph // 10, 2), 0) : y1 + 1].max(axis=0)
    cols = np.where(base > 0.5)[0]
    if cols.size == 0:
        return np.zeros_like(alpha)
    x0, x1 = int(cols[0]), int(cols[-1])
    cx, half = (x0 + x1) / 2, max((x1 - x0) / 2, 2)
    shadow = np.zeros((h, w), np.float32)
    ry = max(ph * 0.035, 2.0)
    cv2.ellipse(
        shadow,
        (round(cx), y1),
        (round(half * 1.02), round(ry)),
        0,
        0,
        360,
        1.0,
        -1,
        cv2.LINE_AA,
    )
    core = cv2.GaussianBlur(shadow, (0, 0), max(ry * 0.6, 1.0))
    wide = cv2.GaussianBlur(shadow, (0, 0), max(ry * 3.0, 2.0))
    return np.clip(strength * (0.6 * core + 0.5 * wide), 0.0, 0.9).astype(np.float32)


def render_shot(spec: ShotSpec, rng: np.random.Generator) -> ProductShot:
    """Render one product photo described by ``spec`` with ``rng``."""
    h, w = spec.height, spec.width
    light = Light(direction=(rng.uniform(-0.6, -0.3), rng.uniform(-0.7, -0.4), 0.7))
    scene = _Scene(h, w, light, rng)
    aspect = _ASPECT[spec.category]
    fill = float(np.clip(spec.fill * rng.uniform(0.9, 1.08), 0.3, 0.92))
    if aspect >= w / h:
        bw = fill * w
        bh = bw / aspect
    else:
        bh = fill * h
        bw = bh * aspect
    bx = (w - bw) / 2 + rng.uniform(-0.06, 0.06) * (w - bw)
    by = (h - bh) / 2 + rng.uniform(-0.06, 0.04) * (h - bh)
    tags = [spec.background]
    if spec.touch_border:
        edge = ("left", "right", "bottom")[int(rng.integers(0, 3))]
        over = rng.uniform(0.06, 0.16)
        if edge == "left":
            bx = -over * bw
        elif edge == "right":
            bx = w - (1 - over) * bw
        else:
            by = h - (1 - over) * bh
        tags.append(f"touches_{edge}")
    if spec.light_product:
        main = _LIGHT_COLOURS[int(rng.integers(0, len(_LIGHT_COLOURS)))]
        tags.append("light_product")
    else:
        pal = _PALETTES[spec.category]
        main = _jitter(pal[int(rng.integers(0, len(pal)))], rng)
    accent = _jitter(_PALETTES["box"][int(rng.integers(0, 4))], rng, 0.1)
    if spec.category in ("mug", "handbag"):
        tags.append("hole")
    if spec.category in ("bottle", "watch", "headphones", "handbag"):
        tags.append("thin_parts")

    _PAINTERS[spec.category](scene, (bx, by, bw, bh), main, accent, rng)

    alpha = np.clip(scene.alpha, 0.0, 1.0)
    bg = render_background(spec.background, h, w, rng)
    shadow = contact_shadow(alpha, strength=rng.uniform(0.35, 0.6))
    bg = bg * (1.0 - shadow[..., None])
    colour = scene.colour
    img = bg * (1.0 - alpha[..., None]) + colour * alpha[..., None]

    # Camera: a little lens blur scaled with resolution, then sensor noise.
    sigma = 0.45 + 0.35 * max(h, w) / 2048
    img = cv2.GaussianBlur(img, (0, 0), sigma)
    img = img + rng.normal(0.0, 0.006, img.shape).astype(np.float32)
    image = np.clip(np.rint(np.clip(img, 0, 1) * 255.0), 0, 255).astype(np.uint8)
    mask = np.where(alpha >= 0.5, 255, 0).astype(np.uint8)
    return ProductShot(
        image=image, mask=mask, alpha=alpha.astype(np.float32), spec=spec, tags=tuple(tags)
    )
