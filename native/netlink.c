/* rtnetlink requests for the client's host configuration (src/os/rtnetlink.ts builds them, this
   only carries them): the address, MTU and routes of the TUN in one netlink round trip instead of
   spawning ip(8), which costs a fork+exec and about 10 ms of Node's CPU on the connect path.

   nlRequest(buf, count): sends `buf` (count netlink messages, each with NLM_F_ACK and sequence
   numbers 1..count) to the kernel on a fresh NETLINK_ROUTE socket of this process's network
   namespace, and returns an array of `count` results: 0 for an acknowledged request, -errno for
   a refused one, 1 when no answer came (the kernel answers every NLM_F_ACK request, so 1 means a
   malformed buffer). The socket times out after 2 s so a wedged kernel cannot hang the client.
   ifIndex(name): if_nametoindex, 0 when there is no such device. */
#include <errno.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <node_api.h>

#include "netlink.h"

#define NL_MAX_REQUESTS 256
#define NL_RECV_BUF 16384

#define NCHECK(env, call)                                                  \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error((env), NULL, "N-API call failed: " #call);          \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static int nl_exchange(const uint8_t *buf, size_t len, uint32_t count, int32_t *results) {
  for (uint32_t i = 0; i < count; i++) results[i] = 1;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  struct timeval tv = {.tv_sec = 2, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, buf, len, 0, (struct sockaddr *)&kernel, sizeof kernel) != (ssize_t)len) {
    int e = -errno;
    close(fd);
    return e;
  }
  uint8_t *rx = malloc(NL_RECV_BUF);
  if (!rx) {
    close(fd);
    return -ENOMEM;
  }
  uint32_t answered = 0;
  int rc = 0;
  while (answered < count) {
    ssize_t n = recv(fd, rx, NL_RECV_BUF, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      rc = -errno; /* EAGAIN: the 2 s timeout; the unanswered stay 1 */
      break;
    }
    int left = (int)n;
    for (struct nlmsghdr *h = (struct nlmsghdr *)rx; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) continue;
      const struct nlmsgerr *err = (const struct nlmsgerr *)NLMSG_DATA(h);
      uint32_t seq = h->nlmsg_seq;
      if (seq >= 1 && seq <= count && results[seq - 1] == 1) {
        results[seq - 1] = err->error; /* 0 or -errno */
        answered++;
      }
    }
  }
  free(rx);
  close(fd);
  return rc;
}

static napi_value nl_request(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], res, v;
  NCHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *data = NULL;
  size_t len = 0;
  uint32_t count = 0;
  bool is_buf = false;
  if (argc < 2 || napi_is_buffer(env, argv[0], &is_buf) != napi_ok || !is_buf || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &count) != napi_ok || count == 0 || count > NL_MAX_REQUESTS || len < NLMSG_HDRLEN || len > 65536) {
    napi_throw_type_error(env, NULL, "nlRequest(buf: Buffer, count: 1..256)");
    return NULL;
  }
  int32_t results[NL_MAX_REQUESTS];
  int rc = nl_exchange((const uint8_t *)data, len, count, results);
  if (rc < 0 && rc != -EAGAIN && rc != -EWOULDBLOCK) {
    /* the socket or the send failed: every request gets that error */
    for (uint32_t i = 0; i < count; i++) results[i] = rc;
  }
  NCHECK(env, napi_create_array_with_length(env, count, &res));
  for (uint32_t i = 0; i < count; i++) {
    NCHECK(env, napi_create_int32(env, results[i], &v));
    NCHECK(env, napi_set_element(env, res, i, v));
  }
  return res;
}

static napi_value nl_if_index(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], res;
  char name[IF_NAMESIZE + 1];
  size_t got = 0;
  NCHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &got) != napi_ok || got == 0 || got >= IF_NAMESIZE) {
    napi_throw_type_error(env, NULL, "ifIndex(name: string of 1..15 bytes)");
    return NULL;
  }
  NCHECK(env, napi_create_uint32(env, if_nametoindex(name), &res));
  return res;
}

napi_value netlink_register(napi_env env, napi_value exports) {
  napi_value fn;
  NCHECK(env, napi_create_function(env, "nlRequest", NAPI_AUTO_LENGTH, nl_request, NULL, &fn));
  NCHECK(env, napi_set_named_property(env, exports, "nlRequest", fn));
  NCHECK(env, napi_create_function(env, "ifIndex", NAPI_AUTO_LENGTH, nl_if_index, NULL, &fn));
  NCHECK(env, napi_set_named_property(env, exports, "ifIndex", fn));
  return exports;
}
