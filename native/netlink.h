/* rtnetlink requests for the client's host configuration (netlink.c). */
#ifndef SSLGATE_NETLINK_H
#define SSLGATE_NETLINK_H
#include <node_api.h>

/* Adds nlRequest() and ifIndex() to the sslgate_tun addon's exports. */
napi_value netlink_register(napi_env env, napi_value exports);

#endif
