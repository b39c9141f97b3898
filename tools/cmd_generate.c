/* cmd_generate.c — `evoke generate`: run a search (sample, bon, fk, evo) of a model against a
 * reward at a given NFE and write the JSON report. Every input is checked before the device is
 * touched where possible; bad input is one line on stderr and exit code 2, and no report. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model.h"
#include "reward.h"
#include "sampler.h"
#include "search.h"

static const char *generate_help =
    "usage: evoke generate --model FILE --reward FILE --method sample|bon|fk|evo --report FILE [options]\n"
    "\n"
    "Search over denoising trajectories of a model for samples a reward likes, and write a JSON\n"
    "report (method, parameters, exact NFE, reward calls, wall time, best reward and sample, the\n"
    "final population with its rewards, and per generation / resampling round: step, population,\n"
    "best / mean / min reward, NFE so far).\n"
    "\n"
    "  --model FILE           model file (JSON; {\"family\":\"gmm\",...} is the exact Gaussian mixture)\n"
    "  --reward FILE          reward file (JSON: linear, gaussian_bump, neg_distance, sum)\n"
    "  --method M             sample (N plain samples), bon (Best-of-N), fk (particle sampling),\n"
    "                         evo (EvoSearch)\n"
    "  --steps T              denoising steps (default 50)\n"
    "  --seed S               seed of every random draw (default 0)\n"
    "  --nfe N                budget: sample/bon/fk get N/T individuals, evo scales its population\n"
    "                         schedule to spend at most N model evaluations\n"
    "  --n N                  individuals for sample/bon/fk (default 16; not with --nfe)\n"
    "  --evolution-schedule L steps where evo evolves, e.g. 0,20,30,40 (default: that, scaled to T)\n"
    "  --population-schedule L  population sizes, one more than evolution steps (default 42,26,26,26,30)\n"
    "  --elites E             elites kept unmutated (default 5; 0 for none)\n"
    "  --mutation-rate B      beta of the first-generation mutation sqrt(1-B^2)x + B eps (default 0.2)\n"
    "  --lambda L             fk: potential sharpness (default 10)\n"
    "  --potential P          fk: diff, max or add (default diff)\n"
    "  --sampler S            ddim, ddpm, euler, flow-sde or lcm (default ddim for VP models,\n"
    "                         flow-sde for flow models)\n"
    "  --eta E                DDIM eta (default 1: the stochastic sampler searches need)\n"
    "  --spacing S            DDIM timestep spacing: leading, trailing, linspace (default trailing)\n"
    "  --steps-offset N       DDIM steps_offset (default 0)\n"
    "  --shift S              flow timestep shift (default 1)\n"
    "  --guidance W           classifier-free guidance scale (two model calls per evaluation)\n"
    "  --chunk N              at most N individuals per model call (default: as memory allows)\n"
    "  --report FILE          where to write the JSON report\n"
    "  --progress             one line per generation on stderr: generation, NFE, best reward\n"
    "  --device N             Vulkan device index (see `evoke devices`)\n"
    "  -h, --help             this text\n";

static const char *cmd = "generate";

static bool parse_list(const char *option, const char *text, uint32_t *out, uint32_t max, uint32_t *count) {
    uint32_t n = 0;
    if (!text || !*text) {
        cli_usage_error(cmd, "%s is empty", option);
        return false;
    }
    char *copy = strdup(text), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == max) {
            cli_usage_error(cmd, "%s has more than %u entries", option, max);
            free(copy);
            return false;
        }
        if (!cli_parse_u32(cmd, option, tok, &out[n++])) {
            free(copy);
            return false;
        }
    }
    free(copy);
    if (!n) {
        cli_usage_error(cmd, "%s is empty", option);
        return false;
    }
    *count = n;
    return true;
}

static void on_progress(void *user, const evk_search_progress *p) {
    (void)user;
    fprintf(stderr, "evoke generate: %s generation %u  step %u  population %u  nfe %llu  best %.6g\n", evk_search_method_name(p->method),
            p->generation, p->step, p->population, (unsigned long long)p->nfe, p->best_reward);
}

int cmd_generate(int argc, char **argv) {
    enum { O_MODEL = 256, O_REWARD, O_METHOD, O_STEPS, O_SEED, O_NFE, O_N, O_EVO, O_POP, O_ELITES, O_MUT, O_LAMBDA, O_POT, O_SAMPLER,
           O_ETA, O_SPACING, O_OFFSET, O_SHIFT, O_GUIDANCE, O_CHUNK, O_REPORT, O_PROGRESS, O_DEVICE };
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL}, {"reward", required_argument, 0, O_REWARD}, {"method", required_argument, 0, O_METHOD},
        {"steps", required_argument, 0, O_STEPS}, {"seed", required_argument, 0, O_SEED}, {"nfe", required_argument, 0, O_NFE},
        {"n", required_argument, 0, O_N}, {"evolution-schedule", required_argument, 0, O_EVO},
        {"population-schedule", required_argument, 0, O_POP}, {"elites", required_argument, 0, O_ELITES},
        {"mutation-rate", required_argument, 0, O_MUT}, {"lambda", required_argument, 0, O_LAMBDA},
        {"potential", required_argument, 0, O_POT}, {"sampler", required_argument, 0, O_SAMPLER}, {"eta", required_argument, 0, O_ETA},
        {"spacing", required_argument, 0, O_SPACING}, {"steps-offset", required_argument, 0, O_OFFSET},
        {"shift", required_argument, 0, O_SHIFT}, {"guidance", required_argument, 0, O_GUIDANCE}, {"chunk", required_argument, 0, O_CHUNK},
        {"report", required_argument, 0, O_REPORT}, {"progress", no_argument, 0, O_PROGRESS}, {"device", required_argument, 0, O_DEVICE},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *model_path = NULL, *reward_path = NULL, *report_path = NULL, *sampler_name = NULL;
    bool have_method = false, have_eta = false, progress = false, have_device = false;
    uint32_t steps = 50, u, device = 0, offset = 0;
    double d, eta = 1, shift = 1;
    evk_spacing spacing = EVK_SPACING_TRAILING;
    evk_search_config sc = {0};
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(generate_help, stdout); return CLI_EXIT_OK;
        case O_MODEL: model_path = optarg; break;
        case O_REWARD: reward_path = optarg; break;
        case O_REPORT: report_path = optarg; break;
        case O_METHOD:
            if (!evk_search_method_parse(optarg, &sc.method)) return cli_usage_error(cmd, "unknown method '%s' (sample, bon, fk, evo)", optarg);
            have_method = true;
            break;
        case O_STEPS: if (!cli_parse_u32(cmd, "--steps", optarg, &steps)) return CLI_EXIT_USAGE; break;
        case O_SEED:
            if (!cli_parse_double(cmd, "--seed", optarg, &d) || d < 0 || d != (double)(uint64_t)d)
                return cli_usage_error(cmd, "--seed expects a non-negative integer, got '%s'", optarg);
            sc.seed = (uint64_t)d;
            break;
        case O_NFE:
            if (!cli_parse_double(cmd, "--nfe", optarg, &d) || d < 1 || d != (double)(uint64_t)d)
                return cli_usage_error(cmd, "--nfe expects a positive integer, got '%s'", optarg);
            sc.nfe = (uint64_t)d;
            break;
        case O_N:
            if (!cli_parse_u32(cmd, "--n", optarg, &sc.n)) return CLI_EXIT_USAGE;
            if (!sc.n) return cli_usage_error(cmd, "--n must be at least 1");
            break;
        case O_EVO:
            if (!parse_list("--evolution-schedule", optarg, sc.evolution_schedule, EVK_SEARCH_MAX_GENERATIONS, &sc.evolution_count)) return CLI_EXIT_USAGE;
            break;
        case O_POP:
            if (!parse_list("--population-schedule", optarg, sc.population_schedule, EVK_SEARCH_MAX_GENERATIONS + 1, &sc.population_count))
                return CLI_EXIT_USAGE;
            break;
        case O_ELITES:
            if (!cli_parse_u32(cmd, "--elites", optarg, &u)) return CLI_EXIT_USAGE;
            sc.elites = u ? u : EVK_ELITES_NONE;
            break;
        case O_MUT:
            if (!cli_parse_double(cmd, "--mutation-rate", optarg, &d)) return CLI_EXIT_USAGE;
            if (!(d > 0 && d <= 1)) return cli_usage_error(cmd, "--mutation-rate must be in (0, 1], got %g", d);
            sc.mutation_rate = d;
            break;
        case O_LAMBDA:
            if (!cli_parse_double(cmd, "--lambda", optarg, &d)) return CLI_EXIT_USAGE;
            if (d == 0) return cli_usage_error(cmd, "--lambda must not be 0");
            sc.fk_lambda = d;
            break;
        case O_POT:
            if (!evk_fk_potential_parse(optarg, &sc.fk_potential)) return cli_usage_error(cmd, "unknown potential '%s' (diff, max, add)", optarg);
            break;
        case O_SAMPLER: sampler_name = optarg; break;
        case O_ETA:
            if (!cli_parse_double(cmd, "--eta", optarg, &eta)) return CLI_EXIT_USAGE;
            if (eta < 0) return cli_usage_error(cmd, "--eta must be >= 0");
            have_eta = true;
            break;
        case O_SPACING:
            if (!strcmp(optarg, "leading")) spacing = EVK_SPACING_LEADING;
            else if (!strcmp(optarg, "trailing")) spacing = EVK_SPACING_TRAILING;
            else if (!strcmp(optarg, "linspace")) spacing = EVK_SPACING_LINSPACE;
            else return cli_usage_error(cmd, "unknown spacing '%s' (leading, trailing, linspace)", optarg);
            break;
        case O_OFFSET: if (!cli_parse_u32(cmd, "--steps-offset", optarg, &offset)) return CLI_EXIT_USAGE; break;
        case O_SHIFT:
            if (!cli_parse_double(cmd, "--shift", optarg, &shift)) return CLI_EXIT_USAGE;
            if (!(shift > 0)) return cli_usage_error(cmd, "--shift must be > 0");
            break;
        case O_GUIDANCE:
            if (!cli_parse_double(cmd, "--guidance", optarg, &d)) return CLI_EXIT_USAGE;
            if (d < 0) return cli_usage_error(cmd, "--guidance must be >= 0");
            sc.guidance = (float)d;
            break;
        case O_CHUNK:
            if (!cli_parse_u32(cmd, "--chunk", optarg, &sc.chunk)) return CLI_EXIT_USAGE;
            if (!sc.chunk) return cli_usage_error(cmd, "--chunk must be at least 1");
            break;
        case O_PROGRESS: progress = true; break;
        case O_DEVICE: if (!cli_parse_u32(cmd, "--device", optarg, &device)) return CLI_EXIT_USAGE; have_device = true; break;
        default: return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!model_path) return cli_usage_error(cmd, "--model is required");
    if (!reward_path) return cli_usage_error(cmd, "--reward is required");
    if (!have_method) return cli_usage_error(cmd, "--method is required");
    if (!report_path) return cli_usage_error(cmd, "--report is required");
    if (steps < 1) return cli_usage_error(cmd, "--steps must be at least 1");
    if (progress) sc.progress = on_progress;
    /* the search configuration is checked before any device work */
    evk_search_config resolved;
    evk_status st = evk_search_resolve(&sc, steps, &resolved);
    if (st) return cli_report(st);

    evk_context_config cc = {.pick_device = have_device, .device_index = device};
    evk_context *ctx = NULL;
    evk_model *model = NULL;
    evk_reward *reward = NULL;
    evk_sampler *sampler = NULL;
    evk_search_result *res = NULL;
    int rc = CLI_EXIT_OK;
    st = evk_context_create(&cc, &ctx);
    if (!st) st = evk_model_load(ctx, model_path, &model);
    if (!st) st = evk_reward_load(ctx, reward_path, &reward);
    if (!st) {
        const evk_model_info *mi = evk_model_get_info(model);
        evk_sampler_config smc = {.schedule = mi->schedule, .prediction = mi->prediction, .steps = steps, .eta = eta, .spacing = spacing,
                                  .steps_offset = offset, .shift = shift};
        smc.kind = mi->schedule == EVK_SCHEDULE_FLOW ? EVK_SAMPLER_FLOW_SDE : EVK_SAMPLER_DDIM;
        if (sampler_name && !evk_sampler_kind_parse(sampler_name, &smc.kind))
            st = evk_fail(EVK_ERROR_INVALID_ARGUMENT, "unknown sampler '%s' (ddim, ddpm, euler, flow-sde, lcm)", sampler_name);
        else if (!have_eta && smc.kind == EVK_SAMPLER_LCM) smc.eta = 0;
        if (!st) st = evk_sampler_create(&smc, &sampler);
    }
    if (!st) st = evk_search_run(ctx, model, sampler, reward, &sc, &res);
    if (!st) st = evk_search_report_write(res, report_path, model_path, reward_path, sampler);
    if (st) rc = cli_report(st);
    else {
        printf("%s: best reward %.6g, NFE %llu, %llu reward calls, %.3f s (%u submissions for %llu denoising steps)\n",
               evk_search_method_name(res->config.method), res->best_reward, (unsigned long long)res->nfe,
               (unsigned long long)res->reward_calls, res->wall_seconds, res->submissions, (unsigned long long)res->steps_recorded);
    }
    evk_search_result_free(res);
    evk_sampler_destroy(sampler);
    evk_reward_destroy(reward);
    evk_model_destroy(model);
    evk_context_destroy(ctx);
    return rc;
}
