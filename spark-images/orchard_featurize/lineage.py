"""Pure lineage decisions of incremental runs: per-run output, the parent, what to recompute, PCA.

A run writes ``<root>/<run>/`` (``--output <root>/{run}``). An incremental run starts from its
parent, the newest complete dataset under the same root, found from S3 alone: the pointer
``<root>/_orchard/latest.json`` that every run writes last, else a listing of the root. It keeps
the parent's rows of the images whose path, size and ETag are unchanged, featurizes the new and
changed ones and drops the deleted ones (docs/incremental.md). Everything here takes plain data;
job.py reads S3 and calls it.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .metrics import METRICS_FILE, SIDE_DIR

# The placeholder --output may hold; the job replaces it with the run's name, spark.app.name, which
# spark-operator v2.5.2 sets with `spark-submit --name <SparkApplication name>` (submission.go,
# nameOption). One definition: the TypeScript side writes it from the schema's description.
RUN_PLACEHOLDER = "{run}"
# A run's name becomes one path segment. SparkApplication names are DNS-1123 subdomains; a leading
# "_" or "." would hide the dataset from Spark's and our own listings.
_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")

# <output>/_orchard/inputs.json: the identity of every row's image, diffed by the next run.
INPUTS_FILE = "inputs.json"
INPUTS_SCHEMA = "orchard.inputs/v1"
# <root>/_orchard/latest.json, written after _SUCCESS and the metrics: the newest complete dataset.
POINTER_FILE = "latest.json"
POINTER_SCHEMA = "orchard.lineage.latest/v1"
METRICS_SCHEMA = "orchard.featurize.metrics/v1"
SUCCESS_FILE = "_SUCCESS"

# Refit the reused PCA model when it explains less than this fraction of what it explained on the
# rows it was fitted on, measured on the run's new rows. New rows from the same distribution score
# about what the fitting rows did (1,200 new scale-set images: 0.968 against 0.967 at k=50, see
# docs/incremental.md), so a 10% relative drop is beyond sampling noise and means the new photos
# vary along other axes than the ones the model keeps.
PCA_REFIT_RATIO = 0.90
# Below this many new rows the explained share is too noisy to judge, and the model is kept.
PCA_JUDGE_MIN_ROWS = 100


class LineageError(ValueError):
    """A lineage condition the user must fix; the message names the URI and the fix."""


def resolve_output(output: str, run_name: str | None) -> tuple[str, str | None]:
    """(output with RUN_PLACEHOLDER replaced by the run's name, the name or None without placeholder)."""
    if RUN_PLACEHOLDER not in output:
        return output.rstrip("/"), None
    if not run_name or not _RUN_NAME.fullmatch(run_name):
        raise LineageError(f"--output {output} holds {RUN_PLACEHOLDER} but the run's name {run_name!r} cannot be a "
                           "folder name: give the SparkApplication (spark.app.name) or --run-name a name of letters, "
                           "digits, '.', '_' and '-' that starts with a letter or digit")
    if output.count(RUN_PLACEHOLDER) != 1 or not output.rstrip("/").endswith("/" + RUN_PLACEHOLDER):
        raise LineageError(f"--output {output}: {RUN_PLACEHOLDER} must be the last folder, once "
                           f"(<root>/{RUN_PLACEHOLDER}), so that every run of a job sits under one root")
    return output.rstrip("/").replace(RUN_PLACEHOLDER, run_name), run_name


def dataset_root(output: str) -> str:
    """The folder holding a job's datasets: the parent of this run's output."""
    return posixpath.dirname(output.rstrip("/"))


def side(dataset: str, name: str) -> str:
    return posixpath.join(dataset.rstrip("/"), SIDE_DIR, name)


def pointer_uri(root: str) -> str:
    return side(root, POINTER_FILE)


# --- per-image identity -----------------------------------------------------------------------

@dataclass(frozen=True)
class Identity:
    """What makes an image "unchanged": its size and its ETag (S3's content tag). Filesystems without
    ETags (file:, in tests and local runs) give ``mtime:<ms>`` instead, which changes on every write."""

    size: int
    etag: str


def relative(path: str, input_root: str) -> str:
    prefix = input_root.rstrip("/") + "/"
    if not path.startswith(prefix):
        raise ValueError(f"{path} is not under the input {input_root}")
    return path[len(prefix):]


def inputs_json(input_root: str, images: Mapping[str, Identity]) -> str:
    """The side file: input root once, then [relative path, size, etag] per image, sorted by path."""
    rows = [[relative(p, input_root), i.size, i.etag] for p, i in sorted(images.items())]
    return json.dumps({"schema": INPUTS_SCHEMA, "input": input_root.rstrip("/"), "images": rows},
                      separators=(",", ":")) + "\n"


def parse_inputs(text: str, where: str) -> dict[str, Identity]:
    """path (absolute, as the rows' ``path`` column) -> identity, from an inputs side file."""
    try:
        raw = json.loads(text)
        if raw.get("schema") != INPUTS_SCHEMA:
            raise ValueError(f"schema {raw.get('schema')!r}, expected {INPUTS_SCHEMA}")
        root = raw["input"].rstrip("/")
        return {f"{root}/{rel}": Identity(int(size), str(etag)) for rel, size, etag in raw["images"]}
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{where} is not an orchard inputs file: {e}") from None


@dataclass(frozen=True)
class Diff:
    reused: list[str]  # paths whose parent row is kept, sorted
    featurize: list[str]  # new and changed paths, sorted
    changed: int  # of featurize, those the parent had with another size or ETag
    removed: int  # parent rows whose image is gone


def diff(current: Mapping[str, Identity], parent: Mapping[str, Identity]) -> Diff:
    """Split the current images against the parent's rows: same path, size and ETag -> reuse."""
    reused = sorted(p for p, ident in current.items() if parent.get(p) == ident)
    kept = set(reused)
    featurize = sorted(p for p in current if p not in kept)
    changed = sum(1 for p in featurize if p in parent)
    removed = sum(1 for p in parent if p not in current)
    return Diff(reused, featurize, changed, removed)


# --- the parent ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Parent:
    """A complete dataset: its URI and the parts of its metrics that decide how to use it."""

    uri: str
    input: str
    model_name: str
    model_sha256: str
    precision: str
    image_size: int
    pca_k: int | None
    pca_explained: float | None  # the share its PCA model explained on the rows it was fitted on


def precision_of(model_metadata: Mapping[str, str]) -> str:
    """int8 when the ONNX model was quantized (quantize.py's metadata), else fp32."""
    return "int8" if model_metadata.get("orchard.quantization") else "fp32"


def parent_from_metrics(uri: str, text: str | None) -> Parent | str:
    """The parent a metrics.json describes, or why it cannot be one (a line for the log)."""
    if text is None:
        return f"{uri} has no {SIDE_DIR}/{METRICS_FILE} (a run killed before it recorded)"
    try:
        m = json.loads(text)
        if m.get("schema") != METRICS_SCHEMA:
            return f"{uri}: {SIDE_DIR}/{METRICS_FILE} has schema {m.get('schema')!r}, expected {METRICS_SCHEMA}"
        model, pca = m["model"], m.get("pca")
        if not isinstance(m["rows_written"], int) or "lineage" not in m:
            return f"{uri}: {SIDE_DIR}/{METRICS_FILE} predates incremental runs (no lineage, no {INPUTS_FILE})"
        return Parent(uri=uri.rstrip("/"), input=str(m["input"]).rstrip("/"), model_name=str(model["name"]),
                      model_sha256=str(model["sha256"]), precision=str(model.get("precision", "fp32")),
                      image_size=int(model["image_size"]),
                      pca_k=int(pca["k"]) if pca else None,
                      pca_explained=float(pca["explained_variance_total"]) if pca else None)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        return f"{uri}: {SIDE_DIR}/{METRICS_FILE} is not valid job metrics ({type(e).__name__}: {e})"


def pointer_json(dataset: str, run_name: str | None) -> str:
    return json.dumps({"schema": POINTER_SCHEMA, "dataset": dataset.rstrip("/"), "run": run_name}) + "\n"


def parse_pointer(text: str | None) -> str | None:
    """The dataset a pointer names, or None when it is absent or not a pointer."""
    if not text:
        return None
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    if not isinstance(raw, dict) or raw.get("schema") != POINTER_SCHEMA or not isinstance(raw.get("dataset"), str):
        return None
    return raw["dataset"]


def newest(candidates: Iterable[tuple[str, int]]) -> str | None:
    """The newest of (dataset, metrics.json modification time in ms): the listing's fallback when the
    pointer is missing or names an incomplete dataset. Ties go to the later name."""
    best = max(candidates, key=lambda c: (c[1], c[0]), default=None)
    return best[0] if best else None


# --- what this run does ------------------------------------------------------------------------

@dataclass(frozen=True)
class Current:
    """This run's settings that a parent must share for its rows to be reused."""

    input: str
    model_name: str
    model_sha256: str
    precision: str
    image_size: int


def full_run_reason(parent: Parent, current: Current) -> str | None:
    """Why the parent's rows cannot be reused (features of two models never mix), or None."""
    if parent.model_sha256 != current.model_sha256:
        what = "precision and model" if parent.precision != current.precision else "model"
        return (f"{what} changed from {parent.model_name} {parent.precision} (sha256 {parent.model_sha256[:12]}) "
                f"to {current.model_name} {current.precision} (sha256 {current.model_sha256[:12]}) "
                f"since {parent.uri}")
    if parent.image_size != current.image_size:
        return f"image size changed from {parent.image_size} to {current.image_size} px since {parent.uri}"
    if parent.input != current.input.rstrip("/"):
        return f"input changed from {parent.input} to {current.input} since {parent.uri}"
    return None


@dataclass(frozen=True)
class PcaPlan:
    """Before the new rows exist: reuse a model (``reuse`` names it), fit one, or none."""

    action: str  # "reused" (may still become "refitted" after the check), "fitted", "refitted", "off"
    reason: str
    reuse: str | None = None  # URI of the model folder to load
    judge: bool = False  # check the reused model against the new rows (PCA_REFIT_RATIO)


def plan_pca(*, k: int, pca_model: str | None, refit: bool, parent: Parent | None, parent_model: str | None) -> PcaPlan:
    """The PCA decision that needs no data. ``parent_model`` is the URI of the parent's model folder."""
    if pca_model:
        return PcaPlan("reused", f"--pca-model {pca_model}", reuse=pca_model)
    if not k:
        return PcaPlan("off", "--pca-components 0")
    if parent is None:
        return PcaPlan("fitted", "full run, no parent model to reuse: fitted on this run's rows")
    if refit:
        return PcaPlan("refitted", "--refit-pca: refitted on every row of this dataset")
    if parent.pca_k is None:
        return PcaPlan("fitted", f"the parent {parent.uri} has no PCA model: fitted on every row of this dataset")
    if parent.pca_k != k:
        return PcaPlan("refitted", f"--pca-components {k} differs from the parent's k={parent.pca_k}: "
                                   "refitted on every row of this dataset")
    return PcaPlan("reused", f"the parent's model {parent_model}", reuse=parent_model, judge=True)


def judge_pca(explained_fitted: float, explained_new: float | None, new_rows: int) -> tuple[bool, str]:
    """(refit?, reason) for a reused model, given the share of the new rows' variance it explains."""
    if explained_new is None or new_rows < PCA_JUDGE_MIN_ROWS:
        return False, (f"kept the parent's model: {new_rows} new rows are too few to judge it "
                       f"(at least {PCA_JUDGE_MIN_ROWS})")
    ratio = explained_new / explained_fitted if explained_fitted > 0 else 0.0
    share = f"{explained_new:.3f} of the {new_rows} new rows' variance against {explained_fitted:.3f} when fitted"
    if ratio < PCA_REFIT_RATIO:
        return True, f"refitted: the parent's model explains {share} (below {PCA_REFIT_RATIO:.0%} of it)"
    return False, f"kept the parent's model: it explains {share}"


def lineage_doc(*, mode: str, parent: str | None, reason: str, reused: int, featurized: int, removed: int,
                pca_action: str, pca_reason: str, explained_fitted: float | None, explained_new: float | None,
                inputs: str, run: str | None) -> dict:
    """The ``lineage`` object of metrics.json (src/api/job-metrics.schema.json)."""
    def share(v: float | None) -> float | None:
        return None if v is None else round(min(1.0, max(0.0, float(v))), 6)

    return {"mode": mode, "parent": parent, "reason": reason,
            "images": {"reused": reused, "featurized": featurized, "removed": removed},
            "pca": {"action": pca_action, "reason": pca_reason, "explained_variance_fitted": share(explained_fitted),
                    "explained_variance_new": share(explained_new)},
            "inputs": inputs, "run": run}
