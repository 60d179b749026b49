"""EfficientNet-Lite0 from the package's ImageNet weights: the weights are the right ones
(real photos classify to their known ImageNet classes), the taps have the documented
shapes, and the feature network is frozen."""

import cv2
import numpy as np
import pytest
import torch
from skimage import data as skdata

from stylecore.features import FeatureConfig, Lite0Features, build_features
from stylecore.features.efficientnet import (
    N_BLOCKS,
    EfficientNetLite0,
    imagenet_normalise,
    package_state,
    pretrained_lite0,
    tap_channels,
    tap_stride,
)


def _as_input(rgb: np.ndarray, side: int = 224) -> torch.Tensor:
    rgb = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1.0


@pytest.fixture(scope="module")
def lite0() -> EfficientNetLite0:
    return pretrained_lite0()


@pytest.mark.parametrize(
    ("photo", "classes"),
    [
        # scikit-image's cat photo: Egyptian cat / tabby / tiger cat
        ("chelsea", {281, 282, 285}),
        # a cup of coffee on a saucer: espresso / cup
        ("coffee", {967, 968}),
    ],
)
def test_real_photos_classify_to_their_imagenet_class(lite0, photo, classes):
    with torch.no_grad():
        probs = lite0(imagenet_normalise(_as_input(getattr(skdata, photo)()))).softmax(1)[0]
    top = int(probs.argmax())
    assert top in classes, f"{photo}: top class {top} ({float(probs[top]):.2f})"
    assert float(probs[list(classes)].sum()) > 0.5


def test_weights_load_with_strict_keys_and_random_init_is_not_them():
    state = package_state()
    assert len(state) == 296
    fresh = EfficientNetLite0()
    assert set(fresh.state_dict()) == set(state)
    w = "_blocks.3._depthwise_conv.weight"
    assert not torch.equal(fresh.state_dict()[w], state[w])
    bad = dict(state)
    bad.pop(w)
    with pytest.raises(RuntimeError):
        fresh.load_state_dict(bad, strict=True)


@pytest.mark.parametrize("side", [64, 96, 130])
def test_tap_shapes(lite0, side):
    taps = tuple(range(-1, N_BLOCKS))
    x = torch.zeros(2, 3, side, side)
    with torch.no_grad():
        feats = lite0.features(imagenet_normalise(x), taps)
    assert len(feats) == len(taps)
    for tap, f in zip(taps, feats, strict=True):
        s = tap_stride(tap)
        expect = (2, tap_channels(tap), -(-side // s), -(-side // s))
        assert tuple(f.shape) == expect, f"tap {tap}"
    assert [tap_channels(t) for t in (-1, 0, 2, 4, 7, 10, 14, 15)] == [
        32, 16, 24, 40, 80, 112, 192, 320,
    ]  # fmt: skip


def test_feature_net_is_frozen_and_stays_in_eval_mode():
    net = build_features(FeatureConfig(taps=(-1, 2, 4), content_layer=1))
    assert isinstance(net, Lite0Features)
    assert not any(p.requires_grad for p in net.parameters())
    net.train()
    assert not net.net.training
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    x.requires_grad_(True)
    feats, content = net.style_and_content(x)
    assert [f.shape[1] for f in feats] == [32, 24, 40]
    assert content is feats[1]
    content.sum().backward()  # gradients reach the image, not the weights
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_feature_config_checks_taps():
    with pytest.raises(ValueError, match="taps"):
        FeatureConfig(taps=(4, 2))
    with pytest.raises(ValueError, match="taps"):
        FeatureConfig(taps=(0, 16))
    with pytest.raises(ValueError, match="content_layer"):
        FeatureConfig(taps=(0, 2), content_layer=2)
    FeatureConfig(kind="random", taps=(4, 2))  # taps are the Lite0 network's business only
