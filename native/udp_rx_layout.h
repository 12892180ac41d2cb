/*
 * Pure bookkeeping for the batched UDP receive path (udp_rx.c): no I/O, no Node-API, so the
 * unit tests can drive it with garbage through udp_rx.c's test exports.
 *
 * A recvmmsg(2) batch reads up to N messages, message m into slab[m*slot, m*slot+slot). With
 * UDP_GRO on (Linux >= 5.0, udp(7)) one message may carry several datagrams of one flow glued
 * together; the kernel then attaches a SOL_UDP/UDP_GRO control message holding the segment size
 * (an int, see the kernel's udp_cmsg_recv): every datagram but the last is exactly that long.
 * layout() turns the messages into a flat list of datagrams (offset, length, peer) for JS.
 */
#ifndef SSLGATE_UDP_RX_LAYOUT_H
#define SSLGATE_UDP_RX_LAYOUT_H

#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* One received message, as recvmmsg left it. */
typedef struct {
  uint32_t len;   /* msg_len: bytes in the slot (never more than the slot) */
  int32_t seg;    /* GRO segment size from the cmsg; 0 = none (one datagram); -1 = unreadable cmsg */
  uint32_t flags; /* msg_flags (MSG_TRUNC, MSG_CTRUNC) */
  uint32_t addr;  /* IPv4, host order */
  uint32_t port;
  uint32_t local; /* the datagram's destination (IP_PKTINFO), host order; 0 = not known */
} RxMsg;

typedef struct {
  uint32_t datagrams; /* entries written to the output arrays */
  uint32_t dropped;   /* messages (or their tails) that could not be delivered */
} RxLayoutResult;

/*
 * The GRO segment size in a received message's control data: > 0 if present, 0 if there is no
 * UDP_GRO cmsg, -1 if the control data was cut (MSG_CTRUNC: a GRO cmsg may have been lost, so
 * the message cannot be split safely) or the cmsg is too short to hold its int.
 */
static inline int32_t rx_gro_segment(const struct msghdr *mh) {
  if (mh->msg_flags & MSG_CTRUNC) return -1;
  if (mh->msg_control == NULL || mh->msg_controllen < sizeof(struct cmsghdr)) return 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)mh); c != NULL; c = CMSG_NXTHDR((struct msghdr *)mh, c)) {
    /* A length below the header (CMSG_NXTHDR would loop) or past the buffer: cut or forged. */
    if (c->cmsg_len < sizeof(struct cmsghdr) ||
        (size_t)((const char *)c - (const char *)mh->msg_control) + c->cmsg_len > mh->msg_controllen)
      return -1;
    if (c->cmsg_level != SOL_UDP || c->cmsg_type != UDP_GRO) continue;
    if (c->cmsg_len < CMSG_LEN(sizeof(int))) return -1;
    int v;
    memcpy(&v, CMSG_DATA(c), sizeof v);
    return v > 0 ? v : -1; /* the kernel never sends 0 or less: treat as unreadable */
  }
  return 0;
}

/*
 * The local address a received message was sent to, from its IP_PKTINFO control message (ip(7):
 * ipi_spec_dst is "the local address of the packet", which for a unicast datagram is its
 * destination; the kernel's ipv4_pktinfo_prepare / fib_compute_spec_dst), host order; 0 when
 * absent (IP_PKTINFO off) or unreadable. A cut or malformed control area gives 0 here and is
 * caught by rx_gro_segment (which drops the message).
 */
static inline uint32_t rx_pktinfo_local(const struct msghdr *mh) {
  if (mh->msg_control == NULL || mh->msg_controllen < sizeof(struct cmsghdr)) return 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)mh); c != NULL; c = CMSG_NXTHDR((struct msghdr *)mh, c)) {
    if (c->cmsg_len < sizeof(struct cmsghdr) ||
        (size_t)((const char *)c - (const char *)mh->msg_control) + c->cmsg_len > mh->msg_controllen)
      return 0;
    if (c->cmsg_level != IPPROTO_IP || c->cmsg_type != IP_PKTINFO || c->cmsg_len < CMSG_LEN(sizeof(struct in_pktinfo))) continue;
    struct in_pktinfo pi;
    memcpy(&pi, CMSG_DATA(c), sizeof pi);
    return ntohl(pi.ipi_spec_dst.s_addr);
  }
  return 0;
}

/*
 * Messages msgs[0..n) in slots of `slot` bytes -> datagrams in offs/lens/addrs/ports (and
 * locals, when not NULL) (room entries). A message is dropped (counted) when it was cut (MSG_TRUNC: larger than the slot) or
 * its cmsg was unreadable (seg < 0); a GRO message is split at `seg` bytes. An empty datagram is
 * delivered as one of length 0, as dgram would (the listener counts it as garbage). When
 * the output is full the rest is dropped and counted: the caller sizes `room` so that this
 * cannot happen with what the kernel produces (at most 64 segments per GRO message).
 */
static inline RxLayoutResult rx_layout(const RxMsg *msgs, uint32_t n, uint32_t slot, uint32_t *offs, uint32_t *lens,
                                       uint32_t *addrs, uint32_t *ports, uint32_t *locals, uint32_t room) {
  RxLayoutResult r = {0, 0};
  for (uint32_t m = 0; m < n; m++) {
    const RxMsg *x = &msgs[m];
    if ((x->flags & MSG_TRUNC) || x->seg < 0 || x->len > slot) {
      r.dropped++;
      continue;
    }
    uint32_t seg = x->seg == 0 || (uint32_t)x->seg > x->len ? x->len : (uint32_t)x->seg;
    uint32_t base = m * slot;
    uint32_t at = 0;
    do {
      if (r.datagrams == room) {
        r.dropped++;
        break;
      }
      uint32_t k = r.datagrams++;
      offs[k] = base + at;
      lens[k] = x->len - at < seg ? x->len - at : seg;
      addrs[k] = x->addr;
      ports[k] = x->port;
      if (locals != NULL) locals[k] = x->local;
      at += seg;
    } while (at < x->len);
  }
  return r;
}

#endif
