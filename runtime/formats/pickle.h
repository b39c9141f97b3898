/* pickle.h — a restricted unpickler: the Python pickle opcodes and globals a PyTorch state dict
 * uses, turned into a tree of plain values, with nothing ever executed.
 *
 * torch.save pickles (protocol 2) a dict of tensors; each tensor is a call
 * torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...) whose storage is a
 * persistent id ('storage', torch.FloatStorage, key, location, numel). This reader runs the
 * pickle machine over those opcodes only (PROTO, FRAME, STOP, MARK, POP, POP_MARK, the
 * constants NONE / NEWTRUE / NEWFALSE / BININT* / LONG1 / LONG4 / BINFLOAT / BINUNICODE /
 * SHORT_BINUNICODE / BINUNICODE8, the containers EMPTY_DICT / EMPTY_LIST / EMPTY_TUPLE / TUPLE*
 * / SETITEM(S) / APPEND(S), the memo BINPUT / LONG_BINPUT / MEMOIZE / BINGET / LONG_BINGET,
 * GLOBAL / STACK_GLOBAL, REDUCE, BUILD and BINPERSID) and accepts only the globals listed in
 * evk_pglobal. REDUCE never calls anything: OrderedDict() becomes an empty dict, torch.Size(x)
 * a tuple, and the rebuild functions a CALL value holding the function and its arguments for
 * the caller to interpret; BUILD on a dict (an OrderedDict's attributes, such as a state
 * dict's _metadata) is dropped. Any other opcode or global is EVK_ERROR_FORMAT naming it and its
 * byte offset. The memo, the stack, the mark depth and the number of values are bounded, strings
 * are bounded by the bytes present, and the machine is a loop, so no input can recurse deeply
 * or allocate more than a fixed multiple of its own size. Values shared through the memo are
 * shared in the tree (a tree walker must bound its depth: a crafted pickle can build cycles). */
#ifndef EVK_PICKLE_H
#define EVK_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits on what a pickle may build. */
#define EVK_PICKLE_MAX_VALUES (1u << 22)
#define EVK_PICKLE_MAX_STACK (1u << 20)
#define EVK_PICKLE_MAX_MARKS 256
#define EVK_PICKLE_MAX_MEMO (1u << 22)

typedef enum evk_pkind {
    EVK_PK_NONE = 0,
    EVK_PK_BOOL,
    EVK_PK_INT,
    EVK_PK_FLOAT,
    EVK_PK_STR,
    EVK_PK_TUPLE,
    EVK_PK_LIST,
    EVK_PK_DICT,
    EVK_PK_GLOBAL, /* a whitelisted global, not called */
    EVK_PK_CALL,   /* a whitelisted function applied to `args` (never executed) */
    EVK_PK_PERSID, /* a persistent id: `args` is what the pickle gave */
} evk_pkind;

/* The globals accepted; anything else is refused where it appears. */
typedef enum evk_pglobal {
    EVK_PG_NONE = 0,
    EVK_PG_ORDERED_DICT,         /* collections.OrderedDict */
    EVK_PG_TORCH_SIZE,           /* torch.Size */
    EVK_PG_REBUILD_TENSOR,       /* torch._utils._rebuild_tensor */
    EVK_PG_REBUILD_TENSOR_V2,    /* torch._utils._rebuild_tensor_v2 */
    EVK_PG_REBUILD_PARAMETER,    /* torch._utils._rebuild_parameter */
    EVK_PG_REBUILD_PARAMETER_WS, /* torch._utils._rebuild_parameter_with_state */
    EVK_PG_STORAGE_F64,          /* torch.DoubleStorage */
    EVK_PG_STORAGE_F32,          /* torch.FloatStorage */
    EVK_PG_STORAGE_F16,          /* torch.HalfStorage */
    EVK_PG_STORAGE_BF16,         /* torch.BFloat16Storage */
    EVK_PG_STORAGE_I64,          /* torch.LongStorage */
    EVK_PG_STORAGE_I32,          /* torch.IntStorage */
    EVK_PG_STORAGE_I16,          /* torch.ShortStorage */
    EVK_PG_STORAGE_I8,           /* torch.CharStorage */
    EVK_PG_STORAGE_U8,           /* torch.ByteStorage */
    EVK_PG_STORAGE_BOOL,         /* torch.BoolStorage */
    EVK_PG_COUNT
} evk_pglobal;

typedef struct evk_pvalue evk_pvalue;
struct evk_pvalue {
    evk_pkind kind;
    evk_pglobal global;   /* GLOBAL and CALL */
    uint64_t pos;         /* byte offset of the opcode that made it, for messages */
    int64_t i;            /* BOOL (0/1), INT */
    double f;             /* FLOAT */
    const char *s;        /* STR: a NUL-terminated copy (it may hold NULs itself: see len) */
    size_t len;           /* STR: bytes */
    evk_pvalue **items;   /* TUPLE, LIST: the items; DICT: key, value, key, value, ... */
    size_t count;         /* TUPLE, LIST: items; DICT: pairs */
    size_t cap;
    evk_pvalue *args;     /* CALL: the argument tuple; PERSID: the id */
};

typedef struct evk_pickle evk_pickle;

/* Run the restricted machine over `bytes` (kept by reference only while loading). `label`
 * names the pickle in messages ("model.ckpt:archive/data.pkl"). */
evk_status evk_pickle_load(const uint8_t *bytes, size_t size, const char *label, evk_pickle **out);
void evk_pickle_free(evk_pickle *p);
/* The value STOP returned. */
const evk_pvalue *evk_pickle_root(const evk_pickle *p);
/* "collections.OrderedDict", ... */
const char *evk_pglobal_name(evk_pglobal g);

#ifdef __cplusplus
}
#endif
#endif
