/* clip_vocab.h — the CLIP BPE vocabulary built into the library: openai/CLIP's
 * bpe_simple_vocab_16e6.txt (MIT; assets/clip/, embedded at build time), from which CLIP, OpenCLIP
 * and every Stable Diffusion 1.x / 2.x tokenizer derive their 49,408 tokens. Single-file
 * checkpoints carry no tokenizer, so this is what they tokenize with (as stable-diffusion.cpp,
 * which embeds the same file). */
#ifndef EVK_CLIP_VOCAB_H
#define EVK_CLIP_VOCAB_H

#include "core/status.h"
#include "formats/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The tokenizer transformers' CLIPTokenizer builds from that vocabulary (vocab.json: the 256
 * byte symbols, the same with "</w>", the first 48,894 merges joined, <|startoftext|> and
 * <|endoftext|>; merges.txt: those merges). `config` NULL means CLIPTokenizer's defaults (SD 1.x);
 * SD 2.x declares "!" as its pad token. */
evk_status evk_tokenizer_load_builtin(const evk_tokenizer_config *config, evk_tokenizer **out);

/* OpenCLIP's tokenizer for the checkpoint file `beside`: the `tokenizer/` folder next to it when
 * it holds a vocab.json (a model trained with its own vocabulary, as the shipped tiny video
 * models), else the built-in vocabulary; either way zero padded ("!" is id 0) to `max_length`
 * tokens, as open_clip.tokenize pads. */
evk_status evk_tokenizer_load_openclip(const char *beside, int max_length, evk_tokenizer **out);

#ifdef __cplusplus
}
#endif
#endif
