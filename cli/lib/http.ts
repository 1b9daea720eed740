import { AdminClient, ConnectionError, Transport, type Query } from "@edgeplane/client";

export { seg } from "@edgeplane/client";

/**
 * The CLI's connection: @edgeplane/client's typed admin API (`admin`) over one transport, plus raw
 * requests and the patient polling the live views need. Never logs or echoes the token.
 */
export class Client extends Transport {
  readonly admin: AdminClient;

  constructor(opts: { url: string; token: string | null; timeoutMs?: number; userAgent?: string }) {
    super({ ...opts, userAgent: opts.userAgent ?? "edgeplane-cli" });
    this.admin = new AdminClient(this);
  }

  /**
   * Runs a read for a live view that polls: rides out a server restart or a network blip (connection
   * errors only, never API errors) for up to `patienceMs` before giving up.
   */
  async patiently<T>(read: () => Promise<T>, patienceMs = 15_000): Promise<T> {
    const deadline = Date.now() + patienceMs;
    for (;;) {
      try {
        return await read();
      } catch (e) {
        if (!(e instanceof ConnectionError) || Date.now() >= deadline) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** GET with `patiently`. */
  poll<T = unknown>(path: string, query?: Query, patienceMs = 15_000): Promise<T> {
    return this.patiently(() => this.get<T>(path, query), patienceMs);
  }
}
