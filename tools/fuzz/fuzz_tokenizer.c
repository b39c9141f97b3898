/* fuzz_tokenizer.c — libFuzzer harness for the CLIP tokenizer: arbitrary bytes (any UTF-8,
 * valid or not) are tokenized with the SD 1.x and SD 2.x special tokens, encoded to 77 ids,
 * normalized and decoded back; ids must stay inside the vocabulary. The vocabulary is the test
 * fixture (EVOKE_TOKENIZER_DIR, default tests/data/tokenizer). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/config.h"
#include "formats/tokenizer.h"

static evk_tokenizer *sd1, *sd2;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *dir = getenv("EVOKE_TOKENIZER_DIR");
    if (!dir) dir = "tests/data/tokenizer";
    if (evk_tokenizer_load(dir, &sd1) != EVK_OK) abort();
    char p[4096], v[4096], m[4096];
    evk_tokenizer_config cfg;
    snprintf(p, sizeof p, "%s/sd2", dir);
    snprintf(v, sizeof v, "%s/vocab.json", dir);
    snprintf(m, sizeof m, "%s/merges.txt", dir);
    if (evk_tokenizer_config_load(p, &cfg) != EVK_OK || evk_tokenizer_load_files(v, m, &cfg, &sd2) != EVK_OK) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    for (int k = 0; k < 2; k++) {
        const evk_tokenizer *tok = k ? sd2 : sd1;
        int32_t *ids;
        size_t n;
        if (evk_tokenizer_tokenize(tok, text, &ids, &n) == EVK_OK) {
            for (size_t i = 0; i < n; i++)
                if (ids[i] < 0 || (size_t)ids[i] >= evk_tokenizer_vocab_size(tok)) abort();
            char *back;
            if (evk_tokenizer_decode(tok, ids, n, &back) == EVK_OK) free(back);
            free(ids);
        }
        int32_t enc[77];
        evk_tokenize_info info;
        if (evk_tokenizer_encode(tok, text, enc, 77, &info) == EVK_OK) {
            if (enc[0] != evk_tokenizer_bos(tok)) abort();
            if (info.tokens - info.truncated > 75) abort();
            if (enc[info.tokens - info.truncated + 1] != evk_tokenizer_eos(tok)) abort();
        }
    }
    char *norm;
    if (evk_tokenizer_normalize(text, &norm) == EVK_OK) free(norm);
    free(text);
    return 0;
}
