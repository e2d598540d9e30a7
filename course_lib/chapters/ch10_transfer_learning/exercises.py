"""Checks for chapter 10, transfer learning."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from course_lib.chapters.ch10_transfer_learning.transfer import (
    SLIDES_ADVICE,
    count_trainable,
    features,
    freeze,
    make_cnn,
    unfreeze,
)
from course_lib.feedback import Feedback, call_student, close, failed, passed, where_differs


def _models():
    """Models with different parts frozen, and a plain layer."""
    whole = make_cnn(5, seed=1)
    top = make_cnn(4, seed=2)
    freeze(top.conv1)
    freeze(top.conv2)
    probe = make_cnn(5, seed=3)
    for stage in (probe.conv1, probe.conv2, probe.fc):
        freeze(stage)
    frozen = freeze(make_cnn(5, seed=4))
    return [whole, top, probe, frozen, nn.Linear(7, 3)]


def check_count_trainable(func) -> Feedback:
    """Exercise 10.1: ``func(model)`` returns the number of trainable parameters (scalars)."""
    name = "10.1 trainable parameters"
    for model in _models():
        result, problem = call_student(name, func, model)
        if problem is not None:
            return problem
        try:
            result = int(result)
        except (TypeError, ValueError):
            return failed(name, f"return one whole number, got {type(result).__name__}.")
        right = count_trainable(model)
        total = sum(p.numel() for p in model.parameters())
        if result == right:
            continue
        if result == total:
            return failed(name, "you counted frozen parameters too, but an optimiser never updates them "
                                "(section 4, freezing).")
        if result == total - right:
            return failed(name, "that is the number of *frozen* parameters, the ones an optimiser leaves alone "
                                "(section 4, freezing).")
        if result == sum(1 for p in model.parameters() if p.requires_grad):
            return failed(name, "you counted parameter tensors, not the numbers in them; p.numel() gives a "
                                "tensor's count (section 4, exercise 10.1).")
        return failed(name, f"expected {right} trainable numbers for a {type(model).__name__}, got {result} "
                            f"(off by {result - right:+}); count the numbers an optimiser would update "
                            "(section 4, freezing).")
    return passed(name, "frozen layers cost nothing to train: only requires_grad parameters count.")


def check_stage_output(func) -> Feedback:
    """Exercise 10.2: ``func(model, x, stage)`` returns the output of the named stage, via a forward hook."""
    name = "10.2 a forward hook"
    model = make_cnn(5, seed=5)
    x = torch.as_tensor(np.random.default_rng(92).uniform(size=(3, 1, 16, 16)), dtype=torch.float32)
    for stage in ("conv1", "conv2", "fc"):
        result, problem = call_student(name, func, model, x, stage)
        if problem is not None:
            return problem
        module = getattr(model, stage)
        if len(module._forward_hooks) > 0:
            for key in list(module._forward_hooks):
                del module._forward_hooks[key]
            return failed(name, "the hook is still attached after your function returned: keep the handle "
                                "that register_forward_hook returns and call handle.remove() (section 4, "
                                "reading features with a hook).")
        if not isinstance(result, torch.Tensor):
            return failed(name, f"return the captured tensor, got {type(result).__name__}.")
        expected = features(model, x, stage)
        got = result.detach().cpu().double().reshape(len(x), -1).numpy()
        if got.shape != expected.shape:
            if got.shape == (3, 5):
                return failed(name, "that is the model's final output; return what the hook captured, "
                                    "the stage's own output (section 4, reading features with a hook).")
            return failed(name, f"stage {stage!r} should give {expected.shape[1]} numbers per image, "
                                f"got {got.shape[1]}: capture the hook's `output` argument, not its input "
                                "(section 4, reading features with a hook).")
        if not close(got, expected, atol=1e-5):
            return failed(name, f"the values of stage {stage!r} differ: "
                                f"{where_differs(f'{stage} output', got, expected)}, each image's output "
                                "flattened (section 4, reading features with a hook).")
    return passed(name, "a hook sees every stage's output without changing the model's code.")


def check_advice(func) -> Feedback:
    """Exercise 10.3: ``func(little_data, similar)`` names the slides' strategy for that cell of the table."""
    name = "10.3 the slides' advice"
    options = sorted(set(SLIDES_ADVICE.values()))
    answers = {}
    for little, similar in SLIDES_ADVICE:
        result, problem = call_student(name, func, little, similar)
        if problem is not None:
            return problem
        if result not in options:
            return failed(name, f"answer with one of {options}, got {result!r}.")
        answers[little, similar] = result
    if answers != SLIDES_ADVICE and all(answers[little, similar] == SLIDES_ADVICE[similar, little]
                                        for little, similar in answers):
        return failed(name, "rows and columns are swapped: the table's rows are the amount of data, its "
                            "columns how similar the dataset is (the table at the top of the chapter; section 4 "
                            "names the strategies).")
    for (little, similar), right in SLIDES_ADVICE.items():
        if answers[little, similar] != right:
            amount = "very little data" if little else "quite a lot of data"
            kind = "a very similar" if similar else "a very different"
            return failed(name, f"for {amount} and {kind} dataset the slides say something else: look at that "
                                "cell of the 2x2 table at the top of the chapter again (section 4 names the "
                                "strategies).")
    return passed(name, "little data: train only a linear classifier; more data: fine-tune more; "
                        "a different domain: go to earlier stages or fine-tune more layers.")




# ----------------------------------------------------------------------------- 10.4 freeze, then unfreeze

PHASE_RATES = {"head": 1.0, "fc": 0.1, "conv2": 0.01, "conv1": 0.01}  # phase 2: each stage's rate / lr


def _reference_phase_optimiser(model, phase, lr):
    """The reference answer of exercise 10.4 (used by the check only)."""
    if phase == 1:
        for stage in ("conv1", "conv2", "fc"):
            freeze(getattr(model, stage))
        unfreeze(model.head)
        return torch.optim.Adam(model.head.parameters(), lr=lr)
    unfreeze(model)
    return torch.optim.Adam([{"params": getattr(model, stage).parameters(), "lr": lr * factor}
                             for stage, factor in PHASE_RATES.items()])


def _rates(optimiser):
    """{parameter id: learning rate} of an optimiser, and the ids that occur more than once."""
    rates, twice = {}, set()
    for group in optimiser.param_groups:
        for p in group["params"]:
            if id(p) in rates:
                twice.add(id(p))
            rates[id(p)] = group["lr"]
    return rates, twice


def _phase_problem(model, optimiser, phase, lr):
    """A hint for the first way the student's (model, optimiser) differs from the exercise, else None."""
    if not isinstance(optimiser, torch.optim.Adam):
        return f"phase {phase}: return a torch.optim.Adam, got {type(optimiser).__name__}."
    trains = {stage: all(p.requires_grad for p in getattr(model, stage).parameters()) for stage in PHASE_RATES}
    rates, twice = _rates(optimiser)
    if twice:
        return (f"phase {phase}: a parameter sits in two parameter groups; every stage needs exactly one group "
                "(section 4, layer-wise learning rates).")
    if phase == 1:
        if not trains["head"]:
            return "phase 1 trains the new head: it must stay trainable (section 4, freezing)."
        stuck = [stage for stage in ("conv1", "conv2", "fc") if trains[stage]]
        if stuck:
            return (f"phase 1: {', '.join(stuck)} still train(s); only the head learns while the pretrained "
                    "stages are frozen (section 4, freezing).")
        if any(id(p) in rates for stage in ("conv1", "conv2", "fc") for p in getattr(model, stage).parameters()):
            return ("phase 1: the optimiser holds frozen parameters; it should hold only the parameters that "
                    "train (section 4, freezing).")
    elif not all(trains.values()):
        frozen = [stage for stage, on in trains.items() if not on]
        return (f"phase 2 unfreezes every stage, but {', '.join(frozen)} is still frozen (requires_grad False; "
                "section 4, freezing).")
    for stage, factor in PHASE_RATES.items():
        if phase == 1 and stage != "head":
            continue
        for pname, p in getattr(model, stage).named_parameters():
            if id(p) not in rates:
                return (f"phase {phase}: {stage}.{pname} is in no parameter group, so it would never train "
                        "(section 4, layer-wise learning rates).")
            got, want = rates[id(p)] / lr, factor
            if abs(got - want) > 1e-9 * want:
                if phase == 2 and len(set(rates.values())) == 1:
                    return ("phase 2: every stage learns at the same rate; the pretrained stages should move "
                            "more slowly than the new head (section 6, layer-wise learning rates).")
                if phase == 2 and stage == "head" and got < 1:
                    return ("phase 2: the new head learns slower than lr; the rates run the wrong way round "
                            "(section 6, exercise 10.4).")
                return (f"phase {phase}: {stage} learns at {got:g} x lr; the exercise asks for a different factor "
                        "(section 6, exercise 10.4).")
    return None


def check_phase_optimiser(func) -> Feedback:
    """Exercise 10.4: ``func(model, phase, lr)`` freezes/unfreezes ``model`` for the phase and returns its Adam."""
    name = "10.4 freeze, then unfreeze"
    lr = 0.003
    x = torch.as_tensor(np.random.default_rng(104).uniform(size=(6, 1, 16, 16)), dtype=torch.float32)
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    mine, ref = make_cnn(5, seed=7), make_cnn(5, seed=7)
    for phase in (1, 2):
        optimiser, problem = call_student(name, func, mine, phase, lr)
        if problem is not None:
            return problem
        hint = _phase_problem(mine, optimiser, phase, lr)
        if hint is not None:
            return failed(name, hint)
        ref_optimiser = _reference_phase_optimiser(ref, phase, lr)
        for model, opt in ((mine, optimiser), (ref, ref_optimiser)):  # one step each: the twin must agree
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        for (pname, p), q in zip(mine.named_parameters(), ref.parameters()):
            if not torch.allclose(p, q, atol=1e-6):
                where = where_differs(pname, p.detach().double().numpy(), q.detach().double().numpy())
                return failed(name, f"after one phase-{phase} step {where}: no common mistake matches, so check "
                                    "that stage's learning rate and the optimiser's other settings (section 6, "
                                    "exercise 10.4).")
    return passed(name, "the head learns first on frozen features; then every stage moves, the pretrained "
                        "ones more gently.")


EXERCISES = ("10.1 trainable parameters", "10.2 a forward hook", "10.3 the slides' advice",
             "10.4 freeze, then unfreeze")

__all__ = ["EXERCISES", "check_advice", "check_count_trainable", "check_phase_optimiser", "check_stage_output"]
