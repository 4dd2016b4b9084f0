"""Per-call time of the plugin's quantize/dequantize ops on small CPU tensors,
next to torch.add of the same tensors, in one run: the fixed cost of a call
(argument checks, parameter preparation, dispatch), which the PT2E convert
step pays once per weight and small-tensor inference on every call.

    TORCH_PT2E_LIBRARY=bazel-bin/libtorch_pt2e.so /usr/bin/python3 tools/bench_small_ops.py
    tools/bench_small_ops.py --shapes 8x8 64x64 512x512    # larger shapes too

Works with torch 1.13 (Debian's python3) and in the trixie root (torch 2.6).
Each shape is a float weight [rows, cols] quantized per channel along axis 0
(one scale and int64 zero point per row, as fold_quantize does) and per
tensor. Every case is called `--calls` times in a row per round, rounds
interleaved so that load from other processes hits all cases alike; the
table gives the median and best per-call microseconds over rounds and the
median of each round's time relative to torch.add's.
"""

import argparse
import pathlib
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "torch_pt2e_plugin" / "python"))
import torch_pt2e  # noqa: E402,F401  (loads the plugin)


def cases_for(rows, cols):
    ops = torch.ops.quantized_decomposed
    g = torch.Generator().manual_seed(0)
    w = torch.randn(rows, cols, generator=g)
    scales = torch.rand(rows, generator=g) * 0.05 + 0.01
    zps = torch.zeros(rows, dtype=torch.int64)
    q_channel = ops.quantize_per_channel(w, scales, zps, 0, -127, 127, torch.int8)
    q_tensor = ops.quantize_per_tensor(w, 0.05, 3, -128, 127, torch.int8)
    scale_t, zp_t = torch.tensor(0.05), torch.tensor(3)
    token_scales, token_zps = ops.choose_qparams_per_token_asymmetric(w, torch.int8)
    q_token = ops.quantize_per_token(w, token_scales, token_zps, -128, 127, torch.int8)
    return {
        "torch.add": lambda: torch.add(w, w),
        "quantize_per_channel": lambda: ops.quantize_per_channel(w, scales, zps, 0, -127, 127, torch.int8),
        "dequantize_per_channel": lambda: ops.dequantize_per_channel(q_channel, scales, zps, 0, -127, 127,
                                                                     torch.int8),
        "quantize_per_tensor": lambda: ops.quantize_per_tensor(w, 0.05, 3, -128, 127, torch.int8),
        "dequantize_per_tensor": lambda: ops.dequantize_per_tensor(q_tensor, 0.05, 3, -128, 127, torch.int8),
        "quantize_per_tensor.tensor": lambda: ops.quantize_per_tensor.tensor(w, scale_t, zp_t, -128, 127,
                                                                             torch.int8),
        "dequantize_per_tensor.tensor": lambda: ops.dequantize_per_tensor.tensor(q_tensor, scale_t, zp_t, -128, 127,
                                                                                 torch.int8),
        "quantize_per_token": lambda: ops.quantize_per_token(w, token_scales, token_zps, -128, 127, torch.int8),
        "dequantize_per_token": lambda: ops.dequantize_per_token(q_token, token_scales, token_zps, -128, 127,
                                                                 torch.int8, torch.float32),
    }


def measure(cases, rounds, calls):
    """{name: [seconds per call in each round]}, rounds interleaved."""
    for fn in cases.values():
        for _ in range(10):
            fn()  # warm-up: lazy initialization, allocator caches
    times = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            times[name].append((time.perf_counter() - start) / calls)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=["8x8"], help="ROWSxCOLS weights (default 8x8)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=300, help="calls per case and round (fewer for big shapes)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU kernels: "
          f"{torch_pt2e.build_info()['cpu_capability']}; {platform.machine()}, python {platform.python_version()}")
    for shape in args.shapes:
        rows, cols = (int(v) for v in shape.split("x"))
        # Keep a round near 10^7 elements per case for big shapes.
        calls = max(1, min(args.calls, 10_000_000 // (rows * cols)))
        times = measure(cases_for(rows, cols), args.rounds, calls)
        add = times["torch.add"]
        print(f"\n{rows}x{cols} float32 (scales/zero points: {rows}), {args.rounds} rounds x {calls} calls")
        print(f"{'op':<30} {'median us':>10} {'best us':>9} {'x add':>7}")
        for name, per_call in times.items():
            ratio = statistics.median(t / a for t, a in zip(per_call, add))
            print(f"{name:<30} {statistics.median(per_call) * 1e6:10.2f} {min(per_call) * 1e6:9.2f} {ratio:7.1f}")


if __name__ == "__main__":
    main()
