"""The DualGAN-style training of the style model, written out step by step.

G maps catalogue photos to the style (conditioned on a style code), F maps style images
back to catalogue photos; D_style judges G's outputs against style crops and D_catalogue
judges F's outputs against catalogue crops. The generator step minimises

    w_adv * (adv(D_style(T(G(x)))) + adv(D_catalogue(T(F(y)))))
  + w_cycle * (|F(G(x)) - x| + |G(F(y)) - y|)
  + w_content * content(phi_k(G(x)), phi_k(x); mask-weighted: 1 on product, w_bg elsewhere)
  + w_style * Gram(phi(P_l(G(x))), style targets at pyramid level l; per position weight
                   1 on the background, w_style_product on the product)
  + w_colour * |colour mean, covariance of G(x)'s background - the style's|
  + w_l1 * L1 constraint(G(x), x; on the product mask)
  + w_identity * |G(y) - y|
  + w_content_path * |G(x, alpha=0) - x|     (keeps alpha = 0 the content path)
  + w_tv * TV(G(x))

then the discriminator step updates both Ds on real vs detached fakes.

Choices that matter (measured in ``bench/style_ablation.py``; BENCHMARKS.md, "Style fidelity
of the demo model"):
- **Style at several scales.** phi is a fixed feature network whose deepest units see ~80
  px. ``P_l`` is the image at 1/2**l size (l < ``style_pyramid``), so the same features
  also see 2x and 4x larger structure (strokes, grain, blobs). The targets are mean Grams
  of style crops taken at 0.35-1.0 of the references' scale, at the same pyramid levels.
  Optionally (``oriented_grams``) each level adds the Gram of oriented edge responses,
  which way the texture runs, which random 3x3 filters carry only weakly.
- **Structure to grow texture from.** Besides white noise the generator gets the same
  noise smoothed to 4 and 16 px cells, from which strokes, grain and blobs larger than its
  receptive field can grow.
- **The product keeps its structure.** The content term uses the first three feature
  layers (``content_layers``), weighted 1 on the product and ``content_background``
  elsewhere, and the style Grams count product positions at ``style_product``: the
  background takes the style fully, the product is styled lightly. The generator gets the
  product mask as an input channel (a small network cannot tell a white mug from a white
  backdrop by colour), predicts a change to its input starting from the identity, and
  gets no noise on the product. With random-filter features that cost the backdrop its
  texture; with EfficientNet-Lite0 features it keeps both (BENCHMARKS.md, the training ablation).
- **Adversarial balance.** Each side has its own Adam; D's learning rate is a quarter of
  G's, its layers are spectrally normalised, and both real and fake images are shifted
  and cut out before D sees them (DiffAugment, ``diffaug``), so D cannot memorise a few
  style images and overpower the generator.

``StyleGANTrainer.state_dict()`` holds everything a resume needs (nets, optimisers, step,
config, torch and data-stream RNG states); a resumed run gives the same losses as an
uninterrupted one.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np
import torch

from stylecore.features import FeatureConfig, FeatureNet, oriented_edges
from stylecore.losses import (
    colour_stats_loss,
    content_loss,
    cycle_loss,
    d_hinge,
    d_lsgan,
    g_hinge,
    g_lsgan,
    gram_matrix,
    identity_loss,
    l1_constraint,
    pyramid,
    style_loss,
    total_variation,
)
from stylecore.models.discriminator import DiscriminatorConfig, MultiScaleDiscriminator
from stylecore.models.generator import Generator, GeneratorConfig
from stylecore.training.augment import diff_augment
from stylecore.training.data import ContentStream, StyleStream


@dataclass(frozen=True)
class LossWeights:
    adversarial: float = 0.1
    cycle: float = 2.0
    content: float = 2.0  # per layer, over the features' mean square (_content_scales)
    content_background: float = 0.05  # content weight on the background, relative
    style: float = 8.0
    style_product: float = 0.1  # style Gram weight on product positions, relative
    colour: float = 2.0
    l1_constraint: float = 3.0
    identity: float = 0.5
    content_path: float = 1.0
    tv: float = 0.02


@dataclass(frozen=True)
class StyleTrainConfig:
    steps: int = 1500
    batch_size: int = 4
    crop: int = 128
    lr_g: float = 1e-3
    lr_d: float = 2.5e-4
    betas: tuple[float, float] = (0.5, 0.999)
    gan_mode: Literal["lsgan", "hinge"] = "lsgan"
    seed: int = 0
    gram_samples: int = 24  # style crops averaged into each style's Gram targets
    style_pyramid: int = 3  # Gram losses at full, 1/2 and 1/4 size
    content_layers: tuple[int, ...] = (0, 1, 2)  # feature layers of the content term
    diffaug: bool = True  # DiffAugment (shift + cutout) on the discriminators' inputs
    oriented_grams: bool = False  # add Grams of oriented edge responses at every level
    weights: LossWeights = field(default_factory=LossWeights)
    # The product-first generator: it predicts a change to its input, starting from the
    # identity (residual), sees the product mask and keeps noise off the product. With
    # EfficientNet-Lite0 features it keeps the product (edge SSIM 0.75-0.96 at 250 steps)
    # and still draws the backdrop's texture (BENCHMARKS.md, the training ablation).
    generator: GeneratorConfig = field(
        default_factory=lambda: GeneratorConfig(
            noise_scales=(1, 4, 16), mask_input=True, mask_noise=True, residual=True
        )
    )
    reverse: GeneratorConfig = field(
        default_factory=lambda: GeneratorConfig(widths=(16, 32, 48), n_res=2, noise_channels=0)
    )
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)

    def __post_init__(self) -> None:
        if self.crop % 4:
            raise ValueError(f"crop={self.crop}: must be a multiple of 4")
        if self.steps < 0 or self.batch_size < 1:
            raise ValueError("steps must be >= 0 and batch_size >= 1")
        if self.style_pyramid < 1 or self.crop >> (self.style_pyramid - 1) < 8:
            raise ValueError(
                f"style_pyramid={self.style_pyramid}: needs >= 1 level and crop / 2**(levels-1)"
                " >= 8 px"
            )


class NonFiniteLossError(RuntimeError):
    """Training diverged: a loss became NaN or Inf. Nothing is exported from such a run."""


def check_finite(step: int, terms: dict[str, torch.Tensor], **totals: torch.Tensor) -> None:
    """Raise ``NonFiniteLossError`` naming the step and the non-finite terms."""
    bad = [k for k, v in {**terms, **totals}.items() if not bool(torch.isfinite(v).all())]
    if bad:
        raise NonFiniteLossError(
            f"training diverged at step {step + 1}: non-finite loss in {', '.join(bad)}. "
            "Nothing was exported; the last checkpoint is from before. Check the content "
            "photos and their masks, or lower the learning rates (lr_g, lr_d)."
        )


class Batch(NamedTuple):
    """One training batch, on the trainer's device: content crops ``x`` and their product
    masks, style crops ``y`` with their style ids, the generator noise for each, and the
    discriminator augmentation draws ``aug`` ``(B, 16)`` (None: no augmentation)."""

    x: torch.Tensor
    mask: torch.Tensor
    y: torch.Tensor
    sid: torch.Tensor
    noise: torch.Tensor
    noise_y: torch.Tensor
    aug: torch.Tensor | None = None

    def slice(self, start: int, stop: int) -> Batch:
        return Batch(*(None if t is None else t[start:stop] for t in self))


def core(module: torch.nn.Module) -> torch.nn.Module:
    """The network inside a wrapper (DistributedDataParallel keeps it in ``.module``)."""
    return getattr(module, "module", module)


class StyleGANTrainer:
    """Holds the four networks, two optimisers, Gram targets and data streams.

    ``wrap`` is applied to each of the four trained networks after they are built, e.g.
    ``ray.train.torch.prepare_model`` for data-parallel training (DDP); the step below is
    the same either way. Every loss is a mean over the batch's images, so N workers with
    batch b compute exactly the gradients of one worker with batch N*b after all-reduce."""

    def __init__(
        self,
        cfg: StyleTrainConfig,
        features: FeatureNet,
        content: ContentStream,
        styles: StyleStream,
        device: str = "cpu",
        wrap: Callable[[torch.nn.Module], torch.nn.Module] | None = None,
    ) -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        n_styles = styles.n_styles
        torch.manual_seed(cfg.seed)
        gcfg = dataclasses.replace(cfg.generator, n_styles=n_styles)
        fmt = torch.channels_last if self.device.type == "cuda" else torch.contiguous_format
        nets = [
            Generator(gcfg),
            Generator(dataclasses.replace(cfg.reverse, n_styles=1)),
            MultiScaleDiscriminator(cfg.discriminator),
            MultiScaleDiscriminator(cfg.discriminator),
        ]
        nets = [n.to(self.device, memory_format=fmt) for n in nets]
        if wrap is not None:
            nets = [wrap(n) for n in nets]
        self.G, self.F, self.D_style, self.D_cat = nets
        self.features = features.to(self.device)
        self.content, self.styles = content, styles
        self.opt_g = torch.optim.Adam(
            list(self.G.parameters()) + list(self.F.parameters()), lr=cfg.lr_g, betas=cfg.betas
        )
        self.opt_d = torch.optim.Adam(
            list(self.D_style.parameters()) + list(self.D_cat.parameters()),
            lr=cfg.lr_d,
            betas=cfg.betas,
        )
        self.step = 0
        self.grams, self.colour_mean, self.colour_cov = self._style_targets(n_styles)
        self.content_scale = self._content_scales()

    @torch.no_grad()
    def _content_scales(self) -> list[float]:
        """Per content layer, the mean square of the features of natural images: crops of
        the style references, drawn from a probe stream seeded apart from training's (the
        references are the same on every data-parallel rank, so every rank divides by the
        same numbers). The content term of each layer is divided by it, so its weight
        means the same whatever the feature network's scale (ImageNet features are about
        450x larger than the random filters')."""
        probe = StyleStream(self.styles.refs, self.cfg.crop, seed=self.cfg.seed + 7907)
        x, _ = probe.next(max(self.cfg.gram_samples, 4))
        feats = self.features(torch.from_numpy(x).to(self.device))
        return [max(float((feats[k] ** 2).mean()), 1e-8) for k in self.cfg.content_layers]

    @torch.no_grad()
    def _style_targets(self, n_styles: int):
        """Per (pyramid level, layer): ``(n_styles, C, C)``, each style's mean Gram over
        random crops; and each style's pixel colour mean ``(n_styles, 3)`` and covariance
        ``(n_styles, 3, 3)``.

        Drawn from a stream seeded apart from the training stream, so building the targets
        does not move the training data's position."""
        probe = StyleStream(self.styles.refs, self.cfg.crop, seed=self.cfg.seed + 7919)
        per_style: list[list[torch.Tensor]] = []
        means, covs = [], []
        for sid in range(n_styles):
            ids = np.full(self.cfg.gram_samples, sid)
            y, _ = probe.next(self.cfg.gram_samples, ids)
            y = torch.from_numpy(y).to(self.device)
            per_style.append([gram_matrix(f).mean(dim=0) for f in self._pyramid_features(y)])
            px = y.permute(1, 0, 2, 3).reshape(3, -1)
            means.append(px.mean(dim=1))
            covs.append(torch.cov(px))
        grams = [
            torch.stack([per_style[s][k] for s in range(n_styles)])
            for k in range(len(per_style[0]))
        ]
        return grams, torch.stack(means), torch.stack(covs)

    def _pyramid_features(self, img: torch.Tensor) -> list[torch.Tensor]:
        """The feature maps of ``img`` at every pyramid level, level by level."""
        out = []
        for level in pyramid(img, self.cfg.style_pyramid):
            out += self.features(level)
            if self.cfg.oriented_grams:
                out.append(oriented_edges(level))
        return out

    def _d_in(self, img: torch.Tensor, b: Batch, k: int) -> torch.Tensor:
        """A discriminator's input: ``img`` augmented with draw ``k`` of the batch."""
        if b.aug is None:
            return img
        return diff_augment(img, b.aug[:, 4 * k : 4 * k + 4])

    def _adv(self):
        return (d_lsgan, g_lsgan) if self.cfg.gan_mode == "lsgan" else (d_hinge, g_hinge)

    def _autocast(self):
        """bf16 autocast on GPU; full precision on CPU."""
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def draw_batch(self) -> Batch:
        """The next batch from the data streams, with fresh generator noise."""
        cfg = self.cfg
        xb, mb = self.content.next(cfg.batch_size)
        yb, ids = self.styles.next(cfg.batch_size)
        x = torch.from_numpy(xb).to(self.device)
        noise = torch.randn(
            x.shape[0], core(self.G).cfg.noise_channels, *x.shape[-2:], device=self.device
        )
        return Batch(
            x,
            torch.from_numpy(mb).to(self.device),
            torch.from_numpy(yb).to(self.device),
            torch.from_numpy(ids).to(self.device),
            noise,
            torch.randn_like(noise),
            torch.rand(x.shape[0], 16, device=self.device) if cfg.diffaug else None,
        )

    def generator_loss(self, b: Batch) -> tuple[torch.Tensor, dict, torch.Tensor, torch.Tensor]:
        """``(total, terms, fake, fake_c)`` of the generator objective on batch ``b`` (the
        discriminators are frozen). Every term is a mean over the batch's images."""
        w = self.cfg.weights
        _, g_loss_fn = self._adv()
        x, mask, y, sid, noise, noise_y, _ = b
        self.D_style.requires_grad_(False)
        self.D_cat.requires_grad_(False)
        with self._autocast():
            fake = self.G(x, noise, sid, mask=mask)
            fake_c = self.F(y)
            rec_x = self.F(fake)
            rec_y = self.G(fake_c, noise_y, sid)
            feats_fake = self._pyramid_features(fake)
            with torch.no_grad():
                feats_x = self.features(x)
            cw = mask + (1.0 - mask) * w.content_background
            sw = (1.0 - mask) + mask * w.style_product
            layers = self.cfg.content_layers
            terms = {
                "adv": g_loss_fn(self.D_style(self._d_in(fake, b, 0)))
                + g_loss_fn(self.D_cat(self._d_in(fake_c, b, 1))),
                "cycle": cycle_loss(rec_x, x) + cycle_loss(rec_y, y),
                "content": sum(
                    content_loss(feats_fake[k], feats_x[k], cw) / s
                    for k, s in zip(layers, self.content_scale, strict=True)
                )
                / len(layers),
                "style": style_loss(feats_fake, [g[sid] for g in self.grams], weight=sw)
                / self.cfg.style_pyramid,
                "colour": colour_stats_loss(
                    fake.float(), self.colour_mean[sid], self.colour_cov[sid], 1.0 - mask
                ),
                "l1": l1_constraint(fake, x, mask),
                "identity": identity_loss(self.G(y, noise_y, sid), y),
                "content_path": identity_loss(self.G(x, noise, sid, alpha=0.0, mask=mask), x),
                "tv": total_variation(fake),
            }
        weights = {
            "adv": w.adversarial,
            "cycle": w.cycle,
            "content": w.content,
            "style": w.style,
            "colour": w.colour,
            "l1": w.l1_constraint,
            "identity": w.identity,
            "content_path": w.content_path,
            "tv": w.tv,
        }
        g_total = sum(weights[k] * v.float() for k, v in terms.items())
        return g_total, terms, fake, fake_c

    def discriminator_loss(self, b: Batch, fake: torch.Tensor, fake_c: torch.Tensor):
        d_loss_fn, _ = self._adv()
        self.D_style.requires_grad_(True)
        self.D_cat.requires_grad_(True)
        with self._autocast():
            d_total = d_loss_fn(
                self.D_style(self._d_in(b.y, b, 2)), self.D_style(self._d_in(fake.detach(), b, 0))
            ) + d_loss_fn(
                self.D_cat(self._d_in(b.x, b, 3)), self.D_cat(self._d_in(fake_c.detach(), b, 1))
            )
        return d_total.float()

    def train_step(self, batch: Batch | None = None) -> dict[str, float]:
        """One generator step, then one discriminator step, each with its own optimiser.
        Returns the loss terms."""
        b = batch if batch is not None else self.draw_batch()
        g_total, terms, fake, fake_c = self.generator_loss(b)
        check_finite(self.step, terms, g_total=g_total)
        self.opt_g.zero_grad(set_to_none=True)
        g_total.backward()
        self.opt_g.step()

        d_total = self.discriminator_loss(b, fake, fake_c)
        check_finite(self.step, {}, d_total=d_total)
        self.opt_d.zero_grad(set_to_none=True)
        d_total.backward()
        self.opt_d.step()
        self.step += 1
        out = {k: float(v.detach()) for k, v in terms.items()}
        out["g_total"] = float(g_total.detach())
        out["d_total"] = float(d_total.detach())
        return out

    # -- checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "generator": core(self.G).state_dict(),
            "reverse": core(self.F).state_dict(),
            "d_style": core(self.D_style).state_dict(),
            "d_catalogue": core(self.D_cat).state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "step": self.step,
            "config": dataclasses.asdict(self.cfg),
            "rng": {
                "torch": torch.get_rng_state(),
                "content": self.content.state(),
                "style": self.styles.state(),
            },
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a checkpoint. The config must match, except ``steps`` (the total to train
        to), so a finished run can be extended."""
        mine = dataclasses.asdict(self.cfg)
        changed = sorted(
            k
            for k in set(mine) | set(state["config"])
            if k != "steps" and state["config"].get(k) != mine.get(k)
        )
        if changed:
            raise ValueError(f"checkpoint config differs from this run's in: {changed}")
        core(self.G).load_state_dict(state["generator"])
        core(self.F).load_state_dict(state["reverse"])
        core(self.D_style).load_state_dict(state["d_style"])
        core(self.D_cat).load_state_dict(state["d_catalogue"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.step = int(state["step"])
        torch.set_rng_state(state["rng"]["torch"])
        self.content.set_state(state["rng"]["content"])
        self.styles.set_state(state["rng"]["style"])
