/* yaml.c — the block-style YAML subset of model configs (see yaml.h). */
#include "formats/yaml.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"

#define EVK__YAML_MAX_DEPTH 64
#define EVK__YAML_MAX_SIZE (4u << 20)

struct evk_yaml_node {
    evk_yaml_kind kind;
    char *key;  /* within a map */
    char *text; /* scalars */
    evk_yaml_node **items;
    size_t count, cap;
};

typedef struct evk__yline {
    int indent, number; /* number: 1-based line in the file */
    char *s;            /* content after the indentation, comments and trailing spaces removed */
} evk__yline;

struct evk_yaml {
    char label[512];
    char *buf;
    evk__yline *lines;
    size_t nlines;
    evk_yaml_node *root;
};

static evk_yaml_node *evk__ynode(evk_yaml_kind kind) {
    evk_yaml_node *n = calloc(1, sizeof *n);
    if (n) n->kind = kind;
    return n;
}

static void evk__ynode_free(evk_yaml_node *n) {
    if (!n) return;
    for (size_t i = 0; i < n->count; i++) evk__ynode_free(n->items[i]);
    free(n->items);
    free(n->key);
    free(n->text);
    free(n);
}

static evk_status evk__yadd(evk_yaml_node *parent, evk_yaml_node *child) {
    if (parent->count == parent->cap) {
        size_t cap = parent->cap ? 2 * parent->cap : 8;
        evk_yaml_node **p = realloc(parent->items, cap * sizeof *p);
        if (!p) {
            evk__ynode_free(child);
            return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        }
        parent->items = p, parent->cap = cap;
    }
    parent->items[parent->count++] = child;
    return EVK_OK;
}

/* A scalar's text without its quotes (a copy). */
static char *evk__yscalar(const char *s) {
    size_t n = strlen(s);
    if (n >= 2 && ((s[0] == '\'' && s[n - 1] == '\'') || (s[0] == '"' && s[n - 1] == '"'))) {
        char *r = malloc(n - 1);
        if (!r) return NULL;
        memcpy(r, s + 1, n - 2);
        r[n - 2] = 0;
        return r;
    }
    char *r = malloc(n + 1);
    if (r) memcpy(r, s, n + 1);
    return r;
}

static evk_status evk__yerr(const evk_yaml *y, int line, const char *what) {
    return evk_fail(EVK_ERROR_FORMAT, "%s:%d: %s", y->label, line, what);
}

/* Split "key: value" / "key:" at the first ": " or a final ':' outside quotes; returns the value
 * start (maybe "") or NULL when the line is not a mapping entry. */
static char *evk__ysplit(char *s) {
    char q = 0;
    for (char *p = s; *p; p++) {
        if (q) {
            if (*p == q) q = 0;
            continue;
        }
        if ((*p == '\'' || *p == '"') && p == s) q = *p;
        else if (*p == ':' && (p[1] == ' ' || p[1] == 0)) {
            *p = 0;
            char *v = p + 1;
            while (*v == ' ') v++;
            for (char *e = p - 1; e >= s && *e == ' '; e--) *e = 0;
            return v;
        }
    }
    return NULL;
}

static evk_status evk__yblock(evk_yaml *y, size_t *i, int indent, int depth, evk_yaml_node **out);

/* The value after "key:" or "- ": inline text, a flow list, or the block on the next lines. */
static evk_status evk__yvalue(evk_yaml *y, size_t *i, int indent, const char *v, int line, int depth, evk_yaml_node **out) {
    *out = NULL;
    if (*v == '&' || *v == '*' || *v == '!' || *v == '|' || *v == '>' || *v == '{')
        return evk__yerr(y, line, "anchors, aliases, tags, block scalars and flow mappings are not supported");
    if (*v == '[') {
        size_t n = strlen(v);
        if (v[n - 1] != ']') return evk__yerr(y, line, "unterminated flow sequence");
        evk_yaml_node *l = evk__ynode(EVK_YAML_LIST);
        if (!l) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        char *body = malloc(n);
        if (!body) {
            evk__ynode_free(l);
            return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        }
        memcpy(body, v + 1, n - 2);
        body[n - 2] = 0;
        evk_status st = EVK_OK;
        char *p = body;
        while (!st) {
            while (*p == ' ') p++;
            char *c = strchr(p, ',');
            if (c) *c = 0;
            for (char *e = p + strlen(p); e > p && e[-1] == ' '; e--) e[-1] = 0;
            if (strchr(p, '[') || strchr(p, ']') || strchr(p, '{')) st = evk__yerr(y, line, "nested flow collections are not supported");
            else if (*p || c || l->count) {
                if (!*p) st = evk__yerr(y, line, "empty item in a flow sequence");
                evk_yaml_node *s = st ? NULL : evk__ynode(EVK_YAML_SCALAR);
                if (!st && (!s || !(s->text = evk__yscalar(p)))) {
                    evk__ynode_free(s);
                    st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
                } else if (!st) st = evk__yadd(l, s);
            }
            if (!c) break;
            p = c + 1;
        }
        free(body);
        if (st) {
            evk__ynode_free(l);
            return st;
        }
        *out = l;
        return EVK_OK;
    }
    if (*v) {
        evk_yaml_node *s = evk__ynode(EVK_YAML_SCALAR);
        if (!s || !(s->text = evk__yscalar(v))) {
            evk__ynode_free(s);
            return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        }
        *out = s;
        return EVK_OK;
    }
    /* a nested block: more indented, or a sequence at the same indentation (YAML allows it) */
    if (*i < y->nlines && (y->lines[*i].indent > indent || (y->lines[*i].indent == indent && !strncmp(y->lines[*i].s, "- ", 2)) ||
                           (y->lines[*i].indent == indent && !strcmp(y->lines[*i].s, "-"))))
        return evk__yblock(y, i, y->lines[*i].indent, depth + 1, out);
    evk_yaml_node *s = evk__ynode(EVK_YAML_SCALAR);
    if (!s || !(s->text = evk__yscalar(""))) {
        evk__ynode_free(s);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    *out = s;
    return EVK_OK;
}

static bool evk__yitem(const char *s) { return (s[0] == '-' && (s[1] == ' ' || s[1] == 0)); }

static evk_status evk__yblock(evk_yaml *y, size_t *i, int indent, int depth, evk_yaml_node **out) {
    *out = NULL;
    if (depth > EVK__YAML_MAX_DEPTH) return evk__yerr(y, y->lines[*i].number, "nesting deeper than 64 levels");
    bool list = evk__yitem(y->lines[*i].s);
    evk_yaml_node *n = evk__ynode(list ? EVK_YAML_LIST : EVK_YAML_MAP);
    if (!n) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    evk_status st = EVK_OK;
    while (!st && *i < y->nlines) {
        evk__yline *L = &y->lines[*i];
        if (L->indent < indent) break;
        if (L->indent > indent) {
            st = evk__yerr(y, L->number, "unexpected indentation");
            break;
        }
        if (evk__yitem(L->s) != list) {
            if (!list) st = evk__yerr(y, L->number, "a sequence item where a mapping entry was expected");
            break; /* a list at a key's own indentation ends at the next key */
        }
        evk_yaml_node *child = NULL;
        if (list) {
            char *rest = L->s + 1;
            while (*rest == ' ') rest++;
            /* "- key: value": a mapping item; its other keys follow at the column of "key" */
            char *colon = NULL;
            for (char *p = rest; *p && !colon; p++)
                if (*p == ':' && (p[1] == ' ' || p[1] == 0) && rest[0] != '\'' && rest[0] != '"' && rest[0] != '[') colon = p;
            if (colon) {
                L->indent = indent + (int)(rest - L->s);
                L->s = rest;
                st = evk__yblock(y, i, L->indent, depth + 1, &child);
            } else {
                int line = L->number;
                (*i)++;
                st = evk__yvalue(y, i, indent, rest, line, depth, &child);
            }
            if (!st) st = evk__yadd(n, child);
        } else {
            int line = L->number;
            char *v = evk__ysplit(L->s);
            if (!v || !*L->s) {
                st = evk__yerr(y, line, "expected \"key: value\"");
                break;
            }
            char *key = evk__yscalar(L->s);
            if (!key) {
                st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
                break;
            }
            for (size_t k = 0; k < n->count; k++)
                if (!strcmp(n->items[k]->key, key)) {
                    st = evk_fail(EVK_ERROR_FORMAT, "%s:%d: key \"%.100s\" appears twice", y->label, line, key);
                    break;
                }
            (*i)++;
            if (!st) st = evk__yvalue(y, i, indent, v, line, depth, &child);
            if (st) {
                free(key);
                break;
            }
            child->key = key;
            st = evk__yadd(n, child);
        }
    }
    if (st) {
        evk__ynode_free(n);
        return st;
    }
    *out = n;
    return EVK_OK;
}

evk_status evk_yaml_parse(const char *text, const char *label, evk_yaml **out) {
    *out = NULL;
    evk_yaml *y = calloc(1, sizeof *y);
    if (!y) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    snprintf(y->label, sizeof y->label, "%s", label ? label : "yaml");
    size_t len = strlen(text), nl = 1;
    for (size_t k = 0; k < len; k++) nl += text[k] == '\n';
    y->buf = malloc(len + 1);
    y->lines = calloc(nl, sizeof *y->lines);
    evk_status st = EVK_OK;
    if (!y->buf || !y->lines) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (!st) memcpy(y->buf, text, len + 1);
    char *p = y->buf;
    for (int number = 1; !st && p && *p; number++) {
        char *end = strchr(p, '\n');
        if (end) *end = 0;
        int indent = 0;
        while (p[indent] == ' ') indent++;
        if (p[indent] == '\t') {
            st = evk__yerr(y, number, "a tab in the indentation");
            break;
        }
        char *s = p + indent;
        /* comments: '#' at the start or after a space, outside quotes */
        char q = 0;
        for (char *c = s; *c; c++) {
            if (q) {
                if (*c == q) q = 0;
            } else if (*c == '\'' || *c == '"') {
                if (c == s || c[-1] == ' ' || c[-1] == '[' || c[-1] == ',') q = *c;
            } else if (*c == '#' && (c == s || c[-1] == ' ' || c[-1] == '\t')) {
                *c = 0;
                break;
            }
        }
        size_t n = strlen(s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\r' || s[n - 1] == '\t')) s[--n] = 0;
        if (n && strcmp(s, "---") && strcmp(s, "...")) {
            if (!strncmp(s, "%", 1)) st = evk__yerr(y, number, "directives are not supported");
            y->lines[y->nlines++] = (evk__yline){indent, number, s};
        }
        p = end ? end + 1 : NULL;
    }
    size_t i = 0;
    if (!st && y->nlines) {
        st = evk__yblock(y, &i, y->lines[0].indent, 0, &y->root);
        if (!st && i < y->nlines) st = evk__yerr(y, y->lines[i].number, "unexpected indentation");
    } else if (!st) {
        y->root = evk__ynode(EVK_YAML_MAP);
        if (!y->root) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    if (st) {
        evk_yaml_free(y);
        return st;
    }
    *out = y;
    return EVK_OK;
}

evk_status evk_yaml_load(const char *path, evk_yaml **out) {
    *out = NULL;
    char *text;
    EVK_TRY(evk_file_read_text(path, EVK__YAML_MAX_SIZE, &text));
    evk_status st = evk_yaml_parse(text, path, out);
    free(text);
    return st;
}

void evk_yaml_free(evk_yaml *y) {
    if (!y) return;
    evk__ynode_free(y->root);
    free(y->lines);
    free(y->buf);
    free(y);
}

const char *evk_yaml_label(const evk_yaml *y) { return y->label; }

const evk_yaml_node *evk_yaml_find(const evk_yaml *y, const evk_yaml_node *from, const char *path) {
    const evk_yaml_node *n = from ? from : y->root;
    const char *p = path;
    while (n && *p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        const evk_yaml_node *next = NULL;
        if (n->kind == EVK_YAML_MAP) {
            for (size_t k = 0; k < n->count && !next; k++)
                if (strlen(n->items[k]->key) == len && !strncmp(n->items[k]->key, p, len)) next = n->items[k];
        } else if (n->kind == EVK_YAML_LIST) {
            char *e;
            unsigned long idx = strtoul(p, &e, 10);
            if (e == p + len && idx < n->count) next = n->items[idx];
        }
        n = next;
        p = dot ? dot + 1 : p + len;
    }
    return n;
}

evk_yaml_kind evk_yaml_node_kind(const evk_yaml_node *n) { return n->kind; }
size_t evk_yaml_node_count(const evk_yaml_node *n) { return n->kind == EVK_YAML_SCALAR ? 0 : n->count; }
const evk_yaml_node *evk_yaml_node_at(const evk_yaml_node *n, size_t i) { return n->kind != EVK_YAML_SCALAR && i < n->count ? n->items[i] : NULL; }
const char *evk_yaml_node_text(const evk_yaml_node *n) { return n->kind == EVK_YAML_SCALAR ? n->text : NULL; }

static evk_status evk__ytype(const evk_yaml *y, const char *path, const evk_yaml_node *n, const char *type) {
    return evk_fail(EVK_ERROR_FORMAT, "%s: %s is %s%.80s%s, not %s", y->label, path, n->kind == EVK_YAML_SCALAR ? "\"" : "",
                    n->kind == EVK_YAML_SCALAR ? n->text : n->kind == EVK_YAML_MAP ? "a mapping" : "a sequence",
                    n->kind == EVK_YAML_SCALAR ? "\"" : "", type);
}

static bool evk__yint(const char *s, long long *out) {
    if (!*s) return false;
    char *e;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (*e || errno) return false;
    *out = v;
    return true;
}

evk_status evk_yaml_get_int(const evk_yaml *y, const evk_yaml_node *from, const char *path, long long *out) {
    const evk_yaml_node *n = evk_yaml_find(y, from, path);
    if (!n) return EVK_OK;
    if (n->kind != EVK_YAML_SCALAR || !evk__yint(n->text, out)) return evk__ytype(y, path, n, "an integer");
    return EVK_OK;
}

evk_status evk_yaml_get_float(const evk_yaml *y, const evk_yaml_node *from, const char *path, double *out) {
    const evk_yaml_node *n = evk_yaml_find(y, from, path);
    if (!n) return EVK_OK;
    char *e = NULL;
    double v = n->kind == EVK_YAML_SCALAR && *n->text ? strtod(n->text, &e) : 0;
    if (n->kind != EVK_YAML_SCALAR || !e || *e) return evk__ytype(y, path, n, "a number");
    *out = v;
    return EVK_OK;
}

evk_status evk_yaml_get_bool(const evk_yaml *y, const evk_yaml_node *from, const char *path, bool *out) {
    const evk_yaml_node *n = evk_yaml_find(y, from, path);
    if (!n) return EVK_OK;
    if (n->kind == EVK_YAML_SCALAR) {
        const char *t[] = {"true", "True", "TRUE", "yes", "on"}, *f[] = {"false", "False", "FALSE", "no", "off"};
        for (int k = 0; k < 5; k++) {
            if (!strcmp(n->text, t[k])) return *out = true, EVK_OK;
            if (!strcmp(n->text, f[k])) return *out = false, EVK_OK;
        }
    }
    return evk__ytype(y, path, n, "true or false");
}

evk_status evk_yaml_get_str(const evk_yaml *y, const evk_yaml_node *from, const char *path, char *out, size_t cap) {
    const evk_yaml_node *n = evk_yaml_find(y, from, path);
    if (!n) return EVK_OK;
    if (n->kind != EVK_YAML_SCALAR) return evk__ytype(y, path, n, "a string");
    if (strlen(n->text) >= cap) return evk_fail(EVK_ERROR_FORMAT, "%s: %s is longer than %zu bytes", y->label, path, cap - 1);
    memcpy(out, n->text, strlen(n->text) + 1);
    return EVK_OK;
}

evk_status evk_yaml_get_ints(const evk_yaml *y, const evk_yaml_node *from, const char *path, long long *out, int max, int *count) {
    const evk_yaml_node *n = evk_yaml_find(y, from, path);
    *count = 0;
    if (!n) return EVK_OK;
    if (n->kind != EVK_YAML_LIST) return evk__ytype(y, path, n, "a sequence of integers");
    if (n->count > (size_t)max) return evk_fail(EVK_ERROR_FORMAT, "%s: %s has %zu items (at most %d)", y->label, path, n->count, max);
    for (size_t k = 0; k < n->count; k++)
        if (n->items[k]->kind != EVK_YAML_SCALAR || !evk__yint(n->items[k]->text, &out[k]))
            return evk__ytype(y, path, n->items[k], "an integer item");
    *count = (int)n->count;
    return EVK_OK;
}
