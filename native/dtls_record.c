/*
 * sslgate_dtls: DTLS application-record protection and batched UDP sends, as a plain C Node-API
 * addon. The DTLS handshake stays in TypeScript (src/dtls); once it is done, the data path hands
 * the traffic keys to this file.
 *
 * Why native (shared/reference/NODE-DATAPLANE.md §3, §6.2): node:crypto creates a cipher object
 * per record (3.6-3.9 us for AES-GCM, more for CBC+HMAC); the cipher itself needs ~0.5 us. Here
 * each direction keeps ONE EVP_CIPHER_CTX, keyed once, and re-initialised with only the IV per
 * record. HMAC for the CBC suites uses precomputed inner/outer hash states (struct copies, no
 * allocation). Node's bundled OpenSSL 3 exports these symbols, so nothing extra is linked.
 *
 * Record formats (same as src/dtls/record-cipher.ts, the reference implementation):
 *   header(13) = type | version(2) | epoch(2) | seq(6) | length(2);  seq64 = epoch ‖ seq
 *   AES-GCM (RFC 5288/6347): fragment = explicit(8) = seq64 ‖ ct ‖ tag(16);
 *                            nonce = salt(4) ‖ explicit; AAD = seq64 ‖ type ‖ version ‖ ptlen
 *   ChaCha20-Poly1305 (RFC 7905): fragment = ct ‖ tag(16); nonce = iv(12) XOR (0^4 ‖ seq64)
 *   CBC + HMAC (RFC 4346/5246, MAC-then-encrypt, explicit IV): fragment = IV ‖ CBC(pt ‖ MAC ‖ pad)
 *                            MAC = HMAC(seq64 ‖ type ‖ version ‖ ptlen ‖ pt)
 *
 * Exports:
 *   new RecordSealer(kind, cipher, macHash, encKey, fixedIv, macKey, version, epoch, firstSeq)
 *       kind 'gcm' | 'chacha20-poly1305' | 'cbc'; cipher: OpenSSL/node name ('aes-256-gcm',
 *       'aes-128-cbc', 'des-ede3-cbc', 'chacha20-poly1305'); macHash 'sha1' | 'sha256' | 'sha384'
 *       (CBC) or '' (AEAD). The sealer owns the write sequence number.
 *     .seal(buf, recordOffset, payloadLength, contentType) -> record length
 *         payload already at recordOffset + headroom; tag / MAC + padding written after it
 *     .sealFrom(dst, recordOffset, src, srcOffset, srcLength, prefixByte, contentType) -> length
 *         payload = [prefixByte if 0..255] ‖ src[srcOffset, +srcLength), copied into place first
 *     .nextSeq (getter)  .headroom (13 + explicit IV/nonce)  .tailroom (worst case: tag or MAC + pad)
 *     seal/sealFrom/open, headroom/tailroom/plaintextOffset are own properties of each instance:
 *     the functions carry the native state as their callback data (no napi_unwrap per record).
 *   new RecordOpener(kind, cipher, macHash, encKey, fixedIv, macKey, version, epoch)
 *     .open(buf, recordOffset, recordLength) -> plaintext length (plaintext decrypted in place at
 *         recordOffset + plaintextOffset), or OPEN_BAD (-1: authentication / padding / format),
 *         OPEN_REPLAY (-2: seen, or left of the 64-record window). The record's own header
 *         supplies type, version, epoch and seq; version and epoch must equal the opener's.
 *         The replay window is updated only after authentication succeeded (RFC 6347 §4.1.2.6).
 *     .plaintextOffset (get)
 *   sendBatch(fd, slab, offsets, lens, addrs, ports, count, flags[, srcs]) -> datagrams consumed
 *       sendmmsg(2) to IPv4 peers (addrs: host-order Uint32Array, ports: Uint32Array), with
 *       UDP GSO for runs of equal-sized datagrams to one peer while flags[0] & 1. Stops at
 *       EAGAIN (the return value says where); other errors drop that message's datagrams.
 *       srcs (optional Uint32Array, host order): a non-zero srcs[i] is datagram i's source
 *       address (an IP_PKTINFO control message, ip(7)), for a socket bound to 0.0.0.0.
 *   UdpPoller, setSocketBuffers, rxLayout, groSegment: batched UDP receive, see native/udp_rx.c.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1 /* SHA*_Init/Update/Final: allocation-free HMAC states */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

napi_value udp_rx_init(napi_env env, napi_value exports);

#define CHECK(env, call)                                                    \
  do {                                                                      \
    if ((call) != napi_ok) {                                                \
      bool pending_ = false;                                                \
      napi_is_exception_pending((env), &pending_);                          \
      if (!pending_) napi_throw_error((env), NULL, "sslgate_dtls: " #call); \
      return NULL;                                                          \
    }                                                                       \
  } while (0)

#define HDR 13
#define TAG 16
#define MAX_PLAINTEXT 16384
#define MAX_SEQ ((((uint64_t)1) << 48) - 1)
#define OPEN_BAD (-1)
#define OPEN_REPLAY (-2)
#define RAND_POOL 4096

enum { KIND_GCM = 1, KIND_CHACHA = 2, KIND_CBC = 3 };
enum { MAC_NONE = 0, MAC_SHA1 = 1, MAC_SHA256 = 2, MAC_SHA384 = 3 };

typedef union {
  SHA_CTX s1;
  SHA256_CTX s256;
  SHA512_CTX s512;
} HashState;

typedef struct {
  int kind, enc;
  EVP_CIPHER_CTX *ctx;
  EVP_CIPHER *cipher;
  uint8_t iv[12]; /* GCM: salt in [0,4); ChaCha: the 12-byte IV */
  uint16_t version, epoch;
  uint32_t explicit_len; /* 8 GCM, 0 ChaCha, block size CBC */
  uint32_t block;        /* CBC block size */
  int mac;
  uint32_t mac_len;
  HashState ipad, opad; /* HMAC states after the key block */
  /* sealer */
  uint64_t seq;
  uint8_t *pool; /* CBC explicit IVs, refilled from RAND_bytes */
  uint32_t pool_pos;
  /* opener: 64-record window, bit i = max - i seen */
  uint64_t win_max, win_bits;
  bool win_any;
  /* owners: the wrapped object and its per-instance seal/sealFrom/open functions */
  int refs;
} Rec;

/* ---------------------------------------------------------------- helpers */

/* A whole number in [0, 2^32): napi_get_value_uint32 alone would wrap 2^32 + 5 to 5 and -1 to
   4294967295, so an offset or length the caller got wrong could still pass the bounds checks. */
static bool get_u32(napi_env env, napi_value v, uint32_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0 && d <= 4294967295.0) || d != (double)(uint32_t)d) return false;
  *out = (uint32_t)d;
  return true;
}

/* A whole number in [min, max] (prefixByte: -1 = none, else 0..255). */
static bool get_int_in(napi_env env, napi_value v, int32_t min, int32_t max, int32_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= min && d <= max) || d != (double)(int32_t)d) return false;
  *out = (int32_t)d;
  return true;
}

static bool get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool ok = false;
  if (napi_is_buffer(env, v, &ok) == napi_ok && ok) return napi_get_buffer_info(env, v, (void **)data, len) == napi_ok;
  if (napi_is_typedarray(env, v, &ok) == napi_ok && ok) {
    napi_typedarray_type t;
    napi_value ab;
    size_t off;
    if (napi_get_typedarray_info(env, v, &t, len, (void **)data, &ab, &off) != napi_ok || t != napi_uint8_array) return false;
    return true;
  }
  return false;
}

static bool get_u32_array(napi_env env, napi_value v, uint32_t **data, size_t *len) {
  napi_typedarray_type type;
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return false;
  if (napi_get_typedarray_info(env, v, &type, len, (void **)data, NULL, NULL) != napi_ok) return false;
  return type == napi_uint32_array;
}

static bool get_str(napi_env env, napi_value v, char *out, size_t cap) {
  size_t n = 0;
  return napi_get_value_string_utf8(env, v, out, cap, &n) == napi_ok && n < cap - 1;
}

static void put_seq64(uint8_t *p, uint16_t epoch, uint64_t seq) {
  p[0] = (uint8_t)(epoch >> 8);
  p[1] = (uint8_t)epoch;
  for (int i = 0; i < 6; i++) p[2 + i] = (uint8_t)(seq >> (8 * (5 - i)));
}

static uint64_t get_seq48(const uint8_t *p) {
  uint64_t s = 0;
  for (int i = 0; i < 6; i++) s = (s << 8) | p[i];
  return s;
}

/* pseudo header / AAD: seq64 ‖ type ‖ version ‖ length */
static void put_pseudo(uint8_t *p, const uint8_t *seq64, uint8_t type, uint16_t version, uint32_t len) {
  memcpy(p, seq64, 8);
  p[8] = type;
  p[9] = (uint8_t)(version >> 8);
  p[10] = (uint8_t)version;
  p[11] = (uint8_t)(len >> 8);
  p[12] = (uint8_t)len;
}

static void put_header(uint8_t *p, uint8_t type, uint16_t version, uint16_t epoch, uint64_t seq, uint32_t fraglen) {
  p[0] = type;
  p[1] = (uint8_t)(version >> 8);
  p[2] = (uint8_t)version;
  put_seq64(p + 3, epoch, seq);
  p[11] = (uint8_t)(fraglen >> 8);
  p[12] = (uint8_t)fraglen;
}

/* ---------------------------------------------------------------- HMAC (precomputed pads) */

static uint32_t mac_block(int mac) { return mac == MAC_SHA384 ? 128 : 64; }

static void hash_init(int mac, HashState *h) {
  if (mac == MAC_SHA1) SHA1_Init(&h->s1);
  else if (mac == MAC_SHA256) SHA256_Init(&h->s256);
  else SHA384_Init(&h->s512);
}

static void hash_update(int mac, HashState *h, const void *p, size_t n) {
  if (mac == MAC_SHA1) SHA1_Update(&h->s1, p, n);
  else if (mac == MAC_SHA256) SHA256_Update(&h->s256, p, n);
  else SHA384_Update(&h->s512, p, n);
}

static void hash_final(int mac, HashState *h, uint8_t *out) {
  if (mac == MAC_SHA1) SHA1_Final(out, &h->s1);
  else if (mac == MAC_SHA256) SHA256_Final(out, &h->s256);
  else SHA384_Final(out, &h->s512);
}

static bool hmac_setup(Rec *r, const uint8_t *key, size_t key_len) {
  uint8_t k0[128], pad[128];
  uint32_t b = mac_block(r->mac);
  memset(k0, 0, sizeof k0);
  if (key_len > b) {
    HashState h;
    hash_init(r->mac, &h);
    hash_update(r->mac, &h, key, key_len);
    hash_final(r->mac, &h, k0);
    OPENSSL_cleanse(&h, sizeof h);
  } else {
    memcpy(k0, key, key_len);
  }
  for (uint32_t i = 0; i < b; i++) pad[i] = k0[i] ^ 0x36;
  hash_init(r->mac, &r->ipad);
  hash_update(r->mac, &r->ipad, pad, b);
  for (uint32_t i = 0; i < b; i++) pad[i] = k0[i] ^ 0x5c;
  hash_init(r->mac, &r->opad);
  hash_update(r->mac, &r->opad, pad, b);
  OPENSSL_cleanse(k0, sizeof k0);
  OPENSSL_cleanse(pad, sizeof pad);
  return true;
}

static void hmac(Rec *r, const uint8_t *pseudo, const uint8_t *data, size_t len, uint8_t *out) {
  HashState h;
  uint8_t inner[64];
  h = r->ipad;
  hash_update(r->mac, &h, pseudo, HDR);
  hash_update(r->mac, &h, data, len);
  hash_final(r->mac, &h, inner);
  h = r->opad;
  hash_update(r->mac, &h, inner, r->mac_len);
  hash_final(r->mac, &h, out);
}

/* ---------------------------------------------------------------- object lifetime */

static void rec_free(Rec *r) {
  if (!r) return;
  if (r->ctx) EVP_CIPHER_CTX_free(r->ctx); /* cleanses the key schedule */
  if (r->cipher) EVP_CIPHER_free(r->cipher);
  if (r->pool) { OPENSSL_cleanse(r->pool, RAND_POOL); free(r->pool); }
  OPENSSL_cleanse(r, sizeof *r);
  free(r);
}

/* Finalizer of the object and of each of its functions: the last one frees. */
static void rec_unref(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Rec *r = data;
  if (--r->refs == 0) rec_free(r);
}

/* The hot methods are per-instance functions whose callback data is the Rec itself: that saves
   a napi_unwrap (a private-property lookup) on every record. The functions keep the Rec alive
   too (refcount), so a detached `const f = sealer.seal` stays safe. */
static bool add_method(napi_env env, napi_value self, Rec *r, const char *name, napi_callback cb) {
  napi_value fn;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, r, &fn) != napi_ok) return false;
  r->refs++;
  if (napi_add_finalizer(env, fn, r, rec_unref, NULL, NULL) != napi_ok) { r->refs--; return false; }
  return napi_set_named_property(env, self, name, fn) == napi_ok;
}

static napi_value sealer_seal(napi_env env, napi_callback_info info);
static napi_value sealer_seal_from(napi_env env, napi_callback_info info);
static napi_value opener_open(napi_env env, napi_callback_info info);

/* Shared constructor: (kind, cipher, macHash, encKey, fixedIv, macKey, version, epoch[, firstSeq]) */
static napi_value rec_new(napi_env env, napi_callback_info info, int enc) {
  size_t argc = 9, klen = 0, ivlen = 0, mklen = 0;
  napi_value argv[9], self;
  char kind[32], cname[48], mname[16];
  uint8_t *key, *iv, *mkey;
  uint32_t version, epoch;
  double first = 0;
  const char *usage = enc ? "RecordSealer(kind, cipher, macHash, encKey, fixedIv, macKey, version, epoch, firstSeq)"
                          : "RecordOpener(kind, cipher, macHash, encKey, fixedIv, macKey, version, epoch)";
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  if (argc < (size_t)(enc ? 9 : 8) || !get_str(env, argv[0], kind, sizeof kind) || !get_str(env, argv[1], cname, sizeof cname) ||
      !get_str(env, argv[2], mname, sizeof mname) || !get_bytes(env, argv[3], &key, &klen) ||
      !get_bytes(env, argv[4], &iv, &ivlen) || !get_bytes(env, argv[5], &mkey, &mklen) || !get_u32(env, argv[6], &version) ||
      !get_u32(env, argv[7], &epoch) || (enc && napi_get_value_double(env, argv[8], &first) != napi_ok)) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  if (version > 0xffff || epoch > 0xffff || !(first >= 0 && first <= (double)MAX_SEQ && first == (double)(uint64_t)first)) {
    napi_throw_range_error(env, NULL, "version/epoch must be 16-bit, firstSeq a 48-bit integer");
    return NULL;
  }
  Rec *r = calloc(1, sizeof *r);
  if (!r) { napi_throw_error(env, NULL, "out of memory"); return NULL; }
  r->enc = enc;
  r->version = (uint16_t)version;
  r->epoch = (uint16_t)epoch;
  r->seq = (uint64_t)first;
  const char *err = NULL;
  if (strcmp(kind, "gcm") == 0) {
    r->kind = KIND_GCM;
    r->explicit_len = 8;
    if (ivlen < 4) err = "AES-GCM needs a 4-byte salt";
    else memcpy(r->iv, iv, 4);
  } else if (strcmp(kind, "chacha20-poly1305") == 0) {
    r->kind = KIND_CHACHA;
    r->explicit_len = 0;
    if (ivlen != 12) err = "ChaCha20-Poly1305 needs a 12-byte IV";
    else memcpy(r->iv, iv, 12);
  } else if (strcmp(kind, "cbc") == 0) {
    r->kind = KIND_CBC;
    if (strcmp(mname, "sha1") == 0) { r->mac = MAC_SHA1; r->mac_len = 20; }
    else if (strcmp(mname, "sha256") == 0) { r->mac = MAC_SHA256; r->mac_len = 32; }
    else if (strcmp(mname, "sha384") == 0) { r->mac = MAC_SHA384; r->mac_len = 48; }
    else err = "unknown MAC hash";
    if (!err && mklen != r->mac_len) err = "MAC key length does not match the hash";
  } else {
    err = "unknown record cipher kind";
  }
  if (!err) {
    r->cipher = EVP_CIPHER_fetch(NULL, cname, NULL);
    r->ctx = EVP_CIPHER_CTX_new();
    if (!r->cipher || !r->ctx) err = "cipher not available in this OpenSSL";
  }
  if (!err) {
    int mode = EVP_CIPHER_get_mode(r->cipher);
    bool aead = (EVP_CIPHER_get_flags(r->cipher) & EVP_CIPH_FLAG_AEAD_CIPHER) != 0;
    if ((size_t)EVP_CIPHER_get_key_length(r->cipher) != klen) err = "key length does not match the cipher";
    else if (r->kind == KIND_GCM && mode != EVP_CIPH_GCM_MODE) err = "kind 'gcm' needs a GCM cipher";
    else if (r->kind == KIND_CHACHA && !aead) err = "kind 'chacha20-poly1305' needs that AEAD";
    else if (r->kind == KIND_CBC && mode != EVP_CIPH_CBC_MODE) err = "kind 'cbc' needs a CBC cipher";
  }
  if (!err && EVP_CipherInit_ex(r->ctx, r->cipher, NULL, key, NULL, enc) != 1) err = "EVP_CipherInit_ex failed";
  if (!err && r->kind == KIND_CBC) {
    r->block = (uint32_t)EVP_CIPHER_get_block_size(r->cipher);
    r->explicit_len = r->block;
    EVP_CIPHER_CTX_set_padding(r->ctx, 0);
    hmac_setup(r, mkey, mklen);
    if (enc) {
      r->pool = malloc(RAND_POOL);
      r->pool_pos = RAND_POOL;
      if (!r->pool) err = "out of memory";
    }
  }
  if (err) {
    rec_free(r);
    napi_throw_error(env, "ERR_DTLS_NATIVE", err);
    return NULL;
  }
  r->refs = 1;
  if (napi_wrap(env, self, r, rec_unref, NULL, NULL) != napi_ok) {
    rec_free(r);
    CHECK(env, napi_generic_failure);
  }
  bool ok = enc ? add_method(env, self, r, "seal", sealer_seal) && add_method(env, self, r, "sealFrom", sealer_seal_from)
                : add_method(env, self, r, "open", opener_open);
  if (!ok) CHECK(env, napi_generic_failure);
  /* Constant per instance and read per packet: plain read-only data properties. */
  napi_value head, tail;
  CHECK(env, napi_create_uint32(env, HDR + r->explicit_len, &head));
  CHECK(env, napi_create_uint32(env, r->kind == KIND_CBC ? r->mac_len + r->block : TAG, &tail));
  napi_property_descriptor props[] = {
      {enc ? "headroom" : "plaintextOffset", NULL, NULL, NULL, NULL, head, napi_enumerable, NULL},
      {"tailroom", NULL, NULL, NULL, NULL, tail, napi_enumerable, NULL},
  };
  CHECK(env, napi_define_properties(env, self, enc ? 2 : 1, props));
  return self;
}

static napi_value sealer_new(napi_env env, napi_callback_info info) { return rec_new(env, info, 1); }
static napi_value opener_new(napi_env env, napi_callback_info info) { return rec_new(env, info, 0); }

/* Per-instance method: the Rec is the function's data. */
static Rec *method_args(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  void *r = NULL;
  if (napi_get_cb_info(env, info, argc, argv, NULL, &r) != napi_ok || !r) {
    napi_throw_error(env, NULL, "sslgate_dtls: napi_get_cb_info");
    return NULL;
  }
  return r;
}

/* Accessor on the prototype: unwrap `this`. */
static Rec *unwrap_this(napi_env env, napi_callback_info info, int enc) {
  napi_value self;
  void *r = NULL;
  size_t argc = 0;
  if (napi_get_cb_info(env, info, &argc, NULL, &self, NULL) != napi_ok || napi_unwrap(env, self, &r) != napi_ok || !r ||
      (enc >= 0 && ((Rec *)r)->enc != enc)) {
    napi_throw_type_error(env, NULL, enc == 1 ? "not a RecordSealer" : enc == 0 ? "not a RecordOpener" : "not a record object");
    return NULL;
  }
  return r;
}

/* ---------------------------------------------------------------- seal */

static uint32_t tailroom(const Rec *r) {
  return r->kind == KIND_CBC ? r->mac_len + r->block : TAG;
}

/* Payload of `plen` bytes sits at p + HDR + explicit_len; writes the whole record, returns its
   length, or 0 on an OpenSSL failure. */
static uint32_t seal_core(Rec *r, uint8_t *p, uint32_t plen, uint8_t type) {
  uint8_t seq64[8], pseudo[HDR], nonce[12];
  uint8_t *pt = p + HDR + r->explicit_len;
  int outl = 0, fl = 0;
  uint32_t frag;
  put_seq64(seq64, r->epoch, r->seq);
  put_pseudo(pseudo, seq64, type, r->version, plen);
  switch (r->kind) {
    case KIND_GCM:
      memcpy(nonce, r->iv, 4);
      memcpy(nonce + 4, seq64, 8);
      memcpy(p + HDR, seq64, 8); /* explicit nonce = seq64, as GnuTLS and OpenSSL send */
      /* fallthrough */
    case KIND_CHACHA:
      if (r->kind == KIND_CHACHA) {
        memcpy(nonce, r->iv, 12);
        for (int i = 0; i < 8; i++) nonce[4 + i] ^= seq64[i];
      }
      if (EVP_CipherInit_ex(r->ctx, NULL, NULL, NULL, nonce, 1) != 1 ||
          EVP_CipherUpdate(r->ctx, NULL, &outl, pseudo, HDR) != 1 ||
          EVP_CipherUpdate(r->ctx, pt, &outl, pt, (int)plen) != 1 ||
          EVP_CipherFinal_ex(r->ctx, pt + outl, &fl) != 1 ||
          EVP_CIPHER_CTX_ctrl(r->ctx, EVP_CTRL_AEAD_GET_TAG, TAG, pt + plen) != 1)
        return 0;
      frag = r->explicit_len + plen + TAG;
      break;
    case KIND_CBC: {
      uint32_t bs = r->block;
      uint32_t total = plen + r->mac_len + 1;
      uint32_t pad = (bs - total % bs) % bs;
      uint32_t n = total + pad;
      hmac(r, pseudo, pt, plen, pt + plen);
      memset(pt + plen + r->mac_len, (int)pad, pad + 1);
      if (r->pool_pos + bs > RAND_POOL) {
        if (RAND_bytes(r->pool, RAND_POOL) != 1) return 0;
        r->pool_pos = 0;
      }
      memcpy(p + HDR, r->pool + r->pool_pos, bs);
      r->pool_pos += bs;
      if (EVP_CipherInit_ex(r->ctx, NULL, NULL, NULL, p + HDR, 1) != 1 ||
          EVP_CipherUpdate(r->ctx, pt, &outl, pt, (int)n) != 1 || (uint32_t)outl != n)
        return 0;
      frag = bs + n;
      break;
    }
    default:
      return 0;
  }
  put_header(p, type, r->version, r->epoch, r->seq, frag);
  r->seq++;
  return HDR + frag;
}

static napi_value seal_result(napi_env env, Rec *r, uint8_t *p, uint32_t plen, uint32_t type) {
  napi_value res;
  if (r->seq >= MAX_SEQ) { napi_throw_error(env, "ERR_DTLS_SEQUENCE", "DTLS sequence number space exhausted"); return NULL; }
  uint32_t n = seal_core(r, p, plen, (uint8_t)type);
  if (n == 0) { napi_throw_error(env, "ERR_DTLS_NATIVE", "record sealing failed in OpenSSL"); return NULL; }
  CHECK(env, napi_create_uint32(env, n, &res));
  return res;
}

/* seal(buf, recordOffset, payloadLength, contentType) */
static napi_value sealer_seal(napi_env env, napi_callback_info info) {
  size_t argc = 4, blen = 0;
  napi_value argv[4];
  uint8_t *buf;
  uint32_t off, plen, type;
  Rec *r = method_args(env, info, &argc, argv);
  if (!r) return NULL;
  if (argc < 4 || !get_bytes(env, argv[0], &buf, &blen) || !get_u32(env, argv[1], &off) || !get_u32(env, argv[2], &plen) ||
      !get_u32(env, argv[3], &type) || type > 255) {
    napi_throw_type_error(env, NULL, "seal(buf, recordOffset, payloadLength, contentType)");
    return NULL;
  }
  if (plen > MAX_PLAINTEXT || (uint64_t)off + HDR + r->explicit_len + plen + tailroom(r) > blen) {
    napi_throw_range_error(env, NULL, "seal: record does not fit in the buffer (headroom/tailroom)");
    return NULL;
  }
  return seal_result(env, r, buf + off, plen, type);
}

/* sealFrom(dst, recordOffset, src, srcOffset, srcLength, prefixByte, contentType) */
static napi_value sealer_seal_from(napi_env env, napi_callback_info info) {
  size_t argc = 7, dlen = 0, slen = 0;
  napi_value argv[7];
  uint8_t *dst, *src;
  uint32_t off, soff, sl, type;
  int32_t prefix;
  Rec *r = method_args(env, info, &argc, argv);
  if (!r) return NULL;
  if (argc < 7 || !get_bytes(env, argv[0], &dst, &dlen) || !get_u32(env, argv[1], &off) || !get_bytes(env, argv[2], &src, &slen) ||
      !get_u32(env, argv[3], &soff) || !get_u32(env, argv[4], &sl) || !get_int_in(env, argv[5], -1, 255, &prefix) ||
      !get_u32(env, argv[6], &type) || type > 255) {
    napi_throw_type_error(env, NULL, "sealFrom(dst, recordOffset, src, srcOffset, srcLength, prefixByte, contentType)");
    return NULL;
  }
  uint32_t pre = prefix >= 0 ? 1 : 0; /* -1: no prefix byte */
  uint32_t plen = pre + sl;
  if ((uint64_t)soff + sl > slen || plen > MAX_PLAINTEXT ||
      (uint64_t)off + HDR + r->explicit_len + plen + tailroom(r) > dlen) {
    napi_throw_range_error(env, NULL, "sealFrom: source or record out of bounds");
    return NULL;
  }
  uint8_t *pt = dst + off + HDR + r->explicit_len;
  memmove(pt + pre, src + soff, sl); /* memmove: src may be dst itself */
  if (pre) pt[0] = (uint8_t)prefix;
  return seal_result(env, r, dst + off, plen, type);
}

static napi_value sealer_next_seq(napi_env env, napi_callback_info info) {
  napi_value v;
  Rec *r = unwrap_this(env, info, 1);
  if (!r) return NULL;
  CHECK(env, napi_create_double(env, (double)r->seq, &v));
  return v;
}

/* ---------------------------------------------------------------- open */

static int replay_check(const Rec *r, uint64_t seq) {
  if (!r->win_any || seq > r->win_max) return 0;
  uint64_t d = r->win_max - seq;
  if (d >= 64) return OPEN_REPLAY;
  return (r->win_bits >> d) & 1 ? OPEN_REPLAY : 0;
}

static void replay_mark(Rec *r, uint64_t seq) {
  if (!r->win_any) {
    r->win_any = true;
    r->win_max = seq;
    r->win_bits = 1;
  } else if (seq > r->win_max) {
    uint64_t d = seq - r->win_max;
    r->win_bits = d >= 64 ? 1 : (r->win_bits << d) | 1;
    r->win_max = seq;
  } else {
    r->win_bits |= (uint64_t)1 << (r->win_max - seq); /* d < 64: checked before */
  }
}

/* Returns plaintext length or OPEN_*; the plaintext is left at p + HDR + explicit_len.
   The caller guarantees only that p[0, reclen) is readable: every read below is checked
   against reclen first (the header against HDR, the fragment against its own length). */
static int open_core(Rec *r, uint8_t *p, uint32_t reclen) {
  uint8_t pseudo[HDR], nonce[12];
  int outl = 0, fl = 0;
  if (reclen < HDR) return OPEN_BAD;
  const uint8_t *seq64 = p + 3;
  uint8_t type = p[0];
  uint16_t version = (uint16_t)(p[1] << 8 | p[2]);
  uint16_t epoch = (uint16_t)(p[3] << 8 | p[4]);
  uint32_t frag = (uint32_t)(p[11] << 8 | p[12]);
  uint64_t seq = get_seq48(p + 5);
  if (frag != reclen - HDR || version != r->version || epoch != r->epoch) return OPEN_BAD;
  if (replay_check(r, seq) != 0) return OPEN_REPLAY;
  uint8_t *f = p + HDR;
  int ptlen;
  switch (r->kind) {
    case KIND_GCM:
    case KIND_CHACHA: {
      /* explicit nonce (GCM: 8, read below) and the tag must both be in the fragment */
      if (frag < r->explicit_len + TAG) return OPEN_BAD;
      ptlen = (int)(frag - r->explicit_len - TAG);
      if (r->kind == KIND_GCM) {
        memcpy(nonce, r->iv, 4);
        memcpy(nonce + 4, f, 8);
      } else {
        memcpy(nonce, r->iv, 12);
        for (int i = 0; i < 8; i++) nonce[4 + i] ^= seq64[i];
      }
      uint8_t *ct = f + r->explicit_len;
      put_pseudo(pseudo, seq64, type, version, (uint32_t)ptlen);
      if (EVP_CipherInit_ex(r->ctx, NULL, NULL, NULL, nonce, 0) != 1 ||
          EVP_CipherUpdate(r->ctx, NULL, &outl, pseudo, HDR) != 1 ||
          EVP_CipherUpdate(r->ctx, ct, &outl, ct, ptlen) != 1 ||
          EVP_CIPHER_CTX_ctrl(r->ctx, EVP_CTRL_AEAD_SET_TAG, TAG, ct + ptlen) != 1 ||
          EVP_CipherFinal_ex(r->ctx, ct + outl, &fl) != 1)
        return OPEN_BAD;
      break;
    }
    case KIND_CBC: {
      uint32_t bs = r->block, ml = r->mac_len;
      /* explicit IV, then at least one whole block holding MAC + the pad-length byte: so
         n >= ml + 1 >= 21 below, ct[n - 1] and the whole padding scan ct[n - scan, n) are in
         the fragment, and both candidate plaintext lengths (pl) are >= 0. */
      uint32_t min_ct = ((ml + 1 + bs - 1) / bs) * bs;
      if (frag < bs || frag - bs < min_ct || (frag - bs) % bs != 0) return OPEN_BAD;
      uint32_t n = frag - bs;
      uint8_t *ct = f + bs;
      if (EVP_CipherInit_ex(r->ctx, NULL, NULL, NULL, f, 0) != 1 || EVP_CIPHER_CTX_set_padding(r->ctx, 0) != 1 ||
          EVP_CipherUpdate(r->ctx, ct, &outl, ct, (int)n) != 1 || (uint32_t)outl != n)
        return OPEN_BAD;
      /* Padding check without an early exit (RFC 5246 §6.2.3.2): look at up to 256 trailing
         bytes whatever the pad value, then MAC over the length the padding implies (or, if the
         padding is bad, as if there were none). Same logic as record-cipher.ts. As there, the
         HMAC's running time still depends on the length the padding implies (Lucky Thirteen):
         DTLS drops bad records silently, so there is no error oracle, only that timing; the
         AEAD suites have no such issue and are what openconnect negotiates by default. */
      uint32_t pad = ct[n - 1];
      uint32_t bad = (pad + 1 + ml > n) ? 1 : 0;
      uint32_t scan = n < 256 ? n : 256;
      for (uint32_t i = 1; i <= scan; i++) {
        uint32_t in_pad = i <= pad + 1 ? 1 : 0;
        bad |= in_pad & (ct[n - i] != pad ? 1 : 0);
      }
      uint32_t pl = bad ? n - ml - 1 : n - pad - 1 - ml;
      uint8_t mac[64];
      put_pseudo(pseudo, seq64, type, version, pl);
      hmac(r, pseudo, ct, pl, mac);
      int diff = CRYPTO_memcmp(mac, ct + pl, ml);
      if ((diff != 0) | bad) return OPEN_BAD;
      ptlen = (int)pl;
      break;
    }
    default:
      return OPEN_BAD;
  }
  if (ptlen > MAX_PLAINTEXT) return OPEN_BAD;
  replay_mark(r, seq);
  return ptlen;
}

/* open(buf, recordOffset, recordLength) */
static napi_value opener_open(napi_env env, napi_callback_info info) {
  size_t argc = 3, blen = 0;
  napi_value argv[3], res;
  uint8_t *buf;
  uint32_t off, len;
  Rec *r = method_args(env, info, &argc, argv);
  if (!r) return NULL;
  if (argc < 3 || !get_bytes(env, argv[0], &buf, &blen) || !get_u32(env, argv[1], &off) || !get_u32(env, argv[2], &len)) {
    napi_throw_type_error(env, NULL, "open(buf, recordOffset, recordLength)");
    return NULL;
  }
  int rc = (uint64_t)off + len > blen ? OPEN_BAD : open_core(r, buf + off, len);
  CHECK(env, napi_create_int32(env, rc, &res));
  return res;
}

/* ---------------------------------------------------------------- sendmmsg */

#define MAX_MMSG 64
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#define GSO_MAX_SEGS 64    /* UDP_MAX_SEGMENTS of older kernels */
#define GSO_MAX_BYTES 61440 /* well under 64 KiB minus headers */
#define FLAG_GSO 1u

/* Control data of one sent message: UDP_SEGMENT (u16) and IP_PKTINFO, each optional. */
typedef union {
  char buf[CMSG_SPACE(sizeof(uint16_t)) + CMSG_SPACE(sizeof(struct in_pktinfo))];
  struct cmsghdr align;
} TxControl;

/*
 * sendBatch(fd, slab, offsets, lens, addrs, ports, count, flags) -> datagrams consumed
 *
 * flags: Uint32Array(1). Bit 0 (FLAG_GSO): runs of datagrams to the same peer with the same
 * length (the last of a run may be shorter) go out as one UDP GSO message (UDP_SEGMENT, Linux
 * >= 4.18): one pass through the socket/IP/route/device layers for up to 64 datagrams; the
 * kernel (or the NIC) cuts it into the same datagrams again. If the kernel refuses GSO on this
 * path (EIO: no checksum offload, xfrm; EINVAL/ENOPROTOOPT: too old) the bit is cleared here and
 * the caller keeps it cleared; that run is resent as plain datagrams.
 * Stops at EAGAIN (socket buffer full; the return value says how far it got). Any other error
 * drops the datagram(s) of that one message and goes on.
 *
 * srcs (optional, 9th argument): srcs[i] != 0 sends datagram i from that local address: an
 * IP_PKTINFO cmsg with ipi_spec_dst = srcs[i] and ipi_ifindex = 0 ("used as the local source
 * address for the routing table lookup", ip(7)). A GSO run never mixes sources. A source that
 * is not local (any more: a VIP that moved to another node) fails the route lookup with
 * ENETUNREACH: that message is dropped like any refused one, GSO stays on.
 */
static napi_value send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 9, slab_len = 0, n_off = 0, n_len = 0, n_addr = 0, n_port = 0, n_flags = 0, n_src = 0;
  napi_value argv[9], res;
  uint8_t *slab;
  uint32_t fd, count, *offs, *lens, *addrs, *ports, *flags, *srcs = NULL;
  napi_valuetype st = napi_undefined;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 8 || !get_u32(env, argv[0], &fd) || !get_bytes(env, argv[1], &slab, &slab_len) ||
      !get_u32_array(env, argv[2], &offs, &n_off) || !get_u32_array(env, argv[3], &lens, &n_len) ||
      !get_u32_array(env, argv[4], &addrs, &n_addr) || !get_u32_array(env, argv[5], &ports, &n_port) ||
      !get_u32(env, argv[6], &count) || !get_u32_array(env, argv[7], &flags, &n_flags) || n_flags < 1) {
    napi_throw_type_error(env, NULL, "sendBatch(fd, slab, offsets, lens, addrs, ports: Uint32Array, count, flags: Uint32Array(1)[, srcs: Uint32Array])");
    return NULL;
  }
  /* srcs: optional (older callers pass 8 arguments); undefined or null = no source addresses */
  if (argc >= 9 && (napi_typeof(env, argv[8], &st) != napi_ok ||
                    (st != napi_undefined && st != napi_null && !get_u32_array(env, argv[8], &srcs, &n_src)))) {
    napi_throw_type_error(env, NULL, "sendBatch: srcs must be a Uint32Array");
    return NULL;
  }
  if (count > n_off || count > n_len || count > n_addr || count > n_port || (srcs != NULL && count > n_src)) {
    napi_throw_range_error(env, NULL, "sendBatch: count > array length");
    return NULL;
  }
  for (uint32_t i = 0; i < count; i++) {
    if ((uint64_t)offs[i] + lens[i] > slab_len) {
      napi_throw_range_error(env, NULL, "sendBatch: datagram beyond the slab");
      return NULL;
    }
  }
  struct mmsghdr msgs[MAX_MMSG];
  struct iovec iov[MAX_MMSG];
  struct sockaddr_in sa[MAX_MMSG];
  uint32_t segs[MAX_MMSG]; /* datagrams in each message */
  TxControl ctl[MAX_MMSG];
  uint32_t done = 0;
  while (done < count) {
    /* Build up to MAX_MMSG datagrams into messages (one per GSO run, else one per datagram). */
    bool gso = (flags[0] & FLAG_GSO) != 0;
    uint32_t k = 0, d = 0, i = done;
    while (i < count && d < MAX_MMSG) {
      uint32_t n = 1, bytes = lens[i];
      if (gso) {
        /* extend the run: same peer, previous one full size, this one not longer */
        while (i + n < count && d + n < MAX_MMSG && n < GSO_MAX_SEGS && addrs[i + n] == addrs[i] &&
               ports[i + n] == ports[i] && (srcs == NULL || srcs[i + n] == srcs[i]) && lens[i + n - 1] == lens[i] && lens[i + n] <= lens[i] && lens[i + n] > 0 &&
               bytes + lens[i + n] <= GSO_MAX_BYTES) {
          bytes += lens[i + n];
          n++;
        }
      }
      for (uint32_t j = 0; j < n; j++) {
        iov[d + j].iov_base = slab + offs[i + j];
        iov[d + j].iov_len = lens[i + j];
      }
      memset(&sa[k], 0, sizeof sa[k]);
      sa[k].sin_family = AF_INET;
      sa[k].sin_port = htons((uint16_t)ports[i]);
      sa[k].sin_addr.s_addr = htonl(addrs[i]);
      memset(&msgs[k], 0, sizeof msgs[k]);
      msgs[k].msg_hdr.msg_name = &sa[k];
      msgs[k].msg_hdr.msg_namelen = sizeof sa[k];
      msgs[k].msg_hdr.msg_iov = &iov[d];
      msgs[k].msg_hdr.msg_iovlen = n;
      uint32_t src = srcs != NULL ? srcs[i] : 0;
      if (n > 1 || src != 0) {
        size_t used = 0;
        char *p = ctl[k].buf;
        memset(&ctl[k], 0, sizeof ctl[k]);
        if (n > 1) {
          struct cmsghdr *cm = (struct cmsghdr *)p;
          cm->cmsg_level = SOL_UDP;
          cm->cmsg_type = UDP_SEGMENT;
          cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
          uint16_t size = (uint16_t)lens[i];
          memcpy(CMSG_DATA(cm), &size, sizeof size);
          used += CMSG_SPACE(sizeof(uint16_t));
        }
        if (src != 0) {
          struct cmsghdr *cm = (struct cmsghdr *)(p + used);
          cm->cmsg_level = IPPROTO_IP;
          cm->cmsg_type = IP_PKTINFO;
          cm->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
          struct in_pktinfo pi;
          memset(&pi, 0, sizeof pi);
          pi.ipi_spec_dst.s_addr = htonl(src);
          memcpy(CMSG_DATA(cm), &pi, sizeof pi);
          used += CMSG_SPACE(sizeof(struct in_pktinfo));
        }
        msgs[k].msg_hdr.msg_control = p;
        msgs[k].msg_hdr.msg_controllen = used;
      }
      segs[k++] = n;
      d += n;
      i += n;
    }
    int r = sendmmsg((int)fd, msgs, k, MSG_DONTWAIT);
    if (r > 0) {
      for (int m = 0; m < r; m++) done += segs[m];
      continue;
    }
    int e = r < 0 ? errno : EIO;
    if (e == EINTR) continue;
    if (e == EAGAIN || e == EWOULDBLOCK) break;
    if (e == EBADF) { done = count; break; }
    if (segs[0] > 1 && (e == EIO || e == EINVAL || e == ENOPROTOOPT || e == EOPNOTSUPP)) {
      flags[0] &= ~FLAG_GSO; /* this path cannot do GSO: plain datagrams from now on */
      continue;
    }
    done += segs[0]; /* refused (EPERM, ENETUNREACH, EMSGSIZE...): drop this message, go on */
  }
  CHECK(env, napi_create_uint32(env, done, &res));
  return res;
}

/* ---------------------------------------------------------------- module */

static napi_value init(napi_env env, napi_value exports) {
  /* seal/sealFrom/open and headroom/tailroom/plaintextOffset are set per instance (rec_new). */
  napi_property_descriptor sealer_props[] = {
      {"nextSeq", NULL, NULL, sealer_next_seq, NULL, NULL, napi_default, NULL},
  };
  napi_value cls, fn, v;
  CHECK(env, napi_define_class(env, "RecordSealer", NAPI_AUTO_LENGTH, sealer_new, NULL, 1, sealer_props, &cls));
  CHECK(env, napi_set_named_property(env, exports, "RecordSealer", cls));
  CHECK(env, napi_define_class(env, "RecordOpener", NAPI_AUTO_LENGTH, opener_new, NULL, 0, NULL, &cls));
  CHECK(env, napi_set_named_property(env, exports, "RecordOpener", cls));
  CHECK(env, napi_create_function(env, "sendBatch", NAPI_AUTO_LENGTH, send_batch, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "sendBatch", fn));
  CHECK(env, napi_create_string_utf8(env, OpenSSL_version(OPENSSL_VERSION), NAPI_AUTO_LENGTH, &v));
  CHECK(env, napi_set_named_property(env, exports, "openssl", v));
  return udp_rx_init(env, exports); /* UdpPoller, setSocketBuffers: native/udp_rx.c */
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
