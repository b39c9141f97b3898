/* evoke.h — the library's front door: one include for the whole public API.
 *
 * A program that embeds evoke writes `#include <evoke/evoke.h>` (or `#include "evoke.h"` with the
 * include path pkg-config or the CMake package gives) and links with `pkg-config --libs evoke` or
 * `target_link_libraries(app evoke::evoke_shared)`. Every header listed here is installed, and
 * every installed header is listed here (tests/cli/cli_install.sh checks both directions); the
 * per-layer headers keep their layer paths ("core/stream.h", "models/model.h"), so a program may
 * also include only the ones it uses. tests/install/example.c is the smallest complete program. */
#ifndef EVOKE_H
#define EVOKE_H

/* core: status codes and messages, the device context, memory, pipelines, command streams, tensors */
#include "core/status.h"
#include "core/context.h"
#include "core/memory.h"
#include "core/pipeline.h"
#include "core/stream.h"
#include "core/tensor.h"

/* ops: one header per kernel family; each records into a stream */
#include "ops/activation.h"
#include "ops/op_variant.h"
#include "ops/op_attention.h"
#include "ops/op_axpbz.h"
#include "ops/op_conv.h"
#include "ops/op_dequant.h"
#include "ops/op_elementwise.h"
#include "ops/op_embedding.h"
#include "ops/op_fill.h"
#include "ops/op_image.h"
#include "ops/op_layout.h"
#include "ops/op_matmul.h"
#include "ops/op_modulate.h"
#include "ops/op_norm.h"
#include "ops/op_random.h"
#include "ops/op_reduce.h"
#include "ops/op_resample.h"

/* formats: weights and checkpoints, configs, images, videos and arrays, the tokenizer */
#include "formats/config.h"
#include "formats/diffusion.h"
#include "formats/png.h"
#include "formats/video.h"
#include "formats/safetensors.h"
#include "formats/tokenizer.h"
#include "formats/weights.h"

/* models, samplers, rewards */
#include "models/model.h"
#include "models/gmm/gmm.h"
#include "models/sd/sd.h"
#include "models/mmdit/sd3.h"
#include "samplers/sampler.h"
#include "rewards/reward.h"
#include "rewards/analytic.h"
#include "rewards/clip_score.h"
#include "rewards/aesthetic.h"
#include "rewards/sum.h"
#include "rewards/frames.h"
#include "rewards/openclip_reward.h"

/* the search layer: sampling, Best-of-N, FK particles, EvoSearch, over one device or several
 * (shard.h); and evk_generate, the one call that does what `evoke generate` does */
#include "shard.h"
#include "search.h"
#include "generate.h"

#endif
