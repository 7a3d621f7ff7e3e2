/**
 * What a rule points at. A static URL is kept as the plain string (no object per
 * rule); templates and pools are objects shared by every rule with the same spec
 * (the table interns them by spec and counts references).
 *
 * Pools use rendezvous (highest-random-weight) hashing: every member gets the score
 * fmix32(hash(clientId) ^ seed(member)), where the seed is a hash of the member's
 * own spec, and the highest score wins. A member's score never depends on the other
 * members, so adding or removing one member moves only the clients that it wins or
 * had won (about 1/N of them), and no client moves between the other members.
 * Ties (equal 32-bit scores) go to the higher seed, then the smaller spec string,
 * which depends neither on the order of members nor on the order of rules.
 *
 * Down members (see `UpstreamHealth`) are skipped: the client goes to the best
 * scored member that is up, which is exactly where HRW sends it when the down
 * member is removed. When every member is down, the client goes to the best scored
 * member anyway (`allDown`): refusing to route turns a transient outage into a
 * "no route" (HTTP 404, do not retry) for clients, while trying the member yields an
 * upstream close code that tells them to back off and retry, and the attempt itself
 * tells the health tracker when the member is back.
 */
import { altHash, fmix32, fnv1a } from './string-hash.js';
import { compileTarget, CompiledTemplate, TemplateError, type TemplateReject } from './target-template.js';
import type { UpstreamHealthView } from './upstream-health.js';
import type { MatchKind, RouteMatch } from './route-table.js';

/** Most members in one pool (each lookup scores every member). */
export const MAX_POOL_MEMBERS = 64;

/** Fields every shared target carries for the table's bookkeeping. */
abstract class SharedTarget {
  /** The interning key: the template, or the pool's JSON member list. */
  readonly key: string;
  /** Rules that point at this object. */
  refs = 0;
  readonly digestA: number;
  readonly digestB: number;
  constructor(key: string) {
    this.key = key;
    this.digestA = fnv1a(key);
    this.digestB = altHash(key);
  }
}

export class TemplateTarget extends SharedTarget {
  readonly kind = 'template';
  readonly template: CompiledTemplate;
  constructor(template: CompiledTemplate) {
    super(template.source);
    this.template = template;
  }
}

export class PoolTarget extends SharedTarget {
  readonly kind = 'pool';
  /** The members as written in the config. */
  readonly specs: readonly string[];
  readonly members: readonly (string | CompiledTemplate)[];
  /** Unsigned 32-bit seed per member. */
  readonly seeds: Uint32Array;
  readonly usesSuffix: boolean;

  constructor(specs: readonly string[]) {
    super(JSON.stringify(specs));
    if (specs.length === 0 || specs.length > MAX_POOL_MEMBERS) {
      throw new TemplateError(`a pool needs 1 to ${MAX_POOL_MEMBERS} members`);
    }
    if (new Set(specs).size !== specs.length) throw new TemplateError('a pool lists the same member twice');
    this.specs = Object.freeze([...specs]);
    this.members = Object.freeze(specs.map((s) => compileTarget(s)));
    this.seeds = Uint32Array.from(specs, (s) => fmix32(fnv1a(s)) >>> 0);
    this.usesSuffix = this.members.some((m) => typeof m !== 'string' && m.usesSuffix);
  }

  /** The member's score for a client whose FNV hash is `clientHash`. */
  score(member: number, clientHash: number): number {
    return fmix32(clientHash ^ this.seeds[member]!) >>> 0;
  }

  /** Whether member a ranks before member b (higher score; ties: higher seed, then smaller spec). */
  ranksBefore(a: number, sa: number, b: number, sb: number): boolean {
    if (sa !== sb) return sa > sb;
    if (this.seeds[a] !== this.seeds[b]) return this.seeds[a]! > this.seeds[b]!;
    return this.specs[a]! < this.specs[b]!;
  }

  /** Member indices, best first. */
  rank(clientHash: number): number[] {
    const scores = this.members.map((_, i) => this.score(i, clientHash));
    return this.members
      .map((_, i) => i)
      .sort((a, b) => (this.ranksBefore(a, scores[a]!, b, scores[b]!) ? -1 : 1));
  }
}

export type RouteTarget = string | TemplateTarget | PoolTarget;

/** The outcome of resolving a target for one client; one reusable instance per table. */
export class Resolution {
  target = '';
  /** The chosen pool member, or -1. */
  member = -1;
  allDown = false;
  reject: TemplateReject | undefined = undefined;
}

export function renderMember(member: string | CompiledTemplate, clientId: string, suffix: string): string | TemplateReject {
  return typeof member === 'string' ? member : member.render(clientId, suffix);
}

/**
 * Resolves `target` for a client into `out`. Returns false (with `out.reject`) when
 * a template rejects the clientId.
 */
export function resolveTarget(
  target: RouteTarget,
  clientId: string,
  suffix: string,
  clientHash: number,
  health: UpstreamHealthView | undefined,
  out: Resolution,
): boolean {
  out.member = -1;
  out.allDown = false;
  out.reject = undefined;
  if (typeof target === 'string') {
    out.target = target;
    return true;
  }
  if (target.kind === 'template') return settle(target.template.render(clientId, suffix), out);
  if (health === undefined || !health.anyTracked()) {
    // The fast path: one pass for the best score.
    let best = 0;
    let bestScore = target.score(0, clientHash);
    for (let i = 1; i < target.members.length; i++) {
      const s = target.score(i, clientHash);
      if (target.ranksBefore(i, s, best, bestScore)) {
        best = i;
        bestScore = s;
      }
    }
    out.member = best;
    return settle(renderMember(target.members[best]!, clientId, suffix), out);
  }
  const ranked = target.rank(clientHash);
  for (const i of ranked) {
    const url = renderMember(target.members[i]!, clientId, suffix);
    if (typeof url !== 'string') return settle(url, out);
    if (!health.isDown(url)) {
      out.member = i;
      return settle(url, out);
    }
  }
  out.member = ranked[0]!;
  out.allDown = true;
  return settle(renderMember(target.members[out.member]!, clientId, suffix), out);
}

/** The match of a rule of `kind` and `key` whose target is `t`, or undefined when its template rejects the clientId (`out` is scratch). */
export function matchTarget(
  t: RouteTarget,
  kind: MatchKind,
  key: string,
  clientId: string,
  suffix: string,
  clientHash: number,
  health: UpstreamHealthView | undefined,
  out: Resolution,
): RouteMatch | undefined {
  if (typeof t === 'string') return { target: t, kind, key, member: -1, allDown: false };
  if (!resolveTarget(t, clientId, suffix, clientHash, health, out)) return undefined;
  return { target: out.target, kind, key, member: out.member, allDown: out.allDown };
}

/** Whether the target renders `{suffix}` (then a lookup passes the clientId's rest after the prefix). */
export function usesSuffix(t: RouteTarget): boolean {
  return typeof t !== 'string' && (t.kind === 'template' ? t.template.usesSuffix : t.usesSuffix);
}

function settle(url: string | TemplateReject, out: Resolution): boolean {
  if (typeof url === 'string') {
    out.target = url;
    return true;
  }
  out.reject = url;
  return false;
}
