// For the kernels whose accumulators are `acc` (partial_sum_int.wgsl, partial_sum_float.wgsl).

// Adds the 64-bit two's complement value (hi, lo) into the counter at words [at, at + 1]:
// the adder whose low-word add wraps carries into the high word.
fn add64(at: u32, lo: u32, hi: u32) {
    let old = atomicAdd(&acc[at], lo);
    let up = hi + select(0u, 1u, old + lo < old);
    if (up != 0u) {
        atomicAdd(&acc[at + 1u], up);
    }
}
