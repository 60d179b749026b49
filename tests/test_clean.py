"""On a clean backdrop (``stylecore.segmentation.clean``): the other segmenter's product
pixels that plainly differ from the backdrop join the chosen mask; nothing else changes.

The case is the one measured on real shop photos flattened onto a light-grey gradient:
the U-Net lost the dark bottom strip of a sneaker's sole, which the edge segmenter kept."""

from __future__ import annotations

import cv2
import numpy as np

from stylecore.io.codec import decode_untrusted, encode_image
from stylecore.segmentation.auto import AutoSegmenter
from stylecore.segmentation.base import Mask
from stylecore.segmentation.clean import CleanConfig, clean_cut, clean_union
from stylecore.segmentation.edges import fit_backdrop
from stylecore.segmentation.refine import to_lab

H, W = 480, 640


class _Fixed:
    def __init__(self, alpha: np.ndarray, name: str):
        self.alpha, self.name = alpha.astype(np.float32), name

    def segment(self, image):
        return Mask(self.alpha, 0.99, self.name)


def _gradient(noise: float = 0.0, seed: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    v = 230.0 - 25.0 * yy / H - 10.0 * ((xx - W / 2) / (W / 2)) ** 2
    img = np.repeat(v[..., None], 3, axis=2)
    if noise:
        img += np.random.default_rng(seed).normal(0.0, noise, img.shape)
    return img


def _sneaker(noise: float = 0.0):
    """A grey upper with a dark sole strip below it, flattened onto a clean light-grey
    gradient. Returns (photo, truth, sole)."""
    img = _gradient(noise)
    truth = np.zeros((H, W), np.uint8)
    cv2.ellipse(truth, (320, 220), (170, 70), 0, 0, 360, 1, -1)
    upper = truth > 0
    sole = np.zeros((H, W), np.uint8)
    cv2.rectangle(sole, (170, 280), (470, 296), 1, -1)
    sole = (sole > 0) & ~upper
    img[upper] = (120, 122, 128)
    img[sole] = (40, 40, 44)
    truth = upper | sole
    return np.clip(img, 0, 255).astype(np.uint8), truth, sole


def test_the_other_masks_plainly_different_strip_joins():
    photo, truth, sole = _sneaker()
    chosen = (truth & ~sole).astype(np.float32)
    joined = clean_union(photo, chosen, truth.astype(np.float32))
    assert joined is not None
    got = joined >= 0.5
    assert got[sole].mean() > 0.95
    assert (got & ~truth).sum() == 0  # nothing outside the truth joined
    assert (got & truth).sum() >= 0.999 * truth.sum()  # the opening rounds the corners


def test_a_noisy_backdrop_is_left_alone():
    photo, truth, sole = _sneaker(noise=4.0)
    chosen = (truth & ~sole).astype(np.float32)
    assert clean_union(photo, chosen, truth.astype(np.float32)) is None


def test_nothing_is_taken_away_and_backdrop_coloured_parts_do_not_join():
    """A face of the backdrop's own colour, which the other mask leaves out, stays in the
    chosen mask; a part of the other mask of the backdrop's colour does not join."""
    photo, truth, _ = _sneaker()
    face = np.zeros((H, W), bool)
    face[170:210, 260:380] = True  # a top face painted the gradient's colour there
    face &= truth
    photo[face] = _gradient()[face].astype(np.uint8)
    other = truth & ~face
    other_extra = np.zeros((H, W), bool)
    other_extra[300:340, 250:390] = True  # backdrop the other mask took in, below the sole
    chosen = truth.astype(np.float32)
    joined = clean_union(photo, chosen, (other | other_extra).astype(np.float32))
    got = chosen if joined is None else joined
    assert (got >= 0.5)[face].all()
    assert not (got >= 0.5)[other_extra & ~truth].any()


def test_known_backdrop_never_joins():
    photo, truth, sole = _sneaker()
    chosen = (truth & ~sole).astype(np.float32)
    assert clean_union(photo, chosen, truth.astype(np.float32), backdrop=sole) is None


def test_the_other_masks_anti_aliased_rim_does_not_join():
    """A one-pixel ring of mixed pixels around the other mask's outline is its rim, not
    a product part."""
    photo, truth, _ = _sneaker()
    ring = (cv2.dilate(truth.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & ~truth
    photo[ring] = (photo[ring].astype(np.float32) * 0.6 + 40).astype(np.uint8)  # a dark rim
    other = truth | ring
    assert clean_union(photo, truth.astype(np.float32), other.astype(np.float32)) is None


def test_auto_joins_the_strip_and_says_so():
    photo, truth, sole = _sneaker()
    unet, edge = _Fixed(truth & ~sole, "unet"), _Fixed(truth, "edge")
    mask = AutoSegmenter(unet, edge).segment(photo)
    assert (mask.alpha >= 0.5)[sole].mean() > 0.95
    assert mask.signals["clean_join"] > 0.05
    off = AutoSegmenter(unet, edge, clean=CleanConfig(enabled=False)).segment(photo)
    assert (off.alpha >= 0.5)[sole].mean() < 0.05
    assert "clean_join" not in off.signals


def test_a_soft_cast_shadow_the_other_mask_kept_does_not_join():
    """A contact shadow (the backdrop darkened, with a soft outer rim) that the other
    segmenter took in stays out: on held-out renders the first version joined them."""
    photo, truth, _ = _sneaker()
    shadow = np.zeros((H, W), np.float32)
    cv2.ellipse(shadow, (320, 300), (190, 22), 0, 0, 360, 1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 7) * ~truth
    img = photo.astype(np.float32) * (1.0 - 0.55 * shadow[..., None])
    photo = np.clip(img, 0, 255).astype(np.uint8)
    other = truth | (shadow > 0.3)
    joined = clean_union(photo, truth.astype(np.float32), other.astype(np.float32))
    assert other.sum() > truth.sum() * 1.05  # the other mask did keep the shadow
    assert joined is None or ((joined >= 0.5) & ~truth).sum() < 0.002 * truth.sum()


def _white_tray(rim=15.0):
    """A white tray on the clean light-grey gradient whose light bevel (8 px, about 6 L*
    above the backdrop) both segmenters lost, as on the held-out renders flattened onto
    grey (a mug's rim, a watch strap's edge). ``rim`` is added to the bevel's RGB (a
    number, or one row per bevel pixel). Returns (photo, truth, bevel)."""
    img = _gradient()
    truth = np.zeros((H, W), bool)
    truth[150:330, 180:460] = True
    core = np.zeros((H, W), bool)
    core[158:322, 188:452] = True
    bevel = truth & ~core
    img[core] = (150, 152, 156)
    img[bevel] += rim
    return np.clip(img, 0, 255).astype(np.uint8), truth, bevel


def test_a_faint_light_edge_both_segmenters_lost_joins():
    photo, truth, bevel = _white_tray()
    core = (truth & ~bevel).astype(np.float32)
    joined = clean_union(photo, core, core)
    assert joined is not None
    got = joined >= 0.5
    assert got[bevel].mean() > 0.9
    assert (got & ~truth).sum() < 0.002 * truth.sum()
    off = clean_union(photo, core, core, CleanConfig(grow_delta=0.0))
    assert off is None  # the other mask vouches for nothing: only the grow finds it


def test_a_cream_rim_whose_lightness_wavers_joins_by_its_colour():
    """A cream mug's rim on the grey gradient, as both segmenters lost it on the 1600 px
    renders flattened onto grey: darker than the backdrop by 3.3 L* at the median but by
    under 3 on 40% of its pixels (JPEG and shading), and about 5 Delta-E from it in
    colour throughout. By L* alone the strip breaks into pieces the opening removes (a
    cream mug on paper: 1.4% of the product restyled); with ``grow_lab`` (off by default:
    see ``clean``) it joins whole, by its Delta-E."""
    rng = np.random.default_rng(0)
    dark = rng.uniform(-14.0, -4.0, 180 * 280 - 164 * 264)  # one per bevel pixel
    warm = np.stack([dark + 2.0, dark, dark - 10.0], axis=1)  # warmer, and darker
    photo, truth, rim = _white_tray(warm)
    core = truth & ~rim
    model, _, _ = fit_backdrop(to_lab(photo), 0.015)
    d = to_lab(photo) - model
    assert 0.3 < (np.abs(d[..., 0])[rim] < 3.0).mean() < 0.5
    assert np.linalg.norm(d, axis=-1)[rim].min() > 4.0
    c = core.astype(np.float32)
    joined = clean_union(photo, c, c, CleanConfig(grow_lab=True))
    assert joined is not None
    got = joined >= 0.5
    assert got[rim].mean() > 0.95
    assert (got & ~truth).sum() < 0.002 * truth.sum()
    by_lightness = clean_union(photo, c, c)
    assert by_lightness is None or (by_lightness >= 0.5)[rim].mean() < 0.1


def test_a_soft_light_glow_beside_the_product_does_not_join():
    """Backdrop lit brighter beside the product (a soft glow with no edge of its own, as
    narrow as the bevel) differs from the backdrop model as much as the bevel, but its
    rim is soft. Without the crisp-rim test 1,968 px of it join."""
    photo, truth, _ = _white_tray()
    glow = np.zeros((H, W), np.float32)
    glow[150:330, 460:470] = 1.0
    glow = cv2.GaussianBlur(glow, (0, 0), 4) * ~truth
    photo = np.clip(photo.astype(np.float32) + 25.0 * glow[..., None], 0, 255).astype(np.uint8)
    t = truth.astype(np.float32)
    for cfg, joins in ((CleanConfig(), False), (CleanConfig(crisp_share=0.0), True)):
        joined = clean_union(photo, t, t, cfg)
        extra = 0 if joined is None else int(((joined >= 0.5) & ~truth).sum())
        assert (extra > 0.01 * truth.sum()) == joins


def test_a_colour_fringe_at_the_backdrops_lightness_does_not_join():
    """JPEG's halved chroma smears a saturated product's colour past its edge at the
    backdrop's lightness: it differs from the model in colour, not in L*."""
    img = _gradient()
    truth = np.zeros((H, W), bool)
    truth[150:330, 180:460] = True
    img[truth] = (200, 40, 30)
    fringe = (cv2.dilate(truth.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0) & ~truth
    lab = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2Lab)
    lab[fringe, 1] = np.clip(lab[fringe, 1].astype(int) + 14, 0, 255)  # redder, same L*
    photo = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    model, _, _ = fit_backdrop(to_lab(photo), 0.015)
    assert np.linalg.norm(to_lab(photo) - model, axis=-1)[fringe].mean() > 10.0  # in colour
    t = truth.astype(np.float32)
    assert clean_union(photo, t, t) is None
    # joined by Delta-E (``grow_lab``) the fringe still has no crisp L* rim
    assert clean_union(photo, t, t, CleanConfig(grow_lab=True)) is None


def test_a_far_reaching_part_the_other_mask_calls_backdrop_does_not_join():
    """Only strips along the outline join on the backdrop's word alone: a crisp part
    reaching far from the mask is left to the segmenters and the check."""
    photo, truth, _ = _white_tray()
    block = np.zeros((H, W), bool)
    block[200:280, 460:600] = True  # 140 px out from the mask, crisp-edged
    photo[block] = (150, 152, 156)
    t = truth.astype(np.float32)
    joined = clean_union(photo, t, t)
    assert joined is None or not (joined >= 0.5)[block].any()
    unbounded = clean_union(photo, t, t, CleanConfig(grow_reach=1.0, max_jut=0.0))
    assert unbounded is not None and (unbounded >= 0.5)[block].mean() > 0.9


def _heel():
    """A white product on the clean gradient whose rounded end both segmenters lost: its
    face is the backdrop's colour to within 1 L*, and only its rim (3 px, 8 L* darker, a
    crisp line) differs, as a white heel's on the held-out renders flattened onto white
    and grey. Returns (photo, truth, end)."""
    img = _gradient()
    truth = np.zeros((H, W), bool)
    truth[150:330, 180:400] = True
    truth[200:280, 400:410] = True  # the end, 10 px deep
    end = truth.copy()
    end[:, :400] = False
    img[truth & ~end] = (150, 152, 156)
    inner = cv2.erode(truth.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    img[end & ~inner] -= 20.0  # the rim: a crisp darker line
    img[end & inner] += 2.0  # the face: the backdrop's colour
    return np.clip(img, 0, 255).astype(np.uint8), truth, end


def test_what_a_lost_rim_closes_in_joins_with_it():
    """Only the rim of the lost end differs from the backdrop; the strip it makes along
    the outline closes the face in against the mask, and the face joins with it. Without
    the fill (``strip_fill`` 0) the rim joins and the face between stays backdrop."""
    photo, truth, end = _heel()
    core = (truth & ~end).astype(np.float32)
    got = clean_union(photo, core, core) >= 0.5
    assert got[end].mean() > 0.95
    assert (got & ~truth).sum() < 0.002 * truth.sum()
    rim_only = clean_union(photo, core, core, CleanConfig(strip_fill=0.0)) >= 0.5
    assert 0.05 < rim_only[end].mean() < 0.5


def test_a_fleck_jutting_out_from_the_mask_does_not_join():
    """A crisp, darker part 3 px wide reaching 11 px straight out from the outline, as the
    see-through plastic of a clear network plug on white did: it joined as a strip and
    printed as a white fleck on the new background. It reaches out 1.6x as far as it runs
    along the outline (the 7 outline px within 2 px of it; ``max_jut`` 1.2); with
    ``max_jut`` 0 it joins."""
    photo, truth, _ = _white_tray()
    fleck = np.zeros((H, W), bool)
    fleck[239:242, 460:471] = True
    img = photo.astype(np.float32)
    img[fleck] -= 25.0
    photo = np.clip(img, 0, 255).astype(np.uint8)
    t = truth.astype(np.float32)
    joined = clean_union(photo, t, t)
    assert joined is None or not (joined >= 0.5)[fleck].any()
    off = clean_union(photo, t, t, CleanConfig(max_jut=0.0))
    assert off is not None and (off >= 0.5)[fleck].mean() > 0.8


def _glossy_top(lift: float = 8.0):
    """A dark product on the clean gradient whose glossy top (an ellipse cap, ``lift``
    RGB levels above the backdrop: about 3 L*) ends in a crisp edge. The U-Net lost the
    cap, as it bit a real mouse's white top on light grey; the edge segmenter kept it.
    Returns (photo, truth, cap)."""
    img = _gradient()
    truth = np.zeros((H, W), np.uint8)
    cv2.ellipse(truth, (320, 260), (200, 110), 0, 0, 360, 1, -1)
    truth = truth > 0
    body = truth.copy()
    body[:200] = False
    cap = truth & ~body
    img[body] = (70, 66, 62)
    img[cap] += lift
    return np.clip(img, 0, 255).astype(np.uint8), truth, cap


def test_a_faintly_different_part_of_the_other_mask_with_a_crisp_rim_joins():
    photo, truth, cap = _glossy_top()
    model, _, _ = fit_backdrop(to_lab(photo), 0.015)
    d = np.linalg.norm(to_lab(photo) - model, axis=-1)[cap]
    assert 1.5 < np.median(d) < 6.0  # neither plain (6) nor a strip's 3 L* everywhere
    body = (truth & ~cap).astype(np.float32)
    joined = clean_union(photo, body, truth.astype(np.float32))
    assert joined is not None and (joined >= 0.5)[cap].mean() > 0.95
    off = clean_union(photo, body, truth.astype(np.float32), CleanConfig(faint_delta=0.0))
    assert off is None or (off >= 0.5)[cap].mean() < 0.2
    # a part under ``faint_min_px`` of the frame stays out (the cap is 3.8% of it)
    small = CleanConfig(faint_min_px=0.05)
    tiny = clean_union(photo, body, truth.astype(np.float32), small)
    assert tiny is None or (tiny >= 0.5)[cap].mean() < 0.2


def test_what_a_faint_part_closes_in_joins_with_it():
    """A pocket of the glossy top exactly the backdrop's colour (a reflection of it),
    between the top and the body, which both segmenters left out: the faint part around
    it closes it in, and it joins with the part (``strip_fill``), as on the mouse beside
    its scroll wheel."""
    photo, truth, cap = _glossy_top()
    pocket = np.zeros((H, W), np.uint8)
    cv2.ellipse(pocket, (320, 196), (30, 8), 0, 0, 360, 1, -1)
    pocket = (pocket > 0) & cap
    photo[pocket] = _gradient().astype(np.uint8)[pocket]
    body = (truth & ~cap).astype(np.float32)
    other = (truth & ~pocket).astype(np.float32)
    got = clean_union(photo, body, other) >= 0.5
    assert got[pocket].mean() > 0.95 and got[cap & ~pocket].mean() > 0.95
    open_pocket = clean_union(photo, body, other, CleanConfig(strip_fill=0.0)) >= 0.5
    assert open_pocket[pocket].mean() < 0.5


def test_backdrop_coloured_part_of_the_other_mask_does_not_join_on_a_crisp_rim():
    """A region the other segmenter kept beside the product that is the backdrop's colour
    to the noise, bounded away from the product by a crisp dark line (a crease in the
    paper): its rim is crisp, but it differs from the backdrop by less than
    ``faint_delta``. With that floor at 0 it joins."""
    img = _gradient()
    truth = np.zeros((H, W), bool)
    truth[150:330, 180:400] = True
    img[truth] = (90, 60, 40)
    beside = np.zeros((H, W), bool)
    beside[200:280, 400:440] = True
    crease = (cv2.dilate(beside.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0) & ~beside
    crease &= ~truth
    img[crease] -= 40.0
    photo = np.clip(img, 0, 255).astype(np.uint8)
    t, other = truth.astype(np.float32), (truth | beside).astype(np.float32)
    joined = clean_union(photo, t, other)
    assert joined is None or (joined >= 0.5)[beside].mean() < 0.05
    floor = CleanConfig(faint_delta=0.01, faint_noise_k=0.0)
    assert (clean_union(photo, t, other, floor) >= 0.5)[beside].mean() > 0.9


def _stool(noise: float = 0.0, white: bool = False):
    """A light wooden stool (seat, two legs, a rail) on the clean gradient (or on clipped
    white): one segmenter kept the wall between its legs, the other did not. Returns
    (photo, truth, wall)."""
    img = np.full((H, W, 3), 255.0) if white else _gradient(noise)
    truth = np.zeros((H, W), bool)
    truth[100:130, 200:440] = True  # seat
    truth[130:420, 210:240] = True  # legs
    truth[130:420, 400:430] = True
    truth[300:315, 240:400] = True  # rail
    img[truth] = (196, 180, 150)
    wall = np.zeros((H, W), bool)
    wall[130:420, 240:400] = True
    wall &= ~truth
    return np.clip(img, 0, 255).astype(np.uint8), truth, wall


def test_the_wall_between_legs_is_cut_where_the_other_mask_sees_backdrop():
    photo, truth, wall = _stool()
    kept = (truth | wall).astype(np.float32)
    cut = clean_cut(photo, kept, truth.astype(np.float32))
    assert cut is not None
    got = cut >= 0.5
    assert got[wall].mean() < 0.02
    assert got[truth].all()  # no product pixel is cut
    assert clean_cut(photo, kept, truth.astype(np.float32), CleanConfig(cut=False)) is None


def test_nothing_is_cut_on_a_noisy_backdrop():
    """On a noisy backdrop nothing follows the model to the noise."""
    photo, truth, wall = _stool(noise=4.0)
    kept = (truth | wall).astype(np.float32)
    assert clean_cut(photo, kept, truth.astype(np.float32)) is None


def test_on_clipped_white_only_a_bay_with_a_crisp_rim_is_cut():
    """On clipped white a white product part cannot be told from the backdrop by its
    colour. A bay is cut all the same: the wall below the stool's rail, open to the
    backdrop round the other mask and rimmed by the wood (as the real stool cut out onto
    white: 1 - IoU 0.12 -> 0.02). The wall enclosed by the seat, the legs and the rail is a
    hole the other mask keeps, left to ``auto``'s clear-hole rule; with ``cut_clipped``
    off nothing is cut."""
    photo, truth, wall = _stool(white=True)
    kept = (truth | wall).astype(np.float32)
    cut = clean_cut(photo, kept, truth.astype(np.float32))
    assert cut is not None
    got = cut >= 0.5
    below = wall & (np.arange(H)[:, None] > 318)
    above = wall & (np.arange(H)[:, None] < 297)
    assert got[below].mean() < 0.02
    assert got[above].all()
    assert got[truth].all()
    off = CleanConfig(cut_clipped=False)
    assert clean_cut(photo, kept, truth.astype(np.float32), off) is None


def test_on_clipped_white_a_lit_part_that_fades_into_the_product_stays():
    """A white product's blown-out part on clipped white, open to the backdrop: the other
    segmenter, which sees only what differs from the backdrop, loses it, and it meets the
    rest of the product through shading, not an edge (a white sleeve on a white shirt).
    It is not cut; with no rim test it would be, and parted from the body by a dark seam
    it is a bay, and is cut."""
    img = np.full((H, W, 3), 255.0)
    body = np.zeros((H, W), bool)
    body[120:400, 220:420] = True
    xx = np.mgrid[0:H, 0:W][1]
    # the body's light falls off to the right, from the clipped white of the sleeve
    shade = np.clip((xx - 220) / 60.0, 0.0, 1.0)[..., None]
    img[body] = (255 - shade * 45)[body] * np.ones(3)
    sleeve = np.zeros((H, W), bool)
    sleeve[150:300, 120:222] = True
    product = (body | sleeve).astype(np.float32)

    def cut(photo, cfg=None):
        lab = to_lab(photo)
        other = (np.linalg.norm(lab - np.float32([100, 0, 0]), axis=-1) > 1.5) & (product > 0)
        assert other[sleeve].mean() < 0.05  # it lost the sleeve
        return clean_cut(photo, product, other.astype(np.float32), cfg)

    photo = decode_untrusted(encode_image(img.astype(np.uint8), "jpg", 90)).image[..., :3]
    got = cut(photo)
    assert got is None or (got >= 0.5)[sleeve].mean() > 0.98
    assert (cut(photo, CleanConfig(clip_rim_share=0.0)) >= 0.5)[sleeve].mean() < 0.1
    img[150:300, 222:232] = 60  # a dark seam
    photo = decode_untrusted(encode_image(img.astype(np.uint8), "jpg", 90)).image[..., :3]
    got = cut(photo)
    assert got is not None and (got >= 0.5)[sleeve].mean() < 0.1


def test_auto_cuts_after_the_verdict():
    """The cut tidies the mask the check judged: every signal but ``clean_cut`` is the
    uncut mask's, so the cut cannot make a doubtful mask pass."""
    photo, truth, wall = _stool()
    unet, edge = _Fixed(truth | wall, "unet"), _Fixed(truth, "edge")
    on = AutoSegmenter(unet, edge).segment(photo)
    off = AutoSegmenter(unet, edge, clean=CleanConfig(cut=False)).segment(photo)
    assert (on.alpha >= 0.5)[wall].mean() < 0.02
    below = wall & (np.arange(H)[:, None] > 315)  # open below the rail: no hole rule takes it
    assert (off.alpha >= 0.5)[below].mean() > 0.98
    assert on.signals["clean_cut"] > 0.3
    assert {k: v for k, v in on.signals.items() if k != "clean_cut"} == off.signals


class _Redrawn(_Fixed):
    """A network segmenter whose outline redrawn at a finer size (``segment_both``) is
    given: the U-Net's 384 px redraw."""

    def __init__(self, alpha: np.ndarray, fine: np.ndarray):
        super().__init__(alpha, "unet")
        self.fine = fine.astype(np.float32)

    def segment_both(self, image):
        return self.segment(image), Mask(self.fine, 0.99, self.name)


def test_the_finer_outline_takes_out_nothing_that_plainly_differs_from_a_clean_backdrop():
    """As on a real sneaker flattened onto grey: the U-Net's 256 px mask and the edge
    mask had the light tread between the sole's dark lines, the outline redrawn at 384 px
    cut it off, and it was restyled (1.0% of the shoe). On a clean backdrop the redraw
    takes out nothing plainly different from the backdrop; elsewhere it still moves the
    outline as before."""
    img = _gradient()
    sole = np.zeros((H, W), bool)
    sole[200:300, 150:500] = True
    img[sole] = (45, 45, 48)
    tread = np.zeros((H, W), bool)
    for y in (282, 290):
        tread[y : y + 5, 160:490] = True  # light rubber between dark lines, by the edge
    img[tread] = (150, 150, 150)
    fine = sole & ~(np.arange(H)[:, None] >= 280)  # the redraw lost the tread rows
    photo = np.clip(img, 0, 255).astype(np.uint8)
    auto = AutoSegmenter(_Redrawn(sole, fine), _Fixed(sole, "edge"))
    got = auto.segment(photo).alpha >= 0.5
    assert got[tread].all()
    # on a noisy backdrop the finer outline stands, as before
    noisy = np.clip(img + np.random.default_rng(1).normal(0, 6, img.shape), 0, 255)
    moved = auto.segment(noisy.astype(np.uint8)).alpha >= 0.5
    assert not moved[tread].any()


def test_the_finer_outline_adds_no_island():
    """As on a real pendant lamp on teal paper: the U-Net kept the glow under the shade as
    a blob of its own, the spill trim took it away, and the outline redrawn at 384 px put
    back the finer mask's rim of that blob as slivers apart from the lamp (five, 107-666
    px), printed as teal streaks on every look. The redraw moves the outline; it adds no
    part the mask did not have, not even a faint one, and still moves the outline it has."""
    img = _gradient(noise=6.0)
    lamp = np.zeros((H, W), bool)
    lamp[100:260, 200:440] = True
    img[lamp] = (70, 60, 50)
    fine = lamp.astype(np.float32)
    fine[258:262, 200:440] = 1.0  # the finer outline, 2 px lower along the bottom
    fine[330:336, 180:460] = 1.0  # a sliver of the trimmed glow's rim, apart from it
    fine[400:420, 100:130] = 0.45  # and a faint ring of it (printed as a dark speck)
    photo = np.clip(img, 0, 255).astype(np.uint8)
    alpha = AutoSegmenter(_Redrawn(lamp, fine), _Fixed(lamp, "edge")).segment(photo).alpha
    assert alpha[330:336].max() == 0.0 and alpha[400:420, 100:130].max() == 0.0
    assert (alpha[258:262, 210:430] >= 0.5).all()
