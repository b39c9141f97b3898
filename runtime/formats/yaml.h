/* yaml.h — the block-style YAML subset of model configs (lvdm / VideoCrafter / LDM .yaml files).
 *
 * Supported: nested block mappings ("key: value", "key:" followed by a more indented block or by
 * "- " items), block sequences of scalars, mappings or nested blocks, flow sequences of scalars
 * ("[4, 2, 1]"), plain, 'single'- and "double"-quoted scalars, comments, "---". Not supported
 * (EVK_ERROR_FORMAT naming the line): anchors and aliases, tags, multi-line scalars, flow
 * mappings, tabs in indentation. Values stay text; typed getters convert and say which key held
 * what when a value is not of the asked type. Keys are looked up by dotted paths
 * ("model.params.unet_config.params.model_channels"); sequence items by index ("...ch_mult.1"). */
#ifndef EVK_YAML_H
#define EVK_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_yaml evk_yaml;
typedef struct evk_yaml_node evk_yaml_node;

typedef enum evk_yaml_kind { EVK_YAML_SCALAR = 0, EVK_YAML_MAP, EVK_YAML_LIST } evk_yaml_kind;

/* `label` names the text in messages (a path). */
evk_status evk_yaml_parse(const char *text, const char *label, evk_yaml **out);
evk_status evk_yaml_load(const char *path, evk_yaml **out);
void evk_yaml_free(evk_yaml *y);
const char *evk_yaml_label(const evk_yaml *y);

/* The node at a dotted path below `from` (NULL: the root), or NULL when absent. */
const evk_yaml_node *evk_yaml_find(const evk_yaml *y, const evk_yaml_node *from, const char *path);
evk_yaml_kind evk_yaml_node_kind(const evk_yaml_node *n);
/* Items of a list or entries of a map. */
size_t evk_yaml_node_count(const evk_yaml_node *n);
const evk_yaml_node *evk_yaml_node_at(const evk_yaml_node *n, size_t i);
/* A scalar's text ("" for an empty value); NULL for a map or list. */
const char *evk_yaml_node_text(const evk_yaml_node *n);

/* Typed reads at a path: absent -> *out keeps `dflt` value given by the caller (return EVK_OK);
 * present but not of the type (or a map/list) -> EVK_ERROR_FORMAT naming file, key and value. */
evk_status evk_yaml_get_int(const evk_yaml *y, const evk_yaml_node *from, const char *path, long long *out);
evk_status evk_yaml_get_float(const evk_yaml *y, const evk_yaml_node *from, const char *path, double *out);
evk_status evk_yaml_get_bool(const evk_yaml *y, const evk_yaml_node *from, const char *path, bool *out);
/* Copies the scalar (truncation is an error). */
evk_status evk_yaml_get_str(const evk_yaml *y, const evk_yaml_node *from, const char *path, char *out, size_t cap);
/* A list of integers (at most `max`; more is an error); *count = 0 when absent. */
evk_status evk_yaml_get_ints(const evk_yaml *y, const evk_yaml_node *from, const char *path, long long *out, int max, int *count);

#ifdef __cplusplus
}
#endif
#endif
