/* lora_list.c — merging T2V-Turbo v1's unnamed LoRA lists into a UNet's weights (see lora_list.h). */
#include "models/video/lora_list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVK__LORA_MAX_DEPTH 32

bool evk_lora_list_is(const evk_weights *ws) {
    size_t n = evk_weights_count(ws), numbered = 0;
    for (size_t i = 0; i < n; i++) {
        char want[24];
        snprintf(want, sizeof want, "%zu", i);
        numbered += !strcmp(evk_weights_at(ws, i)->name, want);
    }
    return n && numbered == n;
}

evk_status evk_lora_list_file_is(const char *path, bool *is) {
    evk_weights *ws = NULL;
    EVK_TRY(evk_weights_open(NULL, path, &ws));
    *is = evk_lora_list_is(ws);
    evk_weights_close(ws);
    return EVK_OK;
}

/* A layer's place in named_modules(): per path component, its index (numbered children of a
 * ModuleList / Sequential) or its attribute's rank in the layout. */
typedef struct evk__lora_layer {
    char *name; /* module path below the prefix, without ".weight" */
    int depth;
    long key[EVK__LORA_MAX_DEPTH];
} evk__lora_layer;

static bool evk__lora_place(evk__lora_layer *l, const evk_lora_layout *layout) {
    const char *a = l->name;
    l->depth = 0;
    while (*a) {
        size_t la = strcspn(a, ".");
        if (l->depth == EVK__LORA_MAX_DEPTH || la == 0) return false;
        long k = -1;
        if (a[0] >= '0' && a[0] <= '9') {
            k = strtol(a, NULL, 10);
        } else {
            for (size_t i = 0; i < layout->count && k < 0; i++)
                if (strlen(layout->order[i]) == la && !strncmp(layout->order[i], a, la)) k = (long)i;
            if (k < 0) return false;
        }
        l->key[l->depth++] = k;
        a += la + (a[la] == '.');
    }
    return true;
}

static int evk__lora_cmp(const void *pa, const void *pb) {
    const evk__lora_layer *a = pa, *b = pb;
    for (int i = 0; i < a->depth && i < b->depth; i++)
        if (a->key[i] != b->key[i]) return a->key[i] < b->key[i] ? -1 : 1;
    return (a->depth > b->depth) - (a->depth < b->depth);
}

/* W += up·down for one layer: up [out, r, 1...], down [r, in, k...], W [out, in, k...]; the
 * product is formed first, as torch does. */
static evk_status evk__lora_merge_one(evk_weights *base, const char *full, const evk_st_tensor *bt, evk_weights *list,
                                      const char *un, const evk_st_tensor *ut, const char *dn, const evk_st_tensor *dt) {
    int64_t out = bt->shape[0], r = ut->shape[1], rest = (int64_t)bt->numel / out;
    float *w = malloc((size_t)bt->numel * sizeof *w), *up = malloc((size_t)(out * r) * sizeof *up),
          *down = malloc((size_t)(r * rest) * sizeof *down), *delta = malloc((size_t)rest * sizeof *delta);
    evk_status st = w && up && down && delta ? EVK_OK : evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory merging %s", full);
    if (!st) st = evk_weights_read_f32(base, full, bt->ndim, bt->shape, w);
    if (!st) st = evk_weights_read_f32(list, un, ut->ndim, ut->shape, up);
    if (!st) st = evk_weights_read_f32(list, dn, dt->ndim, dt->shape, down);
    for (int64_t o = 0; o < out && !st; o++) {
        memset(delta, 0, (size_t)rest * sizeof *delta);
        for (int64_t j = 0; j < r; j++) {
            float u = up[o * r + j];
            const float *dr = down + j * rest;
            for (int64_t c = 0; c < rest; c++) delta[c] += u * dr[c];
        }
        for (int64_t c = 0; c < rest; c++) w[o * rest + c] += delta[c];
    }
    if (!st) st = evk_weights_replace_f32(base, full, w);
    free(w), free(up), free(down), free(delta);
    return st;
}

evk_status evk_lora_list_merge(evk_weights *base, const char *prefix, evk_weights *list, const evk_lora_layout *layout,
                               const char *list_path, const char *base_path) {
    size_t nb = evk_weights_count(base), np = strlen(prefix), nt = 0;
    evk__lora_layer *layers = calloc(nb ? nb : 1, sizeof *layers);
    if (!layers) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    evk_status st = EVK_OK;
    for (size_t i = 0; i < nb && !st; i++) {
        const evk_st_tensor *t = evk_weights_at(base, i);
        size_t n = strlen(t->name);
        if (strncmp(t->name, prefix, np) || n < np + 7 || strcmp(t->name + n - 7, ".weight")) continue;
        if (t->ndim != 2 && t->ndim != 4 && t->ndim != 5) continue;
        evk__lora_layer *l = &layers[nt++];
        l->name = strndup(t->name + np, n - np - 7);
        if (!l->name) st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        else if (!evk__lora_place(l, layout))
            st = evk_fail(EVK_ERROR_FORMAT, "%s: the UNet's module %s is outside %s's layout; cannot place %s's LoRA pairs", base_path,
                          l->name, layout->name, list_path);
    }
    if (!st) qsort(layers, nt, sizeof *layers, evk__lora_cmp);
    size_t nl = evk_weights_count(list);
    if (!st && nl != 2 * nt)
        st = evk_fail(EVK_ERROR_FORMAT, "%s holds %zu LoRA tensors but the UNet of %s has %zu Linear/Conv2d/Conv3d layers (%zu expected)",
                      list_path, nl, base_path, nt, 2 * nt);
    for (size_t k = 0; k < nt && !st; k++) {
        char full[300], un[24], dn[24];
        snprintf(full, sizeof full, "%s%s.weight", prefix, layers[k].name);
        snprintf(un, sizeof un, "%zu", 2 * k);
        snprintf(dn, sizeof dn, "%zu", 2 * k + 1);
        const evk_st_tensor *bt = evk_weights_lookup(base, full, NULL), *ut = evk_weights_lookup(list, un, NULL),
                            *dt = evk_weights_lookup(list, dn, NULL);
        bool ok = bt && ut && dt && ut->ndim == bt->ndim && dt->ndim == bt->ndim && ut->shape[0] == bt->shape[0] &&
                  dt->shape[0] == ut->shape[1] && ut->shape[1] >= 1;
        for (int d = 2; ok && d < bt->ndim; d++) ok = ut->shape[d] == 1;
        for (int d = 1; ok && d < bt->ndim; d++) ok = dt->shape[d] == bt->shape[d];
        if (!ok)
            st = evk_fail(EVK_ERROR_FORMAT, "%s: LoRA pair %zu (tensors %s, %s) does not fit %s%s (the pairs follow %s's module order)",
                          list_path, k, un, dn, prefix, layers[k].name, layout->name);
        else
            st = evk__lora_merge_one(base, full, bt, list, un, ut, dn, dt);
    }
    for (size_t i = 0; i < nt; i++) free(layers[i].name);
    free(layers);
    if (!st) evk_weights_reset_used(base);
    return st;
}

evk_status evk_lora_list_apply(evk_weights *base, const char *base_path, const char *list_path, const evk_lora_layout *layout) {
    const char *P = "model.diffusion_model.";
    bool prefixed = false;
    for (size_t i = 0; i < evk_weights_count(base) && !prefixed; i++) prefixed = !strncmp(evk_weights_at(base, i)->name, P, strlen(P));
    char needed[200];
    snprintf(needed, sizeof needed, "%s.weight", layout->student_layer);
    evk_weights *list = NULL;
    EVK_TRY(evk_weights_open(NULL, list_path, &list));
    evk_status st = evk_lora_list_is(list)
                        ? EVK_OK
                        : evk_fail(EVK_ERROR_FORMAT, "%s (--lora) is not T2V-Turbo's LoRA list (tensors \"0\", \"1\", ...)", list_path);
    if (!st && !evk_weights_has(base, needed))
        st = evk_fail(EVK_ERROR_INVALID_ARGUMENT,
                      "%s is T2V-Turbo's LoRA list: over %s it would leave %s with random weights (no checkpoint holds its base "
                      "weight; upstream initialises it at random in this path). Use %s as --diffusion-model instead, or give a "
                      "base UNet holding %s as --diffusion-model with the list as --lora",
                      list_path, base_path, layout->student_layer, layout->merged, layout->student_layer);
    if (!st) st = evk_lora_list_merge(base, prefixed ? P : "", list, layout, list_path, base_path);
    evk_weights_close(list);
    return st;
}
