"""Exemplar-based background synthesis: a new backdrop quilted from a style's own
references, at the output's full resolution.

Image quilting (Efros & Freeman, SIGGRAPH 2001), with the decisions taken at a reduced
*search* resolution and the pixels taken at full resolution:

1. The reference is resized so that its long side is ``scale`` times the frame's long
   side, so a look keeps its own scale relative to the frame and the product. A reference
   smaller than that is magnified, which cannot carry its finest texture: past
   ``sharp_upscale`` the band a magnification loses is added back from the reference at
   its own resolution (``detail_band``, ``detail_layer``): fine grain, paper tooth, the
   sharp edge of a vein. Natural textures are self-similar across scales; a grid is not,
   so a grid look is never magnified past ``sharp_upscale`` (its cells get smaller).
2. Square patches of ``patch`` x the scaled reference's short side are laid in raster
   order with ``overlap``. Each patch is chosen among *all* positions of the reference by
   its squared error on the already-filled overlap (an L-shaped template), computed for
   every position at once as a correlation in torch (so it runs on a GPU when one is
   given); one of the positions within ``tolerance`` of the best is drawn at random.
3. The patch joins the canvas along the minimum-error cut through the overlap (dynamic
   programming), so the boundary follows the texture instead of a straight seam.
   Patches after the first may come from the look's other references too (``extra``,
   ``extra_references``): they sit beside the drawn one in one mosaic, matched to its
   colour, and no patch spans two, so a frame needing many patches repeats less.
4. Placements and cuts are decided on a copy ``f`` times smaller (``search_px`` px
   patches); the full-resolution patches are then pasted with the cut upsampled, which
   also feathers it over about ``f`` px. The cost is a few hundred small correlations
   per frame whatever its size, plus one pass of copying pixels.

A reference that is a grid of cells is not quilted: ``stylecore.transfer.lattice`` lays
blocks of its whole cells with seams on its grid lines.

Deterministic: the same reference, size, config and ``seed`` give the same bytes on the
same device. Images are ``(H, W, 3)`` uint8 RGB.
"""

from __future__ import annotations

import functools
import hashlib
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import scipy.fft
import torch

from stylecore.transfer.cuts import vertical_cuts
from stylecore.transfer.lattice import find_lattice, tile_blocks
from stylecore.transfer.strips import grain_axis, quilt_strips


@dataclass(frozen=True)
class SynthConfig:
    scale: float = 1.0  # reference long side / frame long side
    max_upscale: float = 4.0  # never magnify a reference more than this
    sharp_upscale: float = 1.3  # past this magnification, fine detail comes from the
    # reference at its own resolution (detail x its band); grids stop at this magnification
    detail: float = 1.5  # most gain of that fine band (0: a magnified reference stays soft)
    patch: float = 0.45  # patch side / scaled reference short side
    # overlap / patch side. A cut stays inside the overlap, so a narrow one must cross
    # what runs across it: at 0.25, 10% of watercolour's seam pixels (8% bokeh's, 3%
    # marble's) crossed from a wash into paper or another wash and printed as straight
    # fades; at 0.35 with the candidates below, 3.6% (3.7%, 1.1%) (18 frames each)
    overlap: float = 0.35
    strip_overlap: float = 0.25  # the same for a grain look's bands (their cuts run along it)
    search_px: int = 24  # patch side at the coarse (global) search resolution
    fine_px: int = 64  # patch side at the fine resolution (refinement and cuts)
    tolerance: float = 0.05  # draw among positions within (1 + tolerance) x the best error
    seam_tries: int = 5  # that draw and the next best positions (within ``seam_slack`` of
    # the best error): keep the one whose minimum-error cut clashes least (``_cuts``);
    # 8 clashed no less (watercolour 4.4% against 3.8%) and cost 0.07 s more a frame
    seam_slack: float = 1.0
    # When even the best of those cuts clashes (seam cost above ``retry_above``), up to
    # ``retry_tries`` more positions within ``retry_slack`` are cut too: most patches
    # never need them, and where one does, a worse-matching overlap with a clean cut beats
    # a fade (``_cuts``; the figures in docs/background.md)
    retry_above: float = 0.05
    retry_tries: int = 20
    retry_slack: float = 3.0
    structure: float = 0.5  # weight of the max-pooled edge channel in the search
    feather: float = 0.02  # seam blur, as a fraction of the overlap (the blur's sigma)
    # Where a cut must cross very different content (a wash into another wash), its path
    # is jagged and read as torn paper; there it is blurred up to this fraction of the
    # overlap instead, in proportion to the colour difference across it (0: off)
    wide_feather: float = 0.15
    # A reference that is a grid of cells (tiles, a geometric print) is rebuilt from blocks
    # of whole cells with seams on its grid lines (stylecore.transfer.lattice), not quilted
    lattice: bool = True
    # ... and, when magnified, re-sharpened by an unsharp mask of the interpolation's own
    # width (0.5 x the magnification) with this amount (0: off): cubic interpolation
    # spread a print's hard edges over ~2 px and its fine texture at 2048 px fell to
    # 0.68x the reference's
    grid_sharpen: float = 0.8
    # A grain look (wood) is quilted in bands along its grain, so no cut crosses the grain
    # (stylecore.transfer.strips)
    strips: bool = True
    # A dark band along a reference's edge (a lens vignette, a frame's shadow) is not part
    # of the texture: quilted, it became dark blocks in the middle of the frame (every
    # autumn-bokeh reference ends in a band 5-15 % of its height at L 4-8 against 17-36
    # inside). Bands up to this fraction of a side are trimmed before quilting (0: off).
    trim_dark_edges: float = 0.25
    # Quilted looks take patches from more of the look's references than the drawn one
    # (which sets the patch size, the seam blur and the fine band and gives the first
    # patch): up to this many others, drawn by the seed, so a frame that needs many
    # patches repeats one reference's content less (0: the drawn reference only). Each
    # costs about 0.1 s per photo at 1024-2048 px on 2 cores.
    extra_references: int = 2

    def __post_init__(self) -> None:
        if not 0.05 <= self.scale <= 4.0:
            raise ValueError(f"scale={self.scale}: must be in [0.05, 4]")
        if not 0.05 <= self.patch <= 0.9:
            raise ValueError(f"patch={self.patch}: must be in [0.05, 0.9]")
        if not 0.1 <= self.overlap <= 0.5 or not 0.1 <= self.strip_overlap <= 0.5:
            raise ValueError(
                f"overlap={self.overlap}, strip_overlap={self.strip_overlap}: must be in [0.1, 0.5]"
            )
        if self.seam_tries < 1 or self.seam_slack < 0:
            raise ValueError(
                f"seam_tries={self.seam_tries}, seam_slack={self.seam_slack}: need "
                "seam_tries >= 1 and seam_slack >= 0"
            )
        if self.retry_tries < 0 or self.retry_slack < 0 or self.retry_above < 0:
            raise ValueError(
                f"retry_tries={self.retry_tries}, retry_slack={self.retry_slack}, "
                f"retry_above={self.retry_above}: must be >= 0 (retry_tries 0: no retry)"
            )
        if not 1.0 <= self.sharp_upscale <= self.max_upscale or not 0.0 <= self.detail <= 2.0:
            raise ValueError(
                f"sharp_upscale={self.sharp_upscale}, max_upscale={self.max_upscale}, "
                f"detail={self.detail}: need 1 <= sharp_upscale <= max_upscale and "
                "0 <= detail <= 2"
            )
        if not 0.0 <= self.grid_sharpen <= 2.0:
            raise ValueError(f"grid_sharpen={self.grid_sharpen}: must be in [0, 2]")
        if not 0.0 <= self.feather <= 1.0 or not 0.0 <= self.wide_feather <= 1.0:
            raise ValueError(
                f"feather={self.feather}, wide_feather={self.wide_feather}: must be in [0, 1]"
            )
        if not 0.0 <= self.trim_dark_edges <= 0.45:
            raise ValueError(
                f"trim_dark_edges={self.trim_dark_edges}: must be in [0, 0.45] "
                "(the most of a side a dark edge band may take; 0 = off)"
            )
        if self.seam_tries < 1:
            raise ValueError(f"seam_tries={self.seam_tries}: must be at least 1")
        if self.search_px < 8 or self.tolerance < 0 or self.max_upscale <= 0:
            raise ValueError(
                f"search_px={self.search_px}, tolerance={self.tolerance}, "
                f"max_upscale={self.max_upscale}: need search_px >= 8, tolerance >= 0, "
                "max_upscale > 0"
            )


def seed_for(*parts: str) -> int:
    """A 63-bit seed from strings (style id, image id): stable across runs and hosts."""
    blob = "\x1f".join(parts).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little") & (2**63 - 1)


# A look's references are the same for every photo of a night: what depends on them
# alone (the trimmed reference, its softness, another reference colour-matched to it, the
# fine-texture power) is worked out once per process, keyed by content, not per photo.
# At 2048 px that was 0.2-0.3 s of marble's 1.5 s per photo on 2 cores.
_MEMO: dict = {}
_MEMO_MOST = 256
_MEMO_BYTES = 256 * 2**20


_DIGESTS: dict[int, tuple[weakref.ref, bytes]] = {}  # id -> (the array, weakly; its digest)


def _frozen(a: np.ndarray) -> bool:
    """Whether nothing can write to ``a``: it and every array it views are read-only."""
    while isinstance(a, np.ndarray):
        if a.flags.writeable:
            return False
        a = a.base
    return True


def _digest(a: np.ndarray) -> bytes:
    """A content key for ``a``. Read-only arrays (a model's references, this module's
    cached results) are hashed once and then known by identity while they live (held
    weakly, so a key never outlives its array or pins its memory): hashing a 2048 px
    reference costs a few ms, and a photo's background asks for several."""
    frozen = _frozen(a)
    if frozen:
        hit = _DIGESTS.get(id(a))
        if hit is not None and hit[0]() is a:
            return hit[1]
    c = np.ascontiguousarray(a)
    key = hashlib.blake2b(c.data, digest_size=16).digest() + repr((c.shape, c.dtype)).encode()
    if frozen:
        # the entry goes when the array does (before its id can be reused)
        gone = functools.partial(_forget_digest, id(a))
        _DIGESTS[id(a)] = (weakref.ref(a, gone), key)
    return key


def _forget_digest(key: int, _ref: weakref.ref) -> None:
    _DIGESTS.pop(key, None)


def _memo(key: tuple, make):
    """``make()``, once per ``key`` while it stays among the most recent ``_MEMO_MOST``
    entries and ``_MEMO_BYTES`` of arrays. A returned array is read-only: it is shared by
    every later photo."""
    hit = _MEMO.get(key)
    if hit is None:
        hit = make()
        if isinstance(hit, np.ndarray):
            hit.flags.writeable = False
        size = hit.nbytes if isinstance(hit, np.ndarray) else 0
        while _MEMO and (len(_MEMO) >= _MEMO_MOST or _memo_bytes() + size > _MEMO_BYTES):
            _MEMO.pop(next(iter(_MEMO)))
        _MEMO[key] = hit
    return hit


def _memo_bytes() -> int:
    return sum(v.nbytes for v in _MEMO.values() if isinstance(v, np.ndarray))


# Amplitude spectra of detail bands (``detail_band``), a reference's size each.
_SPECTRA: dict = {}
_SPECTRA_MOST = 8


def _fft_workers() -> int:
    """Threads for scipy.fft: torch's (a Ray worker sets it to the CPUs it was given)."""
    return max(torch.get_num_threads(), 1)


def magnification(ref_hw: tuple[int, int], frame_hw: tuple[int, int], cfg: SynthConfig) -> float:
    """How many times the reference is enlarged for a frame: ``cfg.scale`` x the frame's
    long side over the reference's, at most ``cfg.max_upscale``."""
    return min(cfg.scale * max(frame_hw) / max(ref_hw), cfg.max_upscale)


def scaled_reference(
    ref: np.ndarray, frame_hw: tuple[int, int], cfg: SynthConfig, cap: float | None = None
) -> np.ndarray:
    """``ref`` resized for a frame of ``frame_hw``: long side ``cfg.scale`` x the frame's,
    magnified at most ``cfg.max_upscale`` (or ``cap``) times."""
    k = min(magnification(ref.shape[:2], frame_hw, cfg), cap or cfg.max_upscale)
    if abs(k - 1.0) < 1e-3:
        return np.ascontiguousarray(ref)
    h, w = max(int(round(ref.shape[0] * k)), 8), max(int(round(ref.shape[1] * k)), 8)
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC
    return cv2.resize(ref, (w, h), interpolation=interp)


def search_features(ref: np.ndarray, f: int, structure: float) -> np.ndarray:
    """``ref`` reduced ``f`` times for the search: RGB in [0, 1] (area average) plus one
    *structure* channel, the luminance gradient magnitude max-pooled over each f x f cell
    and scaled to about [0, structure]. Averaging alone erases thin lines (a plank joint,
    a vein, a shape's outline); the max keeps them, so the overlap error and the cut see
    them and do not break them."""
    h, w = ref.shape[0] // f, ref.shape[1] // f
    rgb = ref[: h * f, : w * f]
    small = rgb if f == 1 else cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    out = small.astype(np.float32) / 255.0
    if structure <= 0:
        return out
    g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    mag = np.abs(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)) + np.abs(
        cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    )
    pooled = mag.reshape(h, f, w, f).max(axis=(1, 3))
    # (from every third cell each way: the whole map's percentile cost 18 ms at 2048 px)
    norm = max(float(np.percentile(pooled[::3, ::3], 99)), 1e-3)
    edge = np.clip(pooled / norm, 0, 1) * structure
    return np.dstack([out, edge]).astype(np.float32)


@dataclass(frozen=True)
class _Plan:
    c: int  # fine-to-full factor (cuts and refinement run at full size / c)
    k: int  # coarse-to-fine factor (the global search runs at full size / (c k))
    p: int  # patch side, fine px
    o: int  # overlap, fine px
    ny: int
    nx: int


def _plan(frame_hw: tuple[int, int], ref_hw: tuple[int, int], cfg: SynthConfig) -> _Plan:
    P = max(int(round(cfg.patch * min(ref_hw))), 8)
    c = max(1, int(round(P / cfg.fine_px)))
    k = max(1, int(round(P / (c * cfg.search_px))))
    p = max(int(round(P / (c * k))), 4) * k  # a whole number of coarse cells
    p = min(p, (min(ref_hw) // c) - 2 * k - 1)  # fits the reference with room to choose
    o = max(2, int(round(p * cfg.overlap)))
    o = max(k, o // k * k)  # also whole coarse cells
    s = p - o
    H, W = frame_hw
    hl, wl = -(-H // c), -(-W // c)
    ny = max(1, -(-(hl - o) // s))
    nx = max(1, -(-(wl - o) // s))
    return _Plan(c, k, p, o, ny, nx)


def _pool(feat: np.ndarray, k: int) -> np.ndarray:
    """``(h, w, C)`` search features reduced k times: RGB averaged, structure max-pooled."""
    if k == 1:
        return feat
    h, w = feat.shape[0] // k, feat.shape[1] // k
    cells = feat[: h * k, : w * k].reshape(h, k, w, k, -1)
    out = cells.mean(axis=(1, 3))
    if feat.shape[2] > 3:
        out[..., 3:] = cells[..., 3:].max(axis=(1, 3))
    return out


class _Correlator:
    """Squared error of a masked template against every position of a feature image, by
    FFT (circular over the image; only positions where the template fits are kept)."""

    def __init__(self, feat: np.ndarray, p: int, device):
        self.r = torch.from_numpy(np.ascontiguousarray(feat.transpose(2, 0, 1))).to(device)
        self.hw = tuple(self.r.shape[-2:])
        self.valid = (self.hw[0] - p + 1, self.hw[1] - p + 1)
        self.r_hat = torch.fft.rfft2(self.r)
        self.r2_hat = torch.fft.rfft2((self.r * self.r).sum(0))
        self._msum: dict[tuple[int, int], torch.Tensor] = {}
        self.p = p

    def _corr(self, spectrum: torch.Tensor, tmpl: torch.Tensor) -> torch.Tensor:
        prod = spectrum * torch.fft.rfft2(tmpl, s=self.hw).conj()
        if prod.ndim == 3:
            prod = prod.sum(0)
        return torch.fft.irfft2(prod, s=self.hw)[: self.valid[0], : self.valid[1]]

    def errors(self, tmpl: np.ndarray, top: int, left: int) -> np.ndarray:
        """``tmpl`` ``(p, p, C)``; the mask is its first ``top`` rows and ``left`` columns."""
        key = (top, left)
        m = torch.zeros(self.p, self.p, device=self.r.device)
        m[:top, :] = 1
        m[:, :left] = 1
        if key not in self._msum:
            self._msum[key] = self._corr(self.r2_hat, m)
        t = torch.from_numpy(np.ascontiguousarray(tmpl.transpose(2, 0, 1))).to(self.r.device) * m
        err = self._msum[key] - 2.0 * self._corr(self.r_hat, t) + (t * t).sum()
        return err.clamp_min_(0).cpu().numpy()


def quilt(
    ref: np.ndarray,
    frame_hw: tuple[int, int],
    seed: int,
    cfg: SynthConfig = SynthConfig(),
    device: str | torch.device = "cpu",
    min_seam: float = 0.0,
    extra: Sequence[np.ndarray] = (),
) -> np.ndarray:
    """A ``frame_hw`` texture quilted from ``ref`` ``(h, w, 3)`` uint8 (already at the
    scale it should appear at; see ``scaled_reference``). Returns ``(H, W, 3)`` uint8.
    ``min_seam``: the least blur (sigma, px) of a cut; a reference magnified k times has
    no structure finer than about k px, so a sharper cut would be the only edge there.
    ``extra``: more references of the same look (at their scale) that patches may also be
    taken from, so that a frame needing many patches repeats less; the patch size is
    ``ref``'s, and an extra reference too small for one patch is left out. No patch spans
    two references.

    Each patch is found in two steps: among all positions of a coarse copy of the
    reference, then refined to the best position within one coarse cell on a fine copy,
    where the cut is also computed. A full-resolution search would cost (c k)^4 times more;
    without the refinement, straight lines (plank joints, a tile grid) break at the cuts."""
    if ref.ndim != 3 or ref.shape[2] != 3 or ref.dtype != np.uint8:
        raise ValueError(f"quilt: reference must be (h, w, 3) uint8, got {ref.shape} {ref.dtype}")
    H, W = frame_hw
    if H < 1 or W < 1:
        raise ValueError(f"quilt: frame {frame_hw} is empty")
    pl = _plan(frame_hw, ref.shape[:2], cfg)
    c, k, p, o = pl.c, pl.k, pl.p, pl.o
    if p < 4 or p // k < 2:
        raise ValueError(f"quilt: reference {ref.shape[1]}x{ref.shape[0]} is too small")
    s = p - o
    rng = np.random.default_rng(seed)
    extra = [e for e in extra if min(e.shape[:2]) >= (p + 2 * k) * c]
    spans = None
    # the same references at the same scale every photo of a night: their search
    # features are reduced once (keyed by content); the mosaic itself is a cheap copy
    key = ("search", tuple(_digest(r) for r in (ref, *extra)), c, k, cfg.structure)
    if extra:
        ref, spans = _mosaic([ref, *extra], c * k)
    fine = _memo(key, lambda: search_features(ref, c, cfg.structure))
    coarse = _pool(fine, k)
    search = _Correlator(coarse, p // k, device)
    cy, cx = search.valid
    allowed = _allowed(spans, (cy, cx), c, k, p)
    canvas = np.zeros((pl.ny * s + o, pl.nx * s + o, fine.shape[2]), np.float32)
    P = p * c
    out = np.zeros(((pl.ny * s + o) * c, (pl.nx * s + o) * c, 3), np.uint8)
    for i in range(pl.ny):
        for j in range(pl.nx):
            y, x = i * s, j * s
            region = canvas[y : y + p, x : x + p]
            if i == 0 and j == 0:
                if allowed is None:
                    fy, fx = int(rng.integers(cy)) * k, int(rng.integers(cx)) * k
                else:  # the first patch from the drawn reference
                    first = np.flatnonzero(_allowed(spans[:1], (cy, cx), c, k, p))
                    gy, gx = divmod(int(first[rng.integers(first.size)]), cx)
                    fy, fx = gy * k, gx * k
            else:
                top, left = o * (i > 0), o * (j > 0)
                err = search.errors(_pool(region, k), top // k, left // k).ravel()
                if allowed is not None:
                    err[~allowed] = np.inf
                ok = np.flatnonzero(err <= float(err.min()) * (1.0 + cfg.tolerance) + 1e-6)
                drawn = int(ok[rng.integers(ok.size)])
                draws = _alternatives(err, drawn, cx, cfg.seam_tries, cfg.seam_slack)
                ctx = (fine, region, spans, c, k, o, i, j, device)
                found, cuts, costs = _cut_candidates(ctx, draws, cx)
                if min(costs) > cfg.retry_above and cfg.retry_tries > len(draws):
                    more = _alternatives(err, drawn, cx, cfg.retry_tries, cfg.retry_slack)
                    more = [d for d in more if d not in draws]
                    if more:
                        f2, c2, k2 = _cut_candidates(ctx, more, cx)
                        found, cuts, costs = found + f2, cuts + c2, costs + k2
                b = int(np.argmin(costs))  # the first of equals: the drawn one
                (fy, fx), cut = found[b], cuts[b]
            patch = fine[fy : fy + p, fx : fx + p]
            if i == 0 and j == 0:
                cut = np.ones((p, p), np.float32)
            clash = None
            if cfg.wide_feather > 0 and (i or j):
                rgb_diff = ((region[..., :3] - patch[..., :3]) ** 2).sum(2)
                clash = np.clip((rgb_diff - CLASH_FROM) / CLASH_SPAN, 0.0, 1.0)
            region[:] = cut[..., None] * patch + (1 - cut[..., None]) * region
            _paste(
                out[y * c : y * c + P, x * c : x * c + P],
                ref[fy * c : fy * c + P, fx * c : fx * c + P],
                cut,
                o * c * (i > 0),
                o * c * (j > 0),
                max(cfg.feather * o * c, min_seam),
                clash,
                cfg.wide_feather * o * c,
                fade_far=j < pl.nx - 1,
            )
    return np.ascontiguousarray(out[:H, :W])


def _cut_candidates(ctx: tuple, draws: Sequence[int], cx: int) -> tuple[list, list, list]:
    """For coarse positions ``draws`` (flat, ``cx`` wide): each refined position, its cut
    into the region and that cut's cost (``_refine``, ``_cuts``). ``ctx``: the fine
    features, the region, the mosaic's spans, and the plan's ``c, k, o``, the patch's
    row and column and the device."""
    fine, region, spans, c, k, o, i, j, device = ctx
    p = region.shape[0]
    top, left = o * (i > 0), o * (j > 0)
    found = []
    for d in draws:
        gy, gx = divmod(int(d), cx)
        box = _span_of(spans, gx * k, fine.shape[0], c)
        found.append(_refine(fine, region, gy * k, gx * k, k, top, left, device, box))
    cuts, costs = _cuts(region, [fine[y : y + p, x : x + p] for y, x in found], o, i, j)
    return found, list(cuts), costs


def _alternatives(err: np.ndarray, drawn: int, cx: int, n: int, slack: float = 0.25) -> list:
    """``drawn`` and up to ``n - 1`` other positions of the flat error map ``err`` (``cx``
    wide), best first, within ``1 + slack`` of the best error and more than one position
    apart from each other: the candidates whose cuts ``quilt`` compares."""
    picks = [drawn]
    if n <= 1:
        return picks
    limit = float(err.min()) * (1.0 + slack) + 1e-6
    order = np.argsort(err, kind="stable")
    for idx in order[: 64 * n]:
        if err[idx] > limit or len(picks) >= n:
            break
        y, x = divmod(int(idx), cx)
        if all(abs(y - q // cx) > 1 or abs(x - q % cx) > 1 for q in picks):
            picks.append(int(idx))
    return picks


def _cuts(region: np.ndarray, patches: Sequence[np.ndarray], o: int, i: int, j: int):
    """The minimum-error cut of each of ``patches`` into ``region`` over the overlap (left
    strip when ``j``, top strip when ``i``), ``(n, p, p)``, and each one's seam cost: the
    share of the pixels the cut runs along where the two sides clash (``CLASH_FROM``,
    ``CLASH_SPAN``: a wash against paper, blurred wide by ``_paste`` and seen as a
    straight fade), plus a tenth of their mean squared feature difference to rank cuts
    that clash alike. A patch that matches the overlap on average can still leave only
    poor paths (a wash's edge across the whole strip). Ranked by the feature difference
    alone, 7.0% of watercolour's seam pixels clashed; by the clash, 6.4% (same
    candidates).

    Differences are taken only in the strips (and one px beyond, where a path along a
    strip's inner edge meets the patch), and every cut of every candidate is one batched
    dynamic programme (``vertical_cuts``)."""
    n, p = len(patches), region.shape[0]
    stack = np.stack(patches)
    b = min(o + 1, p)
    sq = np.zeros((n, p, p, region.shape[2]), np.float32)
    if j:
        sq[:, :, :b] = (region[None, :, :b] - stack[:, :, :b]) ** 2
    if i:
        sq[:, :b, :] = (region[None, :b, :] - stack[:, :b, :]) ** 2
    diff, rgb = sq.sum(3), sq[..., :3].sum(3)
    maps = ([diff[:, :, :o]] if j else []) + ([diff[:, :o, :].transpose(0, 2, 1)] if i else [])
    paths = vertical_cuts(np.concatenate(maps))
    cut = np.ones((n, p, p), np.float32)
    if j:
        cut[:, :, :o] *= paths[:n]
    if i:
        cut[:, :o, :] *= paths[n * bool(j) :].transpose(0, 2, 1)
    seam = np.zeros((n, p, p), bool)
    seam[:, :, 1:] |= cut[:, :, 1:] != cut[:, :, :-1]
    seam[:, 1:, :] |= cut[:, 1:, :] != cut[:, :-1, :]
    # a cut along the patch's outer edge meets the old content beyond it there
    if j:
        seam[:, :, 0] |= cut[:, :, 0] > 0
    if i:
        seam[:, 0, :] |= cut[:, 0, :] > 0
    costs = []
    for m in range(n):
        on = seam[m]
        if not on.any():
            costs.append(0.0)
            continue
        clash = np.clip((rgb[m][on] - CLASH_FROM) / CLASH_SPAN, 0.0, 1.0)
        costs.append(float(clash.mean()) + 0.1 * float(diff[m][on].mean()))
    return cut, costs


def match_colour(img: np.ndarray, to: np.ndarray) -> np.ndarray:
    """``img`` with the per-channel mean and spread (in Lab) of ``to``: a look's other
    references join the drawn one's patches at its brightness and colour. Without it, an
    autumn-bokeh reference darker than the drawn one left dark blocks with straight edges
    across the frame (a cut finds its way only through the overlap). The Lab is float:
    through 8-bit Lab and back, a smooth bokeh reference gained a third more fine texture
    (quantisation noise), even matched to itself."""
    a = cv2.cvtColor(img.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    b = cv2.cvtColor(to.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    am, asd = a.reshape(-1, 3).mean(0), a.reshape(-1, 3).std(0)
    bm, bsd = b.reshape(-1, 3).mean(0), b.reshape(-1, 3).std(0)
    out = cv2.cvtColor((a - am) * (bsd / np.maximum(asd, 1e-3)) + bm, cv2.COLOR_Lab2RGB)
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)


def _mosaic(refs: Sequence[np.ndarray], unit: int) -> tuple[np.ndarray, list]:
    """``refs`` side by side, each starting at a multiple of ``unit`` px (so the search's
    cells never straddle two), padded by repeating their edges; and each one's span
    ``(x0, x1, height)`` in px. Positions in the padding are never drawn from."""
    H = max(r.shape[0] for r in refs)
    parts, spans, x = [], [], 0
    for r in refs:
        h, w = r.shape[:2]
        wide = -(-w // unit) * unit
        parts.append(np.pad(r, ((0, H - h), (0, wide - w), (0, 0)), mode="edge"))
        spans.append((x, x + w, h))
        x += wide
    return np.ascontiguousarray(np.concatenate(parts, axis=1)), spans


def _allowed(spans, valid: tuple[int, int], c: int, k: int, p: int) -> np.ndarray | None:
    """Flat bool map of the coarse positions whose ``p`` fine-px patch lies inside one
    reference of the mosaic (None: one reference, every position)."""
    if spans is None:
        return None
    cy, cx = valid
    ok = np.zeros((cy, cx), bool)
    gy, gx = np.arange(cy) * k, np.arange(cx) * k
    for x0, x1, h in spans:
        rows = gy + p <= h // c
        cols = (gx >= -(-x0 // c)) & (gx + p <= x1 // c)
        ok |= rows[:, None] & cols[None, :]
    return ok.ravel()


def _span_of(spans, fx: int, height: int, c: int) -> tuple[int, int, int]:
    """``(height, x0, x1)`` in fine px of the reference holding fine column ``fx``."""
    if spans is None:
        return height, 0, 1 << 30
    for x0, x1, h in spans:
        if -(-x0 // c) <= fx < x1 // c:
            return h // c, -(-x0 // c), x1 // c
    raise ValueError(f"fine column {fx} is in no reference")


def _refine(fine, region, fy, fx, k, top, left, device, box=None) -> tuple[int, int]:
    """The best position within ``k`` fine px of ``(fy, fx)`` for the overlap of
    ``region``: exact squared error on the fine features (within ``box``, ``(height, x0,
    x1)`` fine px, when patches come from a mosaic of references)."""
    p = region.shape[0]
    hb, xb0, xb1 = box or (fine.shape[0], 0, fine.shape[1])
    y0, x0 = max(fy - k, 0), max(fx - k, xb0)
    y1 = min(fy + k, hb - p, fine.shape[0] - p)
    x1 = min(fx + k, xb1 - p, fine.shape[1] - p)
    err = _Correlator(fine[y0 : y1 + p, x0 : x1 + p], p, device).errors(region, top, left)
    dy, dx = np.unravel_index(int(np.argmin(err)), err.shape)
    return y0 + int(dy), x0 + int(dx)


STEP_LEVELS = 12.0  # an old-content step this high (RGB levels) is covered fully


CLASH_FROM, CLASH_SPAN = 0.005, 0.03  # squared RGB difference (in [0, 1]) across a cut:
# below CLASH_FROM it is paper against paper, from CLASH_FROM + CLASH_SPAN a clash


def _paste(
    dst: np.ndarray,
    src: np.ndarray,
    cut: np.ndarray,
    top: int,
    left: int,
    sigma: float,
    clash: np.ndarray | None = None,
    wide: float = 0.0,
    fade_far: bool = True,
) -> None:
    """Blend ``src`` into ``dst`` (full resolution) along ``cut`` upsampled (bilinear),
    then blurred by ``sigma`` px (a soft seam); outside the overlap strips ``src`` is
    copied exactly.

    The blurred cut is ramped to 1 over the last ``2 sigma`` px before the block ``src``
    fills alone, and to 0 over the first ``2 sigma`` px of the patch's outer edge: a cut
    that runs along either edge of the overlap was otherwise blurred on one side only
    and printed as a straight, hard seam (seen at full size through a bokeh disc).

    ``clash`` (in [0, 1], at the cut's resolution): where the two sides differ, the cut
    is blurred by up to ``wide`` px instead, and the ramps widen with it.

    ``fade_far``: a top strip fades back to the old content at its far (right) end, which
    the next patch in the row covers; the last patch of a row has none, and there the
    fade left a block of the row above's content with a hard lower edge."""
    P = dst.shape[0]
    dst[top:, left:] = src[top:, left:]
    if not (top or left):
        return
    m = cut if cut.shape[0] == P else cv2.resize(cut, (P, P), interpolation=cv2.INTER_LINEAR)
    if sigma >= 0.5:
        sharp = cv2.GaussianBlur(m, (0, 0), sigma)
        if clash is not None and wide > sigma and float(clash.max()) > 0:
            # the wide blurs are smooth: taken at the cut's own resolution and enlarged
            # (blurring the full-size patch cost up to 0.4 s a photo)
            f = cut.shape[0] / P
            t = cv2.GaussianBlur(clash.astype(np.float32), (0, 0), wide * f)
            soft = cv2.GaussianBlur(cut.astype(np.float32), (0, 0), wide * f)
            if cut.shape[0] != P:
                t = cv2.resize(t, (P, P), interpolation=cv2.INTER_LINEAR)
                soft = cv2.resize(soft, (P, P), interpolation=cv2.INTER_LINEAR)
            m = sharp + t * (soft - sharp)
            sigma = wide
        else:
            m = sharp
        r = 2.0 * sigma
        yy = np.arange(P, dtype=np.float32)[:, None] + 0.5
        xx = np.arange(P, dtype=np.float32)[None, :] + 0.5
        far = np.float32(np.inf)
        outer = np.minimum(yy if top else far, xx if left else far)
        m = m * np.clip(outer / r, 0.0, 1.0)
        inner = np.hypot(np.maximum(top - yy, 0), np.maximum(left - xx, 0))
        m = 1.0 - (1.0 - m) * np.clip(inner / r, 0.0, 1.0)
        if top and left:
            # Above ``top``, the patch to the left ended at ``left``: where the old content
            # steps there (its block against the row above's), the step printed as a hard
            # vertical seam (a bokeh disc cut straight). The new patch covers the line in
            # proportion to the step, ramping back to its cut over 2 sigma on either side;
            # where there is no step the cut decides alone (covering it everywhere drew
            # short vertical strokes of the new patch's wash rims).
            step = np.abs(
                dst[:top, left].astype(np.float32) - dst[:top, left - 1].astype(np.float32)
            ).max(axis=1)
            w = cv2.GaussianBlur(np.clip(step / STEP_LEVELS, 0.0, 1.0)[:, None], (1, 0), sigma)
            line = np.clip(np.abs(xx - left) / r, 0.0, 1.0)
            m[:top] = 1.0 - (1.0 - m[:top]) * (1.0 - w * (1.0 - line))
            m[:top] *= np.clip(yy[:top] / r, 0.0, 1.0)  # and still the old one at the top
        if top and fade_far:
            # ... and the step's source: this top strip's far end, where the patch ends
            # against the content of the row above. The next patch covers that line only
            # below the top ramp above, so it still showed there (8 levels on a soft
            # look whose own steepest step is 4, at overlap 0.35). The strip fades back
            # to the old content over its last 2 sigma.
            m[:top] *= np.clip((P - xx) / r, 0.0, 1.0)
    for sl in ((slice(0, top), slice(None)), (slice(top, None), slice(0, left))):
        a = m[sl][..., None]
        if a.size:
            blend = a * src[sl].astype(np.float32) + (1 - a) * dst[sl].astype(np.float32)
            dst[sl] = np.clip(blend + 0.5, 0, 255).astype(np.uint8)


def _dark_edge(profile: np.ndarray, most: int) -> int:
    """How many entries at the start of ``profile`` (rows' or columns' mean luminance)
    form a dark band: from the edge inward while darker than the interior's
    5th percentile, when the edge itself is darker than that by more than half the
    interior's 5-95 % range (at least 3 L). 0 when there is none, when it is thinner than
    3 % of the side (a line, such as a plank joint, is texture), or when it runs past
    ``most``."""
    n = profile.size
    inner = profile[n // 5 : n - n // 5]
    lo, hi = np.percentile(inner, [5, 95])
    if profile[0] >= lo - max(3.0, 0.5 * (hi - lo)):
        return 0
    past = np.flatnonzero(profile >= lo)
    cut = int(past[0]) if past.size else n
    return cut if 0.03 * n <= cut <= most else 0


def trim_dark_edges(ref: np.ndarray, most: float) -> np.ndarray:
    """``ref`` without the dark bands along its edges (``_dark_edge`` on the mean
    luminance of each row, then of each column, from each end); each side loses at most ``most``
    of its length. A reference with no such band is returned as it is."""
    lum = cv2.cvtColor(ref, cv2.COLOR_RGB2Lab)[..., 0].astype(np.float32) * (100 / 255)
    cuts = []
    for axis in (1, 0):  # rows (top, bottom), then columns (left, right)
        prof = lum.mean(axis=axis)
        most_px = int(most * prof.size)
        cuts.append((_dark_edge(prof, most_px), _dark_edge(prof[::-1], most_px)))
    (t, b), (lft, r) = cuts
    if t == b == lft == r == 0:
        return ref
    h, w = ref.shape[:2]
    return np.ascontiguousarray(ref[t : h - b, lft : w - r])


SOFTNESS_SIGMAS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)


def softness(ref: np.ndarray, tol: float = 0.05) -> float:
    """The reference's own blur, in its px: the largest Gaussian sigma (of
    ``SOFTNESS_SIGMAS``) that changes its luminance by at most ``tol`` of its spread
    (RMS); 0 for a sharp reference. A cut blurred less than this is the sharpest edge in
    a soft look: bokeh (2-3 px) showed torn, hard-edged patch outlines with a 1 px cut.
    Marble, wood and geometric prints read 0-0.5 px, watercolour 1-2 px."""
    lum = cv2.cvtColor(ref, cv2.COLOR_RGB2Lab)[..., 0].astype(np.float32)
    spread = float(lum.std())
    if spread < 1e-3:
        return 0.0
    out = 0.0
    for sigma in SOFTNESS_SIGMAS:
        d = lum - cv2.GaussianBlur(lum, (0, 0), sigma)
        if float(np.sqrt((d * d).mean())) > tol * spread:
            break
        out = sigma
    return out


def drawn_reference(n_refs: int, seed: int) -> int:
    """Which of a look's ``n_refs`` references ``synthesize_background`` builds from for
    ``seed`` (the first draw of its generator)."""
    return int(np.random.default_rng(seed).integers(n_refs))


def synthesize_background(
    refs: list[np.ndarray],
    frame_hw: tuple[int, int],
    seed: int,
    cfg: SynthConfig = SynthConfig(),
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """A new background for a ``frame_hw`` photo from one of ``refs`` (uint8 RGB, at their
    own resolution), drawn by ``seed``. Returns ``(H, W, 3)`` uint8."""
    return _synthesize(refs, frame_hw, seed, cfg, device)[0]


def background_sources(
    refs: list[np.ndarray],
    frame_hw: tuple[int, int],
    seed: int,
    cfg: SynthConfig = SynthConfig(),
) -> list[np.ndarray]:
    """The references ``synthesize_background`` builds this background from, as it uses
    them (trimmed, the others colour-matched to the drawn one, at their own resolution):
    the yardstick for its fine texture. Runs the synthesis."""
    return _synthesize(refs, frame_hw, seed, cfg, "cpu")[1]


def _synthesize(refs, frame_hw, seed, cfg, device) -> tuple[np.ndarray, list[np.ndarray]]:
    if not refs:
        raise ValueError("synthesize_background: no reference images")
    rng = np.random.default_rng(seed)
    drawn = drawn_reference(len(refs), seed)
    ref = refs[drawn]
    rng.integers(len(refs))  # that draw: the later draws stay as they were
    patch_seed = int(rng.integers(2**62))
    detail_seed = int(rng.integers(2**62))
    grid = find_lattice(ref) if cfg.lattice else None
    if grid is not None:
        scaled = scaled_reference(ref, frame_hw, cfg, cap=cfg.sharp_upscale)
        ky, kx = scaled.shape[0] / ref.shape[0], scaled.shape[1] / ref.shape[1]
        if max(ky, kx) > 1.01 and cfg.grid_sharpen > 0:
            soft = cv2.GaussianBlur(scaled, (0, 0), 0.5 * max(ky, kx))
            scaled = cv2.addWeighted(scaled, 1.0 + cfg.grid_sharpen, soft, -cfg.grid_sharpen, 0)
        tiled = tile_blocks(scaled, grid.scaled(ky, kx), frame_hw, patch_seed, cfg.patch)
        if tiled is not None:
            return tiled, [ref]
    trim = cfg.trim_dark_edges
    ref_key = _digest(ref)
    if trim > 0:
        ref = _memo(("trim", ref_key, trim), lambda: trim_dark_edges(ref, trim))
    sources = [ref]
    k = magnification(ref.shape[:2], frame_hw, cfg)
    axis = grain_axis(ref) if cfg.strips else None
    out = None
    if axis is not None:
        out, k = _grain_strips(ref, frame_hw, k, axis, patch_seed, cfg)
    if out is None:
        scaled = _scaled(ref, frame_hw, cfg)
        soft = _memo(("softness", ref_key, trim), lambda: softness(ref))
        seam = max(0.5, soft) * scaled.shape[0] / ref.shape[0]
        for i in extra_references(len(refs), drawn, seed, cfg.extra_references):
            sources.append(_memo(("matched", _digest(refs[i]), ref_key, trim),
                                 lambda i=i: _matched(refs[i], ref, trim)))  # fmt: skip
        extra = [_scaled(o, frame_hw, cfg) for o in sources[1:]]
        out = quilt(scaled, frame_hw, patch_seed, cfg, device, min_seam=seam, extra=extra)
    if k > cfg.sharp_upscale and cfg.detail > 0:
        band = detail_band(ref, k, seed=detail_seed)
        gain = detail_gain(sources, out, band, cfg.detail)
        if gain > 0:
            add_detail(out, band, detail_seed, gain)
    return out, sources


def _scaled(ref: np.ndarray, frame_hw: tuple[int, int], cfg: SynthConfig) -> np.ndarray:
    """``scaled_reference``, once per reference and size (``_memo``)."""
    k = magnification(ref.shape[:2], frame_hw, cfg)

    def make() -> np.ndarray:
        out = scaled_reference(ref, frame_hw, cfg)
        return out.copy() if out is ref and not _frozen(ref) else out  # never the caller's

    return _memo(("scaled", _digest(ref), round(k, 6)), make)


def _matched(other: np.ndarray, ref: np.ndarray, trim: float) -> np.ndarray:
    return match_colour(trim_dark_edges(other, trim) if trim > 0 else other, ref)


def extra_references(n_refs: int, drawn: int, seed: int, most: int) -> list[int]:
    """Up to ``most`` of a look's other references, drawn by ``seed``, in index order."""
    if most <= 0 or n_refs < 2:
        return []
    others = [i for i in range(n_refs) if i != drawn]
    pick = np.random.default_rng([seed, 1]).permutation(others)
    return sorted(int(i) for i in pick[:most])


HF_CUT = 1 / 8  # cycles per px: "fine texture" is the luminance power above this
_WIN = 64


def _luminance(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 2 else img.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])


def band_power(img: np.ndarray, n: int = 400) -> tuple[float, float]:
    """``(high, total)``: mean luminance power above ``HF_CUT`` and in all, over up to ``n``
    Hann-windowed, mean-removed 64 px windows on a regular grid (a Welch estimate). A
    sparse grid misjudges a large frame: with 48 windows a watercolour background at 2048
    px read as 1.0x its reference's fine fraction while every window (stride 16) read
    0.64x, and the fine band got too little gain; 400 windows read within 0.03 of every
    window."""
    lum = _luminance(img)
    h, w = lum.shape
    if h < _WIN or w < _WIN:
        return 0.0, 0.0
    side = int(np.ceil(np.sqrt(n)))
    ys = np.linspace(0, h - _WIN, side).astype(int)
    xs = np.linspace(0, w - _WIN, side).astype(int)
    win = np.outer(np.hanning(_WIN), np.hanning(_WIN)).astype(np.float32)
    high = np.hypot(np.fft.fftfreq(_WIN)[:, None], np.fft.rfftfreq(_WIN)[None, :]) > HF_CUT
    stack = np.stack([lum[y : y + _WIN, x : x + _WIN] for y in ys for x in xs])
    stack = (stack - stack.mean(axis=(1, 2), keepdims=True)) * win
    spec = scipy.fft.rfft2(stack, workers=_fft_workers())  # float32: NumPy's is float64
    spec = spec.real**2 + spec.imag**2
    return float(spec[:, high].sum(1).mean()), float(spec.sum((1, 2)).mean())


def _power(img: np.ndarray) -> tuple[float, float]:
    """``(fine power, luminance variance)`` of an image."""
    return band_power(img)[0], float(_luminance(img).var())


def detail_gain(
    refs: np.ndarray | Sequence[np.ndarray],
    low: np.ndarray,
    band: np.ndarray,
    most: float,
    enough: float = 0.8,
) -> float:
    """The gain of the fine band that gives the background the reference's own fraction
    of fine texture: luminance power above ``HF_CUT`` (``band_power``) against the
    image's whole luminance variance. ``low`` (the magnified synthesis) carries ``H_low``
    against variance ``V_low``; the band adds ``g^2 D_hf`` and ``g^2 D_var`` (it is
    uncorrelated with ``low``). Solves ``(H_low + g^2 D_hf) / (V_low + g^2 D_var) = h_ref``
    for g, within [0, most]. A look whose magnified copy already keeps ``enough`` of its
    fraction gets none: a blur (bokeh) stays a blur, and its band, mostly the rims of
    discs, would only print ghost rings.

    The whole variance, not the power inside each 64 px window, is the yardstick: a
    magnification moves power to scales larger than a window, so a window's share of
    fine power would ask for too little detail on a magnified look (marble and wood got
    0.44x and 0.30x of their references' fraction that way, bench/bench_background.py).

    ``refs`` is the reference or the references the background was quilted from: their
    fraction is pooled (power over variance, summed). The look's references differ up to
    2.7x in fine texture (autumn-bokeh), so one drawn reference alone is the wrong
    yardstick for patches that come from three."""
    refs = [refs] if isinstance(refs, np.ndarray) else list(refs)
    each = [_memo(("power", _digest(r)), lambda r=r: _power(r)) for r in refs]
    r_hi, r_var = sum(e[0] for e in each), sum(e[1] for e in each)
    l_hi, _ = band_power(low)
    d_hi, _ = band_power(band)
    l_var, d_var = (float(_luminance(x).var()) for x in (low, band))
    if r_var <= 0 or l_var <= 0:
        return 0.0
    h_ref = r_hi / r_var
    if l_hi / l_var >= enough * h_ref:
        return 0.0
    num, den = h_ref * l_var - l_hi, d_hi - h_ref * d_var
    if num <= 0 or den <= 0:
        return 0.0
    return float(min(np.sqrt(num / den), most))


def _grain_strips(
    ref: np.ndarray, frame_hw: tuple[int, int], k: float, axis: int, seed: int, cfg: SynthConfig
) -> tuple[np.ndarray | None, float]:
    """``quilt_strips`` for a grain look (``axis`` 1: vertical grain, done transposed),
    and the magnification it used: bands run the frame's whole length along the grain, so
    a reference shorter than that is magnified further (up to ``cfg.max_upscale``).
    ``(None, k)`` when it cannot be."""
    r = ref if axis == 0 else ref.transpose(1, 0, 2)
    hw = frame_hw if axis == 0 else frame_hw[::-1]
    k = max(k, hw[1] / r.shape[1])
    if k > cfg.max_upscale:
        return None, min(k, cfg.max_upscale)
    size = (max(int(np.ceil(r.shape[1] * k)), hw[1]), max(int(round(r.shape[0] * k)), 16))
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC
    scaled = (
        np.ascontiguousarray(r)
        if size == r.shape[1::-1]
        else cv2.resize(r, size, interpolation=interp)
    )
    overlap_px = cfg.patch * scaled.shape[0] * cfg.strip_overlap
    out = quilt_strips(
        scaled,
        hw,
        seed,
        cfg.patch,
        cfg.strip_overlap,
        cfg.tolerance,
        max(cfg.feather * overlap_px, 0.5 * k),
    )
    if out is None:
        return None, k
    return (out if axis == 0 else np.ascontiguousarray(out.transpose(1, 0, 2))), k


def detail_band(ref: np.ndarray, k: float, seed: int | None = None) -> np.ndarray:
    """The fine band of ``ref`` that a ``k``-times magnification cannot carry: the
    reference minus its own copy reduced ``k`` times and enlarged back (frequencies above
    1/(2k) cycle per px), float32 ``(h, w, 3)``.

    With a ``seed``, the band's phases are redrawn (one random phase per frequency, shared
    by the three channels) and its amplitude spectrum kept: the same grain, fibres and
    speckle, with the same orientation, colour and power, but without the band's sparse
    structure. Tiles of the band itself, laid at random places, print ghosts of it: a
    bokeh disc's rim as a faint ring, a watercolour wash's edge as a thin arc on white
    paper (both seen at full size)."""
    h, w = ref.shape[:2]

    def plain() -> np.ndarray:
        small = cv2.resize(
            ref, (max(round(w / k), 2), max(round(h / k), 2)), interpolation=cv2.INTER_AREA
        )
        low = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        return ref.astype(np.float32) - low.astype(np.float32)

    if seed is None:
        return plain()
    # The amplitude spectrum depends on the reference and k alone: worked out once per
    # process (a few recent ones kept: they are the reference's size).
    key = (_digest(ref), float(k))
    amp = _SPECTRA.pop(key, None)
    if amp is None:
        amp = np.abs(scipy.fft.rfft2(plain(), axes=(0, 1), workers=_fft_workers()))
        amp[0, 0] = 0.0
        if len(_SPECTRA) >= _SPECTRA_MOST:
            _SPECTRA.pop(next(iter(_SPECTRA)))
    _SPECTRA[key] = amp  # most recent last
    phase = np.random.default_rng(seed).uniform(0.0, 2.0 * np.pi, amp.shape[:2])
    rot = np.exp(1j * phase).astype(np.complex64)[..., None]
    band = scipy.fft.irfft2(amp * rot, s=(h, w), axes=(0, 1), workers=_fft_workers())
    return band.astype(np.float32, copy=False)


def add_detail(out: np.ndarray, band: np.ndarray, seed: int, gain: float = 1.0) -> None:
    """Add ``band`` (``detail_band``) to ``out`` ``(H, W, 3)`` uint8 in place, 1:1 in pixels:
    tiles of half the band's short side drawn from random positions, cross-faded over a
    quarter of their side with weights whose squares sum to 1 (uncorrelated tiles keep
    the band's power at the joins). Worked in row strips, so the float copies stay small
    on a 24 MP photo."""
    H, W = out.shape[:2]
    t = max(min(band.shape[:2]) // 2, 16)
    ov = max(t // 4, 2)
    step = t - ov
    ramp = np.sin(0.5 * np.pi * (np.arange(ov, dtype=np.float32) + 0.5) / ov)
    win1 = np.ones(t, np.float32)
    win1[:ov], win1[t - ov :] = ramp, ramp[::-1]
    win = np.outer(win1, win1)
    n_cols = -(-(W + ov) // step)

    def tile_row(i: int):  # tile row i covers rows [i step - ov, (i + 1) step)
        rng = np.random.default_rng([seed, i])
        ys = rng.integers(band.shape[0] - t + 1, size=n_cols)
        xs = rng.integers(band.shape[1] - t + 1, size=n_cols)
        return i * step - ov, list(zip(ys.tolist(), xs.tolist(), strict=True))

    for i in range(-(-H // step)):  # output strip i: rows [i step, (i + 1) step)
        y0, y1 = i * step, min((i + 1) * step, H)
        num = np.zeros((y1 - y0, W, 3), np.float32)
        den = np.zeros((y1 - y0, W), np.float32)
        for top, picks in (tile_row(i), tile_row(i + 1)):
            a0, a1 = max(top, y0), min(top + t, y1)
            if a0 >= a1:
                continue
            for j, (sy, sx) in enumerate(picks):
                x = j * step - ov
                b0, b1 = max(x, 0), min(x + t, W)
                if b0 >= b1:
                    continue
                wt = win[a0 - top : a1 - top, b0 - x : b1 - x]
                tile = band[sy + a0 - top : sy + a1 - top, sx + b0 - x : sx + b1 - x]
                num[a0 - y0 : a1 - y0, b0:b1] += tile * wt[..., None]
                den[a0 - y0 : a1 - y0, b0:b1] += wt * wt
        num *= gain / np.sqrt(np.maximum(den, 1e-6))[..., None]
        num += out[y0:y1]
        out[y0:y1] = np.clip(num + 0.5, 0, 255).astype(np.uint8)
