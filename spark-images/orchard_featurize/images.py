"""Pure image functions: bytes -> RGB uint8 array of the model's input size, with a reason on failure.

Preprocessing that matches the model: convert to RGB (grayscale replicated, alpha dropped, palette
expanded, as Keras ``load_img`` does), resize to size x size with PIL bicubic (PIL's default, which
the prototype used), no crop. Mean subtraction and the RGB->BGR swap live inside the ONNX graph.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

# A truncated JPEG must fail, never turn into a half-grey row of features.
ImageFile.LOAD_TRUNCATED_IMAGES = False
# 100 MP is far beyond any photo this job takes; larger is a decompression bomb, reported as such.
MAX_PIXELS = 100_000_000
EXTENSIONS = ("jpg", "jpeg", "png")


def has_image_extension(path: str) -> bool:
    return path.rsplit(".", 1)[-1].lower() in EXTENSIONS if "." in path.rsplit("/", 1)[-1] else False


def extension_glob() -> str:
    """Hadoop glob (pathGlobFilter) for the accepted extensions, case-insensitive."""
    def ci(ext: str) -> str:
        return "".join(f"[{c.lower()}{c.upper()}]" for c in ext)
    return "*.{" + ",".join(ci(e) for e in EXTENSIONS) + "}"


def label_from_path(path: str) -> str:
    """Class label = name of the folder that holds the image (``<root>/<Class>/<image>``)."""
    parts = [p for p in path.split("/") if p]
    return parts[-2] if len(parts) >= 2 else ""


def decode(content: bytes | None, size: int) -> tuple[np.ndarray | None, str | None]:
    """Return (uint8 array [size, size, 3], None) or (None, reason). Never raises on bad input."""
    if content is None or len(content) == 0:
        return None, "empty file"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as img:
                if img.width * img.height > MAX_PIXELS:
                    return None, f"image too large: {img.width}x{img.height} pixels (limit {MAX_PIXELS})"
                fmt = img.format
                img.load()  # full decode here, so truncation is caught here
                rgb = img.convert("RGB")
                if rgb.size != (size, size):
                    rgb = rgb.resize((size, size), Image.BICUBIC)
                arr = np.asarray(rgb, dtype=np.uint8)
    except UnidentifiedImageError:
        return None, "not an image: no decoder recognises the content"
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        msg = str(e) or type(e).__name__
        if "truncated" in msg.lower():
            return None, f"truncated image: {msg}"
        return None, f"cannot decode: {msg}"
    if arr.shape != (size, size, 3):
        return None, f"unexpected decoded shape {arr.shape} ({fmt})"
    return arr, None


def decode_batch(contents: Sequence[bytes | None], size: int) -> tuple[np.ndarray, list[int], list[str | None]]:
    """Decode many; return (stack of the good ones [n_ok, size, size, 3], their indexes, reason per input)."""
    arrays, ok, reasons = [], [], []
    for i, c in enumerate(contents):
        arr, reason = decode(c, size)
        reasons.append(reason)
        if arr is not None:
            arrays.append(arr)
            ok.append(i)
    batch = np.stack(arrays) if arrays else np.zeros((0, size, size, 3), np.uint8)
    return batch, ok, reasons
