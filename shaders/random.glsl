// random.glsl — Philox-4x32-10 and the Gaussian transform every noise-drawing kernel shares.
//
// Counter = (block of 4 elements, counter, stream, domain), key = the 64-bit seed. One Philox call
// gives 4 words and so 4 normals (two Box-Muller pairs). The transform uses only integer ops and
// `precise` float adds and multiplies (no division, no built-in log/sqrt/sin/cos, whose accuracy
// differs between drivers): log is a degree-9 polynomial after an exact exponent split, sqrt is
// three Newton steps of the reciprocal square root, sin/cos are polynomials on a quadrant. IEEE
// adds and multiplies are correctly rounded, so every device computes the same bits; the C mirror
// in op_random.c computes them too (tests compare bit for bit).
#ifndef EVK_RANDOM_GLSL
#define EVK_RANDOM_GLSL

uvec4 evk_philox4x32_10(uvec4 c, uvec2 k) {
    for (int r = 0; r < 10; r++) {
        uint hi0, lo0, hi1, lo1;
        umulExtended(0xD2511F53u, c.x, hi0, lo0);
        umulExtended(0xCD9E8D57u, c.z, hi1, lo1);
        c = uvec4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
        k += uvec2(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

// ln(u) for u in (0, 1).
float evk_rand_log(float u) {
    uint bits = floatBitsToUint(u);
    int e = int(bits >> 23) - 127;
    precise float m = uintBitsToFloat((bits & 0x7fffffu) | 0x3f800000u);
    if (m > 1.41421354f) { m = m * 0.5f; e += 1; }
    precise float x = m - 1.0f;
    precise float q = -0.076385922729969025f;
    q = q * x + 0.12914170324802399f;
    q = q * x + -0.13240842521190643f;
    q = q * x + 0.14180079102516174f;
    q = q * x + -0.16609126329421997f;
    q = q * x + 0.20002071559429169f;
    q = q * x + -0.25001585483551025f;
    q = q * x + 0.33333325386047363f;
    q = q * x + -0.49999988079071045f;
    q = q * x + 1.0f;
    precise float r = float(e) * 0.69314718246459961f + x * q;
    return r;
}

// sqrt(y) for y > 0 (y * rsqrt(y), rsqrt by three Newton steps from the classic bit estimate).
float evk_rand_sqrt(float y) {
    precise float r = uintBitsToFloat(0x5f3759dfu - (floatBitsToUint(y) >> 1));
    precise float h = 0.5f * y;
    r = r * (1.5f - h * r * r);
    r = r * (1.5f - h * r * r);
    r = r * (1.5f - h * r * r);
    precise float s = y * r;
    return s;
}

// Two independent N(0,1) values from two 32-bit words.
vec2 evk_box_muller(uint a, uint b) {
    precise float u = (float(a >> 9) + 0.5f) * 1.1920928955078125e-07f; // (0, 1), never 0 or 1
    precise float rad = evk_rand_sqrt(-2.0f * evk_rand_log(u));
    uint quadrant = b >> 30;
    precise float f = (float((b >> 7) & 0x7fffffu) + 0.5f) * 1.1920928955078125e-07f; // angle = (quadrant + f) * pi/2
    precise float g = f * f;
    precise float sp = -3.4347215205343673e-06f;
    sp = sp * g + 0.00016026232333388180f;
    sp = sp * g + -0.0046816649846732616f;
    sp = sp * g + 0.079692609608173370f;
    sp = sp * g + -0.64596408605575562f;
    sp = sp * g + 1.5707963705062866f;
    precise float sn = sp * f;
    precise float cs = -2.3848328055464663e-05f;
    cs = cs * g + 0.00091778661590069532f;
    cs = cs * g + -0.020862746983766556f;
    cs = cs * g + 0.25366935133934021f;
    cs = cs * g + -1.2337005138397217f;
    cs = cs * g + 1.0f;
    vec2 v = quadrant == 0u ? vec2(cs, sn) : quadrant == 1u ? vec2(-sn, cs) : quadrant == 2u ? vec2(-cs, -sn) : vec2(sn, -cs);
    precise vec2 z = rad * v;
    return z;
}

// Four N(0,1) values: elements 4*block .. 4*block+3 of (seed, stream, counter, domain).
vec4 evk_normal4(uvec2 seed, uint block, uint counter, uint stream, uint domain) {
    uvec4 w = evk_philox4x32_10(uvec4(block, counter, stream, domain), seed);
    return vec4(evk_box_muller(w.x, w.y), evk_box_muller(w.z, w.w));
}

#endif
