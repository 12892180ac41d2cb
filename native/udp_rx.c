/*
 * Batched UDP receive for the gateway's DTLS socket (part of the sslgate_dtls addon).
 *
 * Why: through dgram every datagram costs one recvmsg(2) by libuv, one Buffer and one JS
 * 'message' call with an rinfo object (NODE-DATAPLANE.md §5). Here a uv_poll on the JS thread's
 * own loop reads up to `nmsgs` messages with ONE recvmmsg(2) into a slab the JS side owns, with
 * UDP_GRO on (the kernel may hand over several datagrams of one flow as one message: fewer
 * passes through the socket layer), splits them (udp_rx_layout.h) and makes ONE JS call per batch.
 * Nothing is allocated per datagram.
 *
 * The socket stays dgram's (it binds, sends handshakes, closes): the poller reads a dup(2) of its
 * fd, and the JS side stops dgram's own reading (UDPWrap.recvStop) first. A dup, not the same
 * number, because libuv keeps one watcher per fd number per loop: dgram may still watch its fd
 * for POLLOUT (a send that met a full buffer), and two watchers on one number would replace each
 * other. epoll registers (fd number, open file) pairs, so both watch the same socket safely.
 *
 * Exports (added to sslgate_dtls by udp_rx_init):
 *   setSocketBuffers(fd, bytes) -> [rcvbuf, sndbuf] as the kernel reports them (it doubles the
 *       request). SO_RCVBUFFORCE/SO_SNDBUFFORCE first (CAP_NET_ADMIN: works while the network
 *       process is still root, before the drop), else SO_RCVBUF/SO_SNDBUF (capped by
 *       net.core.rmem_max / wmem_max).
 *   new UdpPoller(fd, slab, slot, nmsgs, offs, lens, addrs, ports, stats: Float64Array(4), gro, cb[, locals])
 *       .start() .stop() .close() .gro (whether UDP_GRO is on) .pktinfo (whether IP_PKTINFO is on)
 *       cb(count > 0) per batch: datagram i = slab[offs[i], offs[i]+lens[i]) from addrs[i]:ports[i]
 *       (IPv4, host order); cb(-errno) once on a hard error. offs/lens/addrs/ports hold
 *       nmsgs*64 entries (GRO: at most 64 segments per message).
 *       stats: [datagrams, recvmmsg calls that returned data, dropped (cut, bad cmsg), GRO messages]
 *       locals (optional Uint32Array, nmsgs*64 entries): turns IP_PKTINFO on for the socket and
 *       receives datagram i's destination address (host order; 0 = not known) in locals[i], so
 *       a socket bound to 0.0.0.0 can answer from the address each peer sent to (a VIP, a
 *       secondary address) rather than the one routing picks (ip(7), IP_PKTINFO).
 *   rxLayout(lens, segs: Int32Array, flags, n, slot, offs, outLens, count) -> [datagrams, dropped]
 *   groSegment(control: Buffer, msgFlags) -> int       (test entry points for udp_rx_layout.h)
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#include "udp_rx_layout.h"

#define CHECK(env, call)                                                      \
  do {                                                                        \
    if ((call) != napi_ok) {                                                  \
      bool pending_ = false;                                                  \
      napi_is_exception_pending((env), &pending_);                            \
      if (!pending_) napi_throw_error((env), NULL, "sslgate_udp_rx: " #call); \
      return NULL;                                                            \
    }                                                                         \
  } while (0)

#define RX_MAX_MSGS 64
#define RX_MAX_SEGS 64 /* UDP_GRO_CNT_MAX in the kernel */

static bool rx_u32(napi_env env, napi_value v, uint32_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0 && d <= 4294967295.0) || d != (double)(uint32_t)d) return false;
  *out = (uint32_t)d;
  return true;
}

static bool rx_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  bool ok = false;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, v, &ok) != napi_ok || !ok) return false;
  if (napi_get_typedarray_info(env, v, &type, len, data, NULL, NULL) != napi_ok) return false;
  return type == want;
}

static bool rx_buffer(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool ok = false;
  if (napi_is_buffer(env, v, &ok) != napi_ok || !ok) return false;
  return napi_get_buffer_info(env, v, (void **)data, len) == napi_ok;
}

/* ---------------------------------------------------------------- socket buffers */

static int sock_int(int fd, int opt) {
  int v = 0;
  socklen_t l = sizeof v;
  return getsockopt(fd, SOL_SOCKET, opt, &v, &l) == 0 ? v : -errno;
}

static napi_value set_socket_buffers(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], res, a, b;
  uint32_t fd, bytes;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || !rx_u32(env, argv[0], &fd) || !rx_u32(env, argv[1], &bytes) || bytes > 0x3fffffff) {
    napi_throw_type_error(env, NULL, "setSocketBuffers(fd, bytes)");
    return NULL;
  }
  int v = (int)bytes;
  if (setsockopt((int)fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) != 0)
    (void)setsockopt((int)fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
  if (setsockopt((int)fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof v) != 0)
    (void)setsockopt((int)fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
  CHECK(env, napi_create_int32(env, sock_int((int)fd, SO_RCVBUF), &a));
  CHECK(env, napi_create_int32(env, sock_int((int)fd, SO_SNDBUF), &b));
  CHECK(env, napi_create_array_with_length(env, 2, &res));
  CHECK(env, napi_set_element(env, res, 0, a));
  CHECK(env, napi_set_element(env, res, 1, b));
  return res;
}

/* ---------------------------------------------------------------- poller */

typedef union {
  /* UDP_GRO (int), IP_PKTINFO; room for one unexpected cmsg */
  char buf[CMSG_SPACE(sizeof(int)) * 2 + CMSG_SPACE(sizeof(struct in_pktinfo))];
  struct cmsghdr align;
} RxControl;

typedef struct {
  uv_poll_t handle;
  napi_env env;
  int fd; /* our dup of the socket */
  uint8_t *slab;
  uint32_t *offs, *lens, *addrs, *ports;
  uint32_t *locals; /* NULL: IP_PKTINFO not asked for */
  double *stats;
  uint32_t slot, nmsgs, room;
  bool gro;
  napi_ref self_ref; /* weak while stopped, strong while started */
  napi_ref slab_ref, offs_ref, lens_ref, addrs_ref, ports_ref, stats_ref, cb_ref, locals_ref;
  napi_async_context actx;
  napi_async_cleanup_hook_handle cleanup;
  uint32_t err_restarts;
  bool started, closing, closed, finalized, in_callback;
  /* recvmmsg state, reused for every batch */
  struct mmsghdr msgs[RX_MAX_MSGS];
  struct iovec iov[RX_MAX_MSGS];
  struct sockaddr_in from[RX_MAX_MSGS];
  RxControl ctl[RX_MAX_MSGS];
  RxMsg rx[RX_MAX_MSGS];
} UdpPoller;

static void rx_release_js(UdpPoller *t) {
  napi_ref *refs[] = {&t->slab_ref, &t->offs_ref, &t->lens_ref, &t->addrs_ref, &t->ports_ref, &t->stats_ref, &t->cb_ref, &t->locals_ref};
  for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++)
    if (*refs[i]) { napi_delete_reference(t->env, *refs[i]); *refs[i] = NULL; }
}

static void rx_drop_actx(UdpPoller *t) {
  if (t->actx && !t->in_callback) { napi_async_destroy(t->env, t->actx); t->actx = NULL; }
}

static void rx_on_closed(uv_handle_t *h) {
  UdpPoller *t = h->data;
  t->closed = true;
  if (t->fd >= 0) { close(t->fd); t->fd = -1; } /* after libuv let go of it */
  if (t->cleanup) { napi_remove_async_cleanup_hook(t->cleanup); t->cleanup = NULL; }
  if (t->finalized) free(t);
}

static void rx_set_started(UdpPoller *t, bool on) {
  if (t->started == on) return;
  t->started = on;
  uint32_t rc;
  if (on) napi_reference_ref(t->env, t->self_ref, &rc);
  else { napi_reference_unref(t->env, t->self_ref, &rc); rx_drop_actx(t); }
}

static void rx_close(UdpPoller *t) {
  if (t->closing) return;
  t->closing = true;
  if (t->started) { uv_poll_stop(&t->handle); rx_set_started(t, false); }
  rx_release_js(t);
  uv_close((uv_handle_t *)&t->handle, rx_on_closed);
}

static void rx_on_env_cleanup(napi_async_cleanup_hook_handle h, void *arg) {
  (void)h;
  rx_close(arg);
}

static void rx_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  UdpPoller *t = data;
  t->finalized = true;
  if (t->self_ref) { napi_delete_reference(env, t->self_ref); t->self_ref = NULL; }
  if (!t->closing) rx_close(t);
  else if (t->closed) free(t);
}

static void rx_call_js(UdpPoller *t, int32_t arg) {
  napi_env env = t->env;
  napi_handle_scope scope;
  napi_value self, cb, jarg, result;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (napi_get_reference_value(env, t->self_ref, &self) == napi_ok && self &&
      napi_get_reference_value(env, t->cb_ref, &cb) == napi_ok && cb && napi_create_int32(env, arg, &jarg) == napi_ok) {
    t->in_callback = true;
    napi_status s = napi_make_callback(env, t->actx, self, cb, 1, &jarg, &result);
    t->in_callback = false;
    if (!t->started) rx_drop_actx(t);
    if (s == napi_pending_exception) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc);
    }
  }
  napi_close_handle_scope(env, scope);
}

/* One recvmmsg per wake-up: the poll is level-triggered, so a fuller queue wakes us again on the
   next loop turn (other handles, e.g. the TUN, get their turn in between). */
static void rx_on_poll(uv_poll_t *h, int status, int events) {
  (void)events;
  UdpPoller *t = h->data;
  int hard_err = 0;
  uint32_t count = 0;
  if (t->closing) return;
  for (uint32_t m = 0; m < t->nmsgs; m++) {
    struct msghdr *mh = &t->msgs[m].msg_hdr;
    t->iov[m].iov_base = t->slab + (size_t)m * t->slot;
    t->iov[m].iov_len = t->slot;
    mh->msg_name = &t->from[m];
    mh->msg_namelen = sizeof t->from[m];
    mh->msg_iov = &t->iov[m];
    mh->msg_iovlen = 1;
    mh->msg_control = t->ctl[m].buf;
    mh->msg_controllen = sizeof t->ctl[m].buf;
    mh->msg_flags = 0;
    t->msgs[m].msg_len = 0;
  }
  int r;
  do r = recvmmsg(t->fd, t->msgs, t->nmsgs, MSG_DONTWAIT, NULL); while (r < 0 && errno == EINTR);
  if (r < 0) {
    /* ICMP errors (ECONNREFUSED from an unreachable peer...) are reported once on an unconnected
       socket and cleared by reading them: not fatal. */
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNREFUSED && errno != EHOSTUNREACH &&
        errno != ENETUNREACH && errno != EPERM && errno != ENOMEM && errno != ENOBUFS)
      hard_err = errno;
    r = 0;
  }
  if (r > 0) {
    uint32_t gro_msgs = 0;
    for (int m = 0; m < r; m++) {
      const struct msghdr *mh = &t->msgs[m].msg_hdr;
      RxMsg *x = &t->rx[m];
      x->len = t->msgs[m].msg_len;
      x->flags = (uint32_t)mh->msg_flags;
      x->seg = rx_gro_segment(mh);
      if (x->seg > 0 && (uint32_t)x->seg < x->len) gro_msgs++;
      x->local = t->locals != NULL ? rx_pktinfo_local(mh) : 0;
      if (mh->msg_namelen >= sizeof(struct sockaddr_in) && t->from[m].sin_family == AF_INET) {
        x->addr = ntohl(t->from[m].sin_addr.s_addr);
        x->port = ntohs(t->from[m].sin_port);
      } else {
        x->seg = -1; /* not IPv4: the JS side cannot name the peer; drop */
      }
    }
    RxLayoutResult lr = rx_layout(t->rx, (uint32_t)r, t->slot, t->offs, t->lens, t->addrs, t->ports, t->locals, t->room);
    count = lr.datagrams;
    t->stats[0] += lr.datagrams;
    t->stats[1] += 1;
    t->stats[2] += lr.dropped;
    t->stats[3] += gro_msgs;
  }
  if (status < 0 && !hard_err) {
    /* libuv stopped the watcher on POLLERR (see tun.c, G4): re-arm, but not forever. */
    if (r == 0 && ++t->err_restarts > 64) hard_err = EIO;
    else if (t->started && !t->closing) uv_poll_start(&t->handle, UV_READABLE, rx_on_poll);
  }
  if (r > 0) t->err_restarts = 0;
  if (count > 0 && t->started) rx_call_js(t, (int32_t)count);
  if (hard_err && t->started && !t->closing) {
    uv_poll_stop(&t->handle);
    rx_call_js(t, -hard_err);
    if (!t->closing) rx_set_started(t, false);
  }
}

static napi_value rx_new(napi_env env, napi_callback_info info) {
  size_t argc = 12, slab_len = 0, n_offs = 0, n_lens = 0, n_addrs = 0, n_ports = 0, n_stats = 0, n_locals = 0;
  napi_value argv[12], self;
  uint32_t fd, slot, nmsgs;
  uint8_t *slab;
  void *offs, *lens, *addrs, *ports, *stats, *locals = NULL;
  napi_valuetype lt = napi_undefined;
  bool gro = false;
  napi_valuetype cbt;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  if (argc < 11 || !rx_u32(env, argv[0], &fd) || !rx_buffer(env, argv[1], &slab, &slab_len) || !rx_u32(env, argv[2], &slot) ||
      !rx_u32(env, argv[3], &nmsgs) || !rx_typed(env, argv[4], napi_uint32_array, &offs, &n_offs) ||
      !rx_typed(env, argv[5], napi_uint32_array, &lens, &n_lens) || !rx_typed(env, argv[6], napi_uint32_array, &addrs, &n_addrs) ||
      !rx_typed(env, argv[7], napi_uint32_array, &ports, &n_ports) || !rx_typed(env, argv[8], napi_float64_array, &stats, &n_stats) ||
      napi_get_value_bool(env, argv[9], &gro) != napi_ok || napi_typeof(env, argv[10], &cbt) != napi_ok || cbt != napi_function) {
    napi_throw_type_error(env, NULL, "UdpPoller(fd, slab, slot, nmsgs, offs, lens, addrs, ports, stats: Float64Array(4), gro, cb[, locals])");
    return NULL;
  }
  /* locals: optional (older callers pass 11 arguments); undefined or null = no IP_PKTINFO */
  if (argc >= 12 && (napi_typeof(env, argv[11], &lt) != napi_ok ||
                     (lt != napi_undefined && lt != napi_null && !rx_typed(env, argv[11], napi_uint32_array, &locals, &n_locals)))) {
    napi_throw_type_error(env, NULL, "UdpPoller: locals must be a Uint32Array");
    return NULL;
  }
  uint32_t room = nmsgs * RX_MAX_SEGS;
  if (nmsgs == 0 || nmsgs > RX_MAX_MSGS || slot == 0 || slot > 65536 || slab_len / slot < nmsgs || n_offs < room ||
      n_lens < room || n_addrs < room || n_ports < room || n_stats < 4 || (locals != NULL && n_locals < room)) {
    napi_throw_range_error(env, NULL, "UdpPoller: need 0 < nmsgs <= 64, 0 < slot <= 65536, slab >= nmsgs*slot, "
                                      "offs/lens/addrs/ports/locals >= nmsgs*64 entries, stats >= 4");
    return NULL;
  }
  int dupfd = fcntl((int)fd, F_DUPFD_CLOEXEC, 0);
  if (dupfd < 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "UdpPoller: dup: %s", strerror(errno));
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  /* Non-blocking is a property of the open file, shared with dgram's fd (already non-blocking);
     recvmmsg also gets MSG_DONTWAIT. */
  if (gro) {
    int on = 1;
    gro = setsockopt(dupfd, SOL_UDP, UDP_GRO, &on, sizeof on) == 0;
  }
  bool pktinfo = false;
  if (locals != NULL) {
    /* A property of the socket (shared with dgram's fd): dgram's own reader passes no control
       buffer, so it is not affected. */
    int on = 1;
    pktinfo = setsockopt(dupfd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) == 0;
    if (!pktinfo) locals = NULL;
  }
  UdpPoller *t = calloc(1, sizeof *t);
  if (!t) { close(dupfd); napi_throw_error(env, NULL, "out of memory"); return NULL; }
  t->locals = locals;
  t->env = env;
  t->fd = dupfd;
  t->slab = slab;
  t->offs = offs;
  t->lens = lens;
  t->addrs = addrs;
  t->ports = ports;
  t->stats = stats;
  t->slot = slot;
  t->nmsgs = nmsgs;
  t->room = room;
  t->gro = gro;
  uv_loop_t *loop;
  int rc;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) { close(dupfd); free(t); CHECK(env, napi_generic_failure); }
  if ((rc = uv_poll_init(loop, &t->handle, dupfd)) != 0) {
    close(dupfd);
    free(t);
    napi_throw_error(env, NULL, uv_strerror(rc));
    return NULL;
  }
  t->handle.data = t;
  if (napi_wrap(env, self, t, rx_finalize, NULL, NULL) != napi_ok) {
    t->finalized = true;
    uv_close((uv_handle_t *)&t->handle, rx_on_closed);
    CHECK(env, napi_generic_failure);
  }
  napi_value jgro;
  CHECK(env, napi_get_boolean(env, gro, &jgro));
  CHECK(env, napi_set_named_property(env, self, "gro", jgro));
  CHECK(env, napi_get_boolean(env, pktinfo, &jgro));
  CHECK(env, napi_set_named_property(env, self, "pktinfo", jgro));
  CHECK(env, napi_create_reference(env, self, 0, &t->self_ref));
  CHECK(env, napi_create_reference(env, argv[1], 1, &t->slab_ref));
  CHECK(env, napi_create_reference(env, argv[4], 1, &t->offs_ref));
  CHECK(env, napi_create_reference(env, argv[5], 1, &t->lens_ref));
  CHECK(env, napi_create_reference(env, argv[6], 1, &t->addrs_ref));
  CHECK(env, napi_create_reference(env, argv[7], 1, &t->ports_ref));
  CHECK(env, napi_create_reference(env, argv[8], 1, &t->stats_ref));
  CHECK(env, napi_create_reference(env, argv[10], 1, &t->cb_ref));
  if (locals != NULL) CHECK(env, napi_create_reference(env, argv[11], 1, &t->locals_ref));
  CHECK(env, napi_add_async_cleanup_hook(env, rx_on_env_cleanup, t, &t->cleanup));
  return self;
}

static UdpPoller *rx_unwrap(napi_env env, napi_callback_info info, napi_value *self_out) {
  napi_value self;
  void *t = NULL;
  size_t argc = 0;
  if (napi_get_cb_info(env, info, &argc, NULL, &self, NULL) != napi_ok || napi_unwrap(env, self, &t) != napi_ok || !t) {
    napi_throw_type_error(env, NULL, "not a UdpPoller");
    return NULL;
  }
  if (self_out) *self_out = self;
  return t;
}

static napi_value rx_start(napi_env env, napi_callback_info info) {
  napi_value self, name;
  UdpPoller *t = rx_unwrap(env, info, &self);
  if (!t) return NULL;
  if (t->closing) { napi_throw_error(env, "ERR_UDP_RX_CLOSED", "UdpPoller is closed"); return NULL; }
  if (t->started) return NULL;
  int rc = uv_poll_start(&t->handle, UV_READABLE, rx_on_poll);
  if (rc != 0) { napi_throw_error(env, NULL, uv_strerror(rc)); return NULL; }
  if (!t->actx) {
    CHECK(env, napi_create_string_utf8(env, "sslgate:UdpPoller", NAPI_AUTO_LENGTH, &name));
    CHECK(env, napi_async_init(env, self, name, &t->actx));
  }
  t->err_restarts = 0;
  rx_set_started(t, true);
  return NULL;
}

static napi_value rx_stop(napi_env env, napi_callback_info info) {
  UdpPoller *t = rx_unwrap(env, info, NULL);
  if (!t || !t->started) return NULL;
  uv_poll_stop(&t->handle);
  rx_set_started(t, false);
  return NULL;
}

static napi_value rx_close_js(napi_env env, napi_callback_info info) {
  UdpPoller *t = rx_unwrap(env, info, NULL);
  if (t) rx_close(t);
  return NULL;
}

/* ---------------------------------------------------------------- test entry points */

/* rxLayout(lens, segs: Int32Array, flags, n, slot, offs, outLens, room) -> [datagrams, dropped] */
static napi_value rx_layout_js(napi_env env, napi_callback_info info) {
  size_t argc = 8, nl = 0, ns = 0, nf = 0, no = 0, nol = 0;
  napi_value argv[8], res, a, b;
  void *lens, *segs, *flags, *offs, *olens;
  uint32_t n, slot, room;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 8 || !rx_typed(env, argv[0], napi_uint32_array, &lens, &nl) || !rx_typed(env, argv[1], napi_int32_array, &segs, &ns) ||
      !rx_typed(env, argv[2], napi_uint32_array, &flags, &nf) || !rx_u32(env, argv[3], &n) || !rx_u32(env, argv[4], &slot) ||
      !rx_typed(env, argv[5], napi_uint32_array, &offs, &no) || !rx_typed(env, argv[6], napi_uint32_array, &olens, &nol) ||
      !rx_u32(env, argv[7], &room)) {
    napi_throw_type_error(env, NULL, "rxLayout(lens, segs: Int32Array, flags, n, slot, offs, outLens, room)");
    return NULL;
  }
  if (n > RX_MAX_MSGS || n > nl || n > ns || n > nf || room > no || room > nol) {
    napi_throw_range_error(env, NULL, "rxLayout: sizes");
    return NULL;
  }
  RxMsg msgs[RX_MAX_MSGS];
  uint32_t addrs[RX_MAX_MSGS * RX_MAX_SEGS], ports[RX_MAX_MSGS * RX_MAX_SEGS];
  if (room > RX_MAX_MSGS * RX_MAX_SEGS) room = RX_MAX_MSGS * RX_MAX_SEGS;
  for (uint32_t i = 0; i < n; i++) {
    msgs[i].len = ((uint32_t *)lens)[i];
    msgs[i].seg = ((int32_t *)segs)[i];
    msgs[i].flags = ((uint32_t *)flags)[i] ? (((uint32_t *)flags)[i] & 1 ? MSG_TRUNC : 0) | (((uint32_t *)flags)[i] & 2 ? MSG_CTRUNC : 0) : 0;
    msgs[i].addr = i;
    msgs[i].port = i;
    msgs[i].local = 0;
  }
  RxLayoutResult r = rx_layout(msgs, n, slot, offs, olens, addrs, ports, NULL, room);
  CHECK(env, napi_create_uint32(env, r.datagrams, &a));
  CHECK(env, napi_create_uint32(env, r.dropped, &b));
  CHECK(env, napi_create_array_with_length(env, 2, &res));
  CHECK(env, napi_set_element(env, res, 0, a));
  CHECK(env, napi_set_element(env, res, 1, b));
  return res;
}

/* groSegment(control: Buffer, msgFlags: 1 = MSG_CTRUNC) -> int: rx_gro_segment over raw control bytes */
static napi_value gro_segment_js(napi_env env, napi_callback_info info) {
  size_t argc = 2, len = 0;
  napi_value argv[2], res;
  uint8_t *buf;
  uint32_t fl;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || !rx_buffer(env, argv[0], &buf, &len) || !rx_u32(env, argv[1], &fl) || len > 4096) {
    napi_throw_type_error(env, NULL, "groSegment(control: Buffer (<= 4096 bytes), flags)");
    return NULL;
  }
  /* An aligned copy: CMSG_* assume the control buffer is aligned like a cmsghdr. */
  union { char b[4096]; struct cmsghdr align; } ctl;
  memcpy(ctl.b, buf, len);
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_control = len ? ctl.b : NULL;
  mh.msg_controllen = len;
  mh.msg_flags = (fl & 1) ? MSG_CTRUNC : 0;
  CHECK(env, napi_create_int32(env, rx_gro_segment(&mh), &res));
  return res;
}

/* ---------------------------------------------------------------- registration */

napi_value udp_rx_init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"start", NULL, rx_start, NULL, NULL, NULL, napi_default, NULL},
      {"stop", NULL, rx_stop, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, rx_close_js, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls, fn, v;
  CHECK(env, napi_define_class(env, "UdpPoller", NAPI_AUTO_LENGTH, rx_new, NULL, 3, methods, &cls));
  CHECK(env, napi_set_named_property(env, exports, "UdpPoller", cls));
  CHECK(env, napi_create_function(env, "setSocketBuffers", NAPI_AUTO_LENGTH, set_socket_buffers, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "setSocketBuffers", fn));
  CHECK(env, napi_create_function(env, "rxLayout", NAPI_AUTO_LENGTH, rx_layout_js, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "rxLayout", fn));
  CHECK(env, napi_create_function(env, "groSegment", NAPI_AUTO_LENGTH, gro_segment_js, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "groSegment", fn));
  CHECK(env, napi_create_uint32(env, RX_MAX_SEGS, &v));
  CHECK(env, napi_set_named_property(env, exports, "rxMaxSegments", v));
  return exports;
}
