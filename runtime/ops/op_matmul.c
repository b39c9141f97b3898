/* op_matmul.c — the matmul kernels' C entry: shape and dtype validation, the choice between the
 * GPU (shared-memory) and CPU (texel-buffer, register-tiled) kernels, and splitting one product
 * into several dispatches where an output would exceed maxStorageBufferRange or a grid would
 * exceed the device's workgroup counts. A weight matrix of GGUF blocks (EVK_DTYPE_QUANT) selects
 * the dequantising variant of either kernel for its block type. */
#include "ops/op_matmul.h"

#include "ops/ops_internal.h"

#include <stdio.h>
#include <string.h>

/* CPU tiles, measured on lavapipe (GFLOP per CPU second at 1024³ within one session, since the
 * machine's load moves wall time: 16×4/K4 14, 16×4/K8 15, 8×8/K8 21, 16×8/K4 25, 16×8/K8 27,
 * 16×16/K4 29, 32×16/K4 32). Larger tiles amortise the texel fetches (the accumulators live in
 * memory anyway) but the driver's compile time grows with the unrolled body: 1.5 s for 16×8/K4,
 * 12 s for 32×16/K4 per pipeline. So products big enough to repay it get the large tile and
 * everything else the small one (the tile shapes are in ops_internal.h, shared with convolution).
 * 8 invocations along N make one 8-wide subgroup share its A rows. Where subgroups are exactly
 * those 8 (lavapipe on AVX2) the *_shuffle builds fetch each A row once per subgroup; there the
 * small tile beats the large one (1024³: 74 against 63 GFLOP/s) and compiles faster, except with
 * quantised B, whose dequantisation the large tile's 32 rows amortise (bench/CONV.md, run 5). */
#define CPU_LARGE_MIN_WORK 8388608.0 /* M·N·K (2^23) from which the large tile pays */

/* The kernel variant suffix of a ggml block type; NULL for types without one. */
static const char *evk__matmul_quant_suffix(uint32_t type) {
    switch (type) {
    case 2: return "q4_0";
    case 3: return "q4_1";
    case 6: return "q5_0";
    case 7: return "q5_1";
    case 8: return "q8_0";
    case 12: return "q4_k";
    case 13: return "q5_k";
    case 14: return "q6_k";
    default: return NULL;
    }
}

typedef struct evk__mm_push {
    uint32_t m, n, k;
    uint32_t a_stride, b_stride, c_stride;
    float alpha;
    uint32_t a_off, b_off, c_off;
} evk__mm_push;

evk_status evk_op_matmul(evk_stream *s, const evk_tensor *a, const evk_tensor *b, const evk_tensor *bias,
                         const evk_tensor *c, const evk_matmul_params *params) {
    evk_matmul_params prm = params ? *params : (evk_matmul_params){0};
    if (prm.alpha == 0.0f) prm.alpha = 1.0f;
    if (!s || !a || !b || !c) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "matmul: stream, a, b and c are required");
    char sa[96], sb[96], sc[96];
    evk_tensor_shape_str(a, sa, sizeof sa);
    evk_tensor_shape_str(b, sb, sizeof sb);
    evk_tensor_shape_str(c, sc, sizeof sc);
    if (a->ndim < 2 || b->ndim < 2 || c->ndim < 2)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "matmul: a (%s), b (%s) and c (%s) need at least 2 dimensions", sa, sb, sc);
    const bool quant = b->dtype == EVK_DTYPE_QUANT;
    if ((a->dtype != EVK_DTYPE_F32 && a->dtype != EVK_DTYPE_F16) || (b->dtype != EVK_DTYPE_F32 && b->dtype != EVK_DTYPE_F16 && !quant))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "matmul: a is %s and b is %s; expected f32 or f16 (b also GGUF blocks)",
                        evk_dtype_name(a->dtype), evk_dtype_name(b->dtype));
    const char *qname = quant ? evk__matmul_quant_suffix(b->quant) : NULL;
    if (quant && !qname)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "matmul: b holds blocks of ggml type %u, which no kernel reads", (unsigned)b->quant);
    if (quant && (!prm.transpose_b || b->ndim != 2))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "matmul: quantised b (%s %s) must be a transposed 2-D weight matrix [N, K]",
                        evk_quant_name(b->quant), sb);
    if (c->dtype != EVK_DTYPE_F32) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "matmul: c is %s, expected f32", evk_dtype_name(c->dtype));
    int64_t M = prm.transpose_a ? a->shape[a->ndim - 1] : a->shape[a->ndim - 2];
    int64_t K = prm.transpose_a ? a->shape[a->ndim - 2] : a->shape[a->ndim - 1];
    int64_t Kb = prm.transpose_b ? b->shape[b->ndim - 1] : b->shape[b->ndim - 2];
    int64_t N = prm.transpose_b ? b->shape[b->ndim - 2] : b->shape[b->ndim - 1];
    if (M <= 0 || K <= 0 || N <= 0)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "matmul: empty operand (a %s, b %s)", sa, sb);
    if (K != Kb)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "matmul: inner dimensions differ: a %s%s gives K=%lld, b %s%s gives K=%lld", sa,
                        prm.transpose_a ? " (transposed)" : "", (long long)K, sb, prm.transpose_b ? " (transposed)" : "", (long long)Kb);
    int64_t batch_a = evk_tensor_numel(a) / (M * K), batch_b = evk_tensor_numel(b) / (K * N);
    int64_t batch = batch_a > batch_b ? batch_a : batch_b;
    if ((batch_a != batch && batch_a != 1) || (batch_b != batch && batch_b != 1))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "matmul: batch of a (%s: %lld) and of b (%s: %lld) differ and neither is 1", sa,
                        (long long)batch_a, sb, (long long)batch_b);
    if (c->shape[c->ndim - 1] != N || evk_tensor_numel(c) != batch * M * N)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "matmul: c is %s, expected %lld matrices of %lldx%lld", sc, (long long)batch,
                        (long long)M, (long long)N);
    if (bias) {
        char sbias[96];
        if (bias->dtype != EVK_DTYPE_F32 || evk_tensor_numel(bias) != N)
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "matmul: bias is %s %s, expected f32 with %lld elements",
                            evk_dtype_name(bias->dtype), evk_tensor_shape_str(bias, sbias, sizeof sbias), (long long)N);
    }
    if (evk__ranges_overlap(c, a) || evk__ranges_overlap(c, b) || evk__ranges_overlap(c, bias))
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "matmul: c (%s) overlaps an input", sc);
    if (batch * M * N > 0xffffffffLL || evk_tensor_numel(a) > 0xffffffffLL || evk_tensor_numel(b) > 0xffffffffLL)
        return evk_fail(EVK_ERROR_UNSUPPORTED, "matmul: more than 2^32 elements in one operand (a %s, b %s, c %s)", sa, sb, sc);

    /* Shared B and a row-major A of the full batch: one tall product is the same thing, and
     * fills the device better than many short ones. */
    if (batch > 1 && batch_b == 1 && batch_a == batch && !prm.transpose_a) {
        M *= batch;
        batch = batch_a = 1;
    }

    evk_context *ctx = evk_stream_context(s);
    const evk_device_info *info = evk_context_device(ctx);
    const uint64_t b_bytes = (evk_tensor_bytes(b) + 3) / 4 * 4; /* quantised: the blocks as whole words */
    if (quant && b_bytes > info->max_storage_buffer_range)
        return evk_fail(EVK_ERROR_UNSUPPORTED, "matmul: the %s weights %s take %llu bytes, more than one binding holds (%llu)",
                        evk_quant_name(b->quant), sb, (unsigned long long)b_bytes, (unsigned long long)info->max_storage_buffer_range);
    evk_kernel_variant variant = prm.variant;
    if (variant == EVK_KERNEL_AUTO) variant = evk_context_is_cpu(ctx) ? EVK_KERNEL_CPU : EVK_KERNEL_GPU;
    /* f16 storage buffers need the feature; texel buffers convert f16 on every device */
    if (variant == EVK_KERNEL_GPU && (a->dtype == EVK_DTYPE_F16 || b->dtype == EVK_DTYPE_F16) && !info->features.storage_16bit)
        variant = EVK_KERNEL_CPU;
    /* the GPU kernel's quantised variants take f32 activations (what Linear layers see) */
    if (variant == EVK_KERNEL_GPU && quant && a->dtype != EVK_DTYPE_F32) variant = EVK_KERNEL_CPU;
    char shader_name[32];
    const bool cpu = variant == EVK_KERNEL_CPU;

    evk_pipeline_desc desc = {.binding_count = 4, .push_size = sizeof(evk__mm_push)};
    uint32_t tile_m, tile_n;
    bool vec_a = false, vec_b = false;
    if (cpu) {
        /* rgba fetches need the contiguous dimension (and so every matrix start) in fours */
        vec_a = (prm.transpose_a ? M : K) % 4 == 0;
        vec_b = (prm.transpose_b ? K : N) % 4 == 0;
        const bool large = (double)M * N * K * batch >= CPU_LARGE_MIN_WORK && M >= 64 && N >= 128;
        const bool shuffle = !prm.transpose_a && vec_a && evk__cpu_shuffle_fits(info);
        /* with shuffled A rows the small tile is the faster one, except where B's elements are
         * dequantised: each is decoded once per TM rows; products of at most 32 columns take the
         * narrow tile, which leaves no lanes idle there */
        const evk__cpu_tile tile = large && (!shuffle || quant) ? EVK__CPU_TILE_LARGE : N <= 32 ? EVK__CPU_TILE_NARROW : EVK__CPU_TILE_SMALL,
                            *t = &tile;
        snprintf(shader_name, sizeof shader_name, "matmul_cpu%s%s%s", quant ? "_" : "", quant ? qname : "", shuffle ? "_shuffle" : "");
        desc.shader = shader_name;
        desc.kinds[0] = evk__texel_kind(a->dtype, vec_a);
        desc.kinds[1] = quant ? EVK_BINDING_STORAGE : evk__texel_kind(b->dtype, vec_b);
        /* without a bias binding 2 repeats a texel binding: b's, or a's when b is a storage buffer */
        desc.kinds[2] = bias ? EVK_BINDING_TEXEL_R32F : desc.kinds[quant ? 0 : 1];
        desc.kinds[3] = EVK_BINDING_STORAGE;
        desc.spec_count = 10;
        uint32_t spec[10] = {t->lanes_n * t->lanes_m, t->tm, t->tn, t->lanes_n, prm.transpose_a, prm.transpose_b, vec_a, vec_b, bias != NULL, t->ku};
        memcpy(desc.spec, spec, sizeof spec);
        tile_m = t->tm * t->lanes_m;
        tile_n = t->tn * t->lanes_n;
    } else {
        static const char *names[2][2] = {{"matmul_f32", "matmul_b16"}, {"matmul_a16", "matmul_ab16"}};
        desc.shader = names[a->dtype == EVK_DTYPE_F16][b->dtype == EVK_DTYPE_F16];
        if (quant) {
            snprintf(shader_name, sizeof shader_name, "matmul_%s", qname);
            desc.shader = shader_name;
        }
        desc.spec_count = 9;
        uint32_t spec[9] = {(EVK__GPU_BM / EVK__GPU_TM) * (EVK__GPU_BN / EVK__GPU_TN), EVK__GPU_BM, EVK__GPU_BN, EVK__GPU_BK, EVK__GPU_TM, EVK__GPU_TN, prm.transpose_a, prm.transpose_b, bias != NULL};
        memcpy(desc.spec, spec, sizeof spec);
        tile_m = EVK__GPU_BM;
        tile_n = EVK__GPU_BN;
    }
    evk_pipeline *pipe;
    EVK_TRY(evk_pipeline_get(ctx, &desc, &pipe));

    uint64_t groups_n = ((uint64_t)N + tile_n - 1) / tile_n;
    if (groups_n > info->max_workgroup_count[0])
        return evk_fail(EVK_ERROR_UNSUPPORTED, "matmul: N=%lld needs %llu workgroups along x, device limit %u", (long long)N,
                        (unsigned long long)groups_n, info->max_workgroup_count[0]);
    /* Chunks: whole matrices of the batch while the output binding fits, else row ranges of a
     * single matrix (rows in multiples of the tile, so binding offsets stay aligned). */
    const uint64_t mn_bytes = (uint64_t)M * N * 4, range = info->max_storage_buffer_range;
    uint64_t per_z = mn_bytes <= range ? range / mn_bytes : 0;
    if (per_z > info->max_workgroup_count[2]) per_z = info->max_workgroup_count[2];
    uint64_t rows = (uint64_t)M;
    if (per_z == 0) {
        if (prm.transpose_a && batch_a > 1)
            return evk_fail(EVK_ERROR_UNSUPPORTED, "matmul: one %lldx%lld output matrix exceeds maxStorageBufferRange (%llu bytes) and a is transposed",
                            (long long)M, (long long)N, (unsigned long long)range);
        per_z = 1;
        rows = range / ((uint64_t)N * 4) / tile_m * tile_m;
        if (rows == 0) return evk_fail(EVK_ERROR_UNSUPPORTED, "matmul: a row of c (%lld floats) exceeds maxStorageBufferRange", (long long)N);
    }
    uint64_t max_rows = (uint64_t)info->max_workgroup_count[1] * tile_m;
    if (rows > max_rows) rows = max_rows;
    if (rows < (uint64_t)M && prm.transpose_a)
        return evk_fail(EVK_ERROR_UNSUPPORTED, "matmul: a transposed with M=%lld rows does not fit one dispatch on this device", (long long)M);

    const uint64_t ak = (uint64_t)M * K, bk = (uint64_t)K * N;
    for (uint64_t z0 = 0; z0 < (uint64_t)batch; z0 += per_z) {
        uint64_t nz = (uint64_t)batch - z0 < per_z ? (uint64_t)batch - z0 : per_z;
        for (uint64_t m0 = 0; m0 < (uint64_t)M; m0 += rows) {
            uint64_t mc = (uint64_t)M - m0 < rows ? (uint64_t)M - m0 : rows;
            evk__mm_push push = {.m = (uint32_t)mc, .n = (uint32_t)N, .k = (uint32_t)K, .alpha = prm.alpha,
                                 .a_stride = batch_a > 1 ? (uint32_t)ak : 0, .b_stride = batch_b > 1 ? (uint32_t)bk : 0,
                                 .c_stride = (uint32_t)(mc * N)};
            evk_binding bind[4];
            uint64_t a_first = batch_a > 1 ? z0 * ak : m0 * K, a_count = batch_a > 1 ? nz * ak : mc * K;
            if (prm.transpose_a) { a_first = batch_a > 1 ? z0 * ak : 0; a_count = batch_a > 1 ? nz * ak : ak; }
            EVK_TRY(evk__bind_range(info, "matmul", "a", a, a_first, a_count, desc.kinds[0], EVK_ACCESS_READ, &bind[0], &push.a_off));
            if (quant) {
                bind[1] = (evk_binding){.buffer = b->buf, .offset = 0, .range = b_bytes, .access = EVK_ACCESS_READ};
                push.b_off = 0;
            } else {
                EVK_TRY(evk__bind_range(info, "matmul", "b", b, batch_b > 1 ? z0 * bk : 0, batch_b > 1 ? nz * bk : bk, desc.kinds[1],
                                        EVK_ACCESS_READ, &bind[1], &push.b_off));
            }
            if (bias) {
                uint32_t unused;
                EVK_TRY(evk__bind_range(info, "matmul", "bias", bias, 0, (uint64_t)N, desc.kinds[2], EVK_ACCESS_READ, &bind[2], &unused));
            } else {
                bind[2] = bind[cpu && quant ? 0 : 1]; /* never read (HAS_BIAS is off); any valid binding of that kind */
            }
            EVK_TRY(evk__bind_range(info, "matmul", "c", c, z0 * M * N + m0 * N, nz * mc * N, EVK_BINDING_STORAGE, EVK_ACCESS_WRITE, &bind[3], &push.c_off));
            evk_dispatch d = {.pipeline = pipe, .bindings = bind, .binding_count = 4, .push = &push, .push_size = sizeof push,
                              .groups = {(uint32_t)groups_n, (uint32_t)((mc + tile_m - 1) / tile_m), (uint32_t)nz}, .label = "matmul"};
            EVK_TRY(evk_stream_dispatch(s, &d));
        }
    }
    return EVK_OK;
}
