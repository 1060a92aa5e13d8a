"""The job's own messages: one JSON object per line on stderr (Spark's log4j output stays as is)."""

from __future__ import annotations

import json
import sys
import time


def log(event: str, level: str = "info", **fields) -> None:
    record = {"ts": round(time.time(), 3), "level": level, "logger": "orchard.featurize", "event": event}
    record.update(fields)
    print(json.dumps(record, default=str, sort_keys=False), file=sys.stderr, flush=True)
