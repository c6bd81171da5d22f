/*
 * snakafka.protocol._record_scan: the C version of record_scan.scan_records_py.
 *
 * scan(data, count) -> (min_delta, max_delta, first_keyless, error_index, error)
 *
 * Walks the `count` records of a magic-2 records section (uncompressed bytes) and checks
 * their framing exactly as the pure-Python reference in record_scan.py does, with the
 * same results and messages (the unit tests compare the two on arbitrary input). It
 * reads, never allocates per record: the produce path runs it over every byte produced.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define STRUCTURE "Found invalid record structure"

enum { OK = 0, PAST_END = 1, TOO_LONG = 2 };

/* Kafka's readVarint (int32, at most 5 bytes, bits beyond 32 dropped), bounded by end. */
static inline __attribute__((always_inline)) int read_varint(const unsigned char *d, Py_ssize_t *pos, Py_ssize_t end, int32_t *out) {
    Py_ssize_t q = *pos;
    if (q < end && d[q] < 0x80) { /* the common case: one byte (lengths below 64, small deltas, -1) */
        uint32_t z = d[q];
        *out = (int32_t)((z >> 1) ^ (uint32_t)(-(int32_t)(z & 1)));
        *pos = q + 1;
        return OK;
    }
    if (q + 1 < end && d[q + 1] < 0x80) { /* two bytes: lengths of 100-byte values, deltas below 8192 */
        uint32_t z = (uint32_t)(d[q] & 0x7F) | ((uint32_t)d[q + 1] << 7);
        *out = (int32_t)((z >> 1) ^ (uint32_t)(-(int32_t)(z & 1)));
        *pos = q + 2;
        return OK;
    }
    uint64_t value = 0;
    int shift = 0;
    Py_ssize_t p = *pos;
    for (;;) {
        if (p >= end) return PAST_END;
        unsigned char b = d[p++];
        value |= (uint64_t)(b & 0x7F) << shift;
        if (b < 0x80) break;
        shift += 7;
        if (shift > 28) return TOO_LONG;
    }
    uint32_t v = (uint32_t)(value & 0xFFFFFFFFu);
    *out = (int32_t)((v >> 1) ^ (uint32_t)(-(int32_t)(v & 1)));
    *pos = p;
    return OK;
}

/* Kafka's readVarlong (int64, at most 10 bytes), bounded by end. */
static inline __attribute__((always_inline)) int read_varlong(const unsigned char *d, Py_ssize_t *pos, Py_ssize_t end, int64_t *out) {
    Py_ssize_t q = *pos;
    if (q < end && d[q] < 0x80) {
        uint64_t z = d[q];
        *out = (int64_t)((z >> 1) ^ (uint64_t)(-(int64_t)(z & 1)));
        *pos = q + 1;
        return OK;
    }
    if (q + 1 < end && d[q + 1] < 0x80) {
        uint64_t z = (uint64_t)(d[q] & 0x7F) | ((uint64_t)d[q + 1] << 7);
        *out = (int64_t)((z >> 1) ^ (uint64_t)(-(int64_t)(z & 1)));
        *pos = q + 2;
        return OK;
    }
    uint64_t value = 0;
    int shift = 0;
    Py_ssize_t p = *pos;
    for (;;) {
        if (p >= end) return PAST_END;
        unsigned char b = d[p++];
        if (shift < 64) value |= (uint64_t)(b & 0x7F) << shift;
        if (b < 0x80) break;
        shift += 7;
        if (shift > 63) return TOO_LONG;
    }
    *out = (int64_t)((value >> 1) ^ (uint64_t)(-(int64_t)(value & 1)));
    *pos = p;
    return OK;
}

/* What went wrong, for the message (built only once a scan has failed). */
enum {
    E_NONE = 0, E_EOF, E_REMAINING, E_VARINT_PAST, E_VARINT_LONG, E_VARLONG_PAST, E_VARLONG_LONG, E_SIZE,
    E_EMPTY, E_OFFSET, E_KEY, E_VALUE, E_HEADERS_NEG, E_HEADERS_MANY, E_HKEY_NEG, E_HKEY, E_HVALUE, E_READ,
};

typedef struct {
    int kind;
    long a;       /* the declared length / count / offset delta involved */
    Py_ssize_t b; /* the bytes remaining / read */
} Failure;

static inline int varint_kind(int rc) { return rc == PAST_END ? E_VARINT_PAST : E_VARINT_LONG; }
static inline int varlong_kind(int rc) { return rc == PAST_END ? E_VARLONG_PAST : E_VARLONG_LONG; }

/* Check the record at *pos (index `index`); on success *pos moves to its end. The next
 * record's position comes from the length alone, so the CPU can walk on to it while the
 * fields of this one are still being checked (no dependency through the field parse). */
static inline __attribute__((always_inline)) int check_record(const unsigned char *d, Py_ssize_t *pos, Py_ssize_t n, long index,
                               int64_t *ts_delta, int *has_key, Failure *f) {
    Py_ssize_t p = *pos;
    int32_t length, v;
    int rc;
    if (p >= n) return E_EOF;
    rc = read_varint(d, &p, n, &length);
    if (rc == PAST_END) return E_EOF;
    if (rc) return E_VARINT_LONG;
    if (length < 0 || (Py_ssize_t)length > n - p) {
        f->a = length;
        f->b = n - p;
        return E_SIZE;
    }
    Py_ssize_t start = p, end = p + length;
    if (p >= end) return E_EMPTY;
    Py_ssize_t q = p + 1; /* after the attributes byte */
    if ((rc = read_varlong(d, &q, end, ts_delta))) return varlong_kind(rc);
    if ((rc = read_varint(d, &q, end, &v))) return varint_kind(rc);
    if ((long)v != index) {
        f->a = v;
        return E_OFFSET;
    }
    if ((rc = read_varint(d, &q, end, &v))) return varint_kind(rc);
    *has_key = v >= 0;
    if (v >= 0) {
        if ((Py_ssize_t)v > end - q) { f->a = v; return E_KEY; }
        q += v;
    }
    if ((rc = read_varint(d, &q, end, &v))) return varint_kind(rc);
    if (v >= 0) {
        if ((Py_ssize_t)v > end - q) { f->a = v; return E_VALUE; }
        q += v;
    }
    int32_t headers;
    if ((rc = read_varint(d, &q, end, &headers))) return varint_kind(rc);
    if (headers < 0) { f->a = headers; return E_HEADERS_NEG; }
    if ((Py_ssize_t)headers > end - q) { f->a = headers; return E_HEADERS_MANY; }
    for (int32_t h = 0; h < headers; h++) {
        if ((rc = read_varint(d, &q, end, &v))) return varint_kind(rc);
        if (v < 0) { f->a = v; return E_HKEY_NEG; }
        if ((Py_ssize_t)v > end - q) { f->a = v; return E_HKEY; }
        q += v;
        if ((rc = read_varint(d, &q, end, &v))) return varint_kind(rc);
        if (v >= 0) {
            if ((Py_ssize_t)v > end - q) { f->a = v; return E_HVALUE; }
            q += v;
        }
    }
    if (q != end) {
        f->a = length;
        f->b = q - start;
        return E_READ;
    }
    *pos = end;
    return E_NONE;
}

static PyObject *message(const Failure *f, long index) {
    switch (f->kind) {
    case E_EOF: return PyUnicode_FromString("Incorrect declared batch size, premature EOF reached");
    case E_REMAINING: return PyUnicode_FromString("Incorrect declared batch size, records still remaining in file");
    case E_VARINT_PAST: return PyUnicode_FromString(STRUCTURE ": a varint runs past the end of its record");
    case E_VARINT_LONG: return PyUnicode_FromString(STRUCTURE ": a varint is longer than 5 bytes");
    case E_VARLONG_PAST: return PyUnicode_FromString(STRUCTURE ": a varlong runs past the end of its record");
    case E_VARLONG_LONG: return PyUnicode_FromString(STRUCTURE ": a varlong is longer than 10 bytes");
    case E_SIZE:
        return PyUnicode_FromFormat("Invalid record size: expected %ld bytes in record payload, but instead the "
                                    "buffer has only %zd remaining bytes.", f->a, f->b);
    case E_EMPTY: return PyUnicode_FromString(STRUCTURE ": an empty record");
    case E_OFFSET:
        return PyUnicode_FromFormat("Record %ld has offset delta %ld: offset deltas must run 0, 1, 2... in order",
                                    index, f->a);
    case E_KEY: return PyUnicode_FromFormat(STRUCTURE ": the key (%ld bytes) overruns its record", f->a);
    case E_VALUE: return PyUnicode_FromFormat(STRUCTURE ": the value (%ld bytes) overruns its record", f->a);
    case E_HEADERS_NEG: return PyUnicode_FromFormat("Found invalid number of record headers %ld", f->a);
    case E_HEADERS_MANY:
        return PyUnicode_FromFormat("Found invalid number of record headers. %ld is larger than the remaining "
                                    "size of the buffer", f->a);
    case E_HKEY_NEG: return PyUnicode_FromFormat("Invalid negative header key size %ld", f->a);
    case E_HKEY: return PyUnicode_FromFormat(STRUCTURE ": a header key (%ld bytes) overruns its record", f->a);
    case E_HVALUE: return PyUnicode_FromFormat(STRUCTURE ": a header value (%ld bytes) overruns its record", f->a);
    default:
        return PyUnicode_FromFormat("Invalid record size: expected to read %ld bytes in record payload, but "
                                    "instead read %zd", f->a, f->b);
    }
}

static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer buf;
    long count;
    if (!PyArg_ParseTuple(args, "y*l", &buf, &count)) return NULL;
    const unsigned char *d = (const unsigned char *)buf.buf;
    Py_ssize_t n = buf.len, pos = 0;
    int64_t lo = INT64_MAX, hi = INT64_MIN, delta = 0;
    int has_key = 1, kind = E_NONE;
    long keyless = -1, index = 0;
    Failure f = {E_NONE, 0, 0};

    for (; index < count; index++) {
        kind = check_record(d, &pos, n, index, &delta, &has_key, &f);
        if (kind != E_NONE) break;
        lo = delta < lo ? delta : lo;
        hi = delta > hi ? delta : hi;
        if (!has_key && keyless < 0) keyless = index;
    }
    int have = index > 0;
    if (kind == E_NONE && pos != n) {
        index = count > 0 ? count - 1 : 0;
        kind = E_REMAINING;
    }
    f.kind = kind;
    PyBuffer_Release(&buf);
    PyObject *lo_obj, *hi_obj;
    if (have) {
        lo_obj = PyLong_FromLongLong(lo);
        hi_obj = PyLong_FromLongLong(hi);
    } else {
        lo_obj = Py_NewRef(Py_None);
        hi_obj = Py_NewRef(Py_None);
    }
    if (kind == E_NONE) return Py_BuildValue("(NNlis)", lo_obj, hi_obj, keyless, -1, NULL);
    return Py_BuildValue("(NNllN)", lo_obj, hi_obj, keyless, index, message(&f, index));
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, "scan(data, count) -> (min_delta, max_delta, first_keyless, error_index, error)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_record_scan",
                                    "Framing scan of magic-2 records (see record_scan.py).", -1, methods};

PyMODINIT_FUNC PyInit__record_scan(void) { return PyModule_Create(&module); }
