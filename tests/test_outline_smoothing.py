"""The upsampled outline: guided smoothing turns the working pixels' steps into a line
where the photo shows no edge, and keeps to the photo's edge where it does."""

import cv2
import numpy as np

from stylecore.segmentation.refine import guided_filter, local_means, to_lab, upsample_refined

SCALE = 6  # a 1536 px photo segmented at 256 px


def _slanted(h: int, w: int, offset: float = 0.0) -> np.ndarray:
    """True left of the line x = 0.4 w + 0.3 y + offset (pixel centres)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    return xx < 0.4 * w + 0.3 * yy + offset


def _outline_error(alpha: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Mean and worst horizontal distance (px) of each row's outline from the truth's."""
    got = (alpha >= 0.5).sum(axis=1).astype(float)
    want = truth.sum(axis=1).astype(float)
    err = np.abs(got - want)[SCALE:-SCALE]  # rows away from the frame's edge
    return float(err.mean()), float(err.max())


def test_flat_photo_outline_is_a_line_not_a_staircase():
    h, w = 48, 64
    small = _slanted(h, w)
    H, W = h * SCALE, w * SCALE
    truth = _slanted(H, W)
    flat = np.full((H, W, 3), 12, np.uint8)  # black on black: colour cannot decide
    rough = upsample_refined(small, flat, None, None, 3.0, 0.0, smooth=False)
    smooth = upsample_refined(small, flat, None, None, 3.0, 0.0)
    rough_mean, rough_max = _outline_error(rough, truth)
    smooth_mean, smooth_max = _outline_error(smooth, truth)
    # bilinear steps by up to a working pixel; the guided outline stays within ~1 px
    assert rough_max >= SCALE / 2 - 1
    assert smooth_max <= 2.0 and smooth_mean < 0.5 * rough_mean


def test_outline_keeps_to_the_photos_edge():
    """Colour snapping moves the outline onto the photo's edge; smoothing must not move
    it back."""
    h, w = 48, 64
    H, W = h * SCALE, w * SCALE
    # the photo's edge lies 2 px right of where the working mask puts it
    edge = _slanted(H, W, offset=2.0)
    photo = np.where(edge[..., None], 200, 40).astype(np.uint8).repeat(3, axis=2)
    small = _slanted(h, w)
    lab = to_lab(cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA))
    fg, bg = local_means(lab, small, radius=6)
    errors = {}
    for smooth in (False, True):
        alpha = upsample_refined(small, photo, fg, bg, 3.0, 0.0, smooth=smooth)
        errors[smooth] = _outline_error(alpha, edge)
    assert errors[True][0] < 0.3 and errors[True][1] <= 2.0
    assert errors[True][0] <= errors[False][0] + 0.05
    # and the working mask alone is 2 px off everywhere
    assert _outline_error(cv2.resize(small.astype(np.float32), (W, H)), edge)[0] > 1.5


def test_guided_filter_is_the_local_mean_on_a_flat_guide_and_exact_on_a_linear_one():
    rng = np.random.default_rng(0)
    src = rng.random((40, 40)).astype(np.float32)
    flat = np.zeros((40, 40), np.float32)
    out = guided_filter(flat, src, 2, 1e-3)
    assert abs(float(out[10:30, 10:30].mean()) - float(src[10:30, 10:30].mean())) < 0.02
    assert out.std() < 0.5 * src.std()
    ramp = np.tile(np.linspace(0, 1, 40, dtype=np.float32), (40, 1))
    np.testing.assert_allclose(guided_filter(ramp, 2 * ramp + 1, 3, 1e-6), 2 * ramp + 1, atol=1e-2)
