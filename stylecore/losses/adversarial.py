"""Adversarial losses on discriminator outputs (any shape, e.g. PatchGAN maps).

LSGAN (Mao et al., 2017): D pushes real to 1 and fake to 0 in squared error; G pushes fake
to 1. Hinge (as in SAGAN / BigGAN): D minimises relu(1 - real) + relu(1 + fake); G
minimises -fake. Lists of outputs (multi-scale discriminators) are averaged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

Outputs = torch.Tensor | Sequence[torch.Tensor]


def _each(x: Outputs) -> list[torch.Tensor]:
    return [x] if isinstance(x, torch.Tensor) else list(x)


def d_lsgan(real: Outputs, fake: Outputs) -> torch.Tensor:
    terms = [
        0.5 * ((r - 1) ** 2).mean() + 0.5 * (f**2).mean()
        for r, f in zip(_each(real), _each(fake), strict=True)
    ]
    return torch.stack(terms).mean()


def g_lsgan(fake: Outputs) -> torch.Tensor:
    return torch.stack([((f - 1) ** 2).mean() for f in _each(fake)]).mean()


def d_hinge(real: Outputs, fake: Outputs) -> torch.Tensor:
    terms = [
        F.relu(1 - r).mean() + F.relu(1 + f).mean()
        for r, f in zip(_each(real), _each(fake), strict=True)
    ]
    return torch.stack(terms).mean()


def g_hinge(fake: Outputs) -> torch.Tensor:
    return torch.stack([-f.mean() for f in _each(fake)]).mean()
