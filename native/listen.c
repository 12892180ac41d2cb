/* A listening TCP socket made outside Node (issue 12, `sslgate ctl restart`).

   The gateway's privileged process binds the TLS port with this and never accepts on it (it
   reads nothing from the network); each network process gets the descriptor and accepts on it
   (net.Server listen({ fd })). Across `ctl restart` the first `serve` process keeps its copy
   open, so the port never closes: a client that reconnects while the new gateway starts waits
   in the kernel's accept queue instead of being refused (openconnect would then wait 10 s
   before its next try). Node cannot do this itself: a Node server accepts as soon as it
   listens. */
#include <node_api.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* listenTcp(host, port, backlog): the descriptor (close-on-exec; spawn() passes it on), or -errno. */
static napi_value listen_tcp(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], res;
  char host[64] = {0};
  size_t len = 0;
  int32_t port = 0, backlog = 511;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) return NULL;
  if (napi_get_value_string_utf8(env, argv[0], host, sizeof host, &len) != napi_ok) return NULL;
  if (napi_get_value_int32(env, argv[1], &port) != napi_ok) return NULL;
  if (napi_get_value_int32(env, argv[2], &backlog) != napi_ok) return NULL;
  struct sockaddr_storage ss;
  socklen_t sl;
  int family;
  memset(&ss, 0, sizeof ss);
  if (strchr(host, ':')) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    family = a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) goto inval;
    sl = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    family = a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1) goto inval;
    sl = sizeof *a;
  }
  int rc;
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    rc = -errno;
  } else {
    int one = 1;
    /* As Node does for its servers: a restart may bind while old connections sit in TIME_WAIT. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 || bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, backlog) != 0) {
      rc = -errno;
      close(fd);
    } else {
      rc = fd;
    }
  }
  napi_create_int32(env, rc, &res);
  return res;
inval:
  napi_create_int32(env, -EINVAL, &res);
  return res;
}

/* dupFd(fd): a close-on-exec duplicate, or -errno. With several workers the privileged process
   accepts on the port itself, through a Node server on a duplicate: closing that server (stop,
   `ctl restart`) closes only the duplicate, and the port stays open for the next process. */
#include <fcntl.h>
static napi_value dup_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], res;
  int32_t fd = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return NULL;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok) return NULL;
  int rc = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  napi_create_int32(env, rc < 0 ? -errno : rc, &res);
  return res;
}

napi_value listen_init(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "listenTcp", NAPI_AUTO_LENGTH, listen_tcp, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "listenTcp", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "dupFd", NAPI_AUTO_LENGTH, dup_fd, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "dupFd", fn) != napi_ok) return NULL;
  return exports;
}
