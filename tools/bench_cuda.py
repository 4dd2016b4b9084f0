"""Throughput of the plugin's CUDA kernels on 2^28-element tensors, side by side
in one run with a device-to-device copy of the same tensors (the bandwidth
limit) and with torch's own quantized_decomposed ops (the Python functions of
torch.ao.quantization.fx._decomposed, evaluated with ATen's CUDA ops).

    python3 tools/bench_cuda.py --output cuda_bench.md      (tools/gpu_check.sh runs it)

Bytes per op = bytes read + bytes written of the input and output tensors;
GB/s = bytes / best time of the repeats (CUDA events, after a warm-up).
"% of copy" compares with copy_ between tensors of the op's own input and
output dtypes (the same bytes read and written), "speed-up" with upstream's op.
"""

import argparse
import datetime
import pathlib
import sys

import torch

REPO = pathlib.Path(__file__).resolve().parents[1]
ELEMENTS = 1 << 28


def best_seconds(fn, repeats):
    fn()  # warm-up (allocations, lazy initialisation)
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        best = min(best, start.elapsed_time(end) / 1e3)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=pathlib.Path, help="also write the table (Markdown) to this file")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--upstream-repeats", type=int, default=3)
    args = parser.parse_args()

    sys.path.insert(0, str(REPO / "torch_pt2e_plugin" / "python"))
    import torch_pt2e  # noqa: F401  (loads the plugin)

    try:
        from torch.ao.quantization.fx import _decomposed as upstream
    except ImportError:
        upstream = None
    if not torch.cuda.is_available():
        sys.exit("bench_cuda.py needs a CUDA device")
    ops = torch.ops.quantized_decomposed
    device = torch.device("cuda")
    torch.manual_seed(0)

    x = torch.randn(ELEMENTS, device=device) * 3
    q = torch.empty(ELEMENTS, dtype=torch.int8, device=device)
    # per-tensor: flat; per-channel: [2^14, 2^14] along axis 0 and axis 1;
    # per-token: 2^16 tokens of 2^12.
    x_ch = x.view(1 << 14, 1 << 14)
    ch_scales = torch.rand(1 << 14, device=device) * 0.05 + 0.01
    ch_zps = torch.randint(-10, 10, (1 << 14,), device=device)
    x_tok = x.view(1 << 16, 1 << 12)
    tok_scales, tok_zps = ops.choose_qparams_per_token_asymmetric(x_tok, torch.int8)
    q_tensor = ops.quantize_per_tensor(x, 0.05, 3, -128, 127, torch.int8)
    q_ch0 = ops.quantize_per_channel(x_ch, ch_scales, ch_zps, 0, -128, 127, torch.int8)
    q_ch1 = ops.quantize_per_channel(x_ch, ch_scales, ch_zps, 1, -128, 127, torch.int8)
    q_tok = ops.quantize_per_token(x_tok, tok_scales, tok_zps, -128, 127, torch.int8)
    out_f32 = torch.empty_like(x)

    def copy_f32_to_i8():
        q.copy_(x)

    def copy_i8_to_f32():
        out_f32.copy_(q)

    # (name, plugin call, upstream call, copy call, bytes)
    quantize_bytes = ELEMENTS * 5
    cases = [
        ("quantize_per_tensor", lambda: ops.quantize_per_tensor(x, 0.05, 3, -128, 127, torch.int8),
         lambda: upstream.quantize_per_tensor(x, 0.05, 3, -128, 127, torch.int8), copy_f32_to_i8, quantize_bytes),
        ("dequantize_per_tensor", lambda: ops.dequantize_per_tensor(q_tensor, 0.05, 3, -128, 127, torch.int8),
         lambda: upstream.dequantize_per_tensor(q_tensor, 0.05, 3, -128, 127, torch.int8), copy_i8_to_f32,
         quantize_bytes),
        ("quantize_per_channel axis 0", lambda: ops.quantize_per_channel(x_ch, ch_scales, ch_zps, 0, -128, 127,
                                                                         torch.int8),
         lambda: upstream.quantize_per_channel(x_ch, ch_scales, ch_zps, 0, -128, 127, torch.int8), copy_f32_to_i8,
         quantize_bytes),
        ("quantize_per_channel axis 1", lambda: ops.quantize_per_channel(x_ch, ch_scales, ch_zps, 1, -128, 127,
                                                                         torch.int8),
         lambda: upstream.quantize_per_channel(x_ch, ch_scales, ch_zps, 1, -128, 127, torch.int8), copy_f32_to_i8,
         quantize_bytes),
        ("dequantize_per_channel axis 0", lambda: ops.dequantize_per_channel(q_ch0, ch_scales, ch_zps, 0, -128, 127,
                                                                             torch.int8),
         lambda: upstream.dequantize_per_channel(q_ch0, ch_scales, ch_zps, 0, -128, 127, torch.int8),
         copy_i8_to_f32, quantize_bytes),
        ("dequantize_per_channel axis 1", lambda: ops.dequantize_per_channel(q_ch1, ch_scales, ch_zps, 1, -128, 127,
                                                                             torch.int8),
         lambda: upstream.dequantize_per_channel(q_ch1, ch_scales, ch_zps, 1, -128, 127, torch.int8),
         copy_i8_to_f32, quantize_bytes),
        ("quantize_per_token", lambda: ops.quantize_per_token(x_tok, tok_scales, tok_zps, -128, 127, torch.int8),
         lambda: upstream.quantize_per_token(x_tok, tok_scales, tok_zps, -128, 127, torch.int8), copy_f32_to_i8,
         quantize_bytes),
        ("dequantize_per_token", lambda: ops.dequantize_per_token(q_tok, tok_scales, tok_zps, -128, 127, torch.int8,
                                                                  torch.float32),
         lambda: upstream.dequantize_per_token(q_tok, tok_scales, tok_zps, -128, 127, torch.int8, torch.float32),
         copy_i8_to_f32, quantize_bytes),
        ("choose_qparams_per_token_asymmetric",
         lambda: ops.choose_qparams_per_token_asymmetric(x_tok, torch.int8),
         lambda: upstream.choose_qparams_per_token_asymmetric(x_tok, torch.int8),
         None, ELEMENTS * 4),
    ]

    name = torch.cuda.get_device_name()
    header = [
        f"GPU: {name}; torch {torch.__version__} (CUDA {torch.version.cuda}); "
        f"{datetime.date.today().isoformat()}; 2^28 float32 elements (int8 codes); best of {args.repeats} "
        f"(upstream: {args.upstream_repeats}) after a warm-up",
        "",
        "| op | plugin GB/s | copy GB/s | % of copy | upstream GB/s | speed-up vs upstream |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(header), flush=True)
    rows = []
    for case, plugin, reference, copy, nbytes in cases:
        plugin_s = best_seconds(plugin, args.repeats)
        copy_cell = percent_cell = "-"
        if copy is not None:
            copy_s = best_seconds(copy, args.repeats)
            copy_cell = f"{nbytes / copy_s / 1e9:.0f}"
            percent_cell = f"{copy_s / plugin_s * 100:.0f}%"
        upstream_cell = speedup_cell = "-"
        if upstream is not None:
            upstream_s = best_seconds(reference, args.upstream_repeats)
            upstream_cell = f"{nbytes / upstream_s / 1e9:.0f}"
            speedup_cell = f"{upstream_s / plugin_s:.1f}x"
        row = (f"| {case} | {nbytes / plugin_s / 1e9:.0f} | {copy_cell} | {percent_cell} | {upstream_cell} | "
               f"{speedup_cell} |")
        print(row, flush=True)
        rows.append(row)
        torch.cuda.empty_cache()
    if args.output:
        args.output.write_text("\n".join(header + rows) + "\n")
        print(f"table written to {args.output}")


if __name__ == "__main__":
    main()
