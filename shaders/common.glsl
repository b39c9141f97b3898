// common.glsl — helpers shared by every kernel: the flat invocation index over a 2-D grid of
// workgroups (dispatches beyond 65535 groups spill into y) and the matching group count.
#ifndef EVK_COMMON_GLSL
#define EVK_COMMON_GLSL

// Flat index of this invocation when the dispatch is laid out as groups.x * groups.y.
uint evk_flat_index() {
    return gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
}

#endif
