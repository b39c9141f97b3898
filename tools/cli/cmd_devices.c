/* cmd_devices.c — `evoke devices [--json]`: every Vulkan device, its limits and features. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const char *devices_help =
    "usage: evoke devices [--json]\n"
    "\n"
    "List the Vulkan devices evoke can use: index, name, type, vendor, driver, Vulkan version,\n"
    "memory heaps, subgroup size, workgroup and shared-memory limits, and optional features.\n"
    "The default choice is marked with '*' (discrete > integrated > virtual > CPU; EVOKE_DEVICE=N\n"
    "or --device N on other commands overrides it).\n"
    "\n"
    "  --json     print one JSON document instead of the table\n"
    "  -h, --help this text\n";

static void version_str(uint32_t v, char *out, size_t n) {
    snprintf(out, n, "%u.%u.%u", v >> 22, (v >> 12) & 0x3ffu, v & 0xfffu);
}

typedef struct feature_row { const char *name; bool value; } feature_row;

static int features_of(const evk_device_features *f, feature_row rows[16]) {
    int n = 0;
    rows[n++] = (feature_row){"storage16", f->storage_16bit};
    rows[n++] = (feature_row){"float16", f->float16};
    rows[n++] = (feature_row){"int8", f->int8};
    rows[n++] = (feature_row){"storage8", f->storage_8bit};
    rows[n++] = (feature_row){"subgroup_basic", f->subgroup_basic};
    rows[n++] = (feature_row){"subgroup_arithmetic", f->subgroup_arithmetic};
    rows[n++] = (feature_row){"subgroup_shuffle", f->subgroup_shuffle};
    rows[n++] = (feature_row){"subgroup_ballot", f->subgroup_ballot};
    rows[n++] = (feature_row){"subgroup_size_control", f->subgroup_size_control};
    rows[n++] = (feature_row){"cooperative_matrix", f->cooperative_matrix};
    rows[n++] = (feature_row){"memory_budget", f->memory_budget};
    rows[n++] = (feature_row){"timestamps", f->timestamps};
    rows[n++] = (feature_row){"push_descriptor", f->push_descriptor};
    return n;
}

static uint32_t default_device(const evk_device_info *d, uint32_t n) {
    static const int rank[] = {[EVK_DEVICE_TYPE_OTHER] = 0, [EVK_DEVICE_TYPE_INTEGRATED] = 3, [EVK_DEVICE_TYPE_DISCRETE] = 4,
                               [EVK_DEVICE_TYPE_VIRTUAL] = 2, [EVK_DEVICE_TYPE_CPU] = 1};
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (rank[d[i].type] > rank[d[best].type]) best = i;
    return best;
}

static int print_json(const evk_device_info *d, uint32_t n) {
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "devices");
    cJSON_AddNumberToObject(root, "default", default_device(d, n));
    for (uint32_t i = 0; i < n; i++) {
        char ver[32];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, o);
        cJSON_AddNumberToObject(o, "index", d[i].index);
        cJSON_AddStringToObject(o, "name", d[i].name);
        cJSON_AddStringToObject(o, "type", evk_device_type_name(d[i].type));
        cJSON_AddStringToObject(o, "vendor", evk_vendor_name(d[i].vendor_id));
        cJSON_AddNumberToObject(o, "vendor_id", d[i].vendor_id);
        cJSON_AddNumberToObject(o, "device_id", d[i].device_id);
        cJSON_AddStringToObject(o, "driver", d[i].driver_name);
        cJSON_AddStringToObject(o, "driver_info", d[i].driver_info);
        cJSON_AddNumberToObject(o, "driver_version", d[i].driver_version);
        version_str(d[i].api_version, ver, sizeof ver);
        cJSON_AddStringToObject(o, "vulkan", ver);
        cJSON *heaps = cJSON_AddArrayToObject(o, "heaps");
        for (uint32_t h = 0; h < d[i].heap_count; h++) {
            cJSON *ho = cJSON_CreateObject();
            cJSON_AddNumberToObject(ho, "size", (double)d[i].heaps[h].size);
            cJSON_AddBoolToObject(ho, "device_local", d[i].heaps[h].device_local);
            cJSON_AddItemToArray(heaps, ho);
        }
        cJSON_AddNumberToObject(o, "subgroup_size", d[i].subgroup_size);
        cJSON_AddNumberToObject(o, "min_subgroup_size", d[i].min_subgroup_size);
        cJSON_AddNumberToObject(o, "max_subgroup_size", d[i].max_subgroup_size);
        cJSON *wg = cJSON_AddArrayToObject(o, "max_workgroup_size");
        for (int k = 0; k < 3; k++) cJSON_AddItemToArray(wg, cJSON_CreateNumber(d[i].max_workgroup_size[k]));
        cJSON_AddNumberToObject(o, "max_workgroup_invocations", d[i].max_workgroup_invocations);
        cJSON_AddNumberToObject(o, "max_shared_memory", d[i].max_shared_memory);
        cJSON_AddNumberToObject(o, "max_storage_buffer_range", (double)d[i].max_storage_buffer_range);
        cJSON_AddNumberToObject(o, "max_allocation_size", (double)d[i].max_allocation_size);
        cJSON_AddNumberToObject(o, "max_push_constants", d[i].max_push_constants);
        cJSON *feat = cJSON_AddObjectToObject(o, "features");
        feature_row rows[16];
        int nf = features_of(&d[i].features, rows);
        for (int k = 0; k < nf; k++) cJSON_AddBoolToObject(feat, rows[k].name, rows[k].value);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) {
        fprintf(stderr, "evoke devices: out of memory printing JSON\n");
        return CLI_EXIT_FAILURE;
    }
    puts(text);
    free(text);
    return CLI_EXIT_OK;
}

static void print_table(const evk_device_info *d, uint32_t n) {
    uint32_t def = default_device(d, n);
    for (uint32_t i = 0; i < n; i++) {
        char ver[32], drv[32];
        version_str(d[i].api_version, ver, sizeof ver);
        version_str(d[i].driver_version, drv, sizeof drv);
        printf("%c %u: %s\n", i == def ? '*' : ' ', d[i].index, d[i].name);
        printf("    type %s, vendor %s (0x%04x), device 0x%04x, Vulkan %s\n", evk_device_type_name(d[i].type),
               evk_vendor_name(d[i].vendor_id), d[i].vendor_id, d[i].device_id, ver);
        printf("    driver %s %s%s%s\n", d[i].driver_name[0] ? d[i].driver_name : "(unnamed)", drv,
               d[i].driver_info[0] ? ", " : "", d[i].driver_info);
        for (uint32_t h = 0; h < d[i].heap_count; h++)
            printf("    heap %u: %.1f GiB%s\n", h, d[i].heaps[h].size / (1024.0 * 1024.0 * 1024.0),
                   d[i].heaps[h].device_local ? " device-local" : "");
        printf("    subgroup %u (%u..%u), workgroup max %u (%u x %u x %u), shared memory %u KiB\n", d[i].subgroup_size,
               d[i].min_subgroup_size, d[i].max_subgroup_size, d[i].max_workgroup_invocations, d[i].max_workgroup_size[0],
               d[i].max_workgroup_size[1], d[i].max_workgroup_size[2], d[i].max_shared_memory / 1024);
        printf("    storage buffer range %.1f MiB, allocation max %.1f MiB, push constants %u B\n",
               d[i].max_storage_buffer_range / (1024.0 * 1024.0), d[i].max_allocation_size / (1024.0 * 1024.0),
               d[i].max_push_constants);
        feature_row rows[16];
        int nf = features_of(&d[i].features, rows);
        printf("    features:");
        for (int k = 0; k < nf; k++)
            if (rows[k].value) printf(" %s", rows[k].name);
        printf("\n    missing: ");
        int any = 0;
        for (int k = 0; k < nf; k++)
            if (!rows[k].value) printf("%s%s", any++ ? " " : "", rows[k].name);
        printf("%s\n", any ? "" : "(none)");
    }
}

int cmd_devices(int argc, char **argv) {
    static const struct option options[] = {{"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    bool json = false;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (c == 'j') json = true;
        else if (c == 'h') { fputs(devices_help, stdout); return CLI_EXIT_OK; }
        else return cli_usage_error("devices", "unknown option '%s'", argv[optind - 1]);
    }
    if (optind < argc) return cli_usage_error("devices", "unexpected argument '%s'", argv[optind]);
    evk_device_info *devices;
    uint32_t n;
    evk_status s = evk_devices_list(&devices, &n);
    if (s) return cli_report(s);
    int rc = CLI_EXIT_OK;
    if (json) rc = print_json(devices, n);
    else print_table(devices, n);
    free(devices);
    return rc;
}
