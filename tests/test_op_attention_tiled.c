/* test_op_attention_tiled.c — the cases of test_op_attention.c run on the shared-memory tiled
 * attention kernel (the one GPUs use), plus head dims that are not multiples of 4, which only
 * that kernel takes. */
#define ATT_TILED 1
#include "test_op_attention.c"
