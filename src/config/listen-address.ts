/**
 * A `listen` setting taken apart. Apart from load.ts (and the schema it loads) so that
 * a worker, which gets its config already validated from the primary, loads no validator.
 */

/** `":8080"` → {host: undefined, port: 8080}; `"[::1]:9"` → {host: "::1", port: 9}. */
export function parseListen(listen: string): { host: string | undefined; port: number } {
  const i = listen.lastIndexOf(':');
  const port = Number(i === -1 ? listen : listen.slice(i + 1));
  let host = i <= 0 ? undefined : listen.slice(0, i);
  if (host?.startsWith('[')) host = host.slice(1, -1);
  return { host, port };
}
