"""Exemplar-based backgrounds: quilting, the backdrop's light, the default restyle path,
the out-of-palette gate check, and looks registered from references alone."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from stylecore.models.generator import Generator, GeneratorConfig
from stylecore.models.style_model import StyleModel
from stylecore.quality.checks import QualityConfig, decide
from stylecore.quality.palette import out_of_palette, palette
from stylecore.synth.products import ShotSpec, render_shot
from stylecore.synth.styles import geometric, wood
from stylecore.transfer.composite import backdrop_light
from stylecore.transfer.restyle import TransferConfig, restyle_image
from stylecore.transfer.synthesis import SynthConfig, quilt, seed_for, synthesize_background

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def refs():
    rng = np.random.default_rng(0)
    return [geometric(240, 320, rng, 0), geometric(256, 256, rng, 1)]


def test_quilting_is_deterministic_per_seed_and_any_size(refs):
    a = synthesize_background(refs, (150, 233), seed=seed_for("geo", "sku-1"))
    b = synthesize_background(refs, (150, 233), seed=seed_for("geo", "sku-1"))
    c = synthesize_background(refs, (150, 233), seed=seed_for("geo", "sku-2"))
    assert a.shape == (150, 233, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    for hw in ((17, 300), (400, 31), (1, 1)):
        assert synthesize_background(refs, hw, seed=1).shape == (*hw, 3)


def test_quilted_pixels_come_from_the_reference():
    """Outside the feathered seams every pixel is a reference pixel: the look's own
    colours, no new ones (a flat two-colour reference gives only those two colours and
    their blends along the cuts)."""
    ref = np.zeros((200, 200, 3), np.uint8)
    ref[:, :100] = (200, 40, 40)
    ref[:, 100:] = (40, 40, 200)
    out = quilt(ref, (300, 300), seed=3, cfg=SynthConfig(scale=1.0))
    red = (out == (200, 40, 40)).all(2)
    blue = (out == (40, 40, 200)).all(2)
    assert (red | blue).mean() > 0.9
    # blends lie on the segment between the two colours
    g = out[..., 1].astype(int)
    assert np.abs(g - 40).max() <= 1


def test_a_quilt_draws_on_every_reference_and_no_patch_spans_two():
    """A look's other references are patch sources too: three references of one look
    (cream paper with red, blue or green discs) give a frame with discs of more than one
    colour, starting from the drawn one. No patch position spans two references of the
    mosaic or its padding. A reference too small for one patch is left out, and without
    extras nothing changes."""
    from stylecore.transfer.synthesis import _allowed, _mosaic

    rng = np.random.default_rng(0)

    def look(colour, h, w):
        img = np.clip(235 + rng.normal(0, 3, (h, w, 1)), 0, 255).repeat(3, 2)
        for _ in range(6):
            cy, cx, r = rng.integers(20, h - 20), rng.integers(20, w - 20), rng.integers(8, 16)
            cv2.circle(img, (int(cx), int(cy)), int(r), colour, -1)
        return img.astype(np.uint8)

    red, blue, green = (
        look((200, 40, 40), 200, 200),
        look((40, 40, 200), 170, 230),
        look((40, 200, 40), 210, 190),
    )
    cfg = SynthConfig(scale=1.0)
    out = quilt(red, (400, 400), seed=3, cfg=cfg, extra=[blue, green])
    share = {
        name: (np.abs(out.astype(int) - c).max(2) <= 30).mean()
        for name, c in (("red", (200, 40, 40)), ("blue", (40, 40, 200)), ("green", (40, 200, 40)))
    }
    assert share["red"] > 0 and sum(v > 0.002 for v in share.values()) >= 2, share
    alone = quilt(red, (400, 400), seed=3, cfg=cfg)
    assert np.array_equal(alone, quilt(red, (400, 400), seed=3, cfg=cfg, extra=[]))
    tiny = np.full((20, 20, 3), 235, np.uint8)
    assert np.array_equal(alone, quilt(red, (400, 400), seed=3, cfg=cfg, extra=[tiny]))
    # the allowed positions: a 10-px patch (c = 1, k = 2) in two references 30 and 25 px
    # wide (the second padded to 26) and 20 and 14 px tall
    mosaic, spans = _mosaic([np.zeros((20, 30, 3), np.uint8), np.zeros((14, 25, 3), np.uint8)], 2)
    assert mosaic.shape[:2] == (20, 56) and spans == [(0, 30, 20), (30, 55, 14)]
    ok = _allowed(spans, (6, 24), 1, 2, 10).reshape(6, 24)
    xs = np.nonzero(ok.any(0))[0] * 2
    assert not any(x < 30 < x + 10 for x in xs)  # none across the join
    assert all(x + 10 <= 30 or x + 10 <= 55 for x in xs)  # none in the padding
    assert ok[:, 15:].any(0).sum() > 0 and not ok[3:, 15:].any()  # the second is shorter


def test_quilting_keeps_the_texture_scale_and_refuses_bad_input(refs):
    rng = np.random.default_rng(1)
    ref = wood(256, 384, rng, 0)
    out = synthesize_background([ref], (256, 384), seed=5, cfg=SynthConfig(scale=1.0))

    def hf(x):
        g = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return float(np.abs(cv2.Laplacian(g, cv2.CV_32F)).mean())

    # the fine texture survives (no blur): within 30% of the reference's
    assert 0.7 < hf(out) / hf(ref) < 1.3
    with pytest.raises(ValueError, match="uint8"):
        quilt(ref.astype(np.float32), (10, 10), seed=0)
    with pytest.raises(ValueError, match="scale"):
        SynthConfig(scale=0.0)
    with pytest.raises(ValueError, match="wide_feather"):
        SynthConfig(wide_feather=-0.1)
    with pytest.raises(ValueError, match="trim_dark_edges"):
        SynthConfig(trim_dark_edges=0.9)
    with pytest.raises(ValueError, match="no reference"):
        synthesize_background([], (10, 10), seed=0)


def test_backdrop_light_keeps_the_contact_shadow_and_the_sweep():
    h, w = 200, 300
    yy = np.linspace(0, 1, h)[:, None]
    grey = (235 - 40 * yy) * np.ones((1, w))  # a wall-to-floor sweep, darker below
    img = np.repeat(grey[..., None], 3, axis=2)
    alpha = np.zeros((h, w), np.float32)
    alpha[60:140, 110:190] = 1.0
    img[140:150, 100:200] *= 0.55  # the contact shadow under the product
    img[alpha > 0] = (30, 120, 40)
    light = backdrop_light(img.astype(np.uint8), alpha)
    assert light.shape == (h, w) and light.dtype == np.float32
    assert np.all(light[alpha >= 0.5] == 1.0)
    assert light[145, 150] < 0.75  # the shadow carries over
    assert light[10, 20] > light[190, 20] + 0.05  # so does the sweep
    assert light[10:40, :].min() > 0.9  # the brightest backdrop stays at full light
    # levelled: a typical backdrop pixel keeps the look's own brightness, the bright top is
    # lifted at most `gain` times, and the shadow is still darker than its surroundings
    lev = backdrop_light(img.astype(np.uint8), alpha, gain=1.15)
    back = alpha < 0.5
    assert abs(float(np.median(lev[back])) - 1.0) < 0.01
    assert lev.max() <= 1.15 + 1e-6 and lev[10, 20] > 1.0
    assert lev[145, 150] < 0.8 * lev[120, 20]
    assert np.all(lev[alpha >= 0.5] == 1.0)


@pytest.fixture(scope="module")
def model(refs):
    torch.manual_seed(0)
    g = Generator(GeneratorConfig(widths=(4, 8, 8), n_res=1, n_styles=1, style_dim=8)).eval()
    return StyleModel(g, ["geo"], "v1", references={"geo": refs})


def test_default_restyle_synthesises_and_keeps_the_product_exact(model):
    shot = render_shot(ShotSpec("mug", 220, 160, "white"), np.random.default_rng(2))
    cfg = TransferConfig()
    assert cfg.background == "synth" and cfg.synthesises
    r = restyle_image(shot.image, shot.alpha, model, cfg, image_id="sku")
    again = restyle_image(shot.image, shot.alpha, model, cfg, image_id="sku")
    assert np.array_equal(r.image, again.image)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    inner = cv2.erode((shot.alpha >= 0.5).astype(np.uint8), k) > 0
    assert np.array_equal(r.image[inner], shot.image[inner])
    assert "synthesise" in r.timings
    # the new background is the look: on the references' palette
    pal = palette(model.references["geo"])
    assert out_of_palette(r.image, shot.alpha, pal)["palette_blobs"] == 0


def test_gan_harmonisation_touches_only_the_background_side(model):
    shot = render_shot(ShotSpec("bottle", 160, 200, "light_grey"), np.random.default_rng(3))
    plain = restyle_image(shot.image, shot.alpha, model, TransferConfig(), image_id="x")
    harm = restyle_image(
        shot.image, shot.alpha, model, TransferConfig(harmonise=True), image_id="x"
    )
    prod = shot.alpha >= 0.5
    assert np.array_equal(harm.image[prod], plain.image[prod])  # the composite's product
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    inner = cv2.erode(prod.astype(np.uint8), k) > 0
    assert np.array_equal(harm.image[inner], shot.image[inner])
    assert not np.array_equal(harm.image[~prod], plain.image[~prod])
    far = np.ones_like(prod, np.uint8)
    far[prod] = 0
    dist = cv2.distanceTransform(far, cv2.DIST_L2, 3)
    assert np.array_equal(harm.image[dist > 40], plain.image[dist > 40])


def test_a_look_without_references_or_training_fails_clearly(model):
    img = np.full((64, 64, 3), 240, np.uint8)
    mask = np.zeros((64, 64), np.float32)
    with pytest.raises(ValueError, match="carries"):
        restyle_image(img, mask, model, TransferConfig(style="nope"))
    registered = StyleModel(model.generator, [], "v2", references=model.references)
    assert registered.looks == ["geo"]
    with pytest.raises(ValueError, match="without training"):
        restyle_image(img, mask, registered, TransferConfig(background="gan", style="geo"))
    back = StyleModel.from_files(registered.to_files())
    assert back.looks == ["geo"] and len(back.references["geo"]) == 2
    assert back.references["geo"][0].shape == model.references["geo"][0].shape


def test_the_gate_rejects_injected_specks(model):
    """A good output passes the out-of-palette check; the same output with a few
    magenta blobs of ~20-40 px (the GAN's old defect) is rejected, naming the check."""
    shot = render_shot(ShotSpec("sneaker", 640, 480, "white"), np.random.default_rng(4))
    r = restyle_image(shot.image, shot.alpha, model, TransferConfig(), image_id="s")
    pal = palette(model.references["geo"])
    cfg = QualityConfig()
    good = out_of_palette(r.image, shot.alpha, pal, cfg.palette_max_de, cfg.palette_min_blob)
    assert good["palette_blobs"] == 0
    bad_img = r.image.copy()
    for y, x, rad in ((40, 60, 12), (420, 600, 16), (60, 560, 10)):
        cv2.circle(bad_img, (x, y), rad, (230, 40, 210), -1)
    bad = out_of_palette(bad_img, shot.alpha, pal, cfg.palette_max_de, cfg.palette_min_blob)
    assert bad["palette_blobs"] == 3
    rep = decide(bad, cfg, check_product=False, check_style=True)
    assert not rep.passed and any(s.startswith("out_of_palette") for s in rep.reasons)
    assert decide(good, cfg, check_product=False, check_style=True).passed


def test_add_style_no_train_registers_one_reference_in_seconds(tmp_path):
    """One texture photo makes a look: `add-style --no-train` writes a new version that
    carries it, and `apply` restyles a background with it; region all needs training."""
    from skimage import data

    look = tmp_path / "brick"
    look.mkdir()
    cv2.imwrite(str(look / "brick.png"), data.brick())
    photo = tmp_path / "shot.png"
    shot = render_shot(ShotSpec("box", 320, 240, "white"), np.random.default_rng(6))
    cv2.imwrite(str(photo), cv2.cvtColor(shot.image, cv2.COLOR_RGB2BGR))
    out = tmp_path / "models"
    cli = [sys.executable, "-m", "jobs.cli", "-q"]
    base = os.path.join(REPO, "models", "style", "multi")
    res = subprocess.run(
        [*cli, "add-style", "--model", base, "--references", str(look), "--out", str(out),
         "--no-train"],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "registered brick" in res.stdout
    version = (out / "LATEST").read_text().strip()
    assert (out / version / "references" / "brick" / "0.jpg").exists()
    res = subprocess.run(
        [*cli, "apply", str(photo), "--model", str(out), "--style", "brick", "-o",
         str(tmp_path / "ap")],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert list((tmp_path / "ap").rglob("shot.brick.jpg")), res.stdout  # ok or rejected/
    res = subprocess.run(
        [*cli, "apply", str(photo), "--model", str(out), "--style", "brick", "--region",
         "all", "-o", str(tmp_path / "ap2")],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert res.returncode != 0
    assert "without training" in res.stderr and "Traceback" not in res.stderr


def _cell_grid(rows: int, cols: int, cell: int, seed: int) -> np.ndarray:
    """A grid of ``cell`` px cells, each a flat colour with a shape of another colour
    (a disc, a triangle or three bars) that touches nothing outside its cell."""
    rng = np.random.default_rng(seed)
    ref = np.zeros((rows * cell, cols * cell, 3), np.uint8)
    for r in range(rows):
        for c in range(cols):
            tile = np.full((cell, cell, 3), rng.integers(0, 256, 3), np.uint8)
            ink = tuple(int(v) for v in rng.integers(0, 256, 3))
            kind = int(rng.integers(3))
            if kind == 0:
                cv2.circle(tile, (cell // 2, cell // 2), cell // 3, ink, -1)
            elif kind == 1:
                pts = np.array([[4, cell - 5], [cell - 5, cell - 5], [cell // 2, 4]], np.int32)
                cv2.fillPoly(tile, [pts], ink)
            else:
                for k in range(3):
                    y = cell // 4 + k * cell // 4
                    cv2.rectangle(tile, (6, y - 2), (cell - 7, y + 2), ink, -1)
            ref[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell] = tile
    return ref


def test_a_grid_of_cells_is_found_and_other_looks_are_not():
    from stylecore.transfer.lattice import find_lattice

    grid = find_lattice(_cell_grid(8, 11, 40, seed=0))
    assert grid is not None
    for period in grid.period:  # the cell, or a block of whole cells
        assert min(abs(period - 40 * k) for k in (1, 2, 3)) <= 1.0
    rng = np.random.default_rng(3)
    assert find_lattice(wood(240, 320, rng, 0)) is None  # plank joints: one axis only
    noise = (rng.random((240, 320, 3)) * 255).astype(np.uint8)
    assert find_lattice(cv2.GaussianBlur(noise, (0, 0), 3)) is None


def test_a_grid_look_is_rebuilt_from_whole_cells_with_seams_on_its_lines():
    """Every cell of the new background is a whole cell of the reference: no shape is cut
    by a seam (quilting's minimum-error cuts chop them), and the frame is seeded."""
    from stylecore.transfer.lattice import find_lattice

    cell, margin = 40, 3
    ref = _cell_grid(8, 11, cell, seed=1)
    cells = {
        ref[y + margin : y + cell - margin, x + margin : x + cell - margin].tobytes()
        for y in range(0, ref.shape[0], cell)
        for x in range(0, ref.shape[1], cell)
    }
    hw = (300, ref.shape[1])  # the frame's long side is the reference's: cells stay 40 px
    out = synthesize_background([ref], hw, seed=seed_for("tiles", "sku-1"))
    again = synthesize_background([ref], hw, seed=seed_for("tiles", "sku-1"))
    other = synthesize_background([ref], hw, seed=seed_for("tiles", "sku-2"))
    assert np.array_equal(out, again) and not np.array_equal(out, other)
    grid = find_lattice(out)
    assert grid is not None
    # a grid line lies between two pixels: the cell after it starts at line + 0.5
    fy, fx = (int(np.floor(f + 1.0)) % cell for f in grid.phase)
    whole = total = 0
    for y in range(fy, out.shape[0] - cell + 1, cell):
        for x in range(fx, out.shape[1] - cell + 1, cell):
            total += 1
            inner = out[y + margin : y + cell - margin, x + margin : x + cell - margin]
            whole += inner.tobytes() in cells
    assert total >= 40 and whole == total
    # quilting the same reference cuts cells (what the grid path avoids)
    quilted = synthesize_background(
        [ref], hw, seed=seed_for("tiles", "sku-1"), cfg=SynthConfig(lattice=False)
    )
    cut = sum(
        quilted[y + margin : y + cell - margin, x + margin : x + cell - margin].tobytes()
        not in cells
        for y in range(0, hw[0] - cell + 1, cell)
        for x in range(0, hw[1] - cell + 1, cell)
    )
    assert cut > 0


def test_a_small_reference_keeps_its_scale_and_its_fine_texture():
    """A reference 4x smaller than the frame is magnified to the look's scale (its planks
    stay as many per frame as in the reference), and the fine band a magnification cannot
    carry comes back from the reference at its own resolution: the background's fine
    texture, as a fraction of its whole variance, is the reference's, where the plain
    magnified copy keeps about 1% of it."""
    from stylecore.transfer.synthesis import band_power

    ref = wood(192, 256, np.random.default_rng(4), 2)
    hw = (768, 1024)
    seed = seed_for("wood", "sku-1")
    out = synthesize_background([ref], hw, seed)
    soft = synthesize_background([ref], hw, seed, SynthConfig(detail=0.0))

    def fraction(x):
        hi, _ = band_power(x, n=64)
        return hi / float(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float32).var())

    assert 0.7 < fraction(out) / fraction(ref) < 1.4
    assert fraction(soft) / fraction(ref) < 0.1

    # the look's scale: the grain's rings and joints come as many times per frame height
    # as per reference height (the spectral centroid of the row profile, in cycles per
    # height); unmagnified, the reference would repeat about 4 times
    def cycles(x):
        rows = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float32).mean(1)
        power = np.abs(np.fft.rfft(rows - rows.mean()))[1:] ** 2
        return float((np.arange(1, power.size + 1) * power).sum() / power.sum())

    small = synthesize_background([ref], hw, seed, SynthConfig(max_upscale=1.0, sharp_upscale=1.0))
    assert 0.6 < cycles(out) / cycles(ref) < 1.6
    assert cycles(small) / cycles(ref) > 2.0
    assert np.array_equal(out, synthesize_background([ref], hw, seed))


def test_fine_detail_keeps_its_power_across_the_tile_joins():
    from stylecore.transfer.synthesis import add_detail, detail_band

    rng = np.random.default_rng(5)
    band = detail_band((rng.random((200, 300, 3)) * 255).astype(np.uint8), 3.0)
    assert abs(float(band.mean())) < 1.0
    out = np.full((700, 900, 3), 128, np.uint8)
    add_detail(out, band, seed=2, gain=0.5)
    rows = out[..., 0].astype(np.float32).std(axis=1)
    cols = out[..., 0].astype(np.float32).std(axis=0)
    target = 0.5 * float(band[..., 0].std())
    # joins fall every 75 px: no row or column loses or gains much power
    assert 0.8 * target < rows.min() and rows.max() < 1.2 * target
    assert 0.75 * target < cols.min() and cols.max() < 1.25 * target


def test_a_grid_is_never_magnified_past_sharp_upscale():
    """Cells are hard-edged: magnified, their edges would blur, and a fine band from
    elsewhere would not sharpen them. A grid reference 3x smaller than the frame keeps
    cells at most ``sharp_upscale`` x their size."""
    from stylecore.transfer.lattice import find_lattice

    ref = _cell_grid(6, 8, 20, seed=2)
    out = synthesize_background([ref], (360, 480), seed=1)
    grid = find_lattice(out)
    assert grid is not None
    assert (
        min(abs(p - 20 * SynthConfig().sharp_upscale * k) for p in grid.period for k in (1, 2)) < 2
    )


def test_a_magnified_grid_keeps_its_hard_edges():
    """Magnified 1.3x by cubic interpolation, a print's cell edges spread over ~2 px; the
    re-sharpening brings the fine texture back near the reference's (HF fraction, the
    issue-26 measure at 2048 px), where without it a good share is lost."""
    from bench.bench_fullres import hf_fraction

    ref = _cell_grid(6, 8, 40, seed=3)
    ratio = {}
    for amount in (0.0, SynthConfig().grid_sharpen):
        out = synthesize_background([ref], (720, 960), seed=4, cfg=SynthConfig(grid_sharpen=amount))
        ratio[amount] = hf_fraction(out, None) / hf_fraction(ref, None)
    plain, sharp = ratio[0.0], ratio[SynthConfig().grid_sharpen]
    assert plain < 0.85 and sharp > plain + 0.1 and 0.85 <= sharp <= 1.4, ratio


def test_a_grain_look_is_quilted_in_bands_along_its_grain():
    """Wood's rings and fibres step at any cut across them: bands as long as the frame
    leave no column where the texture jumps (the largest mean horizontal step over the
    median is the reference's own, within 5%), where square patches leave one."""
    from stylecore.transfer.strips import grain_axis

    rng = np.random.default_rng(6)
    ref = wood(300, 400, rng, 1)
    assert grain_axis(ref) == 0 and grain_axis(np.ascontiguousarray(ref.transpose(1, 0, 2))) == 1
    tilted = cv2.warpAffine(ref, cv2.getRotationMatrix2D((200, 150), 45, 1.6), (400, 300))
    assert grain_axis(tilted) is None
    assert grain_axis(geometric(240, 320, rng, 0)) is None
    noise = cv2.GaussianBlur((rng.random((200, 200, 3)) * 255).astype(np.uint8), (0, 0), 2)
    assert grain_axis(noise) is None

    def worst_column_step(x):
        g = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float32)
        d = np.abs(np.diff(g, axis=1)).mean(0)
        return float(d.max() / np.median(d))

    own = worst_column_step(ref)
    # without the fine band, whose grain raises the median step and would hide a seam
    flat = SynthConfig(detail=0.0)
    for seed in range(3):
        bands = synthesize_background([ref], (600, 400), seed, flat)
        # plain square patches with sharp cuts (a clash's wide blur softens their steps
        # too; wider overlaps and more candidates hide some, not all)
        plain = SynthConfig(strips=False, detail=0, wide_feather=0, overlap=0.25, seam_tries=1)
        patches = synthesize_background([ref], (600, 400), seed, plain)
        assert worst_column_step(bands) <= 1.05 * own
        # (square patches leave 1.2-1.8x; 1.5-2.3x before their corners were covered)
        assert worst_column_step(patches) > 1.15 * own
    # vertical grain: the same, transposed
    vert = synthesize_background(
        [np.ascontiguousarray(ref.transpose(1, 0, 2))], (400, 600), 1, flat
    )
    assert worst_column_step(np.ascontiguousarray(vert.transpose(1, 0, 2))) <= 1.05 * own


def test_a_light_pool_brightens_a_white_look_without_clipping_it_flat():
    """A screen-lit desk levels to a light above 1 around the product: multiplied, a white
    marble clipped to flat 255 there. Brightening lifts the distance to white instead."""
    from stylecore.transfer.composite import CompositeConfig, composite

    rng = np.random.default_rng(8)
    h, w = 120, 160
    bg = np.clip(230 + rng.normal(0, 8, (h, w, 1)), 0, 250).repeat(3, 2).astype(np.uint8)
    img = np.full((h, w, 3), 30, np.uint8)
    alpha = np.zeros((h, w), np.float32)
    alpha[50:70, 70:90] = 1.0
    light = np.ones((h, w), np.float32)
    light[:, :80] = 1.15  # the pool
    light[:, 120:] = 0.6  # a shadow
    out = composite(img, bg, alpha, CompositeConfig(), light).astype(np.float32)
    pool, shade = out[:40, :80, 0], out[:40, 120:, 0]
    assert (pool >= 255).mean() == 0.0  # nothing clipped flat
    assert pool.mean() > bg[:40, :80, 0].mean() + 2  # but brighter
    assert pool.std() > 0.8 * bg[:40, :80, 0].std()  # the texture survives
    assert np.allclose(shade, np.clip(bg[:40, 120:, 0] * 0.6 + 0.5, 0, 255).astype(np.uint8))


def test_a_pool_of_light_is_lifted_within_the_gain_and_rolls_off_softly():
    """A lit dark desk: a pool of light several times the backdrop's median, with a fine
    grain. The levelled light lifts the pool and stays within the gain, and it reaches the
    gain through ``soft_ceiling``, not a hard clip (which turned a screen-lit desk into a
    flat pale stain with a grainy outline, by eye on the look sheet)."""
    from stylecore.transfer.composite import soft_ceiling

    h, w = 300, 400
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    pool = np.exp(-(((yy - 220) / 70) ** 2 + ((xx - 200) / 120) ** 2))
    grain = np.random.default_rng(0).normal(0, 1, (h, w)).astype(np.float32)
    grain = cv2.GaussianBlur(grain, (0, 0), 1.5) * 12
    lum = np.clip(25 * (1 + 7 * pool) + grain, 0, 255)
    img = np.repeat(lum[..., None], 3, axis=2).astype(np.uint8)
    alpha = np.zeros((h, w), np.float32)
    alpha[100:180, 150:250] = 1.0
    img[alpha > 0] = (200, 200, 210)
    light = backdrop_light(img, alpha, gain=1.15)
    assert light.max() <= 1.15 + 1e-6 and np.all(light[alpha >= 0.5] == 1.0)
    assert light[250, 200] > 1.08 > 1.02 > light[20, 20]  # the pool is lifted, the rest not
    x = np.linspace(1.0, 1.5, 101)
    y = soft_ceiling(x, 1.15).astype(np.float64)
    assert np.all(np.diff(y) > 0)  # never flat: no plateau below 1.5x
    assert y.max() < 1.15 and abs((y[1] - y[0]) / (x[1] - x[0]) - 1.0) < 0.01
    assert soft_ceiling(np.float32([1.0, 10.0]), 1.15)[1] == pytest.approx(1.15, abs=1e-4)


def test_a_black_backdrop_carries_no_light():
    """A bright product on black (a lit laptop screen): the backdrop's median luma is 0
    and the screen's bloom lifts the pixels around it to 20-30. That is not light to carry:
    the light is 1 everywhere, where it was a pale halo around the product on every look.
    A dark desk (median luma 25) still carries its pool, as the test above asks."""
    h, w = 300, 400
    alpha = np.zeros((h, w), np.float32)
    alpha[100:180, 150:250] = 1.0
    dist = cv2.distanceTransform((alpha < 0.5).astype(np.uint8), cv2.DIST_L2, 5)
    bloom = 28 * np.exp(-dist / 25.0)
    noise = np.random.default_rng(1).integers(0, 3, (h, w))
    lum = np.clip(bloom + noise, 0, 255)
    img = np.repeat(lum[..., None], 3, axis=2).astype(np.uint8)
    img[alpha > 0] = (230, 240, 250)
    light = backdrop_light(img, alpha, gain=1.15)
    assert np.allclose(light, 1.0)


def test_the_fine_band_keeps_its_spectrum_but_not_its_sparse_edges():
    """Bokeh discs' rims, laid as tiles at random places, printed ghost rings. With a seed
    the band's phases are redrawn: per channel the same power at each frequency, and no
    sparse edges left (a ring's band is heavy-tailed; the redrawn band is near Gaussian,
    kurtosis about 3)."""
    from stylecore.transfer.synthesis import detail_band

    yy, xx = np.mgrid[:256, :320]
    ref = np.full((256, 320, 3), 60, np.uint8)
    for cy, cx, r in ((70, 80, 30), (170, 220, 40), (190, 60, 22)):
        ref[np.hypot(yy - cy, xx - cx) < r] = (200, 120, 150)
    ref = cv2.GaussianBlur(ref, (0, 0), 1.0)
    plain, redrawn = detail_band(ref, 3.0), detail_band(ref, 3.0, seed=7)

    def kurtosis(x):
        x = x - x.mean()
        return float((x**4).mean() / (x**2).mean() ** 2)

    assert kurtosis(plain[..., 0]) > 10
    assert kurtosis(redrawn[..., 0]) < 4
    for c in range(3):
        p, q = (np.abs(np.fft.rfft2(b[..., c])) for b in (plain, redrawn))
        # (the first and last columns are their own mirror: a real image cannot take
        # free phases there, and they keep only part of their power)
        assert np.allclose(p[:, 1:-1], q[:, 1:-1], rtol=1e-3, atol=1e-3 * p.max())
        assert abs(float(redrawn[..., c].var() / plain[..., c].var()) - 1) < 0.05
    assert np.array_equal(redrawn, detail_band(ref, 3.0, seed=7))
    assert not np.array_equal(redrawn, detail_band(ref, 3.0, seed=8))


def test_a_cut_along_an_edge_of_the_overlap_leaves_no_hard_seam():
    """A minimum-error cut can run along either edge of the overlap strip. Blurred, it
    was cut off there by the block ``src`` fills alone (or by the old content beyond the
    patch) and printed as a straight step through a bokeh disc. Now the blend ramps over
    2 sigma at both edges: no column-to-column step is a hard edge."""
    from stylecore.transfer.synthesis import _paste

    P, left, sigma = 64, 16, 2.0
    src = np.full((P, P, 3), 200, np.uint8)
    for keep_old in (True, False):  # the cut at the strip's inner edge, then its outer edge
        dst = np.zeros((P, P, 3), np.uint8)
        cut = np.ones((P, P), np.float32)
        if keep_old:
            cut[:, :left] = 0.0
        _paste(dst, src, cut, 0, left, sigma)
        row = dst[P // 2, :, 0].astype(np.float32)
        assert np.abs(np.diff(row)).max() <= 200 / (2 * sigma) * 1.3, row[: left + 4]
        if not keep_old:
            assert row[0] < 200 / (2 * sigma)  # at the patch's outer edge: the old content
    assert np.array_equal(dst[:, left:], src[:, left:])


def test_the_patch_with_the_cheapest_cut_is_kept():
    """Among a position's alternatives, quilting keeps the patch whose minimum-error cut
    is cheapest: a patch whose wash crosses the whole overlap leaves only poor paths, and
    its seam printed as a straight line on watercolour."""
    from stylecore.transfer.synthesis import _alternatives, _cuts

    p, o = 40, 10
    region = np.zeros((p, p, 3), np.float32)
    region[:, :o] = 1.0  # the filled overlap: white
    good = np.zeros((p, p, 3), np.float32)
    good[:, : o // 2] = 1.0  # white for half the strip: a clean path exists
    bad = np.full((p, p, 3), 0.2, np.float32)  # a wash across the whole strip
    _, (cheap, dear) = _cuts(region, [good, bad], o, 0, 1)
    assert cheap < 0.1 * dear
    assert _cuts(region, [bad, good], o, 0, 1)[1] == [dear, cheap]  # each its own
    # alternatives: the drawn position first, then the best others within 25%, never
    # two neighbours, never one past the slack
    err = np.full(100, 10.0)
    err[[11, 12, 55, 80]] = [1.0, 1.05, 1.2, 1.3]
    assert _alternatives(err, 11, 10, 4) == [11, 55]
    assert _alternatives(err, 55, 10, 1) == [55]


def _soft_blobs(h: int, w: int, seed: int, sigma: float, contrast: float = 25.0) -> np.ndarray:
    """A soft texture: coloured noise blurred by ``sigma`` px (bokeh-like when large),
    with ``contrast`` levels of spread (past about 40 it clips, and clipping is sharp)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(60, 220, (h, w, 3)).astype(np.float32)
    if sigma > 0:
        x = cv2.GaussianBlur(x, (0, 0), sigma)
        x = (x - x.mean()) * (contrast / max(float(x.std()), 1e-3)) + 140.0
    return np.clip(x, 0, 255).astype(np.uint8)


def test_a_dark_band_along_a_reference_edge_is_trimmed_and_never_quilted():
    """Every autumn-bokeh reference ends in a dark band (a vignette). Quilted, it became
    dark blocks in the middle of the frame. The band is trimmed before quilting; a thin
    dark line at an edge (a plank joint) and a reference without a band are kept."""
    from stylecore.transfer.synthesis import trim_dark_edges

    ref = _soft_blobs(300, 400, 1, 6.0, contrast=60.0)
    banded = ref.copy()
    banded[255:] = (banded[255:] * 0.12).astype(np.uint8)  # bottom 15 %: near black
    trimmed = trim_dark_edges(banded, 0.25)
    assert trimmed.shape[1] == 400 and 245 <= trimmed.shape[0] <= 256, trimmed.shape
    assert trim_dark_edges(ref, 0.25) is ref
    lined = ref.copy()
    lined[-4:] = 10  # a 1 % line
    assert trim_dark_edges(lined, 0.25) is lined

    # and the synthesised background has no block as dark as the band
    def darkest_block(cfg: SynthConfig) -> float:
        out = synthesize_background([banded], (480, 640), seed=7, cfg=cfg)
        lum = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return float(cv2.resize(lum, (20, 15), interpolation=cv2.INTER_AREA).min())

    assert darkest_block(SynthConfig()) > 60
    # untrimmed, the band shows (the default's clash-averse cuts avoid much of it, not
    # all: 56 here; one candidate per patch, 0.25 overlap, < 50)
    assert darkest_block(SynthConfig(trim_dark_edges=0, overlap=0.25, seam_tries=1)) < 50


def test_a_soft_look_gets_seams_as_soft_as_itself():
    """A cut sharper than the look is the sharpest edge in it: bokeh (2-3 px of its own
    blur) showed torn, hard-edged patch outlines. ``softness`` reads a reference's own
    blur, and quilting blurs its cuts at least that much. Where a patch's corner meets the
    end of the patch to its left, the old content steps; the new patch covers that line
    (before, a hard vertical seam of up to 37 levels on this texture, whose own steepest
    step is 4), and a top strip fades back to the old content at its far end."""
    from stylecore.transfer.synthesis import softness

    read = [softness(_soft_blobs(200, 200, 2, s)) for s in (0.0, 2.0, 5.0, 12.0)]
    assert read[0] == 0.0 and read == sorted(read) and read[-1] >= 2.0, read
    soft = _soft_blobs(240, 320, 3, 12.0)
    ref_lum = cv2.cvtColor(soft, cv2.COLOR_RGB2GRAY).astype(np.float32)
    own = max(np.abs(np.diff(ref_lum, axis=a)).max() for a in (0, 1))
    # 12 had a hard vertical seam where two patches' corners met; 11, at overlap 0.35,
    # one where a top strip ended against the row above (8 levels)
    for seed in (11, 12, 13):
        out = synthesize_background([soft], (480, 640), seed=seed, cfg=SynthConfig(detail=0))
        lum = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float32)
        # the steepest step between neighbours: about the (2x magnified) look's own
        steep = max(np.abs(np.diff(lum, axis=a)).max() for a in (0, 1))
        assert steep <= 1.5 * own, (seed, steep, own)


def test_a_cut_across_a_clash_is_blurred_wide_and_one_through_paper_stays_sharp():
    """Where a cut must cross very different content (one wash into another), its
    jagged path read as torn paper on watercolour; there the cut is blurred by up to
    ``wide`` px, in proportion to the difference across it. Where the two sides match
    (paper against paper), the cut keeps its narrow blur."""
    from stylecore.transfer.synthesis import _paste

    P, left, sigma, wide = 96, 40, 1.0, 8.0
    src = np.full((P, P, 3), 200, np.uint8)
    cut = np.ones((P, P), np.float32)
    cut[:, :20] = 0.0  # the cut runs down the middle of the left overlap strip

    def steepest(clash):
        dst = np.zeros((P, P, 3), np.uint8)
        _paste(dst, src, cut, 0, left, sigma, clash, wide)
        return float(np.abs(np.diff(dst[P // 2, :left, 0].astype(np.float32))).max())

    sharp = steepest(np.zeros((P, P), np.float32))
    soft = steepest(np.ones((P, P), np.float32))
    assert sharp > 200 / (2.5 * 2 * sigma)  # the narrow blur: a step over a few px
    assert soft < 200 / (2 * wide)  # the wide one: a Gaussian step of sigma 8 (slope 10)


@pytest.mark.parametrize("seed", range(4))
def test_band_power_samples_a_large_frame_densely_enough(seed):
    """The fine band's gain rests on ``band_power``. On a 2048 px frame whose fine grain
    sits in patches (paper tooth inside washes) its default estimate stays within 6% of
    one over every window; the 48-window grid it used before read 0.69-0.83x of it on
    these frames, and watercolour got too little fine texture."""
    from stylecore.transfer.synthesis import band_power

    rng = np.random.default_rng(seed)
    h, w = 1536, 2048
    grain = np.zeros((h, w), np.float32)
    for _ in range(30):
        centre = (int(rng.integers(w)), int(rng.integers(h)))
        cv2.circle(grain, centre, int(rng.integers(60, 200)), 1.0, -1)
    lum = 200 + 20 * np.sin(np.arange(w) / 300.0)[None, :] + grain * rng.normal(0, 6, (h, w))
    img = np.clip(np.repeat(lum[..., None], 3, 2), 0, 255).astype(np.uint8)
    dense, _ = band_power(img, n=10_000)
    default, _ = band_power(img)
    assert abs(default / dense - 1) < 0.06


def test_colour_matching_adds_no_grain_and_the_fine_band_yardstick_is_the_sources():
    """Matched to itself a smooth reference comes back within one level (through 8-bit
    Lab it gained a third more fine texture). A quilted background's sources are the
    drawn reference and up to two others, matched to it; the fine band's gain is set
    against all of them pooled, so a grainier source asks for more gain than the smooth
    one alone."""
    from stylecore.transfer.synthesis import (
        background_sources,
        band_power,
        detail_band,
        detail_gain,
        match_colour,
    )

    yy, xx = np.mgrid[0:256, 0:320].astype(np.float32)
    smooth = np.dstack([120 + 60 * np.sin(xx / 40) * np.cos(yy / 50)] * 3)
    smooth = (smooth * [1.0, 0.8, 0.6]).astype(np.uint8)
    same = match_colour(smooth, smooth)
    assert np.abs(same.astype(int) - smooth).max() <= 1
    assert band_power(same)[0] <= 1.05 * band_power(smooth)[0] + 1e-6

    rng = np.random.default_rng(3)
    grainy = np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255).astype(np.uint8)
    looks = [smooth, grainy, smooth[::-1].copy()]
    used = background_sources(looks, (600, 800), seed=11)
    assert 2 <= len(used) <= 3
    assert len(background_sources(looks, (600, 800), 11, SynthConfig(extra_references=0))) == 1
    low = cv2.resize(cv2.resize(smooth, (80, 64)), (320, 256))  # a magnified, soft copy
    band = detail_band(smooth, 4.0, seed=1)
    alone = detail_gain(smooth, low, band, most=10.0)
    pooled = detail_gain([smooth, grainy], low, band, most=10.0)
    assert pooled > alone


def _straight_steps(img: np.ndarray, step: float = 30.0, run: int = 24) -> int:
    """Straight hard lines: runs of at least ``run`` px along a row or column boundary
    where the step across it is over ``step`` summed RGB levels and three times the steps
    two px to either side (an isolated line, not the rim of a wash)."""
    f, found = img.astype(np.float32), 0
    for axis in (0, 1):
        d = np.abs(np.diff(f, axis=axis)).sum(2)
        d = d if axis == 0 else d.T
        hit = (d > step) & (d > 3 * np.maximum(np.roll(d, 2, 0), np.roll(d, -2, 0)))
        for row in hit:
            edges = np.flatnonzero(np.diff(np.r_[0, row.astype(np.int8), 0]))
            found += int((np.diff(edges)[::2] >= run).sum())
    return found


@pytest.mark.parametrize("image_id", ["imani-clovis-234736-unsplash", "probe-6"])
def test_the_last_patch_of_a_row_leaves_no_block_of_the_row_above(image_id):
    """A top strip fades back to the row above's content at its far end, for the next
    patch to cover; the last patch of a row has no next one, and the fade left a block of
    the row above with a hard lower edge at the frame's right side (seen on a restyled
    sneaker in watercolour; these two frames each showed one)."""
    from pipelines.models import load_style_model

    refs = load_style_model().references["watercolour"]
    bg = synthesize_background(refs, (1600, 1600), seed_for("watercolour", image_id))
    assert _straight_steps(bg) == 0


def test_a_read_only_array_is_hashed_once_and_forgotten_with_it():
    """Synthesis keys its per-process caches by content; a read-only array (a model's
    reference) is hashed once and then known by identity, held weakly: the key goes with
    the array, so a later array at the same address is hashed afresh."""
    import gc

    from stylecore.transfer import synthesis as S

    a = (np.arange(30 * 40 * 3) % 251).astype(np.uint8).reshape(30, 40, 3).copy()
    writable = a.copy()
    a.flags.writeable = False
    key = S._digest(a)
    assert id(a) in S._DIGESTS and S._digest(a) == key
    assert S._digest(writable) == key and id(writable) not in S._DIGESTS  # may change: rehashed
    view = writable[:, :20]
    view.flags.writeable = False  # read-only, but its base is not: never cached
    S._digest(view)
    assert id(view) not in S._DIGESTS
    gone = id(a)
    del a
    gc.collect()
    assert gone not in S._DIGESTS
