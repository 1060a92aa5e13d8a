import io

import numpy as np
import pytest
from PIL import Image

from imagegen import fruit, jpeg_bytes
from orchard_featurize import images


def png_bytes(img):
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P", "CMYK"])
def test_decode_any_mode_gives_rgb_of_requested_size(mode):
    rng = np.random.default_rng(0)
    img = fruit(rng, mode=mode if mode != "CMYK" else "RGB")
    if mode == "CMYK":
        raw = jpeg_bytes(img.convert("CMYK"))
    else:
        raw = jpeg_bytes(img) if mode in ("RGB", "L") else png_bytes(img)
    arr, reason = images.decode(raw, 224)
    assert reason is None
    assert arr.shape == (224, 224, 3) and arr.dtype == np.uint8


def test_decode_matches_pil_bicubic_resize():
    img = fruit(np.random.default_rng(1))
    raw = jpeg_bytes(img)
    arr, _ = images.decode(raw, 224)
    expected = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB").resize((224, 224), Image.BICUBIC))
    assert np.array_equal(arr, expected)


def test_decode_keeps_native_size_without_resampling():
    raw = jpeg_bytes(fruit(np.random.default_rng(2)))
    arr, _ = images.decode(raw, 100)
    assert np.array_equal(arr, np.asarray(Image.open(io.BytesIO(raw)).convert("RGB")))


@pytest.mark.parametrize("raw,word", [
    (b"", "empty"),
    (None, "empty"),
    (b"plain text, not a picture\n", "not an image"),
    (jpeg_bytes(fruit(np.random.default_rng(3)))[:900], "truncated"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 64, "not an image"),
], ids=["empty", "none", "text", "truncated-jpeg", "jpeg-header-only"])
def test_bad_input_gives_reason_never_raises(raw, word):
    arr, reason = images.decode(raw, 64)
    assert arr is None
    assert word in reason


def test_decode_batch_keeps_order_and_indexes():
    rng = np.random.default_rng(4)
    good = jpeg_bytes(fruit(rng))
    batch, ok, reasons = images.decode_batch([good, b"", good, b"xx"], 32)
    assert batch.shape == (2, 32, 32, 3)
    assert ok == [0, 2]
    assert reasons[0] is None and reasons[2] is None and "empty" in reasons[1] and reasons[3]


def test_decode_batch_all_bad_gives_empty_stack():
    batch, ok, _ = images.decode_batch([b"", b"no"], 32)
    assert batch.shape == (0, 32, 32, 3) and ok == []


@pytest.mark.parametrize("path,label", [
    ("s3a://bucket/fruits-360/Training/Apple Red 1/0_100.jpg", "Apple Red 1"),
    ("file:/data/Training/Kiwi/r_1_100.JPG", "Kiwi"),
    ("/Banana/x.png", "Banana"),
])
def test_label_is_parent_folder(path, label):
    assert images.label_from_path(path) == label


def test_extension_glob_is_case_insensitive_and_complete():
    import fnmatch

    g = images.extension_glob()
    assert g.startswith("*.{") and "[jJ][pP][gG]" in g and "[pP][nN][gG]" in g and "[jJ][pP][eE][gG]" in g
    # same decisions as the pure predicate
    for name, want in [("a.jpg", True), ("a.JPG", True), ("a.JpEg", True), ("a.png", True), ("a.txt", False),
                       ("a.jpg.txt", False), ("jpg", False)]:
        assert images.has_image_extension(name) is want
        alternatives = g[3:-1].split(",")
        assert any(fnmatch.fnmatchcase(name, "*." + alt) for alt in alternatives) is want
