"""Timing that is fair to every device, and the workloads of the course's benchmark.

``time_call`` runs a function a few times to warm up (caches, lazy CUDA
initialisation, the allocator), then times several repeats, synchronising
the device before reading the clock, and returns the median.

The benchmark (``python -m course_lib.bench [--quick] [--json out.json]``;
the report, the table and the command line are in ``course_lib.tools.bench``)
times the same work three ways: the from-scratch NumPy code of
``course_lib.scratch``, PyTorch on the CPU, and PyTorch on the GPU when there
is one. The workloads: a matrix multiply, one MLP training step, a conv2d
forward + backward, an LSTM and causal multi-head self-attention forward +
backward over a sequence, both sides in the same dtype. ``measure``
interleaves the repeats (scratch, torch CPU, torch GPU, scratch, ...) so that
background load on a shared machine hits all of them alike, and reports
medians; the ratio is scratch time / torch CPU time (above 1: scratch is slower).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from course_lib.checks import _fail, check_choice, check_float, check_int, named_errors
from course_lib.timing import time_call

# =========================================================================== the benchmark

BACKENDS = ("numpy", "torch_cpu", "torch_gpu")
BACKEND_LABELS = {"numpy": "NumPy (scratch)", "torch_cpu": "torch CPU", "torch_gpu": "torch GPU"}
TASKS = ("matmul", "mlp", "conv", "lstm", "attention")
DTYPES = ("float32", "float64")
# Target: scratch time / torch CPU time at most this, per task (the course guide's "small factor").
TARGETS = {"mlp": 1.2, "conv": 1.5, "lstm": 1.5, "attention": 1.5}

FULL = {
    "matmul": [64, 128, 256, 512, 1024, 2048],
    "mlp": [((784, 256, 256, 10), 256), ((64, 256, 256, 10), 256)],
    "conv": [((64, 16, 16, 16), (32, 16, 3, 3), 1)],
    "lstm": [(50, 32, 64, 64)],
    "attention": [(128, 16, 64, 4)],
}
QUICK = {
    "matmul": [32, 64],
    "mlp": [((16, 32, 32, 10), 16)],
    "conv": [((2, 3, 8, 8), (4, 3, 3, 3), 1)],
    "lstm": [(5, 4, 8, 8)],
    "attention": [(6, 2, 8, 2)],
}
REPEATS = {"full": 7, "quick": 2}


@dataclass
class Workload:
    """One row of the benchmark: the same computation for NumPy and for torch.

    ``numpy_fn()`` runs the from-scratch code once. ``torch_fn(device)``
    builds the data on ``device`` and returns a function that runs the torch
    version once. ``flops`` counts the multiply-adds (2 flops each) of the
    matrix products, or None where not counted.

    Shapes: as described in ``size``.
    """

    task: str
    size: str
    flops: float | None
    numpy_fn: Callable[[], object]
    torch_fn: Callable[[object], Callable[[], object]]


def _torch():
    import torch

    return torch


def _check_common(func: str, dtype: str, seed: int = 0) -> None:
    """A workload's ``dtype`` (one of DTYPES) and ``seed`` (an int >= 0)."""
    check_choice(dtype, "dtype", func, DTYPES)
    check_int(seed, "seed", func, minimum=0)


def _check_flag(value, name: str, func: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        _fail(TypeError, func, f"{name} to be True or False", f"{type(value).__name__} {value!r}", None)
    return bool(value)


def _torch_dtype(dtype: str):
    return getattr(_torch(), dtype)


# --------------------------------------------------------------------------- workloads


def matmul_workload(n: int, dtype: str = "float32", seed: int = 0) -> Workload:
    """``A @ B`` for two random (n, n) matrices: 2 n^3 flops.

    Shapes: A (n, n), B (n, n) -> (n, n).
    Twin: torch.matmul
    """
    n = check_int(n, "n", "matmul_workload", minimum=1)
    _check_common("matmul_workload", dtype, seed)
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)

    def torch_fn(device):
        ta = _torch().from_numpy(a).to(device)
        tb = _torch().from_numpy(b).to(device)
        return lambda: ta @ tb

    return Workload("matmul", f"n={n}", 2.0 * n**3, lambda: a @ b, torch_fn)


def mlp_flops(sizes, batch: int) -> float:
    """Flops of one training step of an MLP: 3x the forward's matrix products.

    The forward costs 2 * N * in * out per Linear layer; the backward twice
    that (one product for dx, one for dW). Elementwise work is not counted.
    """
    sizes = _check_sizes(sizes, "sizes", "mlp_flops", 2, "[D, H1, ..., K]")
    batch = check_int(batch, "batch", "mlp_flops", minimum=1)
    forward = sum(2.0 * batch * d_in * d_out for d_in, d_out in zip(sizes[:-1], sizes[1:]))
    return 3.0 * forward


def _check_sizes(sizes, name: str, func: str, length: int, doc: str, exact: bool = False) -> list[int]:
    """A list or tuple of ints >= 1: at least (or, with ``exact``, exactly) ``length`` of them."""
    ok = isinstance(sizes, (list, tuple)) and (len(sizes) == length if exact else len(sizes) >= length)
    if not ok or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in sizes):
        _fail(ValueError if ok or isinstance(sizes, (list, tuple)) else TypeError, func,
              f"{name} to be {'' if exact else 'at least '}{length} ints >= 1, {doc}", repr(sizes), None)
    return [int(v) for v in sizes]


def _cast_module(module, dtype: str) -> None:
    """Cast a scratch Module's parameters (and gradient buffers) to ``dtype``, in place."""
    for _, child in module.children():
        _cast_module(child, dtype)
    for name in list(module.params):
        module.params[name] = module.params[name].astype(dtype)
        module.grads[name] = np.zeros_like(module.params[name])


def mlp_workload(sizes, batch: int = 256, dtype: str = "float32", lr: float = 0.01, seed: int = 0) -> Workload:
    """One SGD training step of a ReLU MLP: forward, softmax cross-entropy, backward, update.

    Scratch: ``course_lib.scratch.modules.MLP`` + ``softmax_cross_entropy`` +
    ``course_lib.scratch.optim.SGD``; torch: ``make_torch_mlp`` +
    ``F.cross_entropy`` + ``torch.optim.SGD`` (zero_grad, backward, step).

    Shapes: x (N, D), y (N,) with sizes = [D, H1, ..., K], N = batch.
    Twin: course_lib.twins.mlp.make_torch_mlp
    """
    from course_lib.scratch.losses import softmax_cross_entropy
    from course_lib.scratch.modules import MLP
    from course_lib.scratch.optim import SGD

    func = "mlp_workload"
    sizes = _check_sizes(sizes, "sizes", func, 2, "[D, H1, ..., K]")
    batch = check_int(batch, "batch", func, minimum=1)
    lr = check_float(lr, "lr", func, minimum=0.0, strict_min=True)
    _check_common(func, dtype, seed)
    rng = np.random.default_rng(seed)
    model = MLP(sizes, activation="relu", rng=rng)
    model.layers[0].needs_input_grad = False  # like torch: the data needs no gradient
    _cast_module(model, dtype)
    optimizer = SGD(model, lr=lr)
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], size=batch)

    def numpy_fn():
        logits = model.forward(x)
        _, dlogits = softmax_cross_entropy(logits, y)
        model.backward(dlogits)
        optimizer.step()

    def torch_fn(device):
        torch = _torch()
        from course_lib.twins.mlp import make_torch_mlp

        net = make_torch_mlp(sizes, "relu", dtype=_torch_dtype(dtype)).to(device)
        opt = torch.optim.SGD(net.parameters(), lr=lr)
        tx, ty = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

        def step():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(tx), ty).backward()
            opt.step()

        return step

    size = "-".join(str(s) for s in sizes) + f", N={batch}"
    return Workload("mlp", size, mlp_flops(sizes, batch), numpy_fn, torch_fn)


def conv_flops(x_shape, w_shape, padding: int = 1, stride: int = 1) -> float:
    """Flops of conv2d forward + backward: 3 x 2*N*F*C*KH*KW*OH*OW."""
    n, c, h, w = _check_sizes(x_shape, "x_shape", "conv_flops", 4, "(N, C, H, W)", exact=True)
    f, _, kh, kw = _check_sizes(w_shape, "w_shape", "conv_flops", 4, "(F, C, KH, KW)", exact=True)
    padding = check_int(padding, "padding", "conv_flops", minimum=0)
    stride = check_int(stride, "stride", "conv_flops", minimum=1)
    if h + 2 * padding < kh or w + 2 * padding < kw:
        _fail(ValueError, "conv_flops", "a kernel no larger than the padded input",
              f"kernel {kh}x{kw} on {h}x{w} with padding {padding}", "use a smaller kernel or more padding")
    oh = (h + 2 * padding - kh) // stride + 1
    ow = (w + 2 * padding - kw) // stride + 1
    return 3.0 * 2.0 * n * f * c * kh * kw * oh * ow


def conv_workload(x_shape, w_shape, padding: int = 1, dtype: str = "float32", seed: int = 0) -> Workload:
    """conv2d forward and backward (dx, dweight, dbias), stride 1.

    Scratch: ``course_lib.scratch.conv.conv2d_forward`` / ``conv2d_backward``;
    torch: ``F.conv2d`` and autograd with x, weight and bias requiring grad.

    Shapes: x (N, C, H, W), weight (F, C, KH, KW), bias (F,) -> out (N, F, OH, OW).
    Twin: torch.nn.functional.conv2d
    """
    from course_lib.scratch.conv import conv2d_backward, conv2d_forward

    _check_common("conv_workload", dtype, seed)
    with named_errors("conv_workload"):
        conv_flops(x_shape, w_shape, padding)  # checks the shapes and padding
    if x_shape[1] != w_shape[1]:
        _fail(ValueError, "conv_workload", f"w_shape with C = {x_shape[1]} channels, like x_shape",
              f"w_shape {tuple(w_shape)}", "the weight's second size is the input's channels")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    weight = rng.standard_normal(w_shape).astype(dtype)
    bias = rng.standard_normal(w_shape[0]).astype(dtype)
    out, _ = conv2d_forward(x, weight, bias, 1, padding)
    dout = rng.standard_normal(out.shape).astype(dtype)

    def numpy_fn():
        _, cache = conv2d_forward(x, weight, bias, 1, padding)
        return conv2d_backward(dout, cache)

    def torch_fn(device):
        torch = _torch()
        tx, tw, tb = (torch.from_numpy(a).to(device).requires_grad_() for a in (x, weight, bias))
        tdout = torch.from_numpy(dout).to(device)

        def step():
            tx.grad = tw.grad = tb.grad = None
            torch.nn.functional.conv2d(tx, tw, tb, padding=padding).backward(tdout)

        return step

    size = f"x {tuple(x_shape)}, w {tuple(w_shape)}, pad {padding}"
    return Workload("conv", size, conv_flops(x_shape, w_shape, padding), numpy_fn, torch_fn)


def lstm_flops(t_steps: int, n: int, d: int, h: int) -> float:
    """Flops of an LSTM forward + backward: 3 x 2*T*N*(D+H)*4H (matrix products only)."""
    t_steps, n, d, h = _check_sizes([t_steps, n, d, h], "(t_steps, n, d, h)", "lstm_flops", 4, "T, N, D, H", exact=True)
    return 3.0 * 2.0 * t_steps * n * (d + h) * 4 * h


def lstm_workload(t_steps: int, n: int, d: int, h: int, dtype: str = "float32", seed: int = 0) -> Workload:
    """An LSTM over a whole sequence, forward and backward through time.

    Scratch: ``course_lib.scratch.recurrent.lstm_forward`` / ``lstm_backward``;
    torch: ``torch.nn.LSTM(D, H)`` with autograd (x requires grad, so both
    sides compute dx and every weight gradient).

    Shapes: x (T, N, D), h0 and c0 (N, H) -> h_all (T, N, H).
    Twin: torch.nn.LSTM
    """
    from course_lib.scratch.recurrent import lstm_backward, lstm_forward

    t_steps, n, d, h = _check_sizes([t_steps, n, d, h], "(t_steps, n, d, h)", "lstm_workload", 4, "T, N, D, H",
                                    exact=True)
    _check_common("lstm_workload", dtype, seed)
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(h)
    weights = [
        rng.uniform(-bound, bound, size=shape).astype(dtype) for shape in ((4 * h, d), (4 * h, h), (4 * h,), (4 * h,))
    ]
    x = rng.standard_normal((t_steps, n, d)).astype(dtype)
    h0 = np.zeros((n, h), dtype=dtype)
    c0 = np.zeros((n, h), dtype=dtype)
    dh_all = rng.standard_normal((t_steps, n, h)).astype(dtype)

    def numpy_fn():
        _, _, cache = lstm_forward(x, h0, c0, *weights)
        return lstm_backward(dh_all, cache)

    def torch_fn(device):
        torch = _torch()
        lstm = torch.nn.LSTM(d, h, dtype=_torch_dtype(dtype)).to(device)
        with torch.no_grad():
            for p, value in zip((lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0), weights):
                p.copy_(torch.from_numpy(value))
        tx = torch.from_numpy(x).to(device).requires_grad_()
        state = (torch.from_numpy(h0)[None].to(device), torch.from_numpy(c0)[None].to(device))
        tdh = torch.from_numpy(dh_all).to(device)

        def step():
            tx.grad = None
            lstm.zero_grad(set_to_none=True)
            out, _ = lstm(tx, state)
            out.backward(tdh)

        return step

    return Workload("lstm", f"T={t_steps}, N={n}, D={d}, H={h}", lstm_flops(t_steps, n, d, h), numpy_fn, torch_fn)


def attention_flops(length: int, n: int, embed_dim: int) -> float:
    """Flops of causal multi-head self-attention forward + backward: 3 x the forward's products.

    The forward's products: the q, k, v and output projections, 2*L*N*4*E*E,
    and the scores and the weighted sum, 2 * 2*N*L*L*E (all heads together;
    the causal mask's zeros are counted too, as the scratch code computes them).
    """
    length, n, embed_dim = _check_sizes([length, n, embed_dim], "(length, n, embed_dim)", "attention_flops", 3,
                                        "L, N, E", exact=True)
    return 3.0 * (2.0 * length * n * 4 * embed_dim * embed_dim + 4.0 * n * length * length * embed_dim)


def attention_workload(length: int, n: int, embed_dim: int, num_heads: int, dtype: str = "float32",
                       seed: int = 0) -> Workload:
    """Causal multi-head self-attention over a sequence, forward and backward.

    Scratch: ``course_lib.scratch.attention.multi_head_attention_forward`` /
    ``multi_head_attention_backward`` (is_causal=True); torch:
    ``torch.nn.MultiheadAttention`` with a causal float mask, autograd with x
    requiring grad, so both sides compute dx and every weight gradient.

    Shapes: x (L, N, E) -> out (L, N, E), num_heads heads of E // num_heads features.
    Twin: torch.nn.MultiheadAttention
    """
    from course_lib.scratch.attention import (
        MHA_PARAM_NAMES,
        init_multi_head_attention,
        multi_head_attention_backward,
        multi_head_attention_forward,
    )

    func = "attention_workload"
    length, n, embed_dim, num_heads = _check_sizes([length, n, embed_dim, num_heads],
                                                   "(length, n, embed_dim, num_heads)", func, 4, "L, N, E, heads",
                                                   exact=True)
    if embed_dim % num_heads:
        _fail(ValueError, func, f"embed_dim ({embed_dim}) divisible by num_heads", f"num_heads={num_heads}",
              "each head gets embed_dim // num_heads features")
    _check_common(func, dtype, seed)
    rng = np.random.default_rng(seed)
    params = {k: v.astype(dtype) for k, v in init_multi_head_attention(embed_dim, rng).items()}
    params["in_proj_bias"] = rng.uniform(-0.1, 0.1, size=3 * embed_dim).astype(dtype)
    weights = [params[name] for name in MHA_PARAM_NAMES]
    x = rng.standard_normal((length, n, embed_dim)).astype(dtype)
    dout = rng.standard_normal((length, n, embed_dim)).astype(dtype)

    def numpy_fn():
        _, cache = multi_head_attention_forward(x, x, x, num_heads, *weights, is_causal=True)
        return multi_head_attention_backward(dout, cache)

    def torch_fn(device):
        torch = _torch()
        mha = torch.nn.MultiheadAttention(embed_dim, num_heads, dropout=0.0, dtype=_torch_dtype(dtype)).to(device)
        mha.load_state_dict({name: torch.from_numpy(params[name]) for name in MHA_PARAM_NAMES})
        mask = torch.nn.Transformer.generate_square_subsequent_mask(length, dtype=_torch_dtype(dtype), device=device)
        tx = torch.from_numpy(x).to(device).requires_grad_()
        tdout = torch.from_numpy(dout).to(device)

        def step():
            tx.grad = None
            mha.zero_grad(set_to_none=True)
            out, _ = mha(tx, tx, tx, attn_mask=mask, need_weights=False, is_causal=True)
            out.backward(tdout)

        return step

    size = f"L={length}, N={n}, E={embed_dim}, heads={num_heads}, causal"
    return Workload("attention", size, attention_flops(length, n, embed_dim), numpy_fn, torch_fn)


def make_workloads(quick: bool = False, dtype: str = "float32", tasks=TASKS) -> list[Workload]:
    """The benchmark's rows: full sizes, or tiny ones with ``quick=True``."""
    quick = _check_flag(quick, "quick", "make_workloads")
    check_choice(dtype, "dtype", "make_workloads", DTYPES)
    if isinstance(tasks, str) or not all(isinstance(t, str) for t in tasks):
        _fail(TypeError, "make_workloads", f"tasks to be a list of names from {TASKS}", repr(tasks),
              f"pass a list, e.g. tasks=[{tasks!r}]" if isinstance(tasks, str) else None)
    for task in tasks:
        if task not in TASKS:
            _fail(ValueError, "make_workloads", f"tasks from {TASKS}", repr(task), None)
    sizes = QUICK if quick else FULL
    rows = []
    for task in tasks:
        for spec in sizes[task]:
            if task == "matmul":
                rows.append(matmul_workload(spec, dtype))
            elif task == "mlp":
                rows.append(mlp_workload(spec[0], spec[1], dtype))
            elif task == "conv":
                rows.append(conv_workload(spec[0], spec[1], spec[2], dtype))
            elif task == "attention":
                rows.append(attention_workload(*spec, dtype=dtype))
            else:
                rows.append(lstm_workload(*spec, dtype=dtype))
    return rows


# --------------------------------------------------------------------------- measuring


def gpu_device(requested: str | None = None):
    """The torch accelerator to benchmark, or ``(None, why not)``.

    ``requested`` is None (choose like ``course_lib.device.get_device``),
    "cpu" (no GPU column) or a name such as "cuda", "cuda:1" or "mps".
    Unknown or missing devices raise ValueError (from ``get_device``).
    """
    from course_lib.device import get_device

    if requested is not None and not isinstance(requested, str):
        _fail(TypeError, "gpu_device", "requested to be None or a device name such as 'cuda' or 'cpu'",
              type(requested).__name__, None)
    with named_errors("gpu_device"):
        device = get_device(requested)
    if device.type == "cpu":
        why = "--device cpu" if requested == "cpu" else "no CUDA or MPS device"
        return None, f"not available ({why})"
    return device, ""


def measure(workload: Workload, gpu=None, gpu_note: str = "", repeats: int = 5, warmup: int = 1,
            dtype: str = "float32") -> dict:
    """Time one workload on every backend, with interleaved repeats.

    Returns a row: for each backend a dict with ``available``,
    ``median_s``, ``best_s``, ``gflops`` (from the median) and ``note``,
    plus ``ratio`` = numpy median / torch CPU median, ``ratio_best`` the
    same for the fastest runs, ``ratio_cpu_time`` the same for the median
    CPU time of this process (``time.process_time``: robust to other
    programs on a shared machine with one thread, inflated by threads that
    spin while waiting with several), and ``ratio_gpu`` = numpy median /
    torch GPU median (None when there is no GPU).
    """
    func = "measure"
    if not isinstance(workload, Workload):
        _fail(TypeError, func, "workload to be a Workload", type(workload).__name__,
              "e.g. measure(matmul_workload(64))")
    if gpu is not None and type(gpu).__name__ != "device":
        _fail(TypeError, func, "gpu to be None or a torch.device", type(gpu).__name__, "pass gpu_device()[0]")
    if not isinstance(gpu_note, str):
        _fail(TypeError, func, "gpu_note to be a str", type(gpu_note).__name__, None)
    repeats = check_int(repeats, "repeats", func, minimum=1)
    warmup = check_int(warmup, "warmup", func, minimum=0)
    check_choice(dtype, "dtype", func, DTYPES)
    fns = {"numpy": (workload.numpy_fn, None), "torch_cpu": (workload.torch_fn("cpu"), "cpu")}
    notes = {b: "" for b in BACKENDS}
    if gpu is not None and gpu.type == "mps" and dtype == "float64":
        notes["torch_gpu"] = "not available (MPS has no float64)"
    elif gpu is not None:
        fns["torch_gpu"] = (workload.torch_fn(gpu), gpu)
    else:
        notes["torch_gpu"] = gpu_note or "not available"
    for fn, device in fns.values():
        time_call(fn, repeats=1, warmup=warmup, device=device)  # warm-up
    times = {name: [] for name in fns}
    cpu_times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, (fn, device) in fns.items():
            cpu_start = time.process_time()
            times[name].append(time_call(fn, repeats=1, warmup=0, device=device))
            cpu_times[name].append(time.process_time() - cpu_start)
    row = {"task": workload.task, "size": workload.size, "dtype": dtype, "flops": workload.flops}
    for name in BACKENDS:
        if name in times:
            median, best = statistics.median(times[name]), min(times[name])
            gflops = workload.flops / median / 1e9 if workload.flops else None
            row[name] = {"available": True, "median_s": median, "best_s": best, "gflops": gflops,
                         "cpu_median_s": statistics.median(cpu_times[name]), "note": ""}
        else:
            row[name] = {"available": False, "median_s": None, "best_s": None, "gflops": None,
                         "cpu_median_s": None, "note": notes[name]}
    row["ratio"] = _ratio(row["numpy"], row["torch_cpu"])
    row["ratio_best"] = _ratio(row["numpy"], row["torch_cpu"], "best_s")
    row["ratio_cpu_time"] = _ratio(row["numpy"], row["torch_cpu"], "cpu_median_s")
    row["ratio_gpu"] = _ratio(row["numpy"], row["torch_gpu"])
    return row


def _ratio(a: dict, b: dict, key: str = "median_s") -> float | None:
    if not (a["available"] and b["available"]) or not b[key]:
        return None
    return a[key] / b[key]
