/* diffusion.c — names of the shared diffusion enums (diffusion.h), for messages and reports. */
#include "formats/diffusion.h"

const char *evk_model_output_name(evk_model_output p) {
    switch (p) {
    case EVK_OUTPUT_EPS: return "eps";
    case EVK_OUTPUT_V: return "v";
    case EVK_OUTPUT_X0: return "x0";
    case EVK_OUTPUT_FLOW: return "flow";
    }
    return "?";
}

const char *evk_schedule_name(evk_schedule s) { return s == EVK_SCHEDULE_VP ? "vp" : s == EVK_SCHEDULE_FLOW ? "flow" : "?"; }

const char *evk_beta_schedule_name(evk_beta_schedule b) {
    static const char *n[] = {"scaled_linear", "linear", "squaredcos_cap_v2"};
    return (unsigned)b < 3 ? n[b] : "?";
}

const char *evk_spacing_name(evk_spacing s) {
    static const char *n[] = {"leading", "trailing", "linspace"};
    return (unsigned)s < 3 ? n[s] : "?";
}
