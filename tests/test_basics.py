import logging
import os

import numpy as np
import pytest

from pipelines import storage
from stylecore.io.codec import decode_image, encode_image
from stylecore.runlog import ContextFilter, log_context


def test_codec_round_trip_png_exact_and_jpeg_close():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (17, 23, 3), dtype=np.uint8)
    assert np.array_equal(decode_image(encode_image(img, "png")), img)
    rgba = np.dstack([img, np.full((17, 23), 9, np.uint8)])
    assert np.array_equal(decode_image(encode_image(rgba, "png")), rgba)
    smooth = np.full((16, 16, 3), (200, 100, 50), np.uint8)
    back = decode_image(encode_image(smooth, "jpg", 95))
    assert np.abs(back.astype(int) - smooth).max() <= 3
    with pytest.raises(ValueError, match="0 bytes"):
        decode_image(b"")
    with pytest.raises(ValueError, match="not a decodable image"):
        decode_image(b"hello, I am text")
    with pytest.raises(ValueError, match="JPEG has no alpha"):
        encode_image(rgba, "jpg")


def test_local_write_is_atomic_and_leaves_no_temp(tmp_path):
    target = str(tmp_path / "a" / "b" / "x.bin")
    storage.write_bytes(target, b"one")
    storage.write_bytes(target, b"two")
    assert storage.read_bytes(target) == b"two"
    assert os.listdir(tmp_path / "a" / "b") == ["x.bin"]
    assert storage.read_bytes("file://" + target) == b"two"


def test_uri_helpers():
    assert storage.join("s3://bkt/pre", "images", "a.jpg") == "s3://bkt/pre/images/a.jpg"
    assert storage.resolve("s3://bkt/cat", "images/a.jpg") == "s3://bkt/cat/images/a.jpg"
    assert storage.resolve("/data", "s3://x/y.jpg") == "s3://x/y.jpg"
    assert storage.dirname("s3://bkt/cat/catalogue.csv") == "s3://bkt/cat"
    assert storage.is_local("/tmp/x") and storage.is_local("file:///tmp/x")
    assert not storage.is_local("s3://b/k")


def test_log_context_tags_records():
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    logger = logging.getLogger("restyle.test")
    h = Keep()
    h.addFilter(ContextFilter())
    logger.addHandler(h)
    logger.setLevel(logging.INFO)
    try:
        with log_context(run_id="r1", shard=3):
            logger.info("inside")
        logger.info("outside")
    finally:
        logger.removeHandler(h)
    assert records[0].ctx == "run_id=r1 shard=3"
    assert records[1].ctx == "-"
