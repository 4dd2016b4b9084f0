"""prepare_pt2e + convert_pt2e on tools/bench_flow.py's synthetic stacks, two or more libraries side by side.

This machine's speed drifts by tens of percent over minutes, so one
library's figures from one run and another's from a later run do not
compare. Here every round runs each library once, in a fresh child process
of its own, one after the other (the order alternates between rounds), on
the same saved scripted stack (Linear+ReLU+residual blocks of width 8,
seed 0, as bench_flow builds it): prepare with the XNNPACK quantizer
(per-channel config), one calibration batch of 2x8 values, convert.
Process CPU time, one thread; the table gives each library's median over
the rounds, and the ratio of each library's median to the first's. The
children also hash the converted model's output on a fixed batch and its
forward graph's text (unnamed values and mangled class names renumbered by
first appearance): every library must give the same bytes of both, or the
run fails.

    /usr/bin/python3 tools/bench_flow_ab.py --blocks 4166 13888 --rounds 3 \\
        OLD/bazel-bin/libtorch_pt2e.so bazel-bin/libtorch_pt2e.so

(833 / 4166 / 13888 blocks: graphs of about 6k / 29k / 97k nodes.)
"""

import argparse
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.join(HERE, "..", "torch_pt2e_plugin", "python")


def save_stack(blocks, path):
    import torch

    sys.path.insert(0, HERE)
    import bench_flow

    torch.manual_seed(0)
    torch.jit.script(bench_flow.ResidualStack(blocks, 8).eval()).save(path)


def child(model_path):
    """One library's run (TORCH_PT2E_LIBRARY): a JSON line of process CPU seconds and the output hash."""
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, PACKAGE)
    from torch_pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torch_pt2e.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config

    scripted = torch.jit.load(model_path)
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    generator = torch.Generator().manual_seed(1)
    calibration = torch.randn(2, 8, generator=generator)
    probe = torch.randn(2, 8, generator=generator)
    start = time.process_time()
    prepared = prepare_pt2e(scripted, quantizer)
    prepare_s = time.process_time() - start
    with torch.no_grad(), torch.jit.optimized_execution(False):
        prepared(calibration)
    start = time.process_time()
    converted = convert_pt2e(prepared)
    convert_s = time.process_time() - start
    with torch.no_grad(), torch.jit.optimized_execution(False):
        output = converted(probe)
    digest = hashlib.sha256(output.contiguous().numpy().tobytes()).hexdigest()
    # Unnamed values print as their creation number, which differs between
    # passes that make the same graph in another order; renumbered by first appearance.
    numbers = {}
    graph_text = re.sub(r"%(\d+)\b", lambda m: "%" + numbers.setdefault(m.group(1), str(len(numbers))),
                        str(converted.graph))
    # Likewise the index LibTorch gives a class whose name is taken (`___torch_mangle_<N>`), which
    # counts every class made in the unit, also ones a pass makes and drops.
    mangles = {}
    graph_text = re.sub(r"___torch_mangle_(\d+)\b",
                        lambda m: "___torch_mangle_" + mangles.setdefault(m.group(1), str(len(mangles))), graph_text)
    graph_digest = hashlib.sha256(graph_text.encode()).hexdigest()
    print(json.dumps({"prepare": prepare_s, "convert": convert_s, "sha256": digest, "graph_sha256": graph_digest}))


def run_child(library, model_path, profile_passes):
    env = dict(os.environ, TORCH_PT2E_LIBRARY=os.path.abspath(library))
    if profile_passes:
        env["TORCH_PT2E_PROFILE_PASSES"] = "1"
    result = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", model_path], env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"bench_flow_ab: the run with {library} failed:\n{result.stderr[-4000:]}")
    run = json.loads(result.stdout.strip().splitlines()[-1])
    run["passes"] = [line for line in result.stderr.splitlines() if line.startswith("[torch_pt2e]")]
    return run


def pass_times(lines):
    """{pass: CPU ms} from TORCH_PT2E_PROFILE_PASSES lines
    "[torch_pt2e] NAME  W ms wall  C ms cpu  F faults" (the faults column since session 15)."""
    times = {}
    for line in lines:
        match = re.match(r"\[torch_pt2e\]\s+(.*?)\s+([\d.]+) ms wall\s+([\d.]+) ms cpu\b", line)
        if match:
            times[match.group(1)] = times.get(match.group(1), 0.0) + float(match.group(3))
    return times


def print_pass_table(blocks, libraries, runs):
    """Each library's per-pass CPU ms in its last round, one column per library."""
    tables = [pass_times(runs[library][-1]["passes"]) for library in libraries]
    names = list(dict.fromkeys(name for table in tables for name in table))
    print(f"  {blocks} blocks, per pass (CPU ms, last round; columns in the order of the libraries above)")
    for name in names:
        cells = "".join(f"{table.get(name, float('nan')):>10.1f}" for table in tables)
        print(f"    {name:<36}{cells}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("libraries", nargs="*", help="libtorch_pt2e.so files; the first is the baseline of the ratios")
    parser.add_argument("--blocks", type=int, nargs="+", default=[13888])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile-passes", action="store_true",
                        help="also print each library's per-pass times (TORCH_PT2E_PROFILE_PASSES=1) of its last round")
    parser.add_argument("--child", metavar="MODEL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if len(args.libraries) < 1:
        parser.error("give at least one library")
    for library in args.libraries:
        if not os.path.isfile(library):
            parser.error(f"no such library: {library}")

    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {load}")
    print(f"prepare_pt2e + convert_pt2e, process CPU s, median of {args.rounds} rounds "
          "(each round: one fresh process per library, order alternating)")
    print(f"{'blocks':>6} {'library':<48} {'prepare':>8} {'convert':>8} {'total':>8} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as scratch:
        for blocks in args.blocks:
            model_path = os.path.join(scratch, f"stack{blocks}.pt")
            save_stack(blocks, model_path)
            runs = {library: [] for library in args.libraries}
            for round_index in range(args.rounds):
                order = args.libraries if round_index % 2 == 0 else list(reversed(args.libraries))
                for library in order:
                    runs[library].append(run_child(library, model_path, args.profile_passes))
            for key, what in (("sha256", "outputs"), ("graph_sha256", "graphs (text)")):
                digests = {run[key] for library in args.libraries for run in runs[library]}
                if len(digests) != 1:
                    sys.exit(f"bench_flow_ab: the libraries' converted {what} differ at {blocks} blocks: "
                             f"{sorted(digests)}")
            baseline = None
            for library in args.libraries:
                prepare = statistics.median(run["prepare"] for run in runs[library])
                convert = statistics.median(run["convert"] for run in runs[library])
                total = statistics.median(run["prepare"] + run["convert"] for run in runs[library])
                baseline = baseline or total
                print(f"{blocks:>6} {library[-48:]:<48} {prepare:>8.3f} {convert:>8.3f} {total:>8.3f} "
                      f"{total / baseline:>6.3f}")
            if args.profile_passes:
                print_pass_table(blocks, args.libraries, runs)


if __name__ == "__main__":
    main()
