/* test_tokenizer.c — the C CLIP tokenizer against transformers' CLIPTokenizer semantics
 * (tools/ref/fixtures_tokenizer.py): for ~70 hand-picked tricky strings (accents composed and not,
 * CJK, Hangul, emoji sequences, Greek final sigma, İ/ſ/K, controls, odd spaces, apostrophes,
 * special tokens inside text, very long prompts) and 400 seeded random mixtures, the cleaned
 * text and the ids must match exactly, with SD 1.x special tokens and with SD 2.x's ("!" as pad
 * token, so split out of the text). Also: 77-id encoding with padding and truncation, decoding,
 * invalid UTF-8, and damaged vocabulary files. The built-in 49,408-token CLIP vocabulary (the one
 * single-file checkpoints use) against the same re-implementation on the real vocabulary
 * (tools/ref/fixtures_clip_vocab.py: prompts, the tricky strings and 200 random mixtures). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/file.h"
#include "formats/config.h"
#include "harness.h"
#include "formats/tokenizer.h"
#include "formats/clip_vocab.h"

static char dir[512];

static cJSON *load_cases(void) {
    char p[600];
    snprintf(p, sizeof p, "%s/cases.json", dir);
    char *text;
    TEST_OK(evk_file_read_text(p, 16u << 20, &text));
    cJSON *root = cJSON_Parse(text);
    free(text);
    assert_non_null(root);
    return root;
}

static evk_tokenizer *load_sd2(void) {
    char p[600], v[600], m[600];
    snprintf(p, sizeof p, "%s/sd2", dir);
    evk_tokenizer_config cfg;
    TEST_OK(evk_tokenizer_config_load(p, &cfg));
    assert_string_equal(cfg.pad.content, "!");
    snprintf(v, sizeof v, "%s/vocab.json", dir);
    snprintf(m, sizeof m, "%s/merges.txt", dir);
    evk_tokenizer *tok;
    TEST_OK(evk_tokenizer_load_files(v, m, &cfg, &tok));
    return tok;
}

static void show(const char *what, const char *text, const int32_t *got, size_t ng, const cJSON *want) {
    fprintf(stderr, "%s mismatch for \"", what);
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) fprintf(stderr, *c >= 32 && *c < 127 ? "%c" : "\\x%02x", *c);
    fprintf(stderr, "\"\n  got :");
    for (size_t i = 0; i < ng; i++) fprintf(stderr, " %d", got[i]);
    fprintf(stderr, "\n  want:");
    for (const cJSON *e = want->child; e; e = e->next) fprintf(stderr, " %d", e->valueint);
    fprintf(stderr, "\n");
}

static int same_ids(const int32_t *got, size_t n, const cJSON *want) {
    if ((size_t)cJSON_GetArraySize(want) != n) return 0;
    size_t i = 0;
    for (const cJSON *e = want->child; e; e = e->next, i++)
        if (got[i] != e->valueint) return 0;
    return 1;
}

static void test_cases_match_reference(void **state) {
    (void)state;
    cJSON *root = load_cases();
    evk_tokenizer *sd1, *sd2 = load_sd2();
    TEST_OK(evk_tokenizer_load(dir, &sd1));
    assert_int_equal(evk_tokenizer_vocab_size(sd1), cJSON_GetObjectItem(root, "vocab_size")->valueint);
    assert_int_equal(evk_tokenizer_max_length(sd1), 77);
    assert_int_equal(evk_tokenizer_pad(sd1), evk_tokenizer_eos(sd1));
    assert_int_equal(evk_tokenizer_pad(sd2), 0);
    int bad = 0, n = 0;
    for (const cJSON *c = cJSON_GetObjectItem(root, "cases")->child; c; c = c->next, n++) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        char *norm;
        TEST_OK(evk_tokenizer_normalize(text, &norm));
        if (strcmp(norm, cJSON_GetObjectItem(c, "normalized")->valuestring)) {
            fprintf(stderr, "normalized mismatch: got \"%s\" want \"%s\"\n", norm, cJSON_GetObjectItem(c, "normalized")->valuestring);
            bad++;
        }
        free(norm);
        for (int k = 0; k < 2; k++) {
            int32_t *ids;
            size_t count;
            TEST_OK(evk_tokenizer_tokenize(k ? sd2 : sd1, text, &ids, &count));
            const cJSON *want = cJSON_GetObjectItem(c, k ? "tokens_sd2" : "tokens");
            if (!same_ids(ids, count, want)) {
                show(k ? "sd2 ids" : "ids", text, ids, count, want);
                bad++;
            }
            free(ids);
        }
    }
    if (bad) fail_msg("%d mismatches over %d cases (printed above)", bad, n);
    assert_true(n > 400);
    evk_tokenizer_destroy(sd1);
    evk_tokenizer_destroy(sd2);
    cJSON_Delete(root);
}

static void test_encode_pad_truncate_decode(void **state) {
    (void)state;
    cJSON *root = load_cases();
    evk_tokenizer *sd1, *sd2 = load_sd2();
    TEST_OK(evk_tokenizer_load(dir, &sd1));
    for (int k = 0; k < 2; k++) {
        const cJSON *enc = cJSON_GetObjectItem(root, k ? "encoded_sd2" : "encoded");
        for (const cJSON *e = enc->child; e; e = e->next) {
            int32_t ids[77];
            for (int i = 0; i < 77; i++) ids[i] = -7;
            evk_tokenize_info info;
            TEST_OK(evk_tokenizer_encode(k ? sd2 : sd1, e->string, ids, 0, &info));
            if (!same_ids(ids, 77, e)) {
                show("encode", e->string, ids, 77, e);
                fail_msg("encode mismatch");
            }
            bool long_prompt = strlen(e->string) > 300;
            assert_int_equal(info.truncated, long_prompt ? info.tokens - 75 : 0);
            if (long_prompt) {
                assert_true(info.tokens >= 100);
                assert_int_equal(ids[76], evk_tokenizer_eos(sd1)); /* eos kept last */
                assert_non_null(strstr(evk_error_message(), "truncated"));
            }
        }
    }
    /* a shorter context */
    int32_t ids[8];
    evk_tokenize_info info;
    TEST_OK(evk_tokenizer_encode(sd1, "a photo of a cat on a red chair", ids, 8, &info));
    assert_int_equal(ids[0], evk_tokenizer_bos(sd1));
    assert_int_equal(ids[7], evk_tokenizer_eos(sd1));
    assert_true(info.truncated > 0);
    assert_int_equal(evk_tokenizer_encode(sd1, "x", ids, 1, &info), EVK_ERROR_INVALID_ARGUMENT);
    /* decoding gives the cleaned prompt back */
    int32_t *t;
    size_t n;
    TEST_OK(evk_tokenizer_tokenize(sd1, "A Photo of  a CAT, it's 4k!", &t, &n));
    char *text;
    TEST_OK(evk_tokenizer_decode(sd1, t, n, &text));
    assert_string_equal(text, "a photo of a cat , it 's 4 k !");
    free(text);
    free(t);
    TEST_OK(evk_tokenizer_tokenize(sd1, "café 日本", &t, &n));
    TEST_OK(evk_tokenizer_decode(sd1, t, n, &text));
    assert_string_equal(text, "café 日 本");
    free(text);
    free(t);
    int32_t wrong = 1 << 20;
    assert_int_equal(evk_tokenizer_decode(sd1, &wrong, 1, &text), EVK_ERROR_INVALID_ARGUMENT);
    /* invalid UTF-8 decodes to U+FFFD, which the cleanup drops */
    int32_t *u;
    size_t un;
    TEST_OK(evk_tokenizer_tokenize(sd1, "ab\xff\xfe c\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80", &u, &un));
    TEST_OK(evk_tokenizer_tokenize(sd1, "ab c", &t, &n));
    assert_int_equal(un, n);
    assert_memory_equal(u, t, n * sizeof *t);
    free(u);
    free(t);
    assert_int_equal(evk_tokenizer_token_id(sd1, "<|endoftext|>"), evk_tokenizer_eos(sd1));
    assert_int_equal(evk_tokenizer_token_id(sd1, "no-such-token"), -1);
    evk_tokenizer_destroy(sd1);
    evk_tokenizer_destroy(sd2);
    cJSON_Delete(root);
}

static void test_builtin_vocabulary(void **state) {
    (void)state;
    char p[600];
    snprintf(p, sizeof p, "%s/cases_clip.json", dir);
    char *text;
    TEST_OK(evk_file_read_text(p, 16u << 20, &text));
    cJSON *root = cJSON_Parse(text);
    free(text);
    assert_non_null(root);
    evk_tokenizer *sd1, *sd2;
    evk_tokenizer_config c2;
    TEST_OK(evk_tokenizer_config_parse(NULL, "{\"pad_token\": \"!\"}", "sd2 specials", &c2));
    TEST_OK(evk_tokenizer_load_builtin(NULL, &sd1));
    TEST_OK(evk_tokenizer_load_builtin(&c2, &sd2));
    assert_int_equal(evk_tokenizer_vocab_size(sd1), 49408);
    assert_int_equal(cJSON_GetObjectItem(root, "vocab_size")->valueint, 49408);
    assert_int_equal(evk_tokenizer_bos(sd1), 49406);
    assert_int_equal(evk_tokenizer_eos(sd1), 49407);
    assert_int_equal(evk_tokenizer_pad(sd1), 49407);
    assert_int_equal(evk_tokenizer_pad(sd2), 0);
    int bad = 0, n = 0;
    for (const cJSON *c = cJSON_GetObjectItem(root, "cases")->child; c; c = c->next, n++) {
        const char *t = cJSON_GetObjectItem(c, "text")->valuestring;
        for (int k = 0; k < 2; k++) {
            int32_t *ids;
            size_t count;
            TEST_OK(evk_tokenizer_tokenize(k ? sd2 : sd1, t, &ids, &count));
            const cJSON *want = cJSON_GetObjectItem(c, k ? "tokens_sd2" : "tokens");
            if (!same_ids(ids, count, want)) {
                show(k ? "built-in sd2 ids" : "built-in ids", t, ids, count, want);
                bad++;
            }
            free(ids);
        }
    }
    for (int k = 0; k < 2; k++)
        for (const cJSON *e = cJSON_GetObjectItem(root, k ? "encoded_sd2" : "encoded")->child; e; e = e->next, n++) {
            int32_t ids[77];
            TEST_OK(evk_tokenizer_encode(k ? sd2 : sd1, e->string, ids, 77, NULL));
            if (!same_ids(ids, 77, e)) {
                show("built-in encoding", e->string, ids, 77, e);
                bad++;
            }
        }
    if (bad) fail_msg("%d mismatches over %d cases (printed above)", bad, n);
    assert_true(n > 250);
    evk_tokenizer_destroy(sd1);
    evk_tokenizer_destroy(sd2);
    cJSON_Delete(root);
}

static void test_bad_tokenizer_files(void **state) {
    (void)state;
    evk_tokenizer *tok;
    const char *merges = "#version: 0.2\na b\n";
    assert_int_equal(evk_tokenizer_load_text("[1, 2]", merges, NULL, "tok", &tok), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "vocab.json"));
    assert_int_equal(evk_tokenizer_load_text("{\"a\": -3}", merges, NULL, "tok", &tok), EVK_ERROR_FORMAT);
    assert_int_equal(evk_tokenizer_load_text("{\"a\": 0}", merges, NULL, "tok", &tok), EVK_ERROR_FORMAT);
    assert_non_null(strstr(evk_error_message(), "<|startoftext|>")); /* bos missing from the vocabulary */
    assert_int_equal(evk_tokenizer_load_text("{\"a\": 0, \"<|startoftext|>\": 1, \"<|endoftext|>\": 2}", NULL, NULL, "tok", &tok),
                     EVK_ERROR_FORMAT);
    /* a vocabulary lacking byte symbols: unknown pieces become unk, as in transformers */
    TEST_OK(evk_tokenizer_load_text("{\"a</w>\": 0, \"<|startoftext|>\": 1, \"<|endoftext|>\": 2}", merges, NULL, "tok", &tok));
    int32_t *ids;
    size_t n;
    TEST_OK(evk_tokenizer_tokenize(tok, "a b", &ids, &n));
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids[1], 2);
    free(ids);
    evk_tokenizer_destroy(tok);
    char p[600];
    snprintf(p, sizeof p, "%s/nonexistent", dir);
    assert_int_equal(evk_tokenizer_load(p, &tok), EVK_ERROR_IO);
}

int main(void) {
    const char *data = getenv("EVOKE_TEST_DATA");
    snprintf(dir, sizeof dir, "%s/tokenizer", data ? data : "tests/data");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases_match_reference),
        cmocka_unit_test(test_encode_pad_truncate_decode),
        cmocka_unit_test(test_builtin_vocabulary),
        cmocka_unit_test(test_bad_tokenizer_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
