// One socket write for a message's text and its final dot. nodemailer's DataStream pushes the
// dot-stuffed text as it goes and the closing ".\r\n" from its flush, a tick later: two writes, so two
// sendto calls on the socket where one does. A drain's processor time is mostly socket writes (each
// also runs the loopback TCP stack and wakes the receiver), so that third write of every message
// (after the envelope's and the text's) cost about a sixth of a drain. Here each send stream holds
// its latest chunk back until the next one or the end, and the last goes out joined to the dot: the
// same bytes, in one write at the end instead of two. SMTPConnection#_createSendStream is wrapped,
// once; nodemailer is pinned and test/engine/smtp-one-write.test.ts checks the writes and the bytes.
// A stored text takes this stream path only on a connection that logs its conversation (debug);
// otherwise it skips streams altogether (smtp-stored-send.ts). Messages nodemailer composes always
// take it.
import SMTPConnection from "nodemailer/lib/smtp-connection";

interface SendStream {
  push(chunk: unknown): boolean;
  _transform(chunk: unknown, encoding: string, done: (error?: Error | null) => void): void;
  _flush(done: (error?: Error | null) => void): void;
}

type CreateSendStream = (this: unknown, callback: unknown) => SendStream;

const proto = SMTPConnection.prototype as unknown as { _createSendStream?: CreateSendStream & { oneWrite?: true } };
const original = proto._createSendStream;
if (typeof original === "function" && !original.oneWrite) {
  proto._createSendStream = Object.assign(function (this: unknown, callback: unknown) {
    const stream = original.call(this, callback);
    if (typeof stream?._transform === "function" && typeof stream._flush === "function") joinLastChunkToEnd(stream);
    return stream;
  }, { oneWrite: true as const });
}

/** Chunks the stream's transform pushes wait for the next one; its flush's push takes the one held. */
function joinLastChunkToEnd(stream: SendStream): void {
  const { push, _transform: transform, _flush: flush } = stream;
  let held: Buffer | null = null;
  const release = (): boolean => {
    const chunk = held;
    held = null;
    return chunk === null || push.call(stream, chunk);
  };
  const pushBoth = (out: unknown): boolean => {
    const released = release();
    return push.call(stream, out) && released;
  };
  stream._transform = function (chunk, encoding, done) {
    this.push = (out: unknown) => {
      if (!Buffer.isBuffer(out)) return pushBoth(out);
      const ready = release();
      held = out;
      return ready;
    };
    transform.call(this, chunk, encoding, (error) => {
      this.push = push;
      done(error);
    });
  };
  stream._flush = function (done) {
    this.push = (out: unknown) => {
      if (held === null || !Buffer.isBuffer(out)) return pushBoth(out);
      const joined = Buffer.concat([held, out]);
      held = null;
      return push.call(stream, joined);
    };
    flush.call(this, (error) => {
      this.push = push;
      // A flush that pushed nothing (not nodemailer's way, but cheap to cover): the text still goes.
      release();
      done(error);
    });
  };
}
