import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./config-backoff.ts";
import { readSse, SseHttpError } from "./config-sse.ts";
import { isNewer, memoryStorage, type ConfigRecord, type ConfigStorage } from "./config-storage.ts";
import { ConnectionError, EdgeplaneError } from "./errors.ts";

/**
 * The config client for Node and browsers (docs/clients.md): reads `GET /v1/configs/:ns` with the
 * reader token, keeps the last known good values (memory, and optionally a file or localStorage) so
 * the app keeps running when the edge is unreachable, revalidates with ETags, sends back the release
 * generation it has seen (monotonic reads), listens to the namespace's event stream for pushed
 * changes (polling only as a fallback), and batches health reports.
 */
export interface ConfigClientOptions {
  /** The edgeplane origin, e.g. https://edgeplane.example.com */
  baseUrl: string;
  namespace: string;
  /** Reader token (role reader, scoped to the namespace). */
  token: string;
  /** Stable id of this client: its cohort in staged rollouts. */
  clientId: string;
  /** Where the last known good copy lives across restarts (default: memory only). */
  storage?: ConfigStorage;
  /** Listen to the event stream for pushed changes (default true). */
  push?: boolean;
  /** Revalidation interval while no event stream is connected; 0 = never (default 30 s). */
  pollIntervalMs?: number;
  /** Health reports are sent in batches at most this often (default 10 s) or when 100 are queued. */
  reportIntervalMs?: number;
  backoff?: BackoffOptions;
  fetch?: typeof fetch;
  /** Extra request headers (e.g. X-Region for local testing). */
  headers?: Record<string, string>;
}

export type ConfigSource = "network" | "storage";

export interface ConfigSnapshot<T> {
  values: T;
  version: number;
  generation: number;
  source: ConfigSource;
  fetchedAt: number;
}

export type ChangeListener<T> = (snapshot: ConfigSnapshot<T>) => void;

interface PendingReport {
  client_id: string;
  version: number;
  status: "ok" | "error";
  error?: string;
}

const MAX_QUEUED_REPORTS = 1000;
const REPORT_BATCH = 100;

export class ConfigClient<T extends Record<string, unknown> = Record<string, unknown>> {
  private readonly opts: Required<Omit<ConfigClientOptions, "headers" | "storage" | "fetch">> & { headers: Record<string, string> };
  private readonly storage: ConfigStorage;
  private readonly fetchImpl: typeof fetch;
  private record: ConfigRecord | null = null;
  private source: ConfigSource = "network";
  private readonly listeners = new Set<ChangeListener<T>>();
  private readonly reports: PendingReport[] = [];
  private reportTimer: ReturnType<typeof setTimeout> | null = null;
  private pollTimer: ReturnType<typeof setInterval> | null = null;
  private readonly abort = new AbortController();
  private streamConnected = false;
  private lastEventId: string | null = null;
  private refreshing: Promise<boolean> | null = null;
  private started: Promise<void> | null = null;
  /** The last error talking to the edge (null after a success). */
  lastError: Error | null = null;

  constructor(options: ConfigClientOptions) {
    this.opts = {
      baseUrl: options.baseUrl.replace(/\/+$/, ""),
      namespace: options.namespace,
      token: options.token,
      clientId: options.clientId,
      push: options.push ?? true,
      pollIntervalMs: options.pollIntervalMs ?? 30_000,
      reportIntervalMs: options.reportIntervalMs ?? 10_000,
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      headers: options.headers ?? {},
    };
    this.storage = options.storage ?? memoryStorage();
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /**
   * Loads the stored copy, then fetches from the edge. Resolves once values are available from either;
   * rejects only when the edge cannot be reached (or refuses) and nothing is stored.
   */
  start(): Promise<void> {
    this.started ??= this.doStart();
    return this.started;
  }

  private async doStart(): Promise<void> {
    const stored = await this.storage.load(this.opts.namespace).catch(() => null);
    if (stored) {
      this.record = stored;
      this.source = "storage";
    }
    try {
      await this.refresh();
    } catch (e) {
      if (!this.record) throw e;
    }
    if (this.opts.push) void this.streamLoop();
    if (this.opts.pollIntervalMs > 0) {
      this.pollTimer = setInterval(() => {
        if (!this.streamConnected) this.refresh().catch(() => {});
      }, this.opts.pollIntervalMs);
    }
  }

  /** The current values (last known good), or null before anything was loaded. */
  values(): T | null {
    return (this.record?.values as T | undefined) ?? null;
  }

  get<K extends keyof T>(key: K): T[K] | undefined;
  get<K extends keyof T>(key: K, fallback: T[K]): T[K];
  get<K extends keyof T>(key: K, fallback?: T[K]): T[K] | undefined {
    const v = this.values();
    return v && Object.prototype.hasOwnProperty.call(v, key) ? v[key] : fallback;
  }

  snapshot(): ConfigSnapshot<T> | null {
    const r = this.record;
    return r ? { values: r.values as T, version: r.version, generation: r.generation, source: this.source, fetchedAt: r.fetchedAt } : null;
  }

  /** Calls `fn` after every change of version or generation; returns the unsubscribe function. */
  subscribe(fn: ChangeListener<T>): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** True while the event stream is connected (changes are pushed). */
  get pushing(): boolean {
    return this.streamConnected;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...this.opts.headers, authorization: `Bearer ${this.opts.token}`, ...extra };
  }

  private url(path: string): string {
    return `${this.opts.baseUrl}/v1/configs/${encodeURIComponent(this.opts.namespace)}${path}`;
  }

  private async send(path: string, init: RequestInit): Promise<Response> {
    try {
      return await this.fetchImpl(this.url(path), { ...init, signal: this.abort.signal });
    } catch (e) {
      throw new ConnectionError(this.url(path), String((e as Error)?.message ?? e));
    }
  }

  private static async failure(res: Response, method: string, path: string): Promise<EdgeplaneError> {
    const body = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string; details?: unknown } } | null;
    const err = body?.error;
    return new EdgeplaneError(res.status, err?.code ?? "http_error", err?.message ?? `HTTP ${res.status}`, err?.details ?? null, { method, path });
  }

  /**
   * Revalidates with the edge (If-None-Match, X-Config-Generation). True when the values changed.
   * `minGeneration` (from a pushed event) asks for a release state at least that new.
   */
  refresh(minGeneration = 0): Promise<boolean> {
    // One revalidation at a time; a later event's generation is checked after it.
    const run = (this.refreshing ?? Promise.resolve(false)).catch(() => false).then(() => this.doRefresh(minGeneration));
    this.refreshing = run;
    return run;
  }

  private async doRefresh(minGeneration: number): Promise<boolean> {
    const cur = this.record;
    const gen = Math.max(cur?.generation ?? 0, minGeneration);
    const extra: Record<string, string> = {};
    if (gen > 0) extra["x-config-generation"] = String(gen);
    if (cur?.etag) extra["if-none-match"] = cur.etag;
    const path = `?client_id=${encodeURIComponent(this.opts.clientId)}`;
    try {
      const res = await this.send(path, { headers: this.headers(extra), cache: "no-store" });
      if (res.status === 304) {
        this.lastError = null;
        const g = Number(res.headers.get("x-config-generation"));
        if (cur && Number.isSafeInteger(g) && g > cur.generation) this.record = { ...cur, generation: g };
        // A stored copy the edge has just confirmed is as good as a fresh one.
        this.source = "network";
        return false;
      }
      if (res.status !== 200) throw await ConfigClient.failure(res, "GET", path);
      const body = (await res.json()) as { version: number; generation: number; values: Record<string, unknown> };
      const next: ConfigRecord = {
        namespace: this.opts.namespace,
        version: body.version,
        generation: body.generation,
        etag: res.headers.get("etag") ?? "",
        values: body.values,
        fetchedAt: Date.now(),
      };
      this.lastError = null;
      if (!isNewer(next, this.record)) return false;
      const changed = !cur || cur.version !== next.version || this.source !== "network";
      this.record = next;
      this.source = "network";
      await this.storage.save(next).catch(() => {});
      if (changed) this.emit();
      return changed;
    } catch (e) {
      this.lastError = e as Error;
      throw e;
    }
  }

  private emit(): void {
    const s = this.snapshot();
    if (!s) return;
    for (const fn of this.listeners) {
      try {
        fn(s);
      } catch {
        /* a listener's failure is its own */
      }
    }
  }

  /** The event stream URL (with its short-lived credential), from the OFREP bulk answer. */
  private async streamUrl(): Promise<string | null> {
    const path = "/ofrep/v1/evaluate/flags";
    const res = await this.send(path, {
      method: "POST",
      headers: this.headers({ "content-type": "application/json" }),
      body: JSON.stringify({ context: { targetingKey: this.opts.clientId } }),
    });
    if (res.status !== 200) throw await ConfigClient.failure(res, "POST", path);
    const body = (await res.json()) as { eventStreams?: { type: string; url?: string }[] };
    return body.eventStreams?.find((s) => s.type === "sse" && typeof s.url === "string")?.url ?? null;
  }

  /** Connects, reconnects (Last-Event-ID, backoff with jitter) and re-fetches on every event until close(). */
  private async streamLoop(): Promise<void> {
    let attempt = 0;
    let url: string | null = null;
    while (!this.abort.signal.aborted) {
      try {
        url ??= await this.streamUrl();
        if (url === null) return; // the server offers no stream: polling only
        await readSse(url, {
          fetch: this.fetchImpl,
          signal: this.abort.signal,
          lastEventId: this.lastEventId,
          onOpen: () => {
            this.streamConnected = true;
            attempt = 0;
            // Whatever happened while disconnected: revalidate once.
            this.refresh().catch(() => {});
          },
          onMessage: (m) => {
            if (m.id !== null) this.lastEventId = m.id;
            try {
              const data = JSON.parse(m.data) as { type?: string; etag?: string };
              if (data.type !== "refetchEvaluation") return;
              const g = /^"?g(\d+)"?$/.exec(data.etag ?? "");
              this.refresh(g ? Number(g[1]) : 0).catch(() => {});
            } catch {
              /* not an event of ours */
            }
          },
        });
      } catch (e) {
        // Refused (e.g. the credential expired): fetch a fresh URL next time; network trouble: same URL.
        if (e instanceof SseHttpError) url = null;
      }
      this.streamConnected = false;
      if (this.abort.signal.aborted) return;
      await new Promise((r) => setTimeout(r, backoffDelay(attempt++, this.opts.backoff)));
    }
  }

  /** Queues a health report for the version in use; sent in batches (POST /v1/configs/:ns/reports). */
  report(status: "ok" | "error", error?: string): void {
    const version = this.record?.version;
    if (version === undefined) return;
    if (this.reports.length >= MAX_QUEUED_REPORTS) this.reports.shift();
    this.reports.push({ client_id: this.opts.clientId, version, status, ...(error ? { error: error.slice(0, 2000) } : {}) });
    if (this.reports.length >= REPORT_BATCH) void this.flushReports();
    else this.reportTimer ??= setTimeout(() => void this.flushReports(), this.opts.reportIntervalMs);
  }

  /** Sends the queued reports now; failed batches are kept (bounded) for the next flush. */
  async flushReports(): Promise<number> {
    if (this.reportTimer) clearTimeout(this.reportTimer);
    this.reportTimer = null;
    let sent = 0;
    while (this.reports.length > 0) {
      const batch = this.reports.splice(0, REPORT_BATCH);
      try {
        const res = await this.send("/reports", { method: "POST", headers: this.headers({ "content-type": "application/json" }), body: JSON.stringify({ reports: batch }) });
        if (res.status !== 202) throw await ConfigClient.failure(res, "POST", "/reports");
        sent += batch.length;
      } catch (e) {
        this.reports.unshift(...batch.slice(0, MAX_QUEUED_REPORTS - this.reports.length));
        this.lastError = e as Error;
        if (!this.abort.signal.aborted) this.reportTimer = setTimeout(() => void this.flushReports(), this.opts.reportIntervalMs);
        break;
      }
    }
    return sent;
  }

  /** Stops the stream and timers (queued reports are flushed first, best effort). */
  async close(): Promise<void> {
    if (this.pollTimer) clearInterval(this.pollTimer);
    await this.flushReports().catch(() => 0);
    if (this.reportTimer) clearTimeout(this.reportTimer);
    this.abort.abort();
  }
}
