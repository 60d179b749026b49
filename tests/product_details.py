"""Renders of the product details that real shop photos lost to the background before
the hole rule: a knit's light yarn, a dial's red digits, a printed logo on a white stein
(with a handle whose inside is a real hole), and a coloured swoosh that runs out through
a dark shoe's outline. Each returns ``(rgb uint8, true product mask)``, JPEG q90 on a
light sweep with sensor noise, at 1200 x 900."""

from __future__ import annotations

import cv2
import numpy as np

H, W = 900, 1200


def _backdrop(rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    light = 1 - 0.05 * ((yy / H - 0.3) ** 2 + (xx / W - 0.5) ** 2)
    base = np.array([244, 244, 242], np.float32)[None, None] * light[..., None]
    return base + rng.normal(0, 1.2, (H, W, 1))


def _jpeg(img: np.ndarray) -> np.ndarray:
    bgr = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _shaded(colour, rng: np.random.Generator, grain: float) -> np.ndarray:
    yy = np.mgrid[0:H, 0:W][0].astype(np.float32)
    light = 0.9 + 0.15 * (1 - yy / H)
    return np.array(colour, np.float32)[None, None] * light[..., None] + rng.normal(
        0, grain, (H, W, 1)
    )


def _paint(layers, mask: np.ndarray, rng: np.random.Generator):
    img = _backdrop(rng)
    for where, pixels in layers:
        img = np.where(where[..., None] > 0, pixels, img)
    return _jpeg(img), mask.astype(bool)


def knit_vest(seed: int = 0):
    """Navy knit with rows of cream diamonds: yarn nearly the backdrop's colour, with a
    knit's texture."""
    rng = np.random.default_rng(seed)
    m = np.zeros((H, W), np.uint8)
    outline = [[420, 120], [520, 120], [600, 230], [680, 120], [780, 120], [830, 260]]
    outline += [[800, 800], [400, 800], [370, 260]]
    cv2.fillPoly(m, [np.array(outline)], 1)
    pattern = np.zeros((H, W), np.uint8)
    for cy in range(300, 780, 70):
        for cx in range(420, 800, 60):
            diamond = np.array([[cx, cy - 22], [cx + 16, cy], [cx, cy + 22], [cx - 16, cy]])
            cv2.fillPoly(pattern, [diamond], 1)
    pattern &= cv2.erode(m, np.ones((15, 15), np.uint8))
    xx = np.mgrid[0:H, 0:W][1]
    yarn = np.array([240, 238, 232], np.float32)[None, None] + rng.normal(0, 6, (H, W, 1))
    yarn = yarn + 6 * np.sin(xx * 1.3)[..., None]
    return _paint([(m, _shaded((40, 50, 90), rng, 4)), (pattern, yarn)], m, rng)


def dial(seed: int = 1):
    """A black watch face with red digits and rings."""
    rng = np.random.default_rng(seed)
    m = np.zeros((H, W), np.uint8)
    cv2.circle(m, (600, 450), 300, 1, -1)
    cv2.rectangle(m, (540, 60), (660, 160), 1, -1)
    cv2.rectangle(m, (540, 740), (660, 840), 1, -1)
    red = np.zeros((H, W), np.uint8)
    for k in range(12):
        a = k * np.pi / 6
        at = (int(580 + 220 * np.sin(a)), int(470 - 220 * np.cos(a)))
        cv2.putText(red, str(k or 12), at, cv2.FONT_HERSHEY_DUPLEX, 1.6, 1, 4)
    cv2.circle(red, (600, 450), 260, 1, 5)
    cv2.circle(red, (600, 450), 120, 1, 3)
    ink = np.broadcast_to(np.array([215, 30, 35], np.float32), (H, W, 3))
    return _paint([(m, _shaded((18, 18, 22), rng, 2)), (red, ink)], m, rng)


def stein(seed: int = 2):
    """A cream stein with a printed red-brown logo and a handle. The inside of the handle
    is backdrop: the true mask has a hole there. Also returns the logo's pixels."""
    rng = np.random.default_rng(seed)
    m = np.zeros((H, W), np.uint8)
    cv2.rectangle(m, (430, 180), (770, 800), 1, -1)
    cv2.ellipse(m, (600, 800), (170, 30), 0, 0, 180, 1, -1)
    cv2.ellipse(m, (780, 480), (110, 170), 0, -90, 90, 1, 40)
    xx = np.mgrid[0:H, 0:W][1]
    body = _shaded((236, 232, 222), rng, 2) * (0.82 + 0.2 * np.cos((xx - 600) / 200.0))[..., None]
    logo = np.zeros((H, W), np.uint8)
    cv2.putText(logo, "BREW", (455, 470), cv2.FONT_HERSHEY_TRIPLEX, 2.8, 1, 9)
    ink = np.broadcast_to(np.array([150, 40, 30], np.float32), (H, W, 3))
    img, mask = _paint([(m, body), (logo, ink)], m, rng)
    return img, mask, logo.astype(bool)


def swoosh_shoe(seed: int = 3):
    """A black shoe with a grey sole and a red swoosh that runs out through the outline."""
    rng = np.random.default_rng(seed)
    m = np.zeros((H, W), np.uint8)
    cv2.ellipse(m, (600, 560), (380, 150), 0, 180, 360, 1, -1)
    cv2.rectangle(m, (220, 560), (980, 640), 1, -1)
    sole = np.zeros((H, W), np.uint8)
    cv2.rectangle(sole, (220, 610), (980, 640), 1, -1)
    swoosh = np.zeros((H, W), np.uint8)
    cv2.ellipse(swoosh, (640, 500), (300, 110), -8, 10, 175, 1, 30)
    swoosh &= m & (1 - sole)
    red = np.broadcast_to(np.array([225, 40, 40], np.float32), (H, W, 3))
    grey = np.array([200, 200, 196], np.float32)[None, None] + rng.normal(0, 2, (H, W, 1))
    layers = [(m, _shaded((30, 30, 34), rng, 3)), (swoosh, red), (sole, grey)]
    return (*_paint(layers, m, rng), swoosh.astype(bool))
