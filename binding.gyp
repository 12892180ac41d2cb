{
  "targets": [
    {
      "target_name": "sslgate_tun",
      "sources": ["native/tun.c", "native/gso.c", "native/listen.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags_c": ["-O2", "-std=gnu11"],
      "cflags!": ["-O3"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    },
    {
      "target_name": "sslgate_dtls",
      "sources": ["native/dtls_record.c", "native/udp_rx.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags_c": ["-O2", "-std=gnu11"],
      "cflags!": ["-O3"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    }
  ]
}
