"""Chapter 11: the exercise checks and the roofline widget."""


import ipywidgets
import numpy as np
import pytest

from course_lib.chapters.ch11_hardware_and_scale.exercises import (
    check_conv_flops,
    check_linear_flops,
    check_matmul_intensity,
)
from course_lib.chapters.ch11_hardware_and_scale.widgets import matmul_intensity, plot_roofline


def _placeholder(*args):
    raise NotImplementedError("Your turn")


# pieces of the solutions' code: no hint may contain one
_SOLUTION_CODE = ("2 * n", "n**3", "n * n", "2 * padding", "// stride", "* bytes_per_element", "in_features *",
                  "* out_features", "numel() *", "element_size() *", "register_forward_hook(", "(4 if")


def _assert_hint(fb, hint, section):
    """A wrong answer's feedback names the mistake (hint), points to its section (None: a form complaint needs
    none) and hands out no solution code."""
    assert not fb.passed and hint in fb.message, fb
    assert section is None or section in fb.message, fb
    assert not any(code in fb.message for code in _SOLUTION_CODE), fb


# ----------------------------------------------------------------------------- 10.1 linear flops


def test_linear_flops_check_passes_right_answers():
    assert check_linear_flops(lambda n, d_in, d_out: 2 * n * d_in * d_out).passed
    assert check_linear_flops(lambda n, d_in, d_out: np.float64(2.0 * n * d_in * d_out)).passed


@pytest.mark.parametrize(
    "wrong, hint, section",
    [
        (lambda n, i, o: n * i * o, "multiply-add is two flops", "section 1"),
        (lambda n, i, o: 2 * i * o, "every one of the N examples", "section 1"),
        (lambda n, i, o: 2 * n * i * o + n * o, "includes the bias", "section 1"),
        (lambda n, i, o: 2 * n * (i + o), "expected 40960 flops, got 4736 (0.116 times the right count)",
         "section 1"),
        (lambda n, i, o: "many", "return one number", None),
        (lambda n, i, o: [2 * n * i * o], "return one number", None),
    ],
)
def test_linear_flops_check_hints(wrong, hint, section):
    _assert_hint(check_linear_flops(wrong), hint, section)


def test_linear_flops_not_attempted_and_crash():
    assert "not attempted yet" in check_linear_flops(_placeholder).message
    assert "ZeroDivisionError" in check_linear_flops(lambda n, i, o: 1 / 0).message


# ----------------------------------------------------------------------------- 10.2 conv flops


def _conv_right(x_shape, w_shape, stride, padding):
    n, c, h, w = x_shape
    f, _, kh, kw = w_shape
    oh, ow = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    return 2 * n * f * c * kh * kw * oh * ow


def test_conv_flops_check_passes_a_right_answer():
    assert check_conv_flops(_conv_right).passed


def test_conv_flops_agrees_with_torch():
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    x, weight = torch.zeros(2, 4, 9, 7), torch.zeros(6, 4, 3, 3)
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.conv2d(x, weight, stride=2, padding=1)
    assert counter.get_total_flops() == _conv_right((2, 4, 9, 7), (6, 4, 3, 3), 2, 1)


@pytest.mark.parametrize(
    "wrong, hint, section",
    [
        (lambda xs, ws, s, p: _conv_right(xs, ws, s, p) // 2, "multiply-adds", "section 1"),
        (lambda xs, ws, s, p: 2 * xs[0] * ws[0] * xs[1] * ws[2] * ws[3] * xs[2] * xs[3], "OUTPUT size",
         "section 1, the formula for H_out"),
        (lambda xs, ws, s, p: _conv_right(xs, ws, s, p) // xs[1], "C is missing", "section 1"),
        (lambda xs, ws, s, p: _conv_right(xs, ws, s, p) // xs[0], "batch size N", "section 1"),
        (lambda xs, ws, s, p: _conv_right(xs, ws, s, p) + 1, "expected 15052800, got 15052801 (off by +1)",
         "section 1"),
        (lambda xs, ws, s, p: None, "return one number", None),
    ],
)
def test_conv_flops_check_hints(wrong, hint, section):
    _assert_hint(check_conv_flops(wrong), hint, section)


def test_conv_flops_not_attempted():
    assert "not attempted yet" in check_conv_flops(_placeholder).message


# ----------------------------------------------------------------------------- 10.3 intensity


def test_intensity_check_passes_right_answers():
    assert check_matmul_intensity(lambda n, b: 2 * n**3 / (3 * n * n * b)).passed
    assert check_matmul_intensity(lambda n, b: matmul_intensity(n, b)).passed


@pytest.mark.parametrize(
    "wrong, hint, section",
    [
        (lambda n, b: 2 * n**3 / (2 * n * n * b), "result C was not counted", "section 2"),
        (lambda n, b: 2 * n**3 / (3 * n * n), "elements, not BYTES", "section 2"),
        (lambda n, b: n**3 / (3 * n * n * b), "count multiply-adds", "section 1"),
        (lambda n, b: (3 * n * n * b) / (2 * n**3), "upside down", "section 2"),
        (lambda n, b: n, "expected 170.7 flop/byte, got 1024 (6 times the right count)", "section 2"),
        (lambda n, b: True, "return one number", None),
    ],
)
def test_intensity_check_hints(wrong, hint, section):
    _assert_hint(check_matmul_intensity(wrong), hint, section)


def test_intensity_not_attempted():
    assert "not attempted yet" in check_matmul_intensity(_placeholder).message


# ----------------------------------------------------------------------------- widget and plot

SIZES = [64, 128, 256]
CURVES = {"NumPy": [5.0, 10.0, 20.0], "torch CPU": [4.0, 11.0, 21.0]}


def test_matmul_intensity_formula():
    assert matmul_intensity(6, 4) == pytest.approx(1.0)  # 2*216 / (3*36*4)
    assert matmul_intensity(1024, 8) == pytest.approx(2 * 1024 / 24)
    with pytest.raises(ValueError, match="n"):
        matmul_intensity(0)


def test_plot_roofline_draws_two_panels():
    fig = plot_roofline(SIZES, CURVES, peak=30.0, bandwidth=10.0, n=128)
    left, right = fig.axes
    assert len(left.get_lines()) >= 2 + 2  # two curves, peak and half-peak lines
    assert "n = 128" in right.get_title() and "compute-bound" in right.get_title()
    # the roof: bandwidth * intensity below the ridge, the peak above it
    roof = right.get_lines()[0].get_ydata()
    assert roof.max() == pytest.approx(30.0) and roof.min() < 30.0


def test_plot_roofline_marks_memory_bound_sizes():
    fig = plot_roofline([4, 8], {"NumPy": [0.1, 0.2]}, peak=100.0, bandwidth=1.0, n=4)
    assert "memory-bound" in fig.axes[1].get_title()


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(sizes=[]), ValueError, "sizes as a non-empty list"),
        (dict(sizes=[128, 64, 256]), ValueError, "sizes in increasing order"),
        (dict(gflops=[1, 2, 3]), TypeError, "gflops as a dict"),
        (dict(gflops={}), ValueError, "gflops as a dict"),
        (dict(gflops={"NumPy": [1.0, 2.0]}), ValueError, "3 non-negative GFLOP/s values for 'NumPy'"),
        (dict(gflops={"NumPy": [1.0, -2.0, 3.0]}), ValueError, "negative or non-finite"),
        (dict(peak=0.0), ValueError, "peak"),
        (dict(bandwidth=-1.0), ValueError, "bandwidth"),
        (dict(n=100), ValueError, "n to be one of the measured sizes"),
    ],
)
def test_plot_roofline_rejects_bad_input(kwargs, error, message):
    args = dict(sizes=SIZES, gflops=CURVES, peak=30.0, bandwidth=10.0)
    args.update(kwargs)
    with pytest.raises(error, match=f"^plot_roofline: .*{message}"):
        plot_roofline(**args)


# ----------------------------------------------------------------------------- 11.4 a flop counter

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from course_lib.chapters.ch11_hardware_and_scale import exercises as E  # noqa: E402
from course_lib.chapters.ch11_hardware_and_scale.flops import adam_bytes, flop_counts, torch_flops  # noqa: E402
from course_lib.chapters.ch11_hardware_and_scale.widgets import live_roofline_widget  # noqa: E402


def _hook_counter(per_layer, remove=True):
    """A count_flops answer whose per-layer formula is ``per_layer(module, input, output)``."""
    def count(model, x):
        counts, handles = {}, []
        for name, m in model.named_modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                handles.append(m.register_forward_hook(
                    lambda mod, i, o, name=name: counts.__setitem__(name, per_layer(mod, i[0], o))))
        model(x)
        if remove:
            for handle in handles:
                handle.remove()
        return counts
    return count


def _right(m, i, o):
    if isinstance(m, nn.Linear):
        return 2 * o.numel() * m.in_features
    return 2 * o.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1]


def test_flop_counter_check_passes_the_reference_and_the_library():
    assert E.check_count_flops(_hook_counter(_right)).passed
    assert E.check_count_flops(flop_counts).passed


@pytest.mark.parametrize(
    "wrong, hint, section",
    [
        (_hook_counter(lambda m, i, o: _right(m, i, o) // 2), "multiply-adds", "section 1"),
        (_hook_counter(lambda m, i, o: _right(m, i, o) if isinstance(m, nn.Linear) else
                       2 * o.shape[0] * o.shape[1] * m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                       * i.shape[-1] * i.shape[-2]), "OUTPUT height and width", "section 1, the conv formula"),
        (_hook_counter(lambda m, i, o: 2 * i.shape[0] * m.in_features * m.out_features
                       if isinstance(m, nn.Linear) else _right(m, i, o)), "leading dimension", "section 1"),
        (_hook_counter(lambda m, i, o: _right(m, i, o) // (1 if isinstance(m, nn.Linear) else m.in_channels)),
         "input channels", "section 1"),
        (_hook_counter(lambda m, i, o: _right(m, i, o) + (o.numel() if isinstance(m, nn.Linear) else 0)),
         "bias", "section 1"),
        (_hook_counter(lambda m, i, o: _right(m, i, o) // i.shape[0]), "that is one example", "section 1"),
        (_hook_counter(_right, remove=False), "handle.remove()", "section 1, exercise 11.4"),
        (_hook_counter(lambda m, i, o: _right(m, i, o) + 3), "FlopCounterMode counts", "section 1"),
        (lambda model, x: [1, 2], "return a dict", None),
        (lambda model, x: {}, "no count for layer", None),
    ],
)
def test_flop_counter_check_names_the_mistake(wrong, hint, section):
    _assert_hint(E.check_count_flops(wrong), hint, section)


def test_library_counter_matches_flopcountermode():
    model, x = E._flop_models()[1]
    assert sum(flop_counts(model, x).values()) == torch_flops(model, x)
    with pytest.raises(TypeError, match="flop_counts: expected model"):
        flop_counts("cnn", x)


# ----------------------------------------------------------------------------- 11.5 memory of a training step


def _bytes(factor_trainable=4, factor_frozen=1, size=None):
    return lambda m: sum(p.numel() * (size or p.element_size()) * (factor_trainable if p.requires_grad
                                                                   else factor_frozen) for p in m.parameters())


def test_adam_bytes_check_passes_the_reference():
    assert E.check_adam_bytes(_bytes()).passed and E.check_adam_bytes(adam_bytes).passed


@pytest.mark.parametrize(
    "wrong, hint, section",
    [
        (_bytes(4, 4), "frozen parameters get no gradient", "section 1, the memory of a training step"),
        (_bytes(3), "left out the gradients or one of Adam's", "section 1"),
        (_bytes(2), "two running averages", "section 1"),
        (_bytes(size=1), "count of numbers, not bytes", "section 1"),
        (_bytes(size=4), "this model is float64", "section 1"),
        (_bytes(5), "off by +3,140", "section 1"),
        (lambda m: "big", "one number of bytes", None),
    ],
)
def test_adam_bytes_check_names_the_mistake(wrong, hint, section):
    _assert_hint(E.check_adam_bytes(wrong), hint, section)


def test_live_roofline_widget_measures_on_every_change():
    w = live_roofline_widget(50.0, 10.0, sizes=(8, 16, 32))
    controls = {c.description: c for c in w.children if isinstance(c, ipywidgets.ValueWidget)}
    assert set(controls) == {"matrix size n", "library"}
    import matplotlib.pyplot as plt

    controls["matrix size n"].value = 32
    controls["library"].value = "torch CPU"
    title = plt.figure(plt.get_fignums()[-1]).axes[0].get_title()
    assert title.startswith("measured now:") and title.endswith("of the roof at this intensity")
    with pytest.raises(ValueError, match="peak"):
        live_roofline_widget(-1.0, 10.0)
