"""Chapter 5: the backward-pass exercises (5.5 conv2d, 5.6 max pooling) and the CNN-vs-MLP experiment helpers."""

import numpy as np
import pytest
import torch

from course_lib.chapters.ch05_cnn.exercises import (
    EXERCISES,
    _maxpool_backward_variants,
    check_conv_backward,
    check_maxpool_backward,
)
from course_lib.chapters.ch05_cnn.experiment import (
    SIDE,
    digit_splits,
    edge_similarity,
    flat,
    load_pair,
    make_cnn,
    make_mlp,
    make_torch_cnn,
    score_runs,
    sobel_family,
    time_conv_layers,
    train_pair,
)
from course_lib.chapters.ch05_cnn.vision import shift_every_image
from course_lib.scratch.pool import avgpool2d_backward, avgpool2d_forward
from course_lib.twins.compare import copy_weights

SOLUTION_CODE = ("np.", "einsum", "axis=", "return ", "dout.sum", "argmax(", "zeros_like", "for i in", "* stride",
                 "i * ", "* kernel_size", "weight[", "(a, b)")


def _no_solution_code(message):
    return not any(piece in message for piece in SOLUTION_CODE)


# --------------------------------------------------------------------------- 5.5 conv2d backward


def _conv_backward(dout, x, weight, stride, padding, step=None, flip=False, bias_mean=False, w_scale=1.0,
                   keep_pad=False, bias_per_image=False):
    """The notebook's solution, with switches that make the typical mistakes."""
    step = stride if step is None else step
    w = weight[:, :, ::-1, ::-1] if flip else weight
    kh, kw = weight.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dxp, dweight = np.zeros_like(xp), np.zeros_like(weight)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            top, left = i * step, j * step
            window = xp[:, :, top : top + kh, left : left + kw]
            g = dout[:, :, i, j]
            dxp[:, :, top : top + kh, left : left + kw] += np.einsum("nf,fcab->ncab", g, w)
            dweight += np.einsum("nf,ncab->fcab", g, window)
    dx = dxp if keep_pad else dxp[:, :, padding : padding + x.shape[2], padding : padding + x.shape[3]]
    if bias_per_image:
        dbias = dout.sum(axis=(2, 3))
    else:
        dbias = dout.mean(axis=(0, 2, 3)) if bias_mean else dout.sum(axis=(0, 2, 3))
    return dx, dweight * w_scale, dbias


def test_conv_backward_reference_passes():
    feedback = check_conv_backward(_conv_backward)
    assert feedback.passed, feedback.message


@pytest.mark.parametrize("mistake, hint", [
    ({"bias_mean": True}, "a sum, not a mean"),
    ({"step": 1}, "ignores the stride"),
    ({"flip": True}, "dx uses the kernel turned by 180 degrees"),
    ({"w_scale": 0.5}, "divided by the batch size"),
    ({"keep_pad": True}, "PADDED input's shape"),
    ({"bias_per_image": True}, "sum over the batch as well"),
])
def test_conv_backward_names_the_mistake(mistake, hint):
    feedback = check_conv_backward(lambda *args: _conv_backward(*args, **mistake))
    assert not feedback.passed and hint in feedback.message, feedback.message
    assert "section 5" in feedback.message, feedback.message
    assert _no_solution_code(feedback.message), feedback.message


def test_conv_backward_names_a_turned_dweight():
    def turned(*args):
        dx, dw, db = _conv_backward(*args)
        return dx, dw[:, :, ::-1, ::-1], db

    feedback = check_conv_backward(turned)
    assert "dweight is turned by 180 degrees" in feedback.message and "section 5" in feedback.message
    assert _no_solution_code(feedback.message), feedback.message


def test_conv_backward_points_at_the_element_for_an_unknown_mistake():
    def off_by_a_bit(*args):
        dx, dw, db = _conv_backward(*args)
        dw = dw.copy()
        dw[1, 2, 0, 1] += 0.25
        return dx, dw, db

    feedback = check_conv_backward(off_by_a_bit)
    assert not feedback.passed and "dweight[1, 2, 0, 1]" in feedback.message and "0.25" in feedback.message
    assert "section 5" in feedback.message


def test_conv_backward_wants_three_arrays():
    feedback = check_conv_backward(lambda *args: _conv_backward(*args)[:2])
    assert not feedback.passed and "(dx, dweight, dbias)" in feedback.message
    feedback = check_conv_backward(lambda *args: ("dx", "dweight", "dbias"))
    assert not feedback.passed and "three arrays of numbers" in feedback.message


# --------------------------------------------------------------------------- 5.6 max-pool backward


def _maxpool_backward(dout, x, kernel_size):
    """The notebook's solution."""
    k = kernel_size
    dx = np.zeros_like(x)
    n_idx, c_idx = np.indices(x.shape[:2])
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = x[:, :, i * k : (i + 1) * k, j * k : (j + 1) * k].reshape(*x.shape[:2], k * k)
            rows, cols = np.divmod(window.argmax(axis=-1), k)
            dx[n_idx, c_idx, i * k + rows, j * k + cols] += dout[:, :, i, j]
    return dx


def test_maxpool_backward_reference_passes():
    feedback = check_maxpool_backward(_maxpool_backward)
    assert feedback.passed, feedback.message


@pytest.mark.parametrize("variant, hint", [
    ("ties", "tie for the maximum"),
    ("ones", "upstream gradient"),
    ("swapped", "row and column swapped"),
    ("average", "AVERAGE pooling"),
])
def test_maxpool_backward_names_the_mistake(variant, hint):
    feedback = check_maxpool_backward(lambda d, x, k: _maxpool_backward_variants(d, x, k)[variant])
    assert not feedback.passed and hint in feedback.message, feedback.message
    assert "section 7" in feedback.message, feedback.message
    assert _no_solution_code(feedback.message), feedback.message


def test_maxpool_backward_library_average_pool_is_recognised_and_shapes_are_checked():
    feedback = check_maxpool_backward(lambda d, x, k: avgpool2d_backward(d, avgpool2d_forward(x, k)[1]))
    assert not feedback.passed and "AVERAGE" in feedback.message
    feedback = check_maxpool_backward(lambda d, x, k: _maxpool_backward(d, x, k)[:, :, :6])
    assert not feedback.passed and "input's shape" in feedback.message
    feedback = check_maxpool_backward(lambda d, x, k: _maxpool_backward(d, x, k) * 1.5)
    assert not feedback.passed and "should be" in feedback.message and "section 7" in feedback.message


def test_the_variants_agree_with_torch_where_they_should():
    gen = np.random.default_rng(0)
    x, dout = gen.normal(size=(2, 2, 4, 6)), gen.normal(size=(2, 2, 2, 3))
    x_t = torch.tensor(x, requires_grad=True)
    expected = torch.autograd.grad(torch.nn.functional.max_pool2d(x_t, 2), x_t, torch.tensor(dout))[0].numpy()
    assert np.allclose(_maxpool_backward_variants(dout, x, 2)["right"], expected)


def test_exercises_lists_every_check_in_order():
    assert EXERCISES[-2:] == ("5.5 conv2d backward", "5.6 max-pool backward") and len(EXERCISES) == 6


# --------------------------------------------------------------------------- the experiment


def test_digit_splits_are_disjoint_padded_and_blank_at_the_margin():
    data = digit_splits(0)
    assert data["X_train"].shape[1:] == (1, SIDE, SIDE)
    sizes = [len(data[f"y_{part}"]) for part in ("train", "val", "test")]
    assert sum(sizes) == 1797 and sizes[2] == 539
    for part in ("train", "val", "test"):
        X = data[f"X_{part}"]
        assert X[:, :, :2].max() == 0 and X[:, :, :, -2:].max() == 0
    flat_rows = {tuple(r) for r in flat(data["X_train"]).round(4)}
    assert not any(tuple(r) in flat_rows for r in flat(data["X_val"]).round(4)[:50])
    moved = shift_every_image(data["X_test"], 2, seed=0)[0]
    assert np.allclose(moved.sum(axis=(1, 2, 3)), data["X_test"].sum(axis=(1, 2, 3)))  # no ink is lost


def test_digit_splits_follow_the_seed_and_check_input():
    a, b = digit_splits(0), digit_splits(1)
    assert not np.array_equal(a["y_test"], b["y_test"])
    with pytest.raises(ValueError, match="digit_splits"):
        digit_splits(0, val_size=1.5)


def test_cnn_and_twin_agree_and_the_mlp_is_about_as_large():
    cnn, twin = make_cnn(np.random.default_rng(0)), make_torch_cnn(dtype=torch.float64)
    copy_weights(cnn, twin)
    x = np.random.default_rng(1).random((3, 1, SIDE, SIDE))
    assert np.allclose(cnn.forward(x), twin(torch.tensor(x)).detach().numpy(), atol=1e-12)
    assert abs(make_mlp(np.random.default_rng(0)).num_parameters() / cnn.num_parameters() - 1) < 0.1


def test_train_pair_stops_early_on_validation_and_scores():
    data = digit_splits(0)
    small = {k: v[:120] for k, v in data.items()}
    run = train_pair(small, seed=3)
    assert 0 <= run["cnn_epoch"] <= 25 and len(run["mlp_val_acc"]) >= run["mlp_epoch"] + 1
    scores = score_runs([run, run], {"a": small["X_test"]}, small["y_test"])
    assert scores["CNN"]["a"].shape == (2,) and scores["CNN"]["a"][0] == scores["CNN"]["a"][1]
    cnn, _ = load_pair(run)
    assert np.array_equal(cnn.state_dict()["0.weight"], run["cnn"]["0.weight"])



def test_edge_similarity_is_one_for_sobel_filters_and_lower_for_random_ones():
    family = sobel_family()
    assert family.shape == (8, 3, 3) and np.allclose(edge_similarity(family * 3.0 + 1.0), 1.0)
    random = edge_similarity(np.random.default_rng(0).normal(size=(500, 1, 3, 3)))
    assert 0.3 < np.median(random) < 0.6
    with pytest.raises(ValueError, match="3x3"):
        edge_similarity(np.zeros((2, 1, 5, 5)))


def test_time_conv_layers_reports_every_layer():
    timings = time_conv_layers({"tiny": (1, 1, 4, 2)}, rounds=2)
    assert set(timings["tiny"]) == {"loops", "im2col", "torch", "ratios"} and len(timings["tiny"]["ratios"]) == 2
    with pytest.raises(TypeError, match="time_conv_layers"):
        time_conv_layers([])
