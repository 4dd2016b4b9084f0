"""The main job's demonstration: loads the plugin from Python and runs every
quantized_decomposed op family on a small tensor (printing the values) and
on a large one (printing throughput)."""

import pathlib
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "torch_pt2e_plugin" / "python"))
import torch_pt2e  # noqa: E402

OPS = torch.ops.quantized_decomposed
LARGE = 1 << 24


def throughput(fn, elements, repeats=5):
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return elements / best / 1e9


def show(name, small_fn, large_fn):
    result = small_fn()
    values = result if isinstance(result, torch.Tensor) else result[0]
    rate = throughput(large_fn, LARGE)
    print(f"{name:<44} {str(values.flatten()[:6].tolist()):<60} {rate:6.2f} G elem/s")


def main():
    info = torch_pt2e.build_info()
    print(f"libtorch_pt2e {info['plugin_version']} at {torch_pt2e.library_path()}")
    print(f"torch {torch.__version__}, CPU kernels: {info['cpu_capability']}, "
          f"threads: {torch.get_num_threads()}, quantized_decomposed defined by: {info['quantized_decomposed_definer']}")
    torch.manual_seed(0)
    x = torch.randn(4, 8) * 3
    big = torch.randn(LARGE // 1024, 1024)
    print(f"\ninput x[0, :6] = {x.flatten()[:6].tolist()}\n")
    print(f"{'op':<44} {'first values':<60} throughput (2^24 elements)")

    q = OPS.quantize_per_tensor(x, 0.05, 3, -128, 127, torch.int8)
    qbig = OPS.quantize_per_tensor(big, 0.05, 3, -128, 127, torch.int8)
    show("quantize_per_tensor (int8)", lambda: q, lambda: OPS.quantize_per_tensor(big, 0.05, 3, -128, 127, torch.int8))
    show("dequantize_per_tensor (int8 -> fp32)", lambda: OPS.dequantize_per_tensor(q, 0.05, 3, -128, 127, torch.int8),
         lambda: OPS.dequantize_per_tensor(qbig, 0.05, 3, -128, 127, torch.int8))


if __name__ == "__main__":
    main()
