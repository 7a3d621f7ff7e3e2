/**
 * A client of a running instance's admin API (what `stratix-gateway status` and
 * `sessions …` use). It finds the instance from the command line, the environment or
 * the config file:
 *
 *   URL:   --url, else $STRATIX_ADMIN_URL, else the config's admin.listen, else its
 *          gateway.listen (a listen address without a host, ":8080", means 127.0.0.1)
 *   token: --token, else $STRATIX_ADMIN_TOKEN, else the config's admin.token
 *
 * Every request carries `X-Stratix-Operator: <user>@<host>` so the instance's audit line
 * says who acted. An error answer becomes an AdminClientError with the instance's code.
 */
import { hostname, userInfo } from 'node:os';
import type { Config } from '../config/schema.js';
import { StratixError } from '../errors.js';

export const ADMIN_URL_ENV = 'STRATIX_ADMIN_URL';
export const ADMIN_TOKEN_ENV = 'STRATIX_ADMIN_TOKEN';
const TIMEOUT_MS = 30_000;

export class AdminClientError extends StratixError {
  readonly status: number | undefined;
  constructor(code: string, message: string, status?: number, options?: { cause?: unknown }) {
    super(code, message, options);
    this.status = status;
  }
}

export interface AdminTarget {
  readonly url: string;
  readonly token: string | undefined;
}

/** The base URL of an instance's admin API from its config. */
export function adminUrlOf(config: Config): string {
  const listen = config.admin.listen ?? config.gateway.listen;
  const i = listen.lastIndexOf(':');
  let host = i <= 0 ? '127.0.0.1' : listen.slice(0, i);
  if (host === '0.0.0.0') host = '127.0.0.1';
  if (host === '[::]') host = '[::1]';
  return `http://${host}:${listen.slice(i + 1)}`;
}

export function resolveAdminTarget(flags: { url?: string | undefined; token?: string | undefined }, env: NodeJS.ProcessEnv, config: Config | undefined): AdminTarget | Error {
  const url = flags.url ?? env[ADMIN_URL_ENV] ?? (config === undefined ? undefined : adminUrlOf(config));
  if (url === undefined) return new Error(`no admin URL: give --url, set ${ADMIN_URL_ENV}, or --config FILE of the running instance`);
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
  } catch {
    return new Error(`not an http(s) URL: ${url}`);
  }
  return { url: url.replace(/\/+$/, ''), token: flags.token ?? env[ADMIN_TOKEN_ENV] ?? config?.admin.token };
}

export class AdminClient {
  readonly #target: AdminTarget;
  readonly #operator: string;

  constructor(target: AdminTarget) {
    this.#target = target;
    let user = 'unknown';
    try {
      user = userInfo().username;
    } catch {
      // no passwd entry
    }
    this.#operator = `${user}@${hostname()} (stratix-gateway cli)`;
  }

  get<T>(path: string, query: Record<string, string | number | boolean | undefined> = {}): Promise<T> {
    return this.#request<T>('GET', path, query);
  }

  post<T>(path: string, query: Record<string, string | number | boolean | undefined> = {}): Promise<T> {
    return this.#request<T>('POST', path, query);
  }

  async #request<T>(method: string, path: string, query: Record<string, string | number | boolean | undefined>): Promise<T> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    const url = `${this.#target.url}${path}${qs === '' ? '' : `?${qs}`}`;
    const headers: Record<string, string> = { 'X-Stratix-Operator': this.#operator, Accept: 'application/json' };
    if (this.#target.token !== undefined) headers['Authorization'] = `Bearer ${this.#target.token}`;
    let res: Response;
    try {
      res = await fetch(url, { method, headers, signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      throw new AdminClientError('STRATIX_ERR_ADMIN_UNREACHABLE', `cannot reach the admin API at ${this.#target.url} (${cause})`, undefined, { cause: err });
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const e = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new AdminClientError(e?.code ?? `HTTP_${res.status}`, `${method} ${path}: ${res.status} ${e?.message ?? text.slice(0, 200)}`, res.status);
    }
    if (body === undefined) throw new AdminClientError('STRATIX_ERR_ADMIN_BAD_ANSWER', `${method} ${path}: the answer is not JSON`, res.status);
    return body as T;
  }
}
