"""Inference copies (stylecore.features.fold): BatchNorm folded into the convolutions gives
the same function, the original is untouched, and a segmenter's cached copy follows its
weights; the judge's fast quantiles are torch's."""

import numpy as np
import pytest
import torch
from skimage import data as skdata
from torch import nn

from stylecore.features.efficientnet import imagenet_normalise, pretrained_lite0
from stylecore.features.fold import inference_copy
from stylecore.quality.judge import QUANTILES, _quantiles
from stylecore.segmentation.lite_unet import LiteUNet
from stylecore.segmentation.unet import UNet, UNetConfig, UNetSegmenter, net_input


def _batchnorms(net: nn.Module) -> int:
    return sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())


def _trained_stats(net: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial running statistics and affine parameters, so
    folding them is actually exercised (fresh ones are the identity)."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.2)
    return net.eval()


def test_folded_lite0_gives_the_same_features_on_a_real_photo():
    net = pretrained_lite0()
    before = _batchnorms(net)
    fast = inference_copy(net)
    assert before > 40 and _batchnorms(fast) == 0
    assert _batchnorms(net) == before  # the original keeps its BatchNorm
    rgb = skdata.coffee()[:192, :256]
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    x = imagenet_normalise(x)
    with torch.inference_mode():
        ref = net.features(x, (1, 3, 6, 9))
        got = fast.features(x.contiguous(memory_format=torch.channels_last), (1, 3, 6, 9))
        assert fast(x).argmax() == net(x).argmax()
    for a, b in zip(ref, got, strict=True):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1e-3 * float(a.abs().max()))


@pytest.mark.parametrize("kind", ["plain", "lite0"])
def test_folded_unets_give_the_same_logits(kind):
    torch.manual_seed(0)
    net = UNet(UNetConfig(base_channels=8, depth=3)) if kind == "plain" else LiteUNet(4, 8)
    net = _trained_stats(net)
    fast = inference_copy(net)
    assert _batchnorms(fast) == 0
    x = torch.randn(1, 4, 64, 96)
    with torch.inference_mode():
        a, b = net(x), fast(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(a, b, atol=1e-4 * float(a.abs().max()) + 1e-5)


def test_a_segmenters_inference_copy_follows_its_weights():
    cfg = UNetConfig(base_channels=8, depth=3, input_size=64)
    torch.manual_seed(0)
    seg = UNetSegmenter(cfg, _trained_stats(UNet(cfg)))
    first = seg.inference_net()
    assert seg.inference_net() is first  # cached while the weights stay
    rgb = np.full((64, 64, 3), 240, np.uint8)
    rgb[16:48, 16:48] = (40, 90, 200)
    p0 = seg.probability(rgb)[0]
    torch.manual_seed(1)
    seg.model.load_state_dict(_trained_stats(UNet(cfg), seed=1).state_dict())
    assert seg.inference_net() is not first
    p1 = seg.probability(rgb)[0]
    with torch.inference_mode():  # what the new weights give, unfolded
        x = torch.from_numpy(net_input(rgb, cfg)[0])[None]
        want = torch.sigmoid(seg.model(x))[0, 0].numpy()
    assert not np.allclose(p0, p1)
    assert np.allclose(p1, want, atol=1e-4)


@pytest.mark.parametrize("n", [1, 2, 7, 500])
def test_judge_quantiles_are_torch_quantiles(n):
    p = torch.randn(64, n, generator=torch.Generator().manual_seed(n))
    want = torch.quantile(p, QUANTILES, dim=1).T
    assert torch.allclose(_quantiles(p), want, atol=1e-6)
