/**
 * Handshake message ordering and fragment reassembly (RFC 6347 §4.2.2, §4.2.3).
 *
 * Messages are released strictly in message_seq order. A message with a
 * message_seq below the next expected one is a retransmission by the peer,
 * which RFC 6347 §4.2.4 tells us to answer by retransmitting our last flight:
 * `push()` reports it as 'old' and the state machine decides.
 *
 * The flights of the AnyConnect subset are tiny and peers never fragment them
 * in practice, but reassembly is cheap and keeps us correct if they do.
 * Limits: messages up to Limits.maxHandshakeMessage bytes, at most
 * MAX_AHEAD message_seq values buffered ahead of the next expected one.
 */
import { Limits, type HandshakeFragment } from './messages.js';

export interface HandshakeMessage {
  msgType: number;
  messageSeq: number;
  body: Buffer;
}

const MAX_AHEAD = 8;

interface Partial {
  msgType: number;
  body: Buffer;
  have: Uint8Array;
  missing: number;
}

type PushResult = 'ok' | 'old' | 'dropped';

export class HandshakeReassembler {
  /** message_seq of the next message to release. */
  nextSeq = 0;
  /**
   * Accept the next *complete* message whatever its message_seq (then continue
   * from it). Used by a client waiting for ServerHello/HelloVerifyRequest,
   * because servers number the ServerHello after a stateless
   * HelloVerifyRequest differently (OpenSSL/GnuTLS: 1; PROTOCOL.md §6.4).
   */
  loose = false;
  private readonly pending = new Map<number, Partial>();

  push(f: HandshakeFragment, out: HandshakeMessage[]): PushResult {
    const complete = f.fragmentOffset === 0 && f.data.length === f.length;
    if (this.loose && complete) {
      this.loose = false;
      this.pending.clear();
      this.nextSeq = f.messageSeq;
    }
    if (f.messageSeq < this.nextSeq) return 'old';
    if (f.messageSeq >= this.nextSeq + MAX_AHEAD) return 'dropped';
    let p = this.pending.get(f.messageSeq);
    if (!p) {
      if (f.length > Limits.maxHandshakeMessage) return 'dropped';
      p = { msgType: f.msgType, body: Buffer.alloc(f.length), have: new Uint8Array(f.length), missing: f.length };
      this.pending.set(f.messageSeq, p);
    } else if (p.msgType !== f.msgType || p.body.length !== f.length) {
      return 'dropped'; // inconsistent fragment
    }
    if (p.missing > 0) {
      f.data.copy(p.body, f.fragmentOffset);
      for (let i = 0; i < f.data.length; i++) {
        const at = f.fragmentOffset + i;
        if (p.have[at] === 0) {
          p.have[at] = 1;
          p.missing--;
        }
      }
    }
    this.release(out);
    return 'ok';
  }

  private release(out: HandshakeMessage[]): void {
    for (;;) {
      const p = this.pending.get(this.nextSeq);
      if (!p || p.missing > 0) return;
      this.pending.delete(this.nextSeq);
      out.push({ msgType: p.msgType, messageSeq: this.nextSeq, body: p.body });
      this.nextSeq++;
    }
  }

  /**
   * DTLS 0.9: a ChangeCipherSpec carries and consumes a message_seq
   * (PROTOCOL.md §6.4 item 3). Returns 'ok' when it was the expected one.
   */
  consumeSeq(seq: number, out: HandshakeMessage[]): PushResult {
    if (seq < this.nextSeq) return 'old';
    if (seq !== this.nextSeq) return 'dropped';
    this.nextSeq++;
    this.release(out);
    return 'ok';
  }
}
