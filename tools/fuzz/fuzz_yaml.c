/* fuzz_yaml.c — libFuzzer harness for the lvdm-config YAML reader: any text either parses or
 * fails with a status and a message; a parsed document is walked and read through every typed
 * getter at the paths the vc2 family reads. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/yaml.h"

static void walk(const evk_yaml_node *n, int depth) {
    if (!n || depth > 100) return;
    (void)evk_yaml_node_text(n);
    for (size_t i = 0; i < evk_yaml_node_count(n); i++) walk(evk_yaml_node_at(n, i), depth + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    evk_yaml *y = NULL;
    if (evk_yaml_parse(text, "fuzz.yaml", &y) == EVK_OK) {
        walk(evk_yaml_find(y, NULL, ""), 0);
        static const char *const paths[] = {"model.params.unet_config.params.model_channels", "model.params.image_size",
                                            "model.params.image_size.1", "model", "a.b.c", "0", "model.params.use_scale"};
        for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
            long long v = 0, list[8];
            double d = 0;
            bool b = false;
            char s[32];
            int n = 0;
            (void)evk_yaml_get_int(y, NULL, paths[i], &v);
            (void)evk_yaml_get_float(y, NULL, paths[i], &d);
            (void)evk_yaml_get_bool(y, NULL, paths[i], &b);
            (void)evk_yaml_get_str(y, NULL, paths[i], s, sizeof s);
            (void)evk_yaml_get_ints(y, NULL, paths[i], list, 8, &n);
        }
        evk_yaml_free(y);
    }
    free(text);
    return 0;
}
