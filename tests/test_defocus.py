"""Soft mattes for out-of-focus edges (``stylecore.segmentation.defocus``): a red product
blurred like a shallow-depth-of-field shot of a cable on white must reach a new
background without the white it was mixed with, and sharp outlines must not move."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from stylecore.segmentation.defocus import DefocusConfig, edge_blur, soften_defocus
from stylecore.transfer.composite import composite

RED = np.array([200.0, 40.0, 45.0])
WHITE = np.array([250.0, 250.0, 250.0])
WOOD = np.array([110.0, 70.0, 35.0])


def _render(blur: float, size: int = 320, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A red bar (a cable) on white, its edges blurred by ``blur`` px, with sensor noise;
    returns the photo and the true alpha."""
    true = np.zeros((size, size), np.float32)
    cv2.rectangle(true, (60, 110), (size - 60, 210), 1.0, -1)
    if blur > 0:
        true = cv2.GaussianBlur(true, (0, 0), blur)
    rgb = true[..., None] * RED + (1 - true[..., None]) * WHITE
    rgb += np.random.default_rng(seed).normal(0, 1.5, rgb.shape)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8), true


def _fringe(out: np.ndarray, true: np.ndarray) -> float:
    """Mean excess lightness (levels) of the output over the ideal composite, across the
    soft edge: the old white backdrop carried onto the new background."""
    ideal = true[..., None] * RED + (1 - true[..., None]) * WOOD
    ring = (true > 0.05) & (true < 0.95)
    excess = out.astype(np.float32).mean(-1) - ideal.mean(-1)
    return float(np.maximum(excess[ring], 0).mean())


def test_blur_scale_is_read_whatever_the_contrast():
    for blur in (1.0, 5.0, 8.0):
        rgb, true = _render(blur)
        outline = cv2.morphologyEx(
            (true >= 0.5).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)
        ).astype(bool)
        sigma, _ = edge_blur(rgb.astype(np.float32), outline)
        got = float(np.median(sigma[outline]))
        # the Sobel adds about 0.7 px of its own; noise lowers the ratio a little
        assert abs(got - blur) < max(1.0, 0.3 * blur), (blur, got)


@pytest.mark.parametrize("cut", [0.5, 0.3, 0.7])
def test_defocused_edge_composites_without_the_old_backdrop(cut):
    """Wherever the segmenter put the hard outline in the ramp, the composite over a dark
    new background follows the true matte; the hard mask alone leaves a pale fringe."""
    rgb, true = _render(8.0)
    hard = (true >= cut).astype(np.float32)
    soft = soften_defocus(rgb, hard)
    new_bg = np.broadcast_to(WOOD.astype(np.uint8), rgb.shape).copy()
    before = _fringe(composite(rgb, new_bg, hard), true)
    after = _fringe(composite(rgb, new_bg, soft), true)
    assert before > 5.0, before  # the defect this guards against is really there
    assert after < 0.4 * before and after < 3.0, (before, after)
    # what stays product is kept exactly (inside the compositor's rim), and it is
    # product (at least 'opaque' of it)
    kept = soft >= 0.5
    out = composite(rgb, new_bg, soft)
    inner = cv2.erode(kept.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert np.array_equal(out[inner], rgb[inner])
    assert true[kept].min() > 0.85


def test_sharp_outline_is_left_alone():
    rgb, true = _render(0.7)
    hard = (true >= 0.5).astype(np.float32)
    assert np.array_equal(soften_defocus(rgb, hard), hard)


def test_a_mask_through_plain_backdrop_is_not_softened():
    """A wrong outline that runs through the backdrop (a soft shadow kept as product) has
    a weak gradient for its contrast: softening is not a mask repair."""
    rgb, true = _render(0.7)
    hard = (true >= 0.5).astype(np.uint8)
    grown = cv2.dilate(hard, np.ones((25, 25), np.uint8)).astype(np.float32)
    assert np.array_equal(soften_defocus(rgb, grown), grown)


def test_no_hole_is_opened_inside_the_product():
    """Dark gaps inside a product (between keys) next to a soft edge stay product."""
    rgb, true = _render(8.0)
    rgb[150:170, 120:200] = WHITE.astype(np.uint8)  # a backdrop-coloured gap, enclosed
    hard = (true >= 0.5).astype(np.float32)
    soft = soften_defocus(rgb, hard)
    assert (soft[150:170, 120:200] >= 0.5).all()


def test_disabled_is_identity():
    rgb, true = _render(8.0)
    hard = (true >= 0.5).astype(np.float32)
    assert soften_defocus(rgb, hard, DefocusConfig(enabled=False)) is hard


def test_an_edge_blurred_by_3_px_keeps_no_half_mixed_pixel_as_product():
    """An edge blurred by 3 px (a cable's side) has mixed pixels further in than the
    compositor's 2 px rim swap reaches. Its pixels half backdrop or more must not stay
    product: until 2026-12-07 such an edge got a blend of the hard and the soft matte
    (its softness weight was about 0.5), which kept them at alpha 0.54-0.75, byte for
    byte, and the white they hold printed as a pale line along the cable on wood."""
    rgb, true = _render(3.0)
    new_bg = np.broadcast_to(WOOD.astype(np.uint8), rgb.shape).copy()
    for cut in (0.3, 0.5):  # the hard outline a little out in the ramp, or at its middle
        hard = (true >= cut).astype(np.float32)
        soft = soften_defocus(rgb, hard)
        half_mixed = (true < 0.65) & (hard >= 0.5)
        assert half_mixed.sum() > 500
        assert (soft[half_mixed] < 0.5).mean() > 0.98  # the rest: at the bar's corners
        assert (soft[(true < 0.5) & (hard >= 0.5)] < 0.5).all()
        before = _fringe(composite(rgb, new_bg, hard), true)
        after = _fringe(composite(rgb, new_bg, soft), true)
        assert after < 0.3 * before, (cut, before, after)
        assert (soft[true > 0.99] == 1.0).all()  # the product well inside is untouched


@pytest.mark.parametrize("blur", [0.7, 1.5])
def test_a_nearly_sharp_edge_is_not_softened(blur):
    """Below about 2 px of blur the rim swap handles the mixing: the outline stays."""
    rgb, true = _render(blur)
    hard = (true >= 0.5).astype(np.float32)
    assert np.array_equal(soften_defocus(rgb, hard), hard)


def test_in_a_sharp_shot_a_soft_stretch_is_only_blended():
    """One side of an otherwise sharp product reads 3 px of blur (a bevel's shading, a
    sole over its contact shadow): in a sharp shot that is as likely shading as defocus,
    so the soft matte is blended with the hard one by its softness and the product's
    pixels more than half product stay product. Softened whole, such stretches cut strips
    off renders on a dark sweep."""
    sharp_rgb, true_sharp = _render(0.7)
    soft_rgb, true_soft = _render(3.0)
    rgb, true = sharp_rgb.copy(), true_sharp.copy()
    rgb[:, 230:] = soft_rgb[:, 230:]  # the bar's right end, blurred
    true[:, 230:] = true_soft[:, 230:]
    hard = (true >= 0.5).astype(np.float32)
    soft = soften_defocus(rgb, hard)
    end = np.zeros_like(hard, bool)
    end[:, 240:] = True
    assert (soft[end] != hard[end]).any()  # the end is softened ...
    kept = end & (true >= 0.6) & (hard >= 0.5)
    assert (soft[kept] >= 0.5).mean() > 0.9  # ... blended, not cut
    # the same end in a shot blurred all over (shallow depth of field) is softened whole
    whole = soften_defocus(soft_rgb, (true_soft >= 0.5).astype(np.float32))
    assert (whole[end & (true_soft < 0.65) & (true_soft >= 0.5)] < 0.5).mean() > 0.9


def test_an_end_blurred_far_more_than_the_rest_is_softened_from_its_own_colours():
    """A cable's end far out of focus (12 px of blur) where the rest of its outline reads
    3 px: the colours either side of the end's ramp must come from beyond that ramp, not
    from the depth the median blur gives. Until 2026-12-08 they came from one depth for
    the whole outline: the product's colour was read mid-ramp at the end and the
    backdrop's was out of reach of its inner half (read as black), which left patches of
    the cable's red at alpha 0.33-0.41 inside it and pale ramp pixels kept as product:
    white notches at a network cable's end on every look."""
    base_rgb, base_true = _render(3.0)
    end_rgb, end_true = _render(12.0)
    rgb, true = base_rgb.copy(), base_true.copy()
    rgb[:, :120] = end_rgb[:, :120]  # the bar's left end, far out of focus
    true[:, :120] = end_true[:, :120]
    hard = (true >= 0.5).astype(np.float32)
    soft = soften_defocus(rgb, hard)
    end = np.zeros_like(hard, bool)
    end[:, 70:110] = True  # the end's long sides, clear of its corners and of the rest
    assert (soft[end] != hard[end]).any()
    # no half-backdrop patch inside the product ...
    assert (soft[end & (true > 0.97)] >= 0.5).all()
    # ... and no pale ramp pixel kept as product byte for byte
    assert true[end & (soft >= 0.5)].min() > 0.85
    new_bg = np.broadcast_to(WOOD.astype(np.uint8), rgb.shape).copy()
    before = _fringe(composite(rgb, new_bg, hard)[:, 70:110], true[:, 70:110])
    after = _fringe(composite(rgb, new_bg, soft)[:, 70:110], true[:, 70:110])
    assert after < 0.4 * before, (before, after)
