// Block-wide reduction shared by the level-set CUDA kernels.
#pragma once

namespace box2mask {

// Sum of `v` over a block of kBlock threads (a power of two); every thread gets the result.
// smem: kBlock doubles of shared memory.
template <int kBlock>
__device__ __forceinline__ double block_sum(double v, double* smem) {
  smem[threadIdx.x] = v;
  __syncthreads();
  for (int s = kBlock / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) smem[threadIdx.x] += smem[threadIdx.x + s];
    __syncthreads();
  }
  const double total = smem[0];
  __syncthreads();
  return total;
}

}  // namespace box2mask
