/**
 * Turns output frames (base64 of raw PTY bytes) back into text.
 *
 * The server cuts the PTY stream wherever a read() ends, so a multibyte UTF-8 character
 * can be split across two frames. A streaming TextDecoder keeps the incomplete tail and
 * finishes the character with the next frame; decoding each frame on its own would print
 * U+FFFD replacement characters instead.
 */

/** `Uint8Array.fromBase64` (newer browsers); typed here because TS 5.9's lib lacks it. */
interface Base64Capable {
  fromBase64?: (text: string) => Uint8Array;
}

/** Decodes standard, padded base64 into bytes. Throws on invalid input. */
export function base64ToBytes(text: string): Uint8Array {
  const native = (Uint8Array as unknown as Base64Capable).fromBase64;
  if (native) {
    return native.call(Uint8Array, text);
  }
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) {
    bytes[i] = binary.charCodeAt(i);
  }
  return bytes;
}

/**
 * A UTF-8 decoder that remembers a partial character between calls. One per connection:
 * a new process must not inherit the half character the previous one left behind.
 */
export class Utf8StreamDecoder {
  private decoder = new TextDecoder('utf-8', { fatal: false });

  /** Decodes a chunk; an incomplete trailing sequence is held back for the next call. */
  decode(bytes: Uint8Array): string {
    return this.decoder.decode(bytes, { stream: true });
  }

  /** Flushes what is held back (as U+FFFD if incomplete) and starts afresh. */
  flush(): string {
    const rest = this.decoder.decode();
    this.decoder = new TextDecoder('utf-8', { fatal: false });
    return rest;
  }
}
