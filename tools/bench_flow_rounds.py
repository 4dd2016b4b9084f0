"""Rounds of prepare_pt2e + calibration + convert_pt2e on one model in one process.

Each round first drops the previous round's results, then prepares the same loaded model,
calibrates it with one batch and converts it. For each step it prints getrusage's user and
system CPU seconds, its minor page faults and the process's peak RSS afterwards. If results
stayed in memory after they were dropped, RSS grows round by round and later rounds fault in
fresh memory; BENCHMARKS.md, "Session 15", has the figures before and after clones got
compilation units of their own. One thread, torch 1.13:

    TORCH_PT2E_LIBRARY=bazel-bin/libtorch_pt2e.so /usr/bin/python3 tools/bench_flow_rounds.py \\
        --blocks 13888 --rounds 3

The model is tools/bench_flow.py's residual stack (scripted, saved and loaded back, so its
compilation unit is its own); --model loads a saved TorchScript model with one input of
shape --input-shape instead.
"""

import argparse
import io
import os
import resource
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "torch_pt2e_plugin", "python"))
from torch_pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e  # noqa: E402
from torch_pt2e.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config  # noqa: E402


def load_model(args):
    if args.model:
        return torch.jit.load(args.model), torch.randn(*args.input_shape)
    sys.path.insert(0, HERE)
    import bench_flow

    torch.manual_seed(0)
    saved = io.BytesIO()
    torch.jit.save(torch.jit.script(bench_flow.ResidualStack(args.blocks, 8).eval()), saved)
    saved.seek(0)
    return torch.jit.load(saved), torch.randn(2, 8)


def step(before, after):
    return (f"user {after.ru_utime - before.ru_utime:6.3f} sys {after.ru_stime - before.ru_stime:6.3f} "
            f"flt {after.ru_minflt - before.ru_minflt:7d} rss {after.ru_maxrss // 1024:5d} MB")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=13888, help="residual blocks of the synthetic stack")
    parser.add_argument("--model", help="a saved TorchScript model instead of the stack")
    parser.add_argument("--input-shape", type=int, nargs="+", default=[1, 3, 224, 224])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, example = load_model(args)
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    usage = lambda: resource.getrusage(resource.RUSAGE_SELF)  # noqa: E731
    for _ in range(args.rounds):
        r0 = usage()
        prepared = converted = None
        r1 = usage()
        prepared = prepare_pt2e(model, quantizer)
        r2 = usage()
        with torch.no_grad(), torch.jit.optimized_execution(False):
            prepared(example)
        r3 = usage()
        converted = convert_pt2e(prepared)
        r4 = usage()
        print(f"drop {step(r0, r1)} | prepare {step(r1, r2)} | convert {step(r3, r4)}", flush=True)


if __name__ == "__main__":
    main()
