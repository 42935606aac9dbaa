import { mkdir, open, rename } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AccessLogSink } from './sink.js';

/**
 * An append-only file rotated by size: before a batch would take `path` past `maxBytes`, the
 * file becomes `path.1` (`path.1` becomes `path.2`, ... and `path.<keep>` is replaced), and a new
 * `path` is opened. Batches are whole lines and are never split, so every line lands whole in
 * exactly one file (a single batch larger than `maxBytes` gets a file of its own). A file that
 * already exists is appended to, counting its size.
 */
export class RotatingFileSink implements AccessLogSink {
  rotations = 0;
  private file: FileHandle | null = null;
  private size = 0;

  constructor(
    readonly path: string,
    private readonly maxBytes: number,
    private readonly keep: number,
  ) {}

  write(chunk: Buffer, done: (err: Error | null) => void): void {
    this.append(chunk).then(
      () => done(null),
      (err: unknown) => {
        // Start over from a fresh open on the next batch (the file may have been moved or fixed).
        void this.release();
        done(err instanceof Error ? err : new Error(String(err)));
      },
    );
  }

  async close(): Promise<void> {
    await this.release();
  }

  private async append(chunk: Buffer): Promise<void> {
    let file = this.file ?? (await this.open());
    if (this.size > 0 && this.size + chunk.length > this.maxBytes) file = await this.rotate();
    let offset = 0;
    while (offset < chunk.length) {
      const { bytesWritten } = await file.write(chunk, offset, chunk.length - offset);
      offset += bytesWritten;
      this.size += bytesWritten;
    }
  }

  private async open(): Promise<FileHandle> {
    await mkdir(dirname(this.path), { recursive: true });
    const file = await open(this.path, 'a');
    try {
      this.size = (await file.stat()).size;
    } catch (err) {
      await file.close();
      throw err;
    }
    this.file = file;
    return file;
  }

  private async rotate(): Promise<FileHandle> {
    await this.release();
    for (let i = this.keep - 1; i >= 1; i--) await renameIfPresent(`${this.path}.${i}`, `${this.path}.${i + 1}`);
    if (this.keep >= 1) await renameIfPresent(this.path, `${this.path}.1`);
    const file = await open(this.path, this.keep >= 1 ? 'a' : 'w');
    this.file = file;
    this.size = 0;
    this.rotations++;
    return file;
  }

  private async release(): Promise<void> {
    const file = this.file;
    this.file = null;
    if (file !== null) await file.close().catch(() => undefined);
  }
}

async function renameIfPresent(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
