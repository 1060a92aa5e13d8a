"""The job's own messages: one JSON object per line on stderr (Spark's log4j output stays as is)."""

from __future__ import annotations

import json
import os
import sys
import time

# The event that ends a run with an error; the controller reads its line (src/controller/job-error.ts).
FAILED_EVENT = "failed"
# Kubernetes' default terminationMessagePath: what the container writes there becomes its
# termination message. The kubelet keeps at most 4,096 bytes.
TERMINATION_LOG = "/dev/termination-log"
TERMINATION_LIMIT = 4096


def log(event: str, level: str = "info", **fields) -> None:
    record = {"ts": round(time.time(), 3), "level": level, "logger": "orchard.featurize", "event": event}
    record.update(fields)
    line = json.dumps(record, default=str, sort_keys=False)
    print(line, file=sys.stderr, flush=True)
    if event == FAILED_EVENT:
        write_termination_message(line, TERMINATION_LOG)


def write_termination_message(line: str, path: str) -> bool:
    """The failed line as the driver container's termination message: the operator keeps only an exit
    code, and Spark's shutdown logs would bury the line in a message taken from the log's tail. Outside
    a pod (no such file, or not writable) there is nowhere to write it; returns whether it was written."""
    if not os.path.exists(path):
        return False
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(line.encode("utf-8")[:TERMINATION_LIMIT].decode("utf-8", "ignore"))
        return True
    except OSError:
        return False
