"""The incremental benchmark's day 1 (orchard_bench/incremental.py): which images change, and how."""

import numpy as np

from imagegen import fruit, jpeg_bytes
from orchard_bench import incremental
from orchard_featurize import images


def test_day1_reencodes_and_deletes_disjoint_images_spread_over_day0():
    paths = [f"Class{i % 131}/{i:05d}.jpg" for i in range(incremental.DAY0)]
    reencoded, deleted = incremental.day1_changes(sorted(paths))
    assert len(reencoded) == incremental.REENCODED and len(deleted) == incremental.DELETED
    assert not set(reencoded) & set(deleted)
    assert len({p.split("/")[0] for p in reencoded + deleted}) > 100  # spread over the classes


def test_a_reencoded_photo_has_other_bytes_and_still_decodes():
    original = jpeg_bytes(fruit(np.random.default_rng(2)))
    again = incremental.reencode(original)
    assert again != original and images.decode(again, 100)[1] is None
