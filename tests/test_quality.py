import numpy as np
import pytest
import torch

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
def texture_stats():
    """A smooth random texture in warm colours: statistics from one 240 px crop (as large
    as the photo: the judge compares looks at the same fraction of the frame), and another
    crop of the same texture to restyle with."""
    import cv2

    rng = np.random.default_rng(1)
    n = cv2.GaussianBlur(rng.normal(size=(480, 480)).astype(np.float32), (0, 0), 3)
    n = (n - n.min()) / (n.max() - n.min())
    lo, hi = np.array((120, 60, 20)), np.array((240, 200, 80))
    tex = (lo + (hi - lo) * n[..., None]).astype(np.uint8)
    return compute_style_stats([tex[:240, :240]]), np.ascontiguousarray(tex[240:, 240:])


def test_good_composite_passes(shot, texture_stats):
    stats, other = texture_stats
    h, w = shot.image.shape[:2]
    out = composite(shot.image, np.ascontiguousarray(other[:h, :w]), shot.alpha)
    rep = assess(shot.image, out, shot.alpha, stats)
    assert rep.passed, rep.reasons
    assert rep.scores["product_de_mean"] < 0.5
    assert rep.scores["judge"] > QualityConfig().min_judge


def test_unstyled_output_fails_style_match(shot, texture_stats):
    rep = assess(shot.image, shot.image.copy(), shot.alpha, texture_stats[0])
    assert not rep.passed
    assert rep.scores["judge"] == pytest.approx(0.0)
    assert any("style not matched" in r for r in rep.reasons)


def test_an_unchanged_background_is_never_published_as_restyled(shot, texture_stats):
    """A backdrop that already sits within a look's own spread passes the judge as it is
    (a pale wash look on a light backdrop did, on 1 of 480 held-out photos): the gate also
    asks that the styled region changed at all."""
    rep = assess(shot.image, shot.image.copy(), shot.alpha, texture_stats[0])
    assert rep.scores["restyled_change"] == 0.0
    assert any("not restyled" in r for r in rep.reasons)
    cfg = QualityConfig()
    within_spread = {"judge": 0.0, "judge_spread": 2.0, "colour_ratio": 1.0}
    assert decide(within_spread, cfg).passed  # the style check alone lets it through
    assert not decide({**within_spread, "restyled_change": 0.4}, cfg).passed
    assert decide({**within_spread, "restyled_change": 25.0}, cfg).passed
    # a real restyle changes the background by far more than the limit
    stats, other = texture_stats
    h, w = shot.image.shape[:2]
    out = composite(shot.image, np.ascontiguousarray(other[:h, :w]), shot.alpha)
    assert assess(shot.image, out, shot.alpha, stats).scores["restyled_change"] > 10.0


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
    # only what the restyle clipped counts: a photo's own pure-white backdrop does not
    white_bg = ok.copy()
    white_bg[:30] = 255
    assert any("clipped" in r for r in decide(sanity(white_bg, 0.3), cfg).reasons)
    assert decide(sanity(white_bg, 0.3, original=white_bg), cfg).passed
    assert any("clipped" in r for r in decide(sanity(white_bg, 0.3, original=ok), cfg).reasons)
    nan_scores = {"finite": 0.0}
    assert not decide(nan_scores, cfg).passed


def test_style_consistency_spread():
    same = [QualityReport(True, {"judge": 0.8, "colour_ratio": 0.5}) for _ in range(4)]
    assert style_consistency(same)["judge_std"] == 0.0
    mixed = [*same, QualityReport(True, {"judge": 0.1, "colour_ratio": 0.5})]
    assert style_consistency(mixed)["judge_std"] > 0.2


# -- the gate's style check against known answers, per sample style ------------------------


@pytest.fixture(scope="module")
def catalogue_photos():
    from stylecore.synth.catalogue import plan_item, render_item

    shots = [render_item(plan_item(i), seed=5) for i in (0, 3, 6)]
    return [(s.image, s.mask.astype(np.float32) / 255.0) for s in shots]


@pytest.mark.parametrize("style", ["autumn-bokeh", "geometric", "marble", "watercolour", "wood"])
def test_gate_passes_an_unseen_reference_and_rejects_noise_tint_and_the_input(
    style, catalogue_photos
):
    from stylecore.quality.texture import calibration_images
    from stylecore.synth.catalogue import plan_styles, render_style

    refs = [render_style(r, seed=11) for r in plan_styles() if r.style_id == style]
    stats = compute_style_stats(refs[1:])  # refs[0] is never seen by the statistics
    for k, (rgb, alpha) in enumerate(catalogue_photos):
        cal = calibration_images(rgb, alpha, refs[0], seed=k)
        binary = (alpha >= 0.5).astype(np.float32)  # the calibration images cut hard edges
        pasted = assess(rgb, cal["pasted"], binary, stats)
        assert pasted.passed, (style, k, pasted.reasons, pasted.scores)
        for kind in ("noise", "tint"):
            rep = assess(rgb, cal[kind], binary, stats)
            assert any("style not matched" in r for r in rep.reasons), (style, kind, rep.scores)
        same = assess(rgb, rgb.copy(), binary, stats)
        assert any("style not matched" in r for r in same.reasons), (style, same.scores)


def test_statistics_made_for_an_older_judge_are_recomputed_from_the_references():
    """A model exported before the judge last changed still loads and gates: its judge
    statistics are rebuilt from the references it carries; a style without references
    cannot be rebuilt and is named."""
    import dataclasses

    from pipelines.models import refresh_judge_stats
    from stylecore.models.generator import Generator, GeneratorConfig
    from stylecore.models.style_model import StyleModel
    from stylecore.quality.judge import JUDGE_VERSION, is_current
    from stylecore.synth.catalogue import plan_styles, render_style

    refs = [render_style(r, seed=11) for r in plan_styles() if r.style_id == "wood"][:2]
    fresh = compute_style_stats(refs)
    stale = {k: v for k, v in fresh.items() if k != "judge_version"}  # as an old export
    stale["judge_raw0"] = torch.zeros_like(stale["judge_raw0"])
    gen = Generator(GeneratorConfig(n_styles=1))
    model = StyleModel(gen, ["wood"], "v-old", {}, {"wood": stale}, {"wood": refs})
    assert not is_current(model.stats["wood"])
    refreshed = refresh_judge_stats(model).stats["wood"]
    assert int(refreshed["judge_version"]) == JUDGE_VERSION
    assert torch.equal(refreshed["judge_raw0"], fresh["judge_raw0"])
    lost = dataclasses.replace(model, stats={"wood": stale}, references={})
    with pytest.raises(ValueError, match="wood"):
        refresh_judge_stats(lost)


def test_product_fidelity_on_the_box_and_changed_pixels_equals_the_whole_frame():
    """``product_fidelity`` measures on the product's bounding box and converts only the
    pixels the restyle changed: its numbers equal the whole-frame computation, including
    a product that runs off the frame and changes at its edge."""
    import cv2

    from stylecore.quality.checks import _lab
    from stylecore.quality.style_metrics import ssim_map

    rng = np.random.default_rng(3)
    img = cv2.GaussianBlur(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8), (0, 0), 2)
    alpha = np.zeros((300, 400), np.float32)
    cv2.circle(alpha, (380, 150), 90, 1.0, -1)  # runs off the right edge
    out = img.copy()
    out[alpha < 0.5] = 20
    out[140:160, 385:400] = 255 - out[140:160, 385:400]  # changed inside, at the frame edge
    core = (
        cv2.erode(
            (alpha >= 0.5).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        )
        > 0
    )
    g0, g1 = (cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float32) for x in (img, out))
    de = ciede2000(_lab(img)[core], _lab(out)[core])
    want = {
        "product_ssim": float(ssim_map(g0, g1, 255.0, weight=core)[core].mean()),
        "product_de_mean": float(de.mean()),
        "product_de_p95": float(np.percentile(de, 95)),
    }
    got = product_fidelity(img, out, alpha)
    assert want["product_de_mean"] > 0.1 and want["product_ssim"] < 0.99  # it sees the change
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=1e-5, abs=1e-6), k


def test_a_one_reference_look_rejected_on_style_says_why_in_words():
    """A look registered from one reference has no spread between references to fall back
    on (``judge_spread`` is inf): the reason says so, not "infx the references' spread"."""
    from stylecore.quality.checks import QualityConfig, _style_reasons

    reasons = _style_reasons({"judge": 0.4, "judge_spread": float("inf")}, QualityConfig())
    assert reasons == [
        "style not matched: judge 0.40 < 0.45 of the way to the style "
        "(one reference: no spread to fall back on)"
    ]
    two = _style_reasons({"judge": 0.4, "judge_spread": 3.1}, QualityConfig())
    assert "3.1x the references' spread > 2.5" in two[0]
