/**
 * An error a user can act on: what went wrong (message), where to look (context, such as a log
 * file, a URI or an object name) and what to do about it (hint).
 */
export class OrchardError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly context: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'OrchardError';
  }

  /** The message with its hint, as a CLI prints it. */
  describe(): string {
    const lines = [this.message];
    for (const [key, value] of Object.entries(this.context)) lines.push(`  ${key}: ${String(value)}`);
    if (this.hint) lines.push(`  fix: ${this.hint}`);
    return lines.join('\n');
  }
}
