import { monotonicClock } from '@tillbridge/shared';

/**
 * A progress bar for long operations on a terminal (stderr), silent when stderr is not a TTY
 * (piped, in scripts, in CI). `update(done, detail?)` redraws at most every 100 ms; `done()`
 * clears it. `format` shows the counts (bytes as MB, rows with thousands separators…).
 */
export class Progress {
  private last = -Infinity;
  private readonly tty: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number | undefined,
    // isTTY is undefined on a piped stream, whatever the type of process.stderr says
    stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
    private readonly format: (n: number) => string = String,
  ) {
    this.tty = Boolean(stream.isTTY);
    this.stream = stream;
  }

  private readonly stream: NodeJS.WritableStream;

  /** Whether anything is drawn (stderr is a terminal). */
  get active(): boolean {
    return this.tty;
  }

  update(done: number, detail?: string): void {
    if (!this.tty) return;
    const now = monotonicClock.now(); // redraws are throttled in elapsed time
    if (now - this.last < 100 && done !== this.total) return;
    this.last = now;
    const width = 30;
    let line: string;
    if (this.total && this.total > 0) {
      const f = Math.min(1, done / this.total);
      const n = Math.round(f * width);
      line =
        `${this.label} [${'#'.repeat(n)}${'.'.repeat(width - n)}] ${(f * 100).toFixed(0).padStart(3)} ` +
        `% ${this.format(done)}/${this.format(this.total)}`;
    } else {
      line = `${this.label} ${this.format(done)}`;
    }
    if (detail) line += ` · ${detail}`;
    this.stream.write(`\r${line}\x1b[K`);
  }

  /** Replaces the bar with a line of text (until the next update or done). */
  note(text: string): void {
    if (this.tty) this.stream.write(`\r${this.label}: ${text}\x1b[K`);
  }

  done(): void {
    if (this.tty) this.stream.write('\r\x1b[K');
  }
}
