/* analytic.h — analytic rewards on vectors (analytic.c): linear, Gaussian bump, negative distance. */
#ifndef EVK_REWARD_ANALYTIC_H
#define EVK_REWARD_ANALYTIC_H

#include "rewards/reward.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum evk_analytic_kind {
    EVK_REWARD_LINEAR = 0,
    EVK_REWARD_GAUSSIAN_BUMP,
    EVK_REWARD_NEG_DISTANCE,
} evk_analytic_kind;

/* An analytic reward on vectors of `dim` elements; vec is the direction or the center. */
evk_status evk_reward_analytic_create(evk_context *ctx, evk_analytic_kind kind, uint32_t dim, const double *vec, double width,
                                      evk_reward **out);

#ifdef __cplusplus
}
#endif
#endif
