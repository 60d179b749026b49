import cv2
import numpy as np
import pytest
import torch

from stylecore.models.generator import Generator, GeneratorConfig
from stylecore.models.style_model import StyleModel, stylize
from stylecore.synth.products import ShotSpec, render_shot
from stylecore.transfer.composite import CompositeConfig, composite_matte
from stylecore.transfer.multiscale import collapse, laplacian_pyramid, merge_scales
from stylecore.transfer.restyle import TransferConfig, restyle_image


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    g = Generator(GeneratorConfig(widths=(4, 8, 8), n_res=1, n_styles=2, style_dim=8)).eval()
    rng = np.random.default_rng(7)
    refs = {
        "a": [(rng.random((90, 120, 3)) * 255).astype(np.uint8)],
        "b": [np.full((80, 80, 3), (30, 90, 160), np.uint8)],
    }
    return StyleModel(g, ["a", "b"], "test", references=refs)


GAN = TransferConfig(background="gan", scales=(32, 0))


def test_pyramid_round_trip_and_merge_of_equal_passes():
    rng = np.random.default_rng(0)
    img = rng.random((67, 45, 3)).astype(np.float32)
    assert np.allclose(collapse(laplacian_pyramid(img, 3)), img, atol=1e-5)
    assert np.allclose(merge_scales([(64, img), (128, img)]), img, atol=1e-5)


def test_merge_takes_coarse_bands_from_the_coarse_pass():
    rng = np.random.default_rng(1)
    coarse = np.full((128, 128, 3), 200.0, np.float32)
    fine = rng.normal(100, 20, (128, 128, 3)).astype(np.float32)
    out = merge_scales([(128, fine), (32, coarse)])
    # The mean level (lowest band) comes from the coarse pass, detail from the fine one.
    assert abs(float(out.mean()) - 200.0) < 5.0
    assert float(out.std()) > 10.0


@pytest.mark.parametrize("size", [(97, 61), (160, 120)])
def test_background_mode_keeps_the_product_exactly(tiny_model, size):
    shot = render_shot(ShotSpec("mug", *size, "white"), np.random.default_rng(2))
    r = restyle_image(shot.image, shot.alpha, tiny_model, GAN, image_id="sku")
    solid = composite_matte(shot.alpha, CompositeConfig()) >= 1.0
    # The default keeps every pixel the matte calls product; within rim_px of the
    # outline only the old backdrop's share of a mixed pixel is swapped out.
    assert np.array_equal(solid, shot.alpha >= 0.5)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * CompositeConfig().rim_px + 1,) * 2)
    inner = cv2.erode(solid.astype(np.uint8), k) > 0
    assert np.array_equal(r.image[inner], shot.image[inner])
    assert r.image.shape == shot.image.shape
    assert not np.array_equal(r.image[shot.alpha == 0], shot.image[shot.alpha == 0])


def test_alpha_zero_is_the_content_path(tiny_model):
    shot = render_shot(ShotSpec("box", 64, 64, "paper"), np.random.default_rng(3))
    cfg = TransferConfig(alpha=0.0, scales=(0,), composite=CompositeConfig(region="all"))
    r = restyle_image(shot.image, shot.alpha, tiny_model, cfg, image_id="k")
    expected = stylize(tiny_model, shot.image, "a", alpha=0.0, noise_key="k@0")
    assert np.array_equal(r.image, expected)
    full = restyle_image(
        shot.image,
        shot.alpha,
        tiny_model,
        TransferConfig(alpha=1.0, scales=(0,), composite=CompositeConfig(region="all")),
        image_id="k",
    )
    assert not np.array_equal(full.image, r.image)


def test_colour_preservation_keeps_chroma(tiny_model):
    shot = render_shot(ShotSpec("sneaker", 96, 64, "light_grey"), np.random.default_rng(4))
    cfg = TransferConfig(scales=(0,), preserve_colour=True, composite=CompositeConfig(region="all"))
    r = restyle_image(shot.image, shot.alpha, tiny_model, cfg)

    def ab(x):
        return cv2.cvtColor(x.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[..., 1:]

    assert np.abs(ab(r.image) - ab(shot.image)).mean() < 4.0


def test_style_interpolation_and_bad_inputs(tiny_model):
    img = np.full((40, 40, 3), 200, np.uint8)
    mask = np.zeros((40, 40), np.float32)
    code = tiny_model.generator.interpolate_codes(0, 1, 0.5)
    r = restyle_image(img, mask, tiny_model, TransferConfig(scales=(0,)), style=code)
    assert r.image.shape == img.shape
    with pytest.raises(ValueError, match="mask"):
        restyle_image(img, mask[:-1], tiny_model)
    with pytest.raises(ValueError, match="alpha"):
        TransferConfig(alpha=1.5)


def test_tiled_equals_untiled_within_tolerance_and_has_no_seam(tiny_model):
    from stylecore.transfer.tiling import seam_ratio, tiled_generate

    shot = render_shot(ShotSpec("handbag", 200, 160, "paper"), np.random.default_rng(5))
    style = torch.tensor([0])
    whole = stylize(tiny_model, shot.image, "a", noise_key="k")
    tiled = tiled_generate(
        tiny_model, shot.image, style, noise_key="k", tile=96, overlap=24, stats_side=200
    )
    assert np.abs(whole.astype(np.float32) - tiled).mean() < 6.0
    assert seam_ratio(tiled, 96, 24) < 1.5
    # The metric does see a seam: shift the right half's brightness.
    broken = tiled.copy()
    broken[:, 85:] = np.clip(broken[:, 85:].astype(int) + 60, 0, 255)  # tiles meet at 84
    assert seam_ratio(broken, 96, 24) > 2.0


def test_restyle_image_tiles_large_passes(tiny_model):
    shot = render_shot(ShotSpec("box", 180, 130, "white"), np.random.default_rng(6))
    cfg = TransferConfig(scales=(0,), tile=64, tile_overlap=16)
    r = restyle_image(shot.image, shot.alpha, tiny_model, cfg, image_id="big")
    assert r.image.shape == shot.image.shape


def test_only_whole_photo_restyles_give_the_generator_the_mask():
    """A mask-taking generator sees the product mask in region "all" and not otherwise
    (in the composited modes the mask's boundary only painted a halo round the product)."""
    import dataclasses as dc

    torch.manual_seed(0)
    g = Generator(GeneratorConfig(widths=(4, 8, 8), n_res=1, style_dim=8, mask_input=True))
    model = StyleModel(g.eval(), ["s"], "v", {}, {})
    img = np.full((64, 64, 3), 240, np.uint8)
    img[16:48, 16:48] = (180, 40, 40)
    mask = np.zeros((64, 64), np.float32)
    mask[16:48, 16:48] = 1
    seen = []
    hook = g.register_forward_pre_hook(
        lambda _m, args, kw: seen.append(kw.get("mask")), with_kwargs=True
    )
    try:
        for region in ("all", "background", "product"):
            cfg = TransferConfig(
                background="gan",
                scales=(64,),
                composite=dc.replace(CompositeConfig(), region=region),
            )
            restyle_image(img, mask, model, cfg, image_id="a")
    finally:
        hook.remove()
    assert seen[0] is not None and float(seen[0].sum()) > 0
    assert seen[1] is None and seen[2] is None
