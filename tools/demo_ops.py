"""The main job's demonstration: loads the plugin from Python and runs every
quantized_decomposed op family on a small tensor (printing the values) and
on a large one (printing throughput)."""

import os
import pathlib
import sys
import time

# Fresh 64 MB outputs page-fault slowly on small VMs; glibc keeps freed memory
# for reuse with these (read at process start, hence the re-exec).
KEEP_FREED_MEMORY = {"MALLOC_MMAP_THRESHOLD_": "17179869184", "MALLOC_TRIM_THRESHOLD_": "17179869184",
                     "MALLOC_TOP_PAD_": "1073741824"}
if any(os.environ.get(k) != v for k, v in KEEP_FREED_MEMORY.items()):
    os.execve(sys.executable, [sys.executable] + sys.argv, dict(os.environ, **KEEP_FREED_MEMORY))

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "torch_pt2e_plugin" / "python"))
import torch_pt2e  # noqa: E402

OPS = torch.ops.quantized_decomposed
LARGE = 1 << 24
ROWS, COLUMNS = LARGE // 1024, 1024


def throughput(fn, elements, repeats=5):
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return elements / best / 1e9


def first_values(result):
    values = result if isinstance(result, torch.Tensor) else result[0]
    return [round(v, 5) if isinstance(v, float) else v for v in values.flatten()[:6].tolist()]


def show(name, small_fn, large_fn):
    rate = throughput(large_fn, LARGE)
    print(f"{name:<52} {str(first_values(small_fn())):<62} {rate:6.2f} G elem/s")


def main():
    info = torch_pt2e.build_info()
    print(f"libtorch_pt2e {info['plugin_version']} at {torch_pt2e.library_path()}")
    print(f"torch {torch.__version__}, CPU kernels: {info['cpu_capability']}, "
          f"threads: {torch.get_num_threads()}, quantized_decomposed defined by: {info['quantized_decomposed_definer']}")
    torch.manual_seed(0)
    x = torch.randn(4, 8) * 3
    big = torch.randn(ROWS, COLUMNS)
    print("glibc keeps freed memory: " + " ".join(f"{k}={v}" for k, v in KEEP_FREED_MEMORY.items()))
    print(f"\ninput x[0, :6] = {[round(v, 5) for v in x.flatten()[:6].tolist()]}\n")
    print(f"{'op':<52} {'first values':<62} throughput ({LARGE} elements)")

    # per tensor
    q = OPS.quantize_per_tensor(x, 0.05, 3, -128, 127, torch.int8)
    qbig = OPS.quantize_per_tensor(big, 0.05, 3, -128, 127, torch.int8)
    show("quantize_per_tensor (int8)", lambda: q, lambda: OPS.quantize_per_tensor(big, 0.05, 3, -128, 127, torch.int8))
    show("dequantize_per_tensor (int8 -> fp32)", lambda: OPS.dequantize_per_tensor(q, 0.05, 3, -128, 127, torch.int8),
         lambda: OPS.dequantize_per_tensor(qbig, 0.05, 3, -128, 127, torch.int8))

    # choose_qparams
    show("choose_qparams.tensor (scale)", lambda: OPS.choose_qparams.tensor(x, -128, 127, 1e-7, torch.int8),
         lambda: OPS.choose_qparams.tensor(big, -128, 127, 1e-7, torch.int8))
    show("choose_qparams.tensor (zero point)", lambda: OPS.choose_qparams.tensor(x, -128, 127, 1e-7, torch.int8)[1],
         lambda: OPS.choose_qparams.tensor(big, -128, 127, 1e-7, torch.int8))
    show("choose_qparams_symmetric.tensor (scale)",
         lambda: OPS.choose_qparams_symmetric.tensor(x, -128, 127, 1e-7, torch.int8),
         lambda: OPS.choose_qparams_symmetric.tensor(big, -128, 127, 1e-7, torch.int8))

    # per channel (axis 0: a weight's output channels)
    scales, zps = torch.linspace(0.02, 0.05, 4), torch.tensor([0, 1, -1, 2])
    big_scales, big_zps = torch.rand(ROWS) * 0.05 + 0.01, torch.randint(-5, 5, (ROWS,))
    qc = OPS.quantize_per_channel(x, scales, zps, 0, -128, 127, torch.int8)
    qc_big = OPS.quantize_per_channel(big, big_scales, big_zps, 0, -128, 127, torch.int8)
    show("quantize_per_channel (axis 0, int8)", lambda: qc,
         lambda: OPS.quantize_per_channel(big, big_scales, big_zps, 0, -128, 127, torch.int8))
    show("dequantize_per_channel (int8 -> fp32)",
         lambda: OPS.dequantize_per_channel(qc, scales, zps, 0, -128, 127, torch.int8),
         lambda: OPS.dequantize_per_channel(qc_big, big_scales, big_zps, 0, -128, 127, torch.int8))

    # per token (dynamic activation quantization)
    token_scales, token_zps = OPS.choose_qparams_per_token_asymmetric(x, torch.int8)
    big_token_scales, big_token_zps = OPS.choose_qparams_per_token_asymmetric(big, torch.int8)
    show("choose_qparams_per_token_asymmetric (scales)", lambda: (token_scales, token_zps),
         lambda: OPS.choose_qparams_per_token_asymmetric(big, torch.int8))
    show("choose_qparams_per_token (scales)", lambda: OPS.choose_qparams_per_token(x, torch.int8),
         lambda: OPS.choose_qparams_per_token(big, torch.int8))
    qt = OPS.quantize_per_token(x, token_scales, token_zps, -128, 127, torch.int8)
    qt_big = OPS.quantize_per_token(big, big_token_scales, big_token_zps, -128, 127, torch.int8)
    show("quantize_per_token (int8)", lambda: qt,
         lambda: OPS.quantize_per_token(big, big_token_scales, big_token_zps, -128, 127, torch.int8))
    show("dequantize_per_token (int8 -> fp32)",
         lambda: OPS.dequantize_per_token(qt, token_scales, token_zps, -128, 127, torch.int8, torch.float32),
         lambda: OPS.dequantize_per_token(qt_big, big_token_scales, big_token_zps, -128, 127, torch.int8,
                                          torch.float32))

    # per channel group (int4 weights as int8 in [-8, 7], groups of 4 / 128)
    group_scales, group_zps = torch.full((8, 1), 0.5), torch.zeros(8, 1, dtype=torch.int32)
    big_group_scales = torch.rand(LARGE // 128, 1) * 0.1 + 0.05
    big_group_zps = torch.zeros(LARGE // 128, 1, dtype=torch.int32)
    qg = OPS.quantize_per_channel_group(x, group_scales, group_zps, -8, 7, torch.int8, 4)
    qg_big = OPS.quantize_per_channel_group(big, big_group_scales, big_group_zps, -8, 7, torch.int8, 128)
    show("quantize_per_channel_group (int4 in int8)", lambda: qg,
         lambda: OPS.quantize_per_channel_group(big, big_group_scales, big_group_zps, -8, 7, torch.int8, 128))
    show("dequantize_per_channel_group (-> fp32)",
         lambda: OPS.dequantize_per_channel_group(qg, group_scales, group_zps, -8, 7, torch.int8, 4, torch.float32),
         lambda: OPS.dequantize_per_channel_group(qg_big, big_group_scales, big_group_zps, -8, 7, torch.int8, 128,
                                                  torch.float32))

    # fake quant (QAT) and the fp16 "quantization" op
    show("fake_quant_per_channel (axis 0, [-128, 127])",
         lambda: OPS.fake_quant_per_channel(x, scales, zps, 0, -128, 127),
         lambda: OPS.fake_quant_per_channel(big, big_scales, big_zps, 0, -128, 127))
    show("convert_element_type.no_fuse (fp32 -> fp16)",
         lambda: OPS.convert_element_type.no_fuse(x, torch.float16),
         lambda: OPS.convert_element_type.no_fuse(big, torch.float16))


if __name__ == "__main__":
    main()
