"""Losses for the style GAN: each a pure function (plus a thin module where useful)."""

from stylecore.losses.adversarial import (
    d_hinge,
    d_lsgan,
    g_hinge,
    g_lsgan,
)
from stylecore.losses.content import content_loss
from stylecore.losses.pixel import cycle_loss, identity_loss, l1_constraint, total_variation
from stylecore.losses.style import (
    GramStyleLoss,
    colour_stats_loss,
    gram_matrix,
    pyramid,
    style_loss,
)

__all__ = [
    "GramStyleLoss",
    "colour_stats_loss",
    "content_loss",
    "cycle_loss",
    "d_hinge",
    "d_lsgan",
    "g_hinge",
    "g_lsgan",
    "gram_matrix",
    "identity_loss",
    "l1_constraint",
    "pyramid",
    "style_loss",
    "total_variation",
]
