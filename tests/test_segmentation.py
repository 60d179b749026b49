import csv
import itertools
import os

import cv2
import numpy as np
import pytest
import torch

from pipelines import datasets
from pipelines.models import (
    DEFAULT_SEGMENTER_MODEL,
    load_segmenter,
    read_model_files,
    write_model_files,
)
from stylecore.segmentation import (
    FLAG_EMPTY,
    FLAG_FROM_ALPHA,
    FLAG_FULL,
    FLAG_LOW_CONFIDENCE,
    FLAG_UNIFORM,
    EdgeConfig,
    EdgeSegmenter,
    SegmenterConfig,
    boundary_f,
    iou,
)
from stylecore.segmentation.data import batches, prepare_example
from stylecore.segmentation.train import SegTrainConfig, seg_loss, train_unet
from stylecore.segmentation.unet import UNet, UNetConfig, UNetSegmenter, count_parameters
from stylecore.synth.products import ShotSpec, render_shot

TINY = UNetConfig(base_channels=4, depth=2, input_size=64)


@pytest.fixture(scope="module")
def demo_unet():
    return load_segmenter(SegmenterConfig(method="unet"))


def _segmenters(demo_unet):
    return [EdgeSegmenter(), demo_unet]


# -- metrics ------------------------------------------------------------------------------


def test_iou_known_values():
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[:, :5] = True  # 50 px
    b[:, 3:8] = True  # 50 px, 20 shared
    assert iou(a, b) == pytest.approx(20 / 80)
    assert iou(a, a) == 1.0
    assert iou(np.zeros((4, 4)), np.zeros((4, 4))) == 1.0
    assert iou(a.astype(np.uint8) * 255, a) == 1.0


def test_boundary_f_tolerance():
    a = np.zeros((64, 64), np.uint8)
    a[16:48, 16:48] = 255
    b = np.roll(a, 5, axis=1)
    assert boundary_f(a, a) == 1.0
    assert boundary_f(a, b, tolerance=2) < 0.7
    assert boundary_f(a, b, tolerance=6) == 1.0


# -- accuracy on generated photos with known masks ------------------------------------------


def _catalogue_iou(segmenter, root):
    with open(os.path.join(root, "catalogue.csv")) as f:
        rows = list(csv.DictReader(f))
    scores = []
    for row in rows:
        ref = datasets.ImageRef(
            row["image_id"], os.path.join(root, row["uri"]), os.path.join(root, row["mask_uri"])
        )
        img, mask = datasets.load(ref)
        scores.append(iou(segmenter.segment(img).alpha, mask))
    return float(np.mean(scores)), scores


def test_edge_segmenter_iou_on_sample_catalogue(small_catalogue):
    mean, scores = _catalogue_iou(EdgeSegmenter(), small_catalogue)
    assert mean >= 0.90, scores


def test_unet_segmenter_iou_on_sample_catalogue(small_catalogue, demo_unet):
    mean, scores = _catalogue_iou(demo_unet, small_catalogue)
    assert mean >= 0.92, scores


def test_sobel_variant_and_grabcut_also_segment():
    shot = render_shot(ShotSpec("mug", 300, 240, "light_grey"), np.random.default_rng(4))
    for cfg in (EdgeConfig(edge_operator="sobel"), EdgeConfig(grabcut=True)):
        assert iou(EdgeSegmenter(cfg).segment(shot.image).alpha, shot.mask) > 0.9


# -- properties -----------------------------------------------------------------------------

SIZES = [(1, 1), (2, 3), (7, 5), (33, 17), (64, 64), (97, 301), (480, 131), (257, 383)]


@pytest.mark.parametrize("size", SIZES)
def test_mask_has_image_size_and_unit_range(size, demo_unet):
    h, w = size
    rng = np.random.default_rng(h * 1000 + w)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if min(h, w) >= 32:
        img = render_shot(ShotSpec("box", w, h, "gradient"), rng).image
    for seg in _segmenters(demo_unet):
        for variant in (img, img[..., 0], np.dstack([img, np.full((h, w), 255, np.uint8)])):
            m = seg.segment(variant)
            assert m.alpha.shape == (h, w)
            assert m.alpha.dtype == np.float32
            assert float(m.alpha.min()) >= 0.0 and float(m.alpha.max()) <= 1.0
            assert 0.0 <= m.confidence <= 1.0


def test_rgba_alpha_is_the_mask(demo_unet):
    rng = np.random.default_rng(1)
    rgb = np.full((60, 80, 3), 255, np.uint8)  # colour says: nothing there
    alpha = np.zeros((60, 80), np.uint8)
    alpha[10:50, 20:70] = 255
    alpha[30, 30] = 77
    for seg in _segmenters(demo_unet):
        m = seg.segment(np.dstack([rgb, alpha]))
        assert FLAG_FROM_ALPHA in m.flags
        assert np.allclose(m.alpha, alpha / 255.0)
    del rng


@pytest.mark.parametrize("value", [0, 128, 255])
def test_uniform_images_are_flagged_not_errors(value, demo_unet):
    img = np.full((120, 160, 3), value, np.uint8)
    for seg in _segmenters(demo_unet):
        m = seg.segment(img)
        assert not m.usable
        assert {FLAG_UNIFORM, FLAG_EMPTY} <= set(m.flags)
        assert m.coverage == 0.0


def test_all_product_frame_is_flagged():
    rng = np.random.default_rng(3)
    texture = rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)
    m = EdgeSegmenter().segment(texture)
    assert {FLAG_FULL, FLAG_LOW_CONFIDENCE} & set(m.flags)


def test_hole_stays_background():
    shot = render_shot(ShotSpec("mug", 400, 320, "white"), np.random.default_rng(2))
    m = EdgeSegmenter().segment(shot.image)
    inside_handle = (shot.mask == 0) & (m.binary == 0)
    truth_hole = shot.mask == 0
    # Every true background pixel enclosed by the handle is background in the prediction.
    import cv2

    n, labels = cv2.connectedComponents(truth_hole.astype(np.uint8), connectivity=4)
    assert n >= 3
    for k in range(2, n):
        region = labels == k
        assert inside_handle[region].mean() > 0.9


# -- the hole rule: holes only where the backdrop shows through ---------------------------


def test_hole_rule_keeps_backdrop_and_fills_colour_and_texture():
    """A dark ring encloses three regions that a segmenter called background: smooth
    backdrop (a real hole), red (a printed detail) and backdrop-coloured but textured (a
    knit's light yarn). Only the first stays a hole."""
    import cv2

    from stylecore.segmentation.edges import fit_backdrop
    from stylecore.segmentation.refine import Backdrop, settle_holes, to_lab

    rng = np.random.default_rng(0)
    img = np.full((240, 360, 3), 235.0) + rng.normal(0, 0.8, (240, 360, 1))
    fg = np.zeros((240, 360), np.uint8)
    cv2.rectangle(fg, (30, 60), (330, 180), 1, -1)
    regions = []
    for x0 in (50, 150, 250):
        r = np.zeros_like(fg)
        cv2.rectangle(r, (x0, 80), (x0 + 60, 160), 1, -1)
        fg[r > 0] = 0
        regions.append(r > 0)
    img[fg > 0] = (30, 30, 40)
    img[regions[1]] = (200, 30, 30)
    img[regions[2]] += rng.normal(0, 9, (int(regions[2].sum()), 1))
    lab = to_lab(np.clip(img, 0, 255).astype(np.uint8))
    model, noise, _ = fit_backdrop(lab, 0.015)
    out, kept = settle_holes(fg > 0, Backdrop(lab, model, noise))
    hole, red, yarn = regions
    assert not out[hole].any() and kept[hole].all()
    assert out[red].all() and out[yarn].all()
    assert not kept[red].any() and not kept[yarn].any()


def test_hole_opening_takes_a_filled_corner_but_not_a_lit_strip_behind_a_rim():
    """A dark frame encloses a kept hole of white backdrop. The mask also calls two
    white regions beside it product: a corner of the hole the network filled (nothing
    parts it from the hole) and a lit white strip of product that a dark 2 px rim parts
    from the hole, but for a 6 px gap (a white mug's inner handle). The corner joins the
    hole; the strip stays product."""

    from stylecore.segmentation.edges import fit_backdrop
    from stylecore.segmentation.refine import Backdrop, open_holes, to_lab

    rng = np.random.default_rng(1)
    img = np.full((240, 360, 3), 235.0) + rng.normal(0, 0.8, (240, 360, 1))
    fg = np.zeros((240, 360), bool)
    fg[40:200, 60:300] = True
    img[fg] = (60, 60, 70)
    hole = np.zeros_like(fg)
    hole[70:170, 100:260] = True
    img[hole] = 235 + rng.normal(0, 0.8, (int(hole.sum()), 1))
    corner = np.zeros_like(fg)
    corner[70:90, 100:130] = True  # the network's fill, backdrop-white
    strip = np.zeros_like(fg)
    strip[172:182, 110:250] = True  # lit white product below the hole's rim
    img[strip] = 235 + rng.normal(0, 0.8, (int(strip.sum()), 1))
    img[170:172, 100:260] = (90, 90, 95)  # the rim ...
    img[170:172, 180:186] = 235  # ... with a gap where the strip meets the hole
    lab = to_lab(np.clip(img, 0, 255).astype(np.uint8))
    model, noise, _ = fit_backdrop(lab, 0.015)
    mask = fg & ~(hole & ~corner)
    kept = hole & ~corner
    out, kept_after = open_holes(mask, kept, Backdrop(lab, model, noise))
    assert not out[corner].any() and kept_after[corner].all()
    assert out[strip].all() and not kept_after[strip].any()
    # without the rim bound the strip is carved, as it was before
    out0, _ = open_holes(mask, kept, Backdrop(lab, model, noise), min_touch=0.0)
    assert not out0[strip].all()


def test_a_light_rim_beside_a_dark_inside_snaps_to_the_product():
    """A mug's rim seen from above: a dark inside, a 4 px light-grey rim, a white
    backdrop. Snapped against the whole window's product mean (pulled dark by the
    inside), the rim reads as backdrop; against the mean of the product pixels along the
    outline (``rim_means``), it stays product."""
    from stylecore.segmentation.refine import local_means, rim_means, snap, to_lab

    img = np.full((40, 60, 3), 245, np.uint8)  # white backdrop
    img[:, :20] = 70  # the mug's dark inside
    img[:, 20:24] = 215  # its light-grey rim
    lab = to_lab(img)
    mask = np.zeros((40, 60), bool)
    mask[:, :24] = True
    rim = np.s_[10:30, 20:24]
    for means, product in ((local_means, False), (rim_means, True)):
        fg, bg = means(lab, mask, 6)
        kept = snap(lab[rim], fg[rim], bg[rim], mask[rim], 3.0)
        assert kept.all() == product and kept.any() == product


def _lost(alpha: np.ndarray, truth: np.ndarray, erode: int = 3) -> float:
    """Share of the true product, eroded by ``erode`` px, that the mask calls background."""
    import cv2

    k = np.ones((2 * erode + 1, 2 * erode + 1), np.uint8)
    core = cv2.erode(truth.astype(np.uint8), k) > 0
    return float(((alpha < 0.5) & core).sum() / core.sum())


@pytest.fixture(scope="module")
def three_segmenters(demo_unet):
    return {"edge": EdgeSegmenter(), "unet": demo_unet, "auto": load_segmenter(SegmenterConfig())}


@pytest.mark.parametrize("case", ["knit_vest", "dial"])
def test_light_yarn_and_red_digits_are_never_holes(case, three_segmenters):
    """Before the hole rule, the U-Net (and so auto) cut 1% of the knit out as holes."""
    from tests import product_details

    img, truth = getattr(product_details, case)()
    for name, seg in three_segmenters.items():
        assert _lost(seg.segment(img).alpha, truth) < 0.001, name


def test_logo_stays_product_and_the_handle_stays_a_hole(three_segmenters):
    from tests import product_details

    img, truth, logo = product_details.stein()
    handle_inside = np.zeros_like(truth)
    handle_inside[400:560, 790:850] = True  # well inside the handle's loop
    assert not truth[handle_inside].any()
    for name, seg in three_segmenters.items():
        alpha = seg.segment(img).alpha
        assert _lost(alpha, logo, erode=1) == 0.0, name
        assert (alpha[handle_inside] < 0.5).mean() > 0.95, name


def test_a_swoosh_through_the_outline_stays_product(three_segmenters):
    from tests import product_details

    img, _, swoosh = product_details.swoosh_shoe()
    for name, seg in three_segmenters.items():
        assert _lost(seg.segment(img).alpha, swoosh, erode=2) < 0.005, name


# -- U-Net: training, save / load ------------------------------------------------------------


def _tiny_examples(n=4):
    out = []
    for i in range(n):
        shot = render_shot(
            ShotSpec(("mug", "box", "bottle", "watch")[i % 4], 96, 80, "white"),
            np.random.default_rng(i),
        )
        out.append(prepare_example(shot.image, shot.mask, TINY.input_size))
    return out


def test_unet_shapes_and_size_budget():
    m = UNet(UNetConfig())
    assert count_parameters(m) <= 2_100_000
    x = torch.randn(2, 4, 48, 80)
    assert m(x).shape == (2, 1, 48, 80)


def test_seg_loss_known_values():
    target = torch.tensor([[[[1.0, 0.0]]]])
    big = torch.tensor([[[[20.0, -20.0]]]])
    assert float(seg_loss(big, target)) == pytest.approx(0.0, abs=1e-3)
    zero = torch.zeros(1, 1, 1, 2)  # p = 0.5: bce = ln 2, dice = 1 - (2*0.5+1)/(1+1+1)
    assert float(seg_loss(zero, target)) == pytest.approx(np.log(2) + 1 / 3, abs=1e-5)


def test_unet_loss_falls_on_tiny_data():
    torch.manual_seed(0)
    model = UNet(TINY)
    cfg = SegTrainConfig(steps=40, batch_size=4, crop=48, lr=5e-3, warmup_steps=5, log_every=40)
    data = batches(_tiny_examples(), TINY, 4, 48, np.random.default_rng(0))
    losses = train_unet(model, data, cfg)
    assert np.mean(losses[-8:]) < 0.8 * np.mean(losses[:8])


def test_unet_save_load_round_trip(tmp_path):
    torch.manual_seed(1)
    seg = UNetSegmenter(TINY, UNet(TINY), meta={"note": "x"})
    img = render_shot(ShotSpec("box", 90, 70, "paper"), np.random.default_rng(0)).image
    write_model_files(str(tmp_path / "m"), seg.to_files())
    files = read_model_files(str(tmp_path / "m"), ("model.safetensors", "model.json"))
    back = UNetSegmenter.from_files(files)
    assert back.cfg == TINY and back.meta["note"] == "x"
    assert np.array_equal(seg.segment(img).alpha, back.segment(img).alpha)
    with pytest.raises(ValueError, match="kind"):
        UNetSegmenter.from_files({**files, "model.json": b'{"kind": "gan"}'})
    with pytest.raises(FileNotFoundError, match=r"missing model\.json"):
        os.remove(tmp_path / "m" / "model.json")
        read_model_files(str(tmp_path / "m"), ("model.safetensors", "model.json"))


def test_lite0_encoder_unet_learns_its_decoder_and_stores_it_alone(tmp_path):
    """The Lite0-encoder U-Net: frozen ImageNet encoder (its weights are the package's, so
    the model file holds the decoder alone), a decoder that learns, and a round trip that
    gives the same masks."""
    from stylecore.segmentation.unet import build_net

    cfg = UNetConfig(input_size=64, depth=5, encoder="lite0", base_channels=8)
    torch.manual_seed(0)
    net = build_net(cfg)
    frozen = {k: v.clone() for k, v in net.encoder.state_dict().items()}
    assert net(torch.randn(2, 4, 64, 96)).shape == (2, 1, 64, 96)
    tcfg = SegTrainConfig(steps=50, batch_size=4, crop=64, lr=5e-3, warmup_steps=5, log_every=50)
    # a fixed handful of batches, seen again and again: the decoder must fit them (fresh
    # augmentations each step would measure how hard the augmentation is, not learning)
    stream = batches(_tiny_examples(), cfg, 4, 64, np.random.default_rng(0))
    losses = train_unet(net, itertools.cycle([next(stream) for _ in range(3)]), tcfg)
    assert np.mean(losses[-8:]) < 0.8 * np.mean(losses[:8])
    assert all(torch.equal(v, net.encoder.state_dict()[k]) for k, v in frozen.items())
    seg = UNetSegmenter(cfg, net)
    files = seg.to_files()
    assert len(files["model.safetensors"]) < 2**20  # the decoder only (Lite0 is ~13 MB)
    back = UNetSegmenter.from_files(files)
    img = render_shot(ShotSpec("box", 90, 70, "paper"), np.random.default_rng(0)).image
    assert np.array_equal(seg.segment(img).alpha, back.segment(img).alpha)
    with pytest.raises(ValueError, match="depth=5"):
        UNetConfig(encoder="lite0")


def test_demo_model_is_committed_and_small():
    size = os.path.getsize(os.path.join(DEFAULT_SEGMENTER_MODEL, "model.safetensors"))
    assert size < 10 * 2**20


def test_drop_specks_removes_islands_but_not_the_product():
    from stylecore.segmentation.refine import drop_specks

    alpha = np.zeros((400, 400), np.float32)
    cv2.circle(alpha, (200, 200), 80, 1.0, -1)
    cv2.line(alpha, (200, 200), (390, 390), 1.0, 1)  # a thin strand, attached
    for x, y, r in [(40, 40, 1), (60, 300, 2), (330, 60, 1)]:
        cv2.circle(alpha, (x, y), r, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.7)
    out = drop_specks(alpha)
    assert out[35:46, 35:46].max() < 1e-3 and out[294:307, 54:67].max() < 1e-3
    assert out[55:66, 325:336].max() < 1e-3
    keep = np.ones_like(alpha, bool)
    keep[:100, :100] = keep[280:320, 40:80] = keep[40:80, 310:350] = False
    assert np.array_equal(out[keep], alpha[keep])  # the disc and its strand untouched
    single = alpha * keep
    assert drop_specks(single) is single


def test_the_finer_outline_moves_only_the_outline():
    """``redraw_outline``: the finer probability moves the outline within the band where
    the colours agree, but cannot add a far part, fill a kept hole, drop the product,
    take in a cast shadow or give up a part that is not backdrop-coloured."""
    from stylecore.segmentation.unet import OUTLINE_BAND_PX, redraw_outline

    fg = np.zeros((64, 64), bool)
    cv2.circle(fg.view(np.uint8), (32, 32), 20, 1, -1)
    hole = np.zeros_like(fg)
    cv2.circle(hole.view(np.uint8), (32, 32), 6, 1, -1)
    fg &= ~hole
    # the photo at the fine grid: a light-grey backdrop, a product disc of radius 42 that
    # is clearly not backdrop-coloured, a backdrop-coloured hole, a cast shadow to the
    # right and a product-coloured speck far away
    model = np.zeros((128, 128, 3), np.float32)
    model[..., 0] = 85.0
    lab = model.copy()
    disc = np.zeros((128, 128), np.uint8)
    cv2.circle(disc, (64, 64), 42, 1, -1)
    cv2.circle(disc, (64, 64), 12, 0, -1)
    lab[disc > 0] = (40.0, 20.0, 10.0)
    lab[50:78, 107:112, 0] = 70.0  # a soft shadow beside it: darker, neutral
    fine = np.zeros((128, 128), np.float32)
    cv2.circle(fine, (64, 64), 42, 1.0, -1)  # the outline 2 fine px further out...
    cv2.circle(fine, (64, 64), 12, 1.0, -1)  # ... the hole filled ...
    cv2.circle(fine, (10, 10), 6, 1.0, -1)  # ... a far blob ...
    fine[50:78, 100:112] = 0.9  # ... and the shadow called product
    out, holes = redraw_outline(fg, hole, fine, lab, model, 0.3)
    assert out.shape == holes.shape == (128, 128)
    row = np.nonzero(out[40, 64:])[0][-1]
    assert 34 <= row <= 35  # follows the finer outline at row 40 (the coarse one: 32)
    assert not out[64, 64] and holes[64, 64]  # the hole the hole rule kept stays
    assert not out[10, 10]  # nothing far from the outline joins
    assert not out[64, 107:112].any()  # the shadow does not join
    # the band is OUTLINE_BAND_PX: a finer outline further out than that is not reached
    wide_lab = lab.copy()
    wide_lab[..., 0] = 40.0  # everything product-coloured
    wide = np.zeros((128, 128), np.float32)
    cv2.circle(wide, (64, 64), 40 + int(OUTLINE_BAND_PX) + 4, 1.0, -1)
    far, _ = redraw_outline(fg, hole, wide, wide_lab, model, 0.3)
    assert np.nonzero(far[64, 64:])[0][-1] <= 40 + OUTLINE_BAND_PX + 1  # not 47
    # a finer map that sees nothing cannot take away what is not backdrop-coloured
    kept, _ = redraw_outline(fg, hole, np.zeros((128, 128), np.float32), lab, model, 0.3)
    up = cv2.resize(fg.astype(np.float32), (128, 128)) >= 0.5
    assert not (kept & ~up).any()
    assert np.array_equal(kept, up & (disc > 0))  # only backdrop-coloured pixels left


def test_the_redrawn_mask_is_the_drawn_one_away_from_what_moved():
    """``masks_from_probability``: the redrawn mask takes the finer grid's upsampling only
    around the working pixels the redraw moved; elsewhere it is the drawn mask, bit for
    bit (upsampled from the finer grid everywhere, the outline's snapping read a jump
    rope's shadow on purple paper differently and kept blobs of it)."""
    from stylecore.segmentation.edges import fit_backdrop
    from stylecore.segmentation.refine import to_lab
    from stylecore.segmentation.unet import masks_from_probability

    H = W = 1024
    rgb = np.full((H, W, 3), 200, np.uint8)
    cv2.circle(rgb, (512, 512), 300, (200, 150, 60), -1)  # the product
    cv2.rectangle(rgb, (496, 205), (528, 215), (225, 190, 120), -1)  # a lip on top

    def at(size):
        small = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
        lab = to_lab(small)
        model, noise, _ = fit_backdrop(lab, 0.015)
        prob = np.zeros((size, size), np.float32)
        cv2.circle(prob, (size // 2, size // 2), round(300 * size / W), 1.0, -1)
        return prob, lab, model, noise

    coarse, fine = at(256), at(384)
    # the finer net also sees the lip
    s = 384 / W
    fine[0][round(205 * s) : round(216 * s), round(496 * s) : round(529 * s)] = 1.0
    drawn, redrawn = masks_from_probability(rgb, *coarse, TINY, "unet", fine=fine)
    assert redrawn is not None
    lip = np.s_[207:211, 504:520]
    assert (drawn.alpha[lip] < 0.5).all() and (redrawn.alpha[lip] >= 0.5).all()
    far = np.ones((H, W), bool)
    far[150:260, 450:580] = False  # around the lip
    assert np.array_equal(drawn.alpha[far], redrawn.alpha[far])


def test_drop_specks_removes_faint_islands_that_hold_no_product():
    """Soft pixels that no product pixel joins print as dots of the product's colour (the
    compositor draws them at opacity 2 alpha); a soft ramp joined to the product, and a
    faint strand too long to be a speck, stay."""
    from stylecore.segmentation.refine import drop_specks

    alpha = np.zeros((400, 400), np.float32)
    cv2.circle(alpha, (200, 200), 80, 1.0, -1)
    alpha[120:280, 281:285] = 0.3  # a soft ramp along the disc's right side, joined
    for x, y in [(40, 40), (60, 300), (330, 60)]:
        alpha[y : y + 3, x : x + 4] = 0.25  # faint islands of 12 px
    alpha[380:383, 20:380] = 0.3  # a faint strand, 1080 px: not a speck
    out = drop_specks(alpha)
    assert out[40:43, 40:44].max() == 0 and out[300:303, 60:64].max() == 0
    assert out[60:63, 330:334].max() == 0
    keep = np.ones_like(alpha, bool)
    keep[40:43, 40:44] = keep[300:303, 60:64] = keep[60:63, 330:334] = False
    assert np.array_equal(out[keep], alpha[keep])
