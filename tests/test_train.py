"""course_lib.scratch.train: the chapters' shared training loop (fit) and evaluate."""

import numpy as np
import pytest

from course_lib.data import load_digits
from course_lib.scratch.modules import MLP
from course_lib.scratch.optim import SGD, Adam
from course_lib.scratch.train import evaluate, fit


@pytest.fixture(scope="module")
def digits():
    return load_digits(test_size=0.3, seed=0, scale="standard")


def test_fit_matches_the_loop_written_out(digits):
    """fit runs exactly chapter 3's four steps: the same weights as the loop by hand, bit for bit."""
    from course_lib.scratch.data import minibatches
    from course_lib.scratch.losses import softmax_cross_entropy

    X, y = digits.X_train[:200], digits.y_train[:200]
    a, b = (MLP([64, 16, 10], "relu", rng=np.random.default_rng(1)) for _ in range(2))
    fit(a, SGD(a, lr=0.1), X, y, epochs=2, batch_size=16, rng=np.random.default_rng(5))
    opt, rng = SGD(b, lr=0.1), np.random.default_rng(5)
    for _ in range(2):
        for xb, yb in minibatches(X, y, 16, rng=rng):
            b.backward(softmax_cross_entropy(b.forward(xb), yb)[1])
            opt.step()
    for key, value in a.state_dict().items():
        np.testing.assert_array_equal(value, b.state_dict()[key])


def test_fit_records_losses_and_validation_scores(digits):
    model = MLP([64, 32, 10], "relu", rng=np.random.default_rng(0))
    X, y = digits.X_train, digits.y_train
    history = fit(model, Adam(model, lr=1e-2), X[:1000], y[:1000], epochs=3, batch_size=50,
                  rng=np.random.default_rng(0), val=(X[1000:], y[1000:]))
    assert len(history.losses) == 3 * 20 and len(history.val_loss) == len(history.val_acc) == 4
    assert history.val_acc[-1] > 0.85 > history.val_acc[0]  # 10 classes: about 0.1 untrained
    assert evaluate(model, X[1000:], y[1000:]) == pytest.approx((history.val_loss[-1], history.val_acc[-1]))


def test_early_stopping_restores_the_best_epoch(digits):
    """A learning rate far too large: the validation loss rises, fit stops and keeps the best weights."""
    X, y = digits.X_train, digits.y_train
    model = MLP([64, 64, 10], "relu", rng=np.random.default_rng(0))
    history = fit(model, SGD(model, lr=3.0), X[:600], y[:600], epochs=30, batch_size=8,
                  rng=np.random.default_rng(0), val=(X[600:], y[600:]), patience=2)
    assert history.stopped_early and len(history.val_loss) < 31
    best = int(np.argmin(history.val_loss))
    assert history.best_epoch == best
    assert evaluate(model, X[600:], y[600:])[0] == pytest.approx(history.val_loss[best])


def test_fit_refuses_bad_input_clearly(digits):
    model = MLP([64, 8, 10], "relu", rng=np.random.default_rng(0))
    X, y = digits.X_train[:20], digits.y_train[:20]
    with pytest.raises(TypeError, match="fit: expected model to be a course_lib.scratch Module"):
        fit(object(), SGD(model, lr=0.1), X, y, epochs=1)
    with pytest.raises(TypeError, match="fit: expected opt to be an optimiser"):
        fit(model, None, X, y, epochs=1)
    with pytest.raises(ValueError, match="fit: expected val data for early stopping"):
        fit(model, SGD(model, lr=0.1), X, y, epochs=1, patience=2)
    with pytest.raises(ValueError, match="fit: expected epochs"):
        fit(model, SGD(model, lr=0.1), X, y, epochs=-1)
    with pytest.raises(TypeError, match="fit: expected val as a pair"):
        fit(model, SGD(model, lr=0.1), X, y, epochs=1, val=[X, y])
    with pytest.raises(ValueError, match="evaluate: expected X and y with the same number of rows"):
        evaluate(model, X, y[:5])
