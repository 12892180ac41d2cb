/**
 * One end of the local channel between the gateway's processes: a stream socket (the pipe that
 * spawn() made, fd 3 in the network process) carrying frames.ts messages. Each end validates
 * what it receives with its own parser; a frame that fails ends the channel.
 */
import type { Duplex } from 'node:stream';
import { encodeFrame, FrameDecoder } from './frames.js';

export class Channel<In, Out> {
  private readonly decoder: FrameDecoder;
  private closed = false;

  constructor(
    private readonly sock: Duplex,
    maxFrame: number,
    parse: (v: unknown) => In,
    onMessage: (m: In) => void,
    private readonly onClose: (err: Error | null) => void,
  ) {
    this.decoder = new FrameDecoder(maxFrame);
    sock.on('data', (chunk: Buffer) => {
      if (this.closed) return;
      let msgs: In[];
      try {
        msgs = this.decoder.push(chunk).map(parse);
      } catch (e) {
        this.close(e as Error);
        return;
      }
      for (const m of msgs) {
        if (this.closed) return;
        onMessage(m);
      }
    });
    sock.on('error', (e) => this.close(e));
    sock.on('close', () => this.close(null));
    sock.on('end', () => this.close(null));
  }

  /**
   * Queues `m`; false only when the channel is closed. Not write()'s back-pressure answer: a full
   * pipe buffer (a burst of thousands of logins, each with its state-put) still delivers the frame,
   * and treating it as "gone" failed those logins (the sessions benchmark lost 213 of 10,000).
   */
  send(m: Out): boolean {
    if (this.closed) return false;
    this.sock.write(encodeFrame(m));
    return true;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(err: Error | null): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.destroy();
    this.onClose(err);
  }
}

/** Request/answer pairs over a Channel: each request carries an id its answer repeats. */
export class Requests<A extends { id: number }> {
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (a: A) => void; reject: (e: Error) => void }>();

  /** Sends via `send(id)` and waits for the answer with that id. */
  ask(send: (id: number) => boolean): Promise<A> {
    const id = this.next++;
    return new Promise<A>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      if (!send(id)) {
        this.waiting.delete(id);
        reject(new Error('the privileged process is gone'));
      }
    });
  }

  /** An answer arrived; false if nobody asked for that id. */
  answer(a: A): boolean {
    const w = this.waiting.get(a.id);
    if (!w) return false;
    this.waiting.delete(a.id);
    w.resolve(a);
    return true;
  }

  failAll(err: Error): void {
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }
}
