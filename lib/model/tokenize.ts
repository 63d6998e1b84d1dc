/**
 * One text as several models read it: each checkpoint's own tokenizer, its ids and pieces. The lab's models use
 * different tokenizer kinds on purpose, so only sequence-level numbers (sum, per-token mean) cross between them.
 *
 *   tokenizeWithModels(out.models, "12+7=19")
 *   // → [{ name: "pivot", kind: "char", ids: […7 ids], pieces: ["1", "2", "+", …] }, { name: "src-math", kind: "digit", … }, …]
 */
import { tokenPieces } from "../tokenizers/pieces";
import type { TokenizerKind } from "../tokenizers/types";
import { loadModel } from "./io";
import { disposeModel } from "./transformer";

export interface ModelTokens {
  name: string;
  kind: TokenizerKind;
  ids: number[];
  /** Each id decoded on its own (see `tokenPieces`). */
  pieces: string[];
}

/** Loads each model file in turn (freeing it right after), and tokenizes `text` with its tokenizer. Needs a tfjs
 *  backend (`initBackend()`), as any model load does. */
export function tokenizeWithModels(models: readonly { name: string; file: string }[], text: string): ModelTokens[] {
  return models.map((m) => {
    const { model, tokenizer } = loadModel(m.file);
    try {
      return { name: m.name, kind: tokenizer.kind, ...tokenPieces(tokenizer, text) };
    } finally {
      disposeModel(model);
    }
  });
}
