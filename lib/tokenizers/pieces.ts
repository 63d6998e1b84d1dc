/**
 * How a tokenizer cuts a text: its ids and each id decoded on its own. A byte-level BPE piece that holds part of a
 * multi-byte character decodes to U+FFFD on its own; the pieces of the other kinds concatenate back to the text.
 *
 *   tokenPieces(trainTokenizer("digit", ["1234+5"], { chunk: 3 }), "1234+5") → { ids: […], pieces: ["123", "4", "+", "5"] }
 */
import type { Tokenizer } from "./types";

export function tokenPieces(tokenizer: Tokenizer, text: string): { ids: number[]; pieces: string[] } {
  const ids = tokenizer.encode(text);
  return { ids, pieces: ids.map((id) => tokenizer.decode([id])) };
}
