import numpy as np
import pytest

from stylecore.quality.checks import (
    QualityConfig,
    QualityReport,
    ciede2000,
    decide,
    product_fidelity,
    sanity,
    style_consistency,
)
from stylecore.quality.gate import assess, compute_style_stats
from stylecore.synth.products import ShotSpec, render_shot
from stylecore.transfer.composite import composite


@pytest.mark.parametrize(
    ("lab1", "lab2", "expected"),
    [  # rows of the published CIEDE2000 test data (Sharma, Wu and Dalal, 2005)
        ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
        ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
        ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
        ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    ],
)
def test_ciede2000_published_values(lab1, lab2, expected):
    assert float(ciede2000(np.array(lab1), np.array(lab2))) == pytest.approx(expected, abs=1e-4)


@pytest.fixture(scope="module")
def shot():
    return render_shot(ShotSpec("mug", 240, 200, "white"), np.random.default_rng(0))


@pytest.fixture(scope="module")
def stripes_stats():
    s = np.full((128, 128, 3), (200, 150, 80), np.uint8)
    s[:, ::6] = (180, 90, 30)
    s[:, 1::6] = (230, 190, 60)
    s[:, 2::6] = (120, 60, 20)
    return compute_style_stats([s]), s


def test_good_composite_passes(shot, stripes_stats):
    stats, stripes = stripes_stats
    bg = np.tile(stripes, (2, 2, 1))[: shot.image.shape[0], : shot.image.shape[1]]
    out = composite(shot.image, np.ascontiguousarray(bg), shot.alpha)
    rep = assess(shot.image, out, shot.alpha, stats)
    assert rep.passed, rep.reasons
    assert rep.scores["product_de_mean"] < 0.5
    assert rep.scores["style_ratio"] < 0.5


def test_unstyled_output_fails_style_match(shot, stripes_stats):
    rep = assess(shot.image, shot.image.copy(), shot.alpha, stripes_stats[0])
    assert not rep.passed
    assert any("style distance" in r for r in rep.reasons)


def test_damaged_product_fails_fidelity(shot):
    bad = shot.image.copy()
    bad[shot.alpha >= 0.5] = (bad[shot.alpha >= 0.5] * 0.6).astype(np.uint8)
    scores = product_fidelity(shot.image, bad, shot.alpha)
    rep = decide(scores, QualityConfig())
    assert not rep.passed
    assert any("dE00" in r for r in rep.reasons)
    shifted = np.roll(shot.image, 9, axis=1)
    rep = decide(product_fidelity(shot.image, shifted, shot.alpha), QualityConfig())
    assert any("SSIM" in r for r in rep.reasons)


def test_sanity_failures():
    cfg = QualityConfig()
    blank = np.full((50, 50, 3), 128, np.uint8)
    assert any("near-constant" in r for r in decide(sanity(blank, 0.3), cfg).reasons)
    clipped = np.zeros((50, 50, 3), np.uint8)
    clipped[::2] = 255
    assert any("clipped" in r for r in decide(sanity(clipped, 0.3), cfg).reasons)
    rng = np.random.default_rng(0)
    ok = rng.integers(20, 230, (50, 50, 3), dtype=np.uint8)
    assert decide(sanity(ok, 0.3), cfg).passed
    assert any("segmentation probably failed" in r for r in decide(sanity(ok, 0.99), cfg).reasons)
    nan_scores = {"finite": 0.0}
    assert not decide(nan_scores, cfg).passed


def test_style_consistency_spread():
    same = [QualityReport(True, {"style_ratio": 0.2, "colour_ratio": 0.5}) for _ in range(4)]
    assert style_consistency(same)["style_ratio_std"] == 0.0
    mixed = [*same, QualityReport(True, {"style_ratio": 0.9, "colour_ratio": 0.5})]
    assert style_consistency(mixed)["style_ratio_std"] > 0.2
