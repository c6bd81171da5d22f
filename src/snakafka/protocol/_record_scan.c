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
static int read_varint(const unsigned char *d, Py_ssize_t *pos, Py_ssize_t end, int32_t *out) {
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
static int read_varlong(const unsigned char *d, Py_ssize_t *pos, Py_ssize_t end, int64_t *out) {
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

static PyObject *varint_error(int rc, const char *kind) {
    if (rc == PAST_END)
        return PyUnicode_FromFormat(STRUCTURE ": a %s runs past the end of its record", kind);
    return PyUnicode_FromFormat(STRUCTURE ": a %s is longer than %s bytes", kind,
                                kind[3] == 'l' ? "10" : "5");
}

/* One record at *pos (index `index`); on error returns a new message string. */
static PyObject *read_record(const unsigned char *d, Py_ssize_t *pos, Py_ssize_t n, long index,
                             int64_t *ts_delta, int *has_key) {
    Py_ssize_t p = *pos;
    int32_t length, v;
    int rc;
    if (p >= n) return PyUnicode_FromString("Incorrect declared batch size, premature EOF reached");
    rc = read_varint(d, &p, n, &length);
    if (rc == PAST_END) return PyUnicode_FromString("Incorrect declared batch size, premature EOF reached");
    if (rc) return varint_error(rc, "varint");
    if (length < 0 || (Py_ssize_t)length > n - p)
        return PyUnicode_FromFormat("Invalid record size: expected %d bytes in record payload, but instead the "
                                    "buffer has only %zd remaining bytes.", (int)length, n - p);
    Py_ssize_t start = p, end = p + length;
    if (p >= end) return PyUnicode_FromString(STRUCTURE ": an empty record");
    p += 1; /* attributes */
    if ((rc = read_varlong(d, &p, end, ts_delta))) return varint_error(rc, "varlong");
    if ((rc = read_varint(d, &p, end, &v))) return varint_error(rc, "varint");
    if ((long)v != index)
        return PyUnicode_FromFormat("Record %ld has offset delta %d: offset deltas must run 0, 1, 2... in order",
                                    index, (int)v);
    if ((rc = read_varint(d, &p, end, &v))) return varint_error(rc, "varint");
    *has_key = v >= 0;
    if (v >= 0) {
        if ((Py_ssize_t)v > end - p)
            return PyUnicode_FromFormat(STRUCTURE ": the key (%d bytes) overruns its record", (int)v);
        p += v;
    }
    if ((rc = read_varint(d, &p, end, &v))) return varint_error(rc, "varint");
    if (v >= 0) {
        if ((Py_ssize_t)v > end - p)
            return PyUnicode_FromFormat(STRUCTURE ": the value (%d bytes) overruns its record", (int)v);
        p += v;
    }
    int32_t headers;
    if ((rc = read_varint(d, &p, end, &headers))) return varint_error(rc, "varint");
    if (headers < 0) return PyUnicode_FromFormat("Found invalid number of record headers %d", (int)headers);
    if ((Py_ssize_t)headers > end - p)
        return PyUnicode_FromFormat("Found invalid number of record headers. %d is larger than the remaining size "
                                    "of the buffer", (int)headers);
    for (int32_t h = 0; h < headers; h++) {
        if ((rc = read_varint(d, &p, end, &v))) return varint_error(rc, "varint");
        if (v < 0) return PyUnicode_FromFormat("Invalid negative header key size %d", (int)v);
        if ((Py_ssize_t)v > end - p)
            return PyUnicode_FromFormat(STRUCTURE ": a header key (%d bytes) overruns its record", (int)v);
        p += v;
        if ((rc = read_varint(d, &p, end, &v))) return varint_error(rc, "varint");
        if (v >= 0) {
            if ((Py_ssize_t)v > end - p)
                return PyUnicode_FromFormat(STRUCTURE ": a header value (%d bytes) overruns its record", (int)v);
            p += v;
        }
    }
    if (p != end)
        return PyUnicode_FromFormat("Invalid record size: expected to read %d bytes in record payload, but instead "
                                    "read %zd", (int)length, p - start);
    *pos = end;
    return NULL;
}

static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer buf;
    long count;
    if (!PyArg_ParseTuple(args, "y*l", &buf, &count)) return NULL;
    const unsigned char *d = (const unsigned char *)buf.buf;
    Py_ssize_t n = buf.len, pos = 0;
    int64_t lo = 0, hi = 0, delta = 0;
    int have = 0, has_key = 1;
    long keyless = -1, index = 0;
    PyObject *error = NULL;

    for (; index < count; index++) {
        error = read_record(d, &pos, n, index, &delta, &has_key);
        if (error) break;
        if (!have || delta < lo) lo = delta;
        if (!have || delta > hi) hi = delta;
        have = 1;
        if (!has_key && keyless < 0) keyless = index;
    }
    if (!error && pos != n) {
        index = count > 0 ? count - 1 : 0;
        error = PyUnicode_FromString("Incorrect declared batch size, records still remaining in file");
    }
    PyBuffer_Release(&buf);
    if (PyErr_Occurred()) {
        Py_XDECREF(error);
        return NULL;
    }
    PyObject *lo_obj, *hi_obj;
    if (have) {
        lo_obj = PyLong_FromLongLong(lo);
        hi_obj = PyLong_FromLongLong(hi);
    } else {
        lo_obj = Py_NewRef(Py_None);
        hi_obj = Py_NewRef(Py_None);
    }
    if (!error) {
        return Py_BuildValue("(NNlis)", lo_obj, hi_obj, keyless, -1, NULL);
    }
    return Py_BuildValue("(NNllN)", lo_obj, hi_obj, keyless, index, error);
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, "scan(data, count) -> (min_delta, max_delta, first_keyless, error_index, error)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_record_scan",
                                    "Framing scan of magic-2 records (see record_scan.py).", -1, methods};

PyMODINIT_FUNC PyInit__record_scan(void) { return PyModule_Create(&module); }
