/**
 * `/admin/routes/explain`'s answer, for any table that can say which target each of a
 * clientId's candidate rules has (hash-route-table.ts, packed-route-table.ts): one
 * decision procedure, so that the tables explain exactly alike.
 */
import type { ExplainedMember, ExplainedRule, MatchKind, RouteExplanation } from './route-table.js';
import { CLIENT_ID_PATTERN } from './client-id.js';
import { renderMember, Resolution, resolveTarget, type RouteTarget } from './route-target.js';
import { fnv1a } from './string-hash.js';
import { CompiledTemplate } from './target-template.js';
import type { UpstreamHealthView } from './upstream-health.js';

/** What explain needs of a table. */
export interface ExplainSource {
  readonly version: string;
  readonly revision: string | undefined;
  readonly health: UpstreamHealthView | undefined;
  /** Distinct prefix lengths in use, longest first. */
  readonly prefixLengths: Int32Array;
  exactTarget(clientId: string): RouteTarget | undefined;
  prefixTarget(prefix: string): RouteTarget | undefined;
  readonly defaultTarget: RouteTarget | undefined;
}

/** The target fields of a rule, as written in the config. */
export function targetFields(t: RouteTarget): { openclawGateway: string } | { openclawGateways: readonly string[] } {
  if (typeof t === 'string') return { openclawGateway: t };
  return t.kind === 'template' ? { openclawGateway: t.template.source } : { openclawGateways: t.specs };
}

export function explainRoute(table: ExplainSource, clientId: string): RouteExplanation {
  const base = { clientId, version: table.version, revision: table.revision };
  const none = { template: undefined, target: undefined, pool: undefined, rejected: undefined };
  if (!CLIENT_ID_PATTERN.test(clientId)) {
    return {
      ...base,
      ...none,
      matched: false,
      rule: undefined,
      candidates: [],
      reason: 'the clientId is not 1-128 chars of [A-Za-z0-9._:@-]; the handshake rejects it before routing (STRATIX_ERR_CLIENT_ID_INVALID)',
    };
  }
  const h = fnv1a(clientId);
  const found: { kind: MatchKind; key: string; target: RouteTarget; suffix: string }[] = [];
  const exact = table.exactTarget(clientId);
  if (exact !== undefined) found.push({ kind: 'exact', key: clientId, target: exact, suffix: '' });
  for (const len of table.prefixLengths) {
    if (len > clientId.length) continue;
    const key = clientId.slice(0, len);
    const t = table.prefixTarget(key);
    if (t !== undefined) found.push({ kind: 'prefix', key, target: t, suffix: clientId.slice(len) });
  }
  const fallback = table.defaultTarget;
  if (fallback !== undefined) found.push({ kind: 'default', key: '', target: fallback, suffix: clientId });
  const candidates = found.map(({ kind, key }) => ({ kind, key }));
  const decider = found[0];
  if (decider === undefined) {
    return { ...base, ...none, matched: false, rule: undefined, candidates, reason: 'no rule matches and there is no default route: the handshake answers STRATIX_ERR_NO_ROUTE (404)' };
  }
  const { kind, key, target, suffix } = decider;
  const rule: ExplainedRule = { kind, key, ...targetFields(target) };
  const why =
    kind === 'exact'
      ? 'an exact rule matches (exact rules win over prefixes)'
      : kind === 'prefix'
        ? `"${key}" is the longest matching prefix (no exact rule for this clientId)`
        : 'no exact or prefix rule matches: the default route';
  const r = new Resolution();
  const ok = resolveTarget(target, clientId, suffix, h, table.health, r);
  const rejected = r.reject === undefined ? undefined : { code: r.reject.code, message: r.reject.message };
  const rejectSentence = rejected === undefined ? '' : `; the template rejects the clientId (${rejected.code}: ${rejected.message}), so it is a miss (no fall-through to less specific rules)`;

  if (typeof target === 'string' || target.kind === 'template') {
    return {
      ...base,
      matched: ok,
      rule,
      candidates,
      template: typeof target === 'string' ? undefined : target.template.source,
      target: ok ? r.target : undefined,
      pool: undefined,
      rejected,
      reason: why + rejectSentence,
    };
  }
  const members: ExplainedMember[] = target.rank(h).map((i) => {
    const url = renderMember(target.members[i]!, clientId, suffix);
    const status = typeof url === 'string' ? table.health?.status(url) : undefined;
    return {
      index: i,
      spec: target.specs[i]!,
      target: typeof url === 'string' ? url : undefined,
      score: target.score(i, h),
      down: status?.down ?? false,
      downReason: status?.down ? status.reason : undefined,
    };
  });
  const skipped = members.findIndex((m) => m.index === r.member);
  const chosenMember = target.members[r.member];
  const poolWhy = !ok
    ? ''
    : r.allDown
      ? `; every pool member is down, so member ${r.member} (the highest rendezvous score) is tried anyway`
      : `; member ${r.member} has the highest rendezvous score${skipped > 0 ? ` among members that are up (${skipped} better scored member(s) down, skipped)` : ''}`;
  return {
    ...base,
    matched: ok,
    rule,
    candidates,
    template: chosenMember instanceof CompiledTemplate ? chosenMember.source : undefined,
    target: ok ? r.target : undefined,
    pool: { members, chosen: r.member, allDown: r.allDown },
    rejected,
    reason: why + poolWhy + rejectSentence,
  };
}
