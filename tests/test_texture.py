"""The style-fidelity measure (stylecore.quality.texture) checked against images whose
answer is known: spectra of white and smooth noise, windows that avoid the product, and
the calibration that separates a pasted reference from colour-matched noise for every
sample style."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from stylecore.quality.style_eval import StyleTarget
from stylecore.quality.texture import (
    PATCH,
    background_windows,
    calibration_images,
    fraction,
    power_spectrum,
    resize_long,
)
from stylecore.synth.catalogue import STYLE_SETS, plan_item, plan_styles, render_item, render_style


def _grey(lum: np.ndarray) -> np.ndarray:
    return np.repeat(np.clip(lum * 255, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def test_white_noise_is_flat_and_smooth_noise_falls_off():
    rng = np.random.default_rng(0)
    white = _grey(0.5 + 0.15 * rng.standard_normal((256, 256)))
    smooth = _grey(0.5 + 2.0 * cv2.GaussianBlur(rng.standard_normal((256, 256)), (0, 0), 3))
    sw, ss = power_spectrum([white]), power_spectrum([smooth])
    assert sw.n == ss.n == 169  # 13 x 13 windows at stride PATCH / 4
    # White noise: within a factor 2 across every frequency band.
    assert np.ptp(sw.log_power) < 0.3
    # Blurred noise: high frequencies are orders of magnitude weaker than low ones.
    assert ss.log_power[0] - ss.log_power[-1] > 3
    assert np.all(np.diff(ss.log_power[2:]) < 0)


def test_windows_avoid_the_dilated_product():
    bg = np.ones((200, 300), np.float32)
    bg[50:150, 100:200] = 0  # the product
    wins = background_windows(bg, bg.shape, patch=PATCH, margin=3)
    assert wins, "there is room for windows left and right of the product"
    for y, x in wins:
        window = bg[y : y + PATCH, x : x + PATCH]
        assert window.min() == 1
        # ... and none comes within the 3 px margin of the product either
        assert x + PATCH <= 97 or x >= 203 or y + PATCH <= 47 or y >= 153
    assert background_windows(np.zeros((200, 300)), (200, 300)) == []


def test_fraction_of_the_way():
    assert fraction(2.0, 0.5) == pytest.approx(0.75)
    assert fraction(2.0, 3.0) == pytest.approx(-0.5)  # moved away
    assert np.isnan(fraction(0.0, 1.0))


@pytest.fixture(scope="module")
def photo():
    shot = render_item(plan_item(0), seed=3)
    # at the judge's size: the texture measures take their own 256 px view
    return resize_long(shot.image, 512), resize_long(shot.mask.astype(np.float32) / 255, 512)


@pytest.mark.parametrize("style", sorted(STYLE_SETS))
def test_pasted_reference_scores_high_and_colour_matched_noise_does_not(style, photo):
    rgb, mask = photo
    refs = [render_style(r, seed=11) for r in plan_styles() if r.style_id == style]
    target = StyleTarget(refs[1:])
    cal = calibration_images(rgb, mask, refs[0], seed=1)  # a reference not in the target
    pasted = target.progress(rgb, cal["pasted"], mask)
    noise = target.progress(rgb, cal["noise"], mask)
    unchanged = target.progress(rgb, rgb, mask)
    assert unchanged["texture"] == pytest.approx(0) and unchanged["colour"] == pytest.approx(0)
    # Noise drawn from the references' own colours matches their colour statistics (most
    # of the way: the 256 px measuring view averages the 512 px noise 2x2) ...
    assert noise["colour"] > 0.5
    # ... and, being white, their spectrum level; but not its shape, so not the texture.
    assert noise["texture"] < 0.2
    assert pasted["texture"] > 0.6
    assert pasted["texture"] > noise["texture"] + 0.5
    assert pasted["colour"] > 0.5
    # The ImageNet judge: the unseen reference comes close, noise and a flat tint do not.
    tint = target.progress(rgb, cal["tint"], mask)
    assert unchanged["judge"] == pytest.approx(0)
    assert pasted["judge"] > 0.5
    assert noise["judge"] <= 0.2 and tint["judge"] < 0.3
    # Wood's grain has a direction that noise lacks: its pairs view, which keeps the
    # horizontal and vertical neighbours apart, rejects the noise (pooled, it scored 0.42).
    if style == "wood":
        assert noise["judge_pairs"] < 0.1 < 0.8 < pasted["judge_pairs"]
    # The product itself is untouched by both calibration images.
    keep = mask >= 0.5
    assert np.array_equal(cal["pasted"][keep], rgb[keep])
    assert np.array_equal(cal["noise"][keep], rgb[keep])


def _veined_stone(seed: int, side: int = 512) -> np.ndarray:
    """Plain light stone crossed by a few dark, wandering veins."""
    rng = np.random.default_rng(seed)
    img = np.clip(225 + rng.normal(0, 3, (side, side, 3)), 0, 255).astype(np.uint8)
    img = cv2.GaussianBlur(img, (0, 0), 3)
    for _ in range(6):
        pts = np.cumsum(rng.normal(0, 25, (12, 2)), 0) + rng.uniform(0, side, 2)
        cv2.polylines(img, [pts.astype(np.int32)], False, (90, 95, 105), 3, cv2.LINE_AA)
    return img


def test_the_judges_contrast_view_finds_veined_stone_patchy_and_noise_even():
    """The contrast view's distributions (local RMS contrast over 3 x 3 blocks of
    positions): veins make stone busy in a few blocks and plain in the rest, a wide
    distribution; colour-matched noise is as busy everywhere, a narrow one. Measured as
    the 10-90% quantile range over the median, at every judge tap."""
    from stylecore.quality.judge import JUDGE_TAPS, projections

    stone = _veined_stone(0)
    photo = np.full((384, 512, 3), 250, np.uint8)
    mask = np.zeros((384, 512), np.float32)
    mask[120:300, 200:320] = 1
    noise = calibration_images(photo, mask, stone, seed=1)["noise"]

    def relative_range(views) -> np.ndarray:
        out = []
        for c in views["contrast"]:
            q = torch.quantile(c, torch.tensor([0.1, 0.5, 0.9]), dim=1)
            out.append(float(((q[2] - q[0]) / q[1]).median()))
        return np.array(out)

    patchy = relative_range(projections(stone))
    even = relative_range(projections(noise, 1.0 - mask))
    assert len(patchy) == len(even) == len(JUDGE_TAPS)
    assert np.all(patchy > 1.4 * even), (patchy, even)
