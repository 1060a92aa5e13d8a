"""The linear probe on arrays: a stable split, exact summed statistics, and accuracy that tracks
whether the features carry the labels (separable -> high, shuffled labels -> chance)."""

import numpy as np
import pytest

from orchard_featurize import probe

CLASSES = 10


def blobs(n_per_class: int, d: int, spread: float, seed: int = 0):
    """Rows around one random centre per class, with ResNet-like offset and scale, and their paths."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (CLASSES, d))
    labels = [f"Class {c}" for c in range(CLASSES) for _ in range(n_per_class)]
    x = np.repeat(centres, n_per_class, axis=0) + rng.normal(0, spread, (len(labels), d))
    paths = [f"s3a://bucket/fruits/{label}/{i}_100.jpg" for i, label in enumerate(labels)]
    return 40.0 + 7.0 * x, labels, paths


def test_split_is_stable_close_to_the_fraction_and_ignores_where_the_dataset_lives():
    paths = [f"file:///data/Training/Class {i % 7}/{i}_100.jpg" for i in range(5000)]
    test = probe.held_out(paths)
    assert 0.18 < test.mean() < 0.22
    moved = probe.held_out([p.replace("file:///data", "s3a://other-bucket/fruits-360") for p in paths])
    np.testing.assert_array_equal(test, moved)
    np.testing.assert_array_equal(test, probe.held_out(list(reversed(paths)))[::-1])


def test_grams_of_parts_add_up_to_the_whole():
    x, labels, _ = blobs(30, 6, 1.0)
    y = np.array([int(label.split()[1]) for label in labels])
    parts = probe.empty_gram(6, CLASSES)
    for rows in np.array_split(np.arange(len(y)), 7):
        parts = parts + probe.gram(x[rows], y[rows], CLASSES)
    whole = probe.gram(x, y, CLASSES)
    assert parts.n == whole.n == len(y)
    np.testing.assert_allclose(parts.xx, whole.xx, rtol=1e-12)
    np.testing.assert_allclose(parts.xy, whole.xy, rtol=1e-12)


def test_separable_features_score_near_perfect():
    x, labels, paths = blobs(60, 16, 0.3)
    m = probe.measure(x, labels, paths)
    assert m["top1"] >= 0.97 and m["top5"] == 1.0
    assert m["train_images"] + m["test_images"] == len(labels)
    assert set(m["per_class_recall"]) == set(labels)


def test_shuffled_labels_score_at_chance():
    x, labels, paths = blobs(200, 16, 0.3)
    shuffled = list(np.random.default_rng(1).permutation(labels))
    m = probe.measure(x, shuffled, paths)
    # 10 classes: chance is 0.1 top-1 and 0.5 top-5; ~400 held-out rows put 3 sigma at about +-0.045.
    assert m["chance_top1"] == 0.1
    assert m["top1"] < 0.16 and m["top5"] < 0.6


def test_noisier_features_score_lower():
    clean = probe.measure(*blobs(60, 16, 0.5))
    noisy = probe.measure(*blobs(60, 16, 2.5))
    assert noisy["top1"] < clean["top1"] - 0.2


def test_scale_of_a_feature_does_not_change_the_predictions():
    x, labels, paths = blobs(40, 8, 1.0)
    scaled = x * np.array([1e-3, 1, 1e3, 1, 1, 5, 1, 1])
    assert probe.measure(scaled, labels, paths) == probe.measure(x, labels, paths)


def test_constant_and_duplicate_features_still_solve():
    x, labels, paths = blobs(40, 8, 0.3)
    degenerate = np.hstack([x, np.zeros((len(x), 3)), x[:, :2]])
    assert probe.measure(degenerate, labels, paths)["top1"] >= 0.95


def test_evaluate_names_worst_classes_and_what_they_are_confused_with():
    labels = ["Apple", "Banana", "Cherry"]
    y = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    ranked = np.array([[0, 1], [2, 0], [2, 1], [0, 2], [1, 0], [1, 2], [2, 0], [2, 1]])
    m = probe.evaluate(y, ranked, labels)
    assert m["top1"] == 0.75 and m["top5"] == 0.875  # the third Apple is in neither of its two guesses
    assert m["per_class_recall"] == {"Apple": 0.5, "Banana": 1.0, "Cherry": 1.0}
    assert m["worst_classes"][0] == {"label": "Apple", "recall": 0.5, "images": 4, "confused_with": "Cherry"}
    assert m["confused_pairs"] == [{"label": "Apple", "predicted": "Cherry", "count": 2, "share": 0.5}]


@pytest.mark.parametrize(("counts", "expected"), [
    ({"Apple": 30, "Banana": 30}, None),
    ({"": 12, "Apple": 30}, "12 images have no class folder"),
    ({"Training": 300}, "only one class (Training)"),
    ({"Apple": 30, "Banana": 9, "Cherry": 3}, "2 of 3 classes have fewer than 10 images (Cherry: 3, Banana: 9)"),
])
def test_skip_reason_says_why_and_what_to_do(counts, expected):
    reason = probe.skip_reason(counts)
    assert reason == expected if expected is None else reason.startswith(expected)


def test_job_args_turn_the_probe_off_and_refuse_a_gate_it_cannot_check(model_path):
    from orchard_featurize.job import JobError, parse_args, validate_args

    base = ["--input", "in", "--output", "out", "--model", model_path]
    assert parse_args(base).probe and not parse_args(base + ["--no-probe"]).probe
    assert parse_args(base + ["--probe-min-top1", "0.9"]).probe_min_top1 == 0.9
    validate_args(parse_args(base + ["--probe-min-top1", "0.9"]))
    for extra in (["--no-probe", "--probe-min-top1", "0.9"], ["--probe-min-top1", "90"], ["--probe-min-top1", "0"]):
        with pytest.raises(JobError, match="--probe-min-top1 .* needs the probe on and a fraction in"):
            validate_args(parse_args(base + extra))
