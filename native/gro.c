/* See gro.h. Pure code: compiled into the TUN addon and exercised directly by its unit tests. */
#include "gro.h"

#include <string.h>

#include "gso.h"

#define TCP_ACK 0x10
#define TCP_PSH 0x08
#define IP_DF 0x4000
#define IP_MF_OFF 0x3fff
#define VNET_F_NEEDS_CSUM 1
#define VNET_GSO_TCPV4 1

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void put_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }

/* A big-endian 16-bit value as it would sit in the packet, for the native-order sum (gso.c). */
static inline uint32_t wire16(uint16_t v) {
  uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
  uint16_t n;
  memcpy(&n, b, 2);
  return n;
}

/* The pseudo-header sum (RFC 793): addresses, protocol 6, TCP length; not folded. */
static inline uint64_t pseudo_sum(const uint8_t *ip, uint32_t tcp_len) {
  return gso_csum_add(0, ip + 12, 8) + wire16(6) + wire16((uint16_t)tcp_len);
}

/* What one packet looks like to the planner; ok = 0 when it can only be written alone. */
typedef struct {
  int ok;
  uint32_t thl;     /* TCP header length */
  uint32_t payload; /* TCP payload bytes */
  uint32_t seq;
  uint8_t flags;
} seg_info;

static seg_info inspect(const uint8_t *p, uint32_t len) {
  seg_info s = {0, 0, 0, 0, 0};
  if (len < 40 || len > GRO_MAX_LEN || p[0] != 0x45 || p[9] != 6) return s; /* IPv4, no options, TCP */
  if (be16(p + 2) != len) return s;
  const uint16_t frag = be16(p + 6);
  if ((frag & IP_MF_OFF) != 0 || (frag & IP_DF) == 0) return s; /* not a fragment; DF set */
  const uint32_t thl = (uint32_t)(p[32] >> 4) * 4;
  if (thl < 20 || 20 + thl >= len) return s; /* a header and at least one payload byte */
  const uint8_t flags = p[33];
  if ((flags & TCP_ACK) == 0 || (flags & (uint8_t)~(TCP_ACK | TCP_PSH)) != 0) return s;
  if (gso_csum_fold(gso_csum_add(0, p, 20)) != 0xffff) return s; /* IP header checksum */
  if (gso_csum_fold(gso_csum_add(pseudo_sum(p, len - 20), p + 20, len - 20)) != 0xffff) return s; /* TCP checksum */
  s.ok = 1;
  s.thl = thl;
  s.payload = len - 20 - thl;
  s.seq = be32(p + 24);
  s.flags = flags;
  return s;
}

/* Does `q` continue the run that `first` starts (same flow and header, see gro.h)? */
static int same_flow(const uint8_t *first, const seg_info *f, const uint8_t *q, const seg_info *s) {
  if (s->thl != f->thl) return 0;
  if (first[1] != q[1] || first[8] != q[8]) return 0;                  /* TOS, TTL */
  if (memcmp(first + 12, q + 12, 8) != 0) return 0;                    /* addresses */
  if (memcmp(first + 20, q + 20, 4) != 0) return 0;                    /* ports */
  if (memcmp(first + 28, q + 28, 4) != 0) return 0;                    /* ACK number */
  if (memcmp(first + 34, q + 34, 2) != 0) return 0;                    /* window */
  if (memcmp(first + 38, q + 38, 2) != 0) return 0;                    /* urgent pointer */
  if (memcmp(first + 40, q + 40, f->thl - 20) != 0) return 0;          /* options, byte for byte */
  return 1;
}

uint32_t gro_plan(const uint8_t *const *pkts, const uint32_t *lens, uint32_t n, gro_run *runs) {
  uint32_t nr = 0;
  uint32_t i = 0;
  while (i < n) {
    gro_run *r = &runs[nr++];
    r->first = i;
    r->count = 1;
    r->total = lens[i];
    r->mss = 0;
    r->hdr = 0;
    const seg_info f = inspect(pkts[i], lens[i]);
    i++;
    if (!f.ok || (f.flags & TCP_PSH)) continue;
    r->mss = (uint16_t)f.payload;
    r->hdr = (uint16_t)(20 + f.thl);
    uint32_t next_seq = f.seq + f.payload;
    uint32_t last_payload = f.payload;
    while (i < n && r->count < GRO_MAX_SEGS && last_payload == f.payload) {
      const seg_info s = inspect(pkts[i], lens[i]);
      if (!s.ok || s.seq != next_seq || s.payload > f.payload || r->total + s.payload > GRO_MAX_LEN) break;
      if (!same_flow(pkts[r->first], &f, pkts[i], &s)) break;
      r->count++;
      r->total += s.payload;
      next_seq += s.payload;
      last_payload = s.payload;
      i++;
      if (s.flags & TCP_PSH) break; /* PSH ends a run (the kernel's GRO flushes after it) */
    }
  }
  return nr;
}

void gro_finish(const gro_run *r, uint8_t *p, const uint8_t *last, uint8_t *vh) {
  /* IP: total length of the merged packet, header checksum again. */
  put16(p + 2, (uint16_t)r->total);
  p[10] = p[11] = 0;
  uint16_t ipc = (uint16_t)~gso_csum_fold(gso_csum_add(0, p, 20));
  memcpy(p + 10, &ipc, 2);
  /* TCP: PSH as the last segment had it (segmentation puts it back on the last one only); the
     checksum field holds the pseudo-header sum, folded and not inverted: what CHECKSUM_PARTIAL
     means (the kernel adds header and payload when it needs the real checksum). */
  p[33] = (uint8_t)(p[33] | (last[33] & TCP_PSH));
  uint16_t ps = gso_csum_fold(pseudo_sum(p, r->total - 20));
  memcpy(p + 36, &ps, 2);
  /* virtio_net_hdr (little-endian): NEEDS_CSUM, GSO TCPv4, hdr_len, gso_size, csum_start/offset */
  vh[0] = VNET_F_NEEDS_CSUM;
  vh[1] = VNET_GSO_TCPV4;
  put_le16(vh + 2, r->hdr);
  put_le16(vh + 4, r->mss);
  put_le16(vh + 6, 20);
  put_le16(vh + 8, 16);
}
