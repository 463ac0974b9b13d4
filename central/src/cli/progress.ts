/**
 * A progress bar for long operations on a terminal (stderr), silent when stderr is not a TTY
 * (piped, in scripts, in CI). `update(done)` redraws at most every 100 ms; `done()` clears it.
 */
export class Progress {
  private last = 0;
  private readonly tty: boolean;

  constructor(private readonly label: string, private readonly total: number | undefined, stream: NodeJS.WriteStream = process.stderr) {
    this.tty = Boolean(stream.isTTY);
    this.stream = stream;
  }

  private readonly stream: NodeJS.WriteStream;

  update(done: number): void {
    if (!this.tty) return;
    const now = Date.now();
    if (now - this.last < 100 && done !== this.total) return;
    this.last = now;
    const width = 30;
    let line: string;
    if (this.total && this.total > 0) {
      const f = Math.min(1, done / this.total);
      const n = Math.round(f * width);
      line = `${this.label} [${'#'.repeat(n)}${'.'.repeat(width - n)}] ${(f * 100).toFixed(0).padStart(3)} % ${done}/${this.total}`;
    } else {
      line = `${this.label} ${done}`;
    }
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
