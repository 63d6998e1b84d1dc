/**
 * ℓ_M(y|x), n_M(y) from a served model (infifpo.md "Setting": response tokens only, the model's own tokenizer).
 *
 * For one (prompt, response):
 *   P = ids of the prompt alone, F = ids of prompt + response, both from the server's tokenizer:
 *     string records: tokenize(prompt, BOS etc. added) and tokenize(prompt + response, same);
 *     chat records:   the model's template over the prompt messages with the generation prompt, and over the
 *                     prompt messages + {assistant: response} without it (so the template's end-of-turn
 *                     token after the response is a response token, as in training on chat data).
 *   P must be a proper prefix of F — otherwise the response's first token merged with the prompt's last (or the
 *   template renders history differently) and there is no honest boundary: the pair is reported, not guessed.
 *   ℓ = Σ_{i ≥ |P|} log M(F_i | F_<i) from one echo completion over F; n = |F| − |P|.
 * String records get no EOS appended (the server's tokenizer decides what a text is); chat records end with the
 * template's end-of-turn token.
 */
import type { Message } from "../data/types";
import type { Dialect } from "./dialect";
import { RemoteError } from "./http";

export interface ScoreRequest {
  /** Plain-text prompt (string records). */
  prompt: string;
  response: string;
  /** Prompt messages for chat records (null for string records). */
  messages: Message[] | null;
}

export interface RemoteScore {
  sum: number;
  mean: number;
  count: number;
}

/** A pair that cannot be scored honestly by this model (boundary mismatch, empty response). */
export interface ScoreProblem {
  problem: string;
}

export function isProblem(x: RemoteScore | ScoreProblem): x is ScoreProblem {
  return (x as ScoreProblem).problem !== undefined;
}

/** Where P stops being a prefix of F: the first differing index, or −1 when P is a prefix. */
export function prefixMismatch(prompt: readonly number[], full: readonly number[]): number {
  const n = Math.min(prompt.length, full.length);
  for (let i = 0; i < n; i++) if (prompt[i] !== full[i]) return i;
  return prompt.length > full.length ? n : -1;
}

/** ℓ, mean and n from the echo log-probs of F (lp[i−1] = log M(F_i | F_<i)) and the prompt length |P|. */
export function responseScore(lp: readonly number[], promptLength: number): RemoteScore {
  let sum = 0;
  for (let i = Math.max(promptLength, 1); i <= lp.length; i++) sum += lp[i - 1];
  const count = lp.length + 1 - promptLength;
  return { sum, mean: sum / count, count };
}

const show = (ids: readonly number[], at: number) => `[…${ids.slice(Math.max(0, at - 3), at + 3).join(", ")}…]`;

/** Scores many requests against one served model; prompts shared by several requests are tokenized once. */
export async function scoreRemote(dialect: Dialect, requests: readonly ScoreRequest[]): Promise<(RemoteScore | ScoreProblem)[]> {
  const prompts = new Map<string, Promise<number[]>>();
  const promptIds = (r: ScoreRequest) => {
    const key = r.messages ? JSON.stringify(r.messages) : `\u0000${r.prompt}`;
    let p = prompts.get(key);
    if (!p) {
      p = r.messages ? dialect.tokenizeChat(r.messages, true) : dialect.tokenizeText(r.prompt, true);
      prompts.set(key, p);
    }
    return p;
  };
  return Promise.all(
    requests.map(async (r): Promise<RemoteScore | ScoreProblem> => {
      const [P, F] = await Promise.all([
        promptIds(r),
        r.messages ? dialect.tokenizeChat([...r.messages, { role: "assistant", content: r.response }], false) : dialect.tokenizeText(r.prompt + r.response, true),
      ]);
      const at = prefixMismatch(P, F);
      if (at >= 0) {
        return {
          problem:
            `the prompt's ${P.length} tokens are not a prefix of prompt+response's ${F.length} tokens ` +
            `(they differ at token ${at}: prompt ${show(P, at)} vs prompt+response ${show(F, at)})`,
        };
      }
      if (F.length === P.length) return { problem: "the response has no tokens of its own" };
      if (P.length === 0) return { problem: "the prompt has no tokens (no BOS either), so the response's first token has no context to be scored in" };
      const max = await dialect.contextLength();
      if (max !== null && F.length + 1 > max) {
        return { problem: `prompt + response are ${F.length} tokens; with the one generated token that is more than the model's context of ${max}` };
      }
      try {
        return responseScore(await dialect.promptLogProbs(F), P.length);
      } catch (e) {
        // a server that did not tell its context length up front says so now (vLLM: "maximum context length is …")
        if (e instanceof RemoteError && e.status === 400 && /context (length|size|window)|too long/i.test(e.message)) return { problem: e.message };
        throw e;
      }
    }),
  );
}
