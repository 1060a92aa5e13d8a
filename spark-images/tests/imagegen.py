"""Generated test images in the Fruits-360 layout, with the bad files the job must survive."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("Apple Red 1", "Banana", "Kiwi")


def fruit(rng: np.random.Generator, size: int = 100, mode: str = "RGB") -> Image.Image:
    bg = tuple(int(v) for v in rng.integers(180, 256, 3))
    fg = tuple(int(v) for v in rng.integers(0, 200, 3))
    img = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(img)
    x0, y0 = rng.integers(5, size // 3, 2)
    x1, y1 = rng.integers(2 * size // 3, size - 5, 2)
    d.ellipse([int(x0), int(y0), int(x1), int(y1)], fill=fg)
    noise = rng.integers(-12, 13, (size, size, 3))
    arr = np.clip(np.asarray(img, np.int16) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(arr).convert(mode)


def jpeg_bytes(img: Image.Image, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


@dataclass
class Dataset:
    root: Path
    good: dict[str, str] = field(default_factory=dict)  # file path -> label
    bad: dict[str, str] = field(default_factory=dict)   # file path -> reason keyword
    ignored: list[str] = field(default_factory=list)    # not an image extension: never listed


def make_dataset(root: Path, per_class: int = 8, seed: int = 7, with_bad: bool = True,
                 classes: tuple[str, ...] = CLASSES) -> Dataset:
    rng = np.random.default_rng(seed)
    ds = Dataset(root=root)
    for c in classes:
        d = root / c
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            p = d / f"{i:03d}_100.jpg"
            p.write_bytes(jpeg_bytes(fruit(rng)))
            ds.good[str(p)] = c
    if not with_bad:
        return ds
    c0, c1 = root / classes[0], root / classes[1]
    # Good but unusual: RGBA PNG, grayscale JPEG, palette PNG, upper-case extension, .jpeg, non-square.
    p = c0 / "alpha.png"
    fruit(rng, mode="RGBA").save(p, "PNG")
    ds.good[str(p)] = classes[0]
    p = c0 / "gray.jpg"
    p.write_bytes(jpeg_bytes(fruit(rng, mode="L")))
    ds.good[str(p)] = classes[0]
    p = c1 / "palette.png"
    fruit(rng, mode="P").save(p, "PNG")
    ds.good[str(p)] = classes[1]
    p = c1 / "UPPER.JPG"
    p.write_bytes(jpeg_bytes(fruit(rng)))
    ds.good[str(p)] = classes[1]
    p = c1 / "long.jpeg"
    p.write_bytes(jpeg_bytes(fruit(rng, size=100).resize((160, 90))))
    ds.good[str(p)] = classes[1]
    # Bad: empty, truncated JPEG, text named .jpg, random bytes named .png.
    p = c0 / "empty.jpg"
    p.write_bytes(b"")
    ds.bad[str(p)] = "empty"
    p = c0 / "truncated.jpg"
    full = jpeg_bytes(fruit(rng))
    p.write_bytes(full[: len(full) // 2])
    ds.bad[str(p)] = "truncated"
    p = c1 / "notes.jpg"
    p.write_text("this is a text file, not a photo\n")
    ds.bad[str(p)] = "not an image"
    p = c1 / "noise.png"
    p.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    ds.bad[str(p)] = "not an image"
    # Not an image extension: never listed, never counted.
    p = c0 / "README.txt"
    p.write_text("ignored\n")
    ds.ignored.append(str(p))
    return ds
