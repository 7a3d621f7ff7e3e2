/**
 * `stratix-gateway default-config`: every setting with its default and what it does, as
 * JSON with comments (the loader accepts `//` and block comments; see load.ts). Loaded as
 * it is, it gives exactly the defaults (a test keeps the text and the schema in step:
 * every setting of the schema appears, and the values are the defaults). Settings without
 * a default (admin.token, admin.listen, defaultRoute, an etcd source) are shown commented
 * out, with an example value.
 */
export const DEFAULT_CONFIG_TEXT = `// Stratix Gateway configuration: every setting, at its default.
// JSON with comments: "//" and "/* */" comments are allowed, trailing commas are not.
// Durations are milliseconds (...Ms), sizes are bytes (...Bytes). Unknown keys are refused.
// Check a file with: stratix-gateway check-config FILE
{
  "gateway": {
    // Where clients connect: ":8080" (every address), "127.0.0.1:8080", "[::1]:8080".
    "listen": ":8080",
    // Open client sessions on this instance; each worker takes an equal share. Over it: 503.
    "maxConnections": 100000,
    // Worker processes, "auto" = one per core. A clientId's worker is fnv1a(clientId) % workers.
    "workers": "auto",
    // The upgrade request head must arrive within this time, else 408 (slowloris guard).
    "handshakeTimeoutMs": 10000,
    // Largest request head, else 431.
    "maxHeaderBytes": 16384,
    // Every leg is pinged once per interval; a leg that did not answer the previous ping is dropped.
    "pingIntervalMs": 25000,
    // A close handshake must complete within this time; then the gateway answers a close still
    // owed, cuts a leg that never answered ours, and at twice it cuts everything left.
    "closeTimeoutMs": 10000,
    // On SIGTERM/SIGINT, client closes (1012) are spread at random over this period.
    "drainPeriodMs": 30000,
    // After the drain period, sessions still closing get this long, then are cut.
    "drainGraceMs": 5000,
    // Node/V8 flags of the worker processes (the default halves the memory of idle sessions).
    "workerNodeOptions": ["--max-semi-space-size=2"],
    // Addresses or CIDR blocks (nginx in front) whose X-Forwarded-For names the client, for the
    // per-source limits and the upstream's forwarding headers. Others' X-Forwarded-For is replaced.
    "trustedProxies": [],
    // The listening socket's accept backlog (the kernel caps it at net.core.somaxconn).
    "listenBacklog": 4096
  },

  // Rules, most specific wins: {"clientId": ID, ...} (exact) or {"clientIdPrefix": P, ...}
  // (longest prefix), each with "openclawGateway": URL or template, or "openclawGateways": [pool].
  "routes": [
    // { "clientIdPrefix": "acme-", "openclawGateway": "ws://oc-1.internal:18789/ws" },
    // { "clientId": "vip-7", "openclawGateways": ["ws://oc-2.internal:18789/ws", "ws://oc-3.internal:18789/ws"] }
  ],
  // Where clientIds that match no rule go; without it they are refused (404 STRATIX_ERR_NO_ROUTE).
  // "defaultRoute": { "openclawGateway": "ws://oc-default.internal:18789/ws" },

  "upstream": {
    // TCP connect + WebSocket upgrade to the upstream, else close 4522.
    "connectTimeoutMs": 10000,
    // "none", "x-forwarded-for" or "forwarded" (RFC 7239). OpenClaw refuses them unless it trusts the gateway.
    "forwardedHeaders": "none",
    // Pass the client's Origin header upstream.
    "forwardOrigin": false,
    // Static headers added to every upstream upgrade request, e.g. {"X-Tenant": "acme"}.
    "headers": {}
  },

  "limits": {
    // Largest message either way (25 MiB, OpenClaw's maxPayload), else 1009 (client) or 1014 (upstream).
    "maxMessageBytes": 26214400,
    // Largest client message while the upstream is still connecting (64 KiB), else 1009.
    "preOpenMaxMessageBytes": 65536,
    // Client messages held while the upstream connects; past it the gateway stops reading the client.
    "preOpenQueueMessages": 64,
    // The same bound in bytes.
    "preOpenQueueBytes": 1048576
  },

  "backpressure": {
    // When one leg has this much buffered, the other leg's reads pause.
    "highWaterMarkBytes": 1048576,
    // Paused reads resume when the buffer drains to this.
    "lowWaterMarkBytes": 262144,
    // A client above the high-water mark this long is closed with 4408.
    "slowClientTimeoutMs": 60000
  },

  "log": {
    // fatal, error, warn, info, debug, trace, silent. Nothing is logged per message at info.
    "level": "info"
  },

  "demo": {
    // Start the bundled echo upstream (the quick start's config/route.json does; never in production).
    "enabled": false,
    "listen": "127.0.0.1:8081"
  },

  // Where the rules come from: this file ("file"), or etcd, one key per rule:
  //   "routeSource": { "type": "etcd", "etcd": { "endpoints": ["http://10.0.0.5:2379"],
  //     "prefix": "/stratix/routes/", "snapshotPath": "data/routes.snapshot", "warmStart": true, "dialTimeoutMs": 5000,
  //     "requestTimeoutMs": 10000, "pageSize": 50000, "progressEveryKeys": 100000,
  //     "snapshotDebounceMs": 2000, "reconnectInitialMs": 100, "reconnectMaxMs": 5000, "keepaliveMs": 10000 } },
  "routeSource": { "type": "file" },

  "routing": {
    // On a reload, live sessions whose route changed are kept ("keep") or closed with 4307 ("migrate"), paced.
    "onRouteChange": "keep",
    // With "migrate" (and for POST /admin/sessions/close): closes per second per instance, with jitter.
    "migrateRatePerSecond": 100,
    // Reload when this file changes (also on SIGHUP and POST /admin/reload).
    "watchConfigFile": true,
    // File changes closer together than this are one reload.
    "watchDebounceMs": 250,
    // How long POST /admin/reload waits for every worker to hold the new table.
    "convergeTimeoutMs": 60000,
    "health": {
      // Consecutive failed connects that take a pool member down.
      "failuresToMarkDown": 3,
      // How long a member taken down by failures is skipped.
      "downCooldownMs": 30000,
      // Upstreams tracked per worker.
      "maxTracked": 100000
    }
  },

  "relay": {
    // Where verbatim sessions' data frames are relayed (docs/native-data-path.md): "js",
    // "native" (a relay thread below net.Socket; no start without the addon) or "auto".
    "dataPath": "auto",
    // The relay thread's io_uring receive pool grows to this many 4 KiB buffers (2-4096).
    "nativeReceiveBuffers": 4096
  },

  // Reliable sessions (clients that offer the stratix.v1 subprotocol; docs/protocol.md).
  "reliable": {
    // How long a session waits for its client to come back after a disconnect.
    "resumeWindowMs": 120000,
    // A connected client that got nothing for this long gets a HEARTBEAT envelope.
    "heartbeatMs": 25000,
    // A stratix.v1 connection must send its HELLO within this time (close 4400 otherwise).
    "helloTimeoutMs": 10000,
    // Per session: unacknowledged envelopes kept, and their bytes; at the bound the upstream is not read.
    "maxUnackedMessages": 10000,
    "maxUnackedBytes": 16777216,
    // Per instance (split between workers): unacknowledged envelopes of all sessions.
    "maxBufferedMessages": 1000000,
    // Per instance: memory for copies of unacknowledged envelopes; past it they are read back from the log.
    "memoryBytes": 268435456,
    // Per session: client messageIds remembered for duplicate detection, each for resumeWindowMs.
    "duplicateWindowMessages": 10000,
    // An ACK (or NACK) waits up to this long for other frames to the same client, to share one write; 0: at once.
    "ackDelayMs": 2,
    // Upstream reconnects after a retryable close: capped exponential backoff with full jitter.
    "upstreamReconnect": { "initialDelayMs": 1000, "maxDelayMs": 30000, "giveUpAfterMs": 300000 },
    // When an upstream's circuit breaker closes, the sessions waiting for it reconnect spread over this long.
    "breakerReleaseSpreadMs": 2000,
    "log": {
      // Where the message logs live (one directory per gateway process), relative to the working directory.
      "dir": "data/reliable",
      // What survives a power cut: "none" (the OS decides), "interval" (fdatasync every fsyncIntervalMs), "always".
      "fsync": "interval",
      "fsyncIntervalMs": 1000,
      // A segment file is closed and a new one started at this size.
      "segmentBytes": 67108864,
      // The instance's log may hold this much (split between workers); past it sessions stop reading upstreams.
      "maxBytes": 8589934592,
      // A log that stays unwritable this long (e.g. a full disk) ends its sessions with 4507.
      "failureTimeoutMs": 10000
    }
  },

  // Who may connect (docs/security.md). "none" lets anyone claim any clientId: never in production.
  "auth": {
    // "none", "hmac" (signed handshakes: kid, ts, nonce, sig query parameters) or "jwt".
    "mode": "none",
    // With "hmac": one file per key in keysDir (file name = kid, content = secret, 32+ bytes).
    // "hmac": { "keysDir": "/etc/stratix/hmac-keys", "maxSkewMs": 60000, "nonceCacheEntries": 1000000, "watch": true },
    // With "jwt": key files and/or a JWKS URL; the clientIdClaim must equal the clientId.
    // "jwt": { "algorithms": ["RS256"], "keyFiles": [{ "file": "/etc/stratix/jwt.pem", "alg": "RS256" }],
    //   "jwks": { "url": "https://auth.example.com/.well-known/jwks.json", "refreshIntervalMs": 300000,
    //     "cooldownMs": 30000, "timeoutMs": 5000, "maxStaleMs": 86400000 },
    //   "issuer": "https://auth.example.com", "audience": "stratix", "clientIdClaim": "sub",
    //   "clockToleranceMs": 30000, "requireExp": true, "watch": true },
    // Origins a browser may connect from (absent: any). Electron from disk sends "file://".
    // "allowedOrigins": ["https://app.example.com", "file://"],
    // With allowedOrigins: also admit requests without an Origin (native clients, the OpenClaw CLI).
    "allowMissingOrigin": true
  },

  // How much (docs/security.md). 0 switches a rate or bound off.
  "admission": {
    // The whole instance, in the primary: over the rate, 503 with a Retry-After spread over the backlog.
    "instance": {
      "handshakesPerSecond": 5000,
      "handshakeBurst": 10000,
      // The largest Retry-After (seconds) given to refused clients.
      "retryAfterMaxSeconds": 60,
      // Handshakes handed to the workers and not yet taken (split between workers); past it 503 OVERLOADED at once.
      "maxQueuedHandshakes": 1000
    },
    // Per source address (the peer's, or the one a trusted proxy names), in the primary.
    "source": {
      "handshakesPerSecond": 2000,
      "handshakeBurst": 10000,
      // Open connections per source address.
      "maxConnections": 25000,
      // Source addresses tracked for the handshake rate.
      "maxTracked": 100000
    },
    // Per clientId: a client in a reconnect loop is slowed (429 / 4429).
    "clientId": {
      "handshakesPerSecond": 2,
      "handshakeBurst": 20,
      "maxTracked": 200000
    },
    // Per upstream URL (split between workers): connects reach an upstream at a pace it survives.
    "upstream": {
      // Connects in flight to one upstream; more wait, within upstream.connectTimeoutMs.
      "maxConcurrentConnects": 64,
      "connectsPerSecond": 200,
      "connectBurst": 200,
      // Connects waiting for one upstream; past it, 503 STRATIX_ERR_UPSTREAM_BUSY.
      "maxWaiting": 5000
    },
    // Per connection, each way: over a rate that side is not read until the budget refills;
    // kept paused for pausedTimeoutMs, the connection is closed with 4429. 0 = no limit.
    "client": {
      "messagesPerSecond": 0,
      // Messages after a quiet spell; 0 = one second's worth.
      "messageBurst": 0,
      "bytesPerSecond": 0,
      // Bytes after a quiet spell; 0 = one second's worth.
      "byteBurst": 0,
      "pausedTimeoutMs": 60000
    },
    // Two connections with one clientId: "takeover" (the old gets 4410), "reject" (409 / 4409) or "allow".
    "duplicateClientId": "takeover"
  },

  "tls": {
    // Serve wss:// on gateway.listen (the primary terminates TLS; nginx in front is recommended).
    // "server": { "certFile": "/etc/stratix/cert.pem", "keyFile": "/etc/stratix/key.pem",
    //   "clientCaFile": "/etc/stratix/clients-ca.pem", "minVersion": "TLSv1.2", "watch": true },
    // For wss:// upstreams: a CA bundle (default Node's roots), a client certificate, the SNI name:
    // "caFile": "/etc/stratix/upstream-ca.pem", "certFile": "...", "keyFile": "...", "servername": "oc.internal",
    "upstream": {
      "minVersion": "TLSv1.2"
    }
  },

  "admin": {
    // Bearer token for /admin/* and the dashboard (16+ printable characters). Without it the
    // admin endpoints answer 403. Or read it from a file or an environment variable (at most one of the three):
    // "token": "change-me-to-a-long-random-string",
    // "tokenFile": "/etc/stratix/admin-token",
    // "tokenEnv": "STRATIX_ADMIN_TOKEN",
    // Serve /admin/* only on this address (recommended: keep it off the clients' network).
    // "listen": "127.0.0.1:9091"
  }
}
`;
