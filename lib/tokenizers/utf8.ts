/**
 * UTF-8 for tokenizers: byte fallback and byte-level BPE must round-trip EVERY JS string, and JS strings may hold
 * lone surrogates, which TextEncoder silently turns into U+FFFD. So encoding follows WTF-8 (a lone surrogate
 * becomes its 3-byte generalized-UTF-8 form) and decoding is the WHATWG UTF-8 decoder (maximal-subpart U+FFFD
 * replacement, never throws) with one change: ED A0..BF is accepted and yields the surrogate code unit.
 * For well-formed strings and byte runs without ED A0..BF both agree with TextEncoder/TextDecoder exactly.
 */

/** Appends the (WTF-8) bytes of `text` to `out`; returns `out`. */
export function utf8EncodeInto(text: string, out: number[]): number[] {
  const n = text.length;
  for (let i = 0; i < n; i++) {
    let cp = text.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < n) {
      const lo = text.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      }
    }
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  }
  return out;
}

/** The (WTF-8) bytes of `text`. Example: utf8Encode("é") → [0xc3, 0xa9]. */
export function utf8Encode(text: string): number[] {
  return utf8EncodeInto(text, []);
}

/**
 * Bytes → string; invalid or truncated sequences become U+FFFD (never throws).
 * Example: utf8Decode([0x68, 0xe2, 0x82]) → "h\uFFFD".
 */
export function utf8Decode(bytes: ArrayLike<number>): string {
  const units: number[] = [];
  let parts: string[] | undefined;
  const flush = () => {
    (parts ??= []).push(String.fromCharCode(...units));
    units.length = 0;
  };
  const emit = (cp: number) => {
    if (cp < 0x10000) units.push(cp);
    else units.push(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
    if (units.length > 8192) flush();
  };
  let needed = 0;
  let seen = 0;
  let cp = 0;
  let lower = 0x80;
  let upper = 0xbf;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] & 0xff;
    if (needed === 0) {
      if (b <= 0x7f) emit(b);
      else if (b >= 0xc2 && b <= 0xdf) {
        needed = 1;
        cp = b & 0x1f;
      } else if (b >= 0xe0 && b <= 0xef) {
        if (b === 0xe0) lower = 0xa0; // WHATWG would also set upper = 0x9f for 0xED; surrogates are allowed here
        needed = 2;
        cp = b & 0x0f;
      } else if (b >= 0xf0 && b <= 0xf4) {
        if (b === 0xf0) lower = 0x90;
        if (b === 0xf4) upper = 0x8f;
        needed = 3;
        cp = b & 0x07;
      } else emit(0xfffd);
      continue;
    }
    if (b < lower || b > upper) {
      needed = seen = cp = 0;
      lower = 0x80;
      upper = 0xbf;
      emit(0xfffd);
      i--; // reprocess this byte as the start of a new sequence
      continue;
    }
    lower = 0x80;
    upper = 0xbf;
    cp = (cp << 6) | (b & 0x3f);
    if (++seen === needed) {
      emit(cp);
      needed = seen = cp = 0;
    }
  }
  if (needed !== 0) emit(0xfffd);
  if (parts === undefined) return String.fromCharCode(...units);
  flush();
  return parts.join("");
}
