"""Adding looks to a trained style model without retraining it.

The generator conditions every residual block's instance norms on a per-style code. A new
look is therefore a new code, plus a small per-style *adapter*: offsets to each AdaIN's
scale and shift, to the backdrop tone (``GeneratorConfig.adapters``) and to the decoder's
instance norms (``decoder_adapters``, which decide the palette). All are learned
with every shared weight frozen, on the same losses as full training (content, Gram style
at several scales, colour, L1 constraint, identity, content path, TV, and the DualGAN
adversarial and cycle terms), the colour term weighted more (``colour_weight``). The
reverse generator F and the two discriminators only serve training, are not exported,
and start fresh.

``merge`` writes the result as a generator with the old styles' rows unchanged and the new
styles' rows appended (or written over a replaced style's row). An old style's output is
byte-identical to the base model's, because its adapter row is zero and ``x + 0.0`` is
``x`` bit for bit (a base without decoder adapters gets zero rows for them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from stylecore.config import build
from stylecore.features import FeatureNet
from stylecore.models.discriminator import MultiScaleDiscriminator
from stylecore.models.generator import Generator, with_adapters
from stylecore.training.data import ContentStream, StyleStream
from stylecore.training.style_gan import StyleGANTrainer, StyleTrainConfig, core


@dataclass(frozen=True)
class AddStyleConfig:
    steps: int = 150
    # Adam learning rate of the new codes and adapters. 3e-2 against 1e-2 took an added
    # style's texture score from 0.37 to 0.63 (wood, 150 steps; bench/bench_add_style.py).
    lr_style: float = 3e-2
    # Weight of the colour term (the base training's is 2.0). With every shared weight
    # frozen a new palette needs a stronger pull: 8.0 took geometric's colour score from
    # 0.58 to 0.63 where 250 steps at 2.0 did not move it.
    colour_weight: float = 8.0
    # Learn offsets to the decoder's instance norms too (192 more numbers per style at the
    # default widths). Off, geometric's colour score stayed at 0.61-0.63 against full
    # training's 0.72 whatever the weight, steps or rate: the frozen decoder's norms
    # decided the palette.
    decoder_adapters: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.lr_style <= 0 or self.colour_weight < 0:
            raise ValueError("steps must be >= 1, lr_style > 0 and colour_weight >= 0")


def train_config_for(base_train_config: dict, cfg: AddStyleConfig) -> StyleTrainConfig:
    """The base model's own training config (its card's ``train_config``), with
    add-style's colour weight."""
    train_cfg = build(StyleTrainConfig, base_train_config)
    weights = dataclasses.replace(train_cfg.weights, colour=cfg.colour_weight)
    return dataclasses.replace(train_cfg, weights=weights)


class NewStyles(nn.Module):
    """The frozen base generator driven by ``k`` new styles' own codes and adapter rows
    (style ids ``0..k-1`` here)."""

    def __init__(self, base: Generator, k: int, decoder_adapters: bool = False) -> None:
        super().__init__()
        if decoder_adapters and not base.cfg.decoder_adapters:
            base = with_adapters(base, decoder=True)
        self.base = base.requires_grad_(False)
        # start every new style from the mean of the trained codes: a look the shared
        # weights already know how to render
        init = base.codes.weight.detach().mean(dim=0, keepdim=True)
        self.codes = nn.Parameter(init.repeat(k, 1).clone())
        self.adapter = nn.Parameter(torch.zeros(k, base.adapter_dim))

    @property
    def cfg(self):
        return self.base.cfg

    def forward(self, x, noise=None, style=None, alpha: float = 1.0, mask=None):
        if style is None:
            style = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        return self.base(
            x, noise, self.codes[style], alpha=alpha, mask=mask, adapter=self.adapter[style]
        )


class AddStyleTrainer(StyleGANTrainer):
    """``StyleGANTrainer`` whose generator is ``NewStyles`` over a frozen base: only the new
    codes and adapters (and the training-only F and discriminators) learn. The style stream
    holds the new styles' references only, with ids ``0..k-1``."""

    def __init__(
        self,
        cfg: StyleTrainConfig,
        add: AddStyleConfig,
        features: FeatureNet,
        content: ContentStream,
        styles: StyleStream,
        base: Generator,
        device: str = "cpu",
        wrap: Callable[[nn.Module], nn.Module] | None = None,
    ) -> None:
        self.cfg = cfg
        self.add = add
        self.device = torch.device(device)
        k = styles.n_styles
        torch.manual_seed(add.seed)
        nets = [
            NewStyles(base, k, add.decoder_adapters),
            Generator(dataclasses.replace(cfg.reverse, n_styles=1)),
            MultiScaleDiscriminator(cfg.discriminator),
            MultiScaleDiscriminator(cfg.discriminator),
        ]
        nets = [n.to(self.device) for n in nets]
        new = nets[0]
        if wrap is not None:  # e.g. DDP: only the new rows, F and the critics have gradients
            nets = [wrap(n) for n in nets]
        self.G, self.F, self.D_style, self.D_cat = nets
        self.features = features.to(self.device)
        self.content, self.styles = content, styles
        self.opt_g = torch.optim.Adam(
            [
                {"params": [new.codes, new.adapter], "lr": add.lr_style},
                {"params": list(self.F.parameters()), "lr": cfg.lr_g},
            ],
            betas=cfg.betas,
        )
        self.opt_d = torch.optim.Adam(
            list(self.D_style.parameters()) + list(self.D_cat.parameters()),
            lr=cfg.lr_d,
            betas=cfg.betas,
        )
        self.step = 0
        self.grams, self.colour_mean, self.colour_cov = self._style_targets(k)
        self.content_scale = self._content_scales()

    def state_dict(self) -> dict:
        state = super().state_dict()
        # the frozen base is reloaded from the base model, not checkpointed
        new = core(self.G)
        state["generator"] = {"codes": new.codes.detach(), "adapter": new.adapter.detach()}
        state["add_config"] = dataclasses.asdict(self.add)
        return state

    def load_state_dict(self, state: dict) -> None:
        if state.get("add_config", {}) | {"steps": 0} != dataclasses.asdict(self.add) | {
            "steps": 0
        }:
            raise ValueError("checkpoint add-style config differs from this run's")
        saved, new = state["generator"], core(self.G)
        with torch.no_grad():
            new.codes.copy_(saved["codes"])
            new.adapter.copy_(saved["adapter"])
        state = {**state, "generator": new.state_dict()}
        super().load_state_dict(state)


def slots_for(base_ids: list[str], new_ids: list[str]) -> list[int]:
    """Where each new style goes: a replaced id keeps its index, new ids are appended in
    order."""
    slots, appended = [], 0
    for sid in new_ids:
        if sid in base_ids:
            slots.append(base_ids.index(sid))
        else:
            slots.append(len(base_ids) + appended)
            appended += 1
    return slots


def merge(base: Generator, new: NewStyles, slots: list[int]) -> Generator:
    """The base generator with the new styles written at ``slots`` (an index past the end
    appends; an existing index replaces that style). Every other row is the base's, so
    its outputs are unchanged. Returns a generator with ``adapters=True`` (and decoder
    adapters when ``new`` has them)."""
    n_old = base.cfg.n_styles
    n = max([n_old - 1, *slots]) + 1
    if sorted(s for s in slots if s >= n_old) != list(range(n_old, n)):
        raise ValueError(f"slots {slots}: new styles must be appended in order")
    g = with_adapters(base, decoder=new.cfg.decoder_adapters, n_styles=n)
    if g.adapter_dim != new.adapter.shape[1]:
        raise ValueError(f"new styles' adapters ({new.adapter.shape[1]}) do not fit {g.cfg}")
    with torch.no_grad():
        for i, slot in enumerate(slots):
            g.codes.weight[slot] = new.codes.detach()[i].cpu()
            g.adapter[slot] = new.adapter.detach()[i].cpu()
    return g.eval()
