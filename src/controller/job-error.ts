/**
 * The job's own error, from its driver container's termination message. The operator keeps only
 * "driver container failed with ExitCode: N" (v2.5.2 controller.go); the job says why. Its driver
 * writes its `failed` log line to the termination-message file, and the pod templates set
 * FallbackToLogsOnError, so an error the job did not catch leaves the log's last lines instead.
 */

/** How much of a message without the job's own line the record keeps: the last lines say the most. */
const TAIL_CHARS = 600;

/** The `error` of the job's last `failed` JSON log line, else the message's tail; undefined for none. */
export function jobErrorFrom(message: string | undefined): string | undefined {
  const lines = (message ?? '').split('\n').map((line) => line.trim()).filter(Boolean);
  for (const line of [...lines].reverse()) {
    if (!line.startsWith('{')) continue;
    try {
      const record = JSON.parse(line) as { event?: unknown; error?: unknown };
      if (record.event === 'failed' && typeof record.error === 'string') return record.error;
    } catch {
      // A log line cut by the kubelet's size limit, or another program's output: not the job's line.
    }
  }
  if (lines.length === 0) return undefined;
  const tail = lines.join('\n');
  return tail.length > TAIL_CHARS ? `…${tail.slice(-TAIL_CHARS)}` : tail;
}
