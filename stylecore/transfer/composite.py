"""Region compositing of a restyled photo with its original.

Images are ``(H, W, 3)`` uint8 RGB; ``alpha`` is the product matte, ``(H, W)`` float32 in
[0, 1]. Three regions:

- ``background`` (the catalogue default): the original product over the restyled
  background. Where the (eroded) matte is 1 the output pixels are the input's, exactly.
- ``product``: the restyled product over the original background.
- ``all``: the restyled photo everywhere.

Where the soft edge lies in ``background`` mode (``edge``):

- ``outside`` (default): every pixel the segmenter calls product (alpha >= 0.5) is kept,
  byte for byte more than ``rim_px + rim_deep_px`` (3 px) inside the outline; the
  transition to the new background runs over the outer half of the feather, i.e. over
  old backdrop pixels, at opacity ``2 alpha``. Their colour is the product's own colour
  extended outward (a normalised convolution of nearby product pixels, reaching as far
  as a soft, out-of-focus edge needs), so no light fringe of the old backdrop survives and the
  product keeps its whole outline. Within ``rim_px`` of the outline, a kept pixel that
  is a mix of product and old backdrop (anti-aliasing) has the backdrop's share swapped
  for the new background's (``_rim``); where the matte overshoots the product's edge on
  a coloured backdrop, within ``rim_px + rim_deep_px`` (3 px);
- ``straddle``: the transition follows the matte on both sides of the outline, with
  **edge decontamination**: a soft-edge pixel of the original is ``a*F + (1-a)*B`` with B
  the old backdrop; B is estimated from nearby backdrop pixels and removed. This changes
  the product's outermost pixels (by ``(1-a)`` times the backdrop change).

``erode_px`` shrinks the matte first (0 by default) when a segmenter's masks run large.

``shadow_multiplier`` measures how much the original backdrop is darkened (the contact
shadow) so that the new background can be darkened the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

Region = Literal["background", "product", "all"]


@dataclass(frozen=True)
class CompositeConfig:
    region: Region = "background"
    edge: Literal["outside", "straddle"] = "outside"  # where the soft edge lies
    erode_px: float = 0.0  # shrink the product matte before compositing
    decontaminate: bool = True  # straddle mode only
    keep_shadow: bool = True
    rim_px: int = 2  # outside mode: the old backdrop's share is swapped out of this many
    # px of the outline (0 = every product pixel kept exactly, outline included) ...
    rim_deep_px: int = 1  # ... and of up to this many px further in, only where the
    # matte overshoots the product's edge (its rim there is mostly old backdrop)
    shadow_floor: float = 0.35  # never darken the new background below this factor
    light_sweep: float = 0.5  # synthesis: exponent on the backdrop's light field (1 = as is)
    light_gain: float = 1.15  # synthesis: the light is levelled to 1 at the backdrop's median,
    # so the look keeps its own brightness there; brighter parts are lifted at most this much


def erode_matte(alpha: np.ndarray, px: float) -> np.ndarray:
    """Grey-level erosion of the matte by ``px`` pixels (0 leaves it unchanged)."""
    r = int(round(px))
    if r <= 0:
        return alpha.astype(np.float32)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.erode(alpha.astype(np.float32), k, borderType=cv2.BORDER_REPLICATE)


def _local_backdrop(img: np.ndarray, alpha: np.ndarray, radius: int) -> np.ndarray:
    """Mean colour of nearby backdrop pixels (alpha == 0) around each pixel, float32."""
    w = (alpha <= 0.0).astype(np.float32)
    k = (2 * radius + 1, 2 * radius + 1)
    num = cv2.boxFilter(img.astype(np.float32) * w[..., None], -1, k)
    den = cv2.boxFilter(w, -1, k)[..., None]
    fallback = img[alpha <= 0].mean(axis=0) if (alpha <= 0).any() else np.full(3, 255.0)
    return np.where(den > 1e-3, num / np.maximum(den, 1e-3), fallback).astype(np.float32)


def decontaminate(img: np.ndarray, alpha: np.ndarray, radius: int = 6) -> np.ndarray:
    """Estimated pure product colour F in the soft edge: ``(I - (1-a) B) / a``, float32
    ``(H, W, 3)`` in [0, 255]; pixels with alpha 0 or 1 keep their values."""
    a = alpha[..., None].astype(np.float32)
    f = img.astype(np.float32)
    band = (alpha > 0.02) & (alpha < 1.0)
    if not band.any():
        return f
    b = _local_backdrop(img, alpha, radius)
    pure = np.clip((f - (1.0 - a) * b) / np.maximum(a, 0.02), 0, 255)
    return np.where(band[..., None], pure, f)


def extend_colours(img: np.ndarray, solid: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """Colours of the ``solid`` pixels spread outward: a Gaussian-weighted mean of nearby
    solid pixels at every pixel, float32. Where none lies within a few ``sigma`` the
    spread is repeated at 4x and 16x the reach (on 4x and 16x smaller copies), so the
    wide soft edge of an out-of-focus product (``soften_defocus``, 20-40 px) is drawn in
    the product's colour all the way out; the image itself only where even that finds
    no solid pixel."""
    w = solid.astype(np.float32)
    f = img.astype(np.float32)
    num = cv2.GaussianBlur(f * w[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(w, (0, 0), sigma)
    out = np.where(den[..., None] > 1e-3, num / np.maximum(den, 1e-3)[..., None], f)
    missing = den <= 1e-3
    h, wd = w.shape
    for k in (4, 16):
        if not missing.any() or min(h, wd) < 2 * k:
            break
        size = (max(wd // k, 1), max(h // k, 1))
        num_k = cv2.GaussianBlur(
            cv2.resize(f * w[..., None], size, interpolation=cv2.INTER_AREA), (0, 0), sigma
        )
        den_k = cv2.GaussianBlur(cv2.resize(w, size, interpolation=cv2.INTER_AREA), (0, 0), sigma)
        num_k = cv2.resize(num_k, (wd, h), interpolation=cv2.INTER_LINEAR)
        den_k = cv2.resize(den_k, (wd, h), interpolation=cv2.INTER_LINEAR)
        ok = missing & (den_k > 1e-4)
        out[ok] = num_k[ok] / den_k[ok][:, None]
        missing &= ~ok
    return out


def composite_matte(alpha: np.ndarray, cfg: CompositeConfig = CompositeConfig()) -> np.ndarray:
    """The matte ``composite`` uses in ``background`` mode: 1 where the output pixel is the
    input's exactly, 0 where it is the restyled background's."""
    a = erode_matte(alpha, cfg.erode_px)
    if cfg.edge == "outside":
        return np.clip(a * 2.0, 0.0, 1.0)
    return a


def luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luminance, float32 ``(H, W)`` in [0, 255]."""
    if rgb.dtype == np.uint8:
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return (rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114).astype(np.float32)


def shadow_multiplier(
    img: np.ndarray, alpha: np.ndarray, backdrop_luma: np.ndarray, floor: float = 0.35
) -> np.ndarray:
    """Per-pixel darkening of the original backdrop relative to a shadow-free backdrop
    model (``backdrop_luma``, ``(H, W)`` luminance): the ratio in [floor, 1], 1 on the
    product."""
    ratio = luma(img) / np.maximum(backdrop_luma.astype(np.float32), 1.0)
    np.clip(ratio, floor, 1.0, out=ratio)
    ratio = cv2.GaussianBlur(ratio, (0, 0), 1.0)
    ratio[alpha >= 0.5] = 1.0
    return ratio


def foreign_colour(lab: np.ndarray, model_lab: np.ndarray, noise: float) -> np.ndarray:
    """Pixels whose colour the backdrop cannot take under any light: their a*b* differ
    from the backdrop model's by more than ``max(6, 5 x noise)`` and they are not its cast
    shadow (darkened with its hue kept, ``refine.cast_shadow``). A green leaf on a white
    wall, a red label's reflection; not a grey shadow, not the backdrop's own grain."""
    from stylecore.segmentation.refine import cast_shadow

    d = lab - model_lab
    chroma = np.hypot(d[..., 1], d[..., 2])
    return (chroma > max(6.0, 5.0 * noise)) & ~cast_shadow(lab, model_lab, 0.9)


def backdrop_light(
    img: np.ndarray,
    alpha: np.ndarray,
    floor: float = 0.35,
    sweep: float = 1.0,
    side: int = 512,
    gain: float = 1.0,
    dark: tuple[float, float] = (6.0, 18.0),
) -> np.ndarray:
    """How the source backdrop is lit, as a multiplier ``(H, W)`` float32 in [floor, 1]
    for a new background: the backdrop's smooth light field (the wall-to-floor sweep and
    the vignette: a quadratic surface fitted to the frame's border, over its brightest
    level) times the contact shadow (the photo's darkening below that surface, as
    ``shadow_multiplier``; reflections on a glossy floor count as darkening too, never as
    brightening). Measured at ``side`` px on the long side and blurred, so the old
    backdrop's own grain and noise do not print into the new one; 1 on the product.
    ``sweep`` is an exponent on the smooth field: 1 keeps it as measured, 0 drops it (the
    contact shadow always stays). ``gain`` > 1 levels the light instead: divided by its
    median over the backdrop, so a typical backdrop pixel leaves the new background as it
    is (a white look stays white rather than turning grey); the brighter parts are
    blurred wider and lifted at most ``gain`` times, reaching it smoothly
    (``soft_ceiling``); the range is then [floor, gain].

    On a black backdrop the light cannot be read: where the backdrop's median luma is
    below ``dark[0]`` its darkening and brightening are JPEG quantisation and the
    product's own glow, and the light is 1 everywhere; up to ``dark[1]`` it fades in. A
    laptop shot on black (median luma 0, its screen's bloom at 20-30) carried a pale halo
    around the laptop onto every look; a dark desk at luma 25 keeps its pool of light."""
    from stylecore.segmentation.edges import fit_backdrop
    from stylecore.segmentation.refine import to_lab

    H, W = alpha.shape
    k = min(1.0, side / max(H, W))
    h, w = max(int(round(H * k)), 1), max(int(round(W * k)), 1)
    small = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA) if k < 1 else img
    a_s = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_AREA) if k < 1 else alpha
    lab = to_lab(small)
    model_lab, noise, _ = fit_backdrop(lab, 0.015)
    model = luma(np.clip(cv2.cvtColor(model_lab, cv2.COLOR_Lab2RGB), 0, 1) * 255.0)
    back = a_s < 0.5
    top = float(np.percentile(model[back], 99)) if back.any() else float(model.max())
    field = np.clip(model / max(top, 1.0), floor, 1.0) ** sweep
    shadow = shadow_multiplier(small, a_s, model, floor)
    # blurred over backdrop pixels only (a normalised convolution), so the product's
    # 1s do not wash out the contact shadow right at its base; and over what can be the
    # backdrop lit or in shadow only (``foreign_colour``): a leaf the mask left out
    # printed as a grey smudge in the new background
    foreign = back & foreign_colour(lab, model_lab, noise)
    sigma, wgt = max(1.0, 1.5 * max(h, w) / 512), (back & ~foreign).astype(np.float32)
    den = cv2.GaussianBlur(wgt, (0, 0), sigma)
    num = cv2.GaussianBlur(shadow * wgt, (0, 0), sigma)
    fine = num / np.maximum(den, 1e-3)
    # A left-out region wider than the blur takes the light of the backdrop around it,
    # from a blur 12x wider, not 1: the orange light a terracotta pot throws on the
    # shaded paper beside it printed as a white ghost (light 1.0 inside the shade's 0.9)
    den_w = cv2.GaussianBlur(wgt, (0, 0), 12 * sigma)
    num_w = cv2.GaussianBlur(shadow * wgt, (0, 0), 12 * sigma)
    wide = np.where(den_w > 1e-3, num_w / np.maximum(den_w, 1e-3), 1.0)
    t = np.clip(den / 0.25, 0.0, 1.0)
    shadow = (t * fine + (1.0 - t) * wide).astype(np.float32)
    light = np.clip(field * shadow, floor, 1.0).astype(np.float32)
    if gain > 1.0 and back.any():
        level = max(float(np.median(light[back])), 1e-3)
        light = light / level
        # What is brighter than the median is a pool of light (a lamp, a lit screen): it is
        # smooth in the world, so it is blurred 6x wider than the shadows, whose edges
        # must stay at the product's base; and it rolls off softly into `gain`: a hard
        # clip turned a screen-lit desk into a flat pale stain with the old desk's grain
        # along its edge.
        lift = np.maximum(light, 1.0)
        den6 = cv2.GaussianBlur(wgt, (0, 0), 6 * sigma)
        num6 = cv2.GaussianBlur(lift * wgt, (0, 0), 6 * sigma)
        lift = np.where(den6 > 1e-3, num6 / np.maximum(den6, 1e-3), 1.0)
        light = np.minimum(light, 1.0) * soft_ceiling(lift, gain)
        light = np.clip(light, floor, gain).astype(np.float32)
    if back.any():
        level_luma = float(np.median(luma(small)[back]))
        fade = float(np.clip((level_luma - dark[0]) / max(dark[1] - dark[0], 1e-6), 0.0, 1.0))
        if fade < 1.0:
            light = (1.0 + (light - 1.0) * fade).astype(np.float32)
    if k < 1:
        light = cv2.resize(light, (W, H), interpolation=cv2.INTER_LINEAR)
    light[alpha >= 0.5] = 1.0
    return light


def soft_ceiling(x: np.ndarray, top: float) -> np.ndarray:
    """``x`` >= 1 compressed into [1, ``top``): the identity near 1 (slope 1), tending to
    ``top`` smoothly, ``1 + (top - 1) tanh((x - 1) / (top - 1))``."""
    span = max(top - 1.0, 1e-6)
    return (1.0 + span * np.tanh((x - 1.0) / span)).astype(np.float32)


def apply_light(values: np.ndarray, light: np.ndarray) -> np.ndarray:
    """``values`` (0-255) under a light multiplier: darkening multiplies (a shadow keeps
    the texture's contrast in proportion), brightening lifts the distance to white,
    ``255 - (255 - v) / light``, so a light pool on a white look brightens its veins and
    never clips the look flat to white (a screen-lit desk did). float32."""
    v = values.astype(np.float32)
    return np.where(light > 1.0, 255.0 - (255.0 - v) / np.maximum(light, 1e-3), v * light)


def composite(
    original: np.ndarray,
    styled: np.ndarray,
    alpha: np.ndarray,
    cfg: CompositeConfig = CompositeConfig(),
    shadow: np.ndarray | None = None,
) -> np.ndarray:
    """Combine ``original`` and ``styled`` by ``cfg.region`` (see the module docstring).
    ``shadow`` is an optional multiplier from ``shadow_multiplier``. Returns uint8 RGB.

    Works in uint8 except on the pixels that need blending (the soft edge, the shadow),
    so a 6000x4000 photo needs no full-size float copies."""
    if original.shape != styled.shape or original.shape[:2] != alpha.shape:
        raise ValueError(
            f"composite: shapes differ {original.shape}, {styled.shape}, {alpha.shape}"
        )
    if cfg.region == "all":
        return styled.copy()
    if cfg.region == "product":
        a = alpha.astype(np.float32)[..., None]
        out = styled.astype(np.float32) * a + original.astype(np.float32) * (1 - a)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)
    a2 = composite_matte(alpha, cfg)
    out = styled.copy()
    if cfg.keep_shadow and shadow is not None:
        lit = np.abs(shadow - 1.0) > 1e-3
        out[lit] = np.clip(apply_light(out[lit], shadow[lit][:, None]) + 0.5, 0, 255).astype(
            np.uint8
        )
    band = (a2 > 0) & (a2 < 1)
    zone = band
    if cfg.edge == "outside" and cfg.rim_px > 0:  # a hard matte has a rim but no band
        solid_u8 = (a2 >= 1.0).astype(np.uint8)
        zone = band | (solid_u8 != cv2.erode(solid_u8, np.ones((3, 3), np.uint8)))
    rim = None
    if zone.any():
        ys, xs = np.nonzero(zone)
        pad = 8
        y0, y1 = max(ys.min() - pad, 0), min(ys.max() + pad + 1, alpha.shape[0])
        x0, x1 = max(xs.min() - pad, 0), min(xs.max() + pad + 1, alpha.shape[1])
        orig_c, a_c = original[y0:y1, x0:x1], a2[y0:y1, x0:x1]
        if cfg.edge == "outside":
            # The rim first (its old backdrop swapped out), then its colours spread
            # outward from one pixel inside the outline, which is often anti-aliased.
            rim = _rim(orig_c, out[y0:y1, x0:x1], a_c, cfg.rim_px, cfg.rim_deep_px)
            src = orig_c
            if rim is not None:
                src = orig_c.copy()
                src[rim[0], rim[1]] = rim[2]
            solid = (a_c >= 1.0).astype(np.uint8)
            inner = cv2.erode(solid, np.ones((3, 3), np.uint8))
            fg = extend_colours(src, inner if inner.any() else solid)
        elif cfg.decontaminate:
            fg = decontaminate(orig_c, a_c)
        else:
            fg = orig_c.astype(np.float32)
        b = band[y0:y1, x0:x1]
        bg = out[y0:y1, x0:x1][b].astype(np.float32)
        av = a_c[b][:, None]
        blended = np.clip(fg[b] * av + bg * (1 - av) + 0.5, 0, 255).astype(np.uint8)
        region = out[y0:y1, x0:x1]
        region[b] = blended
    solid = a2 >= 1.0
    out[solid] = original[solid]  # exact product pixels, not a float round trip
    if rim is not None:
        ry, rx, values = rim
        out[y0:y1, x0:x1][ry, rx] = values
    return out


def _rim(
    orig: np.ndarray,
    new_bg: np.ndarray,
    a2: np.ndarray,
    rim_px: int,
    deep_px: int = 0,
    min_contrast: float = 30.0,
    overshoot: float = 0.25,
    min_chroma: float = 30.0,
):
    """The outline's own pixels in ``outside`` mode: a kept pixel within ``rim_px`` of
    the outline is often a mix ``a F + (1 - a) B`` of the product and the old backdrop
    (anti-aliasing, a slightly soft edge), which reads as a thin pale line on a dark new
    background. Where a pixel fits that mix (F: the product's colour from further inside;
    B: the old backdrop's from further out, where the matte is 0, looked for twice as far
    as F, since a segmenter's feathered or defocused edge puts it 5-8 px out and the
    backdrop is smooth; ``a`` by projection on the line between them, with a small
    residual) the old backdrop's share is swapped for the new background's:
    ``I + (1 - a) (new - B)``, which keeps the pixel's own detail.

    Where the matte overshoots the product's edge on a coloured backdrop (its RGB
    channels ``min_chroma`` levels apart or more), the rim is mostly old backdrop (``a``
    under ``overshoot``) and the product's own mixed pixels lie further in: there, and
    within ``deep_px`` of such rim pixels, the swap reaches ``deep_px`` further (F then
    from beyond that). A pendant lamp's white rim on a teal wall, its matte 1.5 px wide
    of the edge, kept a line of pixels 25% teal 3 px inside the outline, dashed grey on
    every look. Where the rim is the product (a matte on or inside the edge) nothing
    deeper is touched: a 3 px swap everywhere altered more true product on renders.

    Returns the rows, columns and uint8 values to write, or None."""
    if rim_px <= 0:
        return None
    solid = (a2 >= 1.0).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rim_px + 1,) * 2)
    core = cv2.erode(solid, k)
    ring = (solid > 0) & (core == 0)
    back = cv2.erode((a2 <= 0.0).astype(np.uint8), np.ones((3, 3), np.uint8))
    if not ring.any() or not core.any() or not back.any():
        return None
    inner = cv2.erode(core, np.ones((3, 3), np.uint8))  # clear of the rim's own mixing
    if not inner.any():
        inner = core
    deep = np.zeros_like(ring)
    inner_deep = inner
    if deep_px > 0:
        kd = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * (rim_px + deep_px) + 1,) * 2)
        core_deep = cv2.erode(solid, kd)
        deep = (core > 0) & (core_deep == 0)
        inner_deep = cv2.erode(core_deep, np.ones((3, 3), np.uint8))
        if not inner_deep.any():
            deep[:] = False
    cand = ring | deep
    ry, rx = np.nonzero(cand)
    fg = np.zeros((ry.size, 3), np.float32)
    bg_old = np.zeros((ry.size, 3), np.float32)
    found = np.zeros(ry.size, bool)
    is_deep = deep[ry, rx]
    # On tiles around the rim only: a product that fills the frame has a rim of a few
    # thousand pixels but a box of millions.
    T, halo = 128, 16
    H, W = cand.shape
    tile_of = (ry // T) * ((W + T - 1) // T) + rx // T
    order = np.argsort(tile_of, kind="stable")
    bounds = np.flatnonzero(np.diff(tile_of[order])) + 1
    for idx in np.split(order, bounds):
        ty, tx = ry[idx[0]] // T, rx[idx[0]] // T
        y0, x0 = max(ty * T - halo, 0), max(tx * T - halo, 0)
        y1, x1 = min((ty + 1) * T + halo, H), min((tx + 1) * T + halo, W)
        sl = np.s_[y0:y1, x0:x1]
        ly, lx = ry[idx] - y0, rx[idx] - x0
        f, f_ok = _near_colours(orig[sl], inner[sl])
        b, b_ok = _near_colours(orig[sl], back[sl], sigma=4.0)
        fg[idx], bg_old[idx] = f[ly, lx], b[ly, lx]
        found[idx] = f_ok[ly, lx] & b_ok[ly, lx]
        d_idx = idx[is_deep[idx]]
        if d_idx.size:
            fd, fd_ok = _near_colours(orig[sl], inner_deep[sl])
            dy, dx = ry[d_idx] - y0, rx[d_idx] - x0
            fg[d_idx] = fd[dy, dx]
            found[d_idx] = fd_ok[dy, dx] & b_ok[dy, dx]
    px = orig[ry, rx].astype(np.float32)
    diff = fg - bg_old
    c2 = (diff * diff).sum(-1)
    a = np.clip(((px - bg_old) * diff).sum(-1) / np.maximum(c2, 1e-6), 0.0, 1.0)
    resid = px - (bg_old + a[:, None] * diff)
    fits = found & (c2 >= min_contrast**2) & ((resid * resid).sum(-1) <= 0.04 * c2) & (a < 0.98)
    if is_deep.any():
        # deeper pixels only beside rim pixels that are mostly old backdrop, and only on
        # a coloured backdrop: on white or grey a light product face reads as mostly
        # backdrop too (a cream bottle's bitten edge on grey sent the swap into its
        # orange stripe: 2 more renders on grey altered by more than 0.5%)
        coloured = (bg_old.max(-1) - bg_old.min(-1)) >= min_chroma
        over = np.zeros(cand.shape, np.uint8)
        sel = fits & ~is_deep & (a < overshoot) & coloured
        over[ry[sel], rx[sel]] = 1
        kd = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * deep_px + 1,) * 2)
        beside = cv2.dilate(over, kd) > 0
        fits &= ~is_deep | beside[ry, rx]
    ry, rx, a, px, bg_old = ry[fits], rx[fits], a[fits], px[fits], bg_old[fits]
    new = new_bg[ry, rx].astype(np.float32)
    values = px + (1.0 - a[:, None]) * (new - bg_old)
    return ry, rx, np.clip(values + 0.5, 0, 255).astype(np.uint8)


def _near_colours(img: np.ndarray, members: np.ndarray, sigma: float = 2.0):
    """Gaussian-weighted mean colour of nearby ``members`` at every pixel (float32), and
    where there were any."""
    w = members.astype(np.float32)
    num = cv2.GaussianBlur(img.astype(np.float32) * w[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(w, (0, 0), sigma)
    return num / np.maximum(den, 1e-3)[..., None], den > 1e-3


def preserve_colour(original: np.ndarray, styled: np.ndarray) -> np.ndarray:
    """Luminance-only transfer: the styled image's L* with the original's a* b* (as the
    colour-preservation options of Gatys et al. and AdaIN do). uint8 RGB."""
    lo = cv2.cvtColor(original.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    ls = cv2.cvtColor(styled.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    mixed = np.dstack([ls[..., 0], lo[..., 1], lo[..., 2]])
    rgb = cv2.cvtColor(mixed, cv2.COLOR_Lab2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
