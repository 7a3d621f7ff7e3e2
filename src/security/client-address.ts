/**
 * Who the client is, network-wise: the peer's address, unless the peer is a
 * trusted proxy (gateway.trustedProxies), in which case X-Forwarded-For names it:
 * the rightmost address that is not itself a trusted proxy (addresses to its left
 * were written by the client and prove nothing). Used for the per-source limits and
 * the forwarding headers sent upstream.
 */
import { BlockList, isIP } from 'node:net';

export class TrustedProxies {
  readonly #list = new BlockList();
  readonly #any: boolean;

  constructor(entries: readonly string[]) {
    this.#any = entries.length > 0;
    for (const e of entries) {
      const [addr, bits] = e.split('/') as [string, string | undefined];
      const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.#list.addAddress(addr, type);
      else this.#list.addSubnet(addr, Number(bits), type);
    }
  }

  get any(): boolean {
    return this.#any;
  }

  trusts(address: string): boolean {
    if (!this.#any) return false;
    const a = plain(address);
    const family = isIP(a);
    return family !== 0 && this.#list.check(a, family === 6 ? 'ipv6' : 'ipv4');
  }

  /** The client's address for a peer and its X-Forwarded-For header. */
  clientAddress(peer: string, xff: string | undefined): string {
    const p = plain(peer);
    if (xff === undefined || !this.trusts(p)) return p;
    const hops = xff.split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = plain(hops[i]!.trim());
      if (isIP(hop) === 0) return p; // a hop we cannot read: stop at the last one we trust
      if (!this.trusts(hop)) return hop;
    }
    return plain(hops[0]!.trim());
  }
}

/** `::ffff:1.2.3.4` → `1.2.3.4` (a dual-stack listener reports IPv4 peers so). */
export function plain(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
