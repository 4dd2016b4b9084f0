"""torch_pt2e: PT2E quantization for TorchScript.

Importing the package loads libtorch_pt2e.so (found next to the package, in
bazel-bin/ or build/ of the repository, or at $TORCH_PT2E_LIBRARY), which
registers the quantized_decomposed ops and the flow's passes.
"""

from ._library import LibraryLoadError, build_info, library_path, load_library

load_library()

from .fake_quantize import disable_fake_quant, disable_observer, enable_fake_quant, enable_observer  # noqa: E402

__all__ = [
    "LibraryLoadError",
    "build_info",
    "disable_fake_quant",
    "disable_observer",
    "enable_fake_quant",
    "enable_observer",
    "library_path",
    "load_library",
]
