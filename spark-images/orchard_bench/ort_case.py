"""Case 2: the same models on the same decoded tensors with ONNX Runtime alone, laid out as the job
runs them (one process per Spark task slot, spark.task.cpus threads each): the ceiling of its inference."""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from orchard_featurize import images as imgs
from orchard_featurize.model import Model


def decode_tensors(files: Sequence[Path], size: int) -> tuple[np.ndarray, float]:
    """The job's decode + resize on one core: (uint8 [n, size, size, 3], seconds)."""
    t0 = time.perf_counter()
    batch, ok, reasons = imgs.decode_batch([f.read_bytes() for f in files], size)
    seconds = time.perf_counter() - t0
    if len(ok) != len(files):
        bad = next(f"{files[i]}: {r}" for i, r in enumerate(reasons) if r)
        raise RuntimeError(f"{len(files) - len(ok)} bench images do not decode (first: {bad}): "
                           "the bench needs clean images")
    return batch, seconds


# Set in the parent before fork, read by the children: the tensors are shared, never pickled.
_SHARED: dict = {}
# A sibling that died before the barrier must not leave the others waiting for ever.
BARRIER_TIMEOUT_S = 900


def _child(index: int, processes: int, barrier, conn) -> None:
    tensors, model_path, threads, batch, runs, optimization = (
        _SHARED[k] for k in ("tensors", "model", "threads", "batch", "runs", "optimization"))
    shard = np.array_split(np.arange(len(tensors)), processes)[index]
    x = tensors[shard]
    model = Model(model_path, threads, optimization)
    model.infer(x[:batch], max_batch=batch)  # first run allocates and plans: untimed
    spans, feats = [], None
    for _ in range(runs):
        barrier.wait(BARRIER_TIMEOUT_S)
        t0 = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process
        feats = model.infer(x, max_batch=batch)
        spans.append((t0, time.monotonic()))
    conn.send((spans, feats))
    conn.close()


def measure_ort(*, tensors: np.ndarray, model: str, model_label: str, size: int, runs: int, processes: int,
                threads: int, batch: int, on_run: Callable[[int, float], None],
                optimization: str = "all") -> tuple[dict, np.ndarray]:
    """(measurement, features of the last run in input order). Images/s per run = all images over the
    time from the first process starting to the last one finishing."""
    _SHARED.update(tensors=tensors, model=model, threads=threads, batch=batch, runs=runs, optimization=optimization)
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(processes)
    pipes = [ctx.Pipe(duplex=False) for _ in range(processes)]
    children = [ctx.Process(target=_child, args=(i, processes, barrier, w), daemon=True)
                for i, (_, w) in enumerate(pipes)]
    try:
        for c in children:
            c.start()
        for _, w in pipes:
            w.close()  # the children hold the write ends: a dead child then reads as EOFError
        try:
            results = [r.recv() for r, _ in pipes]
        except EOFError:
            raise RuntimeError("an ONNX Runtime bench process died before reporting: see the bench log") from None
    finally:
        for c in children:
            c.join(timeout=60)
        _SHARED.clear()
    failed = [c.exitcode for c in children if c.exitcode != 0]
    if failed:
        raise RuntimeError(f"ONNX Runtime bench processes exited with {failed}: see the bench log")
    ips = []
    for r in range(runs):
        start = min(res[0][r][0] for res in results)
        end = max(res[0][r][1] for res in results)
        ips.append(len(tensors) / (end - start))
        on_run(r + 1, ips[-1])
    features = np.concatenate([res[1] for res in results])
    return ({"case": "ort", "label": f"ONNX Runtime alone {model_label}", "model": model_label, "size": size,
             "images": len(tensors), "runs": ips, "processes": processes, "threads": threads, "batch_size": batch,
             "optimization": optimization},
            features)


def settings_grid(cores: int, batch: int) -> list[dict]:
    """The job's layout and its alternatives, one change at a time: (processes x threads), batch, optimization."""
    job = {"processes": cores, "threads": 1, "batch": batch, "optimization": "all"}
    grid = [job, {**job, "processes": 1, "threads": cores}]
    grid += [{**job, "batch": b} for b in (16, 128) if b != batch]
    grid += [{**job, "optimization": o} for o in ("basic", "extended")]
    return grid
