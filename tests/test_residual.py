"""Residual and plain blocks (course_lib.scratch.residual) against their torch twins."""

import numpy as np
import pytest
import torch
from helpers import check_module_numeric, check_module_twin

from course_lib.scratch.modules import Sequential
from course_lib.scratch.residual import PlainBlock, ResidualBlock
from course_lib.twins.regularization import (
    TorchPlainBlock,
    TorchResidualBlock,
    block_twin,
    to_torch_state_dict,
)


@pytest.mark.parametrize("cls", [ResidualBlock, PlainBlock])
@pytest.mark.parametrize("N, D", [(4, 5), (1, 5), (3, 1), (7, 2)])
def test_block_matches_torch_twin(cls, N, D):
    rng = np.random.default_rng(0)
    block = cls(D, rng=rng)
    twin = block_twin(block)
    assert isinstance(twin, TorchResidualBlock if cls is ResidualBlock else TorchPlainBlock)
    assert (
        list(block.state_dict())
        == list(twin.state_dict())
        == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    )
    out = check_module_twin(block, twin, rng.normal(size=(N, D)), rng.normal(size=(N, D)))
    assert out.shape == (N, D)


@pytest.mark.parametrize("cls", [ResidualBlock, PlainBlock])
@pytest.mark.parametrize("N, D", [(3, 4), (1, 1)])
def test_block_numeric_gradients(cls, N, D):
    rng = np.random.default_rng(1)
    block = cls(D, rng=rng)
    check_module_numeric(block, rng.normal(size=(N, D)), rng=rng,
                         expected={"x", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"})


def test_skip_connection_is_really_there():
    # With fc2 zeroed the branch is 0: a residual block is relu(x), a plain block relu(fc2.bias) = 0.
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 4))
    for cls, expected in ((ResidualBlock, np.maximum(x, 0)), (PlainBlock, np.zeros_like(x))):
        block = cls(4, rng=rng)
        block.fc2.params["weight"][...] = 0.0
        block.fc2.params["bias"][...] = 0.0
        assert np.array_equal(block(x), expected)
        dout = np.ones_like(x)
        assert np.array_equal(
            block.backward(dout), (x > 0) * 1.0 if cls is ResidualBlock else np.zeros_like(x)
        )


def test_deep_stacks_match_torch_and_residual_keeps_the_gradient():
    depth, D, N = 12, 6, 8
    rng = np.random.default_rng(3)
    x, dout = rng.normal(size=(N, D)), rng.normal(size=(N, D))
    grad_norms = {}
    for scratch_cls, torch_cls in ((ResidualBlock, TorchResidualBlock), (PlainBlock, TorchPlainBlock)):
        net = Sequential(*[scratch_cls(D, rng=rng) for _ in range(depth)])
        twin = torch.nn.Sequential(*[torch_cls(D) for _ in range(depth)])
        twin.load_state_dict(to_torch_state_dict(net.state_dict()))
        check_module_twin(net, twin, x, dout)
        net(x)
        grad_norms[scratch_cls.__name__] = np.linalg.norm(net.backward(dout))
    # The plain stack's gradient at the input vanishes; the residual stack's does not.
    assert grad_norms["ResidualBlock"] > 100 * grad_norms["PlainBlock"], grad_norms


def test_block_bad_inputs():
    block = ResidualBlock(5, rng=np.random.default_rng(0))
    with pytest.raises(
        ValueError, match=r"ResidualBlock.forward: expected x of shape \(N, 5\), got shape \(4, 3\)"
    ):
        block(np.zeros((4, 3)))
    with pytest.raises(
        ValueError, match=r"PlainBlock.forward: expected x of shape \(N, 5\), got shape \(5,\)"
    ):
        PlainBlock(5)(np.zeros(5))
    with pytest.raises(ValueError, match=r"ResidualBlock: expected features >= 1, got 0"):
        ResidualBlock(0)
    with pytest.raises(TypeError, match=r"ResidualBlock: expected features to be an int, got float 2.5"):
        ResidualBlock(2.5)
    block(np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"expected dout"):
        block.backward(np.zeros((4, 6)))
