"""Where the inference tasks spend their time, summed over tasks by a Spark accumulator.

Each Python worker times its own loop: waiting for the next Arrow batch from the JVM (``feed``:
reading the files and encoding them), decoding and resizing (``decode``), the ONNX Runtime run
(``infer``) and handing the features back (``emit``). The driver compares the sum with the
inference stage's wall time times its task slots: what is left is Spark's own cost (scheduling,
the JVM's share of the cores, stragglers at the end of the stage).
"""

from __future__ import annotations

from pyspark.accumulators import AccumulatorParam

PHASES = ("feed_s", "decode_s", "infer_s", "emit_s")
COUNTS = ("tasks", "batches", "images")


def empty() -> dict[str, float]:
    return {k: 0.0 for k in PHASES + COUNTS}


class ProfileParam(AccumulatorParam):
    def zero(self, value: dict[str, float]) -> dict[str, float]:
        return empty()

    def addInPlace(self, a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
        for k, v in b.items():
            a[k] = a.get(k, 0.0) + v
        return a


def summarize(totals: dict[str, float], stage_s: float, slots: int) -> dict[str, float]:
    """Seconds per phase (summed over tasks), and each as a share of the slots' time in the stage.

    ``other`` is slot time no task loop accounts for: task launch, the last tasks' tail while other
    slots sit idle, and Python worker start when a worker is new.
    """
    slot_s = stage_s * max(1, slots)
    out: dict[str, float] = {k: round(float(totals.get(k, 0.0)), 3) for k in PHASES}
    out.update({k: int(totals.get(k, 0)) for k in COUNTS})
    busy = sum(float(totals.get(k, 0.0)) for k in PHASES)
    out["slots"] = slots
    out["slot_s"] = round(slot_s, 3)
    out["other_s"] = round(max(0.0, slot_s - busy), 3)
    if slot_s > 0:
        out["shares"] = {k: round(float(totals.get(k, 0.0)) / slot_s, 4) for k in PHASES}
        out["shares"]["other_s"] = round(out["other_s"] / slot_s, 4)
    return out
