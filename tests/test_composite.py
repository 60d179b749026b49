import cv2
import numpy as np
import pytest

from stylecore.segmentation.edges import fit_backdrop
from stylecore.segmentation.refine import to_lab
from stylecore.synth.products import ShotSpec, render_shot
from stylecore.transfer.composite import (
    CompositeConfig,
    backdrop_light,
    composite,
    composite_matte,
    decontaminate,
    erode_matte,
    luma,
    preserve_colour,
    shadow_multiplier,
)


def _shot(category="mug", bg="white", size=(200, 160), seed=0):
    return render_shot(ShotSpec(category, size[0], size[1], bg), np.random.default_rng(seed))


def _styled(shape, seed=1):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, shape, dtype=np.uint8)


@pytest.mark.parametrize("edge", ["outside", "straddle"])
@pytest.mark.parametrize("erode", [0.0, 1.0, 2.0])
def test_background_mode_keeps_product_pixels_exactly(edge, erode):
    shot = _shot()
    styled = _styled(shot.image.shape)
    cfg = CompositeConfig(edge=edge, erode_px=erode)
    out = composite(shot.image, styled, shot.alpha, cfg)
    matte = composite_matte(shot.alpha, cfg)
    solid = matte >= 1.0
    assert solid.sum() > 1000
    # In outside mode the rim's old backdrop is swapped out (rim_px); inside it, and
    # everywhere with rim_px=0, the product is the input byte for byte.
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * cfg.rim_px + 1,) * 2)
    inner = cv2.erode(solid.astype(np.uint8), k) > 0 if edge == "outside" else solid
    assert np.array_equal(out[inner], shot.image[inner])
    whole = composite(
        shot.image, styled, shot.alpha, CompositeConfig(edge=edge, erode_px=erode, rim_px=0)
    )
    assert np.array_equal(whole[solid], shot.image[solid])
    if edge == "outside" and erode == 0:
        assert np.array_equal(solid, shot.alpha >= 0.5)  # the whole outline is kept
    assert np.array_equal(
        solid, erode_matte(shot.alpha, erode) >= (0.5 if edge == "outside" else 1)
    )
    outside = matte <= 0.0
    assert np.array_equal(out[outside], styled[outside])


def _red_disc_on_white(h=64, w=64):
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.hypot(yy - 32, xx - 32)
    alpha = np.clip(20.5 - d, 0, 1).astype(np.float32)
    red = np.array([200, 20, 20], np.float32)
    img = (red * alpha[..., None] + 255 * (1 - alpha[..., None])).astype(np.uint8)
    return img, alpha


def test_outside_edge_blends_product_colour_into_the_new_background():
    # The outer ramp mixes the product's red with the new blue background: no white
    # fringe of the old backdrop, and a soft (not stair-cased) transition.
    img, _ = _red_disc_on_white()
    yy, xx = np.mgrid[0:64, 0:64]
    alpha = np.clip((20.5 - np.hypot(yy - 32, xx - 32)) / 4 + 0.5, 0, 1).astype(np.float32)
    blue = np.zeros_like(img)
    blue[..., 2] = 200
    out = composite(img, blue, alpha, CompositeConfig())
    ramp = (composite_matte(alpha) > 0.05) & (composite_matte(alpha) < 0.95)
    assert ramp.sum() > 100
    assert out[ramp][:, 1].max() < 60  # green stays low: red and blue only, no white
    a = composite_matte(alpha)[ramp][:, None]
    expected = a * np.array([200, 20, 20]) + (1 - a) * np.array([0, 0, 200])
    assert np.abs(out[ramp] - expected).max() < 25


@pytest.mark.parametrize("matte", ["hard", "feathered"])
def test_rim_loses_the_old_backdrop_but_keeps_its_detail(matte):
    """A dark product anti-aliased against white, put on a dark new background: the kept
    outline pixels read as a pale line unless their white share is swapped out. Also
    under a matte feathered over 8 px (a segmenter's soft or defocused edge): the old
    backdrop's colour is then found further out, where the matte reaches 0 (within 2 px,
    as before the seventh session, it was not found, and the pale line stayed)."""
    h = w = 96
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(yy - 48, xx - 48)
    true = np.clip(30.5 - r, 0, 1).astype(np.float32)
    true = cv2.GaussianBlur(true, (0, 0), 0.8)  # a lens's softness: 2-3 px of mixing
    dark = np.array([30.0, 30.0, 35.0])
    img = (true[..., None] * dark + (1 - true[..., None]) * 250.0).astype(np.uint8)
    img[40:56, 46:50] = 90  # a detail near the outline... inside the rim it stays
    alpha = (true >= 0.3).astype(np.float32)
    if matte == "feathered":  # 1 inside r = 27, 0 outside r = 35
        alpha = np.clip((35.0 - r) / 8.0, 0, 1).astype(np.float32)
    new_bg = np.full_like(img, 60)
    ring = (alpha >= 0.5) & (cv2.erode((alpha >= 0.5).astype(np.uint8), np.ones((5, 5))) == 0)

    ideal = true[..., None] * dark + (1 - true[..., None]) * 60.0

    def pale(out):  # mean excess lightness over the ideal composite, on the rim
        return float(np.maximum(out.astype(np.float32) - ideal, 0).mean(-1)[ring].mean())

    with_rim = composite(img, new_bg, alpha, CompositeConfig())
    without = composite(img, new_bg, alpha, CompositeConfig(rim_px=0))
    assert pale(without) > 10.0  # the defect is there without the swap
    assert pale(with_rim) < 0.3 * pale(without), (pale(with_rim), pale(without))
    inner = cv2.erode((alpha >= 0.5).astype(np.uint8), np.ones((7, 7))) > 0
    assert np.array_equal(with_rim[inner], img[inner])


def test_regions_product_and_all():
    shot = _shot("box", "light_grey")
    styled = _styled(shot.image.shape)
    assert np.array_equal(composite(shot.image, styled, shot.alpha, CompositeConfig("all")), styled)
    prod = composite(shot.image, styled, shot.alpha, CompositeConfig("product"))
    assert np.array_equal(prod[shot.alpha >= 1], styled[shot.alpha >= 1])
    assert np.array_equal(prod[shot.alpha <= 0], shot.image[shot.alpha <= 0])
    with pytest.raises(ValueError, match="shapes differ"):
        composite(shot.image, styled[:-1], shot.alpha)


def test_decontamination_removes_the_white_fringe():
    # A red disc with a soft edge over white: the edge pixels mix red and white.
    img, alpha = _red_disc_on_white()
    red = np.array([200, 20, 20], np.float32)
    pure = decontaminate(img, alpha)
    band = (alpha > 0.1) & (alpha < 0.9)
    assert band.any()
    err_raw = np.abs(img[band].astype(np.float32) - red).mean()
    err = np.abs(pure[band] - red).mean()
    assert err < 0.2 * err_raw


def test_shadow_multiplier_darkens_only_the_shadow():
    shot = _shot("box", "white", (240, 240), seed=3)
    lab = to_lab(shot.image)
    model, _, _ = fit_backdrop(lab, 0.015)
    backdrop = luma(cv2.cvtColor(model, cv2.COLOR_Lab2RGB) * 255.0)
    mult = shadow_multiplier(shot.image, shot.alpha, backdrop)
    rows = np.where(shot.mask.any(axis=1))[0]
    below = mult[rows[-1] + 2 : rows[-1] + 5, 80:160]
    assert below.mean() < 0.9  # the contact shadow is found
    assert mult[:20].mean() > 0.98  # open backdrop is not darkened
    assert np.all(mult[shot.alpha >= 0.5] == 1.0)


def test_preserve_colour_keeps_chroma_and_takes_lightness():
    rng = np.random.default_rng(0)
    orig = rng.integers(40, 215, (32, 32, 3), dtype=np.uint8)
    styled = rng.integers(40, 215, (32, 32, 3), dtype=np.uint8)
    out = preserve_colour(orig, styled)
    lab = lambda x: cv2.cvtColor(x.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)  # noqa: E731
    lo, ls, lout = lab(orig), lab(styled), lab(out)
    in_gamut = np.abs(lout[..., 0] - ls[..., 0]) < 2
    assert in_gamut.mean() > 0.7
    assert np.abs(lout[..., 1:][in_gamut] - lo[..., 1:][in_gamut]).mean() < 3


def test_a_coloured_thing_outside_the_mask_is_not_taken_for_shadow():
    """The light carried into the new background darkens where the old backdrop is in
    shadow: a grey contact shadow, darker with the backdrop's own (neutral) colour. A
    green leaf the mask left out is darker too, but no light makes a white wall green:
    it printed as a grey smudge in every look (a hanging plant, watercolour)."""
    h, w = 240, 360
    img = np.full((h, w, 3), 235, np.uint8)
    alpha = np.zeros((h, w), np.float32)
    alpha[60:150, 60:150] = 1.0
    img[60:150, 60:150] = (200, 60, 40)  # the product
    img[150:165, 50:160] = 150  # its contact shadow: neutral, darker
    cv2.circle(img, (280, 110), 18, (40, 120, 40), -1)  # a leaf left out of the mask
    light = backdrop_light(img, alpha)
    assert light[157, 105] < 0.8  # the shadow is kept
    assert light[110, 280] > 0.95  # the leaf is not a shadow
    assert light[110, 230] > 0.95  # nor is the wall beside it


def test_coloured_light_inside_a_shade_keeps_the_shade():
    """A warm patch of light that a terracotta pot throws on the shaded paper beside it
    is not the backdrop under any light, so it is left out of the light estimate; it then
    takes the shade around it, not full light: at 1.0 inside a 0.8 shade it printed as a
    white ghost on every look."""
    h, w = 240, 360
    img = np.full((h, w, 3), 235, np.uint8)
    alpha = np.zeros((h, w), np.float32)
    alpha[40:110, 140:220] = 1.0
    img[40:110, 140:220] = (190, 80, 50)  # the pot
    img[110:230, 100:260] = 190  # a broad soft shade below it (0.8 of the paper)
    img[110:230, 100:260] = cv2.GaussianBlur(img, (0, 0), 3)[110:230, 100:260]
    cv2.ellipse(img, (180, 160), (30, 22), 0, 0, 360, (205, 170, 140), -1)  # warm light
    light = backdrop_light(img, alpha, sweep=1.0)
    shade = float(np.median(light[200:225, 110:140]))
    assert shade < 0.9
    assert abs(float(light[160, 180]) - shade) < 0.05  # the patch keeps the shade
    assert light[20, 20] > 0.95  # the paper in full light stays lit


def test_an_overshooting_matte_loses_the_old_backdrop_at_the_products_edge():
    """A white lamp rim on a teal wall, its matte 1.5 px wide of the edge: the 2 px rim
    swap then covers mostly teal, and the product's own anti-aliased pixels, 3 px inside
    the matte, kept their teal share as a dark line on every look. Where the rim is
    mostly old backdrop of a coloured backdrop the swap reaches 1 px further; deeper in,
    and everywhere on a matte that sits on the edge, the product stays byte for byte."""
    h = w = 96
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(yy - 48, xx - 48)
    true = cv2.GaussianBlur(np.clip(30.5 - r, 0, 1).astype(np.float32), (0, 0), 0.5)
    white, teal = np.array([250.0, 250.0, 245.0]), np.array([60.0, 135.0, 145.0])
    img = (true[..., None] * white + (1 - true[..., None]) * teal).astype(np.uint8)
    new_bg = np.zeros_like(img)
    new_bg[...] = (200, 150, 100)  # wood
    ideal = true[..., None] * white + (1 - true[..., None]) * new_bg
    edge = (true > 0.5) & (true < 0.97)  # the product's own mixed pixels

    def teal_line(out):  # mean distance from the ideal composite there, in levels
        return float(np.abs(out.astype(np.float32) - ideal).mean(-1)[edge].mean())

    over = (r <= 32.0).astype(np.float32)  # the matte, 1.5 px wide of the edge
    plain = composite(img, new_bg, over, CompositeConfig(rim_deep_px=0))
    deep = composite(img, new_bg, over, CompositeConfig())
    assert teal_line(plain) > 6.0, teal_line(plain)  # the defect is there without it
    assert teal_line(deep) < 0.35 * teal_line(plain), (teal_line(deep), teal_line(plain))
    # more than 3 px inside the matte nothing moves
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    far = cv2.erode(over.astype(np.uint8), k) > 0
    assert np.array_equal(deep[far], img[far])
    # a matte on the edge: nothing past the 2 px rim moves
    on = (true >= 0.5).astype(np.float32)
    out = composite(img, new_bg, on, CompositeConfig())
    core = cv2.erode(on.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    assert np.array_equal(out[core > 0], img[core > 0])
    # on a grey backdrop the swap does not reach further
    grey = np.array([200.0, 200.0, 200.0])
    img_g = (true[..., None] * white * 0.6 + (1 - true[..., None]) * grey).astype(np.uint8)
    assert np.array_equal(
        composite(img_g, new_bg, over, CompositeConfig()),
        composite(img_g, new_bg, over, CompositeConfig(rim_deep_px=0)),
    )
