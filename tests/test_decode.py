import numpy as np
import pytest

from stylecore.io.codec import DecodeError, DecodeLimits, decode_untrusted
from tests.corpus import _photo, bad_files, good_files

GOOD = good_files()
BAD = bad_files()


@pytest.mark.parametrize("name", sorted(GOOD))
def test_awkward_but_valid_files_decode_upright(name):
    data, (h, w) = GOOD[name]
    d = decode_untrusted(data)
    assert d.image.dtype == np.uint8 and d.image.ndim == 3 and d.image.shape[2] in (3, 4)
    assert d.image.shape[:2] == (h, w)


def test_exif_orientation_is_applied():
    rgb = _photo().astype(np.float32)
    for name, expected in [
        ("exif-3.jpg", np.rot90(rgb, 2)),
        ("exif-6.jpg", np.rot90(rgb, -1)),
        ("exif-8.jpg", np.rot90(rgb, 1)),
    ]:
        d = decode_untrusted(GOOD[name][0])
        err = np.abs(d.image.astype(np.float32) - expected).mean()
        wrong = np.abs(d.image.astype(np.float32) - np.rot90(expected, 2)).mean()
        assert err < 6 < wrong, name


def test_format_is_sniffed_and_modes_are_reported():
    assert decode_untrusted(GOOD["png-named.jpg"][0]).format == "PNG"
    assert decode_untrusted(GOOD["cmyk.jpg"][0]).mode == "CMYK"
    gif = decode_untrusted(GOOD["animated.gif"][0])
    assert gif.frames == 3
    assert decode_untrusted(GOOD["palette-transparent.png"][0]).image.shape[2] == 4
    # 16-bit scales down to 8-bit, not clipped to white
    assert 40 < decode_untrusted(GOOD["png16.png"][0]).image.mean() < 250


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_files_raise_a_named_error(name):
    data, kind = BAD[name]
    with pytest.raises(DecodeError) as e:
        decode_untrusted(data)
    assert e.value.kind == kind
    assert str(e.value)


def test_limits_are_configurable():
    data, _ = GOOD["gray.png"]
    with pytest.raises(DecodeError, match="over the limit"):
        decode_untrusted(data, DecodeLimits(max_pixels=1000))
    with pytest.raises(DecodeError, match="under the minimum"):
        decode_untrusted(data, DecodeLimits(min_side=100))
