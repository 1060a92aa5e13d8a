"""Full-size image sets for the scale mode, made from the sample: each image re-encoded with a small
random crop and colour jitter, so that 90,380 images (the full Fruits-360 count) are 90,380
different JPEGs of the sample's size and content, not copies that compress or cache alike.

Deterministic: image ``i`` of a set is variant ``i // len(sources)`` of source ``order[i % len]``,
with ``order`` a seeded permutation of the sources, so every prefix of the sequence samples every
class, and a smaller set is the first images of a larger one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
from collections.abc import Sequence
from multiprocessing import get_context
from pathlib import Path

from PIL import Image, ImageEnhance

from orchard_featurize import images

SEED = 90380
# Crops keep 88-100% of each side; jitter moves brightness, contrast and saturation by up to 10%.
CROP_MIN = 0.88
JITTER = 0.10
JPEG_QUALITY = 90


def sources(root: Path) -> list[Path]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and images.has_image_extension(p.name))
    if not files:
        raise FileNotFoundError(f"no .jpg/.jpeg/.png under {root}: pass a folder of <Class>/<image>.jpg")
    return files


def variant(content: bytes, rng: random.Random) -> bytes:
    """One re-encoded variant: a random crop resized back to the source size, then colour jitter."""
    with Image.open(io.BytesIO(content)) as img:
        rgb = img.convert("RGB")
    w, h = rgb.size
    cw, ch = max(1, round(w * rng.uniform(CROP_MIN, 1.0))), max(1, round(h * rng.uniform(CROP_MIN, 1.0)))
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    out = rgb.crop((x, y, x + cw, y + ch)).resize((w, h), Image.BICUBIC)
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        out = enhance(out).enhance(rng.uniform(1 - JITTER, 1 + JITTER))
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def plan(files: Sequence[Path], count: int) -> list[tuple[int, int]]:
    """(source index, variant number) of each of ``count`` images."""
    order = list(range(len(files)))
    random.Random(SEED).shuffle(order)
    return [(order[i % len(files)], i // len(files)) for i in range(count)]


def target_name(root: Path, source: Path, k: int) -> Path:
    rel = source.relative_to(root)
    return rel.parent / f"{rel.stem}_v{k}.jpg"


def _write(job: tuple[str, str, str]) -> None:
    src, dst, seed = job
    data = variant(Path(src).read_bytes(), random.Random(seed))
    tmp = f"{dst}.part"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, dst)


def cache_key(root: Path, files: Sequence[Path]) -> str:
    h = hashlib.sha256(Path(__file__).read_bytes())
    for f in files:
        h.update(f"{f.relative_to(root)}\0{f.stat().st_size}\0".encode())
    return h.hexdigest()[:16]


def ensure_sets(root: Path, counts: Sequence[int], cache: Path,
                processes: int = os.cpu_count() or 1) -> dict[int, Path]:
    """A folder of exactly N images for each N in ``counts``, under ``cache``/scale/<key>/, built once.

    The images are written once, for the largest N; each set links to the first N of them. The
    completion markers sit beside the folders, so that uploading a folder uploads images only.
    """
    files = sources(root)
    base = cache / "scale" / cache_key(root, files)
    everything = base / "all"
    largest = max(counts)
    marker = base / "all.complete"
    done = json.loads(marker.read_text())["count"] if marker.exists() else 0
    if done < largest:
        jobs = []
        for i, (j, k) in enumerate(plan(files, largest)):
            dst = everything / target_name(root, files[j], k)
            if not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                jobs.append((str(files[j]), str(dst), f"{SEED}:{i}"))
        with get_context("fork").Pool(processes) as pool:
            for _ in pool.imap_unordered(_write, jobs, chunksize=256):
                pass
        marker.write_text(json.dumps({"count": largest}))
    sequence = [everything / target_name(root, files[j], k) for j, k in plan(files, largest)]
    out = {}
    for n in sorted(set(counts)):
        folder = base / f"n{n}"
        if not (base / f"n{n}.complete").exists():
            for path in sequence[:n]:
                link = folder / path.relative_to(everything)
                link.parent.mkdir(parents=True, exist_ok=True)
                if not link.exists():
                    os.link(path, link)
            (base / f"n{n}.complete").write_text(json.dumps({"count": n}))
        out[n] = folder
    return out
