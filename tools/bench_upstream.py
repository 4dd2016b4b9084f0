"""This plugin's PT2E flow against upstream's (torch 2.6), side by side in one
process, on the models of tests/quantizer/test_real_models.py (torchvision
ResNet-18, MobileNetV2, ResNet-50 with random init, seed 0, batch-norm
statistics from random batches; the dynamic MLP stack).

Ours: torch.jit.script / torch.jit.trace, then torch_pt2e's prepare_pt2e /
convert_pt2e with its XNNPACKQuantizer. Upstream: torch.export.export_for_training,
then torch.ao's prepare_pt2e / convert_pt2e with torch 2.6's XNNPACKQuantizer.
Same weights, config and calibration batches (tests/quantizer/parity.py runs both).

Prints two tables:
  * fidelity: quantized_decomposed op counts (every op and overload) ours vs
    upstream, the q/dq parameters and folded integer weights compared around
    every op (how many equal), and the largest output difference on the
    example and calibration inputs, in steps of the output's quantization
    scale (absolute for dynamic quantization, whose output is float);
  * pass times: capture (script/trace vs export_for_training), prepare and
    convert, process CPU time, median of --repeat runs, and ours / upstream.

Runs inside the trixie root (torch 2.6), with the plugin built there by CMake:
    tools/trixie_root.sh run 'TORCH_PT2E_LIBRARY=$TORCH_PT2E_BUILD_DIR/libtorch_pt2e.so python3 tools/bench_upstream.py'
"""

import argparse
import collections
import contextlib
import datetime
import os
import platform
import statistics
import sys
import time
import warnings

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "torch_pt2e_plugin", "python"))
sys.path.insert(0, os.path.join(REPO, "tests", "quantizer"))
import torch_pt2e  # noqa: E402,F401  (loads the plugin)
import parity  # noqa: E402

CONFIGS = {"per_channel": {"is_per_channel": True}, "per_tensor": {"is_per_channel": False}}
DYNAMIC_CONFIGS = {"dyn_per_channel": {"is_per_channel": True, "is_dynamic": True},
                   "dyn_per_tensor": {"is_per_channel": False, "is_dynamic": True}}


class StageClock:
    """Process CPU time of each stage, over runs."""

    def __init__(self):
        self.seconds = collections.defaultdict(list)

    @contextlib.contextmanager
    def timed(self, stage):
        start = time.process_time()
        yield
        self.seconds[stage].append(time.process_time() - start)

    def median(self, stage):
        return statistics.median(self.seconds[stage])


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def count_difference(ours, upstream) -> str:
    if ours == upstream:
        return "equal"
    ops = sorted(set(ours) | set(upstream))
    return "; ".join(f"{op} {ours.get(op, 0)} vs {upstream.get(op, 0)}" for op in ops
                     if ours.get(op, 0) != upstream.get(op, 0))


def output_difference(ours, upstream, inputs):
    """Largest |ours - upstream| over `inputs`, absolute."""
    largest = 0.0
    with torch.no_grad():
        for batch in inputs:
            largest = max(largest, (ours(*batch) - upstream(*batch)).abs().max().item())
    return largest


def compare(name, make, configs, captures, repeat):
    """One fidelity row and one timing row per (config, capture)."""
    fidelity, timing = [], []
    model, example, calibration = make()
    for config, kwargs in configs.items():
        upstream_clock = StageClock()
        for _ in range(repeat):
            upstream_module = parity.quantize_upstream(model, example, calibration, kwargs, upstream_clock.timed)
        upstream = parity.Quantized.of_fx(upstream_module)
        static = not kwargs.get("is_dynamic", False)
        step = parity.last_output_scale(upstream) if static else None
        for how in captures:
            ours_clock = StageClock()
            for _ in range(repeat):
                ours_module = parity.quantize_ours(model, example, calibration, how, kwargs, ours_clock.timed)
            ours = parity.Quantized.of_script(ours_module)
            ours_counts, upstream_counts = ours.qd_counts(), upstream.qd_counts()
            compared, differences = parity.qparam_differences(ours, upstream, parity.ANCHORS)
            difference = output_difference(ours.module, upstream.module, [example] + list(calibration))
            fidelity.append({
                "model": name, "capture": how, "config": config,
                "ours": sum(ours_counts.values()), "upstream": sum(upstream_counts.values()),
                "counts": count_difference(ours_counts, upstream_counts), "upstream_counts": upstream_counts,
                "compared": compared, "equal": compared - len(differences), "differences": differences,
                "steps": None if step is None else difference / step, "absolute": difference})
            timing.append({
                "model": name, "capture": how, "config": config,
                **{f"ours_{stage}": ours_clock.median(stage) for stage in ("capture", "prepare", "convert")},
                **{f"up_{stage}": upstream_clock.median(stage) for stage in ("capture", "prepare", "convert")}})
            print(f"# done: {name} {how} {config}", file=sys.stderr, flush=True)
    return fidelity, timing


def print_fidelity(rows):
    print("Fidelity: quantized_decomposed ops (every op.overload) ours vs upstream; q/dq parameters and folded")
    print("integer weights around every op, compared in graph order; max |output difference| over the example")
    print("and calibration inputs, in output quantization steps (absolute for dynamic: float output)")
    header = f"{'model':13} {'capture':7} {'config':15} | {'q/dq ours':>9} {'upstream':>8} {'op counts':9} | " \
             f"{'qparams':>7} {'equal':>5} | {'max |out diff|':>14}"
    print(header)
    print("-" * len(header))
    for row in rows:
        diff = f"{row['steps']:.3g} steps" if row["steps"] is not None else f"{row['absolute']:.3g} abs"
        print(f"{row['model']:13} {row['capture']:7} {row['config']:15} | {row['ours']:9} {row['upstream']:8} "
              f"{row['counts']:9} | {row['compared']:7} {row['equal']:5} | {diff:>14}")
    for row in rows:
        for difference in row["differences"][:5]:
            print(f"  {row['model']} {row['capture']} {row['config']}: {difference}")
    print("upstream's quantized_decomposed ops by overload:")
    listed = set()
    for row in rows:
        if (row["model"], row["config"]) not in listed:
            listed.add((row["model"], row["config"]))
            counts = ", ".join(f"{op} {n}" for op, n in sorted(row["upstream_counts"].items()))
            print(f"  {row['model']} {row['config']}: {counts}")


def print_timing(rows, repeat):
    print(f"Pass times: process CPU s, median of {repeat}; ours on the TorchScript module, upstream on the exported")
    print("graph; capture = torch.jit.script/trace (ours) vs torch.export.export_for_training (upstream);")
    print("ratio = ours / upstream")
    header = (f"{'model':13} {'capture':7} {'config':15} | {'capture':>7} {'prepare':>7} {'convert':>7} | "
              f"{'export':>7} {'prepare':>7} {'convert':>7} | {'capture':>7} {'prepare':>7} {'convert':>7} "
              f"{'p+c':>6}")
    print(f"{'':38}| {'ours':^23} | {'upstream':^23} | {'ratio ours / upstream':^30}")
    print(header)
    print("-" * len(header))
    for row in rows:
        ours = [row[f"ours_{s}"] for s in ("capture", "prepare", "convert")]
        up = [row[f"up_{s}"] for s in ("capture", "prepare", "convert")]
        ratios = [a / b if b > 0 else float("inf") for a, b in zip(ours, up)]
        both = (ours[1] + ours[2]) / (up[1] + up[2])
        print(f"{row['model']:13} {row['capture']:7} {row['config']:15} | "
              + " ".join(f"{t:7.3f}" for t in ours) + " | " + " ".join(f"{t:7.3f}" for t in up) + " | "
              + " ".join(f"{r:7.3f}" for r in ratios) + f" {both:6.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each flow; times are their median")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--models", default=",".join(list(parity.TORCHVISION_MODELS) + ["mlp"]),
                        help="comma-separated: " + ", ".join(list(parity.TORCHVISION_MODELS) + ["mlp"]))
    args = parser.parse_args()
    missing = parity.upstream_flow_missing()
    if missing:
        sys.exit(f"bench_upstream.py {missing}")
    torch.set_num_threads(args.threads)
    # upstream's conv-bn fusion warns once per batch norm it folds
    warnings.filterwarnings("ignore", message=r"erase_node\(.*\) on an already erased node")
    models = args.models.split(",")
    unknown = [m for m in models if m != "mlp" and m not in parity.TORCHVISION_MODELS]
    if unknown:
        sys.exit(f"unknown model(s) {unknown}; expected some of {list(parity.TORCHVISION_MODELS) + ['mlp']}")

    import torchvision

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# {now}")
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {torch.get_num_threads()} threads, "
          f"process CPU time; {cpu_model()}, {os.cpu_count()} CPUs, {platform.machine()}; load average "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print("inputs: resnet18/mobilenet_v2 1x3x64x64, resnet50 1x3x32x32, calibration 2 batches of 2; "
          "mlp 2x5x32 (2 blocks, dynamic)")
    fidelity, timing = [], []
    for name in models:
        if name == "mlp":
            rows = compare("mlp", parity.make_mlp, DYNAMIC_CONFIGS, ("script", "trace"), args.repeat)
        else:
            rows = compare(name, lambda: parity.make_torchvision_model(name), CONFIGS, ("script", "trace"),
                           args.repeat)
        fidelity += rows[0]
        timing += rows[1]
    print()
    print_fidelity(fidelity)
    print()
    print_timing(timing, args.repeat)
    print(f"load average at the end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
