"""Throughput of the plugin's quantized_decomposed CPU kernels, side by side
with upstream's Python ops, ATen's torch.quantize_per_tensor and a plain
float32 copy (the memory-bandwidth limit), in one run.

Run it inside the trixie root (torch 2.6, where upstream's ops exist):
    tools/bench_ops.sh            # builds with CMake there, then runs this
The calls of all cases are interleaved round by round (so load from other
processes hits them alike), after a warm-up call, with torch.set_num_threads(2):
throughput comes from each case's best round, the share of the copy's
bandwidth from the median of the per-round ratios. Fresh 64 MB allocations page-fault at under 1 GB/s
on small VMs, so the main table runs with glibc keeping freed memory
(MALLOC_* below, set by this script for a child process); a second table
repeats the measurement with glibc's defaults (allocation included).
"""

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

KEEP_FREED_MEMORY = {
    "MALLOC_MMAP_THRESHOLD_": "17179869184",  # never mmap (so never munmap) large blocks
    "MALLOC_TRIM_THRESHOLD_": "17179869184",  # never return the heap's top to the OS
    "MALLOC_TOP_PAD_": "1073741824",          # grow the heap in 1 GB steps
}
ELEMENTS = 1 << 25
ROWS, COLUMNS = 1 << 15, 1 << 10


def measure(threads, repeats, upstream_repeats):
    """Runs in the child process; returns {name: (seconds, bytes moved)}."""
    import torch

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "torch_pt2e_plugin" / "python"))
    import torch_pt2e  # noqa: F401  (loads the plugin)
    from torch.ao.quantization.fx import _decomposed as up

    torch.set_num_threads(threads)
    ops = torch.ops.quantized_decomposed
    g = torch.Generator().manual_seed(0)
    x = torch.randn(ROWS, COLUMNS, generator=g) * 3
    channel_scales = torch.rand(ROWS, generator=g) * 0.05 + 0.01
    channel_zps = torch.randint(-10, 10, (ROWS,), generator=g)
    column_scales = torch.rand(COLUMNS, generator=g) * 0.05 + 0.01
    column_zps = torch.randint(-10, 10, (COLUMNS,), generator=g)
    token_scales, token_zps = ops.choose_qparams_per_token_asymmetric(x, torch.int8)
    q_tensor = ops.quantize_per_tensor(x, 0.05, 3, -128, 127, torch.int8)
    q_channel = ops.quantize_per_channel(x, channel_scales, channel_zps, 0, -128, 127, torch.int8)
    q_column = ops.quantize_per_channel(x, column_scales, column_zps, 1, -128, 127, torch.int8)
    q_token = ops.quantize_per_token(x, token_scales, token_zps, -128, 127, torch.int8)

    # name: (callable, bytes read + written per call)
    quantize_bytes = dequantize_bytes = ELEMENTS * (4 + 1)
    cases = {
        "fp32 copy (clone)": (lambda: x.clone(), ELEMENTS * 8),
        "ATen torch.quantize_per_tensor": (
            lambda: torch.quantize_per_tensor(x, 0.05, 3, torch.qint8), quantize_bytes),
        "per_tensor quantize": (
            lambda: ops.quantize_per_tensor(x, 0.05, 3, -128, 127, torch.int8), quantize_bytes),
        "per_tensor dequantize": (
            lambda: ops.dequantize_per_tensor(q_tensor, 0.05, 3, -128, 127, torch.int8), dequantize_bytes),
        "per_channel quantize (axis 0)": (
            lambda: ops.quantize_per_channel(x, channel_scales, channel_zps, 0, -128, 127, torch.int8),
            quantize_bytes),
        "per_channel dequantize (axis 0)": (
            lambda: ops.dequantize_per_channel(q_channel, channel_scales, channel_zps, 0, -128, 127, torch.int8),
            dequantize_bytes),
        "per_channel quantize (axis 1)": (
            lambda: ops.quantize_per_channel(x, column_scales, column_zps, 1, -128, 127, torch.int8),
            quantize_bytes),
        "per_channel dequantize (axis 1)": (
            lambda: ops.dequantize_per_channel(q_column, column_scales, column_zps, 1, -128, 127, torch.int8),
            dequantize_bytes),
        "per_token quantize": (
            lambda: ops.quantize_per_token(x, token_scales, token_zps, -128, 127, torch.int8), quantize_bytes),
        "per_token dequantize": (
            lambda: ops.dequantize_per_token(q_token, token_scales, token_zps, -128, 127, torch.int8,
                                             torch.float32), dequantize_bytes),
    }
    upstream = {
        "per_tensor quantize": lambda: up.quantize_per_tensor(x, 0.05, 3, -128, 127, torch.int8),
        "per_tensor dequantize": lambda: up.dequantize_per_tensor(q_tensor, 0.05, 3, -128, 127, torch.int8),
        "per_channel quantize (axis 0)": lambda: up.quantize_per_channel(x, channel_scales, channel_zps, 0, -128,
                                                                         127, torch.int8),
        "per_channel dequantize (axis 0)": lambda: up.dequantize_per_channel(q_channel, channel_scales, channel_zps,
                                                                             0, -128, 127, torch.int8),
        "per_channel quantize (axis 1)": lambda: up.quantize_per_channel(x, column_scales, column_zps, 1, -128, 127,
                                                                         torch.int8),
        "per_channel dequantize (axis 1)": lambda: up.dequantize_per_channel(q_column, column_scales, column_zps, 1,
                                                                             -128, 127, torch.int8),
        "per_token quantize": lambda: up.quantize_per_token(x, token_scales, token_zps, -128, 127, torch.int8),
        "per_token dequantize": lambda: up.dequantize_per_token(q_token, token_scales, token_zps, -128, 127,
                                                                torch.int8, torch.float32),
    }
    # The plugin must give upstream's values before its speed means anything.
    for name, fn in upstream.items():
        assert torch.equal(cases[name][0](), fn()), name

    def interleaved(fns, n):
        """Times of each function in n rounds that call every function once,
        so load from other processes affects all of them alike."""
        for fn in fns.values():
            fn()  # warm-up: first-touch of buffers, lazy initialization
        times = {name: [] for name in fns}
        for _ in range(n):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        return times

    timed = interleaved({name: fn for name, (fn, _) in cases.items()}, repeats)
    results = {name: (timed[name], moved) for name, (_, moved) in cases.items()}
    timed = interleaved(upstream, upstream_repeats)
    results.update({"upstream " + name: (timed[name], cases[name][1]) for name in upstream})
    return {"results": results, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu_capability": torch_pt2e.build_info()["cpu_capability"]}


def table(report):
    """Throughput from each case's best time; '% copy' is the median over rounds
    of its bytes/s against the copy's in the same round (robust to load that
    comes and goes); 'x upstream' compares best times."""
    results = report["results"]
    copy_times, copy_bytes = results["fp32 copy (clone)"]
    lines = [f"{'case':<40} {'G elem/s':>9} {'GB/s':>7} {'% copy':>7} {'x upstream':>11}"]
    for name, (times, moved) in results.items():
        if name.startswith("upstream "):
            continue
        best = min(times)
        per_round = sorted((moved / t) / (copy_bytes / c) for t, c in zip(times, copy_times))
        share = per_round[len(per_round) // 2]
        up = results.get("upstream " + name)
        speedup = f"{min(up[0]) / best:10.0f}x" if up else ""
        lines.append(f"{name:<40} {ELEMENTS / best / 1e9:9.2f} {moved / best / 1e9:7.2f} {100 * share:6.0f}% "
                     f"{speedup:>11}")
    for name, (times, moved) in results.items():
        if name.startswith("upstream "):
            lines.append(f"{name:<40} {ELEMENTS / min(times) / 1e9:9.3f} {moved / min(times) / 1e9:7.2f}")
    token_vs_tensor = []
    for kind in ("quantize", "dequantize"):
        ratios = sorted(t / p for t, p in zip(results[f"per_token {kind}"][0], results[f"per_tensor {kind}"][0]))
        token_vs_tensor.append(ratios[len(ratios) // 2])
    lines.append(f"per_token / per_tensor time (median over rounds): quantize {token_vs_tensor[0]:.2f}x, "
                 f"dequantize {token_vs_tensor[1]:.2f}x (target <= 2x)")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--upstream-repeats", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.threads, args.repeats, args.upstream_repeats)))
        return

    command = [sys.executable, __file__, "--child", "--threads", str(args.threads), "--repeats", str(args.repeats),
               "--upstream-repeats", str(args.upstream_repeats)]
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    runs = [("glibc keeping freed memory: " + " ".join(f"{k}={v}" for k, v in KEEP_FREED_MEMORY.items()),
             dict(clean_env, **KEEP_FREED_MEMORY)),
            ("allocation included (glibc defaults: every 64 MB output is fresh, page-faulted memory)", clean_env)]
    print(f"{ELEMENTS} elements ({ROWS} x {COLUMNS} float32 <-> int8), {args.repeats} interleaved rounds "
          f"({args.upstream_repeats} for upstream) after a warm-up call; G elem/s and GB/s (read + written) from "
          f"the best round, % copy = median over rounds of bytes/s relative to the copy in the same round")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"python {platform.python_version()}")
    for title, env in runs:
        out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            sys.exit(f"benchmark child failed:\n{out.stderr[-3000:]}")
        report = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"\n## {title}\ntorch {report['torch']}, {report['threads']} threads, "
              f"CPU kernels: {report['cpu_capability']}\n")
        print(table(report))


if __name__ == "__main__":
    main()
