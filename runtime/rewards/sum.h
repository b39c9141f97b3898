/* sum.h — weighted sums of rewards (sum.c). */
#ifndef EVK_REWARD_SUM_H
#define EVK_REWARD_SUM_H

#include "rewards/reward.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Weighted sum of rewards; takes ownership of the terms (also on failure). */
evk_status evk_reward_sum(evk_context *ctx, uint32_t count, evk_reward **terms, const double *weights, evk_reward **out);

#ifdef __cplusplus
}
#endif
#endif
