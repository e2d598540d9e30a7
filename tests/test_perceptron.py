import numpy as np
import pytest
import torch
from helpers import assert_close

from course_lib.data import make_blobs, xor_truth_table
from course_lib.scratch.metrics import accuracy
from course_lib.scratch.perceptron import perceptron_forward, perceptron_update, step, train_perceptron
from course_lib.twins.perceptron import TorchPerceptron


def test_step_is_the_heaviside_step_with_step_0_equal_1():
    z = np.array([-2.0, -1e-12, 0.0, 3.0])
    assert step(z).tolist() == [0, 0, 1, 1]
    one = torch.tensor(1.0, dtype=torch.float64)
    assert np.array_equal(step(z), torch.heaviside(torch.tensor(z), one).long().numpy())


def test_forward_matches_the_sum_by_hand():
    X = np.array([[1.0, 2.0], [-1.0, 0.5]])
    assert perceptron_forward(X, np.array([0.5, -0.25]), 0.1).tolist() == [1, 0]


def test_update_moves_only_on_mistakes():
    x, w = np.array([1.0, -2.0]), np.array([0.0, 1.0])
    w2, b2, wrong = perceptron_update(x, 1, w, 0.0, 0.5)  # z = -2: predicted 0, should be 1
    assert wrong and np.allclose(w2, w + 0.5 * x) and b2 == 0.5
    w3, b3, wrong = perceptron_update(x, 0, w, 0.0, 0.5)
    assert not wrong and w3 is w and b3 == 0.0


def test_converges_on_separable_data_within_the_novikoff_bound():
    X, y = make_blobs(n=150, margin=0.2, seed=5)
    w, b, history = train_perceptron(X, y)
    assert history.converged and accuracy(y, perceptron_forward(X, w, b)) == 1.0
    assert history.mistakes[-1] == 0 and len(history.weights) == history.epochs + 1
    X_ext = np.column_stack([X, np.ones(len(X))])
    R = np.linalg.norm(X_ext, axis=1).max()
    # a separator with margin: the best one is at least as good as the data's known line
    from course_lib.data import blobs_separator

    n, c = blobs_separator()
    u = np.append(n, -c) / np.linalg.norm(np.append(n, -c))
    gamma = np.min(np.where(y == 1, 1, -1) * (X_ext @ u))
    assert history.updates <= (R / gamma) ** 2


def test_never_converges_on_xor():
    X, y = xor_truth_table()
    _, _, history = train_perceptron(X, y, max_epochs=40)
    assert not history.converged and history.epochs == 40 and min(history.mistakes) > 0


def test_the_torch_twin_makes_the_same_mistakes_and_reaches_the_same_weights():
    X, y = make_blobs(n=80, margin=0.1, seed=7)
    w, b, history = train_perceptron(X, y, lr=0.5)
    twin = TorchPerceptron(2, device="cpu")
    assert twin.linear.weight.dtype == torch.float64
    assert twin.fit(X, y, lr=0.5) == history.mistakes
    w_t, b_t = twin.numpy_weights()
    assert_close(w_t, w, "w")
    assert_close(b_t, b, "b")
    with torch.no_grad():
        assert np.array_equal(twin(torch.as_tensor(X)).numpy(), perceptron_forward(X, w, b))


def test_starting_weights_are_copied_not_mutated():
    X, y = make_blobs(n=40, seed=0)
    w0 = np.array([-1.0, 1.0])
    train_perceptron(X, y, w0=w0)
    assert w0.tolist() == [-1.0, 1.0]


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (lambda: perceptron_forward(np.ones(2), np.ones(2), 0.0), ValueError, r"X of shape \(N, D\), got shape \(2,\)"),
        (lambda: perceptron_forward(np.ones((3, 2)), np.ones(3), 0.0), ValueError, r"w with one weight per feature"),
        (lambda: perceptron_forward([[1.0, 2.0]], np.ones(2), 0.0), TypeError, "numpy.ndarray, got list"),
        (lambda: train_perceptron(np.ones((3, 2)), np.array([0, 1, 2])), ValueError, r"y in \[0, 2\)"),
        (lambda: train_perceptron(np.ones((3, 2)), np.array([0, 1])), ValueError, "same number of rows, got 3 and 2"),
        (lambda: train_perceptron(np.ones((2, 2)), np.array([0.0, 1.0])), TypeError, "integer dtype"),
        (lambda: train_perceptron(np.ones((2, 2)), np.array([0, 1]), lr=0), ValueError, "lr > 0"),
        (lambda: train_perceptron(np.ones((2, 2)), np.array([0, 1]), max_epochs=0), ValueError, "max_epochs >= 1"),
        (lambda: TorchPerceptron(0), ValueError, "in_features >= 1"),
        (lambda: TorchPerceptron(2, "cpu").fit(np.ones((2, 3)), np.array([0, 1])), ValueError, "X with 2 columns"),
        (lambda: accuracy(np.array([0, 1]), np.array([0])), ValueError, "same number of rows"),
        (lambda: perceptron_update(np.ones(2), 2, np.zeros(2), 0.0, 1.0), ValueError, "y to be the label 0 or 1"),
        (lambda: perceptron_update(np.ones(2), 2.5, np.zeros(2), 0.0, 1.0), ValueError, "got float 2.5"),
        (lambda: perceptron_update(np.ones(2), np.nan, np.zeros(2), 0.0, 1.0), ValueError, "got float nan"),
        (lambda: perceptron_update(np.ones(2), 1, np.zeros(3), 0.0, 1.0), ValueError, r"w of x's shape \(2,\)"),
        (lambda: perceptron_update(np.ones((1, 2)), 1, np.zeros(2), 0.0, 1.0), ValueError, r"x of shape \(D,\)"),
        (lambda: perceptron_update(np.ones(2), 1, np.zeros(2), 0.0, -1.0), ValueError, "lr > 0"),
        (lambda: TorchPerceptron(2, "cpu")(torch.ones(4, 3)), ValueError, r"x with 2 features \(in_features\)"),
        (lambda: TorchPerceptron(2, "cpu")(np.ones((4, 2))), TypeError, "x to be a torch.Tensor, got ndarray"),
        (lambda: TorchPerceptron(2, "cpu").update(torch.ones(2), 3, 1.0), ValueError, "y to be the label 0 or 1"),
    ],
)
def test_bad_input_is_explained(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_torch_perceptron_takes_float32_input():
    # torch.randn gives float32; the perceptron holds float64 on the CPU.
    model = TorchPerceptron(2, "cpu")
    assert model(torch.randn(4, 2)).tolist() == [1, 1, 1, 1]
    assert model.update(torch.tensor([1.0, 2.0]), 0, 1.0) is True
