/* Optional C forwarding path of the router (router.forwarding._fastfwd).
 *
 * Two types:
 *
 * RtpContext: SRTP (RTP only) with AEAD_AES_128_GCM (RFC 7714) or AES_CM_128_HMAC_SHA1_80/32
 *   (RFC 3711) over OpenSSL, with the replay database and packet-index estimation of libsrtp
 *   (RFC 3711 section 3.3.1 and appendix A; a 128-packet window), per SSRC. The session keys
 *   are derived in Python (rtpstack.srtp.kdf). Output is byte-identical to libsrtp's for the same keys and
 *   packet sequence; errors carry libsrtp's messages. An outbound context allows repeated
 *   indices (NACK answers), as the router's libsrtp sessions do.
 *
 * Forwarder: drains a UDP socket with recvmmsg and runs ForwardingCore's RTP fast path on the
 *   core's own Python objects (participants, streams, subscriptions: no copy of the state),
 *   queuing the protected copies for sendmmsg. Anything else -- RTCP, STUN, DTLS, unknown
 *   addresses, failures, padding, recorded streams, rebasing or remapped subscriptions -- goes
 *   to the Python path (a callback, or the core's own methods) in arrival order.
 *
 * The payload is never read or changed: it is only encrypted/decrypted as opaque bytes.
 */
#define PY_SSIZE_T_CLEAN
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA1 with copyable contexts: HMAC's pads precomputed */
#include <Python.h>
#include <structmember.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#define TAG_LEN 16
#define SALT_LEN 12
#define KEY_LEN 16
#define UNPROTECT_LIMIT 1500       /* pylibsrtp's buffer */
#define PROTECT_LIMIT (1500 - 144) /* minus SRTP_MAX_TRAILER_LEN */
#define RECV_BATCH 32
#define RECV_SLOT 65536
/* Slots start 17 cache lines apart modulo 64 KiB, so the 32 datagrams of a batch do not all
 * map to the same cache sets (a 64 KiB stride would make them evict each other). */
#define RECV_STRIDE (RECV_SLOT + 17 * 64)
#define SEND_QUEUE 256
#define SEND_SLOT (PROTECT_LIMIT + TAG_LEN)
#define SEQ_MEDIAN 32768
#define SEQ_MAX 65536
#define WINDOW 128

/* libsrtp's status codes used here (indices into pylibsrtp.ERRORS). */
enum {
    ST_OK = 0,
    ST_BAD_PARAM = 2,
    ST_AUTH_FAIL = 7,
    ST_CIPHER_FAIL = 8,
    ST_REPLAY_FAIL = 9,
    ST_REPLAY_OLD = 10,
    ST_PARSE_ERR = 21,
    ST_TOO_LONG = 100, /* pylibsrtp's ValueError */
};

static PyObject *SrtpFailure; /* subclass of pylibsrtp.Error */
static PyObject *LibsrtpError; /* pylibsrtp.Error */

static const char *status_message(int st)
{
    switch (st) {
    case ST_BAD_PARAM: return "unsupported parameter";
    case ST_AUTH_FAIL: return "authentication failure";
    case ST_CIPHER_FAIL: return "cipher failure";
    case ST_REPLAY_FAIL: return "replay check failed (bad index)";
    case ST_REPLAY_OLD: return "replay check failed (index too old)";
    case ST_PARSE_ERR: return "error parsing data";
    default: return "unspecified failure";
    }
}

static void raise_status(int st)
{
    if (st == ST_TOO_LONG)
        PyErr_SetString(PyExc_ValueError, "packet is too long");
    else
        PyErr_SetString(SrtpFailure, status_message(st));
}

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* ------------------------------------------------------------------ replay database */

typedef unsigned __int128 u128;

typedef struct {
    uint32_t ssrc;
    uint32_t used;
    uint64_t index; /* ROC << 16 | SEQ of the highest index accepted */
    u128 window;    /* bit 127: index; bit 127 + d: index + d (d <= 0) */
} Rdb;

/* srtp_rdbx_estimate_index: the estimated index of seq s and its distance to the window. */
static int32_t estimate_index(const Rdb *r, uint64_t *guess, uint16_t s)
{
    if (r->index > SEQ_MEDIAN) {
        uint32_t local_roc = (uint32_t)(r->index >> 16);
        uint16_t local_seq = (uint16_t)r->index;
        uint32_t guess_roc;
        int32_t diff;
        if (local_seq < SEQ_MEDIAN) {
            if ((int)s - (int)local_seq > SEQ_MEDIAN) {
                guess_roc = local_roc - 1;
                diff = (int)s - (int)local_seq - SEQ_MAX;
            } else {
                guess_roc = local_roc;
                diff = (int)s - (int)local_seq;
            }
        } else {
            if ((int)local_seq - SEQ_MEDIAN > (int)s) {
                guess_roc = local_roc + 1;
                diff = (int)s - (int)local_seq + SEQ_MAX;
            } else {
                guess_roc = local_roc;
                diff = (int)s - (int)local_seq;
            }
        }
        *guess = ((uint64_t)guess_roc << 16) | s;
        return diff;
    }
    *guess = s;
    return (int32_t)((int64_t)s - (int64_t)r->index);
}

static int replay_check(const Rdb *r, int32_t delta)
{
    if (delta > 0)
        return ST_OK;
    if (WINDOW - 1 + delta < 0)
        return ST_REPLAY_OLD;
    if ((r->window >> (WINDOW - 1 + delta)) & 1)
        return ST_REPLAY_FAIL;
    return ST_OK;
}

static void replay_add(Rdb *r, int32_t delta)
{
    if (delta > 0) {
        r->index += (uint16_t)delta;
        r->window = delta >= WINDOW ? 0 : r->window >> delta;
        r->window |= (u128)1 << (WINDOW - 1);
    } else {
        r->window |= (u128)1 << (WINDOW - 1 + delta);
    }
}

/* ------------------------------------------------------------------ RtpContext */

typedef struct {
    PyObject_HEAD
    EVP_CIPHER_CTX *enc;
    EVP_CIPHER_CTX *dec;
    uint8_t salt[14]; /* 12 bytes for GCM, 14 for AES-CM */
    int cm;           /* AES_CM_128_HMAC_SHA1_80/32 instead of AEAD_AES_128_GCM */
    int tag_len;
    SHA_CTX ipad, opad; /* HMAC-SHA1 after the key's inner and outer pad blocks */
    Rdb *tab;
    size_t cap;
    size_t count;
} Gcm;

static PyTypeObject GcmType;

static Rdb *rdb_find(Gcm *g, uint32_t ssrc)
{
    if (!g->cap)
        return NULL;
    size_t mask = g->cap - 1, i = (ssrc * 2654435761u) & mask;
    while (g->tab[i].used) {
        if (g->tab[i].ssrc == ssrc)
            return &g->tab[i];
        i = (i + 1) & mask;
    }
    return NULL;
}

static Rdb *rdb_insert(Gcm *g, uint32_t ssrc)
{
    if ((g->count + 1) * 2 > g->cap) {
        size_t ncap = g->cap ? g->cap * 2 : 16;
        Rdb *nt = PyMem_Calloc(ncap, sizeof(Rdb));
        if (!nt)
            return NULL;
        for (size_t j = 0; j < g->cap; j++) {
            if (!g->tab[j].used)
                continue;
            size_t i = (g->tab[j].ssrc * 2654435761u) & (ncap - 1);
            while (nt[i].used)
                i = (i + 1) & (ncap - 1);
            nt[i] = g->tab[j];
        }
        PyMem_Free(g->tab);
        g->tab = nt;
        g->cap = ncap;
    }
    size_t mask = g->cap - 1, i = (ssrc * 2654435761u) & mask;
    while (g->tab[i].used)
        i = (i + 1) & mask;
    g->tab[i].used = 1;
    g->tab[i].ssrc = ssrc;
    g->tab[i].index = 0;
    g->tab[i].window = 0;
    g->count++;
    return &g->tab[i];
}

/* libsrtp's srtp_validate_rtp_header: returns the header length or -1. */
static Py_ssize_t rtp_header_len(const uint8_t *p, Py_ssize_t n)
{
    if (n < 12)
        return -1;
    Py_ssize_t h = 12 + 4 * (p[0] & 0x0F);
    if (p[0] & 0x10) {
        if (n < h + 4)
            return -1;
        h += 4 + 4 * (Py_ssize_t)rd16(p + h + 2);
    }
    if (n < h)
        return -1;
    return h;
}

static void make_iv(const Gcm *g, uint8_t iv[12], uint32_t ssrc, uint64_t index)
{
    iv[0] = 0; iv[1] = 0;
    wr32(iv + 2, ssrc);
    wr32(iv + 6, (uint32_t)(index >> 16));
    wr16(iv + 10, (uint16_t)index);
    for (int i = 0; i < 12; i++)
        iv[i] ^= g->salt[i];
}

/* AES-CM (RFC 3711 4.1.1): IV = salt * 2^16 XOR SSRC * 2^64 XOR index * 2^16. */
static void cm_iv(const Gcm *g, uint8_t iv[16], uint32_t ssrc, uint64_t index)
{
    memcpy(iv, g->salt, 14);
    iv[14] = iv[15] = 0;
    iv[4] ^= (uint8_t)(ssrc >> 24); iv[5] ^= (uint8_t)(ssrc >> 16);
    iv[6] ^= (uint8_t)(ssrc >> 8); iv[7] ^= (uint8_t)ssrc;
    for (int i = 0; i < 6; i++)
        iv[8 + i] ^= (uint8_t)(index >> (40 - 8 * i));
}

/* HMAC-SHA1 over data || ROC (big-endian), truncated by the caller. */
static void cm_tag(const Gcm *g, const uint8_t *data, Py_ssize_t n, uint32_t roc,
                   uint8_t out[20])
{
    uint8_t r[4], inner[20];
    wr32(r, roc);
    SHA_CTX c = g->ipad;
    SHA1_Update(&c, data, (size_t)n);
    SHA1_Update(&c, r, 4);
    SHA1_Final(inner, &c);
    c = g->opad;
    SHA1_Update(&c, inner, 20);
    SHA1_Final(out, &c);
}

static int cm_crypt(Gcm *g, uint8_t *out, const uint8_t *in, Py_ssize_t n, uint32_t ssrc,
                    uint64_t index)
{
    uint8_t iv[16];
    int l = 0;
    cm_iv(g, iv, ssrc, index);
    if (!EVP_EncryptInit_ex(g->enc, NULL, NULL, NULL, iv))
        return -1;
    if (n > 0 && !EVP_EncryptUpdate(g->enc, out, &l, in, (int)n))
        return -1;
    return 0;
}

static int cm_unprotect(Gcm *g, const uint8_t *in, Py_ssize_t n, uint8_t *out,
                        Py_ssize_t *outlen)
{
    Py_ssize_t h = rtp_header_len(in, n);
    if (h < 0)
        return ST_BAD_PARAM;
    uint32_t ssrc = rd32(in + 8);
    Rdb *r = rdb_find(g, ssrc);
    uint64_t est;
    int32_t delta;
    if (r) {
        delta = estimate_index(r, &est, rd16(in + 2));
        int st = replay_check(r, delta);
        if (st)
            return st;
    } else {
        est = rd16(in + 2);
        delta = (int32_t)est;
    }
    int tag = g->tag_len;
    if (h > n - tag)
        return ST_PARSE_ERR;
    uint8_t mac[20];
    cm_tag(g, in, n - tag, (uint32_t)(est >> 16), mac);
    if (CRYPTO_memcmp(mac, in + n - tag, (size_t)tag) != 0)
        return ST_AUTH_FAIL;
    if (cm_crypt(g, out + h, in + h, n - tag - h, ssrc, est) < 0)
        return ST_CIPHER_FAIL;
    if (!r) {
        r = rdb_insert(g, ssrc);
        if (!r)
            return ST_CIPHER_FAIL;
    }
    replay_add(r, delta);
    memcpy(out, in, (size_t)h);
    *outlen = n - tag;
    return ST_OK;
}

static int cm_protect(Gcm *g, uint8_t *buf, Py_ssize_t n, Py_ssize_t *outlen)
{
    Py_ssize_t h = rtp_header_len(buf, n);
    if (h < 0)
        return ST_BAD_PARAM;
    uint32_t ssrc = rd32(buf + 8);
    Rdb *r = rdb_find(g, ssrc);
    if (!r && !(r = rdb_insert(g, ssrc)))
        return ST_CIPHER_FAIL;
    uint64_t est;
    int32_t delta = estimate_index(r, &est, rd16(buf + 2));
    int st = replay_check(r, delta);
    if (st) {
        if (st != ST_REPLAY_FAIL)
            return st;
    } else {
        replay_add(r, delta);
    }
    if (cm_crypt(g, buf + h, buf + h, n - h, ssrc, est) < 0)
        return ST_CIPHER_FAIL;
    uint8_t mac[20];
    cm_tag(g, buf, n, (uint32_t)(est >> 16), mac);
    memcpy(buf + n, mac, (size_t)g->tag_len);
    *outlen = n + g->tag_len;
    return ST_OK;
}

/* Unprotect n bytes of in into out (capacity >= n); *outlen is n - 16. */
static int gcm_unprotect(Gcm *g, const uint8_t *in, Py_ssize_t n, uint8_t *out, Py_ssize_t *outlen)
{
    if (n > UNPROTECT_LIMIT)
        return ST_TOO_LONG;
    if (g->cm)
        return cm_unprotect(g, in, n, out, outlen);
    Py_ssize_t h = rtp_header_len(in, n);
    if (h < 0)
        return ST_BAD_PARAM;
    uint32_t ssrc = rd32(in + 8);
    Rdb *r = rdb_find(g, ssrc);
    Rdb fresh = {0, 0, 0, 0};
    const Rdb *cur = r ? r : &fresh;
    uint64_t est;
    int32_t delta = estimate_index(cur, &est, rd16(in + 2));
    if (r) {
        int st = replay_check(r, delta);
        if (st)
            return st;
    } else {
        est = rd16(in + 2);
        delta = (int32_t)est;
    }
    if (h > n - TAG_LEN)
        return ST_PARSE_ERR;
    Py_ssize_t enc = n - h - TAG_LEN;
    uint8_t iv[12];
    make_iv(g, iv, ssrc, est);
    int l = 0;
    EVP_CIPHER_CTX *c = g->dec;
    if (!EVP_DecryptInit_ex(c, NULL, NULL, NULL, iv) ||
        !EVP_DecryptUpdate(c, NULL, &l, in, (int)h))
        return ST_AUTH_FAIL;
    if (enc > 0 && !EVP_DecryptUpdate(c, out + h, &l, in + h, (int)enc))
        return ST_AUTH_FAIL;
    if (!EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *)(in + n - TAG_LEN)) ||
        EVP_DecryptFinal_ex(c, out + h + enc, &l) <= 0)
        return ST_AUTH_FAIL;
    if (!r) {
        r = rdb_insert(g, ssrc);
        if (!r)
            return ST_CIPHER_FAIL;
    }
    replay_add(r, delta);
    memcpy(out, in, (size_t)h);
    *outlen = n - TAG_LEN;
    return ST_OK;
}

/* Protect in place: buf holds n plain bytes and has room for 16 more. */
static int gcm_protect(Gcm *g, uint8_t *buf, Py_ssize_t n, Py_ssize_t *outlen)
{
    if (n > PROTECT_LIMIT)
        return ST_TOO_LONG;
    if (g->cm)
        return cm_protect(g, buf, n, outlen);
    Py_ssize_t h = rtp_header_len(buf, n);
    if (h < 0)
        return ST_BAD_PARAM;
    uint32_t ssrc = rd32(buf + 8);
    Rdb *r = rdb_find(g, ssrc);
    if (!r) {
        r = rdb_insert(g, ssrc);
        if (!r)
            return ST_CIPHER_FAIL;
    }
    uint64_t est;
    int32_t delta = estimate_index(r, &est, rd16(buf + 2));
    int st = replay_check(r, delta);
    if (st) {
        if (st != ST_REPLAY_FAIL)
            return st;
    } else {
        replay_add(r, delta);
    }
    uint8_t iv[12];
    make_iv(g, iv, ssrc, est);
    int l = 0;
    EVP_CIPHER_CTX *c = g->enc;
    Py_ssize_t enc = n - h;
    if (!EVP_EncryptInit_ex(c, NULL, NULL, NULL, iv) ||
        !EVP_EncryptUpdate(c, NULL, &l, buf, (int)h))
        return ST_CIPHER_FAIL;
    if (enc > 0 && !EVP_EncryptUpdate(c, buf + h, &l, buf + h, (int)enc))
        return ST_CIPHER_FAIL;
    if (EVP_EncryptFinal_ex(c, buf + n, &l) <= 0 ||
        !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, buf + n))
        return ST_CIPHER_FAIL;
    *outlen = n + TAG_LEN;
    return ST_OK;
}

/* A new bytes object: plain with seq/ts/ssrc rewritten, protected. NULL with an error set. */
static PyObject *protect_rewritten_bytes(Gcm *g, const uint8_t *plain, Py_ssize_t n,
                                         uint16_t seq, uint32_t ts, uint32_t ssrc, int *status)
{
    if (n > PROTECT_LIMIT) {
        *status = ST_TOO_LONG;
        return NULL;
    }
    PyObject *res = PyBytes_FromStringAndSize(NULL, n + TAG_LEN);
    if (!res)
        return NULL;
    uint8_t *b = (uint8_t *)PyBytes_AS_STRING(res);
    memcpy(b, plain, (size_t)n);
    if (n >= 12) {
        wr16(b + 2, seq);
        wr32(b + 4, ts);
        wr32(b + 8, ssrc);
    }
    Py_ssize_t outlen;
    int st = gcm_protect(g, b, n, &outlen);
    if (st) {
        Py_DECREF(res);
        *status = st;
        return NULL;
    }
    *status = ST_OK;
    if (outlen != n + TAG_LEN && _PyBytes_Resize(&res, outlen) < 0)
        return NULL;
    return res;
}

static void sha1_pad(SHA_CTX *c, const uint8_t *key, size_t n, uint8_t pad)
{
    uint8_t block[64];
    memset(block, pad, sizeof block);
    for (size_t i = 0; i < n; i++)
        block[i] ^= key[i];
    SHA1_Init(c);
    SHA1_Update(c, block, sizeof block);
}

static int Gcm_init(Gcm *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"key", "salt", "auth_key", "tag_len", NULL};
    Py_buffer key, salt, auth = {0};
    int tag_len = TAG_LEN;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*y*|y*i", kwlist, &key, &salt, &auth,
                                     &tag_len))
        return -1;
    int cm = auth.buf != NULL && auth.len > 0;
    int ok = cm ? key.len == KEY_LEN && salt.len == 14 && auth.len == 20 &&
                      (tag_len == 10 || tag_len == 4)
                : key.len == KEY_LEN && salt.len == SALT_LEN && tag_len == TAG_LEN;
    if (!ok) {
        PyErr_SetString(PyExc_ValueError,
                        "RtpContext needs a 16-byte key and a 12-byte salt (AEAD_AES_128_GCM), "
                        "or a 16-byte key, 14-byte salt, 20-byte auth key and tag length 10 or "
                        "4 (AES_CM_128_HMAC_SHA1_80/32)");
    } else {
        memcpy(self->salt, salt.buf, (size_t)salt.len);
        self->cm = cm;
        self->tag_len = tag_len;
        const EVP_CIPHER *cipher = cm ? EVP_aes_128_ctr() : EVP_aes_128_gcm();
        if (!self->enc)
            self->enc = EVP_CIPHER_CTX_new();
        if (!self->dec)
            self->dec = EVP_CIPHER_CTX_new();
        if (!self->enc || !self->dec ||
            !EVP_EncryptInit_ex(self->enc, cipher, NULL, key.buf, NULL) ||
            !EVP_DecryptInit_ex(self->dec, cipher, NULL, key.buf, NULL)) {
            PyErr_SetString(PyExc_RuntimeError, "OpenSSL AES setup failed");
            ok = 0;
        }
        if (cm) {
            sha1_pad(&self->ipad, auth.buf, (size_t)auth.len, 0x36);
            sha1_pad(&self->opad, auth.buf, (size_t)auth.len, 0x5c);
        }
        PyMem_Free(self->tab);
        self->tab = NULL;
        self->cap = self->count = 0;
    }
    PyBuffer_Release(&key);
    PyBuffer_Release(&salt);
    if (auth.buf)
        PyBuffer_Release(&auth);
    return ok ? 0 : -1;
}

static void Gcm_dealloc(Gcm *self)
{
    if (self->enc)
        EVP_CIPHER_CTX_free(self->enc);
    if (self->dec)
        EVP_CIPHER_CTX_free(self->dec);
    PyMem_Free(self->tab);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Gcm_unprotect(Gcm *self, PyObject *arg)
{
    Py_buffer in;
    if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *res = NULL;
    int st;
    if (in.len > UNPROTECT_LIMIT) {
        st = ST_TOO_LONG;
    } else {
        uint8_t out[UNPROTECT_LIMIT];
        Py_ssize_t outlen = 0;
        st = gcm_unprotect(self, in.buf, in.len, out, &outlen);
        if (!st)
            res = PyBytes_FromStringAndSize((const char *)out, outlen);
    }
    PyBuffer_Release(&in);
    if (st)
        raise_status(st);
    return res;
}

static PyObject *Gcm_protect(Gcm *self, PyObject *arg)
{
    Py_buffer in;
    if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) < 0)
        return NULL;
    int st = ST_TOO_LONG;
    PyObject *res = NULL;
    if (in.len <= PROTECT_LIMIT) {
        res = PyBytes_FromStringAndSize(NULL, in.len + TAG_LEN);
        if (res) {
            Py_ssize_t outlen;
            memcpy(PyBytes_AS_STRING(res), in.buf, (size_t)in.len);
            st = gcm_protect(self, (uint8_t *)PyBytes_AS_STRING(res), in.len, &outlen);
            if (st)
                Py_CLEAR(res);
            else if (outlen != in.len + TAG_LEN && _PyBytes_Resize(&res, outlen) < 0)
                res = NULL;
        } else {
            st = ST_OK;
        }
    }
    PyBuffer_Release(&in);
    if (st)
        raise_status(st);
    return res;
}

static PyObject *Gcm_protect_rewritten(Gcm *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "protect_rewritten(plain, seq, ts, ssrc)");
        return NULL;
    }
    unsigned long seq = PyLong_AsUnsignedLong(args[1]);
    unsigned long ts = PyLong_AsUnsignedLong(args[2]);
    unsigned long ssrc = PyLong_AsUnsignedLong(args[3]);
    if (PyErr_Occurred())
        return NULL;
    Py_buffer in;
    if (PyObject_GetBuffer(args[0], &in, PyBUF_SIMPLE) < 0)
        return NULL;
    int st = ST_OK;
    PyObject *res = protect_rewritten_bytes(self, in.buf, in.len, (uint16_t)seq, (uint32_t)ts,
                                            (uint32_t)ssrc, &st);
    PyBuffer_Release(&in);
    if (!res && st)
        raise_status(st);
    return res;
}

static PyObject *Gcm_roc(Gcm *self, PyObject *arg)
{
    unsigned long ssrc = PyLong_AsUnsignedLong(arg);
    if (PyErr_Occurred())
        return NULL;
    Rdb *r = rdb_find(self, (uint32_t)ssrc);
    if (!r)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLongLong(r->index);
}

static PyMethodDef Gcm_methods[] = {
    {"unprotect", (PyCFunction)Gcm_unprotect, METH_O,
     "Unprotect one SRTP packet; returns the plain RTP bytes."},
    {"protect", (PyCFunction)Gcm_protect, METH_O, "Protect one plain RTP packet."},
    {"protect_rewritten", (PyCFunction)(void (*)(void))Gcm_protect_rewritten, METH_FASTCALL,
     "Protect a copy of plain with sequence number, timestamp and SSRC replaced."},
    {"highest_index", (PyCFunction)Gcm_roc, METH_O,
     "The highest packet index (ROC << 16 | SEQ) accepted for an SSRC, or None."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject GcmType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "router.forwarding._fastfwd.RtpContext",
    .tp_basicsize = sizeof(Gcm),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "SRTP for RTP (AEAD_AES_128_GCM or AES_CM_128_HMAC_SHA1_80/32) with libsrtp's "
              "replay database, per SSRC.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Gcm_init,
    .tp_dealloc = (destructor)Gcm_dealloc,
    .tp_methods = Gcm_methods,
};

/* ------------------------------------------------------------------ Forwarder */

/* An attribute name with a one-entry cache: for a type with generic attribute access whose
 * attribute is a writable __slots__ member, the slot's offset. Reading or writing the slot
 * then is exactly what PyObject_GetAttr/SetAttr do (a member descriptor is a data descriptor,
 * so nothing can shadow it), without the lookups. Any other type takes the generic calls. */
typedef struct {
    PyObject *name;
    PyTypeObject *type;
    Py_ssize_t off;
} Attr;

static int attr_resolve(Attr *a, PyTypeObject *t)
{
    if (t->tp_getattro != PyObject_GenericGetAttr || t->tp_setattro != PyObject_GenericSetAttr)
        return 0;
    PyObject *d = _PyType_Lookup(t, a->name);
    if (!d || !Py_IS_TYPE(d, &PyMemberDescr_Type))
        return 0;
    PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
    if (m->type != T_OBJECT_EX || (m->flags & READONLY))
        return 0;
    Py_INCREF(t);
    Py_XSETREF(a->type, t);
    a->off = m->offset;
    return 1;
}

static inline PyObject *FGET(PyObject *o, Attr *a)
{
    PyTypeObject *t = Py_TYPE(o);
    if (t == a->type || attr_resolve(a, t)) {
        PyObject *v = *(PyObject **)((char *)o + a->off);
        if (v)
            return Py_NewRef(v);
    }
    return PyObject_GetAttr(o, a->name);
}

static inline int FSET(PyObject *o, Attr *a, PyObject *v)
{
    PyTypeObject *t = Py_TYPE(o);
    if (t == a->type || attr_resolve(a, t)) {
        PyObject **slot = (PyObject **)((char *)o + a->off);
        PyObject *old = *slot;
        *slot = Py_NewRef(v);
        Py_XDECREF(old);
        return 0;
    }
    return PyObject_SetAttr(o, a->name, v);
}

static PyObject *s_add, *s_audio_level_m, *s_forward, *s_protect_rewritten, *s_put, *s_rewrite, *s_update;
static Attr A_by_addr;
static Attr A_crypto;
static Attr A_rx_rtp;
static Attr A_tx_rtp;
static Attr A_last_seen;
static Attr A_streams;
static Attr A_record;
static Attr A_stats;
static Attr A_cache;
static Attr A_audio_level_id;
static Attr A_subs;
static Attr A_subscriber;
static Attr A_addr;
static Attr A_rebase;
static Attr A_active;
static Attr A_pt_map;
static Attr A_seq_off;
static Attr A_ts_off;
static Attr A_last_seq;
static Attr A_last_ts;
static Attr A_last_time;
static Attr A_out_ssrc;
static Attr A_packets;
static Attr A_octets;
static Attr A_drops;
static Attr A_packets_in;
static Attr A_bytes_in;
static Attr A_packets_out;
static Attr A_bytes_out;
static Attr A_unwrapper;
static Attr A_highest;
static Attr A_base_ext_seq;
static Attr A_max_ext_seq;
static Attr A_received;
static Attr A_bytes;
static Attr A_jitter;
static Attr A_transit;
static Attr A_clock_rate;
static Attr A_size;
static Attr A_seqs;
static Attr A_times;
static Attr A_pkts;

typedef struct {
    PyObject_HEAD
    PyObject *core;
    PyObject *by_addr;
    PyObject *slow;      /* slow(data, addr): the Python path for one datagram */
    PyObject *send_py;   /* send_py(list of (bytes, addr)): for destinations C cannot send to */
    PyObject *route;     /* dict addr -> fd, or None */
    PyObject *reason_no_subs, *reason_protect_failed, *reason_send_failed;
    PyObject *stats_cls, *cache_cls; /* inlined when a stream's objects are exactly these */
    PyObject *addr_cache; /* int(ip << 16 | port) -> (host, port) */
    PyObject *sa_cache;   /* (host, port) -> bytes(sockaddr_in) or None (not IPv4) */
    int fd;
    /* receive */
    struct mmsghdr rmsg[RECV_BATCH];
    struct iovec riov[RECV_BATCH];
    struct sockaddr_in raddr[RECV_BATCH];
    uint8_t *rbuf;
    /* send queue */
    struct mmsghdr smsg[SEND_QUEUE];
    struct iovec siov[SEND_QUEUE];
    struct sockaddr_in saddr[SEND_QUEUE];
    PyObject *sobj[SEND_QUEUE]; /* the bytes sent, or NULL: the slot's own buffer in sbuf */
    uint8_t *sbuf;
    int sfd[SEND_QUEUE];
    int nsend;
    PyObject *py_out; /* list or NULL */
    /* pending deltas for the core's counters */
    long long d_pin, d_bin, d_pout, d_bout;
    /* own counters */
    unsigned long long fast_in, fast_out, slow_in, batches, send_calls, send_failed, received;
} Fwd;

static int add_to_attr(PyObject *obj, Attr *name, long long delta)
{
    if (!delta)
        return 0;
    PyObject *v = FGET(obj, name);
    if (!v)
        return -1;
    if (PyLong_CheckExact(v)) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (!overflow && x < (1LL << 62) && x > -(1LL << 62) && delta < (1LL << 62) &&
            delta > -(1LL << 62)) {
            Py_DECREF(v);
            PyObject *sum = PyLong_FromLongLong(x + delta);
            if (!sum)
                return -1;
            int rc = FSET(obj, name, sum);
            Py_DECREF(sum);
            return rc;
        }
    }
    PyObject *d = PyLong_FromLongLong(delta);
    if (!d) {
        Py_DECREF(v);
        return -1;
    }
    PyObject *s = PyNumber_Add(v, d);
    Py_DECREF(v);
    Py_DECREF(d);
    if (!s)
        return -1;
    int rc = FSET(obj, name, s);
    Py_DECREF(s);
    return rc;
}

static int flush_counters(Fwd *self)
{
    int rc = 0;
    rc |= add_to_attr(self->core, &A_packets_in, self->d_pin);
    rc |= add_to_attr(self->core, &A_bytes_in, self->d_bin);
    rc |= add_to_attr(self->core, &A_packets_out, self->d_pout);
    rc |= add_to_attr(self->core, &A_bytes_out, self->d_bout);
    self->d_pin = self->d_bin = self->d_pout = self->d_bout = 0;
    return rc ? -1 : 0;
}

static int add_drop(Fwd *self, PyObject *reason)
{
    PyObject *drops = FGET(self->core, &A_drops);
    if (!drops)
        return -1;
    PyObject *r = PyObject_CallMethodOneArg(drops, s_add, reason);
    Py_DECREF(drops);
    if (!r)
        return -1;
    Py_DECREF(r);
    return 0;
}

static int flush_py_out(Fwd *self)
{
    if (!self->py_out)
        return 0;
    PyObject *lst = self->py_out;
    self->py_out = NULL;
    PyObject *r = PyObject_CallOneArg(self->send_py, lst);
    Py_DECREF(lst);
    if (!r)
        return -1;
    Py_DECREF(r);
    return 0;
}

static int flush_send(Fwd *self)
{
    int i = 0, n = self->nsend, rc = 0;
    while (i < n) {
        int fd = self->sfd[i], k = 1;
        while (i + k < n && self->sfd[i + k] == fd)
            k++;
        int r = sendmmsg(fd, self->smsg + i, (unsigned)k, 0);
        self->send_calls++;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            self->send_failed++;
            if (add_drop(self, self->reason_send_failed) < 0)
                rc = -1;
            i += 1;
        } else {
            self->fast_out += (unsigned)r;
            i += r;
        }
    }
    for (int j = 0; j < n; j++)
        Py_CLEAR(self->sobj[j]);
    self->nsend = 0;
    if (flush_py_out(self) < 0)
        rc = -1;
    return rc;
}

/* Borrowed: the (host, port) tuple of an IPv4 source address. */
static PyObject *source_addr(Fwd *self, const struct sockaddr_in *sa)
{
    unsigned long long key = ((unsigned long long)ntohl(sa->sin_addr.s_addr) << 16) |
                             ntohs(sa->sin_port);
    PyObject *k = PyLong_FromUnsignedLongLong(key);
    if (!k)
        return NULL;
    PyObject *t = PyDict_GetItemWithError(self->addr_cache, k);
    if (!t && !PyErr_Occurred()) {
        char host[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &sa->sin_addr, host, sizeof host);
        t = Py_BuildValue("(si)", host, (int)ntohs(sa->sin_port));
        if (t) {
            if (PyDict_GET_SIZE(self->addr_cache) > 65536)
                PyDict_Clear(self->addr_cache);
            int rc = PyDict_SetItem(self->addr_cache, k, t);
            Py_DECREF(t); /* the dict holds it */
            if (rc < 0)
                t = NULL;
        }
    }
    Py_DECREF(k);
    return t;
}

/* Where dest is: 1 with *sa (borrowed bytes of a sockaddr_in) and *fd set, 0 when it is not
 * an IPv4 address (Python sends to it), -1 on error. */
static int resolve_dest(Fwd *self, PyObject *dest, PyObject **sa_out, int *fd_out)
{
    PyObject *sa = PyDict_GetItemWithError(self->sa_cache, dest);
    if (!sa) {
        if (PyErr_Occurred())
            return -1;
        const char *host = NULL;
        int port = -1;
        struct sockaddr_in sin;
        memset(&sin, 0, sizeof sin);
        int ok = PyTuple_Check(dest) && PyTuple_GET_SIZE(dest) == 2 &&
                 PyUnicode_Check(PyTuple_GET_ITEM(dest, 0)) &&
                 PyLong_Check(PyTuple_GET_ITEM(dest, 1));
        if (ok) {
            host = PyUnicode_AsUTF8(PyTuple_GET_ITEM(dest, 0));
            port = (int)PyLong_AsLong(PyTuple_GET_ITEM(dest, 1));
            if (!host || PyErr_Occurred()) {
                PyErr_Clear();
                ok = 0;
            }
        }
        if (ok && port >= 0 && port <= 65535 && inet_pton(AF_INET, host, &sin.sin_addr) == 1) {
            sin.sin_family = AF_INET;
            sin.sin_port = htons((uint16_t)port);
            sa = PyBytes_FromStringAndSize((const char *)&sin, sizeof sin);
        } else {
            sa = Py_NewRef(Py_None);
        }
        if (!sa)
            return -1;
        if (PyDict_GET_SIZE(self->sa_cache) > 65536)
            PyDict_Clear(self->sa_cache);
        int rc = PyDict_SetItem(self->sa_cache, dest, sa);
        Py_DECREF(sa); /* the dict holds it */
        if (rc < 0)
            return -1;
    }
    if (sa == Py_None)
        return 0;
    int fd = self->fd;
    if (self->route != Py_None && PyDict_GET_SIZE(self->route)) {
        PyObject *f = PyDict_GetItemWithError(self->route, dest);
        if (f) {
            fd = (int)PyLong_AsLong(f);
            if (fd < 0 && PyErr_Occurred())
                return -1;
        } else if (PyErr_Occurred()) {
            return -1;
        }
    }
    *sa_out = sa;
    *fd_out = fd;
    return 1;
}

/* Reserve the next queue slot (flushing a full queue); its message is set up for sa/fd. */
static int reserve_slot(Fwd *self, PyObject *sa, int fd)
{
    if (self->nsend == SEND_QUEUE && flush_send(self) < 0)
        return -1;
    int i = self->nsend;
    memcpy(&self->saddr[i], PyBytes_AS_STRING(sa), sizeof(struct sockaddr_in));
    self->sobj[i] = NULL;
    self->sfd[i] = fd;
    memset(&self->smsg[i].msg_hdr, 0, sizeof(struct msghdr));
    self->smsg[i].msg_hdr.msg_name = &self->saddr[i];
    self->smsg[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
    self->smsg[i].msg_hdr.msg_iov = &self->siov[i];
    self->smsg[i].msg_hdr.msg_iovlen = 1;
    return i;
}

static int append_py_out(Fwd *self, PyObject *pkt, PyObject *dest)
{
    if (!self->py_out && !(self->py_out = PyList_New(0)))
        return -1;
    PyObject *item = PyTuple_Pack(2, pkt, dest);
    if (!item)
        return -1;
    int rc = PyList_Append(self->py_out, item);
    Py_DECREF(item);
    return rc;
}

/* Queue pkt (a new reference, stolen) for dest. */
static int enqueue(Fwd *self, PyObject *pkt, PyObject *dest)
{
    PyObject *sa = NULL;
    int fd = -1;
    int where = resolve_dest(self, dest, &sa, &fd);
    if (where <= 0) {
        /* Not an IPv4 destination: Python sends it at the end of the batch. */
        int rc = where < 0 ? -1 : append_py_out(self, pkt, dest);
        Py_DECREF(pkt);
        return rc;
    }
    int i = reserve_slot(self, sa, fd);
    if (i < 0) {
        Py_DECREF(pkt);
        return -1;
    }
    self->sobj[i] = pkt;
    self->siov[i].iov_base = PyBytes_AS_STRING(pkt);
    self->siov[i].iov_len = (size_t)PyBytes_GET_SIZE(pkt);
    self->nsend++;
    return 0;
}

static int enqueue_list(Fwd *self, PyObject *out)
{
    Py_ssize_t n = PyList_GET_SIZE(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(out, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2 ||
            !PyBytes_Check(PyTuple_GET_ITEM(item, 0))) {
            PyErr_SetString(PyExc_TypeError, "datagrams must be (bytes, addr) tuples");
            return -1;
        }
        PyObject *pkt = PyTuple_GET_ITEM(item, 0);
        Py_INCREF(pkt);
        if (enqueue(self, pkt, PyTuple_GET_ITEM(item, 1)) < 0)
            return -1;
    }
    return 0;
}

/* core._forward(part, wire_len, plain, now, out) in Python; its datagrams are queued. */
static int python_forward(Fwd *self, PyObject *part, Py_ssize_t wire_len, PyObject *plain,
                          PyObject *now)
{
    PyObject *out = PyList_New(0);
    if (!out)
        return -1;
    PyObject *wl = PyLong_FromSsize_t(wire_len);
    PyObject *r = wl ? PyObject_CallMethodObjArgs(self->core, s_forward, part, wl, plain, now,
                                                  out, NULL)
                     : NULL;
    Py_XDECREF(wl);
    int rc = -1;
    if (r) {
        Py_DECREF(r);
        rc = enqueue_list(self, out);
    }
    Py_DECREF(out);
    return rc;
}

static int is_true_attr(PyObject *obj, Attr *name, int *value)
{
    PyObject *v = FGET(obj, name);
    if (!v)
        return -1;
    int t = PyObject_IsTrue(v);
    Py_DECREF(v);
    if (t < 0)
        return -1;
    *value = t;
    return 0;
}

static int set_long_attr(PyObject *obj, Attr *name, long long value)
{
    PyObject *v = PyLong_FromLongLong(value);
    if (!v)
        return -1;
    int rc = FSET(obj, name, v);
    Py_DECREF(v);
    return rc;
}

static int get_long_attr(PyObject *obj, Attr *name, long long *value)
{
    PyObject *v = FGET(obj, name);
    if (!v)
        return -1;
    *value = PyLong_AsLongLong(v);
    Py_DECREF(v);
    return (*value == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* One subscription of the common case (bound, active, no rebase, no payload-type map). */
static int forward_sub(Fwd *self, PyObject *sub, PyObject *subscriber, PyObject *dest,
                       PyObject *plain, uint16_t seq, uint32_t ts, PyObject *now,
                       long long payload_len)
{
    long long seq_off, ts_off, last_seq, out_ssrc;
    if (get_long_attr(sub, &A_seq_off, &seq_off) < 0 || get_long_attr(sub, &A_ts_off, &ts_off) < 0 ||
        get_long_attr(sub, &A_last_seq, &last_seq) < 0 ||
        get_long_attr(sub, &A_out_ssrc, &out_ssrc) < 0)
        return -1;
    uint16_t out_seq = (uint16_t)((long long)seq + seq_off);
    uint32_t out_ts = (uint32_t)((long long)ts + ts_off);
    int16_t diff = (int16_t)(uint16_t)(out_seq - (uint16_t)last_seq);
    if (diff > 0) {
        if (set_long_attr(sub, &A_last_seq, out_seq) < 0 ||
            set_long_attr(sub, &A_last_ts, out_ts) < 0 ||
            FSET(sub, &A_last_time, now) < 0)
            return -1;
    }
    PyObject *crypto = FGET(subscriber, &A_crypto);
    if (!crypto)
        return -1;
    PyObject *tx = FGET(crypto, &A_tx_rtp);
    if (!tx) {
        Py_DECREF(crypto);
        return -1;
    }
    PyObject *pkt = NULL;
    Py_ssize_t plen = 0;
    PyObject *sa = NULL;
    int fd = -1, where = 0;
    Py_ssize_t n = PyBytes_GET_SIZE(plain);
    if (Py_IS_TYPE(tx, &GcmType) && n <= PROTECT_LIMIT &&
        (where = resolve_dest(self, dest, &sa, &fd)) != 0) {
        /* The common case: rewrite and protect straight into the send queue. */
        int i = where < 0 ? -1 : reserve_slot(self, sa, fd);
        if (i < 0) {
            Py_DECREF(tx);
            Py_DECREF(crypto);
            return -1;
        }
        uint8_t *b = self->sbuf + (size_t)i * SEND_SLOT;
        memcpy(b, PyBytes_AS_STRING(plain), (size_t)n);
        wr16(b + 2, out_seq);
        wr32(b + 4, out_ts);
        wr32(b + 8, (uint32_t)out_ssrc);
        int st = gcm_protect((Gcm *)tx, b, n, &plen);
        Py_DECREF(tx);
        Py_DECREF(crypto);
        if (st)
            return add_drop(self, self->reason_protect_failed) < 0 ? -1 : 0;
        self->siov[i].iov_base = b;
        self->siov[i].iov_len = (size_t)plen;
        self->nsend++;
    } else {
        if (Py_IS_TYPE(tx, &GcmType)) {
            int st = ST_OK;
            pkt = protect_rewritten_bytes((Gcm *)tx, (const uint8_t *)PyBytes_AS_STRING(plain),
                                          n, out_seq, out_ts, (uint32_t)out_ssrc, &st);
            if (!pkt && !st) {
                Py_DECREF(tx);
                Py_DECREF(crypto);
                return -1;
            }
        } else {
            PyObject *a = PyLong_FromLong(out_seq), *b = PyLong_FromUnsignedLong(out_ts),
                     *c = PyLong_FromLongLong(out_ssrc);
            if (a && b && c)
                pkt = PyObject_CallMethodObjArgs(crypto, s_protect_rewritten, plain, a, b, c,
                                                 NULL);
            Py_XDECREF(a);
            Py_XDECREF(b);
            Py_XDECREF(c);
            if (!pkt) {
                if (!PyErr_ExceptionMatches(LibsrtpError) &&
                    !PyErr_ExceptionMatches(PyExc_ValueError)) {
                    Py_DECREF(tx);
                    Py_DECREF(crypto);
                    return -1;
                }
                PyErr_Clear(); /* pylibsrtp.Error or ValueError: counted below */
            } else if (!PyBytes_Check(pkt)) {
                Py_DECREF(pkt);
                pkt = NULL;
            }
        }
        Py_DECREF(tx);
        Py_DECREF(crypto);
        if (!pkt)
            return add_drop(self, self->reason_protect_failed) < 0 ? -1 : 0;
        plen = PyBytes_GET_SIZE(pkt);
        if (enqueue(self, pkt, dest) < 0)
            return -1;
    }
    if (add_to_attr(sub, &A_packets, 1) < 0 || add_to_attr(sub, &A_octets, payload_len) < 0)
        return -1;
    self->d_pout += 1;
    self->d_bout += plen;
    return 0;
}

/* ReceiveStats.update(seq, ts, size, now) on the object's own attributes. */
static int stats_update(PyObject *st, uint16_t seq, uint32_t ts, Py_ssize_t size, double now)
{
    long long highest = 0, ext, base = 0, mx = 0, rate = 0, received = 0, nbytes = 0, prev = 0;
    int rc = -1;
    PyObject *unw = FGET(st, &A_unwrapper);
    if (!unw)
        return -1;
    PyObject *h = FGET(unw, &A_highest);
    if (!h)
        goto out;
    int have_h = h != Py_None;
    if (have_h)
        highest = PyLong_AsLongLong(h);
    Py_DECREF(h);
    if (have_h && highest == -1 && PyErr_Occurred())
        goto out;
    if (!have_h)
        ext = seq;
    else
        ext = highest + (int16_t)(uint16_t)(seq - (uint16_t)(highest & 0xFFFF));
    if ((!have_h || ext > highest) && set_long_attr(unw, &A_highest, ext) < 0)
        goto out;
    PyObject *b = FGET(st, &A_base_ext_seq);
    if (!b)
        goto out;
    int have_b = b != Py_None;
    if (have_b)
        base = PyLong_AsLongLong(b);
    Py_DECREF(b);
    if (PyErr_Occurred())
        goto out;
    if (!have_b) {
        if (set_long_attr(st, &A_base_ext_seq, ext) < 0 || set_long_attr(st, &A_max_ext_seq, ext) < 0)
            goto out;
    } else {
        if (get_long_attr(st, &A_max_ext_seq, &mx) < 0)
            goto out;
        if (ext > mx) {
            if (set_long_attr(st, &A_max_ext_seq, ext) < 0)
                goto out;
        } else if (ext < base) {
            if (set_long_attr(st, &A_base_ext_seq, ext) < 0)
                goto out;
        }
    }
    if (get_long_attr(st, &A_received, &received) < 0 || get_long_attr(st, &A_bytes, &nbytes) < 0 ||
        get_long_attr(st, &A_clock_rate, &rate) < 0)
        goto out;
    if (set_long_attr(st, &A_received, received + 1) < 0 ||
        set_long_attr(st, &A_bytes, nbytes + size) < 0)
        goto out;
    long long transit = (long long)(now * (double)rate) - (long long)ts;
    PyObject *pv = FGET(st, &A_transit);
    if (!pv)
        goto out;
    int have_prev = pv != Py_None;
    if (have_prev)
        prev = PyLong_AsLongLong(pv);
    Py_DECREF(pv);
    if (PyErr_Occurred())
        goto out;
    if (have_prev) {
        long long d = (int32_t)(uint32_t)(transit - prev);
        PyObject *j = FGET(st, &A_jitter);
        if (!j)
            goto out;
        double jit = PyFloat_AsDouble(j);
        Py_DECREF(j);
        if (jit == -1.0 && PyErr_Occurred())
            goto out;
        jit += ((double)(d >= 0 ? d : -d) - jit) / 16.0;
        PyObject *jo = PyFloat_FromDouble(jit);
        if (!jo)
            goto out;
        int r = FSET(st, &A_jitter, jo);
        Py_DECREF(jo);
        if (r < 0)
            goto out;
    }
    rc = set_long_attr(st, &A_transit, transit);
out:
    Py_DECREF(unw);
    return rc;
}

static int list_set(PyObject *obj, Attr *name, Py_ssize_t i, PyObject *value)
{
    PyObject *lst = FGET(obj, name);
    if (!lst)
        return -1;
    int rc = PyList_Check(lst) ? PyList_SetItem(lst, i, Py_NewRef(value)) : -1;
    if (rc < 0 && !PyErr_Occurred())
        PyErr_SetString(PyExc_TypeError, "cache slots must be lists");
    Py_DECREF(lst);
    return rc;
}

/* RetransmissionCache.put(seq, packet, now) on the object's own lists. */
static int cache_put(PyObject *cache, PyObject *seq_o, uint16_t seq, PyObject *plain,
                     PyObject *now)
{
    long long size;
    if (get_long_attr(cache, &A_size, &size) < 0)
        return -1;
    if (size <= 0) {
        PyErr_SetString(PyExc_ValueError, "cache size must be positive");
        return -1;
    }
    Py_ssize_t i = (Py_ssize_t)(seq % size);
    if (list_set(cache, &A_seqs, i, seq_o) < 0 || list_set(cache, &A_times, i, now) < 0 ||
        list_set(cache, &A_pkts, i, plain) < 0)
        return -1;
    return 0;
}

/* ForwardingCore._forward for an authenticated packet; 0 done, -1 error. */
static int forward(Fwd *self, PyObject *part, Py_ssize_t wire_len, PyObject *plain,
                   PyObject *now)
{
    const uint8_t *p = (const uint8_t *)PyBytes_AS_STRING(plain);
    Py_ssize_t size = PyBytes_GET_SIZE(plain);
    uint8_t b0 = p[0];
    uint16_t seq = rd16(p + 2);
    uint32_t ts = rd32(p + 4), ssrc = rd32(p + 8);
    if (b0 & 0x20) /* padding: the general checks */
        return python_forward(self, part, wire_len, plain, now);
    Py_ssize_t hlen = 12 + 4 * (b0 & 0x0F);
    if (b0 & 0x10) {
        if (hlen + 4 > size)
            return python_forward(self, part, wire_len, plain, now);
        hlen += 4 + 4 * (Py_ssize_t)rd16(p + hlen + 2);
    }
    if (hlen > size)
        return python_forward(self, part, wire_len, plain, now);
    PyObject *streams = FGET(part, &A_streams);
    if (!streams)
        return -1;
    PyObject *key = PyLong_FromUnsignedLong(ssrc);
    if (!key) {
        Py_DECREF(streams);
        return -1;
    }
    PyObject *stream = PyDict_Check(streams) ? PyDict_GetItemWithError(streams, key) : NULL;
    Py_XINCREF(stream);
    Py_DECREF(streams);
    if (!stream) {
        Py_DECREF(key);
        if (PyErr_Occurred())
            return -1;
        return python_forward(self, part, wire_len, plain, now);
    }
    int rc = -1;
    PyObject *seq_o = NULL, *ts_o = NULL, *size_o = NULL, *subs = NULL, *tmp = NULL;
    PyObject *record = FGET(stream, &A_record);
    if (!record)
        goto done;
    if (record != Py_None) {
        Py_DECREF(record);
        Py_DECREF(key);
        Py_DECREF(stream);
        return python_forward(self, part, wire_len, plain, now);
    }
    Py_DECREF(record);
    self->d_pin += 1;
    self->d_bin += wire_len;
    seq_o = PyLong_FromLong(seq);
    ts_o = PyLong_FromUnsignedLong(ts);
    size_o = PyLong_FromSsize_t(size);
    if (!seq_o || !ts_o || !size_o)
        goto done;
    PyObject *r;
    tmp = FGET(stream, &A_stats);
    if (!tmp)
        goto done;
    if (self->stats_cls && (PyObject *)Py_TYPE(tmp) == self->stats_cls && PyFloat_Check(now)) {
        if (stats_update(tmp, seq, ts, size, PyFloat_AS_DOUBLE(now)) < 0)
            goto done;
    } else {
        r = PyObject_CallMethodObjArgs(tmp, s_update, seq_o, ts_o, size_o, now, NULL);
        if (!r)
            goto done;
        Py_DECREF(r);
    }
    Py_CLEAR(tmp);
    tmp = FGET(stream, &A_cache);
    if (!tmp)
        goto done;
    if (self->cache_cls && (PyObject *)Py_TYPE(tmp) == self->cache_cls) {
        if (cache_put(tmp, seq_o, seq, plain, now) < 0)
            goto done;
    } else {
        r = PyObject_CallMethodObjArgs(tmp, s_put, seq_o, plain, now, NULL);
        if (!r)
            goto done;
        Py_DECREF(r);
    }
    Py_CLEAR(tmp);
    if (b0 & 0x10) {
        tmp = FGET(stream, &A_audio_level_id);
        if (!tmp)
            goto done;
        if (tmp != Py_None) {
            PyObject *b0_o = PyLong_FromLong(b0), *h_o = PyLong_FromSsize_t(hlen);
            r = (b0_o && h_o) ? PyObject_CallMethodObjArgs(self->core, s_audio_level_m, stream,
                                                           plain, b0_o, h_o, NULL)
                              : NULL;
            Py_XDECREF(b0_o);
            Py_XDECREF(h_o);
            if (!r)
                goto done;
            Py_DECREF(r);
        }
        Py_CLEAR(tmp);
    }
    subs = FGET(stream, &A_subs);
    if (!subs)
        goto done;
    if (!PyList_Check(subs)) {
        PyErr_SetString(PyExc_TypeError, "stream.subs must be a list");
        goto done;
    }
    Py_ssize_t nsubs = PyList_GET_SIZE(subs);
    if (!nsubs) {
        rc = add_drop(self, self->reason_no_subs);
        goto done;
    }
    long long payload_len = size - hlen;
    /* The list may change under a Python callback: iterate over a snapshot. */
    PyObject *snap = PyList_GetSlice(subs, 0, nsubs);
    if (!snap)
        goto done;
    for (Py_ssize_t i = 0; i < nsubs; i++) {
        PyObject *sub = PyList_GET_ITEM(snap, i);
        PyObject *subscriber = FGET(sub, &A_subscriber);
        if (!subscriber)
            goto loop_fail;
        PyObject *dest = FGET(subscriber, &A_addr);
        if (!dest) {
            Py_DECREF(subscriber);
            goto loop_fail;
        }
        int rebase = 0, active = 1;
        PyObject *pt_map = NULL;
        int common = dest != Py_None && is_true_attr(sub, &A_rebase, &rebase) == 0 && !rebase &&
                     is_true_attr(sub, &A_active, &active) == 0 && active &&
                     (pt_map = FGET(sub, &A_pt_map)) != NULL && pt_map == Py_None;
        Py_XDECREF(pt_map);
        if (PyErr_Occurred()) {
            Py_DECREF(dest);
            Py_DECREF(subscriber);
            goto loop_fail;
        }
        int frc;
        if (common) {
            frc = forward_sub(self, sub, subscriber, dest, plain, seq, ts, now, payload_len);
        } else {
            /* core._rewrite(sub, plain, seq, ts, now, True) and the same accounting. */
            PyObject *pkt = PyObject_CallMethodObjArgs(self->core, s_rewrite, sub, plain, seq_o,
                                                       ts_o, now, Py_True, NULL);
            frc = pkt ? 0 : -1;
            if (pkt && pkt != Py_None) {
                Py_DECREF(dest);
                dest = FGET(subscriber, &A_addr);
                Py_ssize_t plen = PyBytes_Check(pkt) ? PyBytes_GET_SIZE(pkt) : 0;
                if (!dest || !PyBytes_Check(pkt)) {
                    Py_DECREF(pkt);
                    frc = -1;
                } else if (enqueue(self, pkt, dest) < 0 || add_to_attr(sub, &A_packets, 1) < 0 ||
                           add_to_attr(sub, &A_octets, payload_len) < 0) {
                    frc = -1;
                } else {
                    self->d_pout += 1;
                    self->d_bout += plen;
                }
            } else {
                Py_XDECREF(pkt);
            }
        }
        Py_XDECREF(dest);
        Py_DECREF(subscriber);
        if (frc < 0)
            goto loop_fail;
    }
    Py_DECREF(snap);
    rc = 0;
    goto done;
loop_fail:
    Py_DECREF(snap);
done:
    Py_XDECREF(tmp);
    Py_XDECREF(subs);
    Py_XDECREF(seq_o);
    Py_XDECREF(ts_o);
    Py_XDECREF(size_o);
    Py_DECREF(key);
    Py_DECREF(stream);
    return rc;
}

/* The Python path for one datagram, after everything queued before it has been sent. */
static int slow_path(Fwd *self, const uint8_t *data, Py_ssize_t n, PyObject *addr)
{
    self->slow_in++;
    if (flush_send(self) < 0 || flush_counters(self) < 0)
        return -1;
    PyObject *b = PyBytes_FromStringAndSize((const char *)data, n);
    if (!b)
        return -1;
    PyObject *r = PyObject_CallFunctionObjArgs(self->slow, b, addr, NULL);
    Py_DECREF(b);
    if (!r)
        return -1;
    Py_DECREF(r);
    return 0;
}

static int handle_one(Fwd *self, const uint8_t *data, Py_ssize_t n, PyObject *addr,
                      PyObject *now)
{
    if (n < 12 || n > UNPROTECT_LIMIT || data[0] < 128 || data[0] > 191 ||
        (data[1] >= 192 && data[1] <= 223))
        return slow_path(self, data, n, addr);
    PyObject *part = PyDict_GetItemWithError(self->by_addr, addr);
    if (!part) {
        if (PyErr_Occurred())
            return -1;
        return slow_path(self, data, n, addr);
    }
    Py_INCREF(part);
    PyObject *crypto = FGET(part, &A_crypto);
    PyObject *rx = crypto ? FGET(crypto, &A_rx_rtp) : NULL;
    Py_XDECREF(crypto);
    if (!rx) {
        Py_DECREF(part);
        return -1;
    }
    if (!Py_IS_TYPE(rx, &GcmType)) {
        Py_DECREF(rx);
        Py_DECREF(part);
        return slow_path(self, data, n, addr);
    }
    PyObject *plain = PyBytes_FromStringAndSize(NULL, n);
    if (!plain) {
        Py_DECREF(rx);
        Py_DECREF(part);
        return -1;
    }
    Py_ssize_t plen = 0;
    int st = gcm_unprotect((Gcm *)rx, data, n, (uint8_t *)PyBytes_AS_STRING(plain), &plen);
    Py_DECREF(rx);
    if (st) {
        /* The general path authenticates again (a failure changed no state) and counts it. */
        Py_DECREF(plain);
        Py_DECREF(part);
        return slow_path(self, data, n, addr);
    }
    if (_PyBytes_Resize(&plain, plen) < 0) {
        Py_DECREF(part);
        return -1;
    }
    self->fast_in++;
    int rc = FSET(part, &A_last_seen, now);
    if (rc == 0)
        rc = forward(self, part, n, plain, now);
    Py_DECREF(plain);
    Py_DECREF(part);
    return rc;
}

static int Fwd_init(Fwd *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"core", "fd", "slow", "send_py", "route", "reasons", "classes",
                             NULL};
    PyObject *core, *slow, *send_py, *route, *reasons, *classes = NULL;
    int fd;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OiOOOO|O", kwlist, &core, &fd, &slow, &send_py,
                                     &route, &reasons, &classes))
        return -1;
    if (classes && (!PyTuple_Check(classes) || PyTuple_GET_SIZE(classes) != 2)) {
        PyErr_SetString(PyExc_TypeError, "classes: (ReceiveStats, RetransmissionCache)");
        return -1;
    }
    if (classes) {
        PyObject *c0 = PyTuple_GET_ITEM(classes, 0), *c1 = PyTuple_GET_ITEM(classes, 1);
        Py_INCREF(c0);
        Py_INCREF(c1);
        Py_XSETREF(self->stats_cls, c0);
        Py_XSETREF(self->cache_cls, c1);
    }
    if (!PyTuple_Check(reasons) || PyTuple_GET_SIZE(reasons) != 3) {
        PyErr_SetString(PyExc_TypeError,
                        "reasons: (no_subscribers, protect_failed, send_failed)");
        return -1;
    }
    if (route != Py_None && !PyDict_Check(route)) {
        PyErr_SetString(PyExc_TypeError, "route must be a dict or None");
        return -1;
    }
    PyObject *by_addr = FGET(core, &A_by_addr);
    if (!by_addr)
        return -1;
    if (!PyDict_Check(by_addr)) {
        Py_DECREF(by_addr);
        PyErr_SetString(PyExc_TypeError, "core._by_addr must be a dict");
        return -1;
    }
    if (!self->sbuf && !(self->sbuf = PyMem_Malloc((size_t)SEND_QUEUE * SEND_SLOT))) {
        Py_DECREF(by_addr);
        PyErr_NoMemory();
        return -1;
    }
    if (!self->rbuf && !(self->rbuf = PyMem_Malloc((size_t)RECV_BATCH * RECV_STRIDE))) {
        Py_DECREF(by_addr);
        PyErr_NoMemory();
        return -1;
    }
    Py_XSETREF(self->by_addr, by_addr);
    Py_INCREF(core);
    Py_XSETREF(self->core, core);
    Py_INCREF(slow);
    Py_XSETREF(self->slow, slow);
    Py_INCREF(send_py);
    Py_XSETREF(self->send_py, send_py);
    Py_INCREF(route);
    Py_XSETREF(self->route, route);
    PyObject *r0 = PyTuple_GET_ITEM(reasons, 0), *r1 = PyTuple_GET_ITEM(reasons, 1),
             *r2 = PyTuple_GET_ITEM(reasons, 2);
    Py_INCREF(r0);
    Py_INCREF(r1);
    Py_INCREF(r2);
    Py_XSETREF(self->reason_no_subs, r0);
    Py_XSETREF(self->reason_protect_failed, r1);
    Py_XSETREF(self->reason_send_failed, r2);
    if (!self->addr_cache && !(self->addr_cache = PyDict_New()))
        return -1;
    if (!self->sa_cache && !(self->sa_cache = PyDict_New()))
        return -1;
    self->fd = fd;
    return 0;
}

static int Fwd_traverse(Fwd *self, visitproc visit, void *arg)
{
    Py_VISIT(self->core);
    Py_VISIT(self->by_addr);
    Py_VISIT(self->slow);
    Py_VISIT(self->send_py);
    Py_VISIT(self->route);
    Py_VISIT(self->py_out);
    return 0;
}

static int Fwd_clear(Fwd *self)
{
    for (int j = 0; j < self->nsend; j++)
        Py_CLEAR(self->sobj[j]);
    self->nsend = 0;
    Py_CLEAR(self->core);
    Py_CLEAR(self->by_addr);
    Py_CLEAR(self->slow);
    Py_CLEAR(self->send_py);
    Py_CLEAR(self->route);
    Py_CLEAR(self->py_out);
    Py_CLEAR(self->reason_no_subs);
    Py_CLEAR(self->reason_protect_failed);
    Py_CLEAR(self->reason_send_failed);
    Py_CLEAR(self->stats_cls);
    Py_CLEAR(self->cache_cls);
    Py_CLEAR(self->addr_cache);
    Py_CLEAR(self->sa_cache);
    return 0;
}

static void Fwd_dealloc(Fwd *self)
{
    PyObject_GC_UnTrack(self);
    Fwd_clear(self);
    PyMem_Free(self->rbuf);
    PyMem_Free(self->sbuf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Fwd_drain(Fwd *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "drain(now, max_batches)");
        return NULL;
    }
    PyObject *now = args[0];
    long max_batches = PyLong_AsLong(args[1]);
    if (max_batches == -1 && PyErr_Occurred())
        return NULL;
    if (!self->core) {
        PyErr_SetString(PyExc_RuntimeError, "Forwarder is not initialised");
        return NULL;
    }
    long total = 0;
    int failed = 0;
    for (long b = 0; b < max_batches && !failed; b++) {
        for (int i = 0; i < RECV_BATCH; i++) {
            self->riov[i].iov_base = self->rbuf + (size_t)i * RECV_STRIDE;
            self->riov[i].iov_len = RECV_SLOT;
            memset(&self->rmsg[i].msg_hdr, 0, sizeof(struct msghdr));
            self->rmsg[i].msg_hdr.msg_name = &self->raddr[i];
            self->rmsg[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
            self->rmsg[i].msg_hdr.msg_iov = &self->riov[i];
            self->rmsg[i].msg_hdr.msg_iovlen = 1;
        }
        int got = recvmmsg(self->fd, self->rmsg, RECV_BATCH, MSG_DONTWAIT, NULL);
        if (got <= 0)
            break; /* EAGAIN (or an error the Python reader sees on its own) */
        self->batches++;
        self->received += (unsigned)got;
        total += got;
        for (int i = 0; i < got; i++) {
            const uint8_t *data = self->rbuf + (size_t)i * RECV_STRIDE;
            Py_ssize_t n = (Py_ssize_t)self->rmsg[i].msg_len;
            if (self->raddr[i].sin_family != AF_INET)
                continue; /* the transport only hands IPv4 sockets to C */
            PyObject *addr = source_addr(self, &self->raddr[i]);
            if (!addr || handle_one(self, data, n, addr, now) < 0) {
                failed = 1;
                break;
            }
        }
        /* Send this batch now (latency), then read again until the socket is empty or the
         * budget is spent: packets that arrived meanwhile cost no extra loop wake-up. */
        if (!failed && flush_send(self) < 0)
            failed = 1;
    }
    PyObject *exc = NULL, *val = NULL, *tb = NULL;
    if (failed)
        PyErr_Fetch(&exc, &val, &tb);
    int frc = flush_send(self);
    frc |= flush_counters(self);
    if (failed) {
        if (frc < 0)
            PyErr_Clear();
        PyErr_Restore(exc, val, tb);
        return NULL;
    }
    if (frc < 0)
        return NULL;
    return PyLong_FromLong(total);
}

static PyObject *Fwd_stats(Fwd *self, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("{sKsKsKsKsKsKsK}", "received", self->received, "fast_in",
                         self->fast_in, "slow_in", self->slow_in, "sent", self->fast_out,
                         "recv_batches", self->batches, "send_calls", self->send_calls,
                         "send_failed", self->send_failed);
}

static PyMethodDef Fwd_methods[] = {
    {"drain", (PyCFunction)(void (*)(void))Fwd_drain, METH_FASTCALL,
     "drain(now, max_batches) -> datagrams read: recvmmsg, forward, sendmmsg."},
    {"stats", (PyCFunction)Fwd_stats, METH_NOARGS, "Counters of the C path."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject FwdType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "router.forwarding._fastfwd.Forwarder",
    .tp_basicsize = sizeof(Fwd),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The router's RTP fast path over one UDP socket (recvmmsg/sendmmsg).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Fwd_init,
    .tp_dealloc = (destructor)Fwd_dealloc,
    .tp_traverse = (traverseproc)Fwd_traverse,
    .tp_clear = (inquiry)Fwd_clear,
    .tp_methods = Fwd_methods,
};

/* ------------------------------------------------------------------ module */

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "_fastfwd",
    "The router's optional C forwarding path (SRTP AES-GCM, recvmmsg/sendmmsg fan-out).", -1,
    NULL, NULL, NULL, NULL, NULL,
};

#define AINTERN(var, text)                                   \
    do {                                                     \
        if (!(var.name = PyUnicode_InternFromString(text)))  \
            return NULL;                                     \
    } while (0)

#define INTERN(var, text)                                   \
    do {                                                    \
        if (!(var = PyUnicode_InternFromString(text)))      \
            return NULL;                                    \
    } while (0)

PyMODINIT_FUNC PyInit__fastfwd(void)
{
    AINTERN(A_by_addr, "_by_addr");
    AINTERN(A_crypto, "crypto");
    AINTERN(A_rx_rtp, "rx_rtp");
    AINTERN(A_tx_rtp, "tx_rtp");
    AINTERN(A_last_seen, "last_seen");
    AINTERN(A_streams, "streams");
    AINTERN(A_record, "record");
    AINTERN(A_stats, "stats");
    INTERN(s_update, "update");
    AINTERN(A_cache, "cache");
    INTERN(s_put, "put");
    AINTERN(A_audio_level_id, "audio_level_id");
    INTERN(s_audio_level_m, "_audio_level");
    AINTERN(A_subs, "subs");
    AINTERN(A_subscriber, "subscriber");
    AINTERN(A_addr, "addr");
    AINTERN(A_rebase, "rebase");
    AINTERN(A_active, "active");
    AINTERN(A_pt_map, "pt_map");
    AINTERN(A_seq_off, "seq_off");
    AINTERN(A_ts_off, "ts_off");
    AINTERN(A_last_seq, "last_seq");
    AINTERN(A_last_ts, "last_ts");
    AINTERN(A_last_time, "last_time");
    AINTERN(A_out_ssrc, "out_ssrc");
    AINTERN(A_packets, "packets");
    AINTERN(A_octets, "octets");
    INTERN(s_protect_rewritten, "protect_rewritten");
    INTERN(s_rewrite, "_rewrite");
    INTERN(s_forward, "_forward");
    AINTERN(A_drops, "drops");
    INTERN(s_add, "add");
    AINTERN(A_packets_in, "packets_in");
    AINTERN(A_bytes_in, "bytes_in");
    AINTERN(A_packets_out, "packets_out");
    AINTERN(A_bytes_out, "bytes_out");
    AINTERN(A_unwrapper, "_unwrapper");
    AINTERN(A_highest, "highest");
    AINTERN(A_base_ext_seq, "base_ext_seq");
    AINTERN(A_max_ext_seq, "max_ext_seq");
    AINTERN(A_received, "received");
    AINTERN(A_bytes, "bytes");
    AINTERN(A_jitter, "jitter");
    AINTERN(A_transit, "_transit");
    AINTERN(A_clock_rate, "clock_rate");
    AINTERN(A_size, "size");
    AINTERN(A_seqs, "_seqs");
    AINTERN(A_times, "_times");
    AINTERN(A_pkts, "_pkts");
    if (PyType_Ready(&GcmType) < 0 || PyType_Ready(&FwdType) < 0)
        return NULL;
    PyObject *pylibsrtp = PyImport_ImportModule("pylibsrtp");
    if (!pylibsrtp)
        return NULL;
    PyObject *base = PyObject_GetAttrString(pylibsrtp, "Error");
    Py_DECREF(pylibsrtp);
    if (!base)
        return NULL;
    SrtpFailure = PyErr_NewExceptionWithDoc(
        "router.forwarding._fastfwd.SrtpFailure",
        "An SRTP failure of the C path, with libsrtp's message (a pylibsrtp.Error).", base, NULL);
    LibsrtpError = base; /* kept for the module's lifetime */
    if (!SrtpFailure)
        return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (!m)
        return NULL;
    Py_INCREF(&GcmType);
    Py_INCREF(&FwdType);
    Py_INCREF(SrtpFailure);
    if (PyModule_AddObject(m, "RtpContext", (PyObject *)&GcmType) < 0 ||
        PyModule_AddObject(m, "Forwarder", (PyObject *)&FwdType) < 0 ||
        PyModule_AddObject(m, "SrtpFailure", SrtpFailure) < 0 ||
        PyModule_AddIntConstant(m, "RECV_BATCH", RECV_BATCH) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
