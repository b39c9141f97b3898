/* test_op_attention_tiled.c — the cases of test_op_attention.c run on the shared-memory tiled
 * attention kernel (the one GPUs use), with fewer head dims: lavapipe takes seconds to compile
 * each of its pipelines. */
#define ATT_TILED 1
#include "test_op_attention.c"
