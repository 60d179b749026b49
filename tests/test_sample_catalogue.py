import csv
import hashlib
import os

import cv2
import numpy as np
import pytest

from pipelines.sample_catalogue import SampleCatalogueConfig, write_sample_catalogue
from stylecore.io.codec import decode_image, decode_mask
from stylecore.synth.catalogue import STYLE_SETS, plan_item, plan_styles, render_item
from stylecore.synth.products import CATEGORIES, ShotSpec, render_shot


def _digest_tree(root: str) -> dict[str, str]:
    out = {}
    for folder, _, files in os.walk(root):
        for f in files:
            p = os.path.join(folder, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def test_same_seed_gives_byte_identical_files(tmp_path):
    cfg = SampleCatalogueConfig(count=6, seed=11)
    write_sample_catalogue(str(tmp_path / "a"), cfg)
    write_sample_catalogue(str(tmp_path / "b"), cfg)
    a, b = _digest_tree(str(tmp_path / "a")), _digest_tree(str(tmp_path / "b"))
    assert len(a) > 6 + 6 + 20  # images, masks, style refs, tables, sheet
    assert a == b


def test_other_seed_changes_pixels_not_plan():
    item = plan_item(3)
    a = render_item(item, seed=1)
    b = render_item(item, seed=2)
    assert a.image.shape == b.image.shape
    assert not np.array_equal(a.image, b.image)


def test_plan_is_prefix_stable_and_covers_the_hard_cases():
    items = [plan_item(i) for i in range(24)]
    assert [plan_item(i) for i in range(6)] == items[:6]
    assert len({it.category for it in items}) >= 6
    assert {it.background for it in items} == {"white", "light_grey", "gradient", "paper"}
    long_sides = [max(it.width, it.height) for it in items]
    assert min(long_sides) == 384 and max(long_sides) == 2048
    ratios = {round(it.width / it.height, 2) for it in items}
    assert {1.0, 1.33, 0.75} <= ratios
    assert {it.kind for it in items} == {"jpg", "png", "rgba"}
    assert len({it.quality for it in items if it.kind == "jpg"}) >= 3
    assert any(it.light_product and it.background == "white" for it in items)
    assert any(it.touch_border for it in items)
    assert len({it.image_id for it in items}) == 24


def test_style_sets_have_three_to_five_refs_of_512_to_1024():
    refs = plan_styles()
    assert len(STYLE_SETS) >= 4
    for style_id in STYLE_SETS:
        mine = [r for r in refs if r.style_id == style_id]
        assert 3 <= len(mine) <= 5
        for r in mine:
            assert 512 <= max(r.width, r.height) <= 1024


def test_written_catalogue_images_and_masks_agree(small_catalogue):
    with open(os.path.join(small_catalogue, "catalogue.csv")) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 14
    assert set(rows[0]) >= {"image_id", "uri", "category", "width", "height", "mask_uri"}
    for row in rows:
        with open(os.path.join(small_catalogue, row["uri"]), "rb") as f:
            img = decode_image(f.read())
        with open(os.path.join(small_catalogue, row["mask_uri"]), "rb") as f:
            mask = decode_mask(f.read())
        h, w = img.shape[:2]
        assert (w, h) == (int(row["width"]), int(row["height"]))
        assert mask.shape == (h, w)
        assert set(np.unique(mask)) <= {0, 255}
        coverage = (mask > 0).mean()
        assert 0.03 < coverage < 0.85, (row["image_id"], coverage)
        if row["format"] == "png-rgba":
            assert img.shape[2] == 4
            # The cut-out's alpha is the product: thresholded, it is the mask.
            agree = ((img[..., 3] >= 128) == (mask > 0)).mean()
            assert agree > 0.999


@pytest.mark.parametrize("category", ["mug", "handbag"])
def test_hole_categories_enclose_background(category):
    shot = render_shot(ShotSpec(category, 320, 320, "white"), np.random.default_rng(0))
    bg = (shot.mask == 0).astype(np.uint8)
    n, _ = cv2.connectedComponents(bg, connectivity=4)
    assert n - 1 >= 2, "the hole should be a background region apart from the outer one"


def test_touching_border_reaches_the_edge():
    touched = 0
    for seed in range(3):
        shot = render_shot(
            ShotSpec("box", 300, 300, "gradient", touch_border=True), np.random.default_rng(seed)
        )
        m = shot.mask > 0
        touched += bool(m[:, 0].any() or m[:, -1].any() or m[-1, :].any())
    assert touched == 3


def test_contact_shadow_is_background():
    spec = ShotSpec("box", 400, 400, "white")
    shot = render_shot(spec, np.random.default_rng(5))
    m = shot.mask > 0
    rows = np.where(m.any(axis=1))[0]
    bottom = rows[-1]
    cols = np.where(m[bottom])[0]
    below = shot.image[bottom + 3 : bottom + 8, cols.min() : cols.max() + 1]
    assert not m[bottom + 3 : bottom + 8].any()
    assert below.mean() < 235  # darker than the pure-white backdrop: the shadow is there


def test_every_category_renders_at_odd_sizes():
    for i, cat in enumerate(CATEGORIES):
        shot = render_shot(ShotSpec(cat, 97 + i, 131, "paper"), np.random.default_rng(i))
        assert shot.image.shape == (131, 97 + i, 3)
        assert shot.mask.shape == (131, 97 + i)
        assert shot.mask.any()


def test_bad_spec_is_rejected_with_the_field_named():
    with pytest.raises(ValueError, match="category 'lamp'"):
        ShotSpec("lamp", 100, 100)
    with pytest.raises(ValueError, match="background"):
        ShotSpec("mug", 100, 100, "black")


def test_real_photograph_looks_are_written_on_request(tmp_path):
    from stylecore.synth.real_styles import REAL_LOOKS, real_style_refs

    refs = real_style_refs("hubble")
    assert len(refs) == 4 and all(r.shape == (436, 500, 3) for r in refs)
    assert not np.array_equal(refs[0], refs[1])  # quadrants, not copies
    brick = real_style_refs("brick")
    assert brick[0].shape == (256, 256, 3) and np.array_equal(brick[0][..., 0], brick[0][..., 2])
    with pytest.raises(ValueError, match="unknown real look"):
        real_style_refs("velvet")

    out = tmp_path / "cat"
    summary = write_sample_catalogue(
        str(out), SampleCatalogueConfig(count=1, contact_sheet=False, real_styles=True)
    )
    for look in REAL_LOOKS:
        assert sorted(p.name for p in (out / "styles" / look).iterdir()) == [
            f"ref-{k}.jpg" for k in (1, 2, 3, 4)
        ]
    listed = (out / "styles" / "styles.csv").read_text()
    assert "skimage.data.brick" in listed and summary["style_refs"] == 20 + 8
