"""Pass times of the TorchScript PT2E flow, side by side with torch's own
TorchScript graph-mode quantization (torch.ao.quantization.quantize_jit).

Prints, in one run:
  * scripted torchvision ResNet-50 and MobileNetV2: prepare and convert time
    of prepare_pt2e/convert_pt2e (XNNPACKQuantizer, per-channel config) and of
    quantize_jit's prepare_jit/convert_jit (qnnpack qconfig) on the same
    scripted model, and their ratio; and each flow's first prepare and convert
    of the model in a process of its own (after the same warm-up of both flows
    on other models), when LibTorch has not yet optimized its submodules'
    method graphs that inlining uses, median of --first-runs processes per
    flow, the flows' processes alternating;
  * synthetic scripted graphs of residual Linear+ReLU blocks with about 6k,
    30k and 100k nodes: prepare and convert time, time per node (which
    grows from 6k to 100k nodes as the graph outgrows the caches; past them,
    from 100k to 200k nodes, it is close to flat when the passes are linear:
    BENCHMARKS.md, session 20),
    the same per node for LibTorch's own linear passes on the same graph and
    the ratio of the two, and what the Python module
    trees of the prepared and converted modules cost: wrapping as the flow
    does, wrapping and then walking every submodule, and torch's own wrap.

Each prepare/convert timing is the median of --repeat runs. Calibration runs
twice between prepare and convert and the converted module runs twice, not
counted in those; for the synthetic graphs their times are printed (the first
call compiles the graph, which costs TorchScript a name scan per attribute
read: the reason for passes/attribute_groups.h). Run with Debian's torch 1.13:
    TORCH_PT2E_LIBRARY=bazel-bin/libtorch_pt2e.so /usr/bin/python3 tools/bench_flow.py --clock cpu
"""

import argparse
import datetime
import gc
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "torch_pt2e_plugin", "python"))
import torch_pt2e  # noqa: E402
from torch_pt2e._wrap import wrap_cpp_module  # noqa: E402
from torch_pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e  # noqa: E402
from torch_pt2e.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config  # noqa: E402


CLOCK = time.perf_counter


def user_cpu():
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime


def median_time(fn, repeat):
    """Median seconds of `repeat` calls by CLOCK, median user-CPU seconds of
    them, and the last call's result. The previous call's result is freed
    before the clock starts: freeing is not the call's work (a converted
    97k-node graph takes seconds to free, in glibc's free), and each flow's
    results are freed when dropped (PT2E's clones own their compilation
    unit; quantize_jit's clones stay in the model's until it goes)."""
    times, user_times = [], []
    result = None
    for _ in range(repeat):
        result = None
        start, user_start = CLOCK(), user_cpu()
        result = fn()
        times.append(CLOCK() - start)
        user_times.append(user_cpu() - user_start)
    return statistics.median(times), statistics.median(user_times), result


def canonical_graph(module):
    """The canonical (inlined) forward graph the passes work on."""
    return torch.jit._recursive.wrap_cpp_module(torch.ops.torch_pt2e.canonicalize(module._c)).graph


def count_nodes(graph) -> int:
    """Nodes of `graph`, blocks included."""
    def count(nodes):
        return sum(1 + sum(count(block.nodes()) for block in node.blocks()) for node in nodes)

    return count(graph.nodes())


def graph_nodes(module) -> int:
    """Nodes of the canonical (inlined) forward graph the passes work on, blocks included."""
    return count_nodes(canonical_graph(module))


def libtorch_walk_ns_per_node(graph, nodes, repeat):
    """Nanoseconds per node of LibTorch's own linear passes on `graph`: a copy, then dead
    code elimination and tuple lowering on the copy (the best of `repeat`). Their
    time per node grows with the graph as the flow's does: past the caches every node
    visited is a cache miss (the reference for the flow's us/node column)."""
    best = float("inf")
    for _ in range(repeat):
        start = CLOCK()
        copy = graph.copy()
        torch._C._jit_pass_dce(copy)
        torch._C._jit_pass_lower_all_tuples(copy)
        best = min(best, CLOCK() - start)
        del copy
    return best / nodes * 1e9


def walk(module) -> int:
    """Reads every submodule (named_modules), which makes every lazily made wrapper."""
    return sum(1 for _ in module.named_modules())


def median_wrap_time(fn, repeat):
    """Median seconds (by CLOCK) of `repeat` calls of a wrap, each after a collection of the
    trees the earlier calls left, so that none pays for another's garbage."""
    times = []
    for _ in range(repeat):
        gc.collect()
        start = CLOCK()
        fn()
        times.append(CLOCK() - start)
    return statistics.median(times)


def timed_calls(module, example, calls=2):
    """Seconds (by CLOCK) of each of `calls` runs of `module` on `example`."""
    times = []
    # Without the graph executor's optimizations, whose common subexpression
    # elimination takes minutes on the 100k-node graphs.
    with torch.no_grad(), torch.jit.optimized_execution(False):
        for _ in range(calls):
            start = CLOCK()
            module(*example)
            times.append(CLOCK() - start)
    return times


def time_pt2e(scripted, example, repeat, wrap_times=None, run_times=None):
    """prepare and convert seconds, and the user-CPU seconds of both together;
    with a list `wrap_times`, also appends, for the prepared and then the
    converted module, the seconds of its Python module tree: torch_pt2e's
    wrap_cpp_module as the flow makes it (part of both timings; submodules'
    wrappers made when first read), the same followed by a walk that reads
    every submodule, and torch's eager torch.jit._recursive.wrap_cpp_module.
    With a list `run_times`, appends the seconds of two calibration batches and
    then of two runs of the converted module."""
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    prepare_s, prepare_user, prepared = median_time(lambda: prepare_pt2e(scripted, quantizer), repeat)
    calibration = timed_calls(prepared, example)
    convert_s, convert_user, converted = median_time(lambda: convert_pt2e(prepared), repeat)
    runs = timed_calls(converted, example)  # the result runs
    if run_times is not None:
        run_times.extend(calibration + runs)
    if wrap_times is not None:
        for module in (prepared, converted):
            wrap_times.append(median_wrap_time(lambda: wrap_cpp_module(module._c), repeat))
            wrap_times.append(median_wrap_time(lambda: walk(wrap_cpp_module(module._c)), repeat))
            wrap_times.append(median_wrap_time(lambda: torch.jit._recursive.wrap_cpp_module(module._c), repeat))
    return prepare_s, convert_s, prepare_user + convert_user


def time_quantize_jit(scripted, example, repeat):
    from torch.ao.quantization import get_default_qconfig
    from torch.ao.quantization.quantize_jit import convert_jit, prepare_jit

    torch.backends.quantized.engine = "qnnpack"
    qconfig_dict = {"": get_default_qconfig("qnnpack")}
    prepare_s, prepare_user, prepared = median_time(lambda: prepare_jit(scripted, qconfig_dict), repeat)
    with torch.no_grad():
        prepared(*example)
    convert_s, convert_user, _ = median_time(lambda: convert_jit(prepared), repeat)
    return prepare_s, convert_s, prepare_user + convert_user


def warm_up_both_flows():
    """Once-per-process costs (operator lookups, first allocations) of both flows, on
    models whose classes the timed models do not share."""
    import torchvision

    time_pt2e(torch.jit.script(ResidualStack(10, 8).eval()), (torch.randn(2, 8),), 1)
    time_quantize_jit(torch.jit.script(torchvision.models.resnet18().eval()), (torch.randn(1, 3, 64, 64),), 1)


def first_run_child(flow, name):
    """In a process of its own: the warm-up, then `flow`'s first prepare and convert of a
    fresh copy of model `name`; prints its seconds and user seconds as one JSON line.

    Each flow gets a process of its own so that neither meets memory the other freed: in
    one process, whichever flow ran second got pages the first had already faulted in and
    returned, which this VM hands out at a fraction of the cost of pages never touched."""
    import torchvision

    torch.manual_seed(0)
    model = with_batch_norm_statistics(getattr(torchvision.models, name)(), (2, 3, 224, 224))
    saved = io.BytesIO()
    torch.jit.save(torch.jit.script(model), saved)
    del model
    warm_up_both_flows()
    saved.seek(0)
    # A copy loaded from memory has functions of its own, none optimized yet.
    fresh = torch.jit.load(saved)
    example = (torch.randn(1, 3, 224, 224),)
    timed = time_pt2e if flow == "pt2e" else time_quantize_jit
    prepare_s, convert_s, user_s = timed(fresh, example, 1)
    print(json.dumps({"total": prepare_s + convert_s, "user": user_s}))


def first_runs(name, args):
    """Median total and user seconds of each flow's first run in --first-runs fresh
    processes per flow (first_run_child), the flows alternating and taking turns at
    going first."""
    results = {"pt2e": [], "jit": []}
    for index in range(args.first_runs):
        for flow in (("pt2e", "jit") if index % 2 == 0 else ("jit", "pt2e")):
            command = [sys.executable, os.path.abspath(__file__), "--first-run-child", flow, "--models", name,
                       "--threads", str(args.threads), "--clock", args.clock]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            results[flow].append(json.loads(output.strip().splitlines()[-1]))

    def median(flow, key):
        return statistics.median(result[key] for result in results[flow])

    return {flow: (median(flow, "total"), median(flow, "user")) for flow in results}


def with_batch_norm_statistics(model, shape):
    """Random init leaves BN at mean 0 / var 1; a few train-mode batches give real statistics."""
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(shape))
    return model.eval()


class ResidualBlock(torch.nn.Module):
    def __init__(self, width, weight_std=0.01):
        super().__init__()
        self.linear = torch.nn.Linear(width, width)
        # Small weights keep activations finite through thousands of residual adds.
        torch.nn.init.normal_(self.linear.weight, std=weight_std)
        torch.nn.init.constant_(self.linear.bias, 0.01)

    def forward(self, x):
        return x + torch.relu(self.linear(x))


class ResidualStack(torch.nn.Module):
    def __init__(self, blocks, width):
        super().__init__()
        # Activations grow about e^(1.4 * std * blocks); at 14k blocks std 0.01 overflows
        # float32 and the observers see NaN, so deeper stacks get smaller weights.
        weight_std = 0.01 if blocks <= 5000 else 40.0 / blocks
        self.blocks = torch.nn.ModuleList([ResidualBlock(width, weight_std) for _ in range(blocks)])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: process CPU time, which other processes on shared cores do not inflate")
    parser.add_argument("--models", default="resnet50,mobilenet_v2")
    parser.add_argument("--synthetic-nodes", default="6000,30000,100000",
                        help="approximate node counts of the synthetic graphs (empty: none)")
    parser.add_argument("--first-runs", type=int, default=5,
                        help="processes per flow for the first-run columns (0: no first-run columns)")
    parser.add_argument("--first-run-child", choices=["pt2e", "jit"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.manual_seed(0)
    warnings.filterwarnings("ignore")
    if args.first_run_child:
        first_run_child(args.first_run_child, args.models)
        return
    load = os.getloadavg()
    print(f"# {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC")
    print(f"torch {torch.__version__}, {args.threads} threads, {args.clock} clock, {platform.machine()}, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, median of {args.repeat}")
    print()

    if args.models:
        import torchvision

        print("Scripted torchvision models (s; ratio = PT2E / quantize_jit)")
        print("(user ratio: the same totals in user CPU only; system time here is mostly the first")
        print(" write to freshly mapped memory, which costs this virtual machine 0.1-2 ms per MB and")
        print(" varies from run to run; the folded conv weights take memory the process already has")
        print(" where they can; see BENCHMARKS.md)")
        print("(1st: each flow's first prepare and convert of a model never run, in a process of its")
        print(" own after the same warm-up of both flows on other models, median of --first-runs")
        print(" processes per flow: LibTorch has not yet optimized the graphs of the submodules'")
        print(" methods, which inlining uses and LibTorch keeps for later calls and runs. 1st ratio")
        print(" / user: PT2E's first over quantize_jit's first)")
        print(f"{'model':<14}{'nodes':>7} | {'PT2E prep':>9} {'conv':>7} | {'jit prep':>9} {'conv':>7} | "
              f"{'prep ratio':>10} {'conv ratio':>10} {'total ratio':>11} {'user ratio':>10} | "
              f"{'1st PT2E':>8} {'jit':>6} {'ratio':>6} {'user':>6}")
        warm_up_both_flows()
        for name in args.models.split(","):
            model = with_batch_norm_statistics(getattr(torchvision.models, name)(), (2, 3, 224, 224))
            scripted = torch.jit.script(model)
            example = (torch.randn(1, 3, 224, 224),)
            ours = time_pt2e(scripted, example, args.repeat)
            theirs = time_quantize_jit(scripted, example, args.repeat)
            theirs_total = theirs[0] + theirs[1]
            line = (f"{name:<14}{graph_nodes(scripted):>7} | {ours[0]:>9.3f} {ours[1]:>7.3f} | "
                    f"{theirs[0]:>9.3f} {theirs[1]:>7.3f} | {ours[0] / theirs[0]:>10.3f} "
                    f"{ours[1] / theirs[1]:>10.3f} {(ours[0] + ours[1]) / theirs_total:>11.3f} "
                    f"{ours[2] / theirs[2]:>10.3f} |")
            if args.first_runs > 0:
                first = first_runs(name, args)
                (first_total, first_user), (theirs_first_total, theirs_first_user) = first["pt2e"], first["jit"]
                line += (f" {first_total:>8.3f} {theirs_first_total:>6.3f} "
                         f"{first_total / theirs_first_total:>6.3f} {first_user / theirs_first_user:>6.3f}")
            print(line, flush=True)
        print()

    if args.synthetic_nodes:
        width = 8
        print(f"Synthetic residual Linear+ReLU stacks (width {width}), PT2E flow")
        print("(wrap: of those, the Python module tree of the prepared / converted module as the")
        print(" flow makes it, with torch_pt2e._wrap.wrap_cpp_module, whose submodule wrappers are")
        print(" made when first read; +walk: the same and then a walk reading every submodule")
        print(" (named_modules); torch: torch's eager torch.jit._recursive.wrap_cpp_module;")
        print(" calib 1st/2nd: the prepared module's first and second batch; run 1st/2nd: the")
        print(" converted module's; one batch of 2 x 8 values)")
        print("(LibTorch ns/node: LibTorch's own linear passes on the canonical graph, a copy and")
        print(" then dead code elimination and tuple lowering; their time per node grows with the")
        print(" graph too, as the graph outgrows the caches; per-node ratio: the flow's us/node over")
        print(" theirs, flat or falling when the flow scales as LibTorch's linear passes do)")
        print(f"{'blocks':>7}{'nodes':>8} | {'prepare s':>9} {'convert s':>9} | {'us/node':>8} | "
              f"{'LibTorch ns/node':>16} {'per-node ratio':>14} | "
              f"{'wrap prep':>9} {'+walk':>7} {'torch':>7} | {'wrap conv':>9} {'+walk':>7} {'torch':>7} | "
              f"{'calib 1st':>9} {'2nd':>6} | {'run 1st':>7} {'2nd':>6}")
        probe = torch.jit.script(ResidualStack(10, width).eval())
        nodes_per_block = graph_nodes(probe) / 10
        for target in (int(n) for n in args.synthetic_nodes.split(",")):
            blocks = max(1, int(target / nodes_per_block))
            scripted = torch.jit.script(ResidualStack(blocks, width).eval())
            canonical = canonical_graph(scripted)
            nodes = count_nodes(canonical)
            walk_ns = libtorch_walk_ns_per_node(canonical, nodes, args.repeat)
            del canonical
            example = (torch.randn(2, width),)
            wrap_times, run_times = [], []
            prepare_s, convert_s, _ = time_pt2e(scripted, example, args.repeat, wrap_times, run_times)
            us_per_node = (prepare_s + convert_s) / nodes * 1e6
            print(f"{blocks:>7}{nodes:>8} | {prepare_s:>9.3f} {convert_s:>9.3f} | "
                  f"{us_per_node:>8.1f} | {walk_ns:>16.0f} {us_per_node * 1e3 / walk_ns:>14.1f} | "
                  f"{wrap_times[0]:>9.3f} {wrap_times[1]:>7.3f} "
                  f"{wrap_times[2]:>7.3f} | {wrap_times[3]:>9.3f} {wrap_times[4]:>7.3f} {wrap_times[5]:>7.3f} | "
                  f"{run_times[0]:>9.3f} {run_times[1]:>6.3f} | {run_times[2]:>7.3f} {run_times[3]:>6.3f}",
                  flush=True)


if __name__ == "__main__":
    main()
