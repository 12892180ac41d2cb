/*
 * sslgate_tun: the Linux TUN edge of the data plane, as a plain C Node-API addon.
 *
 * Why native (see shared/reference/NODE-DATAPLANE.md §1): Node cannot watch a TUN fd itself
 * (net.Socket rejects it, G1) and the threadpool costs 10-20 us per packet. Here a uv_poll
 * watches the non-blocking fd on the JS thread's own loop, reads a whole batch into a slab the
 * JS side owns, and makes ONE JS call per batch. Nothing is allocated per packet.
 *
 * Offloads (IFF_VNET_HDR + TUNSETOFFLOAD, kernel Documentation/networking/tuntap.rst): every
 * read and write then carries a 10-byte struct virtio_net_hdr first, and a read may return a
 * TCP/UDP super-packet of up to 64 KB. The poller splits those into MTU-sized packets in the slab
 * (gso.c), so JS sees exactly what it saw without offloads, only fewer syscalls deliver it.
 *
 * Exports:
 *   open(name, multiQueue, offload)             -> { fd, name, offload } (offload: TUN_F_* set, 0 = none)
 *   new TunPoller(fd, slab, slot, headroom, lens, maxBatch, cb(count), vnetHdr?, mtu?)
 *       .start() .stop() .close() .truncated()  cb(count > 0) per batch, cb(-errno) once on a hard error
 *       .counters() -> [truncated, malformed, superPackets, segments]
 *       .setMtu(mtu)                            the splitter's limit from now on (the client's MTU changes)
 *   write(fd, buf, offset, length, vnetHdr?)    -> bytes written or -errno (never throws for I/O)
 *   writeBatch(fd, slab, offsets, lens, count, vnetHdr?) -> packets written
 *   gsoSplit(vh, pkt, mtu, out, slot, lens)     -> the pure splitter, for unit tests (see gso.h)
 *   errnoText(errno)                            -> [code, message]
 *   lockDown()                                  -> 0 or -errno: no_new_privs + empty capability
 *                                                  bounding set (before the gateway's network
 *                                                  process gives up root; see gateway/priv/drop.ts)
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <linux/capability.h>
#include <sys/uio.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#include "gso.h"
#include "gro.h"
#include "netlink.h"

/* Room for the largest super-packet a TUN hands over (64 KB of IP packet) past the first slot. */
#define GSO_SCRATCH (65536 + 64)

/* On any unexpected Node-API failure, throw (if nothing is pending yet) and return NULL to JS. */
#define CHECK(env, call)                                                   \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      bool pending_ = false;                                               \
      napi_is_exception_pending((env), &pending_);                         \
      if (!pending_) napi_throw_error((env), NULL, "sslgate_tun: " #call); \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

/* Throws Error("<what>: <strerror>") with .code = "EXXX" and .errno = -errno, like Node's own errors. */
static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  const char *code = strerrorname_np(err);
  napi_value jmsg, jcode, jerr, jerrno;
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &jmsg);
  napi_create_string_utf8(env, code ? code : "EUNKNOWN", NAPI_AUTO_LENGTH, &jcode);
  napi_create_error(env, jcode, jmsg, &jerr);
  napi_create_int32(env, -err, &jerrno);
  napi_set_named_property(env, jerr, "errno", jerrno);
  napi_throw(env, jerr);
  return NULL;
}

static bool get_u32(napi_env env, napi_value v, uint32_t *out) {
  return napi_get_value_uint32(env, v, out) == napi_ok;
}

static bool get_u32_array(napi_env env, napi_value v, uint32_t **data, size_t *len) {
  napi_typedarray_type type;
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return false;
  if (napi_get_typedarray_info(env, v, &type, len, (void **)data, NULL, NULL) != napi_ok) return false;
  return type == napi_uint32_array;
}

/* ---------------------------------------------------------------- open */

static napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], res, jfd, jname, joff;
  char name[IFNAMSIZ + 1] = {0};
  size_t name_len = 0;
  bool multi = false, want_offload = false;
  struct ifreq ifr;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  /* Reading one byte more than IFNAMSIZ-1 lets us reject over-long names instead of cutting them. */
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len) != napi_ok ||
      napi_get_value_bool(env, argv[1], &multi) != napi_ok ||
      (argc > 2 && napi_get_value_bool(env, argv[2], &want_offload) != napi_ok)) {
    napi_throw_type_error(env, NULL, "open(name: string, multiQueue: boolean, offload?: boolean)");
    return NULL;
  }
  if (name_len >= IFNAMSIZ) {
    napi_throw_range_error(env, NULL, "interface name longer than 15 bytes");
    return NULL;
  }
  unsigned offload = 0;
  int fd = -1;
  /* With offloads first; if the kernel refuses IFF_VNET_HDR or TUNSETOFFLOAD, again without,
     so an old kernel gets exactly the plain path (a closed non-persistent TUN is deleted). */
  for (int attempt = want_offload ? 0 : 1; attempt < 2; attempt++) {
    /* O_CLOEXEC: ip(8) and vpnc-script children must not inherit (and keep alive) the tunnel. */
    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return throw_errno(env, "open /dev/net/tun", errno);
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, name, name_len); /* "" or "sgw%d" lets the kernel pick the number */
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (multi ? IFF_MULTI_QUEUE : 0) | (attempt == 0 ? IFF_VNET_HDR : 0);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
      int err = errno;
      char what[64];
      close(fd);
      if (attempt == 0 && err == EINVAL) continue;
      snprintf(what, sizeof what, "TUNSETIFF %s", name_len ? name : "(auto)");
      return throw_errno(env, what, err);
    }
    if (attempt == 1) break;
    /* TSO needs CSUM; USO4/6 exist since Linux 6.2 and older kernels answer EINVAL to unknown
       bits, so probe with them and fall back to TCP only. (TSO_ECN is left off: the kernel then
       segments the rare CWR-marked super-packet itself.) */
    int sz = GSO_VNET_HDR_LEN;
    unsigned tries[2] = {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | 0x20 /* TUN_F_USO4 */ | 0x40 /* TUN_F_USO6 */,
                         TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6};
    if (ioctl(fd, TUNSETVNETHDRSZ, &sz) == 0) {
      for (int i = 0; i < 2 && !offload; i++)
        if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)tries[i]) == 0) offload = tries[i];
    }
    if (offload) break;
    close(fd);
  }
  CHECK(env, napi_create_object(env, &res));
  CHECK(env, napi_create_int32(env, fd, &jfd));
  CHECK(env, napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &jname));
  CHECK(env, napi_set_named_property(env, res, "fd", jfd));
  CHECK(env, napi_set_named_property(env, res, "name", jname));
  CHECK(env, napi_create_uint32(env, offload, &joff));
  CHECK(env, napi_set_named_property(env, res, "offload", joff));
  return res;
}

/* ---------------------------------------------------------------- poller */

typedef struct {
  uv_poll_t handle;          /* handle.data points back here */
  napi_env env;
  int fd;
  uint8_t *slab;             /* raw pointers stay valid: slab_ref/lens_ref keep the buffers alive */
  uint32_t *lens;
  uint32_t slot, headroom, max_batch;
  napi_ref self_ref;         /* weak while stopped, strong while started: a running poller is not GC'd */
  napi_ref slab_ref, lens_ref, cb_ref;
  napi_async_context actx;   /* one per started period; none while stopped, so GC never needs it */
  napi_async_cleanup_hook_handle cleanup;
  double truncated;          /* packets longer than slot-headroom, dropped */
  double malformed;          /* bad virtio header or super-packet, dropped (offload only) */
  double super_packets, segments; /* super-packets read, and the packets cut from them */
  uint32_t err_restarts;     /* consecutive POLLERR wake-ups that found nothing to read */
  uint32_t mtu;              /* no segment cut from a super-packet is larger (offload only) */
  uint8_t *scratch;          /* slot room + GSO_SCRATCH: where a super-packet is read and cut (offload only) */
  gso_state gso;             /* the super-packet being cut, if gso_pending */
  bool vnet, gso_pending;
  bool started, closing, closed, finalized, in_callback;
} TunPoller;

static void poller_release_js(TunPoller *t) {
  /* Safe from the finalizer and from env teardown: only reference bookkeeping, no JS calls. */
  napi_ref *refs[] = {&t->slab_ref, &t->lens_ref, &t->cb_ref};
  for (size_t i = 0; i < 3; i++)
    if (*refs[i]) { napi_delete_reference(t->env, *refs[i]); *refs[i] = NULL; }
}

/* The async context lives exactly while the poller is started. Never destroy it while
   napi_make_callback is still using it (JS may call stop()/close() from inside the callback). */
static void poller_drop_actx(TunPoller *t) {
  if (t->actx && !t->in_callback) { napi_async_destroy(t->env, t->actx); t->actx = NULL; }
}

static void on_closed(uv_handle_t *h) {
  TunPoller *t = h->data;
  t->closed = true;
  /* Tells Node the handle is gone, so worker threads can shut their loop down cleanly. */
  if (t->cleanup) { napi_remove_async_cleanup_hook(t->cleanup); t->cleanup = NULL; }
  if (t->finalized) { free(t->scratch); free(t); }
}

static void poller_set_started(TunPoller *t, bool on) {
  if (t->started == on) return;
  t->started = on;
  uint32_t rc;
  if (on) napi_reference_ref(t->env, t->self_ref, &rc);
  else { napi_reference_unref(t->env, t->self_ref, &rc); poller_drop_actx(t); }
}

static void poller_close(TunPoller *t) {
  if (t->closing) return; /* close() twice, or close() then GC: one uv_close only */
  t->closing = true;
  if (t->started) { uv_poll_stop(&t->handle); poller_set_started(t, false); }
  poller_release_js(t);
  /* uv_close stops the epoll watch synchronously, so the caller may close the fd right after. */
  uv_close((uv_handle_t *)&t->handle, on_closed);
}

/* Node is tearing the environment down (e.g. a worker exits) while the poller is still open. */
static void on_env_cleanup(napi_async_cleanup_hook_handle h, void *arg) {
  TunPoller *t = arg;
  poller_close(t);
}

static void poller_finalize(napi_env env, void *data, void *hint) {
  TunPoller *t = data;
  t->finalized = true;
  if (t->self_ref) { napi_delete_reference(env, t->self_ref); t->self_ref = NULL; }
  if (!t->closing) poller_close(t);
  else if (t->closed) { free(t->scratch); free(t); }
  /* else: on_closed frees it */
}

static void on_poll(uv_poll_t *h, int status, int events);

/* Calls cb(arg) as a top-level callback: handle scope, async context, microtasks drained after. */
static void poller_call_js(TunPoller *t, int32_t arg) {
  napi_env env = t->env;
  napi_handle_scope scope;
  napi_value self, cb, jarg, result;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (napi_get_reference_value(env, t->self_ref, &self) == napi_ok && self &&
      napi_get_reference_value(env, t->cb_ref, &cb) == napi_ok && cb &&
      napi_create_int32(env, arg, &jarg) == napi_ok) {
    t->in_callback = true;
    napi_status s = napi_make_callback(env, t->actx, self, cb, 1, &jarg, &result);
    t->in_callback = false;
    if (!t->started) poller_drop_actx(t); /* stop()/close() ran inside the callback */
    if (s == napi_pending_exception) {
      /* G5: left pending, the exception is swallowed and every later callback silently does
         nothing. Hand it to process 'uncaughtException' like any other event-loop callback. */
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc);
    }
  }
  napi_close_handle_scope(env, scope);
}

/* A TUN read returns exactly one packet. Stop at EAGAIN (queue empty) or a full batch; the
   poll is level-triggered, so anything left over wakes us again on the next loop turn. */
static uint32_t fill_plain(TunPoller *t, int *hard_err) {
  uint32_t n = 0;
  const uint32_t cap = t->slot - t->headroom;
  while (n < t->max_batch && !t->closing) {
    /* The kernel silently cuts a packet that does not fit and returns only the copied length,
       so a packet of exactly `cap` bytes and a cut one look the same. One spare byte in a
       second iovec tells them apart at no extra syscall cost. */
    uint8_t spare;
    struct iovec iov[2] = {{t->slab + (size_t)n * t->slot + t->headroom, cap}, {&spare, 1}};
    ssize_t r = readv(t->fd, iov, 2);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) *hard_err = errno;
      break;
    }
    /* A cut packet is useless (and would be misparsed): drop it and reuse the slot. */
    if ((size_t)r > cap) { t->truncated++; continue; }
    t->lens[n++] = (uint32_t)r;
  }
  return n;
}

/* The same with a virtio_net_hdr before each packet. An ordinary packet is read straight into
   its slot, as above; one that overflows the slot (a super-packet) continues into scratch, is
   moved to scratch's front to be contiguous, and is cut into the following slots. When the
   batch fills up in the middle of a super-packet, the rest waits in t->gso for the next batch. */
static uint32_t fill_vnet(TunPoller *t, int *hard_err) {
  uint32_t n = 0;
  const uint32_t cap = t->slot - t->headroom;
  const uint32_t mtu = t->mtu && t->mtu < cap ? t->mtu : cap;
  while (n < t->max_batch && !t->closing) {
    if (t->gso_pending) {
      while (n < t->max_batch && gso_remaining(&t->gso)) {
        t->lens[n] = gso_next(&t->gso, t->slab + (size_t)n * t->slot + t->headroom);
        n++;
        t->segments++;
      }
      if (gso_remaining(&t->gso)) break;
      t->gso_pending = false;
      continue;
    }
    uint8_t vh[GSO_VNET_HDR_LEN];
    uint8_t *dst = t->slab + (size_t)n * t->slot + t->headroom;
    struct iovec iov[3] = {{vh, sizeof vh}, {dst, cap}, {t->scratch + cap, GSO_SCRATCH}};
    ssize_t r = readv(t->fd, iov, 3);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) *hard_err = errno;
      break;
    }
    if (r < (ssize_t)sizeof vh) { t->malformed++; continue; }
    const uint32_t len = (uint32_t)r - sizeof vh;
    if (len >= cap + GSO_SCRATCH) { t->truncated++; continue; } /* filled everything: maybe cut */
    if (vh[1] == 0) { /* not GSO: a packet like without offloads, maybe with a partial checksum */
      if (len > cap) { t->truncated++; continue; }
      if (gso_begin(&t->gso, vh, dst, len, mtu, cap) != GSO_SINGLE) { t->malformed++; continue; }
      t->lens[n++] = len;
      continue;
    }
    /* Slot n is about to be overwritten by the first segment: move its part out first. */
    memcpy(t->scratch, dst, len < cap ? len : cap);
    if (gso_begin(&t->gso, vh, t->scratch, len, mtu, cap) != GSO_SPLIT) { t->malformed++; continue; }
    t->super_packets++;
    t->gso_pending = true;
  }
  return n;
}

static void on_poll(uv_poll_t *h, int status, int events) {
  TunPoller *t = h->data;
  uint32_t n = 0, total = 0;
  int hard_err = 0;
  (void)events;

  /* One JS call per batch. A super-packet cut in the middle keeps going here (not on the next
     wake-up: its bytes are no longer in the fd, so the poll may not fire again). */
  for (;;) {
    n = t->vnet ? fill_vnet(t, &hard_err) : fill_plain(t, &hard_err);
    total += n;
    if (n > 0 && t->started) poller_call_js(t, (int32_t)n);
    if (!t->gso_pending || hard_err || !t->started || t->closing) break;
  }
  n = total;

  if (status < 0 && !hard_err) {
    /* G4: libuv stopped the watcher on POLLERR. A detached TUN reports EBADFD on read (hard error
       above); otherwise re-arm, but do not spin forever on an error that never shows up in read. */
    if (n == 0 && ++t->err_restarts > 64) hard_err = EIO;
    else if (t->started && !t->closing) uv_poll_start(&t->handle, UV_READABLE, on_poll);
  }
  if (n > 0) t->err_restarts = 0;

  if (hard_err && t->started && !t->closing) {
    /* Report once and go quiet; the wrapper turns -errno into a TunError. Keep the object alive
       (still started) during the call, then drop the strong self reference. */
    uv_poll_stop(&t->handle);
    poller_call_js(t, -hard_err);
    if (!t->closing) poller_set_started(t, false);
  }
}

static napi_value poller_new(napi_env env, napi_callback_info info) {
  size_t argc = 9, slab_len = 0, lens_len = 0;
  napi_value argv[9], self;
  uint32_t fd, slot, headroom, max_batch, mtu = 0;
  bool vnet = false;
  void *slab;
  uint32_t *lens;
  napi_valuetype cbt;
  bool is_buf = false;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  if (argc < 7 || !get_u32(env, argv[0], &fd) || napi_is_buffer(env, argv[1], &is_buf) != napi_ok || !is_buf ||
      napi_get_buffer_info(env, argv[1], &slab, &slab_len) != napi_ok || !get_u32(env, argv[2], &slot) ||
      !get_u32(env, argv[3], &headroom) || !get_u32_array(env, argv[4], &lens, &lens_len) ||
      !get_u32(env, argv[5], &max_batch) || napi_typeof(env, argv[6], &cbt) != napi_ok || cbt != napi_function ||
      (argc > 7 && napi_get_value_bool(env, argv[7], &vnet) != napi_ok) || (argc > 8 && !get_u32(env, argv[8], &mtu))) {
    napi_throw_type_error(env, NULL,
        "TunPoller(fd, slab: Buffer, slot, headroom, lens: Uint32Array, maxBatch, callback, vnetHdr?, mtu?)");
    return NULL;
  }
  if (max_batch == 0 || headroom >= slot || lens_len < max_batch || slab_len / slot < max_batch) {
    napi_throw_range_error(env, NULL, "TunPoller: need 0 < maxBatch, headroom < slot, "
                                      "lens.length >= maxBatch, slab.length >= maxBatch*slot");
    return NULL;
  }
  TunPoller *t = calloc(1, sizeof *t);
  if (!t) { napi_throw_error(env, NULL, "out of memory"); return NULL; }
  t->env = env;
  t->fd = (int)fd;
  t->slab = slab;
  t->lens = lens;
  t->slot = slot;
  t->headroom = headroom;
  t->max_batch = max_batch;
  t->vnet = vnet;
  t->mtu = mtu;
  if (vnet && !(t->scratch = malloc((size_t)(slot - headroom) + GSO_SCRATCH))) {
    free(t);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  uv_loop_t *loop;
  int rc;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) { free(t->scratch); free(t); CHECK(env, napi_generic_failure); }
  if ((rc = uv_poll_init(loop, &t->handle, t->fd)) != 0) { free(t->scratch); free(t); return throw_errno(env, "uv_poll_init", -rc); }
  t->handle.data = t;
  /* From here on, t is freed only through uv_close -> on_closed (+ finalizer). */
  if (napi_wrap(env, self, t, poller_finalize, NULL, NULL) != napi_ok) {
    t->finalized = true;
    uv_close((uv_handle_t *)&t->handle, on_closed);
    CHECK(env, napi_generic_failure);
  }
  CHECK(env, napi_create_reference(env, self, 0, &t->self_ref));
  CHECK(env, napi_create_reference(env, argv[1], 1, &t->slab_ref));
  CHECK(env, napi_create_reference(env, argv[4], 1, &t->lens_ref));
  CHECK(env, napi_create_reference(env, argv[6], 1, &t->cb_ref));
  CHECK(env, napi_add_async_cleanup_hook(env, on_env_cleanup, t, &t->cleanup));
  return self;
}

static TunPoller *unwrap(napi_env env, napi_callback_info info, napi_value *self_out) {
  napi_value self;
  void *t = NULL;
  size_t argc = 0;
  if (napi_get_cb_info(env, info, &argc, NULL, &self, NULL) != napi_ok ||
      napi_unwrap(env, self, &t) != napi_ok || !t) {
    napi_throw_type_error(env, NULL, "not a TunPoller");
    return NULL;
  }
  if (self_out) *self_out = self;
  return t;
}

static napi_value poller_start(napi_env env, napi_callback_info info) {
  napi_value self, name;
  TunPoller *t = unwrap(env, info, &self);
  if (!t) return NULL;
  if (t->closing) { napi_throw_error(env, "ERR_TUN_CLOSED", "TunPoller is closed"); return NULL; }
  if (t->started) return NULL;
  int rc = uv_poll_start(&t->handle, UV_READABLE, on_poll);
  if (rc != 0) return throw_errno(env, "uv_poll_start", -rc);
  if (!t->actx) { /* may survive from a stop()+start() done inside the callback */
    CHECK(env, napi_create_string_utf8(env, "sslgate:TunPoller", NAPI_AUTO_LENGTH, &name));
    CHECK(env, napi_async_init(env, self, name, &t->actx));
  }
  t->err_restarts = 0;
  poller_set_started(t, true);
  return NULL;
}

static napi_value poller_stop(napi_env env, napi_callback_info info) {
  TunPoller *t = unwrap(env, info, NULL);
  if (!t || !t->started) return NULL;
  uv_poll_stop(&t->handle);
  poller_set_started(t, false);
  return NULL;
}

static napi_value poller_close_js(napi_env env, napi_callback_info info) {
  TunPoller *t = unwrap(env, info, NULL);
  if (t) poller_close(t);
  return NULL;
}

static napi_value poller_counters(napi_env env, napi_callback_info info) {
  napi_value arr, v;
  TunPoller *t = unwrap(env, info, NULL);
  if (!t) return NULL;
  double c[4] = {t->truncated, t->malformed, t->super_packets, t->segments};
  CHECK(env, napi_create_array_with_length(env, 4, &arr));
  for (uint32_t i = 0; i < 4; i++) {
    CHECK(env, napi_create_double(env, c[i], &v));
    CHECK(env, napi_set_element(env, arr, i, v));
  }
  return arr;
}

static napi_value poller_truncated(napi_env env, napi_callback_info info) {
  napi_value v;
  TunPoller *t = unwrap(env, info, NULL);
  if (!t) return NULL;
  CHECK(env, napi_create_double(env, t->truncated, &v));
  return v;
}

/* setMtu(mtu): no segment cut from a later super-packet is longer than mtu (0: the slot's room).
   The client's TUN MTU changes while it runs (X-DTLS-MTU <-> X-CSTP-MTU, [SEED] 6.1); a
   super-packet already being cut keeps its segment size. */
static napi_value poller_set_mtu(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self;
  void *p = NULL;
  uint32_t mtu;
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok || napi_unwrap(env, self, &p) != napi_ok || !p) {
    napi_throw_type_error(env, NULL, "not a TunPoller");
    return NULL;
  }
  if (argc < 1 || !get_u32(env, argv[0], &mtu)) {
    napi_throw_type_error(env, NULL, "setMtu(mtu)");
    return NULL;
  }
  ((TunPoller *)p)->mtu = mtu;
  return NULL;
}

/* ---------------------------------------------------------------- writes */

/* gso_type NONE, no checksum flags: the kernel checks the packet's checksums as before. */
static const uint8_t plain_vnet_hdr[GSO_VNET_HDR_LEN];

/* One write per packet: a TUN takes each write(v) as exactly one packet. With offloads on, the
   virtio header goes in front through an iovec, so the packet itself is never copied. */
static ssize_t write_packet(int fd, const uint8_t *p, size_t len, bool vnet) {
  ssize_t r;
  if (!vnet) {
    do r = write(fd, p, len); while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
  }
  struct iovec iov[2] = {{(void *)plain_vnet_hdr, sizeof plain_vnet_hdr}, {(void *)p, len}};
  do r = writev(fd, iov, 2); while (r < 0 && errno == EINTR);
  if (r < 0) return -errno;
  return r >= (ssize_t)sizeof plain_vnet_hdr ? r - (ssize_t)sizeof plain_vnet_hdr : 0;
}

static napi_value tun_write(napi_env env, napi_callback_info info) {
  size_t argc = 5, buf_len = 0;
  napi_value argv[5], res;
  uint32_t fd, off, len;
  bool vnet = false;
  void *buf;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4 || !get_u32(env, argv[0], &fd) || napi_get_buffer_info(env, argv[1], &buf, &buf_len) != napi_ok ||
      !get_u32(env, argv[2], &off) || !get_u32(env, argv[3], &len) ||
      (argc > 4 && napi_get_value_bool(env, argv[4], &vnet) != napi_ok)) {
    napi_throw_type_error(env, NULL, "write(fd, buf: Buffer, offset, length, vnetHdr?)");
    return NULL;
  }
  if ((size_t)off + len > buf_len) { napi_throw_range_error(env, NULL, "write: offset+length beyond buffer"); return NULL; }
  /* Kernel refusals (EAGAIN, ENOBUFS, EINVAL for a non-IP packet...) come back as -errno: the
     data plane drops the packet, like a full NIC queue, and must not pay for an exception. */
  CHECK(env, napi_create_int32(env, (int32_t)write_packet((int)fd, (uint8_t *)buf + off, len, vnet), &res));
  return res;
}

/* Write-side GRO (gro.h) counters, for the metrics: merged writes and the packets they carried. */
static double gro_runs_total, gro_segments_total;

/* Scratch for one batch: the packets' addresses and the runs planned over them. The addon runs
   on the thread that loaded it; thread-local in case a worker thread ever loads it too. */
#define BATCH_MAX 4096
static __thread const uint8_t *batch_pkts[BATCH_MAX];
static __thread uint32_t batch_lens[BATCH_MAX];
static __thread gro_run batch_runs[BATCH_MAX];

/* One merged run as one writev: virtio header, the first packet whole (headers rewritten by
   gro_finish), then the payload of each following packet. If the kernel refuses it, the first
   packet's headers are put back and every packet is written alone. Returns packets written. */
static uint32_t write_run(int fd, const gro_run *r, bool *gone) {
  uint8_t vh[GSO_VNET_HDR_LEN];
  uint8_t saved[60];
  uint8_t *first = (uint8_t *)batch_pkts[r->first];
  memcpy(saved, first, r->hdr);
  gro_finish(r, first, batch_pkts[r->first + r->count - 1], vh);
  struct iovec iov[GRO_MAX_SEGS + 1];
  iov[0].iov_base = vh;
  iov[0].iov_len = sizeof vh;
  iov[1].iov_base = first;
  iov[1].iov_len = batch_lens[r->first];
  for (uint32_t k = 1; k < r->count; k++) {
    iov[k + 1].iov_base = (void *)(batch_pkts[r->first + k] + r->hdr);
    iov[k + 1].iov_len = batch_lens[r->first + k] - r->hdr;
  }
  ssize_t w;
  do w = writev(fd, iov, (int)r->count + 1); while (w < 0 && errno == EINTR);
  if (w >= 0) {
    gro_runs_total += 1;
    gro_segments_total += r->count;
    return r->count;
  }
  if (errno == EBADF || errno == EBADFD) { *gone = true; return 0; }
  memcpy(first, saved, r->hdr);
  uint32_t n = 0;
  for (uint32_t k = 0; k < r->count; k++) {
    ssize_t x = write_packet(fd, batch_pkts[r->first + k], batch_lens[r->first + k], true);
    if (x >= 0) n++;
  }
  return n;
}

static napi_value tun_write_batch(napi_env env, napi_callback_info info) {
  size_t argc = 7, slab_len = 0, noffs = 0, nlens = 0;
  napi_value argv[7], res;
  uint32_t fd, count, *offs, *lens, written = 0;
  bool vnet = false, gro = false;
  void *slab;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5 || !get_u32(env, argv[0], &fd) || napi_get_buffer_info(env, argv[1], &slab, &slab_len) != napi_ok ||
      !get_u32_array(env, argv[2], &offs, &noffs) || !get_u32_array(env, argv[3], &lens, &nlens) ||
      !get_u32(env, argv[4], &count) || (argc > 5 && napi_get_value_bool(env, argv[5], &vnet) != napi_ok) ||
      (argc > 6 && napi_get_value_bool(env, argv[6], &gro) != napi_ok)) {
    napi_throw_type_error(env, NULL, "writeBatch(fd, slab: Buffer, offsets: Uint32Array, lens: Uint32Array, count, vnetHdr?, gro?)");
    return NULL;
  }
  if (count > noffs || count > nlens) { napi_throw_range_error(env, NULL, "writeBatch: count > array length"); return NULL; }
  if (vnet && gro && count > 1) {
    /* Merge runs of one TCP upload into single writes (gro.h); everything else as before. */
    uint32_t n = 0;
    for (uint32_t i = 0; i < count && n < BATCH_MAX; i++) {
      if ((size_t)offs[i] + lens[i] > slab_len) continue; /* out of bounds: drop, never read past the slab */
      batch_pkts[n] = (const uint8_t *)slab + offs[i];
      batch_lens[n] = lens[i];
      n++;
    }
    uint32_t nr = gro_plan(batch_pkts, batch_lens, n, batch_runs);
    bool gone = false;
    for (uint32_t r = 0; r < nr && !gone; r++) {
      const gro_run *run = &batch_runs[r];
      if (run->count > 1) {
        written += write_run((int)fd, run, &gone);
      } else {
        ssize_t x = write_packet((int)fd, batch_pkts[run->first], batch_lens[run->first], true);
        if (x >= 0) written++;
        else if (x == -EBADF || x == -EBADFD) gone = true;
      }
    }
    CHECK(env, napi_create_uint32(env, written, &res));
    return res;
  }
  for (uint32_t i = 0; i < count; i++) {
    if ((size_t)offs[i] + lens[i] > slab_len) continue; /* out of bounds: drop, never read past the slab */
    ssize_t r = write_packet((int)fd, (uint8_t *)slab + offs[i], lens[i], vnet);
    if (r >= 0) written++;
    else if (r == -EBADF || r == -EBADFD) break; /* fd or device gone: the rest would fail too */
    /* any other refusal drops this packet only */
  }
  CHECK(env, napi_create_uint32(env, written, &res));
  return res;
}

/* groCounters() -> [merged writes, packets they carried] since the addon loaded. */
static napi_value tun_gro_counters(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value arr, v;
  CHECK(env, napi_create_array_with_length(env, 2, &arr));
  CHECK(env, napi_create_double(env, gro_runs_total, &v));
  CHECK(env, napi_set_element(env, arr, 0, v));
  CHECK(env, napi_create_double(env, gro_segments_total, &v));
  CHECK(env, napi_set_element(env, arr, 1, v));
  return arr;
}

/* groCoalesce(slab, offsets, lens, count, out: Buffer, outLens: Uint32Array) -> runs: the
   planner and header rewrite as writeBatch runs them, for unit tests. Run i is written to `out`
   as the kernel would receive it: 10-byte virtio header then the packet (merged or not), at
   out[i*65546 ...), its length in outLens[i]. The slab's packets are rewritten like writeBatch
   does. Throws when `out` is too small. */
#define GRO_OUT_SLOT (GSO_VNET_HDR_LEN + GRO_MAX_LEN + 1)
static napi_value tun_gro_coalesce(napi_env env, napi_callback_info info) {
  size_t argc = 6, slab_len = 0, noffs = 0, nlens = 0, out_len = 0, nout = 0;
  napi_value argv[6], res;
  uint32_t count, *offs, *lens, *out_lens;
  void *slab, *out;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6 || napi_get_buffer_info(env, argv[0], &slab, &slab_len) != napi_ok || !get_u32_array(env, argv[1], &offs, &noffs) ||
      !get_u32_array(env, argv[2], &lens, &nlens) || !get_u32(env, argv[3], &count) || napi_get_buffer_info(env, argv[4], &out, &out_len) != napi_ok ||
      !get_u32_array(env, argv[5], &out_lens, &nout) || count > noffs || count > nlens || count > BATCH_MAX) {
    napi_throw_type_error(env, NULL, "groCoalesce(slab, offsets: Uint32Array, lens: Uint32Array, count, out: Buffer, outLens: Uint32Array)");
    return NULL;
  }
  uint32_t n = 0;
  for (uint32_t i = 0; i < count; i++) {
    if ((size_t)offs[i] + lens[i] > slab_len) continue;
    batch_pkts[n] = (const uint8_t *)slab + offs[i];
    batch_lens[n] = lens[i];
    n++;
  }
  uint32_t nr = gro_plan(batch_pkts, batch_lens, n, batch_runs);
  if ((size_t)nr * GRO_OUT_SLOT > out_len || nr > nout) { napi_throw_range_error(env, NULL, "groCoalesce: out too small"); return NULL; }
  for (uint32_t r = 0; r < nr; r++) {
    const gro_run *run = &batch_runs[r];
    uint8_t *o = (uint8_t *)out + (size_t)r * GRO_OUT_SLOT;
    uint32_t len = 0;
    if (run->count == 1) {
      memset(o, 0, GSO_VNET_HDR_LEN);
      memcpy(o + GSO_VNET_HDR_LEN, batch_pkts[run->first], batch_lens[run->first]);
      len = batch_lens[run->first];
    } else {
      uint8_t *first = (uint8_t *)batch_pkts[run->first];
      gro_finish(run, first, batch_pkts[run->first + run->count - 1], o);
      memcpy(o + GSO_VNET_HDR_LEN, first, batch_lens[run->first]);
      len = batch_lens[run->first];
      for (uint32_t k = 1; k < run->count; k++) {
        uint32_t pl = batch_lens[run->first + k] - run->hdr;
        memcpy(o + GSO_VNET_HDR_LEN + len, batch_pkts[run->first + k] + run->hdr, pl);
        len += pl;
      }
    }
    out_lens[r] = GSO_VNET_HDR_LEN + len;
  }
  CHECK(env, napi_create_uint32(env, nr, &res));
  return res;
}

/* gsoSplit(vh: Buffer(10), pkt: Buffer, mtu, out: Buffer, slot, lens: Uint32Array) -> n:
   the pure splitter as the poller runs it, for unit tests. 0 = one ordinary packet (pkt was
   changed in place if its checksum was partial); n > 0 = n segments, segment i at out[i*slot,
   i*slot+lens[i]); < 0 = dropped (enum gso_verdict). Room per segment is `slot`. */
static napi_value tun_gso_split(napi_env env, napi_callback_info info) {
  size_t argc = 6, vh_len = 0, pkt_len = 0, out_len = 0, nlens = 0;
  napi_value argv[6], res;
  void *vh, *pkt, *out;
  uint32_t mtu, slot, *lens;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6 || napi_get_buffer_info(env, argv[0], &vh, &vh_len) != napi_ok || vh_len < GSO_VNET_HDR_LEN ||
      napi_get_buffer_info(env, argv[1], &pkt, &pkt_len) != napi_ok || !get_u32(env, argv[2], &mtu) ||
      napi_get_buffer_info(env, argv[3], &out, &out_len) != napi_ok || !get_u32(env, argv[4], &slot) || slot == 0 ||
      !get_u32_array(env, argv[5], &lens, &nlens)) {
    napi_throw_type_error(env, NULL, "gsoSplit(vh: Buffer, pkt: Buffer, mtu, out: Buffer, slot, lens: Uint32Array)");
    return NULL;
  }
  gso_state s;
  int32_t n = gso_begin(&s, vh, pkt, (uint32_t)pkt_len, mtu, slot);
  if (n == GSO_SPLIT) {
    n = 0;
    while (gso_remaining(&s)) {
      if ((size_t)(n + 1) * slot > out_len || (size_t)n >= nlens) {
        napi_throw_range_error(env, NULL, "gsoSplit: out or lens too small");
        return NULL;
      }
      lens[n] = gso_next(&s, (uint8_t *)out + (size_t)n * slot);
      n++;
    }
  }
  CHECK(env, napi_create_int32(env, n, &res));
  return res;
}

/* errnoText(errno) -> [code, message]: libuv (util.getSystemErrorName) does not know EBADFD,
   the errno a TUN read ends with when its interface is deleted. */
static napi_value tun_errno_text(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], res, code, msg;
  int32_t err = 0;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_int32(env, argv[0], &err) != napi_ok) {
    napi_throw_type_error(env, NULL, "errnoText(errno: number)");
    return NULL;
  }
  if (err < 0) err = -err;
  const char *name = strerrorname_np(err);
  CHECK(env, napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code));
  CHECK(env, napi_create_string_utf8(env, strerror(err), NAPI_AUTO_LENGTH, &msg));
  CHECK(env, napi_create_array_with_length(env, 2, &res));
  CHECK(env, napi_set_element(env, res, 0, code));
  CHECK(env, napi_set_element(env, res, 1, msg));
  return res;
}

/* lockDown(): what Node cannot do itself before setuid. PR_SET_NO_NEW_PRIVS: no later execve
   (a setuid binary, a file with capabilities) can ever give this process privileges back.
   PR_CAPBSET_DROP for every capability: even a uid-0 process could not regain one. The bounding
   set needs CAP_SETPCAP, so this runs while still root. */
static napi_value tun_lock_down(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value res;
  int rc = 0;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) rc = -errno;
  for (int cap = 0; rc == 0 && cap <= 63; cap++) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) rc = -errno;
  }
  CHECK(env, napi_create_int32(env, rc, &res));
  return res;
}

/* ---------------------------------------------------------------- module */

napi_value listen_init(napi_env env, napi_value exports); /* native/listen.c */

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"start", NULL, poller_start, NULL, NULL, NULL, napi_default, NULL},
      {"stop", NULL, poller_stop, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, poller_close_js, NULL, NULL, NULL, napi_default, NULL},
      {"truncated", NULL, poller_truncated, NULL, NULL, NULL, napi_default, NULL},
      {"counters", NULL, poller_counters, NULL, NULL, NULL, napi_default, NULL},
      {"setMtu", NULL, poller_set_mtu, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls, fn;
  CHECK(env, napi_define_class(env, "TunPoller", NAPI_AUTO_LENGTH, poller_new, NULL, 6, methods, &cls));
  CHECK(env, napi_set_named_property(env, exports, "TunPoller", cls));
  CHECK(env, napi_create_function(env, "open", NAPI_AUTO_LENGTH, tun_open, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "open", fn));
  CHECK(env, napi_create_function(env, "write", NAPI_AUTO_LENGTH, tun_write, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "write", fn));
  CHECK(env, napi_create_function(env, "writeBatch", NAPI_AUTO_LENGTH, tun_write_batch, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "writeBatch", fn));
  CHECK(env, napi_create_function(env, "groCounters", NAPI_AUTO_LENGTH, tun_gro_counters, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "groCounters", fn));
  CHECK(env, napi_create_function(env, "groCoalesce", NAPI_AUTO_LENGTH, tun_gro_coalesce, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "groCoalesce", fn));
  CHECK(env, napi_create_function(env, "gsoSplit", NAPI_AUTO_LENGTH, tun_gso_split, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "gsoSplit", fn));
  CHECK(env, napi_create_function(env, "errnoText", NAPI_AUTO_LENGTH, tun_errno_text, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "errnoText", fn));
  CHECK(env, napi_create_function(env, "lockDown", NAPI_AUTO_LENGTH, tun_lock_down, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "lockDown", fn));
  netlink_register(env, exports);
  return listen_init(env, exports);
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
