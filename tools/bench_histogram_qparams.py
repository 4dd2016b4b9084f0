"""HistogramObserver.calculate_qparams on the states convert meets in the synthetic stacks.

Builds tools/bench_flow.py's residual stack of Linear+ReLU blocks (width 8,
seed 0, scripted), prepares it with the XNNPACK quantizer (per-channel
config: HistogramObserver activations, int8 [-128, 127]) and calibrates it
on one batch of 2x8 values, as bench_flow does; deep stacks' activations
reach 1e24, where the search's errors overflow to NaN. Then times
torch_pt2e::histogram_qparams, the function convert computes once per
histogram observer (observers::calculate_qparams), on every histogram
observer's state: per library, in a child process of its own, passes over
all states taking turns with the other libraries, the best pass; process CPU
time, one thread. Also checks that every library gives byte-identical
scales and zero points.

    TORCH_PT2E_LIBRARY=bazel-bin/libtorch_pt2e.so /usr/bin/python3 tools/bench_histogram_qparams.py \\
        --blocks 4166 --baseline-library OLD/libtorch_pt2e.so

(4166 blocks: a 29k-node graph, 8333 histogram observers; 13888: 97k nodes,
about 28k.) --states FILE keeps the calibrated states for another run.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def calibrated_states(blocks):
    """(histogram, min_val, max_val, eps, bins, quant_min, quant_max, dtype, qscheme, has_customized_qrange)
    of every histogram observer of the calibrated stack."""
    sys.path.insert(0, HERE)
    sys.path.insert(0, os.path.join(HERE, "..", "torch_pt2e_plugin", "python"))
    import bench_flow
    from torch_pt2e.quantize_pt2e import prepare_pt2e
    from torch_pt2e.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config

    torch.manual_seed(0)
    scripted = torch.jit.script(bench_flow.ResidualStack(blocks, 8).eval())
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    prepared = prepare_pt2e(scripted, quantizer)
    with torch.no_grad(), torch.jit.optimized_execution(False):
        prepared(torch.randn(2, 8))
    states = []
    # Every module, not only children: past passes/attribute_groups.h's flat limit the
    # observers sit in group submodules.
    for _, module in prepared.named_modules():
        if hasattr(module, "histogram") and torch.ops.torch_pt2e.is_observer(module._c):
            states.append((module.histogram, module.min_val, module.max_val, module.eps, module.bins,
                           module.quant_min, module.quant_max, module.dtype, module.qscheme,
                           module.has_customized_qrange))
    return states


def child(library, states_path, passes):
    """One library's timing: a JSON line {"us": [per pass], "sha256": of the results}."""
    torch.ops.load_library(library)
    torch.set_num_threads(1)
    states = torch.load(states_path)
    if not states:
        raise SystemExit(f"{states_path} holds no histogram observer states")
    op = torch.ops.torch_pt2e.histogram_qparams
    digest = hashlib.sha256()
    for state in states:
        for t in op(*state):
            digest.update(str((t.dtype, tuple(t.shape))).encode())
            digest.update(t.numpy().tobytes())
    times = []
    for _ in range(passes):
        start = time.process_time()
        for state in states:
            op(*state)
        times.append((time.process_time() - start) / len(states) * 1e6)
    print(json.dumps({"us": times, "sha256": digest.hexdigest()}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=4166)
    parser.add_argument("--states", help="load the states from this file if it exists, else save them there")
    parser.add_argument("--baseline-library", action="append", default=[])
    parser.add_argument("--rounds", type=int, default=3, help="child processes per library, in turns")
    parser.add_argument("--passes", type=int, default=3, help="passes over all states per child")
    parser.add_argument("--child", nargs=3, metavar=("LIBRARY", "STATES", "PASSES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], args.child[1], int(args.child[2]))

    sys.path.insert(0, os.path.join(HERE, "..", "torch_pt2e_plugin", "python"))
    import torch_pt2e._library as library_module

    library = library_module.library_path()
    states_path = args.states or f"/tmp/torch_pt2e_histogram_states_{args.blocks}.pt"
    if not os.path.exists(states_path):
        import torch_pt2e  # noqa: F401  (loads the library for prepare)
        torch.set_num_threads(1)
        states = calibrated_states(args.blocks)
        torch.save(states, states_path)
    count = len(torch.load(states_path))
    libraries = [library] + args.baseline_library
    best = {lib: float("inf") for lib in libraries}
    digests = {}
    for _ in range(args.rounds):
        for lib in libraries:
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", lib, states_path,
                                  str(args.passes)], check=True, capture_output=True, text=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            best[lib] = min(best[lib], min(result["us"]))
            digests.setdefault(lib, set()).add(result["sha256"])
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, torch {torch.__version__}, 1 thread, "
          f"process CPU time, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{count} HistogramObserver states of the {args.blocks}-block stack; histogram_qparams, best pass "
          f"of {args.rounds} x {args.passes}")
    for lib in libraries:
        print(f"{lib:60s} {best[lib]:9.1f} us per observer   results sha256 {sorted(digests[lib])[0][:16]}")
    identical = len({d for ds in digests.values() for d in ds}) == 1
    print("results byte-identical across libraries and runs" if identical else "RESULTS DIFFER")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
