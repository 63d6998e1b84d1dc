/**
 * A small OpenAI-compatible server in front of one of the project's own models — the part of vLLM's (or
 * llama.cpp's) HTTP API that `infifpo score --*-url` uses, so the served-model path can be tried and tested
 * offline, with numbers that must equal `sequenceLogProbs` of the same model.
 *
 * Endpoints: GET /v1/models, POST /tokenize, POST /v1/completions (echo log-probs of a prompt given as ids or
 * text, then greedy tokens), and for the llama.cpp dialect also GET /props and POST /apply-template.
 * The model's "chat template": the prompt messages rendered as `role: content` lines (as `promptText` renders a
 * chat record for the project's models), then the assistant's reply closed by EOS:
 *   [BOS] + enc(render(prompt messages)) + enc(reply) + [EOS]
 * so a chat record scores exactly as the local scorer scores it. In the llama.cpp dialect the template is text
 * with `<s>` / `</s>` standing for BOS / EOS (parsed back by /tokenize with parse_special).
 *
 * `faults` (tests) makes chosen requests fail the way real servers do: a dropped connection, a 500, a 429, a slow
 * answer, or a 200 with a body that is not JSON.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as tf from "@tensorflow/tfjs";
import type { Message } from "../data/types";
import type { Model } from "../model/transformer";
import type { Tokenizer } from "../tokenizers/types";
import { tokenLogProbs } from "../model/logprobs";
import { generateIds } from "../model/generate";
import type { DialectName } from "./dialect";

export type Fault = "drop" | "500" | "429" | "slow" | "malformed";

export interface ServeOptions {
  model: Model;
  tokenizer: Tokenizer;
  /** The model id clients must send (default "infifpo"). */
  name?: string;
  dialect?: DialectName;
  host?: string;
  /** 0 = any free port. */
  port?: number;
  /** Answer echo completions with the generated token's log-prob only (what stock llama-server does). */
  noPromptLogprobs?: boolean;
  /** Per request: the fault to inject, or null. `n` counts requests to that path, from 1. */
  faults?: (req: { path: string; n: number; body: unknown }) => Fault | null;
  /** Delay of a "slow" fault, ms (default 2000). */
  slowMs?: number;
  log?: (line: string) => void;
}

export interface ServedModel {
  url: string;
  /** Requests seen per path (faulty ones included). */
  requests: Record<string, number>;
  close(): Promise<void>;
}

const BOS_TEXT = "<s>";
const EOS_TEXT = "</s>";

function render(messages: readonly Message[]): string {
  return messages.map((m) => `${m.role}: ${m.content}`).join("\n");
}

/** The template's ids (see the module comment). */
export function templateIds(tokenizer: Tokenizer, messages: readonly Message[], addGenerationPrompt: boolean): number[] {
  const last = messages[messages.length - 1];
  if (!addGenerationPrompt && last?.role === "assistant") {
    return [tokenizer.bosId, ...tokenizer.encode(render(messages.slice(0, -1))), ...tokenizer.encode(last.content), tokenizer.eosId];
  }
  return [tokenizer.bosId, ...tokenizer.encode(render(messages))];
}

function templateText(messages: readonly Message[], addGenerationPrompt: boolean): string {
  const last = messages[messages.length - 1];
  if (!addGenerationPrompt && last?.role === "assistant") return BOS_TEXT + render(messages.slice(0, -1)) + last.content + EOS_TEXT;
  return BOS_TEXT + render(messages);
}

/** llama.cpp's parse_special: `<s>` / `</s>` in the text become BOS / EOS, the rest is encoded. */
function tokenizeSpecial(tokenizer: Tokenizer, text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(/(<s>|<\/s>)/)) {
    if (part === BOS_TEXT) out.push(tokenizer.bosId);
    else if (part === EOS_TEXT) out.push(tokenizer.eosId);
    else if (part) out.push(...tokenizer.encode(part));
  }
  return out;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function isMessages(v: unknown): v is Message[] {
  return Array.isArray(v) && v.every((m) => typeof m?.role === "string" && typeof m?.content === "string");
}

/** log M(ids[i] | ids[<i]) for i ≥ 1, float32 from the model as the local scorer computes them. */
function promptLogProbs(model: Model, ids: readonly number[]): number[] {
  if (ids.length < 2) return [];
  const out = tf.tidy(() => {
    const x = tf.tensor2d([ids.slice(0, -1) as number[]], [1, ids.length - 1], "int32");
    const y = tf.tensor2d([ids.slice(1) as number[]], [1, ids.length - 1], "int32");
    return tokenLogProbs(model, x, y);
  });
  const v = Array.from(out.dataSync());
  out.dispose();
  return v;
}

export async function serveModel(o: ServeOptions): Promise<ServedModel> {
  const name = o.name ?? "infifpo";
  const dialect = o.dialect ?? "vllm";
  const C = o.model.config.contextLength;
  const V = o.tokenizer.vocabSize;
  const requests: Record<string, number> = {};
  let created = 0;

  const checkModel = (body: Record<string, unknown>) => {
    if (body.model !== undefined && body.model !== name) throw new HttpError(404, `The model \`${String(body.model)}\` does not exist.`);
  };
  const checkIds = (ids: unknown): number[] => {
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every((t) => Number.isInteger(t) && t >= 0 && t < V)) {
      throw new HttpError(400, `prompt must be a non-empty list of token ids below ${V}`);
    }
    return ids as number[];
  };

  const handlers: Record<string, (body: Record<string, unknown>) => Promise<unknown> | unknown> = {
    "GET /v1/models": () => ({
      object: "list",
      data: [{ id: name, object: "model", created: 0, owned_by: dialect, max_model_len: C + 1 }],
    }),
    "POST /tokenize": (b) => {
      if (dialect === "llamacpp") {
        if (typeof b.content !== "string") throw new HttpError(400, '"content" must be a string');
        const ids = b.parse_special === false ? o.tokenizer.encode(b.content) : tokenizeSpecial(o.tokenizer, b.content);
        return { tokens: b.add_special === true ? [o.tokenizer.bosId, ...ids] : ids };
      }
      checkModel(b);
      let tokens: number[];
      if (b.messages !== undefined) {
        if (!isMessages(b.messages)) throw new HttpError(400, '"messages" must be a list of {role, content}');
        if (b.chat_template !== undefined) throw new HttpError(400, "this server has one fixed chat template");
        tokens = templateIds(o.tokenizer, b.messages, b.add_generation_prompt !== false);
      } else if (typeof b.prompt === "string") {
        tokens = [...(b.add_special_tokens === false ? [] : [o.tokenizer.bosId]), ...o.tokenizer.encode(b.prompt)];
      } else {
        throw new HttpError(400, 'give "prompt" (a string) or "messages"');
      }
      return { count: tokens.length, max_model_len: C + 1, tokens };
    },
    "POST /v1/completions": async (b) => {
      checkModel(b);
      const ids = typeof b.prompt === "string" ? [o.tokenizer.bosId, ...o.tokenizer.encode(b.prompt)] : checkIds(b.prompt);
      const maxTokens = b.max_tokens === undefined ? 16 : Number(b.max_tokens);
      if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new HttpError(400, "max_tokens must be at least 1");
      if (ids.length + maxTokens > C + 1) {
        throw new HttpError(400, `This model's maximum context length is ${C + 1} tokens. However, you requested ${ids.length + maxTokens} tokens (${ids.length} in the messages, ${maxTokens} in the completion).`);
      }
      const [g] = await generateIds(o.model, [ids.slice(-C)], { maxNewTokens: maxTokens, stopToken: o.tokenizer.eosId, vocabLimit: V });
      const gen = { ids: g.finish === "stop" ? [...g.ids, o.tokenizer.eosId] : g.ids, finish: g.finish }; // the stop token is a generated token too
      const wantLogprobs = b.logprobs !== undefined && b.logprobs !== null;
      // one forward pass over prompt + generated tokens: lp[i] = log M(t_{i+1} | t_≤i)
      const lp = wantLogprobs ? promptLogProbs(o.model, [...ids, ...gen.ids]) : [];
      const genLp = lp.slice(ids.length - 1);
      const all = b.echo === true ? [...ids, ...gen.ids] : gen.ids;
      const lps = b.echo === true ? (o.noPromptLogprobs ? genLp : [null, ...lp]) : genLp;
      return {
        id: `cmpl-${++created}`,
        object: "text_completion",
        created: Math.floor(Date.now() / 1000),
        model: name,
        choices: [
          {
            index: 0,
            text: o.tokenizer.decode(all),
            logprobs: wantLogprobs ? { tokens: (o.noPromptLogprobs ? gen.ids : all).map((t) => o.tokenizer.idToToken(t)), token_logprobs: lps, top_logprobs: null, text_offset: [] } : null,
            finish_reason: gen.finish === "stop" ? "stop" : "length",
          },
        ],
        usage: { prompt_tokens: ids.length, completion_tokens: gen.ids.length, total_tokens: ids.length + gen.ids.length },
      };
    },
    ...(dialect === "llamacpp"
      ? {
          "GET /props": () => ({ model_path: name, n_ctx: C + 1, bos_token: BOS_TEXT, eos_token: EOS_TEXT }),
          "POST /apply-template": (b: Record<string, unknown>) => {
            if (!isMessages(b.messages)) throw new HttpError(400, '"messages" must be a list of {role, content}');
            return { prompt: templateText(b.messages, b.add_generation_prompt !== false) };
          },
        }
      : {}),
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        const path = (req.url ?? "/").split("?")[0];
        const key = `${req.method} ${path}`;
        const n = (requests[path] = (requests[path] ?? 0) + 1);
        const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
          res.writeHead(status, { "content-type": "application/json", ...headers });
          res.end(JSON.stringify(body));
        };
        let body: Record<string, unknown> = {};
        try {
          if (chunks.length) body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
        } catch {
          return send(400, { error: { message: "the body is not JSON", type: "BadRequestError", code: 400 } });
        }
        const fault = o.faults?.({ path, n, body }) ?? null;
        if (fault === "drop") return void req.socket.destroy();
        if (fault === "500") return send(500, { error: { message: "injected internal error", type: "InternalServerError", code: 500 } });
        if (fault === "429") return send(429, { error: { message: "injected: too many requests", type: "RateLimitError", code: 429 } }, { "retry-after": "0" });
        if (fault === "slow") await new Promise((r) => setTimeout(r, o.slowMs ?? 2000));
        const handler = handlers[key];
        if (!handler) return send(404, { error: { message: `no route ${key}`, type: "NotFoundError", code: 404 } });
        try {
          const out = await handler(body);
          if (fault === "malformed") {
            res.writeHead(200, { "content-type": "application/json" });
            return void res.end(JSON.stringify(out).slice(0, 25));
          }
          if (!res.destroyed) send(200, out);
        } catch (e) {
          const status = e instanceof HttpError ? e.status : 500;
          o.log?.(`serve: ${key} → ${status}: ${(e as Error).message}`);
          send(status, { error: { message: (e as Error).message, type: status === 404 ? "NotFoundError" : "BadRequestError", code: status } });
        }
      })();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 0, o.host ?? "127.0.0.1", () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
