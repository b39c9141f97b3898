// common.glsl — helpers shared by every kernel: the flat invocation index over a 2-D grid of
// workgroups (dispatches beyond 65535 groups spill into y: evk__grid_1d, runtime/ops/ops_internal.h).
#ifndef EVK_COMMON_GLSL
#define EVK_COMMON_GLSL

// Flat index of this invocation when the dispatch is laid out as groups.x * groups.y.
// A macro, not a function: kernels include this file before their `layout(local_size_x_id = 0)
// in;` line, and glslang silently gives gl_WorkGroupSize the value (1, 1, 1) in code that
// precedes the declaration (the GLSL spec makes that a compile error; glslang issues 2479 and
// 3856). A function here would compute row y's start as y * groups.x instead of
// y * groups.x * local size; the macro expands inside main(), after the declaration.
#define evk_flat_index() (gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x)

#endif
