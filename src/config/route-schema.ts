/**
 * The schema of one route rule, shared by the config file, etcd values (one rule
 * per key) and `routes import`. The seed's form is `{clientIdPrefix, openclawGateway}`.
 *
 * A rule has exactly one key:
 *   clientId        matches exactly this clientId (wins over every prefix);
 *   clientIdPrefix  matches every clientId that starts with it (the longest wins;
 *                   "" matches every clientId);
 * and exactly one target:
 *   openclawGateway   a ws:// or wss:// URL, or a template with {clientId} / {suffix}
 *                     (see src/routing/target-template.ts), e.g.
 *                     "ws://oc-{clientId}.tenants.internal:18789/ws";
 *   openclawGateways  a pool of 1-64 such URLs/templates; a client is pinned to one
 *                     by rendezvous hashing of its clientId, down members are skipped.
 * Matching and tie-breaking are described in src/routing/route-table.ts.
 */
import { z } from 'zod';
import { CLIENT_ID_CHARS, MAX_CLIENT_ID_LENGTH } from '../routing/client-id.js';
import { MAX_POOL_MEMBERS } from '../routing/route-target.js';
import { compileTarget, TemplateError } from '../routing/target-template.js';

/** A static ws:// or wss:// URL, or a target template. */
export const upstreamUrl = z.string().superRefine((s, ctx) => {
  try {
    compileTarget(s);
  } catch (e) {
    if (!(e instanceof TemplateError)) throw e;
    ctx.addIssue({ code: 'custom', message: `expected a ws:// or wss:// URL or template: ${e.message}` });
  }
});

const routeKeyChars = 'may only hold A-Z, a-z, 0-9 and "._:@-" (the clientId characters)';

const targetFields = {
  /** The upstream OpenClaw gateway: a ws:// or wss:// URL, or a template. */
  openclawGateway: upstreamUrl.optional(),
  /** A pool of upstreams; each client is pinned to one by rendezvous hashing. */
  openclawGateways: z.array(upstreamUrl).min(1).max(MAX_POOL_MEMBERS).optional(),
};

type TargetFields = { openclawGateway?: string | undefined; openclawGateways?: string[] | undefined };

function checkTarget(r: TargetFields, ctx: z.RefinementCtx, exact: boolean): void {
  if ((r.openclawGateway === undefined) === (r.openclawGateways === undefined)) {
    ctx.addIssue({ code: 'custom', message: 'a route needs exactly one of "openclawGateway" or "openclawGateways"' });
    return;
  }
  const pool = r.openclawGateways;
  if (pool !== undefined) {
    const seen = new Set<string>();
    pool.forEach((m, i) => {
      if (seen.has(m)) ctx.addIssue({ code: 'custom', path: ['openclawGateways', i], message: 'listed twice in the pool' });
      seen.add(m);
    });
  }
  if (exact) {
    const specs = pool ?? [r.openclawGateway!];
    specs.forEach((s, i) => {
      if (s.includes('{suffix}')) {
        ctx.addIssue({
          code: 'custom',
          path: pool === undefined ? ['openclawGateway'] : ['openclawGateways', i],
          message: '{suffix} is not allowed on an exact rule (it would be empty); use {clientId}',
        });
      }
    });
  }
}

export const routeRuleSchema = z
  .strictObject({
    /** Matches every clientId that starts with this string (the seed's rule). */
    clientIdPrefix: z.string().max(MAX_CLIENT_ID_LENGTH).regex(CLIENT_ID_CHARS, routeKeyChars).optional(),
    /** Matches exactly this clientId. More specific than any prefix. */
    clientId: z.string().min(1).max(MAX_CLIENT_ID_LENGTH).regex(CLIENT_ID_CHARS, routeKeyChars).optional(),
    ...targetFields,
  })
  .superRefine((r, ctx) => {
    if ((r.clientIdPrefix === undefined) === (r.clientId === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'a route needs exactly one of "clientIdPrefix" or "clientId"' });
    }
    checkTarget(r, ctx, r.clientId !== undefined);
  });

/** Where clientIds that match no rule go: a URL, a template ({suffix} = the whole clientId) or a pool. */
export const defaultRouteSchema = z.strictObject(targetFields).superRefine((r, ctx) => checkTarget(r, ctx, false));

export type RouteRuleConfig = z.infer<typeof routeRuleSchema>;
export type DefaultRouteConfig = z.infer<typeof defaultRouteSchema>;
