"""The default segmenter: both segmenters run, the integrity signals choose.

The U-Net is the stronger segmenter on white-on-white products; the edge segmenter is
sharper on plain grey backdrops and never saw a training set. Neither wins everywhere, so
``AutoSegmenter`` runs both and scores each mask with ``mask_integrity`` (with the other
mask as the second opinion). Each mask's *doubt* is the largest of its signals over its
limit (above 1: the gate would reject that mask). The U-Net's mask is kept unless it fails
the integrity check, the edge mask passes it, and the two masks mostly agree (1 - IoU at
most ``max_swap_disagreement``, 0.05): the edge mask then repairs a local defect.
Choosing by a smaller margin below 1 (the less doubtful of two passing masks) was measured
and lost IoU on the held-out sample catalogue: 0.980 against the U-Net's 0.992 (BENCHMARKS.md,
"Segmentation accuracy"). The chosen
mask carries its signals (``Mask.signals``), the doubt of both and the segmenters'
disagreement, so the gate need not recompute them. Before any of this, each mask's holes
are filled where the other mask calls them product: a hole is cut into a product only
when both segmenters see it; and on coloured paper, the paper's own deep cast shadows are
taken out of both masks (``shadows.paper_shadow``). After the choice, out-of-focus
stretches of the outline get a soft matte (``defocus.soften_defocus``) and the backdrop
seen between a porous product's leaves is opened at 1024 px (``gaps.open_gaps``), and on
a clean backdrop the regions the other segmenter calls backdrop that are the backdrop to
the noise go back to it (``clean.clean_cut``); the signals judge the mask before all
three. A mask the signals doubt first gets one repair: the
backdrop that reaches into it with no edge between (light spill, a vignette) is trimmed
(``spill.backdrop_reach``), and the trimmed mask is kept when the signals doubt it less.
When the U-Net's mask is kept, its outline redrawn at 384 px (``unet.redraw_outline``,
``SegmenterConfig.outline_size``) then replaces the outline the checks judged, wherever
the steps above left that one as it was: like ``clean_cut``, it runs after the verdict,
so it cannot make a mask pass.

With ``retry`` (an ``AutoSegmenter`` led by U^2-Net; ``SegmenterConfig.retry``, the
default) a mask still doubted at the end gets a second try led by U^2-Net, kept when it
passes with a margin and mostly agrees with the first (``_retried``).

With ``salient`` (U^2-Net, ``SegmenterConfig.network="u2net"``; not the default,
docs/segmentation.md says why) that network's mask leads in the U-Net's place, the U-Net's
mask only judges cast shadows (the ``kept_shadow`` signal), and a salient mask that is
empty or full stands (the photo is held back) instead of falling back to the edge mask.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from stylecore.segmentation.base import (
    FLAG_EMPTY,
    FLAG_FULL,
    FLAG_UNIFORM,
    Mask,
    cutout_first,
    working_size,
)
from stylecore.segmentation.clean import CleanConfig, clean_cut, clean_union, plainly_product
from stylecore.segmentation.defocus import DefocusConfig, soften_defocus
from stylecore.segmentation.edges import fit_backdrop
from stylecore.segmentation.gaps import GapConfig, open_gaps
from stylecore.segmentation.integrity import (
    IntegrityConfig,
    Verdict,
    doubt,
    mask_integrity,
    studio_shot,
)
from stylecore.segmentation.refine import (
    Backdrop,
    disk,
    drop_specks,
    enclosed,
    local_means,
    to_lab,
)
from stylecore.segmentation.shadows import paper_shadow, trim_shadow
from stylecore.segmentation.spill import SpillConfig, apply_trim, backdrop_reach, spans_frame
from stylecore.segmentation.thin import Ridges, add_thin_parts, ridges

_UNUSABLE = {FLAG_EMPTY, FLAG_FULL, FLAG_UNIFORM}
# failures a second try may not repair (``AutoSegmenter.segment``)
_NOT_RETRIED = (
    ("missed_product", "max_missed_product"),
    ("enclosed_product", "max_enclosed_product"),
    ("kept_shadow", "max_kept_shadow"),
    ("dark_outline", "max_dark_outline"),  # black on black stays a guess, whoever draws it
)


class AutoSegmenter:
    name = "auto"

    def __init__(
        self,
        unet,
        edge,
        cfg: IntegrityConfig | None = None,
        defocus: DefocusConfig | None = None,
        gaps: GapConfig | None = None,
        spill: SpillConfig | None = None,
        clean: CleanConfig | None = None,
        salient=None,
        retry=None,
    ):
        self.unet, self.edge, self.salient, self.retry = unet, edge, salient, retry
        self.cfg = cfg or IntegrityConfig()
        self.defocus = defocus or DefocusConfig()
        self.gaps = gaps or GapConfig()
        self.spill = spill or SpillConfig()
        self.clean = clean or CleanConfig()

    def segment(self, image: np.ndarray) -> Mask:
        rgb, cutout = cutout_first(image, self.name)
        if cutout is not None:
            return cutout
        known: dict = {}
        first = self._segment(rgb, known)
        if self.retry is None or doubt(first.signals, self.cfg) <= 1.0:
            return first
        # only an outline the check found running through one colour gets a second try:
        # product left out is measured only where it has an outline of its own, so a
        # second mask that leaves less out can still leave some out (a render's white
        # sole along the frame's edge on light grey: 0.013 of the product -> 0.003, with
        # 5% of the sneaker still missing)
        if any(first.signals.get(k, 0.0) > getattr(self.cfg, limit) for k, limit in _NOT_RETRIED):
            return first
        # a photo the gate holds back as no studio shot is not worth a second try
        if not studio_shot(rgb, self.cfg, first.alpha).ok:
            return first
        return self._retried(rgb, first, known)

    def _retried(self, rgb: np.ndarray, first: Mask, known: dict) -> Mask:
        """A mask doubted for its outline alone gets a second try, led by U^2-Net
        (``self.retry``): kept when it passes
        with a margin (doubt at most ``max_retry_doubt``: a second try raises the odds that
        a wrong mask passes by chance) and differs from the first only locally (1 - IoU at
        most ``max_swap_disagreement``, as the edge mask's swap). Else ``first`` stands,
        with what was tried in its signals. ``known`` holds the U-Net's and the edge
        segmenter's masks from the first try, which the second reuses."""
        second = self.retry._segment(rgb, known)
        d2 = doubt(second.signals, self.cfg) if second.signals else float("inf")
        a, b = first.alpha >= 0.5, second.alpha >= 0.5
        union = float((a | b).sum())
        apart = 1.0 - float((a & b).sum()) / union if union else 0.0
        tried = {"retry_doubt": d2, "retry_disagreement": apart}
        if d2 <= self.cfg.max_retry_doubt and apart <= self.cfg.max_swap_disagreement:
            return _with(second, {**second.signals, **tried, "retried": 1.0}, prefix=False)
        return _with(first, {**first.signals, **tried, "retried": 0.0}, prefix=False)

    def _segment(self, rgb: np.ndarray, known: dict | None = None) -> Mask:
        """One try, led by U^2-Net when there is one, else by the U-Net. ``known`` caches
        the U-Net's masks (``"unet"``) and the edge mask (``"edge"``) across tries."""
        known = {} if known is None else known
        if "unet" not in known:
            known["unet"] = _both(self.unet, rgb)
        if "edge" not in known:
            known["edge"] = self.edge.segment(rgb)
        # The network's mask leads: U^2-Net's when there is one (the U-Net then only gives
        # its opinion on cast shadows, ``kept_shadow``), else the U-Net's.
        mu, mu_fine = _both(self.salient, rgb) if self.salient is not None else known["unet"]
        me = known["edge"]
        judge = known["unet"][0].alpha if self.salient is not None else None
        drawn = mu.alpha  # the lead's mask as the checks below first see it
        u_ok, e_ok = not (_UNUSABLE & set(mu.flags)), not (_UNUSABLE & set(me.flags))
        if not (u_ok and e_ok):
            # U^2-Net finding no product, or a frame that is all product, is a verdict on
            # the photo (a close-up of a memory module's chips: no salient object, and the
            # edge segmenter's mask of it was wrong); the U-Net's is not.
            chosen = mu if u_ok or not e_ok or self.salient is not None else me
            return _with(chosen, {})
        # A hole stays a hole only where both segmenters see one...
        mu0, me0 = mu, me
        mu, me = _agreed_holes(mu, me0), _agreed_holes(me, mu0)
        # ... or where one keeps a clear-cut hole that the other filled (judged on the
        # masks as drawn: the agreement above has just filled such a hole in the one)
        mu = _clear_holes(mu, me0, rgb)
        me = _clear_holes(me, mu, rgb)
        # Deep cast shadows on coloured paper are backdrop, whatever both segmenters said.
        shadow = paper_shadow(rgb, background=(mu.alpha < 0.5) & (me.alpha < 0.5))
        mu, me = trim_shadow(mu, shadow), trim_shadow(me, shadow)
        # Cords, laces and cables thinner than a working pixel, found at up to 1600 px.
        found = ridges(rgb)
        mu, me = add_thin_parts(mu, found), add_thin_parts(me, found)
        vu = mask_integrity(
            rgb, mu.alpha, self.cfg, other=me.alpha, backdrop=shadow, shadow_opinion=judge
        )
        ve = mask_integrity(
            rgb, me.alpha, self.cfg, other=mu.alpha, backdrop=shadow, shadow_opinion=judge
        )
        du, de = doubt(vu.scores, self.cfg), doubt(ve.scores, self.cfg)
        # The edge mask replaces a failing U-Net mask only where the two mostly agree: an
        # edge mask that passes the integrity check can still be wrong (on a grey sweep
        # the edge segmenter lost a sneaker's white sole: IoU 0.80 against the U-Net's
        # 0.96), and then the photo should be held back, not published with it.
        disagreement = vu.scores.get("disagreement", 1.0)
        use_edge = du > 1.0 >= de and disagreement <= self.cfg.max_swap_disagreement
        chosen, v = (me, ve) if use_edge else (mu, vu)
        dc = de if use_edge else du
        signals = {"doubt_unet": du, "doubt_edge": de, "chose_edge": float(use_edge)}
        # A doubted mask may have kept backdrop that no edge separates from the rest of it
        # (light spill, a vignette): the trimmed mask is kept when the check doubts it less.
        if dc > 1.0 and self.spill.enabled:
            other = mu if use_edge else me
            repaired = self._trimmed(rgb, chosen, other, found, shadow, dc, signals, judge)
            if repaired is not None:
                chosen, v = repaired
                signals["doubt_edge" if use_edge else "doubt_unet"] = doubt(v.scores, self.cfg)
        # On a clean backdrop (a flattened cut-out, a blown-out sweep) what the other
        # segmenter calls product and what plainly differs from the backdrop joins.
        if self.clean.enabled:
            other = mu if use_edge else me
            joined = clean_union(rgb, chosen.alpha, other.alpha, self.clean, shadow)
            if joined is not None:
                grown = float((joined >= 0.5).sum() - (chosen.alpha >= 0.5).sum())
                signals["clean_join"] = grown / max(float((chosen.alpha >= 0.5).sum()), 1.0)
                chosen = replace(chosen, alpha=joined)
                v = mask_integrity(
                    rgb, joined, self.cfg, other=other.alpha, backdrop=shadow, shadow_opinion=judge
                )
                signals["doubt_edge" if use_edge else "doubt_unet"] = doubt(v.scores, self.cfg)
        signals = {**v.scores, **signals}
        # After the verdict, so it cannot make a mask pass: on a clean, unclipped backdrop
        # the regions the other segmenter calls backdrop that are the backdrop to the
        # noise go back to it (the wall between a stool's legs).
        other = mu if use_edge else me
        cut = clean_cut(rgb, chosen.alpha, other.alpha, self.clean)
        if cut is not None:
            kept = float((chosen.alpha >= 0.5).sum())
            signals["clean_cut"] = (kept - float((cut >= 0.5).sum())) / max(kept, 1.0)
            chosen = replace(chosen, alpha=cut)
        # The U-Net's outline redrawn at its finer size (``unet.redraw_outline``) replaces
        # the one the checks judged, wherever the steps above left that one as it was.
        if mu_fine is not None and not use_edge:
            same = np.abs(chosen.alpha - drawn) < 1e-6
            moved = same & (np.abs(mu_fine.alpha - drawn) >= 1e-6)
            if shadow is not None:  # coloured paper in shadow is backdrop, as above
                moved &= ~shadow
            # ... and on a clean backdrop it cuts off no part wider than the outline's
            # mixed pixels that plainly differs from the backdrop (light tread between a
            # sole's dark lines, below the finer outline's threshold at 384 px, that the
            # 256 px mask and the edge mask both had); the rim itself it still tightens
            lost = moved & (chosen.alpha >= 0.5) & (mu_fine.alpha < 0.5)
            if lost.any():
                ly, lx = np.nonzero(lost)
                plain = plainly_product(rgb, ly, lx, self.clean)
                if plain is not None and plain.any():
                    part = np.zeros(lost.shape, np.uint8)
                    part[ly[plain], lx[plain]] = 1
                    rim = max(1, round(max(lost.shape) / 800))
                    part = cv2.morphologyEx(part, cv2.MORPH_OPEN, disk(rim))
                    moved &= part == 0
            if moved.any():
                redrawn = np.where(moved, mu_fine.alpha, chosen.alpha)
                # ... and it opens no hole the mask did not have: round a hole the steps
                # above filled, a deeper notch in the finer outline would carve a ring
                n, labels, is_hole = enclosed(redrawn >= 0.5)
                if is_hole.any():
                    had = np.zeros(n, bool)
                    had[np.unique(labels[chosen.alpha < 0.5])] = True
                    new_hole = (is_hole & ~had)[labels]
                    redrawn = np.where(new_hole, chosen.alpha, redrawn)
                    moved &= ~new_hole
                # ... and it adds no island, not even a faint one: the finer mask's rim
                # beyond what a step above took away (a lamp's teal glow the spill trim
                # cut off) is not a part (five slivers of it, 107-666 px at 1600 px,
                # printed as teal streaks, and a ring at alpha 0.48 as a dark speck)
                island = _islands(redrawn >= 0.5, chosen.alpha >= 0.5)
                island |= _islands(redrawn > 0.02, chosen.alpha >= 0.5)  # bridged faintly
                if island.any():
                    redrawn = np.where(island, chosen.alpha, redrawn)
                    moved &= ~island
                signals["outline_redrawn"] = float(moved.mean())
                chosen = replace(chosen, alpha=redrawn.astype(np.float32))
        # The checks above judge the hard outline; out-of-focus stretches of it then get
        # a soft matte, so the compositor does not keep the old backdrop mixed into them.
        soft = soften_defocus(rgb, drop_specks(chosen.alpha), self.defocus)
        soft = open_gaps(rgb, soft, self.gaps)
        return _with(Mask(soft, chosen.confidence, chosen.method, chosen.flags), signals)

    def _trimmed(
        self,
        rgb: np.ndarray,
        chosen: Mask,
        other: Mask,
        found: Ridges,
        shadow: np.ndarray | None,
        dc: float,
        signals: dict[str, float],
        judge: np.ndarray | None = None,
    ) -> tuple[Mask, Verdict] | None:
        """``(mask, verdict)`` of ``chosen`` with the backdrop that reaches into it with no
        edge between trimmed (``spill``), when the check doubts that less than ``dc`` and
        it does not span the frame; else ``None``. Records what it tried in ``signals``.
        ``judge`` is the shadow opinion (``mask_integrity``'s ``shadow_opinion``)."""
        trim = backdrop_reach(rgb, chosen.alpha, self.spill)
        if trim is None:
            return None
        alpha = apply_trim(rgb, chosen.alpha, trim, self.spill.cut_off_share)
        trimmed = add_thin_parts(replace(chosen, alpha=alpha), found)
        vt = mask_integrity(
            rgb, trimmed.alpha, self.cfg, other=other.alpha, backdrop=shadow, shadow_opinion=judge
        )
        signals["doubt_untrimmed"] = dc
        signals["spill_trim"] = float(trim.mean() / max(chosen.coverage, 1e-9))
        if doubt(vt.scores, self.cfg) >= dc or spans_frame(trimmed.alpha):
            return None
        return trimmed, vt


def _both(segmenter, rgb: np.ndarray) -> tuple[Mask, Mask | None]:
    """A segmenter's mask, and that mask with its outline redrawn at a finer size where
    the segmenter does that (the U-Net, ``UNetSegmenter.segment_both``), else ``None``."""
    both = getattr(segmenter, "segment_both", None)
    return both(rgb) if callable(both) else (segmenter.segment(rgb), None)


def _islands(parts: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """The components of ``parts`` (8-connected) that touch no pixel of ``kept``."""
    n, labels = cv2.connectedComponents(parts.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros(parts.shape, bool)
    had = np.zeros(n, bool)
    had[np.unique(labels[kept])] = True
    had[0] = True  # not a part
    return (~had)[labels]


def _agreed_holes(mask: Mask, other: Mask, max_share: float = 0.03) -> Mask:
    """``mask`` with each region it encloses that is smaller than ``max_share`` of the
    product filled where ``other`` calls most of that region product. Each segmenter
    applies the hole rule on its own; a small hole is cut into a published product only
    when the second opinion agrees. On a real close-up of a memory module the U-Net cut
    holes where out-of-focus patches of the dark board looked like the dark backdrop, and
    the edge segmenter kept the board whole. Large holes are left alone: the edge
    segmenter fills a handbag's handle on paper, which the U-Net rightly keeps open."""
    binary = mask.alpha >= 0.5
    n, labels, is_hole = enclosed(binary)
    if not is_hole.any():
        return mask
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n)
    product = np.bincount(flat, weights=(other.alpha >= 0.5).ravel(), minlength=n)
    # a large hole (a handbag's handle) stands on its own segmenter's hole rule
    small = area < max_share * binary.sum()
    fill = is_hole & small & (product > 0.5 * area)
    if not fill.any():
        return mask
    alpha = np.where(fill[labels], np.float32(1.0), mask.alpha)
    return Mask(alpha, mask.confidence, mask.method, mask.flags, mask.signals)


def _clear_holes(
    mask: Mask,
    other: Mask,
    rgb: np.ndarray,
    working: int = 384,
    min_hole: float = 0.002,
    clean_min_hole: float = 0.0005,
    clean_noise: float = 0.5,
    clean_follow: float = 0.6,
    clean_follow_share: float = 0.75,
    min_contrast: float = 8.0,
    min_clear: float = 0.9,
    max_offset: float = 1.5,
) -> Mask:
    """``mask`` with the holes ``other`` keeps opened where ``mask`` filled them, when the
    backdrop plainly shows through: the region passes the hole rule's backdrop test (at
    least 90% ``Backdrop.shows``, its median colour one the border has), its median is
    within ``max_offset`` Delta-E of the backdrop's beside the product (within 8% of the
    frame of the region, outside both masks), it covers at least
    ``min_hole`` of the frame, and its whole outline is a clear edge (``min_clear`` of it
    at least ``min_contrast`` Delta-E between the local means on either side). On a clean
    backdrop (fit noise at most ``clean_noise``) the size floor is ``clean_min_hole``
    for a region whose inside is the backdrop to the noise (median Delta-E from the model
    at most ``clean_follow``, ``clean_follow_share`` of it within 1): a rope's small loops
    on white.

    On a real shot of a plant hanging from two chains against a white wall, the U-Net
    filled the wedge of wall between the chains, the edge segmenter kept it as a hole,
    and the white wedge was published on every look. A white product's inside that one
    segmenter lost on a white backdrop meets the rest of the product along a faint
    outline, so it is not opened."""
    H, W = rgb.shape[:2]
    hole_other = ~(other.alpha >= 0.5)
    n, labels, is_hole = enclosed(~hole_other)
    if not is_hole.any():
        return mask
    binary = mask.alpha >= 0.5
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n)
    filled = np.bincount(flat, weights=binary.ravel(), minlength=n)
    cand = is_hole & (area >= min(min_hole, clean_min_hole) * H * W) & (filled > 0.5 * area)
    if not cand.any():
        return mask
    h, w = working_size(H, W, working)
    small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    lab = to_lab(small)
    model, noise, _ = fit_backdrop(lab, 0.015)
    if noise > clean_noise:  # smaller holes only on a clean backdrop
        cand &= area >= min_hole * H * W
    backdrop = Backdrop(lab, model, noise)
    small_labels = cv2.resize(labels.astype(np.int32), (w, h), interpolation=cv2.INTER_NEAREST)
    both = (binary | ~hole_other).astype(np.uint8)
    outside_both = cv2.resize(both, (w, h), interpolation=cv2.INTER_NEAREST) == 0
    reach = 0.08 * max(h, w)
    opened = np.zeros(n, bool)
    for i in np.nonzero(cand)[0]:
        region = small_labels == i
        # judged away from the rim, whose pixels mix the product's colour with the
        # backdrop's, as the hole rule judges (a rope's loops on white: 82-85% of all
        # their pixels show the backdrop at the working size, 100% of their inside)
        inner = region & (cv2.erode(region.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
        if inner.sum() < 16:
            inner = region
        if region.sum() < 16 or backdrop.shows[inner].mean() < 0.9:
            continue
        if area[i] < min_hole * H * W:  # admitted by the clean floor: the backdrop to the noise
            d = np.linalg.norm(lab[inner] - model[inner], axis=-1)
            if np.median(d) > clean_follow or (d <= 1.0).mean() < clean_follow_share:
                continue
        if not backdrop.matches_palette(np.median(lab[region], axis=0)):
            continue
        # stricter than the hole rule, as it overrides a segmenter: the colour of the
        # backdrop beside the product around it, within ``max_offset`` Delta-E at the
        # median (a white dial or plate is its own surface, lit its own way)
        near = cv2.distanceTransform((~region).astype(np.uint8), cv2.DIST_L2, 3)
        beside = (near <= reach) & outside_both
        if beside.sum() < 16:
            continue
        offset = np.linalg.norm(np.median(lab[region], 0) - np.median(lab[beside], 0))
        if offset > max_offset:
            continue
        rim = region & ~(cv2.erode(region.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
        inside, outside = local_means(lab, region, 3)
        contrast = np.linalg.norm(inside[rim] - outside[rim], axis=1)
        opened[i] = bool((contrast >= min_contrast).mean() >= min_clear)
    if not opened.any():
        return mask
    cut = opened[labels]
    alpha = np.where(cut, np.minimum(mask.alpha, other.alpha), mask.alpha).astype(np.float32)
    return Mask(alpha, mask.confidence, mask.method, mask.flags, mask.signals)


def _with(mask: Mask, signals: dict[str, float], prefix: bool = True) -> Mask:
    return Mask(
        alpha=mask.alpha,
        confidence=mask.confidence,
        method=f"auto/{mask.method}" if prefix else mask.method,
        flags=mask.flags,
        signals=signals,
    )
