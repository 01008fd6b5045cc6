// The joint histogram of accumulate_joint_hist by bit planes (kernels/joint_hist_avx512.cpp): for
// each unit and non-zero bin a bitset over the samples, and each cell (ka, kb) of a pair of units the
// popcount of the AND of two bitsets, 512 samples per instruction. Call it only through
// cpu::accumulate_joint_hist (kernels/stats.h), which takes it where the CPU has AVX-512 BW and
// VPOPCNTDQ; the counts are the same integers either way.
#pragma once
#include <cstdint>

namespace cvg::cpu {

namespace avx512 {
bool has_joint_hist();  // this CPU can run the one below
void accumulate_joint_hist(int n, int ca, int cb, int hw, const uint8_t* bins_a, const uint8_t* bins_b, int bins,
                           uint64_t* counts);
}  // namespace avx512

// The path of other CPUs (tests run both).
void accumulate_joint_hist_portable(int n, int ca, int cb, int hw, const uint8_t* bins_a, const uint8_t* bins_b, int bins,
                                    uint64_t* counts);

}  // namespace cvg::cpu
