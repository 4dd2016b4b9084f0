"""Observers (torch_pt2e_plugin/observers) against upstream's Python observers.

Every kind is fed the same sequences of batches as upstream's observer from
torch.ao.quantization.observer (torch 1.13 on the host, torch 2.6 in the
trixie root); after each batch the recorded state must be bit-identical, and
calculate_qparams must give bit-identical tensors of the same dtype and shape
(or fail where upstream fails). Also: save/load round trips (in this process
and in a fresh one), class reuse, the Python descriptions and upstream
mapping, and the errors for bad configurations.
"""

import json
import math
import os
import subprocess
import sys
import warnings

import pytest
import torch
import torch.ao.quantization.observer as upstream

from bitwise import assert_bitwise_equal
from conftest import REPO, TORCH_MAJOR
from torch_pt2e import observer as pt2e_observer

INF = float("inf")
TORCH2 = TORCH_MAJOR >= 2
HISTOGRAM_SKIP_REASON = (
    "torch 1.13's HistogramObserver uses an older algorithm (_adjust_min_max, upsample_rate 128); the plugin "
    "follows torch 2.6's, whose parity runs inside the trixie root (tools/trixie_root.sh, part of tools/run_tests.sh)"
)
requires_torch2_histogram = pytest.mark.skipif(not TORCH2, reason=HISTOGRAM_SKIP_REASON)

# Upstream warns on reduce_range, unobserved observers and inf inputs.
pytestmark = pytest.mark.filterwarnings("ignore")

# dtypes upstream accepts: torch 1.13 only the torch.q* ones.
QUINT8_LIKE = [torch.quint8] + ([torch.uint8] if TORCH2 else [])
QINT8_LIKE = [torch.qint8] + ([torch.int8] if TORCH2 else [])
WIDE_DTYPES = [torch.qint32] + ([torch.int32, torch.int16, torch.uint16] if TORCH2 else [])


def _identity(self, x):
    return x


_holders = []


def holder():
    # A Python class per call: scripting one class twice would give both
    # modules one TorchScript type, and attributes added to one appear in both.
    cls = type(f"Holder{len(_holders)}", (torch.nn.Module,), {"forward": _identity})
    _holders.append(cls)
    return torch.jit.script(cls())


def our_observer(description, name="activation_post_process_0"):
    return pt2e_observer.add_observer(holder(), name, description)


# ---- batches ------------------------------------------------------------------

def _batch(kind, shape, g):
    base = torch.randn(shape, generator=g)
    if kind == "normal":
        return base * 3
    if kind == "positive":
        return base.abs() * 5 + 0.5
    if kind == "negative":
        return -base.abs() * 2 - 0.25
    if kind == "constant":
        return torch.full(shape, 1.75)
    if kind == "zeros":
        return torch.zeros(shape)
    if kind == "wide":
        return base * 40 + 7
    if kind == "tiny":
        return base * 1e-6
    if kind == "huge":
        return base * 1e30
    if kind == "inf":
        x = base * 2
        x.view(-1)[:: max(1, x.numel() // 3)] = INF
        x.view(-1)[1] = -INF
        return x
    if kind == "all_inf":
        return torch.full(shape, INF)
    if kind == "empty":
        return torch.empty((0,) + tuple(shape[1:]))
    if kind == "ties":
        # Exact multiples, so bins and rounding see their edge cases.
        return torch.randint(-8, 9, shape, generator=g).float() * 0.25
    raise ValueError(kind)


def batches(seed, kinds, shape_fn, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    out = []
    for kind in kinds:
        x = _batch(kind, shape_fn(g), g)
        out.append(x.to(dtype) if dtype != torch.float32 else x)
    return out


def random_shape(g):
    dims = int(torch.randint(1, 4, (1,), generator=g))
    return tuple(int(s) for s in torch.randint(1, 40, (dims,), generator=g))


MIXED = ["normal", "positive", "zeros", "negative", "empty", "wide", "constant", "ties", "tiny", "normal"]
POSITIVE_FIRST = ["positive", "positive", "wide", "empty", "ties"]
NEGATIVE_ONLY = ["negative", "negative", "tiny", "negative"]
CONSTANT_FIRST = ["constant", "constant", "zeros", "normal", "constant"]
WITH_INF = ["normal", "inf", "positive", "all_inf", "wide"]
HUGE = ["huge", "normal", "huge"]
SEQUENCES = {
    "mixed": MIXED,
    "positive_first": POSITIVE_FIRST,
    "negative_only": NEGATIVE_ONLY,
    "constant_first": CONSTANT_FIRST,
    "huge": HUGE,
}


def seed_of(sequence):
    return 101 * sorted(list(SEQUENCES) + ["with_inf"]).index(sequence) + 7


# ---- comparison ---------------------------------------------------------------

def assert_same_qparams(ours, theirs, context):
    assert isinstance(ours, tuple) and len(ours) == 2, context
    for name, a, b in zip(("scale", "zero_point"), ours, theirs):
        assert_bitwise_equal(a, b, f"{context}: {name} {a} vs upstream {b}")


def calculate_both(ours, theirs, context):
    try:
        expected = theirs.calculate_qparams()
    except (AssertionError, RuntimeError, Exception) as error:  # noqa: B014 - upstream asserts
        with pytest.raises(RuntimeError):
            ours.calculate_qparams()
        return repr(error)
    assert_same_qparams(ours.calculate_qparams(), expected, context)
    return None


def run_parity(upstream_cls, kwargs, inputs, states, ours=None, theirs=None, qparams_every=1):
    theirs = theirs if theirs is not None else upstream_cls(**kwargs)
    ours = ours if ours is not None else our_observer(upstream_cls.with_args(**kwargs))
    context = f"{upstream_cls.__name__}({kwargs})"
    calculate_both(ours, theirs, context + " before any input")
    for i, x in enumerate(inputs):
        out = ours(x)
        assert out is x or torch.equal(out, x)
        theirs(x)
        for name in states:
            assert_bitwise_equal(getattr(ours, name), getattr(theirs, name),
                                 f"{context} batch {i} ({tuple(x.shape)}): {name}")
        if i % qparams_every == qparams_every - 1 or i == len(inputs) - 1:
            calculate_both(ours, theirs, f"{context} after batch {i}")
    return ours, theirs


# ---- per-tensor min/max -------------------------------------------------------

def min_max_configs():
    configs = []
    for dtype in QUINT8_LIKE + QINT8_LIKE + WIDE_DTYPES:
        for qscheme in (torch.per_tensor_affine, torch.per_tensor_symmetric):
            configs.append(dict(dtype=dtype, qscheme=qscheme))
    for dtype in QUINT8_LIKE + QINT8_LIKE:
        configs.append(dict(dtype=dtype, reduce_range=True))
    configs.append(dict(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric, reduce_range=True))
    configs += [
        dict(dtype=torch.quint8, quant_min=0, quant_max=127),
        dict(dtype=torch.quint8, qscheme=torch.per_tensor_symmetric, quant_min=0, quant_max=127),
        dict(dtype=torch.quint8, quant_min=0, quant_max=15, reduce_range=True),
        dict(dtype=torch.qint8, quant_min=-127, quant_max=127, qscheme=torch.per_tensor_symmetric, eps=2**-12),
        dict(dtype=torch.qint8, quant_min=-63, quant_max=64, reduce_range=True),
        dict(dtype=torch.qint8, quant_min=-8, quant_max=7),
        dict(dtype=torch.qint32, quant_min=-(2**20), quant_max=2**20),
        dict(dtype=torch.quint8, eps=1e-3),
    ]
    if TORCH2:
        configs += [
            dict(dtype=torch.uint8, qscheme=torch.per_tensor_symmetric, quant_min=0, quant_max=200),
            dict(dtype=torch.int8, quant_min=-100, quant_max=100, is_dynamic=True),
            dict(dtype=torch.uint16, qscheme=torch.per_tensor_symmetric),
        ]
    return configs


def _ids(configs):
    return [",".join(f"{k}={str(v).replace('torch.', '')}" for k, v in c.items()) or "default" for c in configs]


MIN_MAX_CONFIGS = min_max_configs()


@pytest.mark.parametrize("kwargs", MIN_MAX_CONFIGS, ids=_ids(MIN_MAX_CONFIGS))
@pytest.mark.parametrize("sequence", list(SEQUENCES))
def test_min_max_matches_upstream(kwargs, sequence):
    inputs = batches(seed_of(sequence), SEQUENCES[sequence], random_shape)
    run_parity(upstream.MinMaxObserver, kwargs, inputs, ["min_val", "max_val"])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_min_max_reduced_and_double_inputs(dtype):
    inputs = batches(3, MIXED, random_shape, dtype=dtype)
    run_parity(upstream.MinMaxObserver, dict(dtype=torch.qint8), inputs, ["min_val", "max_val"])


def test_min_max_with_inf_matches_upstream():
    inputs = batches(4, WITH_INF, random_shape)
    run_parity(upstream.MinMaxObserver, dict(dtype=torch.quint8), inputs, ["min_val", "max_val"])


def test_min_max_large_noncontiguous_input():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(512, 1031, generator=g).t()
    y = torch.randn(3, 8, 64, 65, generator=g).contiguous(memory_format=torch.channels_last) * 9
    run_parity(upstream.MinMaxObserver, dict(), [x, y, x[::3]], ["min_val", "max_val"])


def test_nan_makes_calculate_qparams_fail_like_upstream():
    x = torch.randn(100)
    x[17] = float("nan")
    ours, theirs = run_parity(upstream.MinMaxObserver, dict(), [torch.randn(10), x], ["min_val", "max_val"])
    with pytest.raises(RuntimeError, match="min_val .* must be <= max_val"):
        ours.calculate_qparams()


AVERAGING = [dict(averaging_constant=0.01), dict(averaging_constant=0.5, dtype=torch.qint8),
             dict(averaging_constant=1.0, qscheme=torch.per_tensor_symmetric),
             dict(averaging_constant=0.3, dtype=torch.qint8, quant_min=-127, quant_max=127,
                  qscheme=torch.per_tensor_symmetric)]
if TORCH2:
    AVERAGING.append(dict(averaging_constant=1, is_dynamic=True, dtype=torch.int8))


@pytest.mark.parametrize("kwargs", AVERAGING, ids=_ids(AVERAGING))
@pytest.mark.parametrize("sequence", list(SEQUENCES))
def test_moving_average_matches_upstream(kwargs, sequence):
    inputs = batches(seed_of(sequence) + 1, SEQUENCES[sequence], random_shape)
    run_parity(upstream.MovingAverageMinMaxObserver, kwargs, inputs, ["min_val", "max_val"])


def test_moving_average_with_inf_matches_upstream():
    inputs = batches(6, WITH_INF, random_shape)
    run_parity(upstream.MovingAverageMinMaxObserver, dict(averaging_constant=0.2), inputs, ["min_val", "max_val"])


# ---- per-channel ----------------------------------------------------------------

def per_channel_shape(channels, axis, ndim):
    def shape_fn(g):
        shape = [int(s) for s in torch.randint(1, 12, (ndim,), generator=g)]
        shape[axis] = channels
        return tuple(shape)
    return shape_fn


PER_CHANNEL_CONFIGS = []
for _qscheme in (torch.per_channel_affine, torch.per_channel_symmetric, torch.per_channel_affine_float_qparams):
    for _dtype in (torch.quint8, torch.qint8):
        PER_CHANNEL_CONFIGS.append(dict(qscheme=_qscheme, dtype=_dtype))
PER_CHANNEL_CONFIGS += [
    dict(dtype=torch.qint8, qscheme=torch.per_channel_symmetric, quant_min=-127, quant_max=127, eps=2**-12),
    dict(dtype=torch.quint8, reduce_range=True),
    dict(dtype=torch.qint32, qscheme=torch.per_channel_symmetric),
]
if TORCH2:
    PER_CHANNEL_CONFIGS += [dict(dtype=torch.int8, qscheme=torch.per_channel_symmetric),
                            dict(dtype=torch.uint8, qscheme=torch.per_channel_symmetric)]

AXES = [(0, 2), (1, 3), (-1, 3), (2, 4), (-3, 4)]


@pytest.mark.parametrize("kwargs", PER_CHANNEL_CONFIGS, ids=_ids(PER_CHANNEL_CONFIGS))
@pytest.mark.parametrize("axis,ndim", AXES)
def test_per_channel_matches_upstream(kwargs, axis, ndim):
    channels = 5
    kinds = ["normal", "positive", "empty", "negative", "wide", "zeros", "ties", "constant"]
    inputs = batches(axis * 7 + ndim, kinds, per_channel_shape(channels, axis, ndim))
    run_parity(upstream.PerChannelMinMaxObserver, dict(kwargs, ch_axis=axis), inputs, ["min_val", "max_val"])


@pytest.mark.parametrize("kwargs", [dict(averaging_constant=0.01), dict(averaging_constant=0.4, dtype=torch.qint8,
                                    qscheme=torch.per_channel_symmetric),
                                    dict(averaging_constant=1.0, qscheme=torch.per_channel_affine_float_qparams)])
@pytest.mark.parametrize("axis,ndim", AXES)
def test_moving_average_per_channel_matches_upstream(kwargs, axis, ndim):
    kinds = ["normal", "positive", "empty", "negative", "wide", "ties"]
    inputs = batches(axis * 11 + ndim, kinds, per_channel_shape(4, axis, ndim))
    run_parity(upstream.MovingAveragePerChannelMinMaxObserver, dict(kwargs, ch_axis=axis), inputs,
               ["min_val", "max_val"])


@pytest.mark.parametrize("layout", ["channels_last", "transposed", "sliced", "float64", "float16", "large"])
def test_per_channel_layouts_match_upstream(layout):
    g = torch.Generator().manual_seed(8)
    x = torch.randn(4, 6, 13, 17, generator=g) * 3
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    elif layout == "transposed":
        x = x.transpose(1, 3)
    elif layout == "sliced":
        x = x[:, :, ::2]
    elif layout == "float64":
        x = x.double()
    elif layout == "float16":
        x = x.half()
    elif layout == "large":
        x = torch.randn(3, 6, 257, 311, generator=g)
    for axis in range(x.dim()):
        inputs = [x, x * 0.5 + 1, x.abs()]
        run_parity(upstream.PerChannelMinMaxObserver, dict(ch_axis=axis), inputs, ["min_val", "max_val"])


def test_per_channel_aminmax_matches_torch_ops():
    g = torch.Generator().manual_seed(9)
    cases = [torch.randn(64, 3, 7, 9, generator=g), torch.randn(2, 40000, generator=g),
             torch.randn(40000, 3, generator=g), torch.randn(5, 1, 70000, generator=g),
             torch.randn(8, 16, 33, 33, generator=g).contiguous(memory_format=torch.channels_last)]
    nan_case = torch.randn(6, 9, 1000, generator=g)
    nan_case[2, 4, 999] = float("nan")
    cases.append(nan_case)
    for x in cases:
        for axis in range(x.dim()):
            got_min, got_max = torch.ops.torch_pt2e.per_channel_aminmax(x, axis)
            rows = x.movedim(axis, 0).reshape(x.size(axis), -1)
            assert_bitwise_equal(got_min, rows.amin(1), f"{tuple(x.shape)} axis {axis} min")
            assert_bitwise_equal(got_max, rows.amax(1), f"{tuple(x.shape)} axis {axis} max")


def test_per_channel_errors():
    obs = our_observer(pt2e_observer.PerChannelMinMaxObserver.with_args(ch_axis=2))
    with pytest.raises(RuntimeError, match=r"axis must be in \[-2, 2\) for a 2-d input, got 2"):
        obs(torch.randn(3, 4))
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        our_observer(pt2e_observer.PerChannelMinMaxObserver())(torch.randn(5))
    obs = our_observer(pt2e_observer.PerChannelMinMaxObserver())
    obs(torch.randn(3, 4))
    with pytest.raises(RuntimeError, match="the input has 5 channels along ch_axis=0, but the observer recorded 3"):
        obs(torch.randn(5, 4))


# ---- histogram --------------------------------------------------------------------

HISTOGRAM_CONFIGS = [dict(), dict(bins=256, dtype=torch.qint8, qscheme=torch.per_tensor_symmetric),
                     dict(bins=37, reduce_range=True), dict(bins=512, quant_min=0, quant_max=127),
                     dict(bins=64, dtype=torch.qint8, quant_min=-127, quant_max=127, eps=2**-12),
                     dict(bins=128, dtype=torch.qint32), dict(bins=100, upsample_rate=4),
                     dict(bins=90, upsample_rate=1, dtype=torch.int16 if TORCH2 else torch.qint8)]


def _histogram_pair(kwargs):
    kwargs = dict(kwargs)
    upsample_rate = kwargs.pop("upsample_rate", None)
    theirs = upstream.HistogramObserver(**kwargs)
    if upsample_rate is not None:
        theirs.upsample_rate = upsample_rate  # not a constructor argument in torch 2.6
        ours = our_observer(pt2e_observer.HistogramObserver.with_args(upsample_rate=upsample_rate, **kwargs))
    else:
        ours = our_observer(upstream.HistogramObserver.with_args(**kwargs))
    return ours, theirs


@requires_torch2_histogram
@pytest.mark.parametrize("kwargs", HISTOGRAM_CONFIGS, ids=_ids(HISTOGRAM_CONFIGS))
@pytest.mark.parametrize("sequence", ["mixed", "positive_first", "constant_first", "with_inf", "negative_only"])
def test_histogram_matches_upstream(kwargs, sequence):
    kinds = dict(SEQUENCES, with_inf=WITH_INF)[sequence]
    inputs = batches(seed_of(sequence) + 2, kinds, random_shape)
    ours, theirs = _histogram_pair(kwargs)
    run_parity(upstream.HistogramObserver, kwargs, inputs, ["min_val", "max_val", "histogram"], ours=ours,
               theirs=theirs, qparams_every=3)


@requires_torch2_histogram
def test_histogram_growing_ranges_match_upstream():
    g = torch.Generator().manual_seed(12)
    inputs = [torch.randn(1000, generator=g) * (1.5 ** i) + i for i in range(12)]
    inputs.insert(3, torch.full((10,), 2.0))
    ours, theirs = _histogram_pair(dict(bins=2048))
    run_parity(upstream.HistogramObserver, {}, inputs, ["min_val", "max_val", "histogram"], ours=ours,
               theirs=theirs, qparams_every=4)


@requires_torch2_histogram
@pytest.mark.parametrize("bins", [2048, 256])
def test_histogram_sparse_inputs_match_upstream(bins):
    # A few values in many bins (a small calibration batch): upstream's search
    # spends most iterations lowering beta alone, which the plugin bisects.
    g = torch.Generator().manual_seed(14)
    inputs = [torch.randn(16, generator=g), torch.randn(4, 8, generator=g).relu(), torch.randn(3, generator=g) * 50,
              torch.tensor([0.0, 1.0]), torch.randn(2, 8, generator=g).exp()]
    for x in inputs:
        ours, theirs = _histogram_pair(dict(bins=bins))
        run_parity(upstream.HistogramObserver, {}, [x], ["min_val", "max_val", "histogram"], ours=ours,
                   theirs=theirs, qparams_every=1)


QPARAMS_FROM_STATE_CONFIGS = [dict(bins=2048), dict(bins=256, dtype=torch.qint8, qscheme=torch.per_tensor_symmetric),
                              dict(bins=512, dtype=torch.qint8, quant_min=-128, quant_max=127, eps=2**-12),
                              dict(bins=64, dtype=torch.qint32)]


@pytest.mark.parametrize("kwargs", QPARAMS_FROM_STATE_CONFIGS, ids=_ids(QPARAMS_FROM_STATE_CONFIGS))
def test_histogram_qparams_match_upstream_on_the_same_state(kwargs):
    # calculate_qparams alone (the range search and the scale and zero point)
    # on states set directly, so that it runs on torch 1.13 too, whose
    # observer records histograms differently: few and many values, ranges
    # from 1e-3 to 1e24, an outlier, relu outputs. Past about 1e12 empty
    # bins' errors overflow to NaN and upstream's search runs to its end
    # (seconds in Python): those states only for the first config.
    g = torch.Generator().manual_seed(15)
    states = [torch.randn(16, generator=g) * 10.0 ** e for e in (-3, 0, 6, 11)]
    states += [torch.randn(3000, generator=g), torch.randn(4, 8, generator=g).relu(), torch.tensor([0.0, 1.0, 1e9]),
               torch.randint(-8, 9, (40,), generator=g).float() * 0.25]
    if QPARAMS_FROM_STATE_CONFIGS.index(kwargs) == 0:
        states += [torch.randn(16, generator=g) * 1e13, torch.randn(16, generator=g) * 1e24]
    for i, x in enumerate(states):
        ours, theirs = _histogram_pair(kwargs)
        lo, hi = x.min(), x.max()
        histogram = torch.histc(x, ours.bins, float(lo), float(hi))
        for observer in (ours, theirs):
            observer.histogram.copy_(histogram)
            observer.min_val.copy_(lo)
            observer.max_val.copy_(hi)
        calculate_both(ours, theirs, f"HistogramObserver({kwargs}) state {i} over [{float(lo)}, {float(hi)}]")


@requires_torch2_histogram
def test_histogram_double_input_matches_upstream():
    inputs = batches(13, MIXED, random_shape, dtype=torch.float64)
    ours, theirs = _histogram_pair(dict(bins=300))
    run_parity(upstream.HistogramObserver, {}, inputs, ["min_val", "max_val", "histogram"], ours=ours,
               theirs=theirs, qparams_every=5)


def test_histc_with_extrema_matches_torch_histc():
    g = torch.Generator().manual_seed(14)
    op = torch.ops.torch_pt2e.histc_with_extrema
    ties = torch.arange(-40, 41, dtype=torch.float32) * 0.25  # exactly on bin edges
    cases = [(torch.randn(100000, generator=g), 2048, -1.0, 1.0), (torch.randn(3, 7, 11, generator=g), 5, -2.0, 0.5),
             (ties, 80, -10.0, 10.0), (ties, 7, -3.0, 3.0), (torch.randn(5000, generator=g) * 1e-3, 100, -1e-3, 4e-3),
             (torch.randn(999, 37, generator=g).t(), 33, -1.5, 2.5), (torch.full((70000,), 0.3), 16, 0.0, 1.0),
             (torch.randn(64, 1000, generator=g).double(), 64, -1.0, 1.0)]
    special = torch.randn(1000, generator=g)
    special[::97] = INF
    special[5] = -INF
    cases.append((special, 50, -2.0, 2.0))
    for x, bins, lo, hi in cases:
        hist, fmin, fmax, has_nan, has_inf = op(x, bins, lo, hi)
        assert_bitwise_equal(hist, torch.histc(x, bins, lo, hi), f"{tuple(x.shape)} bins={bins} [{lo}, {hi}]")
        finite = x[torch.isfinite(x)]
        assert_bitwise_equal(fmin, finite.min(), "finite min")
        assert_bitwise_equal(fmax, finite.max(), "finite max")
        assert has_inf == bool(torch.isinf(x).any()) and not has_nan
    nan_input = torch.tensor([0.5, float("nan"), 1.5])
    hist, _, _, has_nan, _ = op(nan_input, 4, 0.0, 2.0)
    # NaN is not counted (as torch 2.x's histc; torch 1.13's puts it in bin 0).
    assert has_nan and torch.equal(hist, torch.histc(nan_input[~torch.isnan(nan_input)], 4, 0.0, 2.0))
    _, fmin, fmax, _, has_inf = op(torch.full((5,), -INF), 4, 0.0, 1.0)
    assert has_inf and fmin.item() == INF and fmax.item() == -INF
    with pytest.raises(RuntimeError, match=r"the range must be finite with min < max, got \[1, 1\]"):
        op(torch.ones(3), 4, 1.0, 1.0)


def test_histogram_worked_example():
    obs = our_observer(pt2e_observer.HistogramObserver.with_args(bins=4))
    obs(torch.tensor([0.0, 1.0, 2.0, 3.0, 3.0]))
    # range [0, 3] in 4 bins of width 0.75: 0 | 1 | 2 | 3, 3
    assert obs.min_val.item() == 0.0 and obs.max_val.item() == 3.0
    assert obs.histogram.tolist() == [1.0, 1.0, 1.0, 2.0]
    obs(torch.tensor([1.5, float("inf"), 0.2]))  # inf dropped, same range
    assert obs.histogram.tolist() == [2.0, 1.0, 2.0, 2.0]
    with pytest.raises(RuntimeError, match="contains NaN"):
        obs(torch.tensor([float("nan"), 1.0]))


# ---- placeholder / fixed --------------------------------------------------------

def test_placeholder_is_identity_and_has_no_qparams():
    obs = our_observer(pt2e_observer.PlaceholderObserver.with_args(dtype=torch.float16))
    x = torch.randn(7)
    assert torch.equal(obs(x), x)
    with pytest.raises(Exception, match="calculate_qparams should not be called for PlaceholderObserver"):
        obs.calculate_qparams()
    kwargs = dict(dtype=torch.quint8, quant_min=0, quant_max=255, is_dynamic=True) if TORCH2 else \
        dict(dtype=torch.quint8, compute_dtype=torch.quint8)
    config = pt2e_observer.observer_config(upstream.PlaceholderObserver.with_args(**kwargs))
    obs = our_observer(upstream.PlaceholderObserver.with_args(**kwargs))
    assert pt2e_observer.read_observer_config(obs) == config


@pytest.mark.parametrize("kwargs", [dict(scale=2.0 / 256.0, zero_point=128),
                                    dict(scale=1.0 / 256.0, zero_point=0, dtype=torch.quint8),
                                    dict(scale=0.1, zero_point=-3, dtype=torch.qint8, quant_min=-128,
                                         quant_max=127, qscheme=torch.per_tensor_symmetric)])
def test_fixed_qparams_match_upstream(kwargs):
    ours, theirs = run_parity(upstream.FixedQParamsObserver, kwargs, [torch.randn(9), torch.empty(0)],
                              ["scale", "zero_point"])
    assert pt2e_observer.read_observer_config(ours)["scale"] == float(theirs.scale)


def test_default_observers_of_upstream_map():
    for factory in (upstream.default_observer, upstream.default_weight_observer,
                    upstream.weight_observer_range_neg_127_to_127, upstream.default_histogram_observer,
                    upstream.default_per_channel_weight_observer,
                    upstream.per_channel_weight_observer_range_neg_127_to_127,
                    upstream.default_dynamic_quant_observer, upstream.default_float_qparams_observer,
                    upstream.default_fixed_qparams_range_neg1to1_observer,
                    upstream.default_fixed_qparams_range_0to1_observer, upstream.default_placeholder_observer):
        config = pt2e_observer.observer_config(factory)
        obs = our_observer(factory)
        assert pt2e_observer.read_observer_config(obs) == config, factory
        instance = factory()
        assert config["kind"] == type(instance).__name__
        if hasattr(instance, "quant_min") and config["kind"] != "PlaceholderObserver":
            assert (obs.quant_min, obs.quant_max) == (instance.quant_min, instance.quant_max), factory


# ---- descriptions, mapping, errors -----------------------------------------------

def test_descriptions_and_with_args():
    factory = pt2e_observer.HistogramObserver.with_args(eps=2**-12).with_args(bins=64)
    config = pt2e_observer.observer_config(factory)
    assert config["eps"] == 2**-12 and config["bins"] == 64 and config["kind"] == "HistogramObserver"
    assert config["upsample_rate"] == 16 and config["dtype"] == "quint8"
    assert pt2e_observer.observer_config(factory(bins=8))["bins"] == 8
    assert pt2e_observer.observer_config(pt2e_observer.MinMaxObserver)["qscheme"] == "per_tensor_affine"
    up = upstream.MinMaxObserver.with_args(dtype=torch.qint8).with_args(qscheme=torch.per_tensor_symmetric)
    assert pt2e_observer.observer_config(up) == pt2e_observer.observer_config(
        pt2e_observer.MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric))
    callable_factory = upstream.MinMaxObserver.with_callable_args(eps=lambda: 0.5)
    assert pt2e_observer.observer_config(callable_factory)["eps"] == 0.5


@pytest.mark.parametrize("description,message", [
    (lambda: upstream.RecordingObserver, "unsupported observer class .*RecordingObserver"),
    (lambda: upstream.NoopObserver.with_args(dtype=torch.float16), "unsupported observer class .*NoopObserver"),
    (lambda: upstream.MinMaxObserver(), "got an observer instance"),
    (lambda: pt2e_observer.MinMaxObserver.with_args(bins=3), "MinMaxObserver does not take bins"),
    (lambda: pt2e_observer.FixedQParamsObserver.with_args(scale=0.1), "FixedQParamsObserver needs zero_point"),
    (lambda: 42, "not an observer description"),
])
def test_description_errors(description, message):
    with pytest.raises(pt2e_observer.ObserverConfigError, match=message):
        pt2e_observer.observer_config(description())


@pytest.mark.parametrize("kwargs,message", [
    (dict(qscheme=torch.per_channel_affine), "MinMaxObserver: qscheme must be per_tensor_affine or "
                                             "per_tensor_symmetric, got per_channel_affine"),
    (dict(quant_min=1, quant_max=10), r"must include 0, got \[1, 10\]"),
    (dict(quant_min=0, quant_max=0), "quant_min must be strictly less than quant_max, got quant_min=0"),
    (dict(dtype=torch.qint8, quant_min=-200, quant_max=100), "must not exceed 256 values"),
    (dict(dtype=torch.quint8, quant_min=0, quant_max=300), r"must lie in \[0, 255\] for dtype quint8"),
    (dict(quant_min=0), "quant_min and quant_max must be given together"),
    (dict(qscheme=torch.per_tensor_symmetric, reduce_range=True), "reduce_range is not supported for symmetric"),
    (dict(dtype=torch.float32), "dtype must be one of"),
    (dict(eps=0.0), "eps must be a finite number > 0, got 0"),
])
def test_bad_min_max_configs(kwargs, message):
    with pytest.raises(RuntimeError, match=message):
        our_observer(pt2e_observer.MinMaxObserver.with_args(**kwargs))


@pytest.mark.parametrize("cls,kwargs,message", [
    (pt2e_observer.MovingAverageMinMaxObserver, dict(is_dynamic=True), "needs averaging_constant == 1, got 0.01"),
    (pt2e_observer.PerChannelMinMaxObserver, dict(qscheme=torch.per_tensor_affine), "qscheme must be per_channel"),
    (pt2e_observer.PerChannelMinMaxObserver, dict(is_dynamic=True), "dynamic quantization .* is not supported"),
    (pt2e_observer.HistogramObserver, dict(bins=0), "bins must be >= 1, got 0"),
    (pt2e_observer.HistogramObserver, dict(upsample_rate=0), "upsample_rate must be >= 1, got 0"),
    (pt2e_observer.FixedQParamsObserver, dict(scale=0.0, zero_point=0), "scale must be a finite number > 0, got 0"),
    (pt2e_observer.FixedQParamsObserver, dict(scale=0.1, zero_point=0, is_dynamic=True), "is not supported"),
])
def test_bad_configs_of_other_kinds(cls, kwargs, message):
    with pytest.raises(RuntimeError, match=message):
        our_observer(cls.with_args(**kwargs))


def test_bad_json_and_names():
    model = holder()
    add = torch.ops.torch_pt2e.add_observer
    with pytest.raises(RuntimeError, match="not valid JSON"):
        add(model._c, "obs", "{")
    with pytest.raises(RuntimeError, match='unsupported observer kind "Foo"; supported: MinMaxObserver'):
        add(model._c, "obs", json.dumps({"kind": "Foo"}))
    with pytest.raises(RuntimeError, match='"bins" must be an integer, got 2.5'):
        add(model._c, "obs", json.dumps({"kind": "HistogramObserver", "bins": 2.5}))
    with pytest.raises(RuntimeError, match='unsupported observer dtype "float8"'):
        add(model._c, "obs", json.dumps({"kind": "MinMaxObserver", "dtype": "float8"}))
    with pytest.raises(RuntimeError, match="must be a Python identifier"):
        add(model._c, "not a name", json.dumps({"kind": "MinMaxObserver"}))
    add(model._c, "obs", json.dumps({"kind": "MinMaxObserver"}))
    with pytest.raises(RuntimeError, match='already has an attribute named "obs"'):
        add(model._c, "obs", json.dumps({"kind": "MinMaxObserver"}))
    with pytest.raises(RuntimeError, match="module must be a TorchScript module"):
        add(torch.ones(1), "obs2", json.dumps({"kind": "MinMaxObserver"}))


# ---- modules: classes, save/load, another process --------------------------------

ALL_KINDS = [
    pt2e_observer.MinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric),
    pt2e_observer.MovingAverageMinMaxObserver.with_args(averaging_constant=0.25),
    pt2e_observer.PerChannelMinMaxObserver.with_args(ch_axis=1, qscheme=torch.per_channel_affine_float_qparams),
    pt2e_observer.MovingAveragePerChannelMinMaxObserver.with_args(ch_axis=-1, dtype=torch.qint8),
    pt2e_observer.HistogramObserver.with_args(bins=128),
    pt2e_observer.FixedQParamsObserver.with_args(scale=0.125, zero_point=3),
    pt2e_observer.PlaceholderObserver.with_args(dtype=torch.float16),
]


def calibration_batches(seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(4, 6, 5, generator=g) * (i + 1) - i for i in range(4)]


def build_model():
    model = holder()
    for i, description in enumerate(ALL_KINDS):
        pt2e_observer.add_observer(model, f"activation_post_process_{i}", description)
    return torch.jit._recursive.wrap_cpp_module(model._c)


def calibrate(model, inputs):
    for x in inputs:
        for i in range(len(ALL_KINDS)):
            getattr(model, f"activation_post_process_{i}")(x)


def qparams_of(model):
    out = {}
    for i, description in enumerate(ALL_KINDS):
        if pt2e_observer.observer_config(description)["kind"] != "PlaceholderObserver":
            out[i] = getattr(model, f"activation_post_process_{i}").calculate_qparams()
    return out


def test_observer_classes_are_shared_per_kind():
    model = holder()
    a = pt2e_observer.add_observer(model, "a", pt2e_observer.MinMaxObserver)
    b = pt2e_observer.add_observer(model, "b", pt2e_observer.MinMaxObserver.with_args(dtype=torch.qint8))
    c = pt2e_observer.add_observer(holder(), "c", pt2e_observer.MinMaxObserver.with_args(eps=0.5))
    d = pt2e_observer.add_observer(model, "d", pt2e_observer.HistogramObserver)
    assert a._c._type() == b._c._type() == c._c._type()
    assert d._c._type() != a._c._type()
    assert a.dtype != b.dtype  # configuration lives in attributes, not in the class


def test_save_load_round_trip(tmp_path):
    inputs = calibration_batches(20)
    model = build_model()
    twin = build_model()
    calibrate(model, inputs[:2])
    calibrate(twin, inputs)
    path = str(tmp_path / "prepared.pt")
    torch.jit.save(model, path)
    loaded = torch.jit.load(path)
    for i, description in enumerate(ALL_KINDS):
        obs = getattr(loaded, f"activation_post_process_{i}")
        assert pt2e_observer.is_observer(obs)
        assert pt2e_observer.read_observer_config(obs) == pt2e_observer.read_observer_config(
            getattr(model, f"activation_post_process_{i}"))
    assert not pt2e_observer.is_observer(loaded)
    assert set(k for k in loaded.state_dict() if k.startswith("activation_post_process_0.")) == {
        "activation_post_process_0.eps", "activation_post_process_0.min_val", "activation_post_process_0.max_val"}
    calibrate(loaded, inputs[2:])
    expected = qparams_of(twin)
    for i, got in qparams_of(loaded).items():
        assert_same_qparams(got, expected[i], f"observer {i} after save/load")
    # A new observer in the loaded model reuses the loaded class.
    extra = pt2e_observer.add_observer(loaded, "extra", ALL_KINDS[0])
    assert extra._c._type() == loaded.activation_post_process_0._c._type()


def test_calibrate_in_another_process(tmp_path, library_path):
    inputs = calibration_batches(21)
    model = build_model()
    calibrate(model, inputs[:1])
    path = str(tmp_path / "prepared.pt")
    torch.jit.save(model, path)
    torch.save(inputs[1:], str(tmp_path / "inputs.pt"))
    script = f"""
import sys, torch
sys.path.insert(0, {str(REPO / 'torch_pt2e_plugin' / 'python')!r})
import torch_pt2e
model = torch.jit.load({path!r})
for x in torch.load({str(tmp_path / 'inputs.pt')!r}):
    for i in range({len(ALL_KINDS)}):
        getattr(model, "activation_post_process_%d" % i)(x)
out = {{i: getattr(model, "activation_post_process_%d" % i).calculate_qparams() for i in range({len(ALL_KINDS) - 1})}}
torch.save(out, {str(tmp_path / 'qparams.pt')!r})
"""
    env = dict(os.environ, TORCH_PT2E_LIBRARY=library_path)
    subprocess.run([sys.executable, "-c", script], check=True, env=env)
    got = torch.load(str(tmp_path / "qparams.pt"))
    twin = build_model()
    calibrate(twin, inputs)
    expected = qparams_of(twin)
    assert set(got) == set(expected)
    for i in got:
        assert_same_qparams(got[i], expected[i], f"observer {i} calibrated in another process")
