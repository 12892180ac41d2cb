/* See gso.h. Pure code: compiled into the TUN addon and exercised directly by its unit tests. */
#include "gso.h"

#include <string.h>

#define F_NEEDS_CSUM 1
#define F_DATA_VALID 2
#define GSO_NONE 0
#define GSO_TCPV4 1
#define GSO_TCPV6 4
#define GSO_UDP_L4 5
#define GSO_ECN 0x80

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80

static inline uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void put32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v; }

/* The one's-complement sum does not depend on byte order (RFC 1071 §2(B)): sum native-order
   32-bit words into 64 bits, fold, and store the result in native order too. Values that are
   not bytes in the packet (protocol, length) are added as big-endian 16-bit words (to_wire16). */
static inline uint32_t to_wire16(uint16_t v) {
  uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
  uint16_t n;
  memcpy(&n, b, 2);
  return n;
}

uint64_t gso_csum_add(uint64_t sum, const uint8_t *buf, size_t len) {
  /* 8 bytes per step into a 128-bit accumulator (an add and an add-with-carry): half the steps
     of 32-bit words into 64 bits. perf put this at 2-4% of the network process with offloads
     and GRO (every segment cut or merged is summed once). Folded back to 64 bits at the end. */
  unsigned __int128 acc = sum;
  uint64_t q;
  while (len >= 32) {
    memcpy(&q, buf, 8); acc += q;
    memcpy(&q, buf + 8, 8); acc += q;
    memcpy(&q, buf + 16, 8); acc += q;
    memcpy(&q, buf + 24, 8); acc += q;
    buf += 32;
    len -= 32;
  }
  while (len >= 8) { memcpy(&q, buf, 8); acc += q; buf += 8; len -= 8; }
  /* fold 128 -> 64 with the end-around carry (RFC 1071 works in any word size) */
  uint64_t lo = (uint64_t)acc, hi = (uint64_t)(acc >> 64);
  sum = lo + hi;
  if (sum < lo) sum++;
  /* the rest as before: at most 7 bytes; keep headroom so these adds cannot overflow */
  sum = (sum & 0xffffffffu) + (sum >> 32);
  uint32_t w;
  while (len >= 4) { memcpy(&w, buf, 4); sum += w; buf += 4; len -= 4; }
  if (len >= 2) { uint16_t h; memcpy(&h, buf, 2); sum += h; buf += 2; len -= 2; }
  if (len) { uint8_t last[2] = {buf[0], 0}; uint16_t h; memcpy(&h, last, 2); sum += h; }
  return sum;
}

uint16_t gso_csum_fold(uint64_t sum) {
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

/* Stores ~sum at p (native order = wire order, see above). */
static inline void store_csum(uint8_t *p, uint64_t sum, int udp) {
  uint16_t c = (uint16_t)~gso_csum_fold(sum);
  if (udp && c == 0) c = 0xffff; /* RFC 768: a computed 0 goes out as all ones (0 = "no checksum") */
  memcpy(p, &c, 2);
}

int gso_begin(gso_state *s, const uint8_t *vh, uint8_t *pkt, uint32_t len, uint32_t mtu, uint32_t room) {
  const uint8_t flags = vh[0];
  const uint8_t type = vh[1] & (uint8_t)~GSO_ECN; /* ECN only says CWR may be set: handled per segment */
  const uint32_t gso_size = le16(vh + 4), cstart = le16(vh + 6), coff = le16(vh + 8);
  if (flags & ~(F_NEEDS_CSUM | F_DATA_VALID)) return GSO_BAD_HEADER;

  if (type == GSO_NONE) {
    if (!(flags & F_NEEDS_CSUM)) return GSO_SINGLE;
    /* The kernel put the pseudo-header sum in the checksum field; summing from csum_start to
       the end (that field included) and storing the complement completes it (virtio §5.1.6.2). */
    if (cstart >= len || coff > len - cstart || len - cstart - coff < 2) return GSO_BAD_HEADER;
    store_csum(pkt + cstart + coff, gso_csum_add(0, pkt + cstart, len - cstart), coff == 6);
    return GSO_SINGLE;
  }
  if (type != GSO_TCPV4 && type != GSO_TCPV6 && type != GSO_UDP_L4) return GSO_BAD_HEADER;
  if (gso_size == 0) return GSO_BAD_HEADER;
  if (len < 20) return GSO_BAD_PACKET;

  memset(s, 0, sizeof *s);
  const uint8_t version = pkt[0] >> 4;
  uint8_t proto;
  if (version == 4) {
    if (type == GSO_TCPV6) return GSO_BAD_PACKET;
    s->l3 = (uint32_t)(pkt[0] & 15) * 4;
    if (s->l3 < 20 || s->l3 > len || be16(pkt + 2) != len) return GSO_BAD_PACKET;
    if (be16(pkt + 6) & 0x3fff) return GSO_BAD_PACKET; /* a fragment (MF or offset) is never GSO */
    proto = pkt[9];
  } else if (version == 6) {
    if (type == GSO_TCPV4 || len < 40 || (uint32_t)be16(pkt + 4) + 40 != len) return GSO_BAD_PACKET;
    /* The local stack puts no extension headers on TSO/USO packets; anything else is dropped. */
    s->l3 = 40;
    s->v6 = 1;
    proto = pkt[6];
  } else {
    return GSO_BAD_PACKET;
  }
  s->udp = type == GSO_UDP_L4;
  if (proto != (s->udp ? 17 : 6)) return GSO_BAD_PACKET;
  if ((flags & F_NEEDS_CSUM) && cstart != s->l3) return GSO_BAD_HEADER;
  uint32_t l4;
  if (s->udp) {
    l4 = 8;
    if (s->l3 + l4 > len || be16(pkt + s->l3 + 4) != len - s->l3) return GSO_BAD_PACKET;
  } else {
    if (s->l3 + 20 > len) return GSO_BAD_PACKET;
    l4 = (uint32_t)(pkt[s->l3 + 12] >> 4) * 4;
    if (l4 < 20 || s->l3 + l4 > len) return GSO_BAD_PACKET;
  }
  s->hdr = s->l3 + l4;
  if (s->hdr >= len) return GSO_BAD_PACKET; /* nothing to segment */
  s->seg = gso_size;
  if (s->hdr + s->seg > mtu) {
    /* TCP may be re-cut at any byte; a UDP datagram boundary may not (each segment is one of
       the sender's datagrams), and the kernel never builds one above the route MTU anyway. */
    if (s->udp || mtu <= s->hdr) return GSO_TOO_BIG;
    s->seg = mtu - s->hdr;
  }
  if (s->hdr + s->seg > room) {
    if (s->udp || room <= s->hdr) return GSO_TOO_BIG;
    s->seg = room - s->hdr;
  }
  s->pkt = pkt;
  s->len = len;
  s->off = s->hdr;
  return GSO_SPLIT;
}

uint32_t gso_next(gso_state *s, uint8_t *out) {
  if (s->off >= s->len) return 0;
  const uint32_t chunk = s->len - s->off < s->seg ? s->len - s->off : s->seg;
  const uint32_t total = s->hdr + chunk, l4len = total - s->l3;
  const int last = s->off + chunk >= s->len;
  memcpy(out, s->pkt, s->hdr);
  memcpy(out + s->hdr, s->pkt + s->off, chunk);

  uint64_t pseudo;
  if (s->v6) {
    put16(out + 4, (uint16_t)l4len);
    pseudo = gso_csum_add(0, out + 8, 32) + to_wire16((uint16_t)l4len) + to_wire16(s->udp ? 17 : 6);
  } else {
    put16(out + 2, (uint16_t)total);
    put16(out + 4, (uint16_t)(be16(s->pkt + 4) + s->index)); /* the id the kernel's own segmentation would use */
    out[10] = out[11] = 0;
    store_csum(out + 10, gso_csum_add(0, out, s->l3), 0);
    pseudo = gso_csum_add(0, out + 12, 8) + to_wire16((uint16_t)l4len) + to_wire16(s->udp ? 17 : 6);
  }
  uint8_t *l4 = out + s->l3;
  if (s->udp) {
    put16(l4 + 4, (uint16_t)l4len);
    l4[6] = l4[7] = 0;
    store_csum(l4 + 6, gso_csum_add(pseudo, l4, l4len), 1);
  } else {
    put32(l4 + 4, be32(s->pkt + s->l3 + 4) + (s->off - s->hdr));
    uint8_t f = l4[13];
    if (!last) f &= (uint8_t)~(TCP_FIN | TCP_PSH);
    if (s->index > 0) f &= (uint8_t)~TCP_CWR;
    l4[13] = f;
    l4[16] = l4[17] = 0;
    store_csum(l4 + 16, gso_csum_add(pseudo, l4, l4len), 0);
  }
  s->off += chunk;
  s->index++;
  return total;
}
