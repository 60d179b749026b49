"""Thin parts a mask lost (cords, laces) are added back; lines of the backdrop are not."""

import cv2
import numpy as np

from stylecore.segmentation.base import Mask
from stylecore.segmentation.thin import add_thin_parts, ridges

H, W = 600, 800


def _backdrop(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy = np.linspace(0, 1, H)[:, None, None]
    img = 150 + 20 * yy + rng.normal(0, 1.5, (H, W, 1))  # a grey sweep with sensor noise
    return np.clip(np.repeat(img, 3, axis=2), 0, 255).astype(np.uint8)


def _product(img: np.ndarray) -> np.ndarray:
    """A dark box (the product) in the middle; returns its mask."""
    cv2.rectangle(img, (300, 250), (500, 400), (40, 45, 50), -1)
    m = np.zeros((H, W), np.float32)
    m[250:401, 300:501] = 1.0
    return m


def _mask(alpha: np.ndarray) -> Mask:
    return Mask(alpha.astype(np.float32), 0.9, "unet")


def test_a_cord_leaving_the_product_is_added_and_nothing_else():
    img = _backdrop()
    alpha = _product(img)
    cv2.line(img, (400, 0), (400, 249), (235, 235, 235), 3)  # a light cord from the top edge
    out = add_thin_parts(_mask(alpha), ridges(img)).alpha
    cord = out[20:240, 399:402]
    assert (cord >= 0.5).mean() > 0.95, (cord >= 0.5).mean()
    added = (out >= 0.5) & (alpha < 0.5)
    assert added[:, :390].sum() == 0 and added[:, 410:].sum() == 0  # only the cord
    assert np.array_equal(out[alpha >= 0.5], alpha[alpha >= 0.5])  # the product as it was


def test_a_contact_line_and_a_backdrop_of_lines_are_not_added():
    # a dark contact line along the product's base: it hugs the outline
    img = _backdrop(1)
    alpha = _product(img)
    cv2.line(img, (300, 402), (500, 402), (90, 90, 90), 2)
    out = add_thin_parts(_mask(alpha), ridges(img)).alpha
    assert np.array_equal(out, alpha)
    # plank joints: dark lines across the whole frame, one of them through the product
    img = _backdrop(2)
    for y in (60, 180, 320, 470, 560):
        cv2.line(img, (0, y), (W - 1, y), (100, 100, 100), 2)
    alpha = _product(img)
    assert ridges(img).line[320, 100]  # the joints are ridges ...
    out = add_thin_parts(_mask(alpha), ridges(img)).alpha
    assert np.array_equal(out, alpha)  # ... of the backdrop's own
