/*
 * rtpstack.sframe._sframe: the optional C backend of SFrame (RFC 9605) over OpenSSL libcrypto.
 *
 * Same names, same bytes out and same exceptions (with the same messages) as the pure-Python
 * twin rtpstack/sframe/_backend_py.py. One SFrameKey holds the OpenSSL contexts for one derived
 * key, set up once; encrypt() and decrypt() then do the whole per-frame operation in one call:
 * header, nonce (salt XOR counter), AES-GCM or AES-CTR + HMAC-SHA256, and the tag check.
 *
 * Not thread-safe per key object: the GIL is held for the whole call, so two threads never use
 * the same OpenSSL context at once.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "rtpstack.sframe._sframe needs OpenSSL 3.0 or newer"
#endif
#include <openssl/core_names.h>
#include <openssl/params.h>

static PyObject *ErrMalformed;   /* MalformedHeaderError */
static PyObject *ErrAuth;        /* AuthenticationError */
static PyObject *ErrUnknownKid;  /* UnknownKeyIdError */
static PyObject *ErrSuite;       /* UnknownCipherSuiteError */
static EVP_MAC *HmacAlg;

/* ------------------------------------------------------------------ input buffers */

typedef struct {
    const unsigned char *buf;
    Py_ssize_t len;
    Py_buffer view;
    int has_view;
} InBuf;

static int
in_get(PyObject *o, InBuf *b)
{
    if (PyBytes_CheckExact(o)) {
        b->buf = (const unsigned char *)PyBytes_AS_STRING(o);
        b->len = PyBytes_GET_SIZE(o);
        b->has_view = 0;
        return 0;
    }
    if (PyObject_GetBuffer(o, &b->view, PyBUF_SIMPLE) < 0)
        return -1;
    b->buf = (const unsigned char *)b->view.buf;
    b->len = b->view.len;
    b->has_view = 1;
    return 0;
}

static void
in_release(InBuf *b)
{
    if (b->has_view) {
        PyBuffer_Release(&b->view);
        b->has_view = 0;
    }
}

/* ------------------------------------------------------------------ header (RFC 9605 4.3) */

static int
min_len(uint64_t v)
{
    int n = 1;
    while (n < 8 && (v >> (8 * n)) != 0)
        n++;
    return n;
}

/* Writes the shortest header; returns its length (1..17). */
static int
header_encode(uint64_t kid, uint64_t ctr, unsigned char *out)
{
    int pos = 1, i, n;
    unsigned char first;
    if (kid < 8) {
        first = (unsigned char)(kid << 4);
    } else {
        n = min_len(kid);
        first = (unsigned char)(0x80 | ((n - 1) << 4));
        for (i = n - 1; i >= 0; i--)
            out[pos++] = (unsigned char)(kid >> (8 * i));
    }
    if (ctr < 8) {
        first |= (unsigned char)ctr;
    } else {
        n = min_len(ctr);
        first |= (unsigned char)(0x08 | (n - 1));
        for (i = n - 1; i >= 0; i--)
            out[pos++] = (unsigned char)(ctr >> (8 * i));
    }
    out[0] = first;
    return pos;
}

/* Returns the header length, or -1 with MalformedHeaderError set. */
static Py_ssize_t
header_decode(const unsigned char *d, Py_ssize_t len, uint64_t *kid, uint64_t *ctr)
{
    Py_ssize_t pos = 1;
    int i, n;
    unsigned char first;
    if (len < 1) {
        PyErr_SetString(ErrMalformed, "SFrame header: empty frame");
        return -1;
    }
    first = d[0];
    if (first & 0x80) {
        n = ((first >> 4) & 0x07) + 1;
        if (len < pos + n) {
            PyErr_Format(ErrMalformed, "SFrame header: KID needs %d bytes, %zd present", n,
                         len - pos);
            return -1;
        }
        *kid = 0;
        for (i = 0; i < n; i++)
            *kid = (*kid << 8) | d[pos++];
    } else {
        *kid = (first >> 4) & 0x07;
    }
    if (first & 0x08) {
        n = (first & 0x07) + 1;
        if (len < pos + n) {
            PyErr_Format(ErrMalformed, "SFrame header: CTR needs %d bytes, %zd present", n,
                         len - pos);
            return -1;
        }
        *ctr = 0;
        for (i = 0; i < n; i++)
            *ctr = (*ctr << 8) | d[pos++];
    } else {
        *ctr = first & 0x07;
    }
    return pos;
}

/* ------------------------------------------------------------------ the AEAD core */

typedef struct {
    int suite;
    int nt;       /* tag length */
    int gcm;      /* 1: AES-GCM, 0: AES-CTR + HMAC-SHA256 */
    EVP_CIPHER_CTX *ectx;  /* GCM encryption, or CTR (both directions) */
    EVP_CIPHER_CTX *dctx;  /* GCM decryption */
    EVP_MAC_CTX *mac;      /* CTR suites: HMAC-SHA256 keyed with the auth key */
} Aead;

/* suites 1-5: RFC 9605; 6-8: AES_256_CTR_HMAC_SHA512_80/64/32 (post-RFC, working group) */
#define MAX_SUITE 8
static const int TAG_LEN[MAX_SUITE + 1] = {0, 10, 8, 4, 16, 16, 10, 8, 4};
static const int KEY_LEN[MAX_SUITE + 1] = {0, 48, 48, 48, 16, 32, 96, 96, 96};

static void
aead_free(Aead *a)
{
    if (a->ectx) EVP_CIPHER_CTX_free(a->ectx);
    if (a->dctx) EVP_CIPHER_CTX_free(a->dctx);
    if (a->mac) EVP_MAC_CTX_free(a->mac);
    a->ectx = a->dctx = NULL;
    a->mac = NULL;
}

static int
suite_check(int suite, Py_ssize_t keylen)
{
    if (suite < 1 || suite > MAX_SUITE) {
        PyErr_Format(ErrSuite, "unknown SFrame cipher suite: %d", suite);
        return -1;
    }
    if (keylen != KEY_LEN[suite]) {
        PyErr_Format(PyExc_ValueError, "SFrame suite %d needs a %d-byte key, got %zd", suite,
                     KEY_LEN[suite], keylen);
        return -1;
    }
    return 0;
}

static int
aead_init(Aead *a, int suite, const unsigned char *key, Py_ssize_t keylen)
{
    memset(a, 0, sizeof(*a));
    if (suite_check(suite, keylen) < 0)
        return -1;
    a->suite = suite;
    a->nt = TAG_LEN[suite];
    a->gcm = suite == 4 || suite == 5;
    a->ectx = EVP_CIPHER_CTX_new();
    if (a->ectx == NULL)
        goto fail;
    if (a->gcm) {
        const EVP_CIPHER *c = suite == 4 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
        a->dctx = EVP_CIPHER_CTX_new();
        if (a->dctx == NULL)
            goto fail;
        if (!EVP_EncryptInit_ex(a->ectx, c, NULL, key, NULL))
            goto fail;
        if (!EVP_DecryptInit_ex(a->dctx, c, NULL, key, NULL))
            goto fail;
    } else {
        OSSL_PARAM params[2];
        int big = suite >= 6; /* AES-256 + HMAC-SHA512 */
        int nka = big ? 32 : 16;
        if (!EVP_EncryptInit_ex(a->ectx, big ? EVP_aes_256_ctr() : EVP_aes_128_ctr(), NULL, key,
                                NULL))
            goto fail;
        a->mac = EVP_MAC_CTX_new(HmacAlg);
        if (a->mac == NULL)
            goto fail;
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                     (char *)(big ? "SHA512" : "SHA256"), 0);
        params[1] = OSSL_PARAM_construct_end();
        if (!EVP_MAC_init(a->mac, key + nka, (size_t)(keylen - nka), params))
            goto fail;
    }
    return 0;
fail:
    aead_free(a);
    PyErr_SetString(PyExc_RuntimeError, "OpenSSL failed to set up an SFrame key");
    return -1;
}

static void
put_be64(unsigned char *p, uint64_t v)
{
    int i;
    for (i = 7; i >= 0; i--) {
        p[i] = (unsigned char)v;
        v >>= 8;
    }
}

/* HMAC tag of RFC 9605 4.5.1 over (aad1 || aad2) and ct; writes up to 64 bytes to tag. */
static int
ctr_tag(Aead *a, const unsigned char *nonce, const unsigned char *aad1, size_t l1,
        const unsigned char *aad2, size_t l2, const unsigned char *ct, size_t ctlen,
        unsigned char *tag)
{
    unsigned char lens[24];
    size_t outl;
    put_be64(lens, (uint64_t)(l1 + l2));
    put_be64(lens + 8, (uint64_t)ctlen);
    put_be64(lens + 16, (uint64_t)a->nt);
    if (!EVP_MAC_init(a->mac, NULL, 0, NULL)) return -1;
    if (!EVP_MAC_update(a->mac, lens, 24)) return -1;
    if (!EVP_MAC_update(a->mac, nonce, 12)) return -1;
    if (l1 && !EVP_MAC_update(a->mac, aad1, l1)) return -1;
    if (l2 && !EVP_MAC_update(a->mac, aad2, l2)) return -1;
    if (ctlen && !EVP_MAC_update(a->mac, ct, ctlen)) return -1;
    if (!EVP_MAC_final(a->mac, tag, &outl, 64)) return -1;
    return 0;
}

static int
ctr_xor(Aead *a, const unsigned char *nonce, const unsigned char *in, int len, unsigned char *out)
{
    unsigned char iv[16];
    int outl;
    memcpy(iv, nonce, 12);
    memset(iv + 12, 0, 4);
    if (!EVP_EncryptInit_ex(a->ectx, NULL, NULL, NULL, iv)) return -1;
    if (len && !EVP_EncryptUpdate(a->ectx, out, &outl, in, len)) return -1;
    return 0;
}

/* Encrypts pt into out (ptlen bytes of ciphertext, then nt bytes of tag). 0 or -1. */
static int
aead_seal(Aead *a, const unsigned char *nonce, const unsigned char *aad1, int l1,
          const unsigned char *aad2, int l2, const unsigned char *pt, int ptlen,
          unsigned char *out)
{
    int outl;
    if (a->gcm) {
        EVP_CIPHER_CTX *c = a->ectx;
        if (!EVP_EncryptInit_ex(c, NULL, NULL, NULL, nonce)) return -1;
        if (l1 && !EVP_EncryptUpdate(c, NULL, &outl, aad1, l1)) return -1;
        if (l2 && !EVP_EncryptUpdate(c, NULL, &outl, aad2, l2)) return -1;
        if (ptlen && !EVP_EncryptUpdate(c, out, &outl, pt, ptlen)) return -1;
        if (!EVP_EncryptFinal_ex(c, out + ptlen, &outl)) return -1;
        if (!EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + ptlen)) return -1;
        return 0;
    } else {
        unsigned char tag[64];
        if (ctr_xor(a, nonce, pt, ptlen, out) < 0) return -1;
        if (ctr_tag(a, nonce, aad1, (size_t)l1, aad2, (size_t)l2, out, (size_t)ptlen, tag) < 0)
            return -1;
        memcpy(out + ptlen, tag, (size_t)a->nt);
        return 0;
    }
}

/* Decrypts ct (ctlen bytes, tag excluded) into out. 0, 1 on authentication failure, -1. */
static int
aead_open(Aead *a, const unsigned char *nonce, const unsigned char *aad1, int l1,
          const unsigned char *aad2, int l2, const unsigned char *ct, int ctlen,
          const unsigned char *tag, unsigned char *out)
{
    int outl;
    if (a->gcm) {
        EVP_CIPHER_CTX *c = a->dctx;
        if (!EVP_DecryptInit_ex(c, NULL, NULL, NULL, nonce)) return -1;
        if (l1 && !EVP_DecryptUpdate(c, NULL, &outl, aad1, l1)) return -1;
        if (l2 && !EVP_DecryptUpdate(c, NULL, &outl, aad2, l2)) return -1;
        if (ctlen && !EVP_DecryptUpdate(c, out, &outl, ct, ctlen)) return -1;
        if (!EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)tag)) return -1;
        if (EVP_DecryptFinal_ex(c, out + ctlen, &outl) <= 0) return 1;
        return 0;
    } else {
        unsigned char want[64];
        if (ctr_tag(a, nonce, aad1, (size_t)l1, aad2, (size_t)l2, ct, (size_t)ctlen, want) < 0)
            return -1;
        if (CRYPTO_memcmp(want, tag, (size_t)a->nt) != 0) return 1;
        if (ctr_xor(a, nonce, ct, ctlen, out) < 0) return -1;
        return 0;
    }
}

static PyObject *
openssl_error(void)
{
    PyErr_SetString(PyExc_RuntimeError, "OpenSSL error in SFrame operation");
    return NULL;
}

static int
check_int_len(Py_ssize_t n)
{
    if (n > (Py_ssize_t)(INT32_MAX - 64)) {
        PyErr_SetString(PyExc_ValueError, "SFrame frame too large");
        return -1;
    }
    return 0;
}

static int
get_u64(PyObject *o, const char *what, uint64_t *out)
{
    unsigned long long v;
    if (!PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "SFrame %s must be an int", what);
        return -1;
    }
    v = PyLong_AsUnsignedLongLong(o);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "SFrame %s out of range: %R", what, o);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

/* ------------------------------------------------------------------ SFrameKey */

typedef struct {
    PyObject_HEAD
    Aead aead;
    unsigned long long kid;
    int suite;
    int tag_len;
    unsigned char salt[12];
} KeyObject;

static void
key_dealloc(KeyObject *self)
{
    aead_free(&self->aead);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
key_init(KeyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"suite", "kid", "key", "salt", NULL};
    int suite;
    PyObject *kid_obj;
    Py_buffer key, salt;
    uint64_t kid;
    int rc = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iOy*y*", kwlist, &suite, &kid_obj, &key,
                                     &salt))
        return -1;
    aead_free(&self->aead);
    if (aead_init(&self->aead, suite, key.buf, key.len) < 0)
        goto done;
    if (salt.len != 12) {
        PyErr_Format(PyExc_ValueError, "SFrame salt must be 12 bytes, got %zd", salt.len);
        goto done;
    }
    if (get_u64(kid_obj, "KID", &kid) < 0)
        goto done;
    self->kid = kid;
    self->suite = suite;
    self->tag_len = TAG_LEN[suite];
    memcpy(self->salt, salt.buf, 12);
    rc = 0;
done:
    PyBuffer_Release(&key);
    PyBuffer_Release(&salt);
    return rc;
}

static void
make_nonce(const unsigned char *salt, uint64_t ctr, unsigned char *nonce)
{
    int i;
    memcpy(nonce, salt, 12);
    for (i = 11; i >= 4; i--) {
        nonce[i] ^= (unsigned char)ctr;
        ctr >>= 8;
    }
}

/* encrypt(ctr, metadata, plaintext) -> bytes */
static PyObject *
key_encrypt(KeyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t ctr;
    InBuf md, pt;
    unsigned char header[17], nonce[12];
    int hlen;
    PyObject *out;
    unsigned char *o;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "encrypt(ctr, metadata, plaintext)");
        return NULL;
    }
    if (self->aead.ectx == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "SFrameKey not initialised");
        return NULL;
    }
    if (get_u64(args[0], "CTR", &ctr) < 0)
        return NULL;
    if (in_get(args[1], &md) < 0)
        return NULL;
    if (in_get(args[2], &pt) < 0) {
        in_release(&md);
        return NULL;
    }
    if (check_int_len(md.len) < 0 || check_int_len(pt.len) < 0) {
        out = NULL;
        goto done;
    }
    hlen = header_encode(self->kid, ctr, header);
    make_nonce(self->salt, ctr, nonce);
    out = PyBytes_FromStringAndSize(NULL, hlen + pt.len + self->tag_len);
    if (out == NULL)
        goto done;
    o = (unsigned char *)PyBytes_AS_STRING(out);
    memcpy(o, header, (size_t)hlen);
    if (aead_seal(&self->aead, nonce, header, hlen, md.buf, (int)md.len, pt.buf, (int)pt.len,
                  o + hlen) < 0) {
        Py_DECREF(out);
        out = openssl_error();
    }
done:
    in_release(&md);
    in_release(&pt);
    return out;
}

/* decrypt(frame, metadata) -> (ctr, plaintext) */
static PyObject *
key_decrypt(KeyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    InBuf fr, md;
    uint64_t kid, ctr;
    Py_ssize_t hlen, ctlen;
    unsigned char nonce[12];
    PyObject *pt = NULL, *res = NULL;
    int rc;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "decrypt(frame, metadata)");
        return NULL;
    }
    if (self->aead.ectx == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "SFrameKey not initialised");
        return NULL;
    }
    if (in_get(args[0], &fr) < 0)
        return NULL;
    if (in_get(args[1], &md) < 0) {
        in_release(&fr);
        return NULL;
    }
    if (check_int_len(fr.len) < 0 || check_int_len(md.len) < 0)
        goto done;
    hlen = header_decode(fr.buf, fr.len, &kid, &ctr);
    if (hlen < 0)
        goto done;
    if (kid != (uint64_t)self->kid) {
        PyErr_Format(ErrUnknownKid, "SFrame KID %llu does not match this key's KID %llu",
                     (unsigned long long)kid, self->kid);
        goto done;
    }
    if (fr.len - hlen < self->tag_len) {
        PyErr_Format(ErrMalformed,
                     "SFrame frame too short: %zd bytes after the header, tag needs %d",
                     fr.len - hlen, self->tag_len);
        goto done;
    }
    ctlen = fr.len - hlen - self->tag_len;
    make_nonce(self->salt, ctr, nonce);
    pt = PyBytes_FromStringAndSize(NULL, ctlen);
    if (pt == NULL)
        goto done;
    rc = aead_open(&self->aead, nonce, fr.buf, (int)hlen, md.buf, (int)md.len, fr.buf + hlen,
                   (int)ctlen, fr.buf + hlen + ctlen, (unsigned char *)PyBytes_AS_STRING(pt));
    if (rc == 1) {
        PyErr_SetString(ErrAuth, "SFrame authentication failed");
        goto done;
    }
    if (rc < 0) {
        openssl_error();
        goto done;
    }
    {
        PyObject *c = PyLong_FromUnsignedLongLong((unsigned long long)ctr);
        if (c == NULL)
            goto done;
        res = PyTuple_Pack(2, c, pt);
        Py_DECREF(c);
    }
done:
    Py_XDECREF(pt);
    in_release(&fr);
    in_release(&md);
    return res;
}

static PyMethodDef key_methods[] = {
    {"encrypt", (PyCFunction)(void (*)(void))key_encrypt, METH_FASTCALL,
     "encrypt(ctr, metadata, plaintext) -> the whole SFrame frame"},
    {"decrypt", (PyCFunction)(void (*)(void))key_decrypt, METH_FASTCALL,
     "decrypt(frame, metadata) -> (ctr, plaintext)"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef key_members[] = {
    {"kid", T_ULONGLONG, offsetof(KeyObject, kid), READONLY, "the key id"},
    {"suite", T_INT, offsetof(KeyObject, suite), READONLY, "the cipher suite number"},
    {"tag_len", T_INT, offsetof(KeyObject, tag_len), READONLY, "the tag length in bytes"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject KeyType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rtpstack.sframe._sframe.SFrameKey",
    .tp_basicsize = sizeof(KeyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "SFrameKey(suite, kid, key, salt): one derived SFrame key, OpenSSL contexts kept.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)key_init,
    .tp_dealloc = (destructor)key_dealloc,
    .tp_methods = key_methods,
    .tp_members = key_members,
};

/* ------------------------------------------------------------------ BareAead */

typedef struct {
    PyObject_HEAD
    Aead aead;
} BareObject;

static void
bare_dealloc(BareObject *self)
{
    aead_free(&self->aead);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
bare_init(BareObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"suite", "key", NULL};
    int suite, rc;
    Py_buffer key;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iy*", kwlist, &suite, &key))
        return -1;
    aead_free(&self->aead);
    rc = aead_init(&self->aead, suite, key.buf, key.len);
    PyBuffer_Release(&key);
    return rc;
}

static int
bare_args(BareObject *self, PyObject *const *args, Py_ssize_t nargs, InBuf *n, InBuf *a,
          InBuf *d)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "expected (nonce, aad, data)");
        return -1;
    }
    if (self->aead.ectx == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "BareAead not initialised");
        return -1;
    }
    if (in_get(args[0], n) < 0)
        return -1;
    if (in_get(args[1], a) < 0) {
        in_release(n);
        return -1;
    }
    if (in_get(args[2], d) < 0) {
        in_release(n);
        in_release(a);
        return -1;
    }
    if (n->len != 12) {
        PyErr_Format(PyExc_ValueError, "SFrame nonce must be 12 bytes, got %zd", n->len);
    } else if (check_int_len(a->len) == 0 && check_int_len(d->len) == 0) {
        return 0;
    }
    in_release(n);
    in_release(a);
    in_release(d);
    return -1;
}

/* seal(nonce, aad, plaintext) -> ciphertext || tag */
static PyObject *
bare_seal(BareObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    InBuf n, a, d;
    PyObject *out;
    if (bare_args(self, args, nargs, &n, &a, &d) < 0)
        return NULL;
    out = PyBytes_FromStringAndSize(NULL, d.len + self->aead.nt);
    if (out != NULL &&
        aead_seal(&self->aead, n.buf, a.buf, (int)a.len, NULL, 0, d.buf, (int)d.len,
                  (unsigned char *)PyBytes_AS_STRING(out)) < 0) {
        Py_DECREF(out);
        out = openssl_error();
    }
    in_release(&n);
    in_release(&a);
    in_release(&d);
    return out;
}

/* open(nonce, aad, ciphertext_and_tag) -> plaintext */
static PyObject *
bare_open(BareObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    InBuf n, a, d;
    PyObject *out = NULL;
    Py_ssize_t ctlen;
    int rc;
    if (bare_args(self, args, nargs, &n, &a, &d) < 0)
        return NULL;
    if (d.len < self->aead.nt) {
        PyErr_SetString(ErrAuth, "SFrame authentication failed");
        goto done;
    }
    ctlen = d.len - self->aead.nt;
    out = PyBytes_FromStringAndSize(NULL, ctlen);
    if (out == NULL)
        goto done;
    rc = aead_open(&self->aead, n.buf, a.buf, (int)a.len, NULL, 0, d.buf, (int)ctlen,
                   d.buf + ctlen, (unsigned char *)PyBytes_AS_STRING(out));
    if (rc != 0) {
        Py_CLEAR(out);
        if (rc == 1)
            PyErr_SetString(ErrAuth, "SFrame authentication failed");
        else
            openssl_error();
    }
done:
    in_release(&n);
    in_release(&a);
    in_release(&d);
    return out;
}

static PyMethodDef bare_methods[] = {
    {"seal", (PyCFunction)(void (*)(void))bare_seal, METH_FASTCALL,
     "seal(nonce, aad, plaintext) -> ciphertext || tag"},
    {"open", (PyCFunction)(void (*)(void))bare_open, METH_FASTCALL,
     "open(nonce, aad, ciphertext || tag) -> plaintext"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject BareType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rtpstack.sframe._sframe.BareAead",
    .tp_basicsize = sizeof(BareObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "BareAead(suite, key): the suite's AEAD alone, no SFrame header or nonce.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)bare_init,
    .tp_dealloc = (destructor)bare_dealloc,
    .tp_methods = bare_methods,
};

/* ------------------------------------------------------------------ module functions */

static PyObject *
mod_parse_header(PyObject *mod, PyObject *arg)
{
    InBuf b;
    uint64_t kid = 0, ctr = 0;
    Py_ssize_t hlen;
    (void)mod;
    if (in_get(arg, &b) < 0)
        return NULL;
    hlen = header_decode(b.buf, b.len, &kid, &ctr);
    in_release(&b);
    if (hlen < 0)
        return NULL;
    return Py_BuildValue("(KKn)", (unsigned long long)kid, (unsigned long long)ctr, hlen);
}

static PyMethodDef mod_methods[] = {
    {"parse_header", mod_parse_header, METH_O,
     "parse_header(frame) -> (kid, ctr, header_length)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "_sframe",
    "SFrame (RFC 9605) per-frame operations in C over OpenSSL libcrypto.", -1, mod_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__sframe(void)
{
    PyObject *m, *errs;
    HmacAlg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (HmacAlg == NULL) {
        PyErr_SetString(PyExc_ImportError, "OpenSSL has no HMAC");
        return NULL;
    }
    errs = PyImport_ImportModule("rtpstack.sframe.errors");
    if (errs == NULL)
        return NULL;
    ErrMalformed = PyObject_GetAttrString(errs, "MalformedHeaderError");
    ErrAuth = PyObject_GetAttrString(errs, "AuthenticationError");
    ErrUnknownKid = PyObject_GetAttrString(errs, "UnknownKeyIdError");
    ErrSuite = PyObject_GetAttrString(errs, "UnknownCipherSuiteError");
    Py_DECREF(errs);
    if (!ErrMalformed || !ErrAuth || !ErrUnknownKid || !ErrSuite)
        return NULL;
    if (PyType_Ready(&KeyType) < 0 || PyType_Ready(&BareType) < 0)
        return NULL;
    m = PyModule_Create(&moddef);
    if (m == NULL)
        return NULL;
    Py_INCREF(&KeyType);
    if (PyModule_AddObject(m, "SFrameKey", (PyObject *)&KeyType) < 0)
        return NULL;
    Py_INCREF(&BareType);
    if (PyModule_AddObject(m, "BareAead", (PyObject *)&BareType) < 0)
        return NULL;
    if (PyModule_AddStringConstant(m, "NAME", "c") < 0)
        return NULL;
    if (PyModule_AddStringConstant(m, "OPENSSL_VERSION", OPENSSL_VERSION_TEXT) < 0)
        return NULL;
    return m;
}
