"""The bench's two outputs: progress for the person watching, and everything Spark and the job log."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def split_output(log_path: Path):
    """Points fd 2 (Spark's JVM, the job's JSON logs) at ``log_path``; returns a stream on the real stderr."""
    ui = os.fdopen(os.dup(2), "w")
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log_fd, 2)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    return ui
