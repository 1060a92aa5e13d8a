"""A linear probe: how well a ridge classifier on the features predicts the images' class folders.

A dataset of the right shape can still be worthless (broken preprocessing, a bad int8 calibration,
too low a resolution): the probe measures what the features carry. Everything here is pure numpy,
so the job, the bench and the int8 build check run the same code on arrays.

- Split: an image is held out when a hash of its ``<Class>/<file>`` key falls in the test fraction.
  The key, not the full URI, so the same photo lands on the same side wherever the dataset lives,
  and a rerun measures on the same images.
- Classifier: ridge regression on one-hot labels, in closed form. Its sufficient statistics (the
  Gram matrix of the features with a bias column, and features x labels) are plain sums, so Spark
  tasks add them up and only a (d+1) x (d+1) matrix reaches the driver: 32 MiB at the full 2,048
  features, whatever the row count. Deterministic (no iterations, no random start) and one solve.
  Each feature is penalised in proportion to its variance, which is ridge on standardised
  features: PCA components and raw ResNet features, of very different scales, need no tuning.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

METHOD = "ridge"
# 80/20, the usual hold-out; at the full dataset's 90,380 images it leaves ~18,000 to measure on.
TEST_FRACTION = 0.2
SPLIT = "sha1(<Class>/<file>)"
# Ridge penalty per unit of a feature's variance: small, as the rows far outnumber the features;
# it keeps the solve well-posed when features are collinear (ReLU zeros, few images per class).
ALPHA = 1e-3
# A class needs this many images to be measured: at 20% held out, 10 leave ~2 to score it on.
MIN_IMAGES_PER_CLASS = 10
TOP_K = 5
# Kept in the metrics: the classes with the lowest recall and the most frequent confusions.
WORST_CLASSES = 10
CONFUSED_PAIRS = 10


def split_key(path: str) -> str:
    """``<Class>/<file>`` of an image path: what the split hashes."""
    return "/".join(path.rstrip("/").split("/")[-2:])


def held_out(paths: Iterable[str], test_fraction: float = TEST_FRACTION) -> np.ndarray:
    """Whether each image is in the test part: the first 8 bytes of sha1(key), as a fraction of 2^64."""
    cut = int(test_fraction * 2**64)
    return np.fromiter((int.from_bytes(hashlib.sha1(split_key(p).encode()).digest()[:8], "big") < cut
                        for p in paths), bool)


def skip_reason(label_counts: dict[str, int]) -> str | None:
    """Why the probe cannot measure these labels, or None when it can."""
    if "" in label_counts:
        return (f"{label_counts['']} images have no class folder: lay the input out as "
                "<root>/<Class>/<image> so the folder names label the images")
    if len(label_counts) < 2:
        return (f"only one class ({next(iter(label_counts), 'none')}): a classifier needs at least two "
                "class folders under the input")
    small = sorted((n, label) for label, n in label_counts.items() if n < MIN_IMAGES_PER_CLASS)
    if small:
        shown = ", ".join(f"{label}: {n}" for n, label in small[:5])
        shown += f" and {len(small) - 5} more" if len(small) > 5 else ""
        return (f"{len(small)} of {len(label_counts)} classes have fewer than {MIN_IMAGES_PER_CLASS} images "
                f"({shown}): too few to hold any out; add images or run on the full dataset")
    return None


@dataclass(frozen=True)
class Gram:
    """Sums over the training rows: [x 1]^T [x 1] and [x 1]^T onehot(y)."""

    xx: np.ndarray
    xy: np.ndarray

    @property
    def n(self) -> int:
        return int(round(self.xx[-1, -1]))

    def __add__(self, other: Gram) -> Gram:
        return Gram(self.xx + other.xx, self.xy + other.xy)


def gram(x: np.ndarray, y: np.ndarray, classes: int) -> Gram:
    """The sums of rows ``x`` [n, d] with class indices ``y`` [n]; Grams of disjoint rows add up."""
    xa = _with_bias(x)
    onehot = np.zeros((len(y), classes))
    onehot[np.arange(len(y)), y] = 1.0
    return Gram(xa.T @ xa, xa.T @ onehot)


def empty_gram(width: int, classes: int) -> Gram:
    return Gram(np.zeros((width + 1, width + 1)), np.zeros((width + 1, classes)))


def fit(g: Gram, alpha: float = ALPHA) -> np.ndarray:
    """Ridge weights [d+1, classes] (the last row the bias, unpenalised), each feature's penalty
    ``alpha`` times its sum of squared deviations: ridge on standardised features."""
    n = g.n
    if n < 2:
        raise ValueError(f"the probe needs at least 2 training rows, got {n}")
    mean = g.xx[-1, :-1] / n
    ssd = np.clip(np.diag(g.xx)[:-1] - n * mean**2, 0.0, None)
    # A constant feature (all-zero ReLU channel) gets the average penalty instead of none.
    ssd = np.where(ssd > 0, ssd, ssd.mean() if ssd.any() else 1.0)
    penalty = np.append(alpha * ssd, 0.0)
    return np.linalg.solve(g.xx + np.diag(penalty), g.xy)


def top_k(x: np.ndarray, weights: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """Class indices [n, k] of each row's ``k`` highest scores, best first (ties by lower index)."""
    scores = _with_bias(x) @ weights
    return np.argsort(-scores, axis=1, kind="stable")[:, :min(k, scores.shape[1])]


def evaluate(y: np.ndarray, ranked: np.ndarray, labels: Sequence[str]) -> dict:
    """Top-1 and top-k accuracy, per-class recall, the worst classes and the most confused pairs,
    from the true class indices ``y`` [n] and the ranked predictions [n, k] of the held-out rows."""
    y = np.asarray(y)
    ranked = np.asarray(ranked)
    if len(y) == 0:
        raise ValueError("no held-out rows to evaluate the probe on")
    predicted = ranked[:, 0]
    hit = predicted == y
    support = np.bincount(y, minlength=len(labels))
    correct = np.bincount(y[hit], minlength=len(labels))
    recall = {labels[c]: round(float(correct[c] / support[c]), 4) for c in range(len(labels)) if support[c]}
    pairs = Counter(zip(y[~hit].tolist(), predicted[~hit].tolist(), strict=True))
    confused = [{"label": labels[t], "predicted": labels[p], "count": n, "share": round(n / int(support[t]), 4)}
                for (t, p), n in sorted(pairs.items(), key=lambda e: (-e[1], labels[e[0][0]], labels[e[0][1]]))]

    def confused_with(c: int) -> str | None:
        return next((e["predicted"] for e in confused if e["label"] == labels[c]), None)

    worst = sorted((c for c in range(len(labels)) if support[c]), key=lambda c: (correct[c] / support[c], labels[c]))
    return {
        "test_images": len(y),
        "top1": round(float(hit.mean()), 4),
        "top5": round(float((ranked == y[:, None]).any(axis=1).mean()), 4),
        "chance_top1": round(1 / len(labels), 4),
        "per_class_recall": recall,
        "worst_classes": [{"label": labels[c], "recall": recall[labels[c]], "images": int(support[c]),
                           "confused_with": confused_with(c)} for c in worst[:WORST_CLASSES]],
        "confused_pairs": confused[:CONFUSED_PAIRS],
    }


def measure(x: np.ndarray, labels: Sequence[str], paths: Sequence[str], test_fraction: float = TEST_FRACTION) -> dict:
    """The whole probe on rows in memory (the bench, the int8 build check, tests): split, fit, evaluate.
    The job runs the same steps with the sums and the scoring spread over Spark tasks."""
    classes = sorted(set(labels))
    index = {label: i for i, label in enumerate(classes)}
    y = np.array([index[label] for label in labels])
    test = held_out(paths, test_fraction)
    if test.all() or not test.any():
        raise ValueError(f"the split of {len(paths)} images leaves no training or no held-out rows: use more images")
    weights = fit(gram(x[~test], y[~test], len(classes)))
    return {"train_images": int((~test).sum())} | evaluate(y[test], top_k(x[test], weights), classes)


def _with_bias(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return np.hstack([x, np.ones((len(x), 1))])
