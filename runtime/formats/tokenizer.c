/* tokenizer.c — CLIP byte-level BPE (see tokenizer.h for the steps and why each exists).
 *
 * Text is handled as arrays of code points until the BPE stage, where each piece becomes a
 * UTF-8 string over the GPT-2 byte alphabet. A BPE symbol is a byte span of that string (with
 * "</w>" glued to the end), so merging two symbols is joining two adjacent spans; a merge rank
 * is looked up by the key "first second", the way merges.txt writes it. Unicode properties come
 * from the generated tables in tokenizer_unicode.c. The tokenizer is read-only after loading, so
 * one instance may be used from several threads. */
#include "formats/tokenizer.h"

#include "core/file.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- generated tables (tokenizer_unicode.c) ---------------------------------------------- */
extern const uint32_t evk__uc_letter[][2], evk__uc_letter_count;
extern const uint32_t evk__uc_number[][2], evk__uc_number_count;
extern const uint32_t evk__uc_other[][2], evk__uc_other_count;
extern const uint32_t evk__uc_py_space[][2], evk__uc_py_space_count;
extern const uint32_t evk__uc_control[][2], evk__uc_control_count;
extern const uint32_t evk__uc_zs[][2], evk__uc_zs_count;
extern const uint32_t evk__uc_cased[][2], evk__uc_cased_count;
extern const uint32_t evk__uc_case_ignorable[][2], evk__uc_case_ignorable_count;
extern const uint32_t evk__uc_lower[][2], evk__uc_lower_count;
extern const uint32_t evk__uc_ccc[][3], evk__uc_ccc_count;
extern const uint32_t evk__uc_decomp_pool[];
extern const uint32_t evk__uc_decomp[][3], evk__uc_decomp_count;
extern const uint32_t evk__uc_compose[][3], evk__uc_compose_count;
extern const uint32_t evk__uc_fold[][2], evk__uc_fold_count;

static bool evk__in(const uint32_t (*r)[2], uint32_t n, uint32_t cp) {
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (cp < r[mid][0]) hi = mid;
        else if (cp > r[mid][1]) lo = mid + 1;
        else return true;
    }
    return false;
}

#define EVK__IS(table, cp) evk__in(evk__uc_##table, evk__uc_##table##_count, (cp))

static uint32_t evk__ccc(uint32_t cp) {
    uint32_t lo = 0, hi = evk__uc_ccc_count;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (cp < evk__uc_ccc[mid][0]) hi = mid;
        else if (cp > evk__uc_ccc[mid][1]) lo = mid + 1;
        else return evk__uc_ccc[mid][2];
    }
    return 0;
}

static uint32_t evk__lower1(uint32_t cp) {
    uint32_t lo = 0, hi = evk__uc_lower_count;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (cp < evk__uc_lower[mid][0]) hi = mid;
        else if (cp > evk__uc_lower[mid][0]) lo = mid + 1;
        else return evk__uc_lower[mid][1];
    }
    return cp;
}

/* ---- growable arrays ------------------------------------------------------------------- */

typedef struct { uint32_t *v; size_t n, cap; bool oom; } evk__cps;

static void evk__push(evk__cps *a, uint32_t cp) {
    if (a->oom) return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        uint32_t *nv = realloc(a->v, cap * sizeof *nv);
        if (!nv) {
            a->oom = true;
            return;
        }
        a->v = nv;
        a->cap = cap;
    }
    a->v[a->n++] = cp;
}

typedef struct { int32_t *v; size_t n, cap; bool oom; } evk__ids;

static void evk__push_id(evk__ids *a, int32_t id) {
    if (a->oom) return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        int32_t *nv = realloc(a->v, cap * sizeof *nv);
        if (!nv) {
            a->oom = true;
            return;
        }
        a->v = nv;
        a->cap = cap;
    }
    a->v[a->n++] = id;
}

/* ---- UTF-8 ------------------------------------------------------------------------------ */

/* Strict decoding; each maximal invalid sequence becomes U+FFFD (dropped later, as in Python). */
static void evk__utf8_decode(const char *s, evk__cps *out) {
    const uint8_t *p = (const uint8_t *)s;
    while (*p) {
        uint32_t c = *p, cp;
        int n;
        if (c < 0x80) { cp = c; n = 0; }
        else if (c >= 0xC2 && c <= 0xDF) { cp = c & 0x1F; n = 1; }
        else if (c >= 0xE0 && c <= 0xEF) { cp = c & 0x0F; n = 2; }
        else if (c >= 0xF0 && c <= 0xF4) { cp = c & 0x07; n = 3; }
        else {
            evk__push(out, 0xFFFD);
            p++;
            continue;
        }
        int i = 1;
        for (; i <= n; i++) {
            uint32_t b = p[i];
            /* second-byte limits rule out overlongs, surrogates and values past U+10FFFF */
            uint32_t lo = 0x80, hi = 0xBF;
            if (i == 1) {
                if (c == 0xE0) lo = 0xA0;
                else if (c == 0xED) hi = 0x9F;
                else if (c == 0xF0) lo = 0x90;
                else if (c == 0xF4) hi = 0x8F;
            }
            if (b < lo || b > hi) break;
            cp = cp << 6 | (b & 0x3F);
        }
        if (i <= n) {
            evk__push(out, 0xFFFD);
            p += i;
            continue;
        }
        evk__push(out, cp);
        p += n + 1;
    }
}

static size_t evk__utf8_put(uint32_t cp, char *o) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | (cp >> 6 & 0x3F)); o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- NFC -------------------------------------------------------------------------------- */

enum { EVK__SBASE = 0xAC00, EVK__LBASE = 0x1100, EVK__VBASE = 0x1161, EVK__TBASE = 0x11A7,
       EVK__LCOUNT = 19, EVK__VCOUNT = 21, EVK__TCOUNT = 28, EVK__NCOUNT = 588, EVK__SCOUNT = 11172 };

static void evk__decompose(uint32_t cp, evk__cps *out) {
    if (cp >= EVK__SBASE && cp < EVK__SBASE + EVK__SCOUNT) {
        uint32_t s = cp - EVK__SBASE;
        evk__push(out, EVK__LBASE + s / EVK__NCOUNT);
        evk__push(out, EVK__VBASE + (s % EVK__NCOUNT) / EVK__TCOUNT);
        if (s % EVK__TCOUNT) evk__push(out, EVK__TBASE + s % EVK__TCOUNT);
        return;
    }
    uint32_t lo = 0, hi = evk__uc_decomp_count;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (cp < evk__uc_decomp[mid][0]) hi = mid;
        else if (cp > evk__uc_decomp[mid][0]) lo = mid + 1;
        else {
            for (uint32_t i = 0; i < evk__uc_decomp[mid][2]; i++) evk__push(out, evk__uc_decomp_pool[evk__uc_decomp[mid][1] + i]);
            return;
        }
    }
    evk__push(out, cp);
}

static uint32_t evk__compose(uint32_t a, uint32_t b) {
    if (a >= EVK__LBASE && a < EVK__LBASE + EVK__LCOUNT && b >= EVK__VBASE && b < EVK__VBASE + EVK__VCOUNT)
        return EVK__SBASE + ((a - EVK__LBASE) * EVK__VCOUNT + (b - EVK__VBASE)) * EVK__TCOUNT;
    if (a >= EVK__SBASE && a < EVK__SBASE + EVK__SCOUNT && (a - EVK__SBASE) % EVK__TCOUNT == 0 && b > EVK__TBASE &&
        b < EVK__TBASE + EVK__TCOUNT)
        return a + (b - EVK__TBASE);
    uint32_t lo = 0, hi = evk__uc_compose_count;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        const uint32_t *e = evk__uc_compose[mid];
        if (a < e[0] || (a == e[0] && b < e[1])) hi = mid;
        else if (a > e[0] || b > e[1]) lo = mid + 1;
        else return e[2];
    }
    return 0;
}

/* Canonical decomposition, canonical ordering, canonical composition (UAX #15). */
static void evk__nfc(const evk__cps *in, evk__cps *out) {
    evk__cps d = {0};
    for (size_t i = 0; i < in->n; i++) evk__decompose(in->v[i], &d);
    if (d.oom) {
        out->oom = true;
        free(d.v);
        return;
    }
    /* stable insertion sort of each run of non-starters by combining class */
    for (size_t i = 1; i < d.n; i++) {
        uint32_t c = d.v[i], k = evk__ccc(c);
        if (!k) continue;
        size_t j = i;
        while (j > 0 && evk__ccc(d.v[j - 1]) > k) {
            d.v[j] = d.v[j - 1];
            j--;
        }
        d.v[j] = c;
    }
    size_t starter = (size_t)-1;
    uint32_t last_class = 0;
    for (size_t i = 0; i < d.n; i++) {
        uint32_t c = d.v[i], k = evk__ccc(c);
        if (starter != (size_t)-1 && (last_class < k || last_class == 0)) {
            /* not blocked: right after the starter (last_class 0: any char of class 0 becomes the
             * starter), or every mark in between has a lower class */
            uint32_t comp = evk__compose(out->v[starter], c);
            if (comp) {
                out->v[starter] = comp;
                continue;
            }
        }
        if (k == 0) starter = out->n;
        last_class = k;
        evk__push(out, c);
        if (out->oom) break;
    }
    free(d.v);
}

/* ---- BasicTokenizer-style cleanup ---------------------------------------------------------- */

static bool evk__is_cjk(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

static bool evk__py_space(uint32_t cp) { return EVK__IS(py_space, cp); }

/* str.lower() of one whitespace-free token, with U+0130 -> "i\u0307" and the final sigma */
static void evk__lower_token(const uint32_t *t, size_t n, evk__cps *out) {
    for (size_t i = 0; i < n; i++) {
        uint32_t c = t[i];
        if (c == 0x130) {
            evk__push(out, 'i');
            evk__push(out, 0x307);
        } else if (c == 0x3A3) {
            /* final when preceded by a cased letter and not followed by one (case-ignorables skipped) */
            size_t j = i;
            while (j > 0 && EVK__IS(case_ignorable, t[j - 1])) j--;
            bool final = j > 0 && EVK__IS(cased, t[j - 1]);
            if (final) {
                size_t k = i + 1;
                while (k < n && EVK__IS(case_ignorable, t[k])) k++;
                final = k == n || !EVK__IS(cased, t[k]);
            }
            evk__push(out, final ? 0x3C2 : 0x3C3);
        } else evk__push(out, evk__lower1(c));
    }
}

/* clean -> space CJK -> NFC -> split on whitespace -> lower each -> join with single spaces */
static void evk__basic_clean(const uint32_t *text, size_t n, evk__cps *out) {
    evk__cps a = {0}, b = {0};
    for (size_t i = 0; i < n; i++) {
        uint32_t c = text[i];
        bool ws = c == ' ' || c == '\t' || c == '\n' || c == '\r' || EVK__IS(zs, c);
        if (c == 0 || c == 0xFFFD || (!ws && EVK__IS(control, c))) continue;
        if (ws) evk__push(&a, ' ');
        else if (evk__is_cjk(c)) {
            evk__push(&a, ' ');
            evk__push(&a, c);
            evk__push(&a, ' ');
        } else evk__push(&a, c);
    }
    evk__nfc(&a, &b);
    size_t i = 0;
    bool first = true;
    while (i < b.n) {
        while (i < b.n && evk__py_space(b.v[i])) i++;
        size_t s = i;
        while (i < b.n && !evk__py_space(b.v[i])) i++;
        if (i > s) {
            if (!first) evk__push(out, ' ');
            first = false;
            evk__lower_token(b.v + s, i - s, out);
        }
    }
    if (a.oom || b.oom) out->oom = true;
    free(a.v);
    free(b.v);
}

/* ---- the tokenizer --------------------------------------------------------------------- */

typedef struct evk__map {
    char **keys;
    int32_t *values;
    uint32_t cap, count;
} evk__map;

static uint32_t evk__thash(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static int32_t evk__map_get(const evk__map *m, const char *s, size_t n) {
    if (!m->cap) return -1;
    uint32_t h = evk__thash(s, n) & (m->cap - 1);
    while (m->keys[h]) {
        if (!strncmp(m->keys[h], s, n) && m->keys[h][n] == 0) return m->values[h];
        h = (h + 1) & (m->cap - 1);
    }
    return -1;
}

/* insert or overwrite (later entries win, as in a Python dict built in order) */
static bool evk__map_put(evk__map *m, const char *s, size_t n, int32_t v) {
    if ((m->count + 1) * 2 > m->cap) {
        uint32_t cap = m->cap ? m->cap * 2 : 1024;
        char **keys = calloc(cap, sizeof *keys);
        int32_t *values = calloc(cap, sizeof *values);
        if (!keys || !values) {
            free(keys);
            free(values);
            return false;
        }
        for (uint32_t i = 0; i < m->cap; i++)
            if (m->keys[i]) {
                uint32_t h = evk__thash(m->keys[i], strlen(m->keys[i])) & (cap - 1);
                while (keys[h]) h = (h + 1) & (cap - 1);
                keys[h] = m->keys[i];
                values[h] = m->values[i];
            }
        free(m->keys);
        free(m->values);
        m->keys = keys;
        m->values = values;
        m->cap = cap;
    }
    uint32_t h = evk__thash(s, n) & (m->cap - 1);
    while (m->keys[h]) {
        if (!strncmp(m->keys[h], s, n) && m->keys[h][n] == 0) {
            m->values[h] = v;
            return true;
        }
        h = (h + 1) & (m->cap - 1);
    }
    char *k = malloc(n + 1);
    if (!k) return false;
    memcpy(k, s, n);
    k[n] = 0;
    m->keys[h] = k;
    m->values[h] = v;
    m->count++;
    return true;
}

static void evk__map_free(evk__map *m) {
    for (uint32_t i = 0; i < m->cap; i++) free(m->keys[i]);
    free(m->keys);
    free(m->values);
}

typedef struct evk__special {
    uint32_t *cps;
    size_t n;
    int32_t id;
    bool lstrip, rstrip;
} evk__special;

struct evk_tokenizer {
    evk__map vocab;          /* token -> id */
    evk__map ranks;          /* "first second" -> merge rank */
    char **decoder;          /* id -> token (NULL where no token has the id) */
    size_t decoder_size;
    size_t vocab_size;
    char byte_chars[256][3]; /* GPT-2 byte -> its stand-in character, UTF-8 */
    uint8_t byte_len[256];
    evk__special specials[4 + EVK_ADDED_TOKENS_MAX];
    int special_count;
    int32_t bos, eos, pad, unk;
    size_t max_length;
};

void evk_tokenizer_destroy(evk_tokenizer *tok) {
    if (!tok) return;
    evk__map_free(&tok->vocab);
    evk__map_free(&tok->ranks);
    free(tok->decoder);
    for (int i = 0; i < tok->special_count; i++) free(tok->specials[i].cps);
    free(tok);
}

/* GPT-2's reversible byte -> printable character table */
static void evk__byte_table(evk_tokenizer *tok) {
    int n = 0;
    for (int b = 0; b < 256; b++) {
        uint32_t cp;
        if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) cp = (uint32_t)b;
        else cp = 256u + (uint32_t)n++;
        tok->byte_len[b] = (uint8_t)evk__utf8_put(cp, tok->byte_chars[b]);
    }
}

static int32_t evk__special_id(const evk_tokenizer *tok, const evk_tokenizer_config *cfg, const char *content) {
    int32_t id = evk__map_get(&tok->vocab, content, strlen(content));
    if (id >= 0) return id;
    for (int i = 0; i < cfg->added_count; i++)
        if (!strcmp(cfg->added[i].token.content, content)) return cfg->added[i].id;
    return -1;
}

static evk_status evk__add_special(evk_tokenizer *tok, const evk_tokenizer_config *cfg, const evk_special_token *t, const char *what,
                                   const char *label, bool required) {
    if (!t->content[0]) return EVK_OK;
    int32_t id = evk__special_id(tok, cfg, t->content);
    if (id < 0) {
        if (!required) return EVK_OK;
        return evk_fail(EVK_ERROR_FORMAT, "%s: %s \"%s\" is not in vocab.json", label, what, t->content);
    }
    for (int i = 0; i < tok->special_count; i++) {
        evk__special *s = &tok->specials[i];
        evk__cps tmp = {0};
        evk__utf8_decode(t->content, &tmp);
        bool same = tmp.n == s->n && !memcmp(tmp.v, s->cps, tmp.n * sizeof *tmp.v);
        free(tmp.v);
        if (same) return EVK_OK;
    }
    evk__cps cps = {0};
    evk__utf8_decode(t->content, &cps);
    if (cps.oom || !cps.n) {
        free(cps.v);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    tok->specials[tok->special_count++] = (evk__special){cps.v, cps.n, id, t->lstrip, t->rstrip};
    return EVK_OK;
}

evk_status evk_tokenizer_load_text(const char *vocab_json, const char *merges_txt, const evk_tokenizer_config *config,
                                   const char *label, evk_tokenizer **out) {
    *out = NULL;
    if (!label) label = "<tokenizer>";
    evk_tokenizer_config defaults;
    if (!config) {
        evk_tokenizer_config_default(&defaults);
        config = &defaults;
    }
    evk_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    evk__byte_table(tok);
    evk_status s = EVK_OK;
    cJSON *root = cJSON_Parse(vocab_json);
    if (!root || !cJSON_IsObject(root)) s = evk_fail(EVK_ERROR_FORMAT, "%s: vocab.json is not a JSON object", label);
    int32_t max_id = -1;
    for (const cJSON *e = root ? root->child : NULL; !s && e; e = e->next) {
        double d = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (d < 0 || d > (1 << 24) || d != (double)(int32_t)d) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: vocab.json entry \"%.60s\" has no valid id", label, e->string);
            break;
        }
        if (!e->string[0]) {
            s = evk_fail(EVK_ERROR_FORMAT, "%s: vocab.json has an empty token", label);
            break;
        }
        if (!evk__map_put(&tok->vocab, e->string, strlen(e->string), (int32_t)d)) s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        if ((int32_t)d > max_id) max_id = (int32_t)d;
    }
    if (!s && max_id < 0) s = evk_fail(EVK_ERROR_FORMAT, "%s: vocab.json is empty", label);
    if (!s) {
        tok->decoder_size = (size_t)max_id + 1;
        tok->decoder = calloc(tok->decoder_size, sizeof *tok->decoder);
        if (!tok->decoder) s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        for (uint32_t i = 0; !s && i < tok->vocab.cap; i++)
            if (tok->vocab.keys[i]) tok->decoder[tok->vocab.values[i]] = tok->vocab.keys[i];
        tok->vocab_size = tok->vocab.count;
    }
    cJSON_Delete(root);
    /* merges.txt: as transformers reads it — strip, split on "\n", skip the first (version) line,
     * keep at most 49152 - 256 - 2 merges, each line split on whitespace; later duplicates win */
    if (!s && !merges_txt) s = evk_fail(EVK_ERROR_FORMAT, "%s: no merges.txt", label);
    if (!s) {
        const char *p = merges_txt, *end = merges_txt + strlen(merges_txt);
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v')) p++;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r' || end[-1] == '\f' || end[-1] == '\v')) end--;
        int line = 0, rank = 0;
        while (!s && p < end && rank < 49152 - 256 - 2) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *le = nl ? nl : end;
            if (line++ > 0) {
                const char *w[3];
                size_t wl[3];
                int nw = 0;
                for (const char *q = p; q < le;) {
                    while (q < le && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\f' || *q == '\v')) q++;
                    const char *st = q;
                    while (q < le && !(*q == ' ' || *q == '\t' || *q == '\r' || *q == '\f' || *q == '\v')) q++;
                    if (q > st) {
                        if (nw < 3) w[nw] = st, wl[nw] = (size_t)(q - st);
                        nw++;
                    }
                }
                if (nw == 2) { /* other lines can never match a pair: ignored, but they take a rank */
                    char key[512];
                    if (wl[0] + wl[1] + 2 > sizeof key) s = evk_fail(EVK_ERROR_FORMAT, "%s: merges.txt line %d is too long", label, line);
                    else {
                        memcpy(key, w[0], wl[0]);
                        key[wl[0]] = ' ';
                        memcpy(key + wl[0] + 1, w[1], wl[1]);
                        if (!evk__map_put(&tok->ranks, key, wl[0] + wl[1] + 1, rank)) s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
                    }
                }
                rank++;
            }
            p = le + 1;
        }
    }
    if (!s) s = evk__add_special(tok, config, &config->bos, "bos_token", label, true);
    if (!s) s = evk__add_special(tok, config, &config->eos, "eos_token", label, true);
    if (!s) s = evk__add_special(tok, config, &config->pad, "pad_token", label, true);
    if (!s) s = evk__add_special(tok, config, &config->unk, "unk_token", label, false);
    for (int i = 0; !s && i < config->added_count; i++) s = evk__add_special(tok, config, &config->added[i].token, "added token", label, true);
    if (!s) {
        tok->bos = evk__special_id(tok, config, config->bos.content);
        tok->eos = evk__special_id(tok, config, config->eos.content);
        tok->pad = evk__special_id(tok, config, config->pad.content);
        tok->unk = config->unk.content[0] ? evk__special_id(tok, config, config->unk.content) : -1;
        tok->max_length = (size_t)config->model_max_length;
    }
    if (s) {
        evk_tokenizer_destroy(tok);
        return s;
    }
    *out = tok;
    return EVK_OK;
}

evk_status evk_tokenizer_load_files(const char *vocab_json, const char *merges_txt, const evk_tokenizer_config *config,
                                    evk_tokenizer **out) {
    *out = NULL;
    char *v = NULL, *m = NULL;
    EVK_TRY(evk_file_read_text(vocab_json, 64u << 20, &v));
    evk_status s = evk_file_read_text(merges_txt, 64u << 20, &m);
    if (!s) s = evk_tokenizer_load_text(v, m, config, vocab_json, out);
    free(v);
    free(m);
    return s;
}

evk_status evk_tokenizer_load(const char *folder, evk_tokenizer **out) {
    *out = NULL;
    evk_tokenizer_config cfg;
    EVK_TRY(evk_tokenizer_config_load(folder, &cfg));
    char vp[4096], mp[4096];
    snprintf(vp, sizeof vp, "%s/vocab.json", folder);
    snprintf(mp, sizeof mp, "%s/merges.txt", folder);
    return evk_tokenizer_load_files(vp, mp, &cfg, out);
}

/* ---- BPE ------------------------------------------------------------------------------- */

typedef struct { uint32_t b, e; } evk__span;

/* One pre-tokenized piece (already in the byte alphabet, `n` bytes) -> ids appended to out. */
static evk_status evk__bpe(const evk_tokenizer *tok, const char *piece, size_t n, evk__ids *out) {
    /* transformers' cache starts with the two special tokens, which map to themselves */
    if ((n == 15 && !memcmp(piece, "<|startoftext|>", 15)) || (n == 13 && !memcmp(piece, "<|endoftext|>", 13))) {
        int32_t id = evk__map_get(&tok->vocab, piece, n);
        if (id < 0) id = tok->unk;
        if (id < 0) return evk_fail(EVK_ERROR_FORMAT, "tokenizer: \"%.*s\" is not in the vocabulary and there is no unk_token", (int)n, piece);
        evk__push_id(out, id);
        return EVK_OK;
    }
    char *w = malloc(n + 5);
    evk__span *sym = malloc((n + 1) * sizeof *sym);
    char *key = malloc(2 * n + 16);
    if (!w || !sym || !key) {
        free(w), free(sym), free(key);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    memcpy(w, piece, n);
    memcpy(w + n, "</w>", 5);
    size_t ns = 0;
    for (size_t i = 0; i < n;) {
        size_t l = 1;
        while (i + l < n && ((uint8_t)piece[i + l] & 0xC0) == 0x80) l++;
        sym[ns++] = (evk__span){(uint32_t)i, (uint32_t)(i + l)};
        i += l;
    }
    sym[ns - 1].e += 4; /* "</w>" joins the last symbol */
    while (ns > 1) {
        int32_t best = -1;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < ns; i++) {
            size_t la = sym[i].e - sym[i].b, lb = sym[i + 1].e - sym[i + 1].b;
            memcpy(key, w + sym[i].b, la);
            key[la] = ' ';
            memcpy(key + la + 1, w + sym[i + 1].b, lb);
            int32_t r = evk__map_get(&tok->ranks, key, la + lb + 1);
            if (r >= 0 && (best < 0 || r < best)) best = r, bi = i;
        }
        if (best < 0) break;
        /* merge every occurrence of that pair (by content), left to right */
        evk__span fa = sym[bi], fb = sym[bi + 1];
        size_t la = fa.e - fa.b, lb = fb.e - fb.b, k = 0;
        for (size_t i = 0; i < ns;) {
            if (i + 1 < ns && sym[i].e - sym[i].b == la && sym[i + 1].e - sym[i + 1].b == lb && !memcmp(w + sym[i].b, w + fa.b, la) &&
                !memcmp(w + sym[i + 1].b, w + fb.b, lb)) {
                sym[k++] = (evk__span){sym[i].b, sym[i + 1].e};
                i += 2;
            } else sym[k++] = sym[i++];
        }
        ns = k;
    }
    evk_status s = EVK_OK;
    for (size_t i = 0; i < ns && !s; i++) {
        int32_t id = evk__map_get(&tok->vocab, w + sym[i].b, sym[i].e - sym[i].b);
        if (id < 0) id = tok->unk; /* transformers: encoder.get(token, encoder.get(unk_token)) */
        if (id < 0)
            s = evk_fail(EVK_ERROR_FORMAT, "tokenizer: token \"%.*s\" is not in the vocabulary and there is no unk_token",
                         (int)(sym[i].e - sym[i].b), w + sym[i].b);
        else evk__push_id(out, id);
    }
    free(w);
    free(sym);
    free(key);
    return s;
}

/* ASCII letter the split pattern's IGNORECASE considers equal to c, or 0 */
static uint32_t evk__fold(uint32_t c) {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c < 128) return c;
    for (uint32_t i = 0; i < evk__uc_fold_count; i++)
        if (evk__uc_fold[i][0] == c) return evk__uc_fold[i][1];
    return 0;
}

static bool evk__match_ci(const uint32_t *t, size_t n, const char *lit) {
    size_t l = strlen(lit);
    if (l > n) return false;
    for (size_t i = 0; i < l; i++)
        if (evk__fold(t[i]) != (uint32_t)lit[i]) return false;
    return true;
}

/* CLIP's split pattern over the cleaned text; each piece byte-encoded and BPE'd */
static evk_status evk__split_bpe(const evk_tokenizer *tok, const evk__cps *t, evk__ids *out) {
    static const char *const contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    size_t cap = 256;
    char *buf = malloc(cap);
    if (!buf) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    evk_status s = EVK_OK;
    size_t i = 0;
    while (i < t->n && !s) {
        const uint32_t *p = t->v + i;
        size_t rest = t->n - i, len = 0;
        uint32_t c = p[0];
        if (evk__match_ci(p, rest, "<|startoftext|>")) len = 15;
        else if (evk__match_ci(p, rest, "<|endoftext|>")) len = 13;
        else {
            if (c == '\'')
                for (int k = 0; k < 7 && !len; k++)
                    if (evk__match_ci(p, rest, contractions[k])) len = strlen(contractions[k]);
            if (!len) {
                /* the classes as the pattern's IGNORECASE sees them: a character may be in none
                 * (e.g. U+0345, whose case fold is a letter) and is then skipped like a space */
                if (EVK__IS(letter, c)) {
                    while (len < rest && EVK__IS(letter, p[len])) len++;
                } else if (EVK__IS(number, c)) len = 1;
                else if (EVK__IS(other, c)) {
                    while (len < rest && EVK__IS(other, p[len])) len++;
                }
            }
        }
        if (!len) { /* whitespace between pieces, or a character no class takes */
            i++;
            continue;
        }
        /* UTF-8 bytes of the piece, each mapped to its stand-in character */
        size_t need = len * 4 * 2 + 1, m = 0;
        if (need > cap) {
            char *nb = realloc(buf, need);
            if (!nb) {
                s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
                break;
            }
            buf = nb, cap = need;
        }
        for (size_t k = 0; k < len; k++) {
            char u[4];
            size_t ul = evk__utf8_put(p[k], u);
            for (size_t q = 0; q < ul; q++) {
                uint8_t b = (uint8_t)u[q];
                memcpy(buf + m, tok->byte_chars[b], tok->byte_len[b]);
                m += tok->byte_len[b];
            }
        }
        s = evk__bpe(tok, buf, m, out);
        i += len;
    }
    free(buf);
    return s;
}

static evk_status evk__tokenize_segment(const evk_tokenizer *tok, const uint32_t *text, size_t n, evk__ids *out) {
    if (!n) return EVK_OK;
    evk__cps clean = {0};
    evk__basic_clean(text, n, &clean);
    evk_status s = clean.oom ? evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory") : evk__split_bpe(tok, &clean, out);
    free(clean.v);
    return s;
}

evk_status evk_tokenizer_tokenize(const evk_tokenizer *tok, const char *text, int32_t **ids, size_t *count) {
    *ids = NULL;
    *count = 0;
    if (!text) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_tokenizer_tokenize: NULL text");
    evk__cps t = {0};
    evk__utf8_decode(text, &t);
    evk__ids out = {0};
    evk_status s = t.oom ? evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory") : EVK_OK;
    /* split around special tokens: leftmost match, longest token at that position */
    size_t seg = 0, i = 0;
    bool strip_next = false;
    while (!s && i <= t.n) {
        int best = -1;
        if (i < t.n)
            for (int k = 0; k < tok->special_count; k++) {
                const evk__special *sp = &tok->specials[k];
                if (sp->n <= t.n - i && !memcmp(t.v + i, sp->cps, sp->n * sizeof *sp->cps) && (best < 0 || sp->n > tok->specials[best].n))
                    best = k;
            }
        if (best < 0 && i < t.n) {
            i++;
            continue;
        }
        /* the text segment [seg, i) before the token (or the end) */
        size_t a = seg, b = i;
        if (strip_next)
            while (a < b && evk__py_space(t.v[a])) a++; /* rstrip of the previous token */
        if (best >= 0 && tok->specials[best].lstrip)
            while (b > a && evk__py_space(t.v[b - 1])) b--;
        if (b > a) s = evk__tokenize_segment(tok, t.v + a, b - a, &out);
        if (best < 0) break;
        evk__push_id(&out, tok->specials[best].id);
        strip_next = tok->specials[best].rstrip;
        i += tok->specials[best].n;
        seg = i;
    }
    free(t.v);
    if (!s && out.oom) s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (s) {
        free(out.v);
        return s;
    }
    *ids = out.v;
    *count = out.n;
    return EVK_OK;
}

evk_status evk_tokenizer_encode(const evk_tokenizer *tok, const char *text, int32_t *ids, size_t max_length, evk_tokenize_info *info) {
    if (!max_length) max_length = tok->max_length;
    if (max_length < 2) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_tokenizer_encode: max_length %zu < 2", max_length);
    int32_t *t;
    size_t n;
    EVK_TRY(evk_tokenizer_tokenize(tok, text, &t, &n));
    size_t keep = n < max_length - 2 ? n : max_length - 2;
    ids[0] = tok->bos;
    if (keep) memcpy(ids + 1, t, keep * sizeof *ids);
    ids[keep + 1] = tok->eos;
    for (size_t i = keep + 2; i < max_length; i++) ids[i] = tok->pad;
    free(t);
    if (info) {
        info->tokens = n;
        info->truncated = n - keep;
    }
    if (n > keep)
        evk_fail(EVK_OK, "prompt truncated: %zu tokens, only %zu fit in the %zu-token context (the last %zu were dropped)", n, keep,
                 max_length, n - keep);
    return EVK_OK;
}

evk_status evk_tokenizer_normalize(const char *text, char **out) {
    *out = NULL;
    evk__cps t = {0}, c = {0};
    evk__utf8_decode(text ? text : "", &t);
    evk__basic_clean(t.v, t.n, &c);
    char *s = malloc(c.n * 4 + 1);
    if (t.oom || c.oom || !s) {
        free(t.v), free(c.v), free(s);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    size_t m = 0;
    for (size_t i = 0; i < c.n; i++) m += evk__utf8_put(c.v[i], s + m);
    s[m] = 0;
    free(t.v);
    free(c.v);
    *out = s;
    return EVK_OK;
}

evk_status evk_tokenizer_decode(const evk_tokenizer *tok, const int32_t *ids, size_t count, char **out) {
    *out = NULL;
    /* stand-in character -> byte */
    size_t cap = 64, n = 0;
    char *bytes = malloc(cap);
    if (!bytes) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; i < count; i++) {
        int32_t id = ids[i];
        if (id == tok->bos || id == tok->eos || id == tok->pad) continue;
        if (id < 0 || (size_t)id >= tok->decoder_size || !tok->decoder[id]) {
            free(bytes);
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_tokenizer_decode: id %d is not in the vocabulary", id);
        }
        evk__cps cps = {0};
        evk__utf8_decode(tok->decoder[id], &cps);
        for (size_t k = 0; k < cps.n; k++) {
            int byte = -1;
            char u[4];
            size_t ul = evk__utf8_put(cps.v[k], u);
            for (int b = 0; b < 256 && byte < 0; b++)
                if (tok->byte_len[b] == ul && !memcmp(tok->byte_chars[b], u, ul)) byte = b;
            if (byte < 0) continue;
            if (n + 2 > cap) {
                char *nb = realloc(bytes, cap * 2);
                if (!nb) {
                    free(cps.v), free(bytes);
                    return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
                }
                bytes = nb, cap *= 2;
            }
            bytes[n++] = (char)byte;
        }
        free(cps.v);
    }
    bytes[n] = 0;
    /* "</w>" marks the end of a word: a space; then strip the ends */
    char *o = malloc(n + 1);
    if (!o) {
        free(bytes);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        if (i + 4 <= n && !memcmp(bytes + i, "</w>", 4)) {
            o[m++] = ' ';
            i += 4;
        } else o[m++] = bytes[i++];
    }
    while (m && o[m - 1] == ' ') m--;
    size_t st = 0;
    while (st < m && o[st] == ' ') st++;
    memmove(o, o + st, m - st);
    o[m - st] = 0;
    free(bytes);
    *out = o;
    return EVK_OK;
}

size_t evk_tokenizer_max_length(const evk_tokenizer *tok) { return tok->max_length; }
size_t evk_tokenizer_vocab_size(const evk_tokenizer *tok) { return tok->vocab_size; }
int32_t evk_tokenizer_bos(const evk_tokenizer *tok) { return tok->bos; }
int32_t evk_tokenizer_eos(const evk_tokenizer *tok) { return tok->eos; }
int32_t evk_tokenizer_pad(const evk_tokenizer *tok) { return tok->pad; }
int32_t evk_tokenizer_token_id(const evk_tokenizer *tok, const char *token) { return evk__map_get(&tok->vocab, token, strlen(token)); }
