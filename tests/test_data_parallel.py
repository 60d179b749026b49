"""Data-parallel training is the same training: 2 DDP workers with batch b each compute,
after all-reduce, the gradients of 1 worker with batch 2b (real gloo process group)."""

from __future__ import annotations

import gc
import os
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from stylecore.features import RandomFeatureNet
from stylecore.losses import content_loss, l1_constraint, style_loss
from stylecore.training.style_gan import Batch, StyleGANTrainer, core
from tests.test_style_model import TINY_TRAIN, tiny_streams

B = 2  # per-worker batch


def full_batch(n: int = 2 * B) -> Batch:
    g = torch.Generator().manual_seed(5)
    crop = TINY_TRAIN.crop
    x = torch.rand(n, 3, crop, crop, generator=g) * 2 - 1
    mask = torch.zeros(n, 1, crop, crop)
    for i in range(n):  # products of different sizes: per-image normalisation matters
        mask[i, :, 4 : 10 + 5 * i, 6 : 20 + 2 * i] = 1
    y = torch.rand(n, 3, crop, crop, generator=g) * 2 - 1
    sid = torch.zeros(n, dtype=torch.long)
    noise = torch.randn(n, TINY_TRAIN.generator.noise_channels, crop, crop, generator=g)
    aug = torch.rand(n, 16, generator=g)  # DiffAugment draws travel with their images
    return Batch(x, mask, y, sid, noise, torch.randn(noise.shape, generator=g), aug)


def _trainer(wrap=None) -> StyleGANTrainer:
    content, styles = tiny_streams(0)
    return StyleGANTrainer(
        TINY_TRAIN, RandomFeatureNet(TINY_TRAIN.features), content, styles, wrap=wrap
    )


def _grads(tr: StyleGANTrainer, batch: Batch) -> dict[str, torch.Tensor]:
    """Gradients of the generator objective (G and F), then of the discriminator
    objective (both Ds), on ``batch``."""
    out = {}
    g_total, _, fake, fake_c = tr.generator_loss(batch)
    tr.opt_g.zero_grad(set_to_none=True)
    g_total.backward()
    for name in ("G", "F"):
        for k, p in core(getattr(tr, name)).named_parameters():
            out[f"{name}.{k}"] = p.grad.detach().clone()
    d_total = tr.discriminator_loss(batch, fake, fake_c)
    tr.opt_d.zero_grad(set_to_none=True)
    d_total.backward()
    for name in ("D_style", "D_cat"):
        for k, p in core(getattr(tr, name)).named_parameters():
            out[f"{name}.{k}"] = p.grad.detach().clone()
    return out


def _worker(rank: int, world: int, store: str, path: str) -> None:
    # Loopback only, and a file store for the rendezvous: no port to race for, and gloo
    # does not pick an interface from the host name.
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        tr = _trainer(wrap=torch.nn.parallel.DistributedDataParallel)
        grads = _grads(tr, full_batch().slice(rank * B, (rank + 1) * B))
        # A second step too: the alternating G / D pattern keeps working under DDP.
        tr.opt_g.step()
        tr.opt_d.step()
        tr.train_step(full_batch().slice(rank * B, (rank + 1) * B))
        if rank == 0:
            torch.save(grads, path)
        # Both ranks leave together: a rank that tears gloo down while its peer still
        # has traffic in flight is aborted by gloo ("terminate called without an active
        # exception", seen once in a fresh-clone CI run).
        dist.barrier()
        # The DDP wrappers (their reducers hold gloo work) go while the group is alive.
        del tr, grads
        gc.collect()
    finally:
        dist.destroy_process_group()
    # Leave without the interpreter's teardown: C++ destructors of torch's background
    # threads at exit aborted a worker once more, after the barrier (a second fresh-clone
    # CI run). Only reached when the work above succeeded; a failure still raises.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def test_per_image_losses_add_up_over_shards():
    torch.manual_seed(0)
    f, t = torch.rand(4, 5, 6, 6), torch.rand(4, 5, 6, 6)
    w = torch.rand(4, 1, 12, 12)
    whole = content_loss(f, t, w)
    halves = (content_loss(f[:2], t[:2], w[:2]) + content_loss(f[2:], t[2:], w[2:])) / 2
    assert torch.allclose(whole, halves)
    o, c, m = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8), torch.rand(4, 1, 8, 8)
    whole = l1_constraint(o, c, m)
    assert torch.allclose(
        whole, (l1_constraint(o[:2], c[:2], m[:2]) + l1_constraint(o[2:], c[2:], m[2:])) / 2
    )
    targets = [torch.rand(4, 5, 5)]
    whole = style_loss([f], targets)
    halves = (style_loss([f[:2]], [targets[0][:2]]) + style_loss([f[2:]], [targets[0][2:]])) / 2
    assert torch.allclose(whole, halves)


@pytest.mark.timeout(300)
def test_two_ddp_workers_match_one_worker_with_the_double_batch(tmp_path):
    single = _grads(_trainer(), full_batch())
    path = str(tmp_path / "grads.pt")
    store = str(tmp_path / "rendezvous")
    mp.spawn(_worker, args=(2, store, path), nprocs=2, join=True)
    ddp = torch.load(path, weights_only=True)
    assert set(ddp) == set(single)
    # Per network, the relative error of the whole gradient vector. (Per tensor would be
    # noise: conv biases before instance norm have a true gradient of 0, ~1e-8 in float.)
    worst = 0.0
    for net in ("G", "F", "D_style", "D_cat"):
        keys = [k for k in single if k.startswith(net + ".")]
        a = torch.cat([ddp[k].flatten() for k in keys])
        b = torch.cat([single[k].flatten() for k in keys])
        err = float((a - b).norm() / b.norm())
        worst = max(worst, err)
        assert err < 1e-5, f"{net}: relative gradient difference {err:.2e}"
    # And the gradients are not trivially equal: halves alone differ from the whole.
    half = _grads(_trainer(), full_batch().slice(0, B))
    g_half = torch.cat([half[k].flatten() for k in single if k.startswith("G.")])
    g_full = torch.cat([single[k].flatten() for k in single if k.startswith("G.")])
    assert float((g_half - g_full).norm() / g_full.norm()) > 1e-2
    assert np.isfinite(worst)
