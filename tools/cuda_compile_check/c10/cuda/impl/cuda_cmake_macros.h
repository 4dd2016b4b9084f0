// BUILD-ONLY STAND-IN, used by tools/check_cuda_compiles.sh and nothing else.
//
// A CUDA build of LibTorch generates this header at configure time; Debian's
// CPU-only LibTorch, which the compile check builds against, does not ship it,
// yet <c10/cuda/CUDAMacros.h> includes it. The generated file only defines
// C10_CUDA_BUILD_SHARED_LIBS (import/export decoration on Windows), so an
// empty one is enough to compile, never to link or run anything.
#pragma once
