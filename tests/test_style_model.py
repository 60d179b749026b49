import dataclasses

import numpy as np
import pytest
import torch

from stylecore.features import FeatureConfig, RandomFeatureNet, VGG19Features, build_features
from stylecore.losses import (
    GramStyleLoss,
    content_loss,
    cycle_loss,
    d_hinge,
    d_lsgan,
    g_hinge,
    g_lsgan,
    gram_matrix,
    identity_loss,
    l1_constraint,
    style_loss,
    total_variation,
)
from stylecore.models.discriminator import DiscriminatorConfig, MultiScaleDiscriminator
from stylecore.models.generator import Generator, GeneratorConfig, noise_for
from stylecore.training.data import ContentItem, ContentStream, StyleStream
from stylecore.training.style_gan import StyleGANTrainer, StyleTrainConfig

D = torch.float64

# -- losses: hand-computed values ---------------------------------------------------------


def test_gram_matrix_known_value():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # B=1, C=2, H=1, W=2
    g = gram_matrix(f)
    assert torch.allclose(g, torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4)


def test_style_loss_known_value_and_module_agrees():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    target = torch.tensor([[1.0, 3.0], [3.0, 6.0]])
    # gram = [[1.25, 2.75], [2.75, 6.25]]; diff^2 = [.0625, .0625, .0625, .0625]
    # mean = .0625; target mean square = (1+9+9+36)/4 = 13.75
    expected = 0.0625 / 13.75
    assert float(style_loss([f], [target])) == pytest.approx(expected)
    assert float(GramStyleLoss([target])([f])) == pytest.approx(expected)


def test_content_loss_known_values():
    a = torch.zeros(1, 2, 2, 2)
    b = torch.ones(1, 2, 2, 2)
    assert float(content_loss(a, b)) == 1.0
    w = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    b2 = b.clone()
    b2[..., 0, 0] = 3.0  # only the weighted position counts: (3-0)^2
    assert float(content_loss(a, b2, w)) == pytest.approx(9.0)


def test_adversarial_known_values():
    real, fake = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert float(d_lsgan(real, fake)) == pytest.approx(0.5 * 0.5 + 0.5 * 0.5)
    assert float(g_lsgan(fake)) == pytest.approx(0.5)
    assert float(d_hinge(real, fake)) == pytest.approx((0 + 1) / 2 + (1 + 2) / 2)
    assert float(g_hinge(fake)) == pytest.approx(-0.5)
    assert float(g_lsgan([fake, fake])) == pytest.approx(0.5)


def test_pixel_losses_known_values():
    a = torch.zeros(1, 3, 2, 2)
    b = torch.full((1, 3, 2, 2), 0.5)
    assert float(cycle_loss(a, b)) == 0.5
    assert float(identity_loss(a, b)) == 0.5
    m = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    b2 = b.clone()
    b2[:, :, 0, 0] = 2.0
    assert float(l1_constraint(a, b2, m)) == pytest.approx(2.0)
    img = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
    assert float(total_variation(img)) == pytest.approx(0.0 + 1.0)


def test_losses_gradcheck_float64():
    torch.manual_seed(0)
    f = torch.randn(1, 3, 4, 4, dtype=D, requires_grad=True)
    t = torch.randn(1, 3, 4, 4, dtype=D)
    g_t = gram_matrix(torch.randn(1, 3, 4, 4, dtype=D))[0]
    w = torch.rand(1, 1, 4, 4, dtype=D)
    for fn in (
        lambda x: content_loss(x, t, w),
        lambda x: style_loss([x], [g_t]),
        lambda x: cycle_loss(x, t),
        lambda x: l1_constraint(x, t, w),
        lambda x: total_variation(x),
        lambda x: g_lsgan(x),
        lambda x: d_lsgan(x, t),
        lambda x: d_hinge(x, t),
        lambda x: g_hinge(x),
    ):
        assert torch.autograd.gradcheck(fn, (f,), eps=1e-6, atol=1e-5)


# -- networks -------------------------------------------------------------------------------

TINY_G = GeneratorConfig(widths=(4, 8, 8), n_res=1, n_styles=2, style_dim=8)


@pytest.mark.parametrize("hw", [(16, 16), (36, 52), (64, 100)])
def test_generator_and_discriminator_shapes(hw):
    g = Generator(TINY_G)
    x = torch.rand(2, 3, *hw) * 2 - 1
    y = g(x, torch.randn(2, 1, *hw), torch.tensor([0, 1]))
    assert y.shape == x.shape and float(y.detach().abs().max()) <= 1.0
    d = MultiScaleDiscriminator(DiscriminatorConfig(base=4, n_layers=2, n_scales=2))
    outs = d(torch.rand(2, 3, max(hw[0], 32), max(hw[1], 32)))
    assert len(outs) == 2 and all(o.shape[:2] == (2, 1) for o in outs)
    with pytest.raises(ValueError, match="multiple of 4"):
        g(torch.zeros(1, 3, 30, 32))


def test_default_generator_fits_the_parameter_budget():
    assert sum(p.numel() for p in Generator().parameters()) <= 1_500_000


@torch.no_grad()
def test_noise_textures_a_constant_input_reproducibly():
    torch.manual_seed(0)
    g = Generator(TINY_G).eval()
    white = torch.ones(1, 3, 32, 32)
    n1 = noise_for("sku-1", (1, 1, 32, 32))
    out = g(white, n1)
    assert float(out.std()) > 1e-3  # not a flat tint
    assert torch.equal(out, g(white, noise_for("sku-1", (1, 1, 32, 32))))
    assert not torch.equal(out, g(white, noise_for("sku-2", (1, 1, 32, 32))))
    flat = g(white, torch.zeros(1, 1, 32, 32))
    assert float(flat[..., 8:-8, 8:-8].std()) < float(out[..., 8:-8, 8:-8].std())


def test_style_codes_interpolate():
    g = Generator(TINY_G).eval()
    x = torch.rand(1, 3, 16, 16)
    a = g(x, style=g.interpolate_codes(0, 1, 0.0))
    assert torch.allclose(a, g(x, style=torch.tensor([0])), atol=1e-6)
    mid = g(x, style=g.interpolate_codes(0, 1, 0.5))
    assert not torch.allclose(mid, a)


# -- feature networks -------------------------------------------------------------------------


def test_random_features_are_deterministic_and_frozen():
    a, b = RandomFeatureNet(), RandomFeatureNet()
    x = torch.rand(1, 3, 32, 32)
    for fa, fb in zip(a(x), b(x), strict=True):
        assert torch.equal(fa, fb)
    assert not any(p.requires_grad for p in a.parameters())
    assert not torch.equal(RandomFeatureNet(FeatureConfig(seed=9))(x)[0], a(x)[0])


def test_vgg19_loads_weights_the_test_writes(tmp_path):
    from torchvision.models import vgg19

    from pipelines.models import load_vgg19_state

    torch.manual_seed(0)
    ref = vgg19(weights=None)
    path = tmp_path / "vgg19-test.pth"
    torch.save(ref.state_dict(), path)
    net = build_features(FeatureConfig(kind="vgg19"), load_vgg19_state(str(path)))
    assert isinstance(net, VGG19Features)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    feats = net(x)
    assert len(feats) == 5
    h = ((x + 1) / 2 - net.mean) / net.std
    assert torch.allclose(feats[0], ref.features[:2](h), atol=1e-5)
    with pytest.raises(ValueError, match="needs its ImageNet weights"):
        build_features(FeatureConfig(kind="vgg19"), None)


# -- training -------------------------------------------------------------------------------

TINY_TRAIN = StyleTrainConfig(
    steps=20,
    batch_size=2,
    crop=32,
    gram_samples=4,
    generator=GeneratorConfig(widths=(8, 16, 16), n_res=1, style_dim=8),
    reverse=GeneratorConfig(widths=(4, 8, 8), n_res=1, noise_channels=0, style_dim=8),
    discriminator=DiscriminatorConfig(base=8, n_layers=2, n_scales=1),
    features=FeatureConfig(widths=(8, 16, 16), content_layer=1),
)


def tiny_streams(seed=0):
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(3):
        img = np.full((48, 48, 3), 250, np.uint8)
        img[12:36, 16:32] = rng.integers(0, 255, 3)
        mask = np.zeros((48, 48), np.float32)
        mask[12:36, 16:32] = 1
        items.append(ContentItem(img, mask))
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, ::4] = (200, 60, 20)
    stripes[:, 1::4] = (240, 200, 40)
    return ContentStream(items, 32, seed + 1), StyleStream([(0, stripes)], 32, seed + 2)


def _trainer(cfg=TINY_TRAIN, seed=0):
    content, styles = tiny_streams(seed)
    return StyleGANTrainer(cfg, RandomFeatureNet(cfg.features), content, styles)


def test_twenty_steps_lower_the_generator_loss():
    tr = _trainer()
    losses = [tr.train_step()["g_total"] for _ in range(20)]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


def test_checkpoint_round_trip_and_resume_equivalence(tmp_path):
    straight = _trainer()
    ref = [straight.train_step() for _ in range(6)]

    first = _trainer()
    for _ in range(3):
        first.train_step()
    path = tmp_path / "ckpt.pt"
    torch.save(first.state_dict(), path)
    resumed = _trainer()
    resumed.load_state_dict(torch.load(path, weights_only=True))
    assert resumed.step == 3
    rest = [resumed.train_step() for _ in range(3)]
    for a, b in zip(ref[3:], rest, strict=True):
        assert a["g_total"] == pytest.approx(b["g_total"], rel=1e-5)
        assert a["d_total"] == pytest.approx(b["d_total"], rel=1e-5)


def test_resume_refuses_a_different_config():
    tr = _trainer()
    state = tr.state_dict()
    other = _trainer(dataclasses.replace(TINY_TRAIN, lr_g=0.5))
    with pytest.raises(ValueError, match="lr_g"):
        other.load_state_dict(state)


def test_exported_model_runs_without_training_state():
    from stylecore.models.style_model import StyleModel, stylize

    torch.manual_seed(0)
    model = StyleModel(Generator(TINY_G).eval(), ["marble", "wood"], "v1", {"steps": 3})
    back = StyleModel.from_files(model.to_files())
    assert back.style_ids == ["marble", "wood"] and back.card["steps"] == 3
    img = np.random.default_rng(0).integers(0, 255, (37, 21, 3), dtype=np.uint8)
    a = stylize(model, img, "wood", noise_key="sku-9")
    assert a.shape == img.shape and a.dtype == np.uint8
    assert np.array_equal(a, stylize(back, img, "wood", noise_key="sku-9"))
    with pytest.raises(ValueError, match="carries"):
        stylize(back, img, "velvet")


def test_style_metrics_rank_the_obvious():
    from stylecore.quality.style_metrics import (
        edge_ssim,
        gram_distance,
        lab_stats,
        lab_stats_distance,
        reference_grams,
    )

    rng = np.random.default_rng(0)
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, ::4] = (200, 60, 20)
    flat = np.full((64, 64, 3), 240, np.uint8)
    feats = RandomFeatureNet(FeatureConfig(widths=(8, 16, 16)))
    target = reference_grams(feats, [stripes])
    assert gram_distance(feats, stripes, target) < 0.05 * gram_distance(feats, flat, target)
    assert lab_stats_distance(lab_stats(stripes), lab_stats(stripes)) == pytest.approx(0, abs=1e-4)
    assert lab_stats_distance(lab_stats(flat), lab_stats(stripes)) > 10
    img = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
    assert edge_ssim(img, img) == pytest.approx(1.0, abs=1e-6)
    assert edge_ssim(img, np.roll(img, 3, axis=1)) < 0.5


# -- style fidelity pieces: region Grams, colour statistics, pyramid, DiffAugment, noise ---


def test_weighted_gram_is_the_gram_of_the_weighted_region():
    f = torch.randn(2, 3, 8, 8, dtype=D)
    assert torch.allclose(gram_matrix(f, torch.ones(2, 1, 8, 8, dtype=D)), gram_matrix(f))
    w = torch.zeros(2, 1, 8, 8, dtype=D)
    w[..., :, :4] = 1  # the left half only
    assert torch.allclose(gram_matrix(f, w), gram_matrix(f[..., :, :4]))
    # a weight at another resolution is resized to the features (area)
    w16 = torch.zeros(2, 1, 16, 16, dtype=D)
    w16[..., :, :8] = 1
    assert torch.allclose(gram_matrix(f, w16), gram_matrix(f[..., :, :4]))


def test_colour_stats_loss_is_zero_at_the_target_and_sees_only_the_weighted_pixels():
    from stylecore.losses import colour_stats_loss

    img = torch.rand(1, 3, 16, 16, dtype=D) * 2 - 1
    px = img[0].reshape(3, -1)
    mean, cov = px.mean(1)[None], torch.cov(px, correction=0)[None]
    assert float(colour_stats_loss(img, mean, cov)) == pytest.approx(0, abs=1e-9)
    shifted = img.clone()
    shifted[..., :8] += 0.5
    assert float(colour_stats_loss(shifted, mean, cov)) > 0.05
    w = torch.zeros(1, 1, 16, 16, dtype=D)
    w[..., 8:] = 1  # the unchanged half: its own statistics are the target
    right = img[0, :, :, 8:].reshape(3, -1)
    loss = colour_stats_loss(shifted, right.mean(1)[None], torch.cov(right, correction=0)[None], w)
    assert float(loss) == pytest.approx(0, abs=1e-9)


def test_pyramid_levels_halve():
    from stylecore.losses import pyramid

    levels = pyramid(torch.rand(1, 3, 32, 24), 3)
    assert [tuple(x.shape[-2:]) for x in levels] == [(32, 24), (16, 12), (8, 6)]
    assert torch.allclose(levels[1].mean(), levels[0].mean())


def test_diff_augment_shifts_cuts_out_and_passes_gradients():
    from stylecore.training.augment import diff_augment

    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    centre = torch.tensor([[0.5, 0.5, 2.0, 2.0]] * 2)  # no shift, cut-out off the image
    assert torch.equal(diff_augment(x, centre), x)
    p = torch.tensor([[0.0, 0.99, 0.5, 0.5], [0.5, 0.5, 0.0, 0.0]])
    out = diff_augment(x, p)
    # image 0: shifted 4 px down and 4 px left (zero fill), then a 16 px square cut out
    assert torch.equal(out[0, :, :4].detach(), torch.zeros(3, 4, 32))
    assert torch.equal(out[0, :, 4:8, :4].detach(), x[0, :, 0:4, 4:8].detach())
    assert float(out[0, :, 12:20, 12:20].detach().abs().sum()) == 0
    # image 1: not shifted; the cut-out at the top-left corner
    assert float(out[1, :, :8, :8].detach().abs().sum()) == 0
    assert torch.equal(out[1, :, 16:, 16:].detach(), x[1, :, 16:, 16:].detach())
    out.sum().backward()
    assert float(x.grad[1, :, 16:, 16:].min()) == 1.0  # kept pixels pass gradient through
    with pytest.raises(ValueError, match="params"):
        diff_augment(x, torch.rand(2, 3))


def test_multiscale_noise_is_smooth_at_coarse_scales():
    from stylecore.models.generator import multiscale_noise

    n = torch.randn(1, 1, 128, 128, generator=torch.Generator().manual_seed(0))
    white, coarse = multiscale_noise(n, (1, 16))
    assert torch.equal(white, n)
    assert 0.5 < float(coarse.std()) < 1.5  # about unit variance, like the white noise

    # neighbouring pixels: independent in white noise, nearly equal in the smoothed copy
    def lag1(t):
        return float(
            torch.corrcoef(torch.stack([t[..., :-1].flatten(), t[..., 1:].flatten()]))[0, 1]
        )

    assert abs(lag1(white)) < 0.05 and lag1(coarse) > 0.9


@torch.no_grad()
def test_mask_input_reaches_the_output_and_old_configs_ignore_it():
    torch.manual_seed(0)
    cfg = dataclasses.replace(TINY_G, mask_input=True, skip=True, noise_scales=(1, 4))
    g = Generator(cfg).eval()
    x, n = torch.rand(1, 3, 32, 32) * 2 - 1, torch.randn(1, 1, 32, 32)
    m = torch.zeros(1, 1, 32, 32)
    m[..., 8:24, 8:24] = 1
    assert not torch.allclose(g(x, n, mask=m), g(x, n))  # no mask = all backdrop
    assert torch.equal(g(x, n), g(x, n, mask=torch.zeros_like(m)))
    old = Generator(TINY_G).eval()
    assert torch.equal(old(x, n, mask=m), old(x, n))


@torch.no_grad()
def test_residual_generator_starts_as_the_identity_and_keeps_noise_off_the_product():
    cfg = dataclasses.replace(
        TINY_G, mask_input=True, mask_noise=True, residual=True, noise_scales=(1, 4)
    )
    g = Generator(cfg).eval()
    x, n = torch.rand(2, 3, 32, 32) * 2 - 1, torch.randn(2, 1, 32, 32)
    m = torch.zeros(2, 1, 32, 32)
    m[..., 8:24, 8:24] = 1
    assert torch.equal(g(x, n, torch.tensor([0, 1]), mask=m), x)  # zero-initialised change
    torch.nn.init.normal_(g.out.weight, std=0.05)
    # with mask_noise, no noise reaches product pixels: an all-product photo ignores it
    everywhere = torch.ones_like(m)
    assert torch.equal(g(x, n, mask=everywhere), g(x, n + 5.0, mask=everywhere))
    assert not torch.equal(g(x, n, mask=m), g(x, n + 5.0, mask=m))


# -- masks that overshoot [0, 1] and diverged runs (real photos gave NaN by step 25) ------


def _overshooting_items():
    """Photos whose product fills the frame, with masks a float resize leaves at
    1.0000001 (and one a hair below 0), as the edge segmenter gave on real shop photos."""
    rng = np.random.default_rng(3)
    items = []
    for k in range(3):
        img = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
        mask = np.full((48, 48), np.float32(1.0000001), np.float32)
        if k == 2:
            mask[:, :4] = -1e-7
        items.append(ContentItem(img, mask))
    return items


def test_masks_are_clamped_where_they_are_made_and_used():
    from stylecore.segmentation.base import Mask

    raw = np.full((8, 8), np.float32(1.0000001))
    raw[0, 0] = -1e-7
    assert Mask(alpha=raw, confidence=1.0, method="edge").alpha.max() == 1.0
    assert Mask(alpha=raw, confidence=1.0, method="edge").alpha.min() == 0.0
    item = ContentItem(np.zeros((8, 8, 3), np.uint8), raw)
    assert item.mask.max() == 1.0 and item.mask.min() == 0.0
    # the losses clamp too: a slightly negative region weight gives a finite Gram
    feat = torch.rand(1, 4, 8, 8)
    weight = 1.0 - torch.full((1, 1, 8, 8), 1.0000001, dtype=torch.float64).float()
    assert torch.isfinite(gram_matrix(feat, weight)).all()


def test_full_frame_products_with_overshooting_masks_train_finitely():
    items = _overshooting_items()
    _, styles = tiny_streams(0)
    tr = StyleGANTrainer(
        TINY_TRAIN, RandomFeatureNet(TINY_TRAIN.features), ContentStream(items, 32, 1), styles
    )
    for _ in range(4):
        losses = tr.train_step()
        assert all(np.isfinite(v) for v in losses.values()), losses


def test_a_diverged_run_stops_with_a_clear_error():
    from stylecore.training.style_gan import NonFiniteLossError

    tr = _trainer(dataclasses.replace(TINY_TRAIN, lr_g=1e30))
    with pytest.raises(NonFiniteLossError, match="diverged at step"):
        for _ in range(5):
            tr.train_step()
