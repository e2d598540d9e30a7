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
)
from course_lib.feedback import Feedback, call_student, close, failed, passed


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
    """Exercise 9.1: ``func(model)`` returns the number of trainable parameters (scalars)."""
    name = "9.1 trainable parameters"
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
            return failed(name, "you counted frozen parameters too: keep only those with p.requires_grad.")
        if result == total - right:
            return failed(name, "that is the number of *frozen* parameters: "
                                "keep those with p.requires_grad True.")
        if result == sum(1 for p in model.parameters() if p.requires_grad):
            return failed(name, "you counted parameter tensors; count the numbers in them with p.numel().")
        return failed(name, f"expected {right} for a {type(model).__name__}; add p.numel() over the "
                            "parameters with p.requires_grad.")
    return passed(name, "frozen layers cost nothing to train: only requires_grad parameters count.")


def check_stage_output(func) -> Feedback:
    """Exercise 9.2: ``func(model, x, stage)`` returns the output of the named stage, via a forward hook."""
    name = "9.2 a forward hook"
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
                                "that register_forward_hook returns and call handle.remove().")
        if not isinstance(result, torch.Tensor):
            return failed(name, f"return the captured tensor, got {type(result).__name__}.")
        expected = features(model, x, stage)
        got = result.detach().cpu().double().reshape(len(x), -1).numpy()
        if got.shape != expected.shape:
            if got.shape == (3, 5):
                return failed(name, "that is the model's final output; return what the hook captured, "
                                    "the stage's own output.")
            return failed(name, f"stage {stage!r} should give {expected.shape[1]} numbers per image, "
                                f"got {got.shape[1]}: capture the hook's `output` argument, not its input.")
        if not close(got, expected, atol=1e-5):
            return failed(name, f"the values of stage {stage!r} differ: capture `output` in the hook "
                                "and run model(x) once.")
    return passed(name, "a hook sees every stage's output without changing the model's code.")


def check_advice(func) -> Feedback:
    """Exercise 9.3: ``func(little_data, similar)`` names the slides' strategy for that cell of the table."""
    name = "9.3 the slides' advice"
    options = sorted(set(SLIDES_ADVICE.values()))
    for (little, similar), right in SLIDES_ADVICE.items():
        result, problem = call_student(name, func, little, similar)
        if problem is not None:
            return problem
        if result not in options:
            return failed(name, f"answer with one of {options}, got {result!r}.")
        if result != right:
            amount = "very little data" if little else "quite a lot of data"
            kind = "a very similar" if similar else "a very different"
            return failed(name, f"for {amount} and {kind} dataset the slides say something else: "
                                "look at that cell of the 2x2 table again.")
    return passed(name, "little data: train only a linear classifier; more data: fine-tune more; "
                        "a different domain: go to earlier stages or fine-tune more layers.")


__all__ = ["check_advice", "check_count_trainable", "check_stage_output"]
