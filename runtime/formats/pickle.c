/* pickle.c — the restricted pickle machine (see pickle.h for what it accepts and why).
 *
 * Values are allocated in blocks owned by the evk_pickle and freed together, so sharing through
 * the memo needs no reference counts. Every opcode's operand is bounds-checked against the bytes
 * left before it is read; every count that grows memory (values, container items, stack, marks,
 * memo) has a fixed limit, so the memory used stays within a small multiple of the input. */
#include "formats/pickle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVK__PK_BLOCK 256
#define EVK__PK_MAX_ITEMS (1u << 24)
#define EVK__PK_MAX_GLOBAL 256

typedef struct evk__pblock {
    struct evk__pblock *next;
    size_t used;
    evk_pvalue v[EVK__PK_BLOCK];
} evk__pblock;

struct evk_pickle {
    evk__pblock *blocks;
    size_t values, items;
    const evk_pvalue *root;
};

static const struct { const char *module, *name; } evk__pk_globals[EVK_PG_COUNT] = {
    [EVK_PG_ORDERED_DICT] = {"collections", "OrderedDict"},
    [EVK_PG_TORCH_SIZE] = {"torch", "Size"},
    [EVK_PG_REBUILD_TENSOR] = {"torch._utils", "_rebuild_tensor"},
    [EVK_PG_REBUILD_TENSOR_V2] = {"torch._utils", "_rebuild_tensor_v2"},
    [EVK_PG_REBUILD_PARAMETER] = {"torch._utils", "_rebuild_parameter"},
    [EVK_PG_REBUILD_PARAMETER_WS] = {"torch._utils", "_rebuild_parameter_with_state"},
    [EVK_PG_STORAGE_F64] = {"torch", "DoubleStorage"},
    [EVK_PG_STORAGE_F32] = {"torch", "FloatStorage"},
    [EVK_PG_STORAGE_F16] = {"torch", "HalfStorage"},
    [EVK_PG_STORAGE_BF16] = {"torch", "BFloat16Storage"},
    [EVK_PG_STORAGE_I64] = {"torch", "LongStorage"},
    [EVK_PG_STORAGE_I32] = {"torch", "IntStorage"},
    [EVK_PG_STORAGE_I16] = {"torch", "ShortStorage"},
    [EVK_PG_STORAGE_I8] = {"torch", "CharStorage"},
    [EVK_PG_STORAGE_U8] = {"torch", "ByteStorage"},
    [EVK_PG_STORAGE_BOOL] = {"torch", "BoolStorage"},
};

const char *evk_pglobal_name(evk_pglobal g) {
    static const char *const names[EVK_PG_COUNT] = {
        [EVK_PG_ORDERED_DICT] = "collections.OrderedDict",
        [EVK_PG_TORCH_SIZE] = "torch.Size",
        [EVK_PG_REBUILD_TENSOR] = "torch._utils._rebuild_tensor",
        [EVK_PG_REBUILD_TENSOR_V2] = "torch._utils._rebuild_tensor_v2",
        [EVK_PG_REBUILD_PARAMETER] = "torch._utils._rebuild_parameter",
        [EVK_PG_REBUILD_PARAMETER_WS] = "torch._utils._rebuild_parameter_with_state",
        [EVK_PG_STORAGE_F64] = "torch.DoubleStorage",
        [EVK_PG_STORAGE_F32] = "torch.FloatStorage",
        [EVK_PG_STORAGE_F16] = "torch.HalfStorage",
        [EVK_PG_STORAGE_BF16] = "torch.BFloat16Storage",
        [EVK_PG_STORAGE_I64] = "torch.LongStorage",
        [EVK_PG_STORAGE_I32] = "torch.IntStorage",
        [EVK_PG_STORAGE_I16] = "torch.ShortStorage",
        [EVK_PG_STORAGE_I8] = "torch.CharStorage",
        [EVK_PG_STORAGE_U8] = "torch.ByteStorage",
        [EVK_PG_STORAGE_BOOL] = "torch.BoolStorage",
    };
    return (unsigned)g < EVK_PG_COUNT && names[g] ? names[g] : "?";
}

/* Names of every pickle opcode, so a refused one is reported by name. */
static const char *evk__pk_opname(uint8_t op) {
    switch (op) {
    case '(': return "MARK"; case '.': return "STOP"; case '0': return "POP"; case '1': return "POP_MARK";
    case '2': return "DUP"; case 'F': return "FLOAT"; case 'I': return "INT"; case 'J': return "BININT";
    case 'K': return "BININT1"; case 'L': return "LONG"; case 'M': return "BININT2"; case 'N': return "NONE";
    case 'P': return "PERSID"; case 'Q': return "BINPERSID"; case 'R': return "REDUCE"; case 'S': return "STRING";
    case 'T': return "BINSTRING"; case 'U': return "SHORT_BINSTRING"; case 'V': return "UNICODE";
    case 'X': return "BINUNICODE"; case 'a': return "APPEND"; case 'b': return "BUILD"; case 'c': return "GLOBAL";
    case 'd': return "DICT"; case '}': return "EMPTY_DICT"; case 'e': return "APPENDS"; case 'g': return "GET";
    case 'h': return "BINGET"; case 'i': return "INST"; case 'j': return "LONG_BINGET"; case 'l': return "LIST";
    case ']': return "EMPTY_LIST"; case 'o': return "OBJ"; case 'p': return "PUT"; case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT"; case 's': return "SETITEM"; case 't': return "TUPLE"; case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS"; case 'G': return "BINFLOAT"; case 0x80: return "PROTO"; case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1"; case 0x83: return "EXT2"; case 0x84: return "EXT4"; case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2"; case 0x87: return "TUPLE3"; case 0x88: return "NEWTRUE"; case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1"; case 0x8b: return "LONG4"; case 'B': return "BINBYTES"; case 'C': return "SHORT_BINBYTES";
    case 0x8c: return "SHORT_BINUNICODE"; case 0x8d: return "BINUNICODE8"; case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET"; case 0x90: return "ADDITEMS"; case 0x91: return "FROZENSET"; case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL"; case 0x94: return "MEMOIZE"; case 0x95: return "FRAME"; case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER"; case 0x98: return "READONLY_BUFFER";
    default: return NULL;
    }
}

void evk_pickle_free(evk_pickle *p) {
    if (!p) return;
    for (evk__pblock *b = p->blocks; b;) {
        for (size_t i = 0; i < b->used; i++) {
            free(b->v[i].items);
            if (b->v[i].kind == EVK_PK_STR) free((void *)b->v[i].s);
        }
        evk__pblock *next = b->next;
        free(b);
        b = next;
    }
    free(p);
}

const evk_pvalue *evk_pickle_root(const evk_pickle *p) { return p->root; }

/* The machine's state while loading. */
typedef struct evk__pm {
    evk_pickle *p;
    const char *label;
    const uint8_t *b;
    size_t n, at;      /* bytes, read position */
    size_t op_at;      /* position of the current opcode */
    evk_pvalue **stack;
    size_t depth, stack_cap;
    size_t marks[EVK_PICKLE_MAX_MARKS];
    size_t nmarks;
    evk_pvalue **memo;
    size_t memo_cap, memo_len; /* slots, slots filled (MEMOIZE stores at memo_len, as Python does) */
} evk__pm;

/* EVK_ERROR_FORMAT naming the pickle and the offset of the opcode being run. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static evk_status evk__pk_fail(const evk__pm *m, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return evk_fail(EVK_ERROR_FORMAT, "%s: pickle byte %zu: %s", m->label, m->op_at, msg);
}


static evk_status evk__pk_new(evk__pm *m, evk_pkind kind, evk_pvalue **out) {
    *out = NULL; /* set on every path: callers read it only after success, but need not prove that */
    evk_pickle *p = m->p;
    if (p->values >= EVK_PICKLE_MAX_VALUES) return evk__pk_fail(m, "more than %u values", EVK_PICKLE_MAX_VALUES);
    if (!p->blocks || p->blocks->used == EVK__PK_BLOCK) {
        evk__pblock *b = malloc(sizeof *b);
        if (!b) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", m->label);
        b->next = p->blocks;
        b->used = 0;
        p->blocks = b;
    }
    evk_pvalue *v = &p->blocks->v[p->blocks->used++];
    memset(v, 0, sizeof *v);
    v->kind = kind;
    v->pos = m->op_at;
    p->values++;
    *out = v;
    return EVK_OK;
}

/* Room for `more` items in a container. */
static evk_status evk__pk_reserve(evk__pm *m, evk_pvalue *v, size_t more) {
    size_t per = v->kind == EVK_PK_DICT ? 2 : 1, want = v->count * per + more;
    if (more > EVK__PK_MAX_ITEMS || m->p->items + more > EVK__PK_MAX_ITEMS)
        return evk__pk_fail(m, "containers hold more than %u items", EVK__PK_MAX_ITEMS);
    m->p->items += more;
    if (want <= v->cap) return EVK_OK;
    size_t cap = v->cap ? v->cap : 4;
    while (cap < want) cap *= 2;
    evk_pvalue **items = realloc(v->items, cap * sizeof *items);
    if (!items) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", m->label);
    v->items = items;
    v->cap = cap;
    return EVK_OK;
}

static evk_status evk__pk_push(evk__pm *m, evk_pvalue *v) {
    if (m->depth == m->stack_cap) {
        if (m->stack_cap >= EVK_PICKLE_MAX_STACK) return evk__pk_fail(m, "stack deeper than %u", EVK_PICKLE_MAX_STACK);
        size_t cap = m->stack_cap ? m->stack_cap * 2 : 64;
        evk_pvalue **s = realloc(m->stack, cap * sizeof *s);
        if (!s) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", m->label);
        m->stack = s;
        m->stack_cap = cap;
    }
    m->stack[m->depth++] = v;
    return EVK_OK;
}

/* Values above the innermost mark may be taken; the mark's own floor may not be crossed. */
static size_t evk__pk_floor(const evk__pm *m) { return m->nmarks ? m->marks[m->nmarks - 1] : 0; }

static evk_status evk__pk_pop(evk__pm *m, evk_pvalue **out) {
    if (m->depth <= evk__pk_floor(m)) return evk__pk_fail(m, "%s on an empty stack", evk__pk_opname(m->b[m->op_at]));
    *out = m->stack[--m->depth];
    return EVK_OK;
}

static evk_status evk__pk_top(evk__pm *m, evk_pvalue **out) {
    *out = NULL;
    if (m->depth <= evk__pk_floor(m)) return evk__pk_fail(m, "%s on an empty stack", evk__pk_opname(m->b[m->op_at]));
    *out = m->stack[m->depth - 1];
    return EVK_OK;
}

static evk_status evk__pk_pop_mark(evk__pm *m, size_t *base) {
    if (!m->nmarks) return evk__pk_fail(m, "%s without a MARK", evk__pk_opname(m->b[m->op_at]));
    *base = m->marks[--m->nmarks];
    return EVK_OK;
}

static evk_status evk__pk_need(evk__pm *m, size_t k, const uint8_t **out) {
    *out = NULL;
    if (k > m->n - m->at) return evk__pk_fail(m, "%s needs %zu bytes but %zu remain (truncated?)", evk__pk_opname(m->b[m->op_at]), k,
                                              m->n - m->at);
    *out = m->b + m->at;
    m->at += k;
    return EVK_OK;
}

static uint64_t evk__pk_le(const uint8_t *q, int k) {
    uint64_t u = 0;
    for (int i = k - 1; i >= 0; i--) u = u << 8 | q[i];
    return u;
}

static evk_status evk__pk_memo_put(evk__pm *m, uint64_t idx) {
    /* pickle writers number memo entries 0, 1, 2, ...: an index beyond the values made so far
     * would only make the memo large */
    if (idx >= EVK_PICKLE_MAX_MEMO || idx > m->p->values)
        return evk__pk_fail(m, "memo index %llu is beyond the %zu values made so far", (unsigned long long)idx, m->p->values);
    evk_pvalue *v;
    EVK_TRY(evk__pk_top(m, &v));
    if (idx >= m->memo_cap) {
        size_t cap = m->memo_cap ? m->memo_cap : 64;
        while (cap <= idx) cap *= 2;
        evk_pvalue **memo = realloc(m->memo, cap * sizeof *memo);
        if (!memo) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", m->label);
        memset(memo + m->memo_cap, 0, (cap - m->memo_cap) * sizeof *memo);
        m->memo = memo;
        m->memo_cap = cap;
    }
    if (!m->memo[idx]) m->memo_len++;
    m->memo[idx] = v;
    return EVK_OK;
}

static evk_status evk__pk_memo_get(evk__pm *m, uint64_t idx) {
    if (idx >= m->memo_cap || !m->memo[idx]) return evk__pk_fail(m, "memo entry %llu was never stored", (unsigned long long)idx);
    return evk__pk_push(m, m->memo[idx]);
}

static evk_status evk__pk_str(evk__pm *m, size_t len) {
    const uint8_t *q;
    EVK_TRY(evk__pk_need(m, len, &q));
    char *s = malloc(len + 1);
    if (!s) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory for a %zu-byte string", m->label, len);
    memcpy(s, q, len);
    s[len] = 0;
    evk_pvalue *v;
    evk_status st = evk__pk_new(m, EVK_PK_STR, &v);
    if (st) {
        free(s);
        return st;
    }
    v->s = s;
    v->len = len;
    return evk__pk_push(m, v);
}

static evk_status evk__pk_int(evk__pm *m, int64_t x) {
    evk_pvalue *v;
    EVK_TRY(evk__pk_new(m, EVK_PK_INT, &v));
    v->i = x;
    return evk__pk_push(m, v);
}

/* LONG1 / LONG4: little-endian two's complement of `k` bytes; wider than 64 bits is refused. */
static evk_status evk__pk_long(evk__pm *m, uint64_t k) {
    if (k > 8) return evk__pk_fail(m, "integer of %llu bytes is wider than 64 bits", (unsigned long long)k);
    const uint8_t *q;
    EVK_TRY(evk__pk_need(m, (size_t)k, &q));
    uint64_t u = k ? evk__pk_le(q, (int)k) : 0;
    if (k && k < 8 && (q[k - 1] & 0x80)) u |= ~0ull << (8 * k);
    return evk__pk_int(m, (int64_t)u);
}

static evk_status evk__pk_global(evk__pm *m, const char *module, size_t mlen, const char *name, size_t nlen) {
    for (int g = 1; g < EVK_PG_COUNT; g++)
        if (strlen(evk__pk_globals[g].module) == mlen && !memcmp(evk__pk_globals[g].module, module, mlen) &&
            strlen(evk__pk_globals[g].name) == nlen && !memcmp(evk__pk_globals[g].name, name, nlen)) {
            evk_pvalue *v;
            EVK_TRY(evk__pk_new(m, EVK_PK_GLOBAL, &v));
            v->global = (evk_pglobal)g;
            return evk__pk_push(m, v);
        }
    /* print the name safely: it came from the file */
    char shown[2 * EVK__PK_MAX_GLOBAL + 2];
    size_t k = 0;
    for (size_t i = 0; i < mlen + 1 + nlen && k < sizeof shown - 1; i++) {
        char c = i < mlen ? module[i] : i == mlen ? '.' : name[i - mlen - 1];
        shown[k++] = c >= 0x20 && c < 0x7f ? c : '?';
    }
    shown[k] = 0;
    return evk__pk_fail(m, "global '%s' is not allowed (a state dict needs only tensors, storages and OrderedDict; nothing in a "
                           "checkpoint is ever executed)", shown);
}

/* GLOBAL's operand: "module\nname\n". */
static evk_status evk__pk_line(evk__pm *m, const char **s, size_t *len) {
    *s = NULL;
    *len = 0;
    const uint8_t *start = m->b + m->at;
    size_t left = m->n - m->at, lim = left < EVK__PK_MAX_GLOBAL ? left : EVK__PK_MAX_GLOBAL;
    const uint8_t *nl = memchr(start, '\n', lim);
    if (!nl) return evk__pk_fail(m, "GLOBAL name is not a newline-terminated line of at most %d bytes", EVK__PK_MAX_GLOBAL);
    *s = (const char *)start;
    *len = (size_t)(nl - start);
    m->at += *len + 1;
    return EVK_OK;
}

static evk_status evk__pk_tuple(evk__pm *m, size_t k) {
    if (m->depth - evk__pk_floor(m) < k) return evk__pk_fail(m, "%s needs %zu values on the stack", evk__pk_opname(m->b[m->op_at]), k);
    evk_pvalue *v;
    EVK_TRY(evk__pk_new(m, EVK_PK_TUPLE, &v));
    if (k) {
        EVK_TRY(evk__pk_reserve(m, v, k));
        memcpy(v->items, m->stack + m->depth - k, k * sizeof *v->items);
        v->count = k;
        m->depth -= k;
    }
    return evk__pk_push(m, v);
}

/* SETITEM(S) / APPEND(S): the stack from `base` into the container just below it. */
static evk_status evk__pk_fill(evk__pm *m, size_t base, int dict) {
    size_t k = m->depth - base;
    if (base < 1 || base - 1 < evk__pk_floor(m)) return evk__pk_fail(m, "%s has no container to fill", evk__pk_opname(m->b[m->op_at]));
    evk_pvalue *c = m->stack[base - 1];
    if (dict && c->kind != EVK_PK_DICT)
        return evk__pk_fail(m, "%s on a value that is not a dict", evk__pk_opname(m->b[m->op_at]));
    if (!dict && c->kind != EVK_PK_LIST)
        return evk__pk_fail(m, "%s on a value that is not a list", evk__pk_opname(m->b[m->op_at]));
    if (dict && k % 2) return evk__pk_fail(m, "%s with an odd number of values", evk__pk_opname(m->b[m->op_at]));
    if (!k) return EVK_OK; /* an empty SETITEMS / APPENDS: the container may have no item array yet */
    EVK_TRY(evk__pk_reserve(m, c, k));
    memcpy(c->items + c->count * (dict ? 2 : 1), m->stack + base, k * sizeof *c->items);
    c->count += dict ? k / 2 : k;
    m->depth = base;
    return EVK_OK;
}

static evk_status evk__pk_reduce(evk__pm *m) {
    evk_pvalue *args = NULL, *fn = NULL, *v = NULL;
    EVK_TRY(evk__pk_pop(m, &args));
    EVK_TRY(evk__pk_pop(m, &fn));
    if (fn->kind != EVK_PK_GLOBAL) return evk__pk_fail(m, "REDUCE calls a value that is not a global");
    if (args->kind != EVK_PK_TUPLE) return evk__pk_fail(m, "REDUCE of %s with arguments that are not a tuple", evk_pglobal_name(fn->global));
    switch (fn->global) {
    case EVK_PG_ORDERED_DICT:
        if (args->count) return evk__pk_fail(m, "collections.OrderedDict called with arguments");
        EVK_TRY(evk__pk_new(m, EVK_PK_DICT, &v));
        return evk__pk_push(m, v);
    case EVK_PG_TORCH_SIZE: {
        const evk_pvalue *a = args->count == 1 ? args->items[0] : NULL;
        if (!a || (a->kind != EVK_PK_TUPLE && a->kind != EVK_PK_LIST)) return evk__pk_fail(m, "torch.Size called without a sequence");
        EVK_TRY(evk__pk_new(m, EVK_PK_TUPLE, &v));
        if (a->count) {
            EVK_TRY(evk__pk_reserve(m, v, a->count));
            memcpy(v->items, a->items, a->count * sizeof *v->items);
            v->count = a->count;
        }
        return evk__pk_push(m, v);
    }
    case EVK_PG_REBUILD_TENSOR:
    case EVK_PG_REBUILD_TENSOR_V2:
    case EVK_PG_REBUILD_PARAMETER:
    case EVK_PG_REBUILD_PARAMETER_WS:
        EVK_TRY(evk__pk_new(m, EVK_PK_CALL, &v));
        v->global = fn->global;
        v->args = args;
        return evk__pk_push(m, v);
    default:
        return evk__pk_fail(m, "REDUCE calls %s, which a state dict never calls", evk_pglobal_name(fn->global));
    }
}

static evk_status evk__pk_run(evk__pm *m) {
    for (;;) {
        if (m->at >= m->n) return evk_fail(EVK_ERROR_FORMAT, "%s: pickle ends without STOP at byte %zu (truncated?)", m->label, m->at);
        m->op_at = m->at;
        uint8_t op = m->b[m->at++];
        const uint8_t *q;
        evk_pvalue *v = NULL, *w = NULL;
        size_t base = 0;
        switch (op) {
        case 0x80: /* PROTO */
            EVK_TRY(evk__pk_need(m, 1, &q));
            if (q[0] < 2 || q[0] > 5) return evk__pk_fail(m, "pickle protocol %u (2 to 5 are read)", q[0]);
            break;
        case 0x95: /* FRAME: a length hint, the opcodes follow inline */
            EVK_TRY(evk__pk_need(m, 8, &q));
            break;
        case '.': /* STOP */
            EVK_TRY(evk__pk_pop(m, &v));
            m->p->root = v;
            return EVK_OK;
        case '(':
            if (m->nmarks == EVK_PICKLE_MAX_MARKS) return evk__pk_fail(m, "MARKs nested deeper than %d", EVK_PICKLE_MAX_MARKS);
            m->marks[m->nmarks++] = m->depth;
            break;
        case '0': EVK_TRY(evk__pk_pop(m, &v)); break;
        case '1': EVK_TRY(evk__pk_pop_mark(m, &base)); m->depth = base; break;
        case 'N': EVK_TRY(evk__pk_new(m, EVK_PK_NONE, &v)); EVK_TRY(evk__pk_push(m, v)); break;
        case 0x88:
        case 0x89:
            EVK_TRY(evk__pk_new(m, EVK_PK_BOOL, &v));
            v->i = op == 0x88;
            EVK_TRY(evk__pk_push(m, v));
            break;
        case 'J': EVK_TRY(evk__pk_need(m, 4, &q)); EVK_TRY(evk__pk_int(m, (int32_t)(uint32_t)evk__pk_le(q, 4))); break;
        case 'K': EVK_TRY(evk__pk_need(m, 1, &q)); EVK_TRY(evk__pk_int(m, q[0])); break;
        case 'M': EVK_TRY(evk__pk_need(m, 2, &q)); EVK_TRY(evk__pk_int(m, (int64_t)evk__pk_le(q, 2))); break;
        case 0x8a: EVK_TRY(evk__pk_need(m, 1, &q)); EVK_TRY(evk__pk_long(m, q[0])); break;
        case 0x8b: EVK_TRY(evk__pk_need(m, 4, &q)); EVK_TRY(evk__pk_long(m, evk__pk_le(q, 4))); break;
        case 'G': {
            EVK_TRY(evk__pk_need(m, 8, &q));
            uint64_t u = 0;
            for (int i = 0; i < 8; i++) u = u << 8 | q[i]; /* big-endian */
            EVK_TRY(evk__pk_new(m, EVK_PK_FLOAT, &v));
            memcpy(&v->f, &u, 8);
            EVK_TRY(evk__pk_push(m, v));
            break;
        }
        case 'X': EVK_TRY(evk__pk_need(m, 4, &q)); EVK_TRY(evk__pk_str(m, (size_t)evk__pk_le(q, 4))); break;
        case 0x8c: EVK_TRY(evk__pk_need(m, 1, &q)); EVK_TRY(evk__pk_str(m, q[0])); break;
        case 0x8d: {
            EVK_TRY(evk__pk_need(m, 8, &q));
            uint64_t len = evk__pk_le(q, 8);
            if (len > m->n - m->at) return evk__pk_fail(m, "BINUNICODE8 of %llu bytes runs past the end", (unsigned long long)len);
            EVK_TRY(evk__pk_str(m, (size_t)len));
            break;
        }
        case '}': EVK_TRY(evk__pk_new(m, EVK_PK_DICT, &v)); EVK_TRY(evk__pk_push(m, v)); break;
        case ']': EVK_TRY(evk__pk_new(m, EVK_PK_LIST, &v)); EVK_TRY(evk__pk_push(m, v)); break;
        case ')': EVK_TRY(evk__pk_tuple(m, 0)); break;
        case 0x85: EVK_TRY(evk__pk_tuple(m, 1)); break;
        case 0x86: EVK_TRY(evk__pk_tuple(m, 2)); break;
        case 0x87: EVK_TRY(evk__pk_tuple(m, 3)); break;
        case 't':
            EVK_TRY(evk__pk_pop_mark(m, &base));
            EVK_TRY(evk__pk_tuple(m, m->depth - base));
            break;
        case 's': EVK_TRY(evk__pk_fill(m, m->depth >= 2 ? m->depth - 2 : 0, 1)); break;
        case 'a': EVK_TRY(evk__pk_fill(m, m->depth >= 1 ? m->depth - 1 : 0, 0)); break;
        case 'u':
        case 'e':
            EVK_TRY(evk__pk_pop_mark(m, &base));
            EVK_TRY(evk__pk_fill(m, base, op == 'u'));
            break;
        case 'q': EVK_TRY(evk__pk_need(m, 1, &q)); EVK_TRY(evk__pk_memo_put(m, q[0])); break;
        case 'r': EVK_TRY(evk__pk_need(m, 4, &q)); EVK_TRY(evk__pk_memo_put(m, evk__pk_le(q, 4))); break;
        case 0x94: EVK_TRY(evk__pk_memo_put(m, m->memo_len)); break;
        case 'h': EVK_TRY(evk__pk_need(m, 1, &q)); EVK_TRY(evk__pk_memo_get(m, q[0])); break;
        case 'j': EVK_TRY(evk__pk_need(m, 4, &q)); EVK_TRY(evk__pk_memo_get(m, evk__pk_le(q, 4))); break;
        case 'c': {
            const char *mod, *name;
            size_t ml, nl;
            EVK_TRY(evk__pk_line(m, &mod, &ml));
            EVK_TRY(evk__pk_line(m, &name, &nl));
            EVK_TRY(evk__pk_global(m, mod, ml, name, nl));
            break;
        }
        case 0x93:
            EVK_TRY(evk__pk_pop(m, &w));
            EVK_TRY(evk__pk_pop(m, &v));
            if (v->kind != EVK_PK_STR || w->kind != EVK_PK_STR) return evk__pk_fail(m, "STACK_GLOBAL of values that are not strings");
            EVK_TRY(evk__pk_global(m, v->s, v->len, w->s, w->len));
            break;
        case 'R': EVK_TRY(evk__pk_reduce(m)); break;
        case 'b':
            EVK_TRY(evk__pk_pop(m, &w));
            EVK_TRY(evk__pk_top(m, &v));
            if (v->kind != EVK_PK_DICT || (w->kind != EVK_PK_DICT && w->kind != EVK_PK_NONE))
                return evk__pk_fail(m, "BUILD sets state on a value that is not an OrderedDict");
            break; /* an OrderedDict's attributes (a state dict's _metadata): not needed */
        case 'Q':
            EVK_TRY(evk__pk_pop(m, &w));
            EVK_TRY(evk__pk_new(m, EVK_PK_PERSID, &v));
            v->args = w;
            EVK_TRY(evk__pk_push(m, v));
            break;
        default: {
            const char *name = evk__pk_opname(op);
            if (name) return evk__pk_fail(m, "opcode %s (0x%02x) is not allowed in a checkpoint", name, op);
            return evk__pk_fail(m, "unknown opcode 0x%02x (not a pickle, or damaged)", op);
        }
        }
    }
}

evk_status evk_pickle_load(const uint8_t *bytes, size_t size, const char *label, evk_pickle **out) {
    *out = NULL;
    evk_pickle *p = calloc(1, sizeof *p);
    if (!p) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    evk__pm m = {.p = p, .label = label ? label : "<pickle>", .b = bytes, .n = bytes ? size : 0};
    evk_status s = evk__pk_run(&m);
    free(m.stack);
    free(m.memo);
    if (s) {
        evk_pickle_free(p);
        return s;
    }
    *out = p;
    return EVK_OK;
}
