import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { discardRest, TbCodes, TbError } from '@tillbridge/shared';

/** Why a body stopped being read: the client went away, or the hub is stopping. */
export class BodyStopped extends Error {}

/**
 * An import's body on disk, taken as fast as the client sends it — so the upload never waits on
 * the checking (the hub's request timeout counts until the body is in) and nothing of it is held
 * in memory. It is encrypted (AES-256-GCM) under a key only this process holds: card numbers in a
 * sales file are never at rest in the clear, a spool left behind by a crash is unreadable, and one
 * changed on disk fails its tag before anything of it is applied.
 */
export class Spool {
  readonly path = join(tmpdir(), `tillbridge-import-${randomUUID()}.spool`);
  private readonly key = randomBytes(32);
  private readonly iv = randomBytes(12);
  private tag: Buffer | undefined;

  /**
   * Writes `body` to the spool; `onBytes` hears the count as it grows. More than `maxBytes` is
   * TB_FRAME_TOO_LARGE, once the rest has been read and dropped (up to DISCARD_AT_MOST more; a body larger still is
   * cut). On an error other than the body's own, the rest of the body is read and dropped too, so the client can
   * finish sending and read the answer.
   */
  fill(body: Readable, maxBytes: number, onBytes: (n: number) => void, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let n = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
          n += chunk.length;
          onBytes(n);
          if (n > maxBytes) {
            cb(new TbError(TbCodes.FRAME_TOO_LARGE, `the file is larger than ${maxBytes} bytes; split it`));
            return;
          }
          cb(null, chunk);
        },
      });
      if (signal.aborted) {
        body.destroy();
        reject(new BodyStopped());
        return;
      }
      // opened here and now, not by the stream in a later turn: a body refused at once (over the limit, the client
      // gone) must not leave remove() to run before the file exists, and the file appear after it
      let fd: number;
      try {
        fd = openSync(this.path, 'wx', 0o600);
      } catch (err) {
        body.resume(); // read and dropped, so the client can finish sending and read the answer
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      const cipher = createCipheriv('aes-256-gcm', this.key, this.iv);
      const file = createWriteStream(this.path, { fd });
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        body.unpipe(counter);
        counter.destroy();
        cipher.destroy();
        file.destroy();
        if (err instanceof BodyStopped) {
          body.destroy();
          reject(err);
        } else if (err instanceof TbError && err.code === TbCodes.FRAME_TOO_LARGE) {
          // refused once the client has sent the rest (up to a bound): it reads the 413, not a reset
          discardRest(body, () => reject(err));
        } else {
          if (!body.destroyed) body.resume();
          reject(err);
        }
      };
      const onAbort = (): void => fail(new BodyStopped());
      signal.addEventListener('abort', onAbort, { once: true });
      // kept after settling: a late error (the client going away while the rest is dropped) is not a crash
      body.on('error', () => fail(new BodyStopped())); // the request broke off
      for (const s of [counter, cipher, file]) s.on('error', fail);
      file.once('finish', () => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        this.tag = cipher.getAuthTag();
        resolve();
      });
      body.pipe(counter).pipe(cipher).pipe(file);
    });
  }

  /** The body again, decrypted, as a stream; its end checks the tag. */
  open(): Readable {
    if (!this.tag) throw new Error('the spool was not filled');
    const decipher = createDecipheriv('aes-256-gcm', this.key, this.iv);
    decipher.setAuthTag(this.tag);
    const file = createReadStream(this.path);
    file.once('error', (err) => decipher.destroy(err));
    decipher.once('close', () => file.destroy());
    return file.pipe(decipher);
  }

  remove(): void {
    rmSync(this.path, { force: true });
  }
}
