import numpy as np
import pytest

from stylecore.io.codec import DecodeError, DecodeLimits, decode_untrusted
from tests.corpus import bad_files, good_files, sample_photo

GOOD = good_files()
BAD = bad_files()


@pytest.mark.parametrize("name", sorted(GOOD))
def test_awkward_but_valid_files_decode_upright(name):
    data, (h, w) = GOOD[name]
    d = decode_untrusted(data)
    assert d.image.dtype == np.uint8 and d.image.ndim == 3 and d.image.shape[2] in (3, 4)
    assert d.image.shape[:2] == (h, w)


def test_exif_orientation_is_applied():
    rgb = sample_photo().astype(np.float32)
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


def _icc_profile(gamma: float, name: str) -> bytes:
    """A minimal ICC v2 RGB display profile: sRGB's primaries (D50-adapted) and white,
    with a pure power-law tone curve of ``gamma`` (1.0 = linear light)."""
    import struct

    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(x, y, z) -> bytes:
        return b"XYZ " + b"\0" * 4 + s15(x) + s15(y) + s15(z)

    def pad(b: bytes) -> bytes:
        return b + b"\0" * (-len(b) % 4)

    ascii_name = name.encode() + b"\0"
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", len(ascii_name)) + ascii_name
    desc += b"\0" * 8 + b"\0" * 3 + b"\0" * 67
    curve = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, round(gamma * 256))
    tags = [
        (b"desc", pad(desc)),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.4361, 0.2225, 0.0139)),
        (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)),
        (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", pad(curve)),
        (b"gTRC", pad(curve)),
        (b"bTRC", pad(curve)),
        (b"cprt", pad(b"text" + b"\0" * 4 + b"test\0")),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = struct.pack(">I", size) + b"\0" * 4 + struct.pack(">I", 0x02100000)
    header += b"mntrRGB XYZ " + b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0)
    header += s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 48
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def _encode_with_profile(rgb: np.ndarray, fmt: str, icc: bytes | None) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    extra = {"icc_profile": icc} if icc else {}
    Image.fromarray(rgb).save(buf, fmt, quality=98, **extra)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_embedded_colour_profiles_become_srgb(fmt):
    """Pixels stored in linear light with a profile that says so come out sRGB-encoded
    (128 -> 188); an sRGB profile, or none, leaves the bytes as they are."""
    grey = np.full((32, 48, 3), 128, np.uint8)
    grey[:, :16] = (200, 60, 40)
    d = decode_untrusted(_encode_with_profile(grey, fmt, _icc_profile(1.0, "Linear RGB test")))
    assert d.colour_profile == "Linear RGB test -> sRGB"
    v = d.image[:, 24:].reshape(-1, 3).mean(axis=0)
    assert np.all(np.abs(v - 188) < 3), v  # sRGB's encoding of linear 0.502
    red = d.image[:, :8].reshape(-1, 3).mean(axis=0)
    expect = 255 * np.where(
        (c := np.array([200, 60, 40]) / 255) <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055
    )
    assert np.all(np.abs(red - expect) < 4), (red, expect)
    for icc in (_icc_profile(2.2, "sRGB IEC61966-2.1 (test)"), None):
        plain = decode_untrusted(_encode_with_profile(grey, fmt, icc))
        assert plain.colour_profile == ""
        assert np.abs(plain.image[:, 24:].astype(int) - 128).max() <= 2


def test_a_broken_colour_profile_is_ignored():
    grey = np.full((32, 32, 3), 128, np.uint8)
    d = decode_untrusted(_encode_with_profile(grey, "PNG", b"not a profile at all" * 8))
    assert d.colour_profile == "" and int(d.image.mean()) == 128
