"""PCA of the features with numpy: moments per Arrow batch, merged exactly, one eigendecomposition.

Spark ML's PCA does the same sums in the JVM's pure-Java BLAS and a full SVD of the 2048 x 2048
covariance in pure-Java LAPACK unless native libraries are installed: 35-40 s per fit on the dev
machine whatever the image count, and its covariance pass grows to minutes at the full dataset's
90,380 rows. numpy's own OpenBLAS does both in a few seconds, on any image.

The model is centred PCA (mean stored and subtracted), as the job documents, and is saved as one
JSON file that any tool can read: the mean, the components and each one's share of the variance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

SCHEMA = "orchard.pca/v1"
MODEL_FILE = "model.json"


@dataclass(frozen=True)
class Moments:
    """Count, mean and sum of squared deviations (the co-moment matrix) of a set of rows."""

    n: int
    mean: np.ndarray
    m2: np.ndarray


def moments(x: np.ndarray) -> Moments:
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=0)
    d = x - mean
    return Moments(len(x), mean, d.T @ d)


def combine(a: Moments, b: Moments) -> Moments:
    """Exact merge of two sets' moments (Chan, Golub and LeVeque): no catastrophic cancellation."""
    if a.n == 0:
        return b
    if b.n == 0:
        return a
    n = a.n + b.n
    delta = b.mean - a.mean
    return Moments(n, a.mean + delta * (b.n / n), a.m2 + b.m2 + np.outer(delta, delta) * (a.n * b.n / n))


@dataclass(frozen=True)
class PcaModel:
    mean: np.ndarray
    components: np.ndarray  # [features, k], orthonormal columns
    explained_variance: np.ndarray  # [k], each component's share of the total variance

    @property
    def k(self) -> int:
        return int(self.components.shape[1])

    @property
    def features(self) -> int:
        return int(self.components.shape[0])

    def project(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, np.float64) - self.mean) @ self.components).astype(np.float32)

    def to_json(self) -> str:
        return json.dumps({"schema": SCHEMA, "k": self.k, "features": self.features, "centred": True,
                           "mean": self.mean.tolist(), "components": self.components.T.tolist(),
                           "explained_variance": self.explained_variance.tolist()}) + "\n"

    @staticmethod
    def from_json(text: str, where: str) -> PcaModel:
        try:
            raw = json.loads(text)
            if raw.get("schema") != SCHEMA:
                raise ValueError(f"schema {raw.get('schema')!r}, expected {SCHEMA}")
            model = PcaModel(np.asarray(raw["mean"], np.float64), np.asarray(raw["components"], np.float64).T,
                             np.asarray(raw["explained_variance"], np.float64))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"{where} is not an orchard PCA model: {e}") from None
        if model.mean.shape != (model.features,) or model.explained_variance.shape != (model.k,):
            raise ValueError(f"{where} is not an orchard PCA model: mean, components and variances disagree in shape")
        return model


def fit(m: Moments, k: int) -> PcaModel:
    """The top ``k`` principal axes of the rows ``m`` sums up, with signs fixed so that each axis's
    largest coordinate is positive: the same data always gives the same model."""
    if m.n < 2:
        raise ValueError(f"PCA needs at least 2 rows, got {m.n}")
    if not 1 <= k <= len(m.mean):
        raise ValueError(f"k={k} must be between 1 and {len(m.mean)}")
    values, vectors = np.linalg.eigh(m.m2 / (m.n - 1))
    order = np.argsort(values)[::-1][:k]
    values = np.clip(values, 0.0, None)
    total = values.sum()
    top = vectors[:, order]
    top *= np.where(top[np.abs(top).argmax(axis=0), np.arange(k)] < 0, -1.0, 1.0)
    return PcaModel(m.mean, top, values[order] / total if total > 0 else np.zeros(k))


@dataclass(frozen=True)
class Spread:
    """Sums over rows that give their variance, in all features and within a model's k components,
    around the rows' own mean: n, sum and sum of squares of d = x - model mean, and of d's projection."""

    n: int
    d: np.ndarray
    dd: float
    p: np.ndarray
    pp: float

    def __add__(self, other: Spread) -> Spread:
        return Spread(self.n + other.n, self.d + other.d, self.dd + other.dd, self.p + other.p, self.pp + other.pp)


def spread(model: PcaModel, x: np.ndarray) -> Spread:
    # Offsets from the model's mean keep the sums small (the variance does not depend on the offset).
    d = np.asarray(x, np.float64).reshape(-1, model.features) - model.mean
    p = d @ model.components
    return Spread(len(d), d.sum(axis=0), float(np.einsum("ij,ij->", d, d)), p.sum(axis=0), float(np.square(p).sum()))


def explained_share(s: Spread) -> float | None:
    """The share of the rows' variance (around their own mean) that lies in the model's components:
    what the model's explained_variance total measured on the rows it was fitted on. A shift of the
    mean alone is not counted: it moves the pca column without losing what the components explain."""
    if s.n < 2:
        return None
    total = s.dd - float(s.d @ s.d) / s.n
    captured = s.pp - float(s.p @ s.p) / s.n
    return min(1.0, max(0.0, captured / total)) if total > 0 else None
