// Helpers shared by every op's CPU and CUDA code.
#pragma once

#if defined(__CUDACC__)
#define HOST_DEVICE __host__ __device__
#else
#define HOST_DEVICE
#endif
#define HOST_DEVICE_INLINE HOST_DEVICE inline
