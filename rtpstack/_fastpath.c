/*
 * rtpstack._fastpath: the C backend of rtpstack.fastpath (RTP header reads and in-place
 * rewrites without building objects per packet).
 *
 * Same functions, signatures, results, exceptions and messages as the pure-Python twin
 * rtpstack._fastpath_py; the tests hold both to it. This module handles natively the calls a
 * forwarder makes: positional arguments, bytes / bytearray / 1-D unsigned-byte memoryview
 * buffers, plain int arguments. Any other call (keyword arguments, a wrong argument count,
 * another buffer type, an int subclass or a float, offsets outside the buffer) is passed to
 * the Python twin unchanged, so its behaviour and its exceptions are the twin's by
 * construction. RtpParseError comes from rtpstack.errors.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define ONE_BYTE_PROFILE 0xBEDE
#define TWO_BYTE_PROFILE 0x1000
#define TWO_BYTE_PROFILE_MASK 0xFFF0

static PyObject *RtpParseError = NULL;

enum {
    F_PARSE_HEADER,
    F_HEADER_LENGTH,
    F_SCAN_ELEMENTS,
    F_SCAN_VALUES,
    F_EXTENSION_ELEMENTS,
    F_FIND_EXTENSION,
    F_READ_PACKET,
    F_REWRITE_HEADER,
    F_SET_SSRC,
    F_SET_SEQUENCE_NUMBER,
    F_SET_TIMESTAMP,
    F_SET_MARKER,
    F_SET_PAYLOAD_TYPE,
    F_WRITE_EXTENSION,
    F_COUNT
};

static const char *const twin_names[F_COUNT] = {
    "parse_header",  "header_length",       "scan_elements", "scan_values",
    "extension_elements", "find_extension", "read_packet",   "rewrite_header",
    "set_ssrc",      "set_sequence_number", "set_timestamp", "set_marker",
    "set_payload_type", "write_extension",
};

/* The Python twin's functions, called for everything not handled natively. */
static PyObject *twin[F_COUNT];

#define DELEGATE(f) return PyObject_Vectorcall(twin[f], args, nargs, kwnames)

/* ---- buffers ------------------------------------------------------------------------- */

typedef struct {
    unsigned char *p;
    Py_ssize_t n;
    Py_buffer view;
    int has_view;
} buf_t;

/*
 * Borrow the octets of o. Returns 1 when o is handled natively (bytes, bytearray, or a 1-D
 * C-contiguous memoryview of format "B"; writable ones only when `writable`), 0 otherwise
 * (no exception set: the caller delegates to the twin). A bytearray is exported, so it
 * cannot be resized while we hold its pointer.
 */
static int
buf_get(PyObject *o, buf_t *b, int writable)
{
    b->has_view = 0;
    if (!writable && PyBytes_CheckExact(o)) {
        b->p = (unsigned char *)PyBytes_AS_STRING(o);
        b->n = PyBytes_GET_SIZE(o);
        return 1;
    }
    if (PyByteArray_CheckExact(o) || PyMemoryView_Check(o)) {
        int flags = PyBUF_FORMAT | PyBUF_ND | (writable ? PyBUF_WRITABLE : 0);
        if (PyObject_GetBuffer(o, &b->view, flags) < 0) {
            PyErr_Clear();
            return 0;
        }
        if (b->view.ndim != 1 || b->view.itemsize != 1 || b->view.format == NULL ||
            strcmp(b->view.format, "B") != 0) {
            PyBuffer_Release(&b->view);
            return 0;
        }
        b->has_view = 1;
        b->p = (unsigned char *)b->view.buf;
        b->n = b->view.len;
        return 1;
    }
    return 0;
}

static void
buf_release(buf_t *b)
{
    if (b->has_view) {
        PyBuffer_Release(&b->view);
        b->has_view = 0;
    }
}

/* A plain int (not a subclass): 1 with *out (or *ovf set when it does not fit), else 0. */
static int
plain_int(PyObject *o, long long *out, int *ovf)
{
    if (!PyLong_CheckExact(o)) {
        return 0;
    }
    *ovf = 0;
    *out = PyLong_AsLongLongAndOverflow(o, ovf);
    return 1;
}

/* ---- the header ---------------------------------------------------------------------- */

typedef struct {
    int b1;
    unsigned long seq, ts, ssrc;
    long profile;
    Py_ssize_t ext_start, pos, end;
} hdr_t;

static inline unsigned long
u32_at(const unsigned char *p)
{
    return ((unsigned long)p[0] << 24) | ((unsigned long)p[1] << 16) |
           ((unsigned long)p[2] << 8) | (unsigned long)p[3];
}

/* Version, CSRC list and extension block; sets h->profile, ext_start and pos. */
static int
check_header(const unsigned char *p, Py_ssize_t n, hdr_t *h)
{
    if (n < 12) {
        PyErr_Format(RtpParseError,
                     "RTP packet too short: %zd octets, the fixed header needs 12", n);
        return -1;
    }
    int b0 = p[0];
    if (b0 < 0x80 || b0 > 0xBF) {
        PyErr_Format(RtpParseError, "RTP version %d is not 2", b0 >> 6);
        return -1;
    }
    Py_ssize_t pos = 12 + ((b0 & 0x0F) << 2);
    if (pos > n) {
        PyErr_Format(RtpParseError, "RTP CSRC list (CC=%d) runs past the end of the packet",
                     b0 & 0x0F);
        return -1;
    }
    if (b0 & 0x10) {
        if (pos + 4 > n) {
            PyErr_SetString(RtpParseError,
                            "RTP header extension header runs past the end of the packet");
            return -1;
        }
        h->profile = (p[pos] << 8) | p[pos + 1];
        int words = (p[pos + 2] << 8) | p[pos + 3];
        h->ext_start = pos + 4;
        pos = h->ext_start + ((Py_ssize_t)words << 2);
        if (pos > n) {
            PyErr_Format(RtpParseError,
                         "RTP header extension (length field %d) runs past the end of the "
                         "packet",
                         words);
            return -1;
        }
    }
    else {
        h->profile = -1;
        h->ext_start = pos;
    }
    h->pos = pos;
    return 0;
}

/* The padding count of a packet with P=1 whose header ends at pos; sets h->end. */
static int
check_padding(const unsigned char *p, Py_ssize_t n, Py_ssize_t pos, hdr_t *h)
{
    int pad = p[n - 1];
    if (pad == 0) {
        PyErr_SetString(RtpParseError, "RTP padding count is 0");
        return -1;
    }
    if (pad > n - pos) {
        PyErr_Format(RtpParseError,
                     "RTP padding count %d exceeds the %zd octets after the header", pad,
                     n - pos);
        return -1;
    }
    h->end = n - pad;
    return 0;
}

static int
parse_header_c(const unsigned char *p, Py_ssize_t n, hdr_t *h)
{
    if (check_header(p, n, h) < 0) {
        return -1;
    }
    h->b1 = p[1];
    h->seq = ((unsigned long)p[2] << 8) | p[3];
    h->ts = u32_at(p + 4);
    h->ssrc = u32_at(p + 8);
    h->end = n;
    if (p[0] & 0x20) {
        return check_padding(p, n, h->pos, h);
    }
    return 0;
}

/* ---- RFC 8285 elements --------------------------------------------------------------- */

enum { OUT_SPANS, OUT_VALUES, OUT_FIND };

typedef struct {
    int mode;
    PyObject *list;        /* OUT_SPANS, OUT_VALUES */
    PyObject *src;         /* OUT_VALUES: the object the values are sliced from */
    const unsigned char *p;
    long long want;        /* OUT_FIND */
    int found;
    Py_ssize_t f_off, f_len;
} scan_t;

static PyObject *
span_tuple(long eid, Py_ssize_t off, Py_ssize_t len)
{
    PyObject *t = PyTuple_New(3);
    if (t == NULL) {
        return NULL;
    }
    PyObject *a = PyLong_FromLong(eid);
    PyObject *b = PyLong_FromSsize_t(off);
    PyObject *c = PyLong_FromSsize_t(len);
    if (a == NULL || b == NULL || c == NULL) {
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_XDECREF(c);
        Py_DECREF(t);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, a);
    PyTuple_SET_ITEM(t, 1, b);
    PyTuple_SET_ITEM(t, 2, c);
    return t;
}

static int
emit(scan_t *s, long eid, Py_ssize_t off, Py_ssize_t len)
{
    PyObject *t;
    if (s->mode == OUT_FIND) {
        if (!s->found && eid == s->want) {
            s->found = 1;
            s->f_off = off;
            s->f_len = len;
        }
        return 0;
    }
    if (s->mode == OUT_SPANS) {
        t = span_tuple(eid, off, len);
    }
    else {
        PyObject *v;
        if (PyBytes_CheckExact(s->src)) {
            v = PyBytes_FromStringAndSize((const char *)s->p + off, len);
        }
        else if (PyByteArray_CheckExact(s->src)) {
            v = PyByteArray_FromStringAndSize((const char *)s->p + off, len);
        }
        else {
            v = PySequence_GetSlice(s->src, off, off + len);
        }
        if (v == NULL) {
            return -1;
        }
        PyObject *k = PyLong_FromLong(eid);
        if (k == NULL) {
            Py_DECREF(v);
            return -1;
        }
        t = PyTuple_Pack(2, k, v);
        Py_DECREF(k);
        Py_DECREF(v);
    }
    if (t == NULL) {
        return -1;
    }
    int rc = PyList_Append(s->list, t);
    Py_DECREF(t);
    return rc;
}

/* Scan data[i:end] (0 <= i, end <= len, or i >= end) as an RFC 8285 block of `profile`. */
static int
scan(const unsigned char *p, long long profile, Py_ssize_t i, Py_ssize_t end, scan_t *s)
{
    if (profile == ONE_BYTE_PROFILE) {
        while (i < end) {
            int b = p[i];
            if (b) {
                if (b < 0x10 || b > 0xEF) { /* ID 0 with a length, or ID 15: stop */
                    break;
                }
                Py_ssize_t j = i + 2 + (b & 0x0F);
                if (j > end) {
                    PyErr_Format(RtpParseError,
                                 "one-byte header extension element %d runs past the end "
                                 "of the block",
                                 b >> 4);
                    return -1;
                }
                if (emit(s, b >> 4, i + 1, j - i - 1) < 0) {
                    return -1;
                }
                i = j;
            }
            else {
                i++;
            }
        }
    }
    else if ((profile & TWO_BYTE_PROFILE_MASK) == TWO_BYTE_PROFILE) {
        while (i < end) {
            int eid = p[i];
            if (eid == 0) {
                i++;
                continue;
            }
            if (i + 1 >= end) {
                PyErr_Format(RtpParseError,
                             "two-byte header extension element %d has no length octet",
                             eid);
                return -1;
            }
            int ln = p[i + 1];
            i += 2;
            if (i + ln > end) {
                PyErr_Format(RtpParseError,
                             "two-byte header extension element %d runs past the end of the "
                             "block",
                             eid);
                return -1;
            }
            if (emit(s, eid, i, ln) < 0) {
                return -1;
            }
            i += ln;
        }
    }
    return 0;
}

/* The elements of the whole packet (parse_header + scan), into s. */
static int
packet_elements(const unsigned char *p, Py_ssize_t n, scan_t *s)
{
    hdr_t h;
    if (parse_header_c(p, n, &h) < 0) {
        return -1;
    }
    if (h.profile < 0) {
        return 0;
    }
    return scan(p, h.profile, h.ext_start, h.pos, s);
}

/* ---- read functions ------------------------------------------------------------------ */

PyDoc_STRVAR(parse_header_doc,
"parse_header($module, data)\n--\n\n"
"Validate the RTP framing of data and return (marker, payload_type, sequence_number,\n"
"timestamp, ssrc, ext_profile, ext_start, payload_start, payload_end).");

static PyObject *
fp_parse_header(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    buf_t b;
    hdr_t h;
    if (kwnames != NULL || nargs != 1 || !buf_get(args[0], &b, 0)) {
        DELEGATE(F_PARSE_HEADER);
    }
    int rc = parse_header_c(b.p, b.n, &h);
    buf_release(&b);
    if (rc < 0) {
        return NULL;
    }
    return Py_BuildValue("(Oikkklnnn)", h.b1 > 127 ? Py_True : Py_False, h.b1 & 0x7F,
                         h.seq, h.ts, h.ssrc, h.profile, h.ext_start, h.pos, h.end);
}

PyDoc_STRVAR(header_length_doc,
"header_length($module, data)\n--\n\n"
"Octets before the payload: 12 + 4*CC (+ 4 + 4*length with an extension).\n\n"
"Validates version, CSRC list and extension bounds (not padding).");

static PyObject *
fp_header_length(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    buf_t b;
    hdr_t h;
    if (kwnames != NULL || nargs != 1 || !buf_get(args[0], &b, 0)) {
        DELEGATE(F_HEADER_LENGTH);
    }
    int rc = check_header(b.p, b.n, &h);
    buf_release(&b);
    if (rc < 0) {
        return NULL;
    }
    return PyLong_FromSsize_t(h.pos);
}

/* scan_elements / scan_values: native when the arguments are plain ints and the scanned
 * range lies inside the buffer (or is empty); otherwise the twin decides. */
static PyObject *
scan_common(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, int fidx, int mode)
{
    buf_t b;
    long long profile, start, end;
    int o1, o2, o3;
    if (kwnames != NULL || nargs != 4 || !plain_int(args[1], &profile, &o1) ||
        !plain_int(args[2], &start, &o2) || !plain_int(args[3], &end, &o3) || o1 || o2 ||
        o3) {
        DELEGATE(fidx);
    }
    if (!buf_get(args[0], &b, 0)) {
        DELEGATE(fidx);
    }
    if (start < end && (start < 0 || end > (long long)b.n)) {
        buf_release(&b);
        DELEGATE(fidx);
    }
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        buf_release(&b);
        return NULL;
    }
    scan_t s = {.mode = mode, .list = list, .src = args[0], .p = b.p};
    int rc = scan(b.p, profile, (Py_ssize_t)start, (Py_ssize_t)end, &s);
    buf_release(&b);
    if (rc < 0) {
        Py_DECREF(list);
        return NULL;
    }
    return list;
}

PyDoc_STRVAR(scan_elements_doc,
"scan_elements($module, data, profile, start, end)\n--\n\n"
"RFC 8285 elements in data[start:end] as (id, value_offset, value_length).\n\n"
"Empty for profiles other than 0xBEDE and 0x100X. Raises RtpParseError when an element\n"
"runs past end.");

static PyObject *
fp_scan_elements(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return scan_common(args, nargs, kwnames, F_SCAN_ELEMENTS, OUT_SPANS);
}

PyDoc_STRVAR(scan_values_doc,
"scan_values($module, data, profile, start, end)\n--\n\n"
"Like scan_elements, but returns (id, value) pairs; values are slices of data.");

static PyObject *
fp_scan_values(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return scan_common(args, nargs, kwnames, F_SCAN_VALUES, OUT_VALUES);
}

PyDoc_STRVAR(extension_elements_doc,
"extension_elements($module, data)\n--\n\n"
"All RFC 8285 elements of the packet as (id, value_offset, value_length).");

static PyObject *
fp_extension_elements(PyObject *m, PyObject *const *args, Py_ssize_t nargs,
                      PyObject *kwnames)
{
    buf_t b;
    if (kwnames != NULL || nargs != 1 || !buf_get(args[0], &b, 0)) {
        DELEGATE(F_EXTENSION_ELEMENTS);
    }
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        buf_release(&b);
        return NULL;
    }
    scan_t s = {.mode = OUT_SPANS, .list = list, .src = args[0], .p = b.p};
    int rc = packet_elements(b.p, b.n, &s);
    buf_release(&b);
    if (rc < 0) {
        Py_DECREF(list);
        return NULL;
    }
    return list;
}

PyDoc_STRVAR(find_extension_doc,
"find_extension($module, data, ext_id)\n--\n\n"
"(value_offset, value_length) of the first element ext_id, or None.");

static PyObject *
fp_find_extension(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    buf_t b;
    long long want;
    int ovf;
    if (kwnames != NULL || nargs != 2 || !plain_int(args[1], &want, &ovf) ||
        !buf_get(args[0], &b, 0)) {
        DELEGATE(F_FIND_EXTENSION);
    }
    scan_t s = {.mode = OUT_FIND, .want = ovf ? -1 : want};
    int rc = packet_elements(b.p, b.n, &s);
    buf_release(&b);
    if (rc < 0) {
        return NULL;
    }
    if (!s.found) {
        Py_RETURN_NONE;
    }
    return Py_BuildValue("(nn)", s.f_off, s.f_len);
}

PyDoc_STRVAR(read_packet_doc,
"read_packet($module, data)\n--\n\n"
"Everything a forwarder reads from one packet, without building objects:\n"
"(marker, payload_type, sequence_number, timestamp, ssrc, payload_start, payload_end,\n"
"elements) where elements is a list of (id, offset, length).");

static PyObject *
fp_read_packet(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    buf_t b;
    hdr_t h;
    if (kwnames != NULL || nargs != 1 || !buf_get(args[0], &b, 0)) {
        DELEGATE(F_READ_PACKET);
    }
    const unsigned char *p = b.p;
    Py_ssize_t n = b.n;
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        buf_release(&b);
        return NULL;
    }
    scan_t s = {.mode = OUT_SPANS, .list = list, .src = args[0], .p = p};
    /* The twin's order of checks: the common WebRTC shape (v2, X=1, CC=0, one-byte form)
     * checks the extension length, then the elements, then padding; every other packet
     * checks the whole framing (padding included) before the elements. */
    if (n >= 16 && (p[0] & 0xDF) == 0x90 && p[12] == 0xBE && p[13] == 0xDE) {
        int words = (p[14] << 8) | p[15];
        Py_ssize_t pos = 16 + ((Py_ssize_t)words << 2);
        if (pos > n) {
            PyErr_Format(RtpParseError,
                         "RTP header extension (length field %d) runs past the end of the "
                         "packet",
                         words);
            goto fail;
        }
        if (scan(p, ONE_BYTE_PROFILE, 16, pos, &s) < 0) {
            goto fail;
        }
        h.end = n;
        if ((p[0] & 0x20) && check_padding(p, n, pos, &h) < 0) {
            goto fail;
        }
        h.pos = pos;
        h.b1 = p[1];
        h.seq = ((unsigned long)p[2] << 8) | p[3];
        h.ts = u32_at(p + 4);
        h.ssrc = u32_at(p + 8);
    }
    else {
        if (parse_header_c(p, n, &h) < 0) {
            goto fail;
        }
        if (h.profile >= 0 && scan(p, h.profile, h.ext_start, h.pos, &s) < 0) {
            goto fail;
        }
    }
    buf_release(&b);
    PyObject *t = PyTuple_New(8);
    if (t == NULL) {
        Py_DECREF(list);
        return NULL;
    }
    PyObject *marker = h.b1 > 127 ? Py_True : Py_False;
    Py_INCREF(marker);
    PyTuple_SET_ITEM(t, 0, marker);
    PyTuple_SET_ITEM(t, 7, list);
    PyObject *v;
#define SET(i, expr)                                                                       \
    if ((v = (expr)) == NULL) {                                                            \
        Py_DECREF(t);                                                                      \
        return NULL;                                                                       \
    }                                                                                      \
    PyTuple_SET_ITEM(t, i, v);
    SET(1, PyLong_FromLong(h.b1 & 0x7F));
    SET(2, PyLong_FromUnsignedLong(h.seq));
    SET(3, PyLong_FromUnsignedLong(h.ts));
    SET(4, PyLong_FromUnsignedLong(h.ssrc));
    SET(5, PyLong_FromSsize_t(h.pos));
    SET(6, PyLong_FromSsize_t(h.end));
#undef SET
    return t;
fail:
    buf_release(&b);
    Py_DECREF(list);
    return NULL;
}

/* ---- rewrites ------------------------------------------------------------------------ */

static inline void
put_u32(unsigned char *p, unsigned long long v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

PyDoc_STRVAR(rewrite_header_doc,
"rewrite_header($module, buf, ssrc, sequence_number, timestamp)\n--\n\n"
"Overwrite SSRC, sequence number and timestamp of the packet in buf in place.\n\n"
"Values are range-checked first, so buf is unchanged when this raises ValueError.");

static PyObject *
fp_rewrite_header(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    buf_t b;
    long long ssrc, seq, ts;
    int o1, o2, o3;
    if (kwnames != NULL || nargs != 4 || !plain_int(args[1], &ssrc, &o1) ||
        !plain_int(args[2], &seq, &o2) || !plain_int(args[3], &ts, &o3)) {
        DELEGATE(F_REWRITE_HEADER);
    }
    if (o1 || o2 || o3 || ssrc < 0 || ssrc > 0xFFFFFFFFLL || seq < 0 || seq > 0xFFFF ||
        ts < 0 || ts > 0xFFFFFFFFLL) {
        PyErr_Format(PyExc_ValueError,
                     "cannot rewrite RTP header: SSRC %S, sequence number %S or timestamp %S "
                     "out of range",
                     args[1], args[2], args[3]);
        return NULL;
    }
    if (!buf_get(args[0], &b, 1)) {
        DELEGATE(F_REWRITE_HEADER);
    }
    if (b.n < 12) {
        PyErr_Format(PyExc_ValueError,
                     "cannot rewrite RTP header: pack_into requires a buffer of at least 12 "
                     "bytes for packing 10 bytes at offset 2 (actual buffer size is %zd)",
                     b.n);
        buf_release(&b);
        return NULL;
    }
    b.p[2] = (unsigned char)(seq >> 8);
    b.p[3] = (unsigned char)seq;
    put_u32(b.p + 4, (unsigned long long)ts);
    put_u32(b.p + 8, (unsigned long long)ssrc);
    buf_release(&b);
    Py_RETURN_NONE;
}

/* set_ssrc / set_sequence_number / set_timestamp: `size` octets big-endian at `offset`. */
static PyObject *
set_field(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, int fidx,
          Py_ssize_t offset, int size, long long limit, const char *what)
{
    buf_t b;
    long long value;
    int ovf;
    if (kwnames != NULL || nargs != 2 || !plain_int(args[1], &value, &ovf)) {
        DELEGATE(fidx);
    }
    if (ovf || value < 0 || value > limit) {
        PyErr_Format(PyExc_ValueError, "cannot set %s: %S is not in 0..%lld", what, args[1],
                     limit);
        return NULL;
    }
    if (!buf_get(args[0], &b, 1)) {
        DELEGATE(fidx);
    }
    if (b.n - offset < size) {
        PyErr_Format(PyExc_ValueError,
                     "cannot set %s: pack_into requires a buffer of at least %zd bytes for "
                     "packing %d bytes at offset %zd (actual buffer size is %zd)",
                     what, offset + size, size, offset, b.n);
        buf_release(&b);
        return NULL;
    }
    for (int i = size - 1; i >= 0; i--) {
        b.p[offset + i] = (unsigned char)value;
        value >>= 8;
    }
    buf_release(&b);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(set_ssrc_doc,
"set_ssrc($module, buf, ssrc)\n--\n\nOverwrite the SSRC (octets 8-11) in place.");

static PyObject *
fp_set_ssrc(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return set_field(args, nargs, kwnames, F_SET_SSRC, 8, 4, 0xFFFFFFFFLL, "SSRC");
}

PyDoc_STRVAR(set_sequence_number_doc,
"set_sequence_number($module, buf, sequence_number)\n--\n\n"
"Overwrite the sequence number (octets 2-3) in place.");

static PyObject *
fp_set_sequence_number(PyObject *m, PyObject *const *args, Py_ssize_t nargs,
                       PyObject *kwnames)
{
    return set_field(args, nargs, kwnames, F_SET_SEQUENCE_NUMBER, 2, 2, 0xFFFF,
                     "sequence number");
}

PyDoc_STRVAR(set_timestamp_doc,
"set_timestamp($module, buf, timestamp)\n--\n\n"
"Overwrite the timestamp (octets 4-7) in place.");

static PyObject *
fp_set_timestamp(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return set_field(args, nargs, kwnames, F_SET_TIMESTAMP, 4, 4, 0xFFFFFFFFLL, "timestamp");
}

PyDoc_STRVAR(set_marker_doc,
"set_marker($module, buf, marker)\n--\n\nSet or clear the marker bit in place.");

static PyObject *
fp_set_marker(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    buf_t b;
    if (kwnames != NULL || nargs != 2 || !buf_get(args[0], &b, 1)) {
        DELEGATE(F_SET_MARKER);
    }
    if (b.n < 2) {
        buf_release(&b);
        DELEGATE(F_SET_MARKER);
    }
    int on = PyObject_IsTrue(args[1]);
    if (on < 0) {
        buf_release(&b);
        return NULL;
    }
    b.p[1] = on ? (b.p[1] | 0x80) : (b.p[1] & 0x7F);
    buf_release(&b);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(set_payload_type_doc,
"set_payload_type($module, buf, payload_type)\n--\n\n"
"Overwrite the 7-bit payload type in place, keeping the marker bit.");

static PyObject *
fp_set_payload_type(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    buf_t b;
    long long pt;
    int ovf;
    if (kwnames != NULL || nargs != 2 || !plain_int(args[1], &pt, &ovf)) {
        DELEGATE(F_SET_PAYLOAD_TYPE);
    }
    if (ovf || pt < 0 || pt > 127) {
        PyErr_Format(PyExc_ValueError, "payload type %S is not in 0..127", args[1]);
        return NULL;
    }
    if (!buf_get(args[0], &b, 1)) {
        DELEGATE(F_SET_PAYLOAD_TYPE);
    }
    if (b.n < 2) {
        buf_release(&b);
        DELEGATE(F_SET_PAYLOAD_TYPE);
    }
    b.p[1] = (unsigned char)((b.p[1] & 0x80) | pt);
    buf_release(&b);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(write_extension_doc,
"write_extension($module, buf, ext_id, value)\n--\n\n"
"Overwrite the value of element ext_id in place; False when it is absent.\n\n"
"The new value must have the element's current length (the block is not resized).");

static PyObject *
fp_write_extension(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    buf_t b;
    long long want;
    int ovf;
    if (kwnames != NULL || nargs != 3 || !plain_int(args[1], &want, &ovf) ||
        !(PyBytes_CheckExact(args[2]) || PyByteArray_CheckExact(args[2])) ||
        !buf_get(args[0], &b, 1)) {
        DELEGATE(F_WRITE_EXTENSION);
    }
    scan_t s = {.mode = OUT_FIND, .want = ovf ? -1 : want};
    if (packet_elements(b.p, b.n, &s) < 0) {
        buf_release(&b);
        return NULL;
    }
    if (!s.found) {
        buf_release(&b);
        Py_RETURN_FALSE;
    }
    PyObject *value = args[2];
    Py_ssize_t vlen = PyBytes_CheckExact(value) ? PyBytes_GET_SIZE(value)
                                                : PyByteArray_GET_SIZE(value);
    if (vlen != s.f_len) {
        buf_release(&b);
        PyErr_Format(PyExc_ValueError,
                     "extension %S value is %zd octets, cannot write %zd in place", args[1],
                     s.f_len, vlen);
        return NULL;
    }
    const char *src = PyBytes_CheckExact(value) ? PyBytes_AS_STRING(value)
                                                : PyByteArray_AS_STRING(value);
    memmove(b.p + s.f_off, src, (size_t)vlen);
    buf_release(&b);
    Py_RETURN_TRUE;
}

/* ---- module -------------------------------------------------------------------------- */

#define FN(name) \
    {#name, (PyCFunction)(void (*)(void))fp_##name, METH_FASTCALL | METH_KEYWORDS, name##_doc}

static PyMethodDef fastpath_methods[] = {
    FN(parse_header),
    FN(header_length),
    FN(scan_elements),
    FN(scan_values),
    FN(extension_elements),
    FN(find_extension),
    FN(read_packet),
    FN(rewrite_header),
    FN(set_ssrc),
    FN(set_sequence_number),
    FN(set_timestamp),
    FN(set_marker),
    FN(set_payload_type),
    FN(write_extension),
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(module_doc,
"C backend of rtpstack.fastpath: RTP header reads and in-place rewrites.\n\n"
"Import rtpstack.fastpath, which picks this module when it was built. Same functions,\n"
"results, exceptions and messages as the pure-Python twin rtpstack._fastpath_py.");

static struct PyModuleDef fastpath_module = {
    PyModuleDef_HEAD_INIT, "rtpstack._fastpath", module_doc, -1, fastpath_methods,
};

PyMODINIT_FUNC
PyInit__fastpath(void)
{
    PyObject *errors = PyImport_ImportModule("rtpstack.errors");
    if (errors == NULL) {
        return NULL;
    }
    RtpParseError = PyObject_GetAttrString(errors, "RtpParseError");
    Py_DECREF(errors);
    if (RtpParseError == NULL) {
        return NULL;
    }
    PyObject *py = PyImport_ImportModule("rtpstack._fastpath_py");
    if (py == NULL) {
        return NULL;
    }
    for (int i = 0; i < F_COUNT; i++) {
        twin[i] = PyObject_GetAttrString(py, twin_names[i]);
        if (twin[i] == NULL) {
            Py_DECREF(py);
            return NULL;
        }
    }
    Py_DECREF(py);
    PyObject *mod = PyModule_Create(&fastpath_module);
    if (mod == NULL) {
        return NULL;
    }
    if (PyModule_AddStringConstant(mod, "NAME", "c") < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
