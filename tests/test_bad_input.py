"""The bad-input battery: every public callable of course_lib, fed input it must refuse.

A row is (callable id, kind of bad input, call, expected exception types, the
name the message must start with, an optional regex). A row passes when the
call raises one of the expected types with a message of the course's shape,
"<user-facing name>: expected ..., got ...". It fails on a silent answer
(the call returned), on an error of another type, and on a message that
names no expected value or another function (an inner helper).

Rows come from two tables:

* ``GENERIC``: for every public function and class (and every method of an
  instance ``INSTANCES`` can build), one call with a foreign object (``JUNK``)
  in every required argument ("junk"). Cheap, and it covers everything.
* ``SPECIFIC``: hand-written rows for the kinds of bad input an audit found
  answered silently or unhelpfully (NaN, wrong shape, out-of-range labels,
  float16, negative sizes, a wrong cache, ...), with the exact message.

``KNOWN_GAPS`` lists the rows that fail today, each a strict xfail: when a
gap is closed its row passes, the xfail turns into a failure, and the entry
must be deleted. ``test_every_public_callable_is_in_the_battery`` fails
listing any public callable that is neither in a row nor in ``EXEMPT``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import signal
from dataclasses import dataclass, is_dataclass

import numpy as np
import pytest
import torch

import course_lib

# Build tools: not course material.
SKIPPED_MODULES = {
    "course_lib.tools.nbtools": "build tool (runs notebooks), not course material",
    "course_lib.tools.editions": "build tool (student edition and slides), not course material",
    "course_lib.tools.course_map": "build tool (course map and front door), not course material",
    "course_lib.tools.presenting": "build tool (prepares notebooks for the saving run and slides), not course material",
    "course_lib.tools.setup_env": "build tool (make setup, standard library only), not course material",
    "course_lib.tools.slides": "vendored slide assets",
    "course_lib.checks": "the checks themselves: every row of the battery runs them",
    "course_lib.torch_checks": "the checks themselves: every row of the battery runs them",
}

# Callables with no input to check, each with its reason.
EXEMPT = {
    "course_lib.scratch.perceptron:PerceptronHistory": "a dataclass record: stores what it is given",
    "course_lib.feedback:Feedback": "a dataclass record: stores what it is given",
    "course_lib.chapters.ch11_hardware_and_scale.demo:DemoResult": "a dataclass record: stores what it is given",
    "course_lib.bench:Workload": "a dataclass record: stores what it is given",
    "course_lib.scratch.train:History": "a dataclass record: stores what it is given",
    "course_lib.chapters.ch11_hardware_and_scale.demo:PortInUseError": "an exception class",
}


class _Junk:
    """A foreign object: not a number, array, tensor, string, module or callable."""

    def __repr__(self):
        return "<junk>"


JUNK = _Junk()
ROW_TIMEOUT_S = 30


# ----------------------------------------------------------------------------- enumerating


def _modules():
    for info in pkgutil.walk_packages(course_lib.__path__, "course_lib."):
        name = info.name
        if any(name == s or name.startswith(s + ".") for s in SKIPPED_MODULES):
            continue
        if any(part.startswith("_") for part in name.split(".")[1:]):
            continue
        yield importlib.import_module(name)


def public_callables() -> dict[str, object]:
    """``{"module:name" or "module:Class.method": object}`` for every public callable."""
    found = {}
    for module in _modules():
        for key, obj in vars(module).items():
            if key.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj):
                found[f"{module.__name__}:{key}"] = obj
            elif inspect.isclass(obj):
                found[f"{module.__name__}:{key}"] = obj
                for name, member in vars(obj).items():
                    if not name.startswith("_") and inspect.isfunction(member):
                        found[f"{module.__name__}:{key}.{name}"] = member
    return found


CALLABLES = public_callables()


# ----------------------------------------------------------------------------- rows


@dataclass
class Row:
    id: str  # "module:qualname" of the callable
    kind: str
    call: object  # a function of no arguments
    errors: tuple = (TypeError, ValueError)
    name: str | None = None  # the user-facing name the message must start with; default: the callable's
    match: str | None = None
    feedback: bool = False  # an exercise check answers with a failing Feedback instead of raising

    @property
    def key(self):
        return f"{self.id}[{self.kind}]"


def _user_name(callable_id: str) -> str:
    qualname = callable_id.split(":")[1]
    cls, _, method = qualname.partition(".")
    return qualname if method else cls


def _required(obj) -> list[inspect.Parameter]:
    try:
        params = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return []
    if params and params[0].name in ("self", "cls"):
        params = params[1:]
    return [p for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _junk_call(target, obj):
    """Junk in every required argument; with none required, junk in the first parameter."""
    required = _required(obj)
    if required:
        return lambda: target(*[JUNK] * len(required))
    try:
        params = [p for p in inspect.signature(obj).parameters.values() if p.name not in ("self", "cls")]
    except (TypeError, ValueError):
        params = []
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if not named:
        return None
    return lambda: target(**{named[0].name: JUNK})


def _instances():
    """Instances to call methods on, built from valid arguments (None: build with no arguments)."""
    from course_lib.chapters.ch06_rnn_lstm import sequences
    from course_lib.chapters.ch07_attention_transformers import charlm
    from course_lib.scratch import autograd, cnn, embedding, gru, lstm, modules, residual, rnn
    from course_lib.twins import mlp, perceptron, regularization
    from course_lib.twins import vae as generative

    return {
        "course_lib.scratch.autograd:Value": lambda: autograd.Value(1.0),
        "course_lib.scratch.cnn:Conv2d": lambda: cnn.Conv2d(1, 2, 3),
        "course_lib.scratch.cnn:MaxPool2d": lambda: cnn.MaxPool2d(2),
        "course_lib.scratch.cnn:AvgPool2d": lambda: cnn.AvgPool2d(2),
        "course_lib.scratch.rnn:RNN": lambda: rnn.RNN(3, 4),
        "course_lib.scratch.gru:GRU": lambda: gru.GRU(3, 4),
        "course_lib.scratch.lstm:LSTM": lambda: lstm.LSTM(3, 4),
        "course_lib.scratch.embedding:Embedding": lambda: embedding.Embedding(5, 3),
        "course_lib.scratch.residual:PlainBlock": lambda: residual.PlainBlock(4),
        "course_lib.scratch.residual:ResidualBlock": lambda: residual.ResidualBlock(4),
        "course_lib.chapters.ch06_rnn_lstm.sequences:CharVocab": lambda: sequences.CharVocab("abc"),
        "course_lib.chapters.ch07_attention_transformers.charlm:CausalSelfAttention":
            lambda: charlm.CausalSelfAttention(4, 2),
        "course_lib.chapters.ch07_attention_transformers.charlm:Block": lambda: charlm.Block(4, 2, 8),
        "course_lib.chapters.ch07_attention_transformers.charlm:TinyGPT": lambda: charlm.TinyGPT(5),
        "course_lib.chapters.ch07_attention_transformers.charlm:CharLSTM": lambda: charlm.CharLSTM(5),
        "course_lib.twins.vae:Autoencoder": lambda: generative.Autoencoder([4, 3, 2]),
        "course_lib.twins.vae:VAE": lambda: generative.VAE([4, 3, 2]),
        "course_lib.twins.mlp:TorchMaxout": lambda: mlp.TorchMaxout(3, 2),
        "course_lib.twins.perceptron:TorchPerceptron": lambda: perceptron.TorchPerceptron(2, "cpu"),
        "course_lib.twins.regularization:TorchPlainBlock": lambda: regularization.TorchPlainBlock(4),
        "course_lib.twins.regularization:TorchResidualBlock": lambda: regularization.TorchResidualBlock(4),
        "course_lib.scratch.modules:Linear": lambda: modules.Linear(3, 2),
        "course_lib.scratch.modules:Maxout": lambda: modules.Maxout(3, 2),
        "course_lib.scratch.modules:MLP": lambda: modules.MLP([3, 4, 2]),
        "course_lib.scratch.modules:Sequential": lambda: modules.Sequential(modules.Linear(3, 2)),
    }


def generic_rows() -> list[Row]:
    rows = []
    factories = _instances()
    for callable_id, obj in CALLABLES.items():
        if callable_id in EXEMPT:
            continue
        module_name, qualname = callable_id.split(":")
        cls_name, _, method = qualname.partition(".")
        if method:
            owner_id = f"{module_name}:{cls_name}"
            factory = factories.get(owner_id) or (lambda cls=CALLABLES[owner_id]: cls())

            def target(*args, _factory=factory, _method=method, **kwargs):
                return getattr(_factory(), _method)(*args, **kwargs)

            call = _junk_call(target, obj)
        else:
            call = _junk_call(obj, obj)
        if call is not None:
            rows.append(Row(callable_id, "junk", call, feedback=module_name.endswith(".exercises")))
    return rows


def _specific_rows() -> list[Row]:
    """The audit's findings, one row each (see the issue "A sturdier engine")."""
    from course_lib import bench
    from course_lib.chapters.ch06_rnn_lstm import sequences
    from course_lib.chapters.ch09_gan import gan
    from course_lib.chapters.ch10_transfer_learning import training, transfer
    from course_lib.chapters.ch11_hardware_and_scale import distributed
    from course_lib.scratch import gradcheck, layers, losses, perceptron, regularization
    from course_lib.scratch import vae as generative
    from course_lib.scratch.modules import MLP
    from course_lib.twins import conv as tconv
    from course_lib.twins import gan as tgan
    from course_lib.twins import vae as tgen

    x = np.ones((2, 3))
    nan = np.full((2, 3), np.nan)
    one = np.ones(2)
    out, relu_cache = layers.relu_forward(x)
    lin_cache = layers.linear_forward(x, np.ones((2, 3)), np.ones(2))[1]
    logits = np.zeros((4, 3))
    model = transfer.new_head(3, 2)
    S = "course_lib.scratch."
    return [
        Row(S + "gradcheck:check_pair", "float16", lambda: gradcheck.check_pair(
            layers.sigmoid_forward, layers.sigmoid_backward, x.astype(np.float16)), match="float64"),
        Row(S + "gradcheck:numeric_gradient", "float32", lambda: gradcheck.numeric_gradient(
            lambda: 0.0, x.astype(np.float32)), match="float64"),
        Row(S + "perceptron:perceptron_update", "label 2", lambda: perceptron.perceptron_update(
            one, 2, one, 0.0, 1.0), match="label 0 or 1"),
        Row(S + "perceptron:perceptron_update", "label 2.5", lambda: perceptron.perceptron_update(
            one, 2.5, one, 0.0, 1.0), match="label 0 or 1"),
        Row(S + "perceptron:perceptron_update", "NaN label", lambda: perceptron.perceptron_update(
            one, np.nan, one, 0.0, 1.0), match="label 0 or 1"),
        Row(S + "perceptron:perceptron_update", "shape mismatch", lambda: perceptron.perceptron_update(
            one, 1, np.ones(3), 0.0, 1.0), match="w of x's shape"),
        Row("course_lib.chapters.ch11_hardware_and_scale.distributed:shard_indices", "rank >= world_size",
            lambda: distributed.shard_indices(np.arange(8), 5, 2), match="rank <= 1"),
        Row("course_lib.chapters.ch11_hardware_and_scale.distributed:shard_indices", "negative world_size",
            lambda: distributed.shard_indices(np.arange(8), 0, -1), match="world_size >= 1"),
        Row("course_lib.chapters.ch11_hardware_and_scale.distributed:shard_indices", "zero world_size",
            lambda: distributed.shard_indices(np.arange(8), 0, 0), match="world_size >= 1"),
        Row("course_lib.chapters.ch11_hardware_and_scale.distributed:shard_indices", "unequal shards",
            lambda: distributed.shard_indices(np.arange(8), 0, 3), match="3 equal shards"),
        Row("course_lib.chapters.ch10_transfer_learning.transfer:evaluate", "label out of range",
            lambda: transfer.evaluate(model, np.ones((4, 3)), np.array([0, 1, 5, 0])), match=r"labels in \[0, 2\)"),
        Row("course_lib.chapters.ch10_transfer_learning.training:linear_probe", "test class unseen",
            lambda: training.linear_probe(
            np.ones((4, 3)), np.array([0, 1, 0, 1]), np.ones((2, 3)), np.array([0, 7])), match="only classes"),
        Row("course_lib.bench:mlp_flops", "negative batch", lambda: bench.mlp_flops([4, 8, 2], -1),
            match="batch >= 1"),
        Row("course_lib.bench:make_workloads", "tasks as a string", lambda: bench.make_workloads(tasks="matmul"),
            match=r"tasks=\['matmul'\]"),
        Row(S + "layers:relu_backward", "NaN dout", lambda: layers.relu_backward(nan, relu_cache),
            match="finite values in dout"),
        Row(S + "layers:linear_backward", "wrong cache", lambda: layers.linear_backward(np.ones((2, 2)), relu_cache),
            match="3-tuple returned by linear_forward"),
        Row(S + "layers:linear_backward", "None cache", lambda: layers.linear_backward(np.ones((2, 2)), None),
            match="cache"),
        Row(S + "layers:relu_backward", "tuple cache", lambda: layers.relu_backward(out, lin_cache),
            match="array returned by relu_forward"),
        Row(S + "regularization:dropout_backward", "None cache",
            lambda: regularization.dropout_backward(x, None), match="cache"),
        Row(S + "layers:softmax", "NaN", lambda: layers.softmax(nan), match="finite"),
        Row(S + "layers:log_softmax", "list", lambda: layers.log_softmax([1.0, 2.0]), match="numpy.ndarray"),
        Row("course_lib.twins.gan:discriminator_loss_torch", "empty",
            lambda: tgan.discriminator_loss_torch(torch.ones(2), torch.ones(0)), match="non-empty"),
        Row("course_lib.twins.gan:generator_loss_torch", "NaN",
            lambda: tgan.generator_loss_torch(torch.tensor([float("nan")])), match="finite"),
        Row("course_lib.twins.vae:reparameterize", "NaN",
            lambda: tgen.reparameterize(torch.full((2, 2), float("nan")), torch.zeros(2, 2)), match="finite"),
        Row("course_lib.twins.perceptron:TorchPerceptron.forward", "wrong width", lambda: __import__(
            "course_lib.twins.perceptron", fromlist=["x"]).TorchPerceptron(2, "cpu")(torch.ones(4, 3)),
            match="in_features"),
        Row("course_lib.scratch.modules:Sequential.forward", "wrong width", lambda: MLP([4, 8, 2])(np.ones((5, 3))),
            name="MLP.forward", match=r"layer 0 \(Linear\): expected x of shape \(N, 4\)"),
        Row("course_lib.scratch.vae:vae_loss", "shape mismatch", lambda: generative.vae_loss(
            np.ones((2, 3)), np.ones((2, 4)), np.ones((2, 2)), np.ones((2, 2)))),
        Row("course_lib.chapters.ch09_gan.gan:mode_coverage", "1-D samples", lambda: gan.mode_coverage(
            np.ones(3), np.ones((2, 2)), 1.0)),
        Row(S + "losses:softmax_cross_entropy", "one-hot labels", lambda: losses.softmax_cross_entropy(
            logits, np.eye(3)[[0, 1, 2, 0]]), match=r"y.argmax\(1\)"),
        Row(S + "autograd:Value", "ndarray + Value", lambda: np.array([1.0, 2.0]) + __import__(
            "course_lib.scratch.autograd", fromlist=["x"]).Value(1.0), name="Value.__radd__"),
        Row("course_lib.chapters.ch06_rnn_lstm.sequences:module_docs", "not standard library",
            lambda: sequences.module_docs("numpy"),
            match="standard-library"),
        Row("course_lib.scratch.modules:Sequential", "junk", lambda: __import__(
            "course_lib.scratch.modules", fromlist=["x"]).Sequential(object()), match="module 0"),
        Row("course_lib.twins.conv:meta_output_shape", "junk shape",
            lambda: tconv.meta_output_shape(tconv.lenet5(device="cpu"), 5), match="input_shape"),
    ]


def _backward_and_module_rows() -> list[Row]:
    """Backward passes given the wrong cache or a NaN dout; recurrent modules naming themselves."""
    from course_lib.scratch import conv, embedding, lstm, rnn

    S = "course_lib.scratch."
    x, w = np.ones((2, 1, 4, 4)), np.ones((3, 1, 3, 3))
    conv_out, conv_cache = conv.conv2d_forward(x, w, None)
    max_cache = conv.maxpool2d_forward(x, 2)[1]
    lstm_weights = (np.ones((8, 3)), np.ones((8, 2)), np.ones(8), np.ones(8))
    step_cache = lstm.lstm_step_forward(np.ones((1, 3)), np.ones((1, 2)), np.ones((1, 2)), *lstm_weights)[2]

    def rnn_after_forward():
        module = rnn.RNN(3, 4)
        module(np.ones((2, 1, 3)))
        return module

    return [
        Row(S + "conv:conv2d_backward", "NaN dout", lambda: conv.conv2d_backward(
            np.full(conv_out.shape, np.nan), conv_cache), match="finite values in dout"),
        Row(S + "pool:avgpool2d_backward", "maxpool cache", lambda: conv.avgpool2d_backward(
            np.ones((2, 1, 2, 2)), max_cache), match=r"cache\[1\] to be a tuple"),
        Row(S + "lstm:lstm_backward", "step cache", lambda: lstm.lstm_backward(
            np.ones((1, 1, 2)), step_cache), match=r"cache\[0\] to be a 3-D array, as lstm_forward"),
        Row(S + "rnn:RNN.forward", "wrong D", lambda: rnn.RNN(3, 4)(np.ones((2, 1, 5))), match="D=3"),
        Row(S + "rnn:RNN.backward", "wrong dh_all", lambda: rnn_after_forward().backward(np.ones((2, 1, 5))),
            match=r"dh_all of shape \(2, 1, 4\)"),
        Row(S + "embedding:Embedding.forward", "index 5", lambda: embedding.Embedding(5, 3).forward(
            np.array([5])), match=r"indices in \[0, 5\)"),
        Row(S + "rnn:clip_grad_norm", "a string", lambda: rnn.clip_grad_norm("grads", 1.0), match="list of arrays"),
    ]


def _chapter_rows() -> list[Row]:
    """Chapter 7's models and the widgets' helpers, given input of the right kind but the wrong shape or type."""
    from course_lib import bench
    from course_lib.chapters.ch03_backprop import widgets as ch03
    from course_lib.chapters.ch07_attention_transformers import charlm, seq2seq

    return [
        Row("course_lib.bench:attention_workload", "heads do not divide E",
            lambda: bench.attention_workload(8, 2, 6, 4), match=r"embed_dim \(6\) divisible by num_heads"),
        Row("course_lib.chapters.ch07_attention_transformers.seq2seq:Seq2Seq.forward", "float src",
            lambda: seq2seq.Seq2Seq(8, 4)(
            torch.ones(3, 2), torch.ones(3, 2, dtype=torch.long)), match="src as integer token ids"),
        Row("course_lib.chapters.ch07_attention_transformers.charlm:TinyGPT.forward", "1-D ids",
            lambda: charlm.TinyGPT(5)(
            torch.zeros(4, dtype=torch.long)), match=r"ids of shape \(T, N\)"),
        Row("course_lib.chapters.ch03_backprop.widgets:verdict", "2-D losses", lambda: ch03.verdict(np.ones((2, 3))),
            match=r"shape \(2, 3\)"),
    ]


SPECIFIC = _specific_rows() + _backward_and_module_rows() + _chapter_rows()
GENERIC = generic_rows()
ROWS = SPECIFIC + GENERIC

# Rows that fail today. Each entry: row key -> what is missing.
KNOWN_GAPS: dict[str, str] = {}


# ----------------------------------------------------------------------------- checking


def _alarm(signum, frame):
    raise TimeoutError(f"no answer within {ROW_TIMEOUT_S} s")


def run_row(row: Row) -> str | None:
    """None when the row passes, else what went wrong."""
    name = row.name or _user_name(row.id)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(ROW_TIMEOUT_S)
    try:
        result = row.call()
    except row.errors as exc:
        message = str(exc)
        if not message.startswith(f"{name}:"):
            return f"{type(exc).__name__} not naming {name}: {message[:200]}"
        if "expected" not in message:
            return f"{type(exc).__name__} without an expected value: {message[:200]}"
        if row.match is not None and not __import__("re").search(row.match, message):
            return f"message does not match {row.match!r}: {message[:200]}"
        return None
    except BaseException as exc:  # noqa: BLE001 (a wrong kind of error is a finding)
        return f"unexpected {type(exc).__name__}: {str(exc)[:200]}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    if row.feedback and type(result).__name__ == "Feedback" and not result.passed and result.message:
        return None  # the check's documented answer: "not yet" and a hint
    return f"silent: returned {type(result).__name__}"


def _params():
    for row in ROWS:
        marks = [pytest.mark.xfail(reason=KNOWN_GAPS[row.key], strict=True)] if row.key in KNOWN_GAPS else []
        yield pytest.param(row, id=row.key, marks=marks)


@pytest.mark.parametrize("row", list(_params()))
def test_bad_input_is_refused_with_a_message_that_teaches(row, monkeypatch):
    monkeypatch.setenv("COURSE_HEADLESS", "1")
    problem = run_row(row)
    assert problem is None, f"{row.key}: {problem}"


def _takes_no_input(obj) -> bool:
    try:
        params = [p for p in inspect.signature(obj).parameters.values() if p.name not in ("self", "cls")]
    except (TypeError, ValueError):
        return False
    return not params


# Callables that take no argument at all (beyond self) have no input to refuse.
NO_INPUT = sorted(key for key, obj in CALLABLES.items() if key not in EXEMPT and _takes_no_input(obj))


def test_every_public_callable_is_in_the_battery():
    covered = {row.id for row in ROWS} | set(EXEMPT) | set(NO_INPUT)
    missing = sorted(set(CALLABLES) - covered)
    assert not missing, "public callables with no row and no exemption:\n" + "\n".join(missing)


def test_the_tables_name_only_real_callables():
    assert not sorted(set(EXEMPT) - set(CALLABLES)), sorted(set(EXEMPT) - set(CALLABLES))
    assert not sorted({row.id for row in ROWS} - set(CALLABLES))
    assert not sorted(set(KNOWN_GAPS) - {row.key for row in ROWS})


def test_no_library_file_unpickles_or_asserts():
    import ast
    from pathlib import Path

    root = Path(course_lib.__file__).parent
    for path in root.rglob("*.py"):
        if path.name in ("nbtools.py",) or "slides" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        found = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Assert)]
        assert not found, f"{path.relative_to(root)}: bare assert on lines {found}"
        assert "pickle.load" not in path.read_text(), path


def _is_dataclass_id(callable_id):
    return is_dataclass(CALLABLES[callable_id])
