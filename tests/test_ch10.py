"""Chapter 10: the transfer-learning library, the shipped checkpoint, the exercise checks and the widget."""


import shutil

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from course_lib.chapters.ch10_transfer_learning import exercises as E
from course_lib.chapters.ch10_transfer_learning import tasks as TK
from course_lib.chapters.ch10_transfer_learning import training as TR
from course_lib.chapters.ch10_transfer_learning import transfer as T
from course_lib.chapters.ch10_transfer_learning.exercises import (
    check_advice,
    check_count_trainable,
    check_phase_optimiser,
    check_stage_output,
)
from course_lib.chapters.ch10_transfer_learning.widgets import check_curves, live_run_widget, plot_label_curves
from course_lib.data import DATA_DIR, read_sums, sha256
from course_lib.tools import checkpoint


@pytest.fixture(scope="module")
def task():
    return TK.load_task("similar")


def _batch(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(n, 1, 16, 16)), rng.integers(0, 5, size=n)


def _copy(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------- freezing and learning rates


def test_freezing_really_freezes():
    model = T.make_cnn(5, seed=0)
    T.freeze(model.conv1)
    T.freeze(model.conv2)
    before = _copy(model)
    X, y = _batch()
    nn.functional.cross_entropy(model(torch.as_tensor(X, dtype=torch.float32)), torch.as_tensor(y)).backward()
    assert all(p.grad is None for p in model.conv1.parameters())
    assert all(p.grad is not None for p in model.head.parameters())
    TR.train(model, X, y, steps=3, device="cpu")
    after = model.state_dict()
    for name in before:
        moved = not torch.equal(before[name], after[name])
        assert moved == name.startswith(("fc.", "head.")), name
    top = (*model.fc.parameters(), *model.head.parameters())
    assert T.count_trainable(model) == sum(p.numel() for p in top)
    T.unfreeze(model)
    assert T.count_trainable(model) == sum(p.numel() for p in model.parameters())


def test_layerwise_learning_rates_are_applied():
    model = T.make_cnn(5, seed=1)
    groups = T.param_groups(model, 0.01, {"conv1": 1e-4, "fc": 0.0})
    expected = [("conv1", 1e-4), ("conv2", 0.01), ("fc", 0.0), ("head", 0.01)]
    assert [(g["stage"], g["lr"]) for g in groups] == expected
    before = _copy(model)
    X, y = _batch(seed=1)
    TR.train(model, X, y, steps=1, lr=0.01, stage_lrs={"conv1": 1e-4, "fc": 0.0}, device="cpu")
    # Adam's first step moves every weight with a non-zero gradient by almost exactly its learning rate
    step = {k: (model.state_dict()[k] - before[k]).abs().max().item() for k in before}
    assert step["conv1.0.weight"] == pytest.approx(1e-4, rel=1e-2)
    assert step["conv2.0.weight"] == pytest.approx(1e-2, rel=1e-2)
    assert step["fc.1.weight"] == 0.0
    assert step["head.weight"] == pytest.approx(1e-2, rel=1e-2)


def test_param_groups_skip_frozen_stages_and_explain_mistakes():
    model = T.make_cnn(5)
    T.freeze(model.conv1)
    assert [g["stage"] for g in T.param_groups(model, 0.1)] == ["conv2", "fc", "head"]
    with pytest.raises(ValueError, match="stage_lrs keys from .*got 'conv3'"):
        T.param_groups(model, 0.1, {"conv3": 0.1})
    with pytest.raises(TypeError, match="stage_lrs as a dict"):
        T.param_groups(model, 0.1, [0.1])
    with pytest.raises(ValueError, match="at least one trainable parameter.*unfreeze"):
        T.param_groups(T.freeze(model), 0.1)
    with pytest.raises(TypeError, match="a torch.nn.Module"):
        T.freeze("conv1")


# --------------------------------------------------------------------------- features


def test_feature_shapes_per_stage_and_the_hook_is_removed():
    model = T.make_cnn(3, seed=2)
    X, _ = _batch(n=7)
    for stage, dim in [("conv1", 512), ("conv2", 256), ("fc", 32), ("head", 3)]:
        assert T.features(model, X, stage).shape == (7, dim)
        assert stage == "head" or int(np.prod(T.FEATURE_SHAPES[stage])) == dim
        assert not getattr(model, stage)._forward_hooks
    x = torch.as_tensor(X, dtype=torch.float32)
    with torch.no_grad():
        fc = model.fc(model.conv2(model.conv1(x)))
    np.testing.assert_allclose(T.features(model, X, "fc"), fc.double().numpy(), rtol=0, atol=1e-6)
    conv2 = model.conv2(model.conv1(x)).flatten(1).detach().double().numpy()
    np.testing.assert_allclose(T.features(model, X, "conv2", batch_size=2), conv2, atol=1e-6)
    with pytest.raises(ValueError, match="a stage name from .*got 'layer4'"):
        T.features(model, X, "layer4")
    with pytest.raises(ValueError, match=r"X of shape \(N, 1, 16, 16\)"):
        T.features(model, X[0], "fc")


def test_train_cached_gives_the_same_weights_as_training_the_whole_model():
    pretrained = T.make_cnn(5, seed=3)
    X, y = _batch(n=20, seed=3)
    a, _ = TR.prepare("top", 5, pretrained, seed=4)
    b, _ = TR.prepare("top", 5, pretrained, seed=4)
    TR.train(a, X, y, steps=10, batch_size=8, device="cpu")
    TR.train_cached(b, X, y, steps=10, batch_size=8, device="cpu")
    for (name, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(va, vb, rtol=1e-5, atol=1e-6, msg=name)
    with pytest.raises(ValueError, match="first stage is frozen"):
        TR.train_cached(T.make_cnn(5), X, y, steps=1)


def test_prepare_builds_the_four_strategies_without_touching_the_pretrained_model():
    pretrained = T.make_cnn(5, seed=5)
    before = _copy(pretrained)
    trainable = {}
    for strategy in T.STRATEGIES:
        model, stage_lrs = TR.prepare(strategy, 4, pretrained, seed=6, lr=0.02)
        assert model.head.out_features == 4
        trainable[strategy] = [name for name, child in model.named_children()
                               if any(p.requires_grad for p in child.parameters())]
        if strategy != "scratch":
            torch.testing.assert_close(model.conv1[0].weight, pretrained.conv1[0].weight)
        if strategy == "all":
            assert stage_lrs == {"conv1": 0.002, "conv2": 0.002, "fc": 0.002}
    everything = ["conv1", "conv2", "fc", "head"]
    assert trainable == {"scratch": everything, "probe": ["head"], "top": ["fc", "head"], "all": everything}
    assert all(torch.equal(before[k], v) for k, v in pretrained.state_dict().items())
    with pytest.raises(ValueError, match="strategy to be one of"):
        TR.prepare("finetune", 4, pretrained)
    with pytest.raises(TypeError, match="pretrained to be a DigitCNN.*load_pretrained"):
        TR.prepare("probe", 4, None)


def test_train_checks_its_arguments():
    model = T.make_cnn(5)
    X, y = _batch()
    with pytest.raises(ValueError, match="X and y with the same number of rows"):
        TR.train(model, X, y[:3], device="cpu")
    with pytest.raises(ValueError, match="labels >= 0"):
        TR.train(model, X, y - 1, device="cpu")
    with pytest.raises(ValueError, match="steps >= 1"):
        TR.train(model, X, y, steps=0, device="cpu")
    with pytest.raises(TypeError, match="y with an integer"):
        TR.train(model, X, y.astype(float), device="cpu")
    with pytest.raises(TypeError, match="a torch.nn.Module"):
        TR.train(lambda x: x, X, y)


@pytest.fixture(scope="module")
def target():
    return TK.load_target("similar", seed=3)


def test_training_is_deterministic_and_learns(task, target):
    runs = [TR.run_strategy("scratch", target, count=10, max_steps=40, seed=1, device="cpu") for _ in range(2)]
    assert runs[0] == runs[1] and 1 <= runs[0].steps <= 40
    idx = TK.few_labels(task.y_train, 10, seed=0)
    losses = TR.train(T.make_cnn(5), task.X_train[idx], task.y_train[idx], steps=40, device="cpu")
    assert losses[-1] < 0.5 * losses[0]


# --------------------------------------------------------------------------- tasks


def test_tasks_have_the_documented_shapes_and_labels():
    for name, classes in [("source", 5), ("similar", 5), ("different", 4)]:
        split = TK.load_task(name)
        assert split.X_train.shape[1:] == (1, 16, 16) and split.X_test.shape[1:] == (1, 16, 16)
        assert set(np.unique(split.y_train)) == set(range(classes)) == set(np.unique(split.y_test))
        assert 0.0 <= split.X_train.min() and split.X_train.max() <= 1.0
    source = TK.load_task("source", copies=3)
    assert len(source.y_train) == 3 * len(TK.load_task("source").y_train)
    with pytest.raises(ValueError, match="name to be one of"):
        TK.load_task("mnist")


def test_shapes_and_cards_are_deterministic_and_keep_every_pixel():
    X, y = TK.make_shapes(5, seed=1)
    X2, y2 = TK.make_shapes(5, seed=1)
    assert X.shape == (20, 1, 8, 8) and np.array_equal(X, X2) and np.array_equal(y, y2)
    assert np.bincount(y).tolist() == [5, 5, 5, 5] and X.max() <= 1.0 and (X.sum(axis=(1, 2, 3)) > 1).all()
    cards = TK.place_on_card(X, seed=2)
    assert cards.shape == (20, 1, 16, 16)
    np.testing.assert_allclose(cards.sum(axis=(1, 2, 3)), X.sum(axis=(1, 2, 3)))
    with pytest.raises(ValueError, match=r"X of shape \(N, 1, 8, 8\)"):
        TK.place_on_card(cards)


def test_few_labels_picks_per_class():
    y = np.repeat(np.arange(3), 4)
    idx = TK.few_labels(y, 2, seed=0)
    assert np.bincount(y[idx]).tolist() == [2, 2, 2]
    assert np.array_equal(TK.few_labels(y, "all"), np.arange(12))
    with pytest.raises(ValueError, match="per_class <= 4"):
        TK.few_labels(y, 5)
    with pytest.raises(TypeError, match="per_class to be an int"):
        TK.few_labels(y, 2.5)


# --------------------------------------------------------------------------- the checkpoint


def test_the_shipped_checkpoint_loads_is_small_and_knows_its_digits():
    path = DATA_DIR / T.CHECKPOINT
    assert path.stat().st_size < 1_000_000
    assert read_sums()[T.CHECKPOINT] == sha256(path)
    model = T.load_pretrained()
    source = TK.load_task("source")
    assert T.evaluate(model, source.X_test, source.y_test) > 0.9


def _copy_data(tmp_path):
    shutil.copy(DATA_DIR / T.CHECKPOINT, tmp_path / T.CHECKPOINT)
    shutil.copy(DATA_DIR / "SHA256SUMS", tmp_path / "SHA256SUMS")
    return tmp_path / T.CHECKPOINT


def test_load_pretrained_checks_the_sum(tmp_path):
    path = _copy_data(tmp_path)
    T.load_pretrained(path)  # an intact copy loads
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"corrupted or was changed.*course_lib\.tools\.checkpoint --rebuild"):
        T.load_pretrained(path)


def test_load_pretrained_explains_a_missing_or_unreadable_file(tmp_path):
    path = _copy_data(tmp_path)
    path.unlink()
    with pytest.raises(ValueError, match=r"nothing there.*python -m course_lib.tools.checkpoint --rebuild"):
        T.load_pretrained(path)
    path.write_bytes(b"not a checkpoint")
    (tmp_path / "SHA256SUMS").write_text(f"{sha256(path)}  {T.CHECKPOINT}\n")
    with pytest.raises(ValueError, match=r"to be a torch checkpoint.*--rebuild"):
        T.load_pretrained(path)
    with pytest.raises(ValueError, match="a file listed in"):
        T.load_pretrained(tmp_path / "other.pt")
    with pytest.raises(TypeError, match="path as a str or pathlib.Path"):
        T.load_pretrained(3)


def test_rebuild_is_deterministic_and_keeps_other_sums(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        (folder / "SHA256SUMS").write_text(f"{'0' * 64}  other.csv\n")
        TR.rebuild(folder, steps=3)
    a, b = T.load_pretrained(first / T.CHECKPOINT), T.load_pretrained(second / T.CHECKPOINT)
    for (name, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), name
    assert (first / T.CHECKPOINT).read_bytes() == (second / T.CHECKPOINT).read_bytes()
    lines = (first / "SHA256SUMS").read_text().splitlines()
    assert lines == [f"{sha256(first / T.CHECKPOINT)}  {T.CHECKPOINT}", f"{'0' * 64}  other.csv"]  # sorted
    with pytest.raises(ValueError, match="data_dir to be an existing folder"):
        TR.rebuild(tmp_path / "missing", steps=1)


def test_the_command_line_needs_rebuild(capsys):
    assert checkpoint.main([]) == 2
    assert "--rebuild" in capsys.readouterr().out


# --------------------------------------------------------------------------- exercise checks


def _not_attempted(*args):
    raise NotImplementedError


# pieces of the solutions' code: no hint may contain one
_SOLUTION_CODE = ("p.numel() for", "if p.requires_grad", "captured.append", "register_forward_hook(lambda",
                  '"probe" if', "lr / 10", "lr / 100", "param_groups(", "freeze(stage)")


def _assert_hint(feedback, hint, section):
    """A wrong answer's feedback names the mistake (hint), points to its section (None: a form complaint or "not
    attempted yet" needs none) and hands out no solution code."""
    assert not feedback.passed and hint in feedback.message, feedback
    assert section is None or section in feedback.message, feedback
    assert not any(code in feedback.message for code in _SOLUTION_CODE), feedback


def test_count_trainable_check():
    assert check_count_trainable(lambda m: sum(p.numel() for p in m.parameters() if p.requires_grad)).passed


@pytest.mark.parametrize(
    "wrong, hint, section",
    [
        (lambda m: sum(p.numel() for p in m.parameters()), "counted frozen parameters too", "section 4, freezing"),
        (lambda m: sum(p.numel() for p in m.parameters() if not p.requires_grad), "frozen* parameters",
         "section 4, freezing"),
        (lambda m: sum(1 for p in m.parameters() if p.requires_grad), "counted parameter tensors", "section 4"),
        (lambda m: "many", "one whole number", None),
        (lambda m: 7, "expected 9637 trainable numbers for a DigitCNN, got 7 (off by -9630)", "section 4"),
        (_not_attempted, "not attempted yet", None),
    ],
)
def test_count_trainable_check_hints(wrong, hint, section):
    _assert_hint(check_count_trainable(wrong), hint, section)


def _hooked(model, x, stage, remove=True, what="output"):
    captured = []
    handle = getattr(model, stage).register_forward_hook(
        lambda mod, inp, out: captured.append(out if what == "output" else inp[0]))
    final = model(x)
    if remove:
        handle.remove()
    return final if what == "final" else captured[0]


def test_stage_output_check():
    assert check_stage_output(_hooked).passed
    assert check_stage_output(lambda m, x, s: torch.as_tensor(T.features(m, x, s))).passed


@pytest.mark.parametrize(
    "wrong, hint, section",
    [
        (lambda m, x, s: _hooked(m, x, s, remove=False), "handle.remove()", "section 4, reading features"),
        (lambda m, x, s: _hooked(m, x, s, what="input"), "not its input", "section 4, reading features"),
        (lambda m, x, s: _hooked(m, x, s, what="final"), "final output", "section 4, reading features"),
        (lambda m, x, s: 2 * _hooked(m, x, s) + 1, "values of stage 'conv1' differ: conv1 output[",
         "section 4, reading features"),
        (lambda m, x, s: _hooked(m, x, s).detach().numpy().tolist(), "captured tensor", None),
        (_not_attempted, "not attempted yet", None),
    ],
)
def test_stage_output_check_hints(wrong, hint, section):
    _assert_hint(check_stage_output(wrong), hint, section)


def test_stage_output_check_says_which_element_differs_and_by_how_much():
    def one_off(m, x, s):
        out = _hooked(m, x, s).clone()
        out.view(-1)[7] += 0.5
        return out

    feedback = check_stage_output(one_off)
    assert "conv1 output[0, 7] is" in feedback.message and "(|difference| 0.5; 1 of 1536 elements differ)" in \
        feedback.message, feedback


def test_advice_check():
    assert check_advice(lambda little, similar: T.SLIDES_ADVICE[(little, similar)]).passed


@pytest.mark.parametrize(
    "wrong, hint, section",
    [
        (lambda little, similar: "probe", "quite a lot of data and a very similar", "section 4"),
        (lambda little, similar: "probe" if little else T.SLIDES_ADVICE[(little, similar)],
         "very little data and a very different", "section 4"),
        (lambda little, similar: T.SLIDES_ADVICE[(similar, little)], "rows and columns are swapped", "section 4"),
        (lambda little, similar: "linear classifier", "answer with one of", None),
        (_not_attempted, "not attempted yet", None),
    ],
)
def test_advice_check_hints(wrong, hint, section):
    _assert_hint(check_advice(wrong), hint, section)


# --------------------------------------------------------------------------- 10.4 freeze, then unfreeze


def _phase(phase2_rates=None, unfreeze_all=True, phase1_everything=False, optimiser=torch.optim.Adam):
    """A phase_optimiser answer with one mistake built in (the defaults give the right answer)."""
    rates = {"fc": 0.1, "conv2": 0.01, "conv1": 0.01} if phase2_rates is None else phase2_rates

    def answer(model, phase, lr):
        if phase == 1:
            for stage in (model.conv1, model.conv2, model.fc):
                T.freeze(stage)
            params = model.parameters() if phase1_everything else model.head.parameters()
            return optimiser(params, lr=lr)
        if unfreeze_all:
            T.unfreeze(model)
        return optimiser(T.param_groups(model, lr, {k: lr * v for k, v in rates.items()}), lr=lr)

    return answer


def test_phase_optimiser_check_passes_the_reference_and_a_param_groups_answer():
    assert check_phase_optimiser(E._reference_phase_optimiser).passed
    assert check_phase_optimiser(_phase()).passed


@pytest.mark.parametrize(
    "wrong, hint, section",
    [
        (_phase(unfreeze_all=False), "still frozen", "section 4, freezing"),
        (_phase({"fc": 1.0, "conv1": 1.0, "conv2": 1.0}), "same rate", "section 6"),
        (_phase({"head": 0.01, "fc": 0.1, "conv1": 1.0, "conv2": 1.0}), "wrong way round", "section 6"),
        (_phase({"fc": 0.1, "conv2": 0.1, "conv1": 0.01}), "different factor", "section 6"),
        (_phase(phase1_everything=True), "holds frozen parameters", "section 4, freezing"),
        (_phase(optimiser=torch.optim.SGD), "torch.optim.Adam", None),
        (lambda m, phase, lr: torch.optim.Adam(m.parameters(), lr=lr), "only the head learns", "section 4"),
        (_phase(optimiser=lambda params, lr: torch.optim.Adam(params, lr=lr, weight_decay=0.5)),
         "no common mistake matches", "section 6"),
        (_not_attempted, "not attempted yet", None),
    ],
)
def test_phase_optimiser_check_names_the_mistake(wrong, hint, section):
    _assert_hint(check_phase_optimiser(wrong), hint, section)


# --------------------------------------------------------------------------- the three-way split and the grid


def test_targets_split_three_ways_without_overlap():
    for name, classes in [("similar", 5), ("different", 4)]:
        t = TK.load_target(name, seed=2)
        sizes = [len(t.y_train), len(t.y_val), len(t.y_test)]
        assert all(n > 0 for n in sizes) and t.X_val.shape[1:] == (1, 16, 16)
        for y in (t.y_train, t.y_val, t.y_test):
            assert set(np.unique(y)) == set(range(classes))
        cards = np.concatenate([t.X_train, t.X_val, t.X_test]).reshape(sum(sizes), -1)
        assert len(np.unique(cards, axis=0)) == sum(sizes)  # no card is in two splits
        assert [c.shape[0] for c in t.centred] == sizes
    a, b = TK.load_target("similar", seed=0), TK.load_target("similar", seed=1)
    assert not np.array_equal(a.y_test, b.y_test)  # the base seed moves the split
    with pytest.raises(ValueError, match="name to be one of"):
        TK.load_target("source")


def test_early_stopping_keeps_the_best_validation_weights(target):
    model = T.make_cnn(5, seed=0)
    idx = TK.few_labels(target.y_train, 5, seed=0)
    record = TR.train_early_stopping(model, target.X_train[idx], target.y_train[idx], target.X_val,
                                     target.y_val, max_steps=200, eval_every=10, patience=2, device="cpu")
    assert record.best_step <= record.steps <= 200 and record.best_step % 10 == 0
    assert record.val_acc == pytest.approx(T.evaluate(model, target.X_val, target.y_val), abs=1e-6)



# --------------------------------------------------------------------------- figures and the live widget


COUNTS = (5, 20, 100)


def _curves(seeds=5):
    base = np.array([0.3, 0.5, 0.8])
    return {s: np.clip(base[:, None] + 0.02 * i + np.linspace(-0.02, 0.02, seeds), 0, 1)
            for i, s in enumerate(T.STRATEGIES)}


def test_plot_draws_every_strategy_with_its_spread():
    ax = plot_label_curves(_curves(), COUNTS, "similar")
    assert len(ax.containers) == len(T.STRATEGIES)  # one errorbar per strategy
    assert len(ax.get_lines()) >= len(T.STRATEGIES) * 5  # every run faintly


def test_live_widget_trains_a_new_run_on_every_change(target):
    measured = {("similar", s, c): [0.5, 0.6] for s in T.STRATEGIES for c in (5, "all")}
    demo = live_run_widget({"similar": target}, T.load_pretrained(), measured)
    controls = {w.description: w for w in demo.children if isinstance(w, ipywidgets.ValueWidget)}
    assert set(controls) == {"target", "strategy", "labels per class", "seed of the new run"}
    before = len(plt.get_fignums())
    controls["seed of the new run"].value = 101
    title = plt.figure(plt.get_fignums()[-1]).axes[0].get_legend().get_texts()[-1].get_text()
    assert len(plt.get_fignums()) >= before and title.startswith("this run: test")


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (lambda: check_curves(_curves(), (20, 5, 100)), ValueError, "increasing"),
        (lambda: check_curves(_curves(), "abc"), TypeError, "counts as a list"),
        (lambda: check_curves([], COUNTS), TypeError, "curves as a dict"),
        (lambda: check_curves({"probe": [0.5] * 3}, COUNTS), ValueError, "with the strategies"),
        (lambda: check_curves({s: [0.5] * 2 for s in T.STRATEGIES}, COUNTS), ValueError, "3 rows"),
        (lambda: check_curves({s: [50.0] * 3 for s in T.STRATEGIES}, COUNTS), ValueError, "percent"),
        (lambda: live_run_widget([], None, {}), TypeError, "tasks as a dict"),
    ],
)
def test_bad_arguments_are_explained(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
