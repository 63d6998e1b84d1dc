/**
 * A JSON client for one served model's HTTP server: a bound on requests in flight, a timeout per request, and
 * retries with exponential back-off (honouring Retry-After) on the failures a busy or restarting server gives —
 * 429, 5xx, dropped connections, timeouts, and bodies that are not the JSON they claim to be. Every request the
 * scorer makes (tokenize, apply a template, score a prompt) is idempotent, so a retry cannot duplicate work.
 * Any other 4xx is not retried: it names the URL, the status and the server's message.
 */

export class RemoteError extends Error {
  constructor(
    message: string,
    /** HTTP status, or null for a transport failure. */
    readonly status: number | null = null,
  ) {
    super(message);
    this.name = "RemoteError";
  }
}

export interface ClientOptions {
  /** Requests in flight at once (default 8). */
  concurrency?: number;
  /** Attempts after the first (default 5). */
  retries?: number;
  /** Per-request timeout, ms (default 120 000). */
  timeoutMs?: number;
  /** First back-off, ms (default 500); doubles each retry, capped at `maxBackoffMs` (default 30 000). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Sent as `Authorization: Bearer …` when given. */
  apiKey?: string;
  /** Told about each retry (for the progress log). */
  onRetry?: (what: string) => void;
}

/** A counting semaphore: at most `n` holders; waiters are served in arrival order. */
export class Semaphore {
  private active = 0;
  private readonly queue: (() => void)[] = [];
  constructor(readonly n: number) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`concurrency must be a positive integer, got ${n}`);
  }
  async use<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((r) => this.queue.push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.active--;
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function excerpt(text: string, n = 300): string {
  const t = text.replace(/\s+/g, " ").trim();
  return t.length > n ? t.slice(0, n) + "…" : t;
}

/** The server's error message from an OpenAI-style `{error: {message}}`, a `{detail}` or `{message}` body. */
function serverMessage(body: string): string {
  try {
    const j = JSON.parse(body) as { error?: { message?: string } | string; detail?: unknown; message?: string };
    if (typeof j.error === "string") return j.error;
    if (j.error?.message) return j.error.message;
    if (j.message) return j.message;
    if (j.detail) return typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail);
  } catch {
    // not JSON: show the text
  }
  return excerpt(body);
}

export class JsonClient {
  readonly base: string;
  private readonly sem: Semaphore;
  private readonly o: Required<Omit<ClientOptions, "apiKey" | "onRetry">> & Pick<ClientOptions, "apiKey" | "onRetry">;
  /** Retries made so far (all requests). */
  retried = 0;

  constructor(baseUrl: string, opts: ClientOptions = {}) {
    let u: URL;
    try {
      u = new URL(baseUrl);
    } catch {
      throw new RemoteError(`not a URL: "${baseUrl}" (expected e.g. http://127.0.0.1:8000)`);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new RemoteError(`not an http(s) URL: "${baseUrl}"`);
    // accept both http://host:8000 and http://host:8000/v1 (what OpenAI clients are given)
    this.base = u.href.replace(/\/+$/, "").replace(/\/v1$/, "");
    this.o = {
      concurrency: opts.concurrency ?? 8,
      retries: opts.retries ?? 5,
      timeoutMs: opts.timeoutMs ?? 120_000,
      backoffMs: opts.backoffMs ?? 500,
      maxBackoffMs: opts.maxBackoffMs ?? 30_000,
      apiKey: opts.apiKey,
      onRetry: opts.onRetry,
    };
    this.sem = new Semaphore(this.o.concurrency);
  }

  get(path: string): Promise<unknown> {
    return this.request("GET", path);
  }

  post(path: string, body: unknown): Promise<unknown> {
    return this.request("POST", path, body);
  }

  /** One request with retries; resolves to the parsed JSON body of a 2xx answer. */
  private request(method: string, path: string, body?: unknown): Promise<unknown> {
    const url = this.base + path;
    return this.sem.use(async () => {
      for (let attempt = 0; ; attempt++) {
        let why: string;
        let retryAfterMs: number | null = null;
        try {
          const res = await fetch(url, {
            method,
            headers: {
              ...(body === undefined ? {} : { "content-type": "application/json" }),
              ...(this.o.apiKey ? { authorization: `Bearer ${this.o.apiKey}` } : {}),
            },
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: AbortSignal.timeout(this.o.timeoutMs),
          });
          const text = await res.text();
          if (res.ok) {
            try {
              return JSON.parse(text) as unknown;
            } catch {
              why = `malformed JSON in a ${res.status} answer: ${excerpt(text, 120)}`;
            }
          } else if (res.status === 429 || res.status >= 500) {
            why = `HTTP ${res.status}: ${serverMessage(text)}`;
            const ra = Number(res.headers.get("retry-after"));
            if (Number.isFinite(ra) && ra >= 0) retryAfterMs = ra * 1000;
          } else {
            throw new RemoteError(`${method} ${url}: HTTP ${res.status}: ${serverMessage(text)}`, res.status);
          }
        } catch (e) {
          if (e instanceof RemoteError) throw e;
          const err = e as Error & { cause?: { code?: string; message?: string } };
          why =
            err.name === "TimeoutError" || err.name === "AbortError"
              ? `no answer within ${this.o.timeoutMs} ms`
              : `${err.message}${err.cause ? ` (${err.cause.code ?? err.cause.message})` : ""}`;
        }
        if (attempt >= this.o.retries) {
          throw new RemoteError(`${method} ${url}: gave up after ${attempt + 1} attempts; last: ${why}`);
        }
        const backoff = Math.min(this.o.maxBackoffMs, this.o.backoffMs * 2 ** attempt);
        const wait = retryAfterMs ?? backoff * (0.5 + Math.random() / 2); // jitter spreads concurrent retries
        this.retried++;
        this.o.onRetry?.(`${method} ${url}: ${why}; retry ${attempt + 1}/${this.o.retries} in ${(wait / 1000).toFixed(1)} s`);
        await sleep(wait);
      }
    });
  }
}
