/*
 * stratix_relay: the native data path of verbatim sessions (docs/native-data-path.md).
 *
 * Once a session is open with nothing pending, JavaScript stops reading both
 * sockets and gives their file descriptors to `adopt`. A relay thread then reads
 * each side and writes what it read to the other side as it came (client frames
 * keep the client's own mask: any key is valid client→server; upstream frames are
 * unmasked). On the way it parses every frame header and checks what the JS relay
 * checks on data frames (RSV bits, masking, opcodes, fragmentation order, the
 * 64-bit length's top bit, the message size limit, UTF-8 of text messages across
 * frames and reads), and counts messages and payload bytes per session and per
 * group (a gateway), for the metrics.
 *
 * Everything else is handed back to JavaScript (an event), with the output still
 * owed per direction, the bytes read and not relayed, and both directions' parser
 * state, so that the JS parser (src/relay/frame-parser.ts `restore`) carries on
 * exactly where the relay thread stopped:
 *   - a control frame (ping, pong, close), at its header;
 *   - anything that looks like a protocol fault, at the header of the frame it is
 *     in (the parser state is the one before that frame: JS parses it again and
 *     fails the connection with its own code and reason);
 *   - EOF or a socket error;
 *   - output over the session's high-water mark (backpressure is JS's: 4408);
 *   - a `release` from JavaScript (close, drain, route change);
 *   - a leg that did not answer the previous heartbeat's ping (`ping timeout`).
 * The heartbeat is the thread's own: JavaScript's round asks for it (`heartbeat`),
 * and the thread judges and pings both legs as the JS path does (a leg that read
 * nothing since its last ping is timed out; a leg whose ping would wait behind
 * owed output or inside a frame being relayed to it is neither pinged nor judged),
 * writing the ping between frames. A valid pong that arrives whole in one read is
 * taken out of the stream on the thread (the JS path drops pongs too), and so is a
 * valid ping whose pong can go out at once (answered with its payload); a close, and
 * a ping or pong split over reads or whose pong would wait, go to JavaScript.
 * A session's struct is freed on the JS thread once its event was delivered, so
 * `release` on a session that has just left is harmless. The addon never closes a
 * descriptor: the JS sockets keep owning them.
 *
 * Two modes: epoll (level-triggered, one read and one write per event) and
 * io_uring (multishot recv into provided buffers, sends from the received buffer,
 * all submissions and the wait in one io_uring_enter per loop; HAVE_LIBURING).
 *
 * The provided buffers are a pool that grows with use: 64 buffers of 4 KiB at the
 * start, 64 more each time a receive finds none free or fewer than a quarter are
 * free, up to a bound (`start`'s maxBuffers: relay.nativeReceiveBuffers, 4,096 by default: 16 MiB per thread;
 * a bound under 128 starts at half of it and grows by half). A receive that finds
 * none is armed again at once when buffers are back or the pool could grow; at the
 * bound with every buffer in a send, it waits until a send gives one back. `stats`
 * reports the pool and the receives that found no buffer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <poll.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <node_api.h>
#ifdef HAVE_LIBURING
#include <liburing.h>
#endif

#define READ_BYTES (64 * 1024)
#define HELD_MAX 16 /* a frame header is at most 14 bytes */
#define MAX_THREADS 8
#define MAX_EVENTS 128
#define MAX_GROUPS 1024

enum { EXC_CONTROL = 1, EXC_FAULT = 2, EXC_EOF = 3, EXC_ERROR = 4, EXC_RELEASE = 5, EXC_BACKPRESSURE = 6, EXC_PING_TIMEOUT = 7 };
/* scan's verdicts for a pong or a ping whole in the read: not events, the frame is taken out
 * of the stream (a ping is answered on the thread when its pong can go out at once) */
#define SKIP_PONG 100
#define SKIP_PING 101

/* The parser state of one direction (copied whole at each frame header: a fault rolls back to it). */
typedef struct {
  uint64_t remaining; /* payload bytes of the current data frame still to come */
  uint64_t msg_bytes; /* payload bytes of the message so far */
  uint32_t phase;     /* payload bytes of the current frame seen (mask phase) */
  uint8_t key[4];
  uint8_t opcode, fin, masked, msg_op; /* msg_op: 1 text, 2 binary, 0 none */
  uint8_t utf8_need, utf8_lo, utf8_hi; /* continuation bytes expected, range of the next one */
  uint8_t utf8_len, utf8_seq;          /* bytes of the code point so far (carried), its length */
  uint32_t utf8_carry;                 /* those bytes, big-endian */
} parser_t;

typedef struct {
  parser_t p;
  uint8_t held_len;
  uint8_t held[HELD_MAX]; /* a split header kept back (not yet relayed) */
  /* output to the other side */
  uint8_t *pend;
  size_t pend_len, pend_off, pend_cap;
  _Atomic uint64_t messages, bytes; /* relayed by this session, this direction (written by its thread only; read by JS at any time) */
  _Atomic uint64_t read;    /* bytes read from this direction's source (liveness; read by JS at any time) */
} dir_t;

typedef struct session_s session_t;
typedef struct {
  session_t *s;
  int side; /* 0 client, 1 upstream */
} fdref_t;

struct event_s;

struct session_s {
  int32_t id;
  int32_t group;
  int fd[2];
  fdref_t ref[2];
  dir_t d[2]; /* d[0]: client → upstream (reads fd[0]); d[1]: upstream → client */
  uint64_t max_message, high_water;
  uint32_t interest[2];
  uint8_t dead; /* ejected: the relay thread no longer touches it */
  _Atomic int release_req;
  _Atomic int hb_req;  /* JavaScript's heartbeat round reached the session */
  uint8_t awaiting[2]; /* a ping of ours went to side i and nothing was read from it since */
  session_t *prev, *next; /* the worker's live sessions */
  session_t *next_new;
  struct worker_s *w;
  /* io_uring mode */
  uint8_t armed[2];   /* a multishot recv is active on fd[i] */
  uint8_t sending[2]; /* a send of direction i (to fd[1 - i]) is in flight, or waits for room (polling) */
  uint8_t polling[2]; /* a POLLOUT on fd[1 - i] is armed for the rest of that send */
  uint8_t ejecting;
  int send_bid[2]; /* the provided buffer being sent, or -1: send_own */
  uint8_t *send_own[2];
  size_t send_cap[2];
  const uint8_t *send_ptr[2];
  size_t send_len[2], send_done[2];
  struct event_s *ev;
  uint8_t starved; /* io_uring: a bit per side whose recv ended for want of a buffer (on w->starved) */
  session_t *starved_next;
};

typedef struct event_s {
  session_t *s;
  int32_t id;
  int kind, dir, code;
  uint8_t *rest; /* bytes of `dir` read but not relayed, from the exception on */
  size_t rest_len;
  uint8_t *pend[2];  /* output still owed per direction */
  size_t pend_len[2];
  uint8_t *rest2[2]; /* io_uring: bytes received per direction after the exception, not relayed */
  size_t rest2_len[2];
  const char *reason;
  struct event_s *next;
} event_t;

typedef struct worker_s {
  pthread_t thread;
  int ep;
  int wake;
  _Atomic uint64_t reads, writes, wakeups;
  _Atomic uint64_t buf_bytes, buf_waits; /* io_uring: bytes of provided buffers; receives that found none free */
  _Atomic int requests; /* release and heartbeat requests not yet seen by the thread */
  uint64_t rng;          /* ping mask keys (xorshift) */
  uint8_t *buf;         /* HELD_MAX bytes of room before the read area */
  pthread_mutex_t lock;
  session_t *incoming;
  session_t *live;
  event_t *outbox, *outbox_tail; /* events of this loop, delivered after it */
#ifdef HAVE_LIBURING
  struct io_uring ring;
  struct io_uring_buf_ring *br;
  uint8_t **buf_addr;   /* the pool: each provided buffer's address, by id (allocated a chunk at a time as it grows) */
  int nbufs, free_bufs; /* buffers in the pool; of them in the ring (as far as this thread has seen) */
  session_t *starved;   /* sessions with a side waiting for a buffer */
  uint64_t wake_value;
  _Atomic int ready;
#endif
} worker_t;

static worker_t workers[MAX_THREADS];
static int nworkers;
static int next_worker;
static napi_threadsafe_function tsfn;
static int use_uring;
static int max_bufs = 4096;  /* io_uring: the pool's bound per thread */
static int chunk_bufs = 64; /* io_uring: buffers per growth (UBUF_CHUNK, or half a bound under 128) */
/* per group: messages c2u, u2c, payload bytes c2u, u2c */
static _Atomic uint64_t group_counts[MAX_GROUPS][4];

/* ------------------------------------------------------------------------ */
/* UTF-8 (RFC 3629 §4), fail fast, state carried across pieces               */

static int utf8_scan(parser_t *d, const uint8_t *p, size_t n, int masked, uint32_t phase) {
  uint8_t need = d->utf8_need, lo = d->utf8_lo, hi = d->utf8_hi, len = d->utf8_len, seq = d->utf8_seq;
  uint32_t carry = d->utf8_carry;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = masked ? (uint8_t)(p[i] ^ d->key[(phase + i) & 3]) : p[i];
    if (need) {
      if (c < lo || c > hi) return 0;
      need--;
      lo = 0x80;
      hi = 0xbf;
      carry = (carry << 8) | c;
      len++;
      continue;
    }
    if (c < 0x80) continue;
    if (c < 0xc2) return 0;
    if (c < 0xe0) { need = 1; lo = 0x80; hi = 0xbf; }
    else if (c < 0xf0) {
      need = 2;
      lo = c == 0xe0 ? 0xa0 : 0x80;
      hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c < 0xf5) {
      need = 3;
      lo = c == 0xf0 ? 0x90 : 0x80;
      hi = c == 0xf4 ? 0x8f : 0xbf;
    } else return 0;
    carry = c;
    len = 1;
    seq = need + 1;
  }
  d->utf8_need = need;
  d->utf8_lo = lo;
  d->utf8_hi = hi;
  d->utf8_len = need ? len : 0;
  d->utf8_seq = seq;
  d->utf8_carry = need ? carry : 0;
  return 1;
}

/* The carried code point in utf8-stream.ts' packing: bytes, count << 24, sequence length << 26. */
static double utf8_js_state(const parser_t *d) {
  if (d->msg_op != 1 || d->utf8_need == 0) return 0;
  return (double)(((uint32_t)d->utf8_seq << 26) | ((uint32_t)d->utf8_len << 24) | (d->utf8_carry & 0xffffff));
}

/* ------------------------------------------------------------------------ */
/* Parsing                                                                   */

typedef struct {
  size_t relay_end; /* bytes [0, relay_end) go to the other side */
  size_t rest;      /* bytes [rest, n) are handed back (exception) or kept back (split header) */
  int kind, code;
  const char *reason;
  uint64_t messages, bytes;
  size_t ping_hlen, ping_len; /* SKIP_PING: the ping's header and payload lengths (it starts at relay_end) */
} scan_t;

/* A fault: nothing from the start of its frame is relayed, and the parser goes back to that frame's start. */
static void fault(parser_t *d, const parser_t *at_frame, scan_t *r, size_t at, int code, const char *reason) {
  *d = *at_frame;
  r->kind = EXC_FAULT;
  r->code = code;
  r->reason = reason;
  r->relay_end = at;
  r->rest = at;
}

/* Scans b[0, n): direction `dir` (0: from the client, frames must be masked). */
static void scan(parser_t *d, int dir, const uint8_t *b, size_t n, uint64_t max_message, scan_t *r) {
  size_t pos = 0, frame_start = 0;
  parser_t at_frame = *d;
  memset(r, 0, sizeof *r);
  while (pos < n) {
    if (d->remaining > 0) {
      uint64_t take = d->remaining < n - pos ? d->remaining : n - pos;
      if (d->msg_op == 1 && !utf8_scan(d, b + pos, take, d->masked, d->phase)) {
        fault(d, &at_frame, r, frame_start, 1007, "invalid UTF-8 in a text message");
        return;
      }
      pos += take;
      d->remaining -= take;
      d->phase += (uint32_t)take;
      if (d->remaining > 0) break;
      if (d->fin) {
        if (d->msg_op == 1 && d->utf8_need) {
          fault(d, &at_frame, r, frame_start, 1007, "invalid UTF-8 in a text message");
          return;
        }
        r->messages++;
        r->bytes += d->msg_bytes;
        d->msg_op = 0;
      }
      continue;
    }
    /* a frame header at pos */
    frame_start = pos;
    at_frame = *d;
    size_t avail = n - pos;
    if (avail < 2) break;
    uint8_t b0 = b[pos], b1 = b[pos + 1];
    uint8_t len7 = b1 & 0x7f, masked = b1 >> 7;
    size_t hlen = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
    if (avail < hlen) break;
    uint8_t opcode = b0 & 0x0f, fin = b0 >> 7;
    uint64_t length = len7;
    if (len7 == 126) length = ((uint64_t)b[pos + 2] << 8) | b[pos + 3];
    else if (len7 == 127) {
      if (b[pos + 2] & 0x80) { fault(d, &at_frame, r, pos, 1002, "64-bit length"); return; }
      length = 0;
      for (int i = 0; i < 8; i++) length = (length << 8) | b[pos + 2 + i];
    }
    if (b0 & 0x70) { fault(d, &at_frame, r, pos, 1002, "reserved bits"); return; }
    if (masked != (dir == 0)) { fault(d, &at_frame, r, pos, 1002, "masking"); return; }
    if (opcode >= 8) {
      r->relay_end = pos;
      if ((opcode == 0xA || opcode == 0x9) && fin && len7 <= 125 && avail >= hlen + len7) {
        /* a valid pong (dropped, as the JS path does) or ping (answered), whole: taken out of the stream */
        r->kind = opcode == 0xA ? SKIP_PONG : SKIP_PING;
        r->rest = pos + hlen + len7;
        r->ping_hlen = hlen;
        r->ping_len = len7;
        return;
      }
      /* other control frames are JavaScript's (and so are their faults) */
      r->kind = EXC_CONTROL;
      r->rest = pos;
      return;
    }
    if (opcode == 0) {
      if (!d->msg_op) { fault(d, &at_frame, r, pos, 1002, "continuation"); return; }
    } else if (opcode == 1 || opcode == 2) {
      if (d->msg_op) { fault(d, &at_frame, r, pos, 1002, "new message"); return; }
      d->msg_op = opcode;
      d->msg_bytes = 0;
      d->utf8_need = 0;
      d->utf8_len = 0;
      d->utf8_carry = 0;
    } else { fault(d, &at_frame, r, pos, 1002, "reserved opcode"); return; }
    if (length > max_message || d->msg_bytes + length > max_message) { fault(d, &at_frame, r, pos, 1009, "message size"); return; }
    d->msg_bytes += length;
    d->opcode = opcode;
    d->fin = fin;
    d->masked = masked;
    if (masked) memcpy(d->key, b + pos + hlen - 4, 4);
    d->phase = 0;
    d->remaining = length;
    pos += hlen;
    if (length == 0 && fin) {
      if (d->msg_op == 1 && d->utf8_need) { fault(d, &at_frame, r, frame_start, 1007, "invalid UTF-8"); return; }
      r->messages++;
      r->bytes += d->msg_bytes;
      d->msg_op = 0;
    }
  }
  /* all relayed, except a split header at the end (kept back, parsed again with the next read) */
  r->relay_end = d->remaining > 0 || pos >= n ? n : frame_start;
  r->rest = r->relay_end;
}

static void count(session_t *s, int side, const scan_t *r) {
  if (r->messages == 0) return;
  dir_t *d = &s->d[side];
  atomic_store_explicit(&d->messages, atomic_load_explicit(&d->messages, memory_order_relaxed) + r->messages, memory_order_relaxed);
  atomic_store_explicit(&d->bytes, atomic_load_explicit(&d->bytes, memory_order_relaxed) + r->bytes, memory_order_relaxed);
  atomic_fetch_add_explicit(&group_counts[s->group][side], r->messages, memory_order_relaxed);
  atomic_fetch_add_explicit(&group_counts[s->group][2 + side], r->bytes, memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* Sessions and events (both modes)                                          */

static uint8_t *copy_bytes(const uint8_t *p, size_t n) {
  if (n == 0) return NULL;
  uint8_t *c = malloc(n);
  memcpy(c, p, n);
  return c;
}

static void pend_append(dir_t *d, const uint8_t *p, size_t n) {
  if (d->pend_off > 0 && d->pend_off == d->pend_len) d->pend_off = d->pend_len = 0;
  if (d->pend_len + n > d->pend_cap) {
    size_t cap = d->pend_cap ? d->pend_cap : 4096;
    while (cap < d->pend_len + n) cap *= 2;
    d->pend = realloc(d->pend, cap);
    d->pend_cap = cap;
  }
  memcpy(d->pend + d->pend_len, p, n);
  d->pend_len += n;
}

static void live_add(worker_t *w, session_t *s) {
  s->prev = NULL;
  s->next = w->live;
  if (w->live) w->live->prev = s;
  w->live = s;
}

static void live_remove(worker_t *w, session_t *s) {
  if (s->prev) s->prev->next = s->next;
  else w->live = s->next;
  if (s->next) s->next->prev = s->prev;
  s->prev = s->next = NULL;
}

static event_t *new_event(session_t *s, int kind, int dir, int code, const char *reason, const uint8_t *rest, size_t rest_len) {
  event_t *e = calloc(1, sizeof *e);
  e->s = s;
  e->id = s->id;
  e->kind = kind;
  e->dir = dir;
  e->code = code;
  e->reason = reason;
  e->rest = copy_bytes(rest, rest_len);
  e->rest_len = rest_len;
  return e;
}

/* The session leaves the thread: its event is delivered after this loop (a later event of the loop may name it). */
static void post(worker_t *w, event_t *e) {
  session_t *s = e->s;
  for (int i = 0; i < 2; i++) {
    dir_t *d = &s->d[i];
    e->pend[i] = copy_bytes(d->pend + d->pend_off, d->pend_len - d->pend_off);
    e->pend_len[i] = d->pend_len - d->pend_off;
  }
  s->dead = 1;
  live_remove(w, s);
  if (w->outbox_tail) w->outbox_tail->next = e;
  else w->outbox = e;
  w->outbox_tail = e;
}

static void deliver(worker_t *w) {
  event_t *e = w->outbox;
  w->outbox = w->outbox_tail = NULL;
  while (e) {
    event_t *next = e->next;
    napi_call_threadsafe_function(tsfn, e, napi_tsfn_blocking);
    e = next;
  }
}

static session_t *take_incoming(worker_t *w) {
  uint64_t v;
  if (read(w->wake, &v, sizeof v) < 0) { /* EAGAIN: nothing */ }
  pthread_mutex_lock(&w->lock);
  session_t *list = w->incoming;
  w->incoming = NULL;
  pthread_mutex_unlock(&w->lock);
  return list;
}

/* Whether a control frame to `side` can go out now: the stream to it is between frames, nothing owed to it, no send to it in flight. */
static int can_write_control(const session_t *s, int side, const uint8_t busy[2]) {
  const dir_t *to = &s->d[1 - side];
  return to->p.remaining == 0 && to->pend_len == to->pend_off && !busy[1 - side];
}

/* The heartbeat, as the JS path's (session.ts `heartbeat`): which sides are timed out
 * (bit i: side i read nothing since our last ping), and which can be pinged now (the
 * stream to it is between frames and nothing is owed to it; `busy`: a send to it is in
 * flight). A side that cannot be pinged now is not judged either. */
static int hb_judge(session_t *s, const uint8_t busy[2], int *ping) {
  int dead = 0;
  *ping = 0;
  for (int side = 0; side < 2; side++) {
    if (!can_write_control(s, side, busy)) continue;
    if (s->awaiting[side]) dead |= 1 << side;
    else *ping |= 1 << side;
  }
  return dead;
}

/* A ping with no payload to `side`: masked (a fresh key) to the upstream. */
static size_t ping_frame(worker_t *w, int side, uint8_t out[6]) {
  out[0] = 0x89;
  if (side == 0) {
    out[1] = 0;
    return 2;
  }
  uint64_t x = w->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  w->rng = x;
  out[1] = 0x80;
  memcpy(out + 2, &x, 4);
  return 6;
}

/* The pong to the ping at `ping` (read from `side`: masked from the client), to that side:
 * the same payload, masked with a fresh key to the upstream. */
static size_t pong_frame(worker_t *w, int side, const uint8_t *ping, const scan_t *r, uint8_t out[6 + 125]) {
  size_t len = r->ping_len;
  const uint8_t *payload = ping + r->ping_hlen;
  uint8_t key[4] = {0, 0, 0, 0};
  if (side == 0) memcpy(key, payload - 4, 4);
  uint8_t mask[4] = {0, 0, 0, 0};
  size_t h = 2;
  out[0] = 0x8A;
  out[1] = (uint8_t)len;
  if (side == 1) {
    uint8_t f[6];
    ping_frame(w, 1, f); /* a fresh key */
    memcpy(mask, f + 2, 4);
    out[1] |= 0x80;
    memcpy(out + 2, mask, 4);
    h = 6;
  }
  for (size_t i = 0; i < len; i++) out[h + i] = (uint8_t)(payload[i] ^ key[i & 3] ^ mask[i & 3]);
  return h + len;
}

/* ------------------------------------------------------------------------ */
/* The relay thread, epoll mode                                              */

static void set_interest(session_t *s, int side) {
  uint32_t want = EPOLLIN;
  if (s->d[1 - side].pend_len > s->d[1 - side].pend_off) want |= EPOLLOUT;
  if (want == s->interest[side]) return;
  struct epoll_event ev = {.events = want, .data.ptr = &s->ref[side]};
  epoll_ctl(s->w->ep, EPOLL_CTL_MOD, s->fd[side], &ev);
  s->interest[side] = want;
}

static void eject(worker_t *w, session_t *s, int kind, int dir, int code, const char *reason, const uint8_t *rest, size_t rest_len) {
  for (int i = 0; i < 2; i++) epoll_ctl(w->ep, EPOLL_CTL_DEL, s->fd[i], NULL);
  post(w, new_event(s, kind, dir, code, reason, rest, rest_len));
}

/* Writes what `d` relays to fd; what the socket does not take waits in d->pend. */
static int relay_out(session_t *s, int dir, const uint8_t *p, size_t n) {
  dir_t *d = &s->d[dir];
  int out = s->fd[1 - dir];
  if (n == 0) return 1;
  if (d->pend_len > d->pend_off) {
    pend_append(d, p, n);
    return 1;
  }
  ssize_t w = send(out, p, n, MSG_NOSIGNAL);
  atomic_fetch_add_explicit(&s->w->writes, 1, memory_order_relaxed);
  if (w < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      pend_append(d, p, n); /* owed: JS writes it and sees the error itself */
      return 0;
    }
    w = 0;
  }
  if ((size_t)w < n) {
    pend_append(d, p + w, n - (size_t)w);
    set_interest(s, 1 - dir);
  }
  return 1;
}

static void on_readable(worker_t *w, session_t *s, int side) {
  dir_t *d = &s->d[side];
  uint8_t *area = w->buf + HELD_MAX;
  ssize_t n = read(s->fd[side], area, READ_BYTES);
  atomic_fetch_add_explicit(&w->reads, 1, memory_order_relaxed);
  if (n <= 0) {
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    /* the held bytes go back with the event; Node reads the EOF (or the error) again itself */
    eject(w, s, n == 0 ? EXC_EOF : EXC_ERROR, side, n == 0 ? 0 : errno, n == 0 ? "eof" : "read error", NULL, 0);
    return;
  }
  atomic_fetch_add_explicit(&d->read, (uint64_t)n, memory_order_relaxed);
  s->awaiting[side] = 0;
  uint8_t *start = area - d->held_len;
  memcpy(start, d->held, d->held_len);
  size_t len = (size_t)n + d->held_len;
  d->held_len = 0;
  scan_t r;
  /* one scan per stretch between the pongs taken out */
  static const uint8_t idle[2] = {0, 0};
  for (;;) {
    scan(&d->p, side, start, len, s->max_message, &r);
    count(s, side, &r);
    if (r.kind == SKIP_PING && !can_write_control(s, side, idle)) {
      r.kind = EXC_CONTROL; /* its pong would wait: the JS path holds it */
      r.rest = r.relay_end;
    }
    if (!relay_out(s, side, start, r.relay_end)) {
      eject(w, s, EXC_ERROR, side, errno, "write error", start + r.rest, len - r.rest);
      return;
    }
    if (r.kind == SKIP_PING) {
      uint8_t pong[6 + 125];
      if (!relay_out(s, 1 - side, pong, pong_frame(w, side, start + r.relay_end, &r, pong))) {
        eject(w, s, EXC_ERROR, side, errno, "write error", start + r.rest, len - r.rest);
        return;
      }
    } else if (r.kind != SKIP_PONG) break;
    start += r.rest;
    len -= r.rest;
  }
  if (r.kind) {
    eject(w, s, r.kind, side, r.code, r.reason, start + r.rest, len - r.rest);
    return;
  }
  if (r.rest < len) {
    d->held_len = (uint8_t)(len - r.rest);
    memcpy(d->held, start + r.rest, d->held_len);
  }
  if (d->pend_len - d->pend_off > s->high_water) eject(w, s, EXC_BACKPRESSURE, side, 0, "backpressure", NULL, 0);
}

static void on_writable(worker_t *w, session_t *s, int side) {
  /* fd[side] takes the output of the direction that reads the other side */
  int dir = 1 - side;
  dir_t *d = &s->d[dir];
  while (d->pend_len > d->pend_off) {
    ssize_t n = send(s->fd[side], d->pend + d->pend_off, d->pend_len - d->pend_off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      eject(w, s, EXC_ERROR, side, errno, "write error", NULL, 0);
      return;
    }
    d->pend_off += (size_t)n;
  }
  if (d->pend_len == d->pend_off) d->pend_len = d->pend_off = 0;
  set_interest(s, side);
}

static void e_heartbeat(worker_t *w, session_t *s) {
  static const uint8_t idle[2] = {0, 0};
  int ping;
  int dead = hb_judge(s, idle, &ping);
  if (dead) {
    eject(w, s, EXC_PING_TIMEOUT, 0, dead, "ping timeout", NULL, 0);
    return;
  }
  for (int side = 0; side < 2 && !s->dead; side++) {
    if (!(ping & (1 << side))) continue;
    uint8_t f[6];
    size_t n = ping_frame(w, side, f);
    s->awaiting[side] = 1;
    if (!relay_out(s, 1 - side, f, n)) eject(w, s, EXC_ERROR, side, errno, "write error", NULL, 0);
  }
}

static void e_requests(worker_t *w) {
  if (atomic_exchange(&w->requests, 0) == 0) return;
  for (session_t *s = w->live, *next; s != NULL; s = next) {
    next = s->next;
    if (atomic_load_explicit(&s->release_req, memory_order_relaxed)) eject(w, s, EXC_RELEASE, 0, 0, "release", NULL, 0);
    else if (atomic_exchange_explicit(&s->hb_req, 0, memory_order_relaxed)) e_heartbeat(w, s);
  }
}

static void *epoll_main(void *arg) {
  worker_t *w = arg;
  struct epoll_event evs[MAX_EVENTS];
  for (;;) {
    int n = epoll_wait(w->ep, evs, MAX_EVENTS, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    atomic_fetch_add_explicit(&w->wakeups, 1, memory_order_relaxed);
    for (int i = 0; i < n; i++) {
      if (evs[i].data.ptr == NULL) { /* the wake eventfd: new sessions, release requests */
        for (session_t *s = take_incoming(w), *next; s != NULL; s = next) {
          next = s->next_new;
          live_add(w, s);
          for (int k = 0; k < 2; k++) {
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->ref[k]};
            if (epoll_ctl(w->ep, EPOLL_CTL_ADD, s->fd[k], &ev) != 0) {
              if (k == 1) epoll_ctl(w->ep, EPOLL_CTL_DEL, s->fd[0], NULL);
              post(w, new_event(s, EXC_ERROR, k, errno, "epoll_ctl", NULL, 0));
              break;
            }
          }
        }
        e_requests(w);
        continue;
      }
      fdref_t *ref = evs[i].data.ptr;
      session_t *s = ref->s;
      if (s->dead) continue;
      uint32_t e = evs[i].events;
      if (e & EPOLLOUT) on_writable(w, s, ref->side);
      if (!s->dead && (e & (EPOLLIN | EPOLLHUP | EPOLLERR))) on_readable(w, s, ref->side);
    }
    deliver(w);
  }
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* The relay thread, io_uring mode: multishot recv into a provided-buffer ring,
 * sends straight from the received buffer (one send in flight per direction, the
 * rest waits in d->pend), every submission and wait in one io_uring_enter per
 * loop. Same parser, same exceptions. */

/* The pool's sizes; js_start checks the bound against them in either mode. */
#define UBUF_SLOTS 4096 /* ring entries (16 bytes each): the largest pool */
#define UBUF_BYTES 4096
#define UBUF_CHUNK 64 /* buffers per allocation (256 KiB): the first pool, and each growth (bounds under 128: half the bound) */

#ifdef HAVE_LIBURING
enum { OP_RECV0 = 0, OP_RECV1 = 1, OP_SEND0 = 2, OP_SEND1 = 3, OP_WAKE = 4, OP_POLL0 = 5, OP_POLL1 = 6 };
#define UD(s, op) ((uint64_t)(uintptr_t)(s) | (uint64_t)(op))

static struct io_uring_sqe *sqe_get(worker_t *w) {
  struct io_uring_sqe *q = io_uring_get_sqe(&w->ring);
  while (q == NULL) {
    io_uring_submit(&w->ring);
    q = io_uring_get_sqe(&w->ring);
  }
  return q;
}

static uint8_t *u_buf(worker_t *w, int bid) {
  return w->buf_addr[bid];
}

static void u_provide(worker_t *w, int bid) {
  io_uring_buf_ring_add(w->br, u_buf(w, bid), UBUF_BYTES, (unsigned short)bid, io_uring_buf_ring_mask(UBUF_SLOTS), 0);
  io_uring_buf_ring_advance(w->br, 1);
  w->free_bufs++;
}

/* More buffers into the ring (chunk_bufs, the last growth up to the bound); 0 at the bound (or out of memory). */
static int u_grow(worker_t *w) {
  int n = max_bufs - w->nbufs < chunk_bufs ? max_bufs - w->nbufs : chunk_bufs;
  if (n <= 0) return 0;
  uint8_t *chunk = malloc((size_t)n * UBUF_BYTES);
  if (chunk == NULL) return 0;
  int first = w->nbufs;
  for (int i = 0; i < n; i++) w->buf_addr[first + i] = chunk + (size_t)i * UBUF_BYTES;
  w->nbufs += n;
  for (int i = 0; i < n; i++) u_provide(w, first + i);
  atomic_store_explicit(&w->buf_bytes, (uint64_t)w->nbufs * UBUF_BYTES, memory_order_relaxed);
  return 1;
}

static void u_arm(worker_t *w, session_t *s, int side) {
  struct io_uring_sqe *q = sqe_get(w);
  io_uring_prep_recv_multishot(q, s->fd[side], NULL, 0, 0);
  q->flags |= IOSQE_BUFFER_SELECT;
  q->buf_group = 0;
  io_uring_sqe_set_data64(q, UD(s, side));
  s->armed[side] = 1;
}

static void u_cancel(worker_t *w, session_t *s, int side) {
  struct io_uring_sqe *q = sqe_get(w);
  io_uring_prep_cancel64(q, UD(s, side), 0);
  io_uring_sqe_set_data64(q, 0);
}

static void u_recycle(worker_t *w, int bid) {
  u_provide(w, bid);
}

/* A side's recv ended with no buffer in a pool at its bound: it is armed again once one is back (u_feed_starved). */
static void u_starve(worker_t *w, session_t *s, int side) {
  if (!s->starved) {
    s->starved_next = w->starved;
    w->starved = s;
  }
  s->starved |= (uint8_t)(1 << side);
}

static void u_unstarve(worker_t *w, session_t *s) {
  for (session_t **p = &w->starved; *p != NULL; p = &(*p)->starved_next) {
    if (*p == s) {
      *p = s->starved_next;
      break;
    }
  }
  s->starved = 0;
  s->starved_next = NULL;
}

/* After a loop that gave buffers back: the waiting sides receive again. */
static void u_feed_starved(worker_t *w) {
  if (w->starved == NULL || w->free_bufs == 0) return;
  session_t *list = w->starved;
  w->starved = NULL;
  for (session_t *s = list, *next; s != NULL; s = next) {
    next = s->starved_next;
    uint8_t sides = s->starved;
    s->starved = 0;
    s->starved_next = NULL;
    if (s->ejecting) continue; /* leaving: nothing more is received */
    for (int i = 0; i < 2; i++)
      if ((sides & (1 << i)) && !s->armed[i]) u_arm(w, s, i);
  }
}

static void u_send(worker_t *w, session_t *s, int dir) {
  struct io_uring_sqe *q = sqe_get(w);
  /* never waits in the kernel: what does not fit now waits for a POLLOUT (u_on_send), which a hand-back can cancel */
  io_uring_prep_send(q, s->fd[1 - dir], s->send_ptr[dir] + s->send_done[dir], s->send_len[dir] - s->send_done[dir], MSG_NOSIGNAL | MSG_DONTWAIT);
  io_uring_sqe_set_data64(q, UD(s, OP_SEND0 + dir));
  s->sending[dir] = 1;
  atomic_fetch_add_explicit(&w->writes, 1, memory_order_relaxed);
}

/* Sends [p, p+n) of direction dir: from the provided buffer `bid` itself when
 * nothing is waiting (returns 1: the buffer is kept until the send completes),
 * else behind what waits. */
static int u_relay(worker_t *w, session_t *s, int dir, const uint8_t *p, size_t n, int bid) {
  dir_t *d = &s->d[dir];
  if (n == 0) return 0;
  if (s->sending[dir] || s->ejecting) {
    pend_append(d, p, n);
    return 0;
  }
  if (bid >= 0) {
    s->send_bid[dir] = bid;
    s->send_ptr[dir] = p;
  } else {
    if (s->send_cap[dir] < n) {
      free(s->send_own[dir]);
      s->send_own[dir] = malloc(n);
      s->send_cap[dir] = n;
    }
    memcpy(s->send_own[dir], p, n);
    s->send_bid[dir] = -1;
    s->send_ptr[dir] = s->send_own[dir];
  }
  s->send_len[dir] = n;
  s->send_done[dir] = 0;
  u_send(w, s, dir);
  return bid >= 0;
}

/* Once nothing of the session is in flight: hand it to JavaScript. */
static void u_finish(worker_t *w, session_t *s) {
  if (!s->ejecting || s->dead || s->armed[0] || s->armed[1] || s->sending[0] || s->sending[1] || s->polling[0] || s->polling[1]) return;
  if (s->starved) u_unstarve(w, s);
  post(w, s->ev);
}

static void u_eject(worker_t *w, session_t *s, int kind, int dir, int code, const char *reason, const uint8_t *rest, size_t rest_len) {
  if (s->ejecting) return;
  s->ev = new_event(s, kind, dir, code, reason, rest, rest_len);
  s->ejecting = 1;
  for (int i = 0; i < 2; i++) {
    if (s->armed[i]) u_cancel(w, s, i);
    if (s->polling[i]) {
      struct io_uring_sqe *q = sqe_get(w);
      io_uring_prep_cancel64(q, UD(s, OP_POLL0 + i), 0);
      io_uring_sqe_set_data64(q, 0);
    }
  }
  u_finish(w, s);
}

static void u_poll_out(worker_t *w, session_t *s, int dir) {
  struct io_uring_sqe *q = sqe_get(w);
  io_uring_prep_poll_add(q, s->fd[1 - dir], POLLOUT);
  io_uring_sqe_set_data64(q, UD(s, OP_POLL0 + dir));
  s->polling[dir] = 1;
}

static void append_rest(event_t *e, int side, const uint8_t *p, size_t n) {
  e->rest2[side] = realloc(e->rest2[side], e->rest2_len[side] + n);
  memcpy(e->rest2[side] + e->rest2_len[side], p, n);
  e->rest2_len[side] += n;
}

static void u_on_recv(worker_t *w, session_t *s, int side, int res, unsigned flags) {
  dir_t *d = &s->d[side];
  if (!(flags & IORING_CQE_F_MORE)) s->armed[side] = 0;
  int bid = (flags & IORING_CQE_F_BUFFER) ? (int)(flags >> IORING_CQE_BUFFER_SHIFT) : -1;
  if (res <= 0) {
    if (s->ejecting) {
      u_finish(w, s);
      return;
    }
    if (res == -ENOBUFS && !s->armed[side]) {
      atomic_fetch_add_explicit(&w->buf_waits, 1, memory_order_relaxed);
      if (u_grow(w) || w->free_bufs > 0) u_arm(w, s, side);
      else u_starve(w, s, side);
      return;
    }
    if (res == -ECANCELED || res == -ENOBUFS) {
      if (!s->armed[side]) u_arm(w, s, side);
      return;
    }
    u_eject(w, s, res == 0 ? EXC_EOF : EXC_ERROR, side, res == 0 ? 0 : -res, res == 0 ? "eof" : "read error", NULL, 0);
    return;
  }
  atomic_fetch_add_explicit(&w->reads, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&d->read, (uint64_t)res, memory_order_relaxed);
  s->awaiting[side] = 0;
  w->free_bufs--;
  if (w->free_bufs < w->nbufs / 4) u_grow(w);
  uint8_t *p = u_buf(w, bid);
  if (s->ejecting) {
    append_rest(s->ev, side, p, (size_t)res);
    u_recycle(w, bid);
    u_finish(w, s);
    return;
  }
  uint8_t *start = p;
  size_t len = (size_t)res;
  int send_bid = bid;
  if (d->held_len > 0) {
    /* a split header first: parse (and send) a copy */
    start = w->buf;
    memcpy(start, d->held, d->held_len);
    memcpy(start + d->held_len, p, len);
    len += d->held_len;
    d->held_len = 0;
    send_bid = -1;
  }
  scan_t r;
  int kept = 0;
  /* one scan per stretch between the pongs taken out; only the first stretch sent can be sent from the buffer itself */
  for (;;) {
    scan(&d->p, side, start, len, s->max_message, &r);
    count(s, side, &r);
    if (r.kind == SKIP_PING && !can_write_control(s, side, s->sending)) {
      r.kind = EXC_CONTROL; /* its pong would wait: the JS path holds it */
      r.rest = r.relay_end;
    }
    if (!r.kind && r.rest < len) {
      d->held_len = (uint8_t)(len - r.rest);
      memcpy(d->held, start + r.rest, d->held_len);
    }
    kept |= u_relay(w, s, side, start, r.relay_end, kept ? -1 : send_bid);
    if (r.kind == SKIP_PING) {
      uint8_t pong[6 + 125];
      u_relay(w, s, 1 - side, pong, pong_frame(w, side, start + r.relay_end, &r, pong), -1);
    } else if (r.kind != SKIP_PONG) break;
    start += r.rest;
    len -= r.rest;
  }
  if (r.kind) u_eject(w, s, r.kind, side, r.code, r.reason, start + r.rest, len - r.rest);
  if (!kept) u_recycle(w, bid);
  if (s->ejecting) return;
  if (d->pend_len - d->pend_off > s->high_water) u_eject(w, s, EXC_BACKPRESSURE, side, 0, "backpressure", NULL, 0);
  else if (!s->armed[side]) u_arm(w, s, side);
}

static void u_on_send(worker_t *w, session_t *s, int dir, int res) {
  dir_t *d = &s->d[dir];
  s->sending[dir] = 0;
  if (res == -EAGAIN || res == -EWOULDBLOCK) res = 0; /* no room now: the POLLOUT below */
  if (res < 0) {
    /* what was not sent is owed: JS writes it and sees the error itself */
    res = 0;
    if (!s->ejecting) u_eject(w, s, EXC_ERROR, dir, 0, "write error", NULL, 0);
  }
  s->send_done[dir] += (size_t)res;
  if (s->send_done[dir] < s->send_len[dir]) {
    if (!s->ejecting) {
      s->sending[dir] = 1; /* still this send's: later data waits behind it */
      u_poll_out(w, s, dir);
      return;
    }
    /* ejecting: what is left goes back in front of what waits */
    size_t left = s->send_len[dir] - s->send_done[dir], waiting = d->pend_len - d->pend_off;
    uint8_t *joined = malloc(left + waiting + 1);
    memcpy(joined, s->send_ptr[dir] + s->send_done[dir], left);
    if (waiting) memcpy(joined + left, d->pend + d->pend_off, waiting);
    free(d->pend);
    d->pend = joined;
    d->pend_off = 0;
    d->pend_len = d->pend_cap = left + waiting;
  }
  if (s->send_bid[dir] >= 0) u_recycle(w, s->send_bid[dir]);
  s->send_bid[dir] = -1;
  if (s->ejecting) {
    u_finish(w, s);
    return;
  }
  if (d->pend_len > d->pend_off) {
    /* what waited becomes the next send: swap it with the own buffer */
    uint8_t *own = s->send_own[dir];
    size_t cap = s->send_cap[dir];
    s->send_own[dir] = d->pend;
    s->send_cap[dir] = d->pend_cap;
    s->send_ptr[dir] = d->pend + d->pend_off;
    s->send_len[dir] = d->pend_len - d->pend_off;
    s->send_done[dir] = 0;
    d->pend = own;
    d->pend_cap = cap;
    d->pend_len = d->pend_off = 0;
    u_send(w, s, dir);
  }
}

/* The destination has room again (or the poll was cancelled by a hand-back): send the rest, or give it back. */
static void u_on_poll(worker_t *w, session_t *s, int dir) {
  s->polling[dir] = 0;
  if (!s->ejecting) {
    u_send(w, s, dir);
    return;
  }
  u_on_send(w, s, dir, 0); /* joins what is left into the owed output, then finishes */
}

static void u_heartbeat(worker_t *w, session_t *s) {
  int ping;
  int dead = hb_judge(s, s->sending, &ping);
  if (dead) {
    u_eject(w, s, EXC_PING_TIMEOUT, 0, dead, "ping timeout", NULL, 0);
    return;
  }
  for (int side = 0; side < 2; side++) {
    if (!(ping & (1 << side))) continue;
    uint8_t f[6];
    size_t n = ping_frame(w, side, f);
    s->awaiting[side] = 1;
    u_relay(w, s, 1 - side, f, n, -1);
  }
}

static void u_arm_wake(worker_t *w) {
  struct io_uring_sqe *q = sqe_get(w);
  io_uring_prep_read(q, w->wake, &w->wake_value, sizeof w->wake_value, 0);
  io_uring_sqe_set_data64(q, OP_WAKE);
}

static void u_on_wake(worker_t *w) {
  pthread_mutex_lock(&w->lock);
  session_t *list = w->incoming;
  w->incoming = NULL;
  pthread_mutex_unlock(&w->lock);
  for (session_t *s = list, *next; s != NULL; s = next) {
    next = s->next_new;
    live_add(w, s);
    u_arm(w, s, 0);
    u_arm(w, s, 1);
  }
  if (atomic_exchange(&w->requests, 0) != 0) {
    for (session_t *s = w->live, *next; s != NULL; s = next) {
      next = s->next;
      if (s->ejecting) continue;
      if (atomic_load_explicit(&s->release_req, memory_order_relaxed)) u_eject(w, s, EXC_RELEASE, 0, 0, "release", NULL, 0);
      else if (atomic_exchange_explicit(&s->hb_req, 0, memory_order_relaxed)) u_heartbeat(w, s);
    }
  }
  u_arm_wake(w);
}

static void *uring_main(void *arg) {
  worker_t *w = arg;
  struct io_uring_params params;
  memset(&params, 0, sizeof params);
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
  params.cq_entries = 16384;
  if (io_uring_queue_init_params(4096, &w->ring, &params) < 0) {
    atomic_store(&w->ready, -1);
    return NULL;
  }
  w->buf_addr = calloc(UBUF_SLOTS, sizeof *w->buf_addr);
  if (w->buf_addr == NULL || posix_memalign((void **)&w->br, 4096, UBUF_SLOTS * sizeof(struct io_uring_buf)) != 0) {
    io_uring_queue_exit(&w->ring);
    atomic_store(&w->ready, -1);
    return NULL;
  }
  io_uring_buf_ring_init(w->br);
  struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)w->br, .ring_entries = UBUF_SLOTS, .bgid = 0};
  if (io_uring_register_buf_ring(&w->ring, &reg, 0) != 0 || !u_grow(w)) {
    io_uring_queue_exit(&w->ring);
    atomic_store(&w->ready, -1);
    return NULL;
  }
  u_arm_wake(w);
  atomic_store(&w->ready, 1);
  for (;;) {
    io_uring_submit_and_wait(&w->ring, 1);
    atomic_fetch_add_explicit(&w->wakeups, 1, memory_order_relaxed);
    unsigned head, n = 0;
    struct io_uring_cqe *cqe;
    io_uring_for_each_cqe(&w->ring, head, cqe) {
      n++;
      uint64_t ud = cqe->user_data;
      if (ud == 0) continue; /* a cancel's own completion */
      int op = (int)(ud & 7);
      if (op == OP_WAKE) {
        u_on_wake(w);
        continue;
      }
      session_t *s = (session_t *)(uintptr_t)(ud & ~(uint64_t)7);
      if (op <= OP_RECV1) u_on_recv(w, s, op, cqe->res, cqe->flags);
      else if (op <= OP_SEND1) u_on_send(w, s, op - OP_SEND0, cqe->res);
      else u_on_poll(w, s, op - OP_POLL0);
    }
    io_uring_cq_advance(&w->ring, n);
    u_feed_starved(w);
    deliver(w);
  }
  return NULL;
}
#endif

/* ------------------------------------------------------------------------ */
/* JavaScript                                                                 */

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, #call " failed"); return NULL; } } while (0)

static napi_value bytes_value(napi_env env, uint8_t *p, size_t n) {
  napi_value v;
  void *data;
  napi_create_buffer_copy(env, n, n ? (void *)p : (void *)"", &data, &v);
  return v;
}

static void set_u(napi_env env, napi_value o, const char *k, double x) {
  napi_value v;
  napi_create_double(env, x, &v);
  napi_set_named_property(env, o, k, v);
}

static void free_session(session_t *s) {
  for (int i = 0; i < 2; i++) {
    free(s->d[i].pend);
    free(s->send_own[i]);
  }
  free(s);
}

static void call_js(napi_env env, napi_value cb, void *ctx, void *data) {
  (void)ctx;
  event_t *e = data;
  session_t *s = e->s;
  if (env != NULL && cb != NULL) {
    napi_value o, undef, str, dirs;
    napi_create_object(env, &o);
    set_u(env, o, "id", e->id);
    set_u(env, o, "kind", e->kind);
    set_u(env, o, "dir", e->dir);
    set_u(env, o, "code", e->code);
    napi_create_string_utf8(env, e->reason ? e->reason : "", NAPI_AUTO_LENGTH, &str);
    napi_set_named_property(env, o, "reason", str);
    napi_set_named_property(env, o, "rest", bytes_value(env, e->rest, e->rest_len));
    napi_create_array_with_length(env, 2, &dirs);
    for (uint32_t i = 0; i < 2; i++) {
      dir_t *d = &s->d[i];
      parser_t *p = &d->p;
      napi_value v;
      napi_create_object(env, &v);
      napi_set_named_property(env, v, "pending", bytes_value(env, e->pend[i], e->pend_len[i]));
      napi_set_named_property(env, v, "held", bytes_value(env, d->held, d->held_len));
      napi_set_named_property(env, v, "received", bytes_value(env, e->rest2[i], e->rest2_len[i]));
      set_u(env, v, "remaining", (double)p->remaining);
      set_u(env, v, "messageBytes", (double)p->msg_bytes);
      set_u(env, v, "phase", p->phase);
      set_u(env, v, "opcode", p->opcode);
      set_u(env, v, "fin", p->fin);
      set_u(env, v, "messageOpcode", p->msg_op);
      set_u(env, v, "utf8", utf8_js_state(p));
      set_u(env, v, "key", (double)(int32_t)(((uint32_t)p->key[0] << 24) | ((uint32_t)p->key[1] << 16) | ((uint32_t)p->key[2] << 8) | p->key[3]));
      set_u(env, v, "messages", (double)atomic_load(&d->messages));
      set_u(env, v, "bytes", (double)atomic_load(&d->bytes));
      set_u(env, v, "read", (double)atomic_load(&d->read));
      set_u(env, v, "alive", s->awaiting[i] ? 0 : 1); /* i: the direction read from side i */
      napi_set_element(env, dirs, i, v);
    }
    napi_set_named_property(env, o, "dirs", dirs);
    set_u(env, o, "clientFd", s->fd[0]);
    set_u(env, o, "upstreamFd", s->fd[1]);
    napi_get_undefined(env, &undef);
    napi_call_function(env, undef, cb, 1, &o, NULL);
  }
  free(e->rest);
  free(e->pend[0]);
  free(e->pend[1]);
  free(e->rest2[0]);
  free(e->rest2[1]);
  free(e);
  free_session(s);
}

/* A nonzero xorshift seed for the ping mask keys of one relay thread. */
static uint64_t seed_rng(const worker_t *w) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  uint64_t x = ((uint64_t)t.tv_sec << 32) ^ (uint64_t)t.tv_nsec ^ (uint64_t)(uintptr_t)w ^ 0x9e3779b97f4a7c15ULL;
  return x != 0 ? x : 1;
}

static napi_value string_value(napi_env env, const char *s) {
  napi_value v;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

static void wake(worker_t *w) {
  uint64_t one = 1;
  if (write(w->wake, &one, sizeof one) < 0) { /* a full counter wakes it anyway */ }
}

/*
 * start(threads, onEvent, ioUring, maxBuffers?) → "io_uring" | "epoll" (io_uring falls back to epoll when it
 * cannot be set up). maxBuffers: the io_uring receive pool's bound per thread (2-4096). Once per process.
 */
static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (nworkers > 0) { napi_throw_error(env, NULL, "already started"); return NULL; }
  int32_t threads;
  bool uring = false;
  CHECK(napi_get_value_int32(env, argv[0], &threads));
  if (threads < 1 || threads > MAX_THREADS) { napi_throw_range_error(env, NULL, "threads: 1-8"); return NULL; }
  CHECK(napi_get_value_bool(env, argv[2], &uring));
  if (argc >= 4) {
    int32_t m;
    CHECK(napi_get_value_int32(env, argv[3], &m));
    if (m < 2 || m > UBUF_SLOTS) { napi_throw_range_error(env, NULL, "maxBuffers: 2-4096"); return NULL; }
    max_bufs = m;
    chunk_bufs = m < 2 * UBUF_CHUNK ? m / 2 : UBUF_CHUNK;
  }
  napi_value name;
  napi_create_string_utf8(env, "stratix-relay", NAPI_AUTO_LENGTH, &name);
  CHECK(napi_create_threadsafe_function(env, argv[1], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &tsfn));
  CHECK(napi_unref_threadsafe_function(env, tsfn));
#ifdef HAVE_LIBURING
  if (uring) {
    use_uring = 1;
    for (int i = 0; i < threads && use_uring; i++) {
      worker_t *w = &workers[i];
      w->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    w->rng = seed_rng(w);
      w->rng = seed_rng(w);
      w->buf = malloc(HELD_MAX + READ_BYTES);
      pthread_mutex_init(&w->lock, NULL);
      pthread_create(&w->thread, NULL, uring_main, w);
      while (atomic_load(&w->ready) == 0) usleep(1000);
      if (atomic_load(&w->ready) < 0) {
        /* io_uring disabled (sysctl, seccomp) or too old: epoll for every thread */
        pthread_join(w->thread, NULL);
        if (i > 0) { napi_throw_error(env, NULL, "io_uring setup failed after the first thread"); return NULL; }
        close(w->wake);
        free(w->buf);
        use_uring = 0;
      } else pthread_detach(w->thread);
    }
    if (use_uring) {
      nworkers = threads;
      return string_value(env, "io_uring");
    }
  }
#else
  (void)uring;
#endif
  for (int i = 0; i < threads; i++) {
    worker_t *w = &workers[i];
    w->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    w->buf = malloc(HELD_MAX + READ_BYTES);
    pthread_mutex_init(&w->lock, NULL);
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(w->ep, EPOLL_CTL_ADD, w->wake, &ev);
    pthread_create(&w->thread, NULL, epoll_main, w);
    pthread_detach(w->thread);
  }
  nworkers = threads;
  return string_value(env, "epoll");
}

/*
 * adopt(id, clientFd, upstreamFd, maxMessageBytes, highWaterBytes, group, own, alive) → handle:
 * the relay thread takes both sockets. `own`: it relays over duplicates of the
 * descriptors (so JS may close its socket objects meanwhile); the event hands the
 * duplicates to JS (`fds`), which owns them from then on. `alive`: bit i set when side i
 * answered (or was not sent) the JS path's last ping; a clear bit is a ping awaiting its answer.
 */
static napi_value js_adopt(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (nworkers == 0) { napi_throw_error(env, NULL, "not started"); return NULL; }
  int32_t id, cfd, ufd, group;
  int64_t max, hw;
  CHECK(napi_get_value_int32(env, argv[0], &id));
  CHECK(napi_get_value_int32(env, argv[1], &cfd));
  CHECK(napi_get_value_int32(env, argv[2], &ufd));
  CHECK(napi_get_value_int64(env, argv[3], &max));
  CHECK(napi_get_value_int64(env, argv[4], &hw));
  CHECK(napi_get_value_int32(env, argv[5], &group));
  bool own = false;
  if (argc >= 7) CHECK(napi_get_value_bool(env, argv[6], &own));
  int32_t alive = 3;
  if (argc >= 8) CHECK(napi_get_value_int32(env, argv[7], &alive));
  if (group < 0 || group >= MAX_GROUPS) { napi_throw_range_error(env, NULL, "group out of range"); return NULL; }
  if (own) {
    int c = fcntl(cfd, F_DUPFD_CLOEXEC, 0);
    int u = c < 0 ? -1 : fcntl(ufd, F_DUPFD_CLOEXEC, 0);
    if (u < 0) {
      if (c >= 0) close(c);
      napi_throw_error(env, "EMFILE", "cannot duplicate the session's descriptors");
      return NULL;
    }
    cfd = c;
    ufd = u;
  }
  session_t *s = calloc(1, sizeof *s);
  s->id = id;
  s->fd[0] = cfd;
  s->fd[1] = ufd;
  s->group = group;
  s->max_message = (uint64_t)max;
  s->high_water = (uint64_t)hw;
  s->w = &workers[next_worker++ % nworkers];
  for (int i = 0; i < 2; i++) {
    s->ref[i].s = s;
    s->ref[i].side = i;
    s->interest[i] = EPOLLIN;
    s->send_bid[i] = -1;
  }
  s->d[0].p.masked = 1;
  s->awaiting[0] = !(alive & 1);
  s->awaiting[1] = !(alive & 2);
  worker_t *w = s->w;
  pthread_mutex_lock(&w->lock);
  s->next_new = w->incoming;
  w->incoming = s;
  pthread_mutex_unlock(&w->lock);
  wake(w);
  napi_value handle;
  CHECK(napi_create_external(env, s, NULL, NULL, &handle));
  return handle;
}

/* The session a call's first argument is the handle of; NULL after a thrown error. */
static session_t *session_arg(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *p;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_external(env, argv[0], &p));
  return p;
}

/* Sets one of the session's request flags; the thread is woken by the first request since it last looked. */
static void request(session_t *s, _Atomic int *flag) {
  if (atomic_exchange(flag, 1) == 0 && atomic_fetch_add(&s->w->requests, 1) == 0) wake(s->w);
}

/* release(handle): hand the session back (an event of kind 5) unless it is leaving already. Only before its event. */
static napi_value js_release(napi_env env, napi_callback_info info) {
  session_t *s = session_arg(env, info);
  if (s != NULL) request(s, &s->release_req);
  return NULL;
}

/* heartbeat(handle): one heartbeat round for the session on its relay thread (judge, then ping). Only before its event. */
static napi_value js_heartbeat(napi_env env, napi_callback_info info) {
  session_t *s = session_arg(env, info);
  if (s != NULL) request(s, &s->hb_req);
  return NULL;
}

/* bytesRead(handle, side): bytes the relay thread has read from that side's socket so far (before the session's event only). */
static napi_value js_bytes_read(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  void *p;
  int32_t side;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_external(env, argv[0], &p));
  CHECK(napi_get_value_int32(env, argv[1], &side));
  session_t *s = p;
  napi_value v;
  napi_create_double(env, (double)atomic_load_explicit(&s->d[side & 1].read, memory_order_relaxed), &v);
  return v;
}

/* The Float64Array of at least 4 elements `v` is, or NULL after a thrown TypeError. */
static double *float64x4_arg(napi_env env, napi_value v) {
  napi_typedarray_type type;
  size_t length;
  void *data;
  CHECK(napi_get_typedarray_info(env, v, &type, &length, &data, NULL, NULL));
  if (type != napi_float64_array || length < 4) { napi_throw_type_error(env, NULL, "expected a Float64Array(4)"); return NULL; }
  return data;
}

/* relayed(handle, out: Float64Array(4)): messages c2u, u2c, payload bytes c2u, u2c the session relayed on this loan so far (before its event only). */
static napi_value js_relayed(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  void *p;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_external(env, argv[0], &p));
  double *out = float64x4_arg(env, argv[1]);
  if (out == NULL) return NULL;
  session_t *s = p;
  for (int side = 0; side < 2; side++) {
    out[side] = (double)atomic_load_explicit(&s->d[side].messages, memory_order_relaxed);
    out[2 + side] = (double)atomic_load_explicit(&s->d[side].bytes, memory_order_relaxed);
  }
  return NULL;
}

/* counts(group, out: Float64Array(4)): messages c2u, u2c, payload bytes c2u, u2c relayed by the thread for the group. */
static napi_value js_counts(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t group;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_int32(env, argv[0], &group));
  if (group < 0 || group >= MAX_GROUPS) { napi_throw_range_error(env, NULL, "group out of range"); return NULL; }
  double *out = float64x4_arg(env, argv[1]);
  if (out == NULL) return NULL;
  for (int k = 0; k < 4; k++) out[k] = (double)atomic_load_explicit(&group_counts[group][k], memory_order_relaxed);
  return NULL;
}

/* stats(): { reads, writes, wakeups, receiveBufferBytes, receiveBufferWaits } of all relay threads */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  (void)info;
  double reads = 0, writes = 0, wakeups = 0, buf_bytes = 0, buf_waits = 0;
  for (int i = 0; i < nworkers; i++) {
    reads += (double)atomic_load(&workers[i].reads);
    writes += (double)atomic_load(&workers[i].writes);
    wakeups += (double)atomic_load(&workers[i].wakeups);
    buf_bytes += use_uring ? (double)atomic_load(&workers[i].buf_bytes) : (double)(HELD_MAX + READ_BYTES);
    buf_waits += (double)atomic_load(&workers[i].buf_waits);
  }
  napi_value o;
  napi_create_object(env, &o);
  set_u(env, o, "reads", reads);
  set_u(env, o, "writes", writes);
  set_u(env, o, "wakeups", wakeups);
  set_u(env, o, "receiveBufferBytes", buf_bytes);
  set_u(env, o, "receiveBufferWaits", buf_waits);
  return o;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
      {"adopt", NULL, js_adopt, NULL, NULL, NULL, napi_default, NULL},
      {"release", NULL, js_release, NULL, NULL, NULL, napi_default, NULL},
      {"heartbeat", NULL, js_heartbeat, NULL, NULL, NULL, napi_default, NULL},
      {"counts", NULL, js_counts, NULL, NULL, NULL, napi_default, NULL},
      {"bytesRead", NULL, js_bytes_read, NULL, NULL, NULL, napi_default, NULL},
      {"relayed", NULL, js_relayed, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
