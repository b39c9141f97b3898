/* fuzz_config.c — libFuzzer harness for the JSON config parsers: the same text goes through
 * every parser (each must either accept it or fail with a status and a message), and a UNet or
 * VAE config that parses is turned into a single-file key map and asked for names. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/config.h"
#include "models/sd/sd_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    evk_model_index mi;
    evk_unet_config u;
    evk_unet3d_config u3;
    evk_vae_config v;
    evk_clip_text_config t;
    evk_clip_config c;
    evk_clip_preprocess_config p;
    evk_scheduler_config s;
    evk_mmdit_config x;
    evk_tokenizer_config k;
    evk_weight_ref ref;
    evk_sd_keys keys;
    if (evk_model_index_parse(text, "model_index.json", &mi) == EVK_OK)
        for (int i = 0; i < mi.count; i++) (void)evk_model_index_class(&mi, mi.components[i].name);
    if (evk_unet_config_parse(text, "unet/config.json", &u) == EVK_OK && evk_sd_keys_unet(&u, &keys) == EVK_OK) {
        static const char *const names[] = {"down_blocks.1.resnets.1.conv1.weight", "up_blocks.2.upsamplers.0.conv.weight",
                                            "mid_block.attentions.0.proj_in.weight", "down_blocks.7.attentions.0.norm.bias"};
        for (int i = 0; i < 4; i++) (void)evk_sd_keys_map(&keys, names[i], &ref);
    }
    if (evk_vae_config_parse(text, "vae/config.json", &v) == EVK_OK && evk_sd_keys_vae(&v, &keys) == EVK_OK)
        (void)evk_sd_keys_map(&keys, "decoder.up_blocks.3.upsamplers.0.conv.weight", &ref);
    (void)evk_unet3d_config_parse(text, "unet/config.json", &u3);
    (void)evk_clip_text_config_parse(text, "text_encoder/config.json", &t);
    (void)evk_clip_config_parse(text, "config.json", &c);
    (void)evk_clip_preprocess_config_parse(text, "preprocessor_config.json", &p);
    (void)evk_scheduler_config_parse(text, "scheduler_config.json", &s);
    (void)evk_mmdit_config_parse(text, "transformer/config.json", &x);
    (void)evk_tokenizer_config_parse(text, text, "tokenizer", &k);
    evk_openclip_config oc = {16, 16, false};
    (void)evk_openclip_config_parse(text, "config.json", &oc);
    free(text);
    return 0;
}
