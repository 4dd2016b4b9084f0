"""Throughput of the plugin's int8 x int8 -> int32 out_dtype ops against fp32
torch.mm / torch.nn.functional.conv2d of the same shapes, measured side by
side in one run (BENCHMARKS.md, "Integer kernels (out_dtype)").

    TORCH_PT2E_LIBRARY=bazel-bin/libtorch_pt2e.so /usr/bin/python3 tools/bench_int8.py [--threads 2]
    ... tools/bench_int8.py --threads 1 --clock cpu     # per-core figures on a busy machine

GOPS counts 2 * M * N * K operations (a multiply and an add per MAC) for
every op. Each row times the int8 op and its fp32 counterpart alternately,
in rounds, and reports the median of the rounds, so both see the same load.
With --clock cpu (one thread only) the time is the process's CPU time, which
other processes sharing the cores do not inflate.
Debian's torch runs torch.mm on the reference BLAS, so GEMM rows also time
the same fp32 product on oneDNN's inner product (torch._C._nn.mkldnn_linear,
converting the activation to oneDNN's layout in every call as an eager model
would), the fastest fp32 GEMM this torch has. conv2d runs on oneDNN already.
"""

import argparse
import pathlib
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "torch_pt2e_plugin" / "python"))
import torch_pt2e  # noqa: E402

OPS = torch.ops.torch_pt2e

GEMM_SHAPES = [(128, 768, 768), (128, 3072, 768), (512, 768, 768), (512, 768, 3072), (512, 3072, 768)]
# ResNet-18's 3x3 convolutions (stride 1, padding 1): channels, spatial size.
CONV_SHAPES = [(64, 56), (128, 28), (256, 14), (512, 7)]


CLOCK = time.perf_counter


def seconds_per_call(fn, min_time):
    fn()
    calls, start = 0, CLOCK()
    while True:
        fn()
        calls += 1
        elapsed = CLOCK() - start
        if elapsed >= min_time:
            return elapsed / calls


def side_by_side(fns, rounds, min_time):
    """Median seconds per call of each fn, timed in alternation."""
    samples = [[] for _ in fns]
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            samples[i].append(seconds_per_call(fn, min_time))
    return [statistics.median(s) for s in samples]


def int8(shape, generator):
    return torch.randint(-128, 128, shape, generator=generator, dtype=torch.int8)


def bench_gemm(rounds, min_time, generator):
    print("\nGEMM: C[M,N] = A[M,K] @ B[K,N]   (GOPS; ratio = int8 mm / fp32)")
    header = (f"{'M':>5} {'K':>5} {'N':>5} | {'int8 mm':>8} {'int8 linear':>11} | {'fp32 mm':>8} {'ratio':>6} |"
              f" {'fp32 oneDNN':>11} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    for m, k, n in GEMM_SHAPES:
        a, b = int8((m, k), generator), int8((k, n), generator)
        w = b.t().contiguous()
        af, bf = a.float(), b.float()
        w_onednn = w.float().to_mkldnn()
        assert torch.equal(OPS.out_dtype_mm(a, b, torch.int32).long(), a.long() @ b.long())
        times = side_by_side([
            lambda: OPS.out_dtype_mm(a, b, torch.int32),
            lambda: OPS.out_dtype_linear(a, w, None, torch.int32),
            lambda: torch.mm(af, bf),
            lambda: torch._C._nn.mkldnn_linear(af.to_mkldnn(), w_onednn, None).to_dense(),
        ], rounds, min_time)
        gops = [2 * m * n * k / t / 1e9 for t in times]
        print(f"{m:>5} {k:>5} {n:>5} | {gops[0]:>8.1f} {gops[1]:>11.1f} | {gops[2]:>8.1f} {gops[0] / gops[2]:>5.1f}x |"
              f" {gops[3]:>11.1f} {gops[0] / gops[3]:>5.2f}x")


def bench_conv(rounds, min_time, generator):
    print("\n3x3 convolution, stride 1, padding 1, NCHW   (GOPS; ratio = int8 / fp32)")
    header = f"{'batch':>5} {'C':>4} {'HxW':>7} | {'int8 conv':>9} | {'fp32 conv2d':>11} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for batch in (1, 8):
        for channels, size in CONV_SHAPES:
            x, w = int8((batch, channels, size, size), generator), int8((channels, channels, 3, 3), generator)
            xf, wf = x.float(), w.float()
            got = OPS.out_dtype_conv2d(x, w, None, [1, 1], [1, 1], [1, 1], 1, torch.int32)
            assert torch.equal(got, torch.nn.functional.conv2d(x.double(), w.double(), padding=1).to(torch.int32))
            times = side_by_side([
                lambda: OPS.out_dtype_conv2d(x, w, None, [1, 1], [1, 1], [1, 1], 1, torch.int32),
                lambda: torch.nn.functional.conv2d(xf, wf, padding=1),
            ], rounds, min_time)
            ops = 2 * batch * channels * channels * 9 * size * size
            gops = [ops / t / 1e9 for t in times]
            print(f"{batch:>5} {channels:>4} {f'{size}x{size}':>7} | {gops[0]:>9.1f} | {gops[1]:>11.1f}"
                  f" {gops[0] / gops[1]:>5.2f}x")


def bench_int16(rounds, min_time, generator):
    print("\nint16 operands (upstream's reference representation subtracts zero points in int16)   (GOPS)")
    header = f"{'op':>28} | {'int16':>8} | {'fp32':>8} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    m, k, n = 512, 3072, 768
    a, w = int8((m, k), generator).to(torch.int16), int8((n, k), generator).to(torch.int16)
    af, w_onednn = a.float(), w.float().to_mkldnn()
    times = side_by_side([
        lambda: OPS.out_dtype_linear(a, w, None, torch.int32),
        lambda: torch._C._nn.mkldnn_linear(af.to_mkldnn(), w_onednn, None).to_dense(),
    ], rounds, min_time)
    gops = [2 * m * n * k / t / 1e9 for t in times]
    print(f"{f'linear {m}x{k}x{n} vs oneDNN':>28} | {gops[0]:>8.1f} | {gops[1]:>8.1f} {gops[0] / gops[1]:>5.2f}x")
    for channels, size in ((64, 56), (256, 14)):
        x = int8((1, channels, size, size), generator).to(torch.int16)
        w = int8((channels, channels, 3, 3), generator).to(torch.int16)
        xf, wf = x.float(), w.float()
        times = side_by_side([
            lambda: OPS.out_dtype_conv2d(x, w, None, [1, 1], [1, 1], [1, 1], 1, torch.int32),
            lambda: torch.nn.functional.conv2d(xf, wf, padding=1),
        ], rounds, min_time)
        gops = [2 * channels * channels * 9 * size * size / t / 1e9 for t in times]
        label = f"conv 3x3 {channels}x{size}x{size} batch 1"
        print(f"{label:>28} | {gops[0]:>8.1f} | {gops[1]:>8.1f} {gops[0] / gops[1]:>5.2f}x")


def bench_requantize(rounds, min_time, generator):
    print("\nRequantization: out_dtype_mul(int32 accumulator, float, int32)   (G elements/s)")
    acc = torch.randint(-2**20, 2**20, (8, 64, 56, 56), generator=generator, dtype=torch.int32)
    scale = 0.0123
    assert torch.equal(OPS.out_dtype_mul(acc, scale, torch.int32), (acc.float() * scale).to(torch.int32))
    times = side_by_side([
        lambda: OPS.out_dtype_mul(acc, scale, torch.int32),
        lambda: (acc.float() * scale).to(torch.int32),
    ], rounds, min_time)
    rates = [acc.numel() / t / 1e9 for t in times]
    print(f"{acc.numel()} elements: fused {rates[0]:.2f}, ATen cast-multiply-cast {rates[1]:.2f}, "
          f"ratio {rates[0] / rates[1]:.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per timing sample")
    parser.add_argument("--only", choices=["gemm", "conv", "int16", "requantize"], help="run one table")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall-clock time, or process CPU time (with --threads 1 only)")
    args = parser.parse_args()
    if args.clock == "cpu":
        if args.threads != 1:
            parser.error("--clock cpu measures one thread: pass --threads 1")
        global CLOCK
        CLOCK = time.process_time

    torch.set_num_threads(args.threads)
    info = torch_pt2e.build_info()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.clock} clock, plugin cpu_capability "
          f"{info['cpu_capability']}, {platform.processor() or platform.machine()}, "
          f"load average {' '.join(open('/proc/loadavg').read().split()[:3])}")
    generator = torch.Generator().manual_seed(0)
    if args.only in (None, "gemm"):
        bench_gemm(args.rounds, args.min_time, generator)
    if args.only in (None, "conv"):
        bench_conv(args.rounds, args.min_time, generator)
    if args.only in (None, "int16"):
        bench_int16(args.rounds, args.min_time, generator)
    if args.only in (None, "requantize"):
        bench_requantize(args.rounds, args.min_time, generator)


if __name__ == "__main__":
    main()
