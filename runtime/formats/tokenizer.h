/* tokenizer.h — the CLIP byte-level BPE tokenizer, giving the same ids as transformers'
 * CLIPTokenizer (the slow tokenizer diffusers pipelines use, as it runs without ftfy).
 *
 * Loaded from a tokenizer folder (vocab.json, merges.txt, tokenizer_config.json,
 * special_tokens_map.json). Encoding a prompt:
 *   1. the text is split around the special tokens (bos/eos/unk/pad and added tokens), which map
 *      straight to their ids — note SD 2.x tokenizers declare "!" as pad token, so every "!" in
 *      a prompt becomes id 0 there, exactly as in transformers;
 *   2. each other piece is cleaned like transformers' BasicTokenizer: control characters, NUL and
 *      U+FFFD dropped, whitespace turned into spaces, CJK ideographs spaced apart, NFC
 *      normalisation, split on whitespace, lower-casing (full Unicode, with the final-sigma rule);
 *   3. split by CLIP's pattern (special tokens, 's 't 're 've 'm 'll 'd, runs of letters, single
 *      digits, runs of other symbols), each piece's UTF-8 bytes mapped to the GPT-2 byte
 *      alphabet, "</w>" appended to its last symbol, and BPE merges applied by rank;
 *   4. [bos] + tokens[:max_length-2] + [eos], padded with the pad token to max_length (77).
 * Prompts longer than max_length-2 tokens are truncated (eos is kept last) and the caller is
 * told how many tokens were dropped. Invalid UTF-8 is decoded with U+FFFD replacements (which
 * step 2 drops), as Python's errors="replace" would. */
#ifndef EVK_TOKENIZER_H
#define EVK_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "formats/config.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_tokenizer evk_tokenizer;

/* A folder holding vocab.json and merges.txt (+ optional tokenizer_config.json and
 * special_tokens_map.json). */
evk_status evk_tokenizer_load(const char *folder, evk_tokenizer **out);
/* Explicit files; `config` NULL means CLIPTokenizer's defaults. */
evk_status evk_tokenizer_load_files(const char *vocab_json, const char *merges_txt, const evk_tokenizer_config *config,
                                    evk_tokenizer **out);
/* From the files' contents (NUL-terminated); `label` names them in messages. */
evk_status evk_tokenizer_load_text(const char *vocab_json, const char *merges_txt, const evk_tokenizer_config *config,
                                   const char *label, evk_tokenizer **out);
void evk_tokenizer_destroy(evk_tokenizer *tok);

typedef struct evk_tokenize_info {
    size_t tokens;      /* tokens of the text alone (without bos/eos) */
    size_t truncated;   /* how many of them did not fit and were dropped (0: none) */
} evk_tokenize_info;

/* Exactly `max_length` ids (0: the config's model_max_length): bos, the text's tokens, eos,
 * padding. `info` (optional) says whether the text was truncated; a truncation also leaves a
 * warning in evk_error_message() while returning EVK_OK. */
evk_status evk_tokenizer_encode(const evk_tokenizer *tok, const char *text, int32_t *ids, size_t max_length,
                                evk_tokenize_info *info);
/* The text's token ids without bos/eos/padding; *ids is malloc'ed (free()). */
evk_status evk_tokenizer_tokenize(const evk_tokenizer *tok, const char *text, int32_t **ids, size_t *count);
/* Step 2 alone for one piece of text (no special-token split): the cleaned, NFC-normalised,
 * lower-cased, single-space-joined UTF-8 string the split pattern runs on. free() *out. */
evk_status evk_tokenizer_normalize(const char *text, char **out);
/* Token ids back to text (specials skipped, "</w>" read as a space); free() *out. */
evk_status evk_tokenizer_decode(const evk_tokenizer *tok, const int32_t *ids, size_t count, char **out);

size_t evk_tokenizer_max_length(const evk_tokenizer *tok);
size_t evk_tokenizer_vocab_size(const evk_tokenizer *tok);
int32_t evk_tokenizer_bos(const evk_tokenizer *tok);
int32_t evk_tokenizer_eos(const evk_tokenizer *tok);
int32_t evk_tokenizer_pad(const evk_tokenizer *tok);
/* Id of a token string (as in vocab.json), or -1. */
int32_t evk_tokenizer_token_id(const evk_tokenizer *tok, const char *token);

#ifdef __cplusplus
}
#endif
#endif
