// Byte views. Message texts travel as Uint8Array; Node-style APIs (latin1/hex decoding, socket writes,
// nodemailer) want a Buffer. A Buffer over the same memory costs nothing, and one that already is a
// Buffer is returned as is (wrapping it again would materialise the ArrayBuffer object of a view).
export const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** `count` random bytes as hex, from Web Crypto: importing node:crypto costs a short command several
 * milliseconds of start-up. */
export const randomHex = (count: number): string => Buffer.from(crypto.getRandomValues(new Uint8Array(count))).toString("hex");
