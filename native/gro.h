/*
 * Write-side GRO for a TUN opened with IFF_VNET_HDR (pure: no I/O, no Node-API). A batch of
 * client packets about to be written to the TUN (one DTLS receive batch) often holds runs of
 * back-to-back segments of one TCP upload. Such a run goes to the kernel as ONE write: a virtio
 * header saying "TCPv4 GSO, gso_size = the segments' payload, checksum partial", the first
 * segment's headers (total length and IP checksum rewritten for the whole run) and every
 * segment's payload behind it, gathered with an iovec (nothing copied). The kernel then passes
 * one large packet up its stack instead of dozens, and segments it again only if it forwards it
 * to a device that cannot take it (exactly as it would after a NIC's GRO).
 *
 * What may join a run is what the kernel's own GRO merges (net/ipv4/tcp_offload.c
 * tcp_gro_receive, facts only): same addresses, ports, TOS, TTL and DF; IPv4 without options or
 * fragmentation; TCP header byte-identical apart from sequence number, flags PSH/ACK only, same
 * ACK number and window; each segment starting where the run ends; every segment but the last
 * of the run's segment size; a segment with PSH ends the run; at most 64 KB. Each segment's TCP
 * checksum is verified before it joins (the kernel will not look at it again: the run goes up
 * as CHECKSUM_PARTIAL), so a corrupted segment is still written alone and dropped by the stack.
 * Runs are made of ADJACENT packets only: the batch order is the order written.
 */
#ifndef SSLGATE_GRO_H
#define SSLGATE_GRO_H

#include <stddef.h>
#include <stdint.h>

#define GRO_MAX_SEGS 64
#define GRO_MAX_LEN 65535u

typedef struct {
  uint32_t first;  /* index of the run's first packet in the batch */
  uint32_t count;  /* packets in the run (1 = written as it is) */
  uint32_t total;  /* IP total length of the merged packet (count == 1: the packet's length) */
  uint16_t mss;    /* payload bytes per segment (gso_size) */
  uint16_t hdr;    /* IP + TCP header bytes of the first packet */
} gro_run;

/*
 * Splits packets 0..n-1 (pkts[i], lens[i]) into runs, in order; returns how many runs were
 * written to `runs` (room for n). A packet that cannot join anything is a run of 1.
 */
uint32_t gro_plan(const uint8_t *const *pkts, const uint32_t *lens, uint32_t n, gro_run *runs);

/*
 * For a run of count > 1: rewrites the first packet's headers in place for the merged packet
 * (IP total length and checksum, TCP PSH from the last segment, TCP checksum field = the
 * pseudo-header sum the kernel expects with CHECKSUM_PARTIAL) and fills the 10-byte virtio
 * header `vh`. The payloads of packets first+1 .. first+count-1 follow after `hdr` bytes.
 */
void gro_finish(const gro_run *r, uint8_t *first_pkt, const uint8_t *last_pkt, uint8_t *vh);

#endif
