/**
 * Splits a stream of text into lines (NDJSON framing). Returns false when a partial line
 * grows past `maxLine` (the peer is misbehaving and the stream should be closed).
 */
export class LineSplitter {
  private buf = '';

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLine = 1 << 20,
  ) {}

  push(chunk: string): boolean {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) !== -1) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (line.length > 0) this.onLine(line);
    }
    return this.buf.length <= this.maxLine;
  }
}
