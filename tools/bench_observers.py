"""Observer forward time: the plugin's observers vs upstream's Python observers.

Runs every observer kind side by side in one process on one float32 tensor
(2^24 elements by default) and prints, per kind, the best time of one
forward call of the plugin's observer (a TorchScript module calling
torch_pt2e ops), of upstream's observer (torch.ao.quantization.observer), of a
plain torch.aminmax and of a copy of the tensor, and the ratios. "About one
pass over the tensor" means the plugin's time is close to aminmax's (one read
pass) and below the copy's (one read and one write pass).

Run it where upstream's observers follow torch 2.6 (the trixie root):
    tools/trixie_root.sh run 'TORCH_PT2E_LIBRARY=$TORCH_PT2E_BUILD_DIR/libtorch_pt2e.so python3 tools/bench_observers.py'

--search-paths times only the plugin's HistogramObserver.calculate_qparams
(its range search), with the scalar per-bin error loop and with the loop this
CPU dispatches to (kernels/cpu/histogram_error.h), side by side: child
processes of this run, alternating, one with TORCH_PT2E_CPU_CAPABILITY=default
(which forces the scalar loop) and one without; process CPU time, one thread.
Any torch with the plugin will do:
    TORCH_PT2E_LIBRARY=bazel-bin/libtorch_pt2e.so /usr/bin/python3 tools/bench_observers.py --search-paths
With --baseline-library OLD.so a third kind of child loads another build
(e.g. of an earlier commit), dispatched, for a before/after column.
"""

import argparse
import json
import os
import subprocess
import platform
import sys
import time
import warnings

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "torch_pt2e_plugin", "python"))
import torch_pt2e  # noqa: E402
import torch.ao.quantization.observer as upstream  # noqa: E402
from torch_pt2e import observer as pt2e_observer  # noqa: E402


def time_ms(fns, repeat):
    """Best time in ms of each of `fns`, called in turns so that load changes
    on a shared machine hit all of them alike."""
    for fn in fns:
        fn()  # warm-up (the first call also sets the observers' ranges)
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return [b * 1e3 for b in best]


def _identity(self, x):
    return x


def new_holder(index):
    cls = type(f"BenchHolder{index}", (torch.nn.Module,), {"forward": _identity})
    return torch.jit.script(cls())


def cases(shape):
    """(label, upstream constructor, kwargs, input layout)."""
    return [
        ("MinMaxObserver", upstream.MinMaxObserver, {}, "flat"),
        ("MovingAverageMinMaxObserver", upstream.MovingAverageMinMaxObserver, {}, "flat"),
        ("PerChannelMinMaxObserver ch_axis=0", upstream.PerChannelMinMaxObserver, dict(ch_axis=0), "nchw"),
        ("PerChannelMinMaxObserver ch_axis=1", upstream.PerChannelMinMaxObserver, dict(ch_axis=1), "nchw"),
        ("MovingAveragePerChannelMinMaxObserver ch_axis=1", upstream.MovingAveragePerChannelMinMaxObserver,
         dict(ch_axis=1), "nchw"),
        ("HistogramObserver (same range)", upstream.HistogramObserver, {}, "flat"),
        ("PlaceholderObserver", upstream.PlaceholderObserver, {}, "flat"),
        ("FixedQParamsObserver", upstream.FixedQParamsObserver, dict(scale=0.01, zero_point=0), "flat"),
    ]


def search_cases():
    """(label, plugin HistogramObserver kwargs, data) for --search-paths."""
    g = torch.Generator().manual_seed(0)
    normal = torch.randn(1 << 20, generator=g)
    heavy = normal * torch.exp(torch.randn(1 << 20, generator=g) * 2)
    skewed = torch.rand(1 << 20, generator=g).pow(6) * 50 + 3
    cases = []
    for data_label, data in (("randn", normal), ("heavy-tailed", heavy), ("skewed", skewed)):
        for dtype in (torch.quint8, torch.qint8):
            cases.append((f"{data_label} {str(dtype).replace('torch.', '')}", dict(dtype=dtype), data))
    # A small calibration batch: a few occupied bins, and a search that mostly lowers beta alone.
    cases.append(("16 values qint8", dict(dtype=torch.qint8), torch.randn(16, generator=g)))
    cases.append(("4x8 after relu qint8", dict(dtype=torch.qint8), torch.randn(4, 8, generator=g).relu()))
    if hasattr(torch, "uint16"):  # int16 observers need torch >= 2.3
        cases.append(("randn int16", dict(dtype=torch.int16, quant_min=-32768, quant_max=32767), normal))
    return cases


def search_child(repeat):
    """Best process CPU time (ms) of calculate_qparams per case, as JSON."""
    torch.set_num_threads(1)
    result = {}
    for index, (label, kwargs, data) in enumerate(search_cases()):
        observer = pt2e_observer.add_observer(new_holder(index), "observer",
                                              pt2e_observer.HistogramObserver.with_args(**kwargs))
        observer(data)
        observer.calculate_qparams()
        best = float("inf")
        for _ in range(repeat):
            start = time.process_time()
            observer.calculate_qparams()
            best = min(best, time.process_time() - start)
        result[label] = best * 1e3
    print(json.dumps(result))


def search_paths(repeat, rounds, baseline_library=None):
    """Runs search_child with the scalar and the dispatched path (and a baseline build), alternating."""
    paths = {"scalar (TORCH_PT2E_CPU_CAPABILITY=default)": ("default", None), "dispatched": (None, None)}
    if baseline_library:
        paths["baseline build"] = (None, os.path.abspath(baseline_library))
    best = {path: {} for path in paths}
    for _ in range(rounds):
        for path, (capability, library) in paths.items():
            env = dict(os.environ)
            env.pop("TORCH_PT2E_CPU_CAPABILITY", None)
            if capability:
                env["TORCH_PT2E_CPU_CAPABILITY"] = capability
            if library:
                env["TORCH_PT2E_LIBRARY"] = library
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--search-child", "--repeat", str(repeat)],
                                 env=env, check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout
            for label, ms in json.loads(out.strip().splitlines()[-1]).items():
                best[path][label] = min(best[path].get(label, float("inf")), ms)
    scalar, dispatched = best[next(iter(paths))], best["dispatched"]
    baseline = best.get("baseline build")
    print(f"torch {torch.__version__}, {platform.machine()}, 1 thread, HistogramObserver(bins=2048) on 2^20 values "
          f"or the small batch named, calculate_qparams process CPU ms, best of {repeat} x {rounds} rounds")
    header = f"{'data, dtype':28s} {'scalar ms':>10s} {'dispatched ms':>14s} {'scalar/dispatched':>18s}"
    if baseline:
        header += f" {'baseline ms':>12s} {'baseline/dispatched':>20s}"
    print(header)
    print("-" * len(header))
    for label in scalar:
        row = f"{label:28s} {scalar[label]:10.3f} {dispatched[label]:14.3f} {scalar[label] / dispatched[label]:18.2f}"
        if baseline:
            row += f" {baseline[label]:12.3f} {baseline[label] / dispatched[label]:20.2f}"
        print(row)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log2-numel", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--qparams", action="store_true", help="also time HistogramObserver.calculate_qparams")
    parser.add_argument("--search-paths", action="store_true",
                        help="time HistogramObserver.calculate_qparams, scalar vs dispatched error loop")
    parser.add_argument("--search-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3, help="child process pairs for --search-paths")
    parser.add_argument("--baseline-library", help="--search-paths: also time this build of the plugin")
    args = parser.parse_args()
    if args.search_child:
        return search_child(args.repeat)
    if args.search_paths:
        return search_paths(args.repeat, args.rounds, args.baseline_library)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")

    numel = 1 << args.log2_numel
    g = torch.Generator().manual_seed(0)
    flat = torch.randn(numel, generator=g)
    nchw = flat.view(16, 64, -1, 64) if numel % (16 * 64 * 64) == 0 else flat.view(64, -1)
    inputs = {"flat": flat, "nchw": nchw}

    out = torch.empty_like(flat)
    aminmax_ms, copy_ms = time_ms([lambda: torch.aminmax(flat), lambda: out.copy_(flat)], args.repeat)
    print(f"torch {torch.__version__}, {platform.machine()}, {torch.get_num_threads()} threads, "
          f"input float32 x {numel} ({numel * 4 / 2**20:.0f} MiB), best of {args.repeat}")
    print(f"aminmax {aminmax_ms:.2f} ms, copy into a preallocated tensor {copy_ms:.2f} ms\n")
    header = f"{'observer':50s} {'plugin ms':>10s} {'upstream ms':>12s} {'plugin/aminmax':>15s} " \
             f"{'plugin/copy':>12s} {'upstream/plugin':>16s}"
    print(header)
    print("-" * len(header))
    for index, (label, cls, kwargs, layout) in enumerate(cases(nchw.shape)):
        x = inputs[layout]
        theirs = cls(**kwargs)
        ours = pt2e_observer.add_observer(new_holder(index), "observer", cls.with_args(**kwargs))
        ours_ms, theirs_ms = time_ms([lambda: ours(x), lambda: theirs(x)], args.repeat)
        print(f"{label:50s} {ours_ms:10.3f} {theirs_ms:12.3f} {ours_ms / aminmax_ms:15.2f} "
              f"{ours_ms / copy_ms:12.2f} {theirs_ms / ours_ms:16.2f}")
        if args.qparams and cls is upstream.HistogramObserver:
            q_ours, q_theirs = time_ms([ours.calculate_qparams, theirs.calculate_qparams], 3)
            print(f"{'  HistogramObserver.calculate_qparams':50s} {q_ours:10.3f} {q_theirs:12.3f} "
                  f"{'':15s} {'':12s} {q_theirs / q_ours:16.2f}")


if __name__ == "__main__":
    main()
