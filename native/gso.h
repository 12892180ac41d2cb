/*
 * Pure packet code for a TUN opened with IFF_VNET_HDR + TUNSETOFFLOAD (no I/O, no Node-API):
 * completing a checksum the kernel left partial (VIRTIO_NET_HDR_F_NEEDS_CSUM) and splitting a
 * TCP/UDP "super-packet" (VIRTIO_NET_HDR_GSO_TCPV4/TCPV6/UDP_L4) into MTU-sized IP packets.
 *
 * Facts used (kernel Documentation/networking/segmentation-offloads.rst, include/linux/virtio_net.h,
 * the virtio spec §5.1.6): the header is struct virtio_net_hdr (10 bytes, little-endian on
 * x86/arm64 for a TUN without TUNSETVNETBE); gso_size is the payload bytes per segment; csum_start
 * is where the L4 header begins and csum_offset where in it the checksum sits. Each segment of a
 * TSO packet gets the same headers with IP total length / IPv6 payload length set for its size,
 * the IPv4 id incremented per segment, the TCP sequence number advanced by the payload before it,
 * FIN and PSH only on the last segment and CWR only on the first (the kernel's tcp_gso_segment
 * does the same), and a full L4 checksum over its own pseudo-header.
 */
#ifndef SSLGATE_GSO_H
#define SSLGATE_GSO_H

#include <stddef.h>
#include <stdint.h>

#define GSO_VNET_HDR_LEN 10

/* Why a packet was dropped (counted by the caller; never a crash). */
enum gso_verdict {
  GSO_SINGLE = 0,       /* one ordinary packet (checksum completed in place if it was partial) */
  GSO_SPLIT = 1,        /* a super-packet: call gso_next() until it returns 0 */
  GSO_BAD_HEADER = -1,  /* unknown gso_type/flags, csum_start/offset out of range */
  GSO_BAD_PACKET = -2,  /* IP/L4 header does not parse, or lengths do not match the read */
  GSO_TOO_BIG = -3,     /* one segment would not fit the output room even at the MTU */
};

typedef struct {
  const uint8_t *pkt;  /* the IP packet (after the virtio header); must stay valid until done */
  uint32_t len;
  uint32_t l3;         /* IP header length (IPv4 with options, or 40 for IPv6) */
  uint32_t hdr;        /* l3 + L4 header length */
  uint32_t seg;        /* payload bytes per segment (gso_size, capped to the MTU) */
  uint32_t off;        /* next payload byte to emit, counted from the packet start */
  uint32_t index;      /* segments emitted so far */
  uint8_t v6, udp;
} gso_state;

/* RFC 1071 one's-complement sum of buf (not folded, not inverted), added to `sum`. */
uint64_t gso_csum_add(uint64_t sum, const uint8_t *buf, size_t len);
uint16_t gso_csum_fold(uint64_t sum);

/*
 * Looks at one read from the TUN: vh = the 10-byte virtio_net_hdr, pkt/len = the packet after it
 * (writable: a partial checksum is completed in place). mtu caps the segment size so no segment
 * exceeds the TUN MTU; room is the most bytes one output slot can hold.
 * GSO_SINGLE: pkt[0, len) is ready to send. GSO_SPLIT: s is set up for gso_next().
 */
int gso_begin(gso_state *s, const uint8_t *vh, uint8_t *pkt, uint32_t len, uint32_t mtu, uint32_t room);

/* Writes the next segment to out (at least hdr + seg bytes of room); returns its length, or 0 when done. */
uint32_t gso_next(gso_state *s, uint8_t *out);

/* Segments left to emit. */
static inline uint32_t gso_remaining(const gso_state *s) {
  return s->off >= s->len ? 0 : (s->len - s->off + s->seg - 1) / s->seg;
}

#endif
