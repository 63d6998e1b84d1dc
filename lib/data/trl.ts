/**
 * TRL's preference format: `prompt` / `chosen` / `rejected`, either plain strings or chat message lists.
 *
 * Rules (infifpo.md, "Data format"; TRL's "standard" and "conversational" dataset types):
 * - `chosen` and `rejected` are both strings or both message lists.
 * - Strings: `prompt`, when present, is a string; the whole `chosen` / `rejected` string is the response.
 * - Lists: the last message must be the assistant's response; the messages before it (after `prompt`,
 *   a message list, when present) are the prompt, and must be identical in `chosen` and `rejected`,
 *   since every model scored both responses after the same prompt.
 * - Messages need string `role` and `content`; other keys (`name`, …) are kept as they are.
 */
import { DataError, showValue, type Loc } from "./errors";
import type { Conversation, Message, PreferencePair } from "./types";

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function checkMessages(v: unknown[], field: string, loc: Loc): void {
  for (let i = 0; i < v.length; i++) {
    const m = v[i];
    if (!isObject(m)) throw new DataError(loc, `${field}[${i}]`, `expected a {role, content} message, got ${showValue(m)}`);
    const role = m.role;
    if (typeof role !== "string") {
      throw new DataError(loc, `${field}[${i}].role`, role === undefined ? "missing" : `expected a string, got ${showValue(role)}`);
    }
    const content = m.content;
    if (typeof content !== "string") {
      throw new DataError(loc, `${field}[${i}].content`, content === undefined ? "missing" : `expected a string, got ${showValue(content)}`);
    }
  }
}

/** Checks one response field (`chosen` or `rejected`): a string, or a message list ending with the assistant's turn. */
function checkResponse(v: unknown, field: string, loc: Loc): void {
  if (typeof v === "string") return;
  if (v === undefined) throw new DataError(loc, field, "missing");
  if (!Array.isArray(v)) throw new DataError(loc, field, `expected a string or a list of {role, content} messages, got ${showValue(v)}`);
  if (v.length === 0) throw new DataError(loc, field, "expected a non-empty message list");
  checkMessages(v, field, loc);
  const last = v.length - 1;
  const role = (v[last] as Message).role;
  if (role !== "assistant") {
    throw new DataError(loc, `${field}[${last}].role`, `the last message must be the assistant's response, got role ${showValue(role)}`);
  }
}

function sameMessages(a: Message[], b: Message[], n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i].role !== b[i].role || a[i].content !== b[i].content) return false;
  return true;
}

/**
 * Checks `prompt` / `chosen` / `rejected` of a parsed line in place (throws DataError naming the field).
 * Shared by validatePair and validateRecord.
 */
export function checkPairFields(obj: Obj, loc: Loc): void {
  const chosen = obj.chosen, rejected = obj.rejected, prompt = obj.prompt;
  checkResponse(chosen, "chosen", loc);
  checkResponse(rejected, "rejected", loc);
  const chat = Array.isArray(chosen);
  if (chat !== Array.isArray(rejected)) {
    throw new DataError(loc, "rejected", `expected a ${chat ? "message list like chosen" : "string like chosen"}, got ${showValue(rejected)}`);
  }
  if (prompt !== undefined) {
    if (chat) {
      if (!Array.isArray(prompt)) throw new DataError(loc, "prompt", `expected a message list (chosen and rejected are message lists), got ${showValue(prompt)}`);
      checkMessages(prompt, "prompt", loc);
    } else if (typeof prompt !== "string") {
      throw new DataError(loc, "prompt", `expected a string (chosen and rejected are strings), got ${showValue(prompt)}`);
    }
  }
  if (chat) {
    const c = chosen as Message[], r = rejected as Message[];
    if (c.length !== r.length || !sameMessages(c, r, c.length - 1)) {
      throw new DataError(loc, "rejected", "the conversation before the response differs from chosen's: both responses must follow the same prompt");
    }
  }
}

/**
 * Validates an unscored pair (the input of `infifpo score`): prompt/chosen/rejected only, other fields kept.
 * Returns the same object, typed; throws DataError naming `file:line: field "…"`.
 *
 * @example
 *   validatePair({ prompt: "2+2?", chosen: "4", rejected: "5" }, { file: "p.jsonl", line: 1 }); // ok
 *   validatePair({ chosen: [{ role: "user", content: "hi" }], rejected: "x" }, loc);
 *   // DataError: p.jsonl:1: field "chosen[0].role": the last message must be the assistant's response, got role "user"
 */
export function validatePair(obj: unknown, loc: Loc): PreferencePair {
  if (!isObject(obj)) throw new DataError(loc, null, `expected a JSON object, got ${showValue(obj)}`);
  checkPairFields(obj, loc);
  return obj as PreferencePair;
}

/**
 * The response text of `chosen` / `rejected`: the string itself, or the content of the final (assistant) message.
 *
 * @example
 *   responseText("4");                                                          // "4"
 *   responseText([{ role: "user", content: "2+2?" }, { role: "assistant", content: "4" }]); // "4"
 */
export function responseText(conv: Conversation): string {
  if (typeof conv === "string") return conv;
  for (let i = conv.length - 1; i >= 0; i--) if (conv[i].role === "assistant") return conv[i].content;
  throw new Error("responseText: the conversation has no assistant turn (validate the record first)");
}

/**
 * The prompt as messages: `prompt` (if a list) followed by `chosen`'s turns before its last assistant turn.
 * For string records, a single user message holding `prompt` (none when there is no prompt).
 */
export function promptMessages(rec: PreferencePair): Message[] {
  const chosen = rec.chosen;
  if (typeof chosen === "string") {
    return typeof rec.prompt === "string" ? [{ role: "user", content: rec.prompt }] : [];
  }
  let last = chosen.length - 1;
  while (last >= 0 && chosen[last].role !== "assistant") last--;
  const head = Array.isArray(rec.prompt) ? rec.prompt : [];
  return head.concat(chosen.slice(0, Math.max(last, 0)));
}

/**
 * The prompt as one string. String records: `prompt` itself ("" when absent). Chat records: the prompt
 * messages rendered one per line as `role: content` **(choice)** — a plain, template-free rendering for
 * display and for the project's small tokenizers; real chat models apply their own template to
 * `promptMessages(rec)` instead.
 *
 * @example
 *   promptText({ prompt: "2+2?", chosen: "4", rejected: "5" });                 // "2+2?"
 *   promptText({ chosen: [{ role: "system", content: "Be brief." }, { role: "user", content: "2+2?" },
 *                         { role: "assistant", content: "4" }], rejected: [...] }); // "system: Be brief.\nuser: 2+2?"
 */
export function promptText(rec: PreferencePair): string {
  if (typeof rec.chosen === "string") return typeof rec.prompt === "string" ? rec.prompt : "";
  return promptMessages(rec).map((m) => `${m.role}: ${m.content}`).join("\n");
}
