/**
 * How to ask a served model for token ids and for the log-probs of a prompt's tokens, per server family.
 *
 * vLLM's OpenAI server ("vllm"):
 *   POST /tokenize {model, prompt, add_special_tokens}                → {tokens}
 *   POST /tokenize {model, messages, add_generation_prompt, add_special_tokens: false, chat_template?} → {tokens}
 *        (the model's own chat template, applied by the server's tokenizer; a template file given by the user
 *        is passed as `chat_template`)
 *   POST /v1/completions {model, prompt: [ids], echo: true, logprobs: 0, max_tokens: 1, temperature: 0}
 *        → choices[0].logprobs.token_logprobs = [null, lp(t1|t0), …] for the prompt, then the generated token.
 *        max_tokens 0 would be the natural request, but vLLM rejects it (vllm-project/vllm#9336), so one token
 *        is generated and ignored. A `choices[0].prompt_logprobs` list (vLLM's extension) is read when present.
 * llama.cpp's server ("llamacpp"):
 *   POST /tokenize {content, add_special, parse_special: true}        → {tokens}
 *   POST /apply-template {messages, add_generation_prompt}            → {prompt} (then /tokenize it, no BOS added:
 *        templates write their own)
 *   POST /v1/completions as above. Stock llama-server returns log-probs for generated tokens only
 *        (ggml-org/llama.cpp#27174; echo support is PR #15189): that is detected and reported, never guessed.
 */
import type { Message } from "../data/types";
import { JsonClient, RemoteError } from "./http";

export type DialectName = "vllm" | "llamacpp";
export const DIALECTS: readonly DialectName[] = ["vllm", "llamacpp"];

export interface Dialect {
  readonly name: DialectName;
  /** Ids of `text`, with the model's BOS etc. when `addSpecial`. */
  tokenizeText(text: string, addSpecial: boolean): Promise<number[]>;
  /** Ids of `messages` under the model's chat template. */
  tokenizeChat(messages: readonly Message[], addGenerationPrompt: boolean): Promise<number[]>;
  /** log M(ids[i] | ids[<i]) for i = 1..L−1: L−1 numbers. */
  promptLogProbs(ids: readonly number[]): Promise<number[]>;
  /** Most tokens a request may hold, prompt and generated together (vLLM's max_model_len, llama.cpp's n_ctx), if told. */
  contextLength(): Promise<number | null>;
}

/** Asks once; later calls share the answer. */
function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | null = null;
  return () => (p ??= fn());
}

function isIntArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => Number.isInteger(x));
}

/** Reads a tokenize answer: `{tokens: [ids]}` (llama.cpp's `with_pieces` form `{tokens: [{id, piece}]}` too). */
function tokensOf(answer: unknown, what: string): number[] {
  const t = (answer as { tokens?: unknown })?.tokens;
  if (isIntArray(t)) return t;
  if (Array.isArray(t) && t.every((x) => Number.isInteger((x as { id?: unknown })?.id))) return t.map((x) => (x as { id: number }).id);
  throw new RemoteError(`${what}: the answer has no "tokens" list of ids: ${JSON.stringify(answer).slice(0, 200)}`);
}

/**
 * The prompt log-probs of an OpenAI-style echo completion over `ids` (L of them): L−1 numbers for ids[1..].
 * Throws a RemoteError naming the server when it returned log-probs for the generated token only.
 */
export function echoLogProbs(answer: unknown, ids: readonly number[], where: string): number[] {
  const L = ids.length;
  const choice = (answer as { choices?: unknown[] })?.choices?.[0] as
    | { logprobs?: { token_logprobs?: unknown[] } | null; prompt_logprobs?: unknown[] | null }
    | undefined;
  if (!choice) throw new RemoteError(`${where}: the answer has no choices[0]: ${JSON.stringify(answer).slice(0, 200)}`);
  const pl = choice.prompt_logprobs;
  if (Array.isArray(pl) && pl.length >= L) {
    // vLLM: [null, {"<id>": {logprob, rank, decoded_token}, …}, …], keyed by token id — checked against ours
    const out: number[] = [];
    for (let i = 1; i < L; i++) {
      const entry = (pl[i] ?? {}) as Record<string, { logprob?: unknown }>;
      const lp = entry[String(ids[i])]?.logprob;
      if (typeof lp !== "number" || !Number.isFinite(lp)) {
        throw new RemoteError(`${where}: prompt_logprobs[${i}] has no finite log-prob for token ${ids[i]}`);
      }
      out.push(lp);
    }
    return out;
  }
  const tl = choice.logprobs?.token_logprobs;
  if (!Array.isArray(tl) || tl.length === 0) {
    throw new RemoteError(
      `${where}: the server returned no log-probs (choices[0].logprobs is ${JSON.stringify(choice.logprobs ?? null)}); ` +
        "it must support echo with logprobs on /v1/completions (vLLM does)",
    );
  }
  if (tl.length < L) {
    throw new RemoteError(
      `${where}: the server returned ${tl.length} log-prob(s) for a ${L}-token prompt with echo: it scores generated tokens ` +
        "only, not the prompt. Stock llama-server does this (ggml-org/llama.cpp#27174); use vLLM, or a llama.cpp build " +
        "with echo log-probs (PR #15189)",
    );
  }
  const out: number[] = [];
  for (let i = 1; i < L; i++) {
    const lp = tl[i];
    if (typeof lp !== "number" || !Number.isFinite(lp)) throw new RemoteError(`${where}: token_logprobs[${i}] is ${JSON.stringify(lp)}, not a finite number`);
    out.push(lp);
  }
  return out;
}

function completionBody(model: string, ids: readonly number[]): Record<string, unknown> {
  return { model, prompt: ids, echo: true, logprobs: 0, max_tokens: 1, temperature: 0 };
}

export function makeDialect(name: DialectName, client: JsonClient, model: string, opts: { chatTemplate?: string } = {}): Dialect {
  const where = `${client.base} (model ${model})`;
  if (name === "vllm") {
    return {
      name,
      tokenizeText: async (text, addSpecial) =>
        tokensOf(await client.post("/tokenize", { model, prompt: text, add_special_tokens: addSpecial }), `${where} /tokenize`),
      tokenizeChat: async (messages, addGenerationPrompt) =>
        tokensOf(
          await client.post("/tokenize", {
            model,
            messages,
            add_generation_prompt: addGenerationPrompt,
            add_special_tokens: false,
            ...(opts.chatTemplate !== undefined ? { chat_template: opts.chatTemplate } : {}),
          }),
          `${where} /tokenize`,
        ),
      promptLogProbs: async (ids) => echoLogProbs(await client.post("/v1/completions", completionBody(model, ids)), ids, `${where} /v1/completions`),
      contextLength: once(async () => {
        const list = (await client.get("/v1/models")) as { data?: { id?: string; max_model_len?: unknown }[] };
        const n = list?.data?.find((m) => m.id === model)?.max_model_len;
        return Number.isInteger(n) ? (n as number) : null;
      }),
    };
  }
  const tokenize = async (content: string, addSpecial: boolean) =>
    tokensOf(await client.post("/tokenize", { content, add_special: addSpecial, parse_special: true }), `${where} /tokenize`);
  return {
    name,
    tokenizeText: tokenize,
    tokenizeChat: async (messages, addGenerationPrompt) => {
      if (opts.chatTemplate !== undefined) {
        throw new RemoteError(`${where}: llama.cpp applies the template it was started with (llama-server --chat-template-file); --chat-template is for vLLM`);
      }
      const a = (await client.post("/apply-template", { messages, add_generation_prompt: addGenerationPrompt })) as { prompt?: unknown };
      if (typeof a?.prompt !== "string") throw new RemoteError(`${where} /apply-template: the answer has no "prompt" string`);
      return tokenize(a.prompt, false);
    },
    promptLogProbs: async (ids) => echoLogProbs(await client.post("/v1/completions", completionBody(model, ids)), ids, `${where} /v1/completions`),
    contextLength: once(async () => {
      const props = (await client.get("/props").catch(() => null)) as { n_ctx?: unknown; default_generation_settings?: { n_ctx?: unknown } } | null;
      const n = props?.default_generation_settings?.n_ctx ?? props?.n_ctx;
      return Number.isInteger(n) ? (n as number) : null;
    }),
  };
}

/**
 * Which dialect a server speaks, from `GET /v1/models` (`owned_by: "vllm"` / `"llamacpp"`), then from llama.cpp's
 * `GET /props`. Also checks that `model` is served there.
 */
export async function detectDialect(client: JsonClient, model: string): Promise<DialectName> {
  const list = (await client.get("/v1/models")) as { data?: { id?: string; owned_by?: string }[] };
  const data = Array.isArray(list?.data) ? list.data : [];
  const hit = data.find((m) => m.id === model);
  if (!hit) {
    throw new RemoteError(`${client.base}: model "${model}" is not served there; /v1/models lists: ${data.map((m) => m.id).join(", ") || "(none)"}`);
  }
  const owner = String(hit.owned_by ?? "").toLowerCase();
  if (owner === "vllm") return "vllm";
  if (owner.includes("llama")) return "llamacpp";
  try {
    await client.get("/props");
    return "llamacpp";
  } catch {
    throw new RemoteError(`${client.base}: cannot tell which server this is (owned_by "${hit.owned_by}", no /props); pass --dialect ${DIALECTS.join(" or ")}`);
  }
}
