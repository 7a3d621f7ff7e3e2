/**
 * The Origin allow-list (auth.allowedOrigins). A browser (and Electron's renderer)
 * always sends Origin on a WebSocket; native clients (the OpenClaw CLI and node host)
 * send none. The check stops other web pages from opening sessions with a user's
 * ambient access; it is no authentication, since a native client can send any Origin.
 *
 * Matching is exact after lower-casing (origins are scheme://host[:port]): Electron
 * pages loaded from disk send `file://`, custom protocols `scheme://host`, sandboxed
 * frames `null`.
 */
export class OriginPolicy {
  readonly #allowed: ReadonlySet<string> | undefined;
  readonly #allowMissing: boolean;

  constructor(allowed: readonly string[] | undefined, allowMissing: boolean) {
    this.#allowed = allowed === undefined ? undefined : new Set(allowed.map((o) => o.toLowerCase()));
    this.#allowMissing = allowMissing;
  }

  get active(): boolean {
    return this.#allowed !== undefined;
  }

  allows(origin: string | undefined): boolean {
    if (this.#allowed === undefined) return true;
    if (origin === undefined) return this.#allowMissing;
    return this.#allowed.has(origin.trim().toLowerCase());
  }
}
