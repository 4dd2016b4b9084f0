"""Time of the flow's canonicalization (conv+bn folding included) on scripted
torchvision ResNet-50, first and second call, each in a fresh process, for one
or more builds of the library side by side.

Folding writes ~94 MB of new weights. On this VM the first write into fresh
memory dominates (first-touch page faults), and a process's first call pays it
while the second call mostly reuses memory the first freed; fresh processes
are the case users hit (one prepare per process).

    /usr/bin/python3 tools/bench_conv_bn_fold.py --runs 3 OLD/libtorch_pt2e.so NEW/libtorch_pt2e.so

How fast fresh huge pages come depends on what the machine's free memory did
last: here, memory another process freed moments before comes fast, and
memory left free for a few seconds comes ~20 times slower (likely handed back
to the host meanwhile). `--pause 3` sleeps before each process, so each
meets memory that has sat free; the default runs them back to back.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

CHILD = r"""
import sys, time
sys.path.insert(0, TOOLS)
import bench_flow, torch, torchvision
torch.manual_seed(0)
model = bench_flow.with_batch_norm_statistics(torchvision.models.resnet50(), (2, 3, 64, 64))
scripted = torch.jit.script(model)
times = []
for _ in range(2):
    start = time.perf_counter()
    torch.ops.torch_pt2e.canonicalize(scripted._c)
    times.append(time.perf_counter() - start)
print(*times)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("libraries", nargs="+", help="libtorch_pt2e.so files to compare")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per library (interleaved)")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds to sleep before each process")
    args = parser.parse_args()
    tools = os.path.dirname(os.path.abspath(__file__))
    results = {library: [] for library in args.libraries}
    for _ in range(args.runs):
        for library in args.libraries:
            env = dict(os.environ, TORCH_PT2E_LIBRARY=os.path.abspath(library))
            code = f"TOOLS = {tools!r}\n" + CHILD
            time.sleep(args.pause)
            out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
            results[library].append([float(value) for value in out.stdout.split()])
    print(f"canonicalize(ResNet-50), wall ms, median of {args.runs} fresh processes, {args.pause:g} s pause "
          "before each (each run's values in brackets)")
    print(f"{'library':<48} {'first call':>10} {'second call':>11}")
    for library, runs in results.items():
        first = [r[0] * 1e3 for r in runs]
        second = [r[1] * 1e3 for r in runs]
        print(f"{library:<48} {statistics.median(first):>10.0f} {statistics.median(second):>11.0f}   "
              f"[{' '.join(f'{v:.0f}' for v in first)}] [{' '.join(f'{v:.0f}' for v in second)}]")


if __name__ == "__main__":
    main()
