"""Small shading toolkit for the synthetic product renderer.

Surfaces are described by a coverage map (anti-aliased, float32 in [0, 1]) and a normal
field (float32 ``(H, W, 3)``, unit vectors, +z toward the camera). Shading is Lambert
diffuse plus Blinn-Phong specular under one key light and an ambient term, which is
enough to read as a studio product shot.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Light:
    """Key light direction (toward the light, camera space) and strengths."""

    direction: tuple[float, float, float] = (-0.45, -0.55, 0.70)
    ambient: float = 0.38
    diffuse: float = 0.68


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-6)


def flat_normals(shape: tuple[int, int], normal: tuple[float, float, float]) -> np.ndarray:
    """A constant normal field of ``shape``. Returns ``(H, W, 3)`` float32."""
    n = _unit(np.asarray(normal, np.float32))
    return np.broadcast_to(n, (*shape, 3)).astype(np.float32)


def cylinder_normals(shape: tuple[int, int], cx: float, radius: float) -> np.ndarray:
    """Normals of a vertical cylinder with axis at column ``cx`` and ``radius`` pixels."""
    h, w = shape
    x = (np.arange(w, dtype=np.float32) - cx) / max(radius, 1.0)
    nx = np.clip(x, -0.97, 0.97)
    nz = np.sqrt(1.0 - nx**2)
    n = np.stack([nx, np.zeros_like(nx), nz], axis=-1)
    return np.broadcast_to(n[None, :, :], (h, w, 3)).astype(np.float32)


def bulge_normals(coverage: np.ndarray, radius: float, flatness: float = 0.0) -> np.ndarray:
    """Normals of a pillow-like surface inflated from a 2-D silhouette.

    The height rises as a quarter circle over ``radius`` pixels from the outline, then stays
    flat (``flatness`` in [0, 1) damps the slope everywhere for stiffer materials).
    """
    binary = (coverage > 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(binary, cv2.DIST_L2, 5)
    radius = max(radius, 1.0)
    t = np.clip(dist / radius, 0.0, 1.0)
    height = radius * np.sqrt(1.0 - (1.0 - t) ** 2)
    height = cv2.GaussianBlur(height, (0, 0), max(radius * 0.08, 0.6))
    gy, gx = np.gradient(height)
    k = 1.0 - flatness
    n = np.stack([-gx * k, -gy * k, np.ones_like(gx)], axis=-1)
    return _unit(n).astype(np.float32)


def shade(
    base_rgb: np.ndarray | tuple[float, float, float],
    normals: np.ndarray,
    light: Light,
    specular: float = 0.25,
    shininess: float = 24.0,
    texture: np.ndarray | None = None,
) -> np.ndarray:
    """Shade a surface.

    base_rgb: RGB in [0, 1], a triple or ``(H, W, 3)``; normals: ``(H, W, 3)`` unit;
    texture: optional ``(H, W)`` multiplicative albedo modulation around 1.
    Returns ``(H, W, 3)`` float32, not clipped (highlights may exceed 1).
    """
    L = _unit(np.asarray(light.direction, np.float32))
    V = np.array([0.0, 0.0, 1.0], np.float32)
    Hv = _unit(L + V)
    ndl = np.clip(normals @ L, 0.0, 1.0)
    ndh = np.clip(normals @ Hv, 0.0, 1.0)
    albedo = np.asarray(base_rgb, np.float32)
    if albedo.ndim == 1:
        albedo = np.broadcast_to(albedo, normals.shape)
    if texture is not None:
        albedo = albedo * texture[..., None]
    lit = albedo * (light.ambient + light.diffuse * ndl)[..., None]
    spec = (specular * ndh**shininess)[..., None]
    return (lit + spec).astype(np.float32)
