/**
 * The schema of one route rule, shared by the config file, etcd values (one rule
 * per key) and `routes import`. The seed's form is `{clientIdPrefix, openclawGateway}`.
 */
import { z } from 'zod';

export const upstreamUrl = z
  .string()
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'ws:' || u.protocol === 'wss:') && u.hostname !== '' && u.hash === '';
    } catch {
      return false;
    }
  }, 'expected a ws:// or wss:// URL without a #fragment');

export const routeRuleSchema = z
  .strictObject({
    /** Matches every clientId that starts with this string (the seed's rule). */
    clientIdPrefix: z.string().max(128).optional(),
    /** Matches exactly this clientId. More specific than any prefix. */
    clientId: z.string().min(1).max(128).optional(),
    /** The upstream OpenClaw gateway, a ws:// or wss:// URL. */
    openclawGateway: upstreamUrl,
  })
  .refine((r) => (r.clientIdPrefix === undefined) !== (r.clientId === undefined), {
    message: 'a route needs exactly one of "clientIdPrefix" or "clientId"',
  });

export const defaultRouteSchema = z.strictObject({ openclawGateway: upstreamUrl });

export type RouteRuleConfig = z.infer<typeof routeRuleSchema>;
