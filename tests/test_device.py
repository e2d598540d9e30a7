import random

import numpy as np
import pytest
import torch

from course_lib import device as dev


def test_default_is_cpu_without_a_gpu(monkeypatch):
    monkeypatch.delenv(dev.DEVICE_ENV, raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = "mps"
    assert dev.get_device().type == expected


def test_env_override_is_used(monkeypatch):
    monkeypatch.setenv(dev.DEVICE_ENV, "cpu")
    assert dev.get_device() == torch.device("cpu")


@pytest.mark.parametrize("bad", ["gpu", "CUDA", "cuda:x", "tpu", "cpu "])
def test_unknown_device_names_are_rejected_with_the_options(monkeypatch, bad):
    monkeypatch.setenv(dev.DEVICE_ENV, bad.strip() + ("x" if bad == "cpu " else ""))
    with pytest.raises(ValueError, match="'cpu', 'cuda', 'cuda:N' or 'mps'.*got"):
        dev.get_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_one_says_how_to_fix(monkeypatch):
    monkeypatch.setenv(dev.DEVICE_ENV, "cuda")
    with pytest.raises(ValueError, match="CUDA GPU.*got none.*unset COURSE_DEVICE"):
        dev.get_device()


def test_get_device_rejects_non_strings():
    with pytest.raises(TypeError, match="device name"):
        dev.get_device(3)


def test_setup_seeds_everything_and_returns_nothing(monkeypatch):
    monkeypatch.delenv(dev.THREADS_ENV, raising=False)
    assert dev.setup(seed=123) is None
    first = (random.random(), np.random.rand(), torch.rand(1).item())  # noqa: NPY002
    dev.setup(seed=123)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first  # noqa: NPY002
    assert torch.get_num_threads() == dev.DEFAULT_THREADS


def test_setup_fixes_the_thread_count_from_the_environment(monkeypatch):
    from threadpoolctl import threadpool_info

    monkeypatch.setenv(dev.THREADS_ENV, "1")
    dev.setup(seed=0)
    assert torch.get_num_threads() == 1
    assert all(pool["num_threads"] == 1 for pool in threadpool_info())


@pytest.mark.parametrize("bad", ["0", "two", "-1", ""])
def test_bad_thread_count_is_a_clear_error(monkeypatch, bad):
    monkeypatch.setenv(dev.THREADS_ENV, bad)
    with pytest.raises(ValueError, match="COURSE_THREADS to be a positive integer"):
        dev.setup(seed=0)


@pytest.mark.parametrize("seed, exc", [(-1, ValueError), (1.5, TypeError), ("0", TypeError), (True, TypeError)])
def test_bad_seeds(seed, exc):
    with pytest.raises(exc, match="seed"):
        dev.seed_everything(seed)


def test_set_threads_rejects_zero():
    with pytest.raises(ValueError, match="threads >= 1"):
        dev.set_threads(0)


def test_describe_hardware_names_the_machine():
    info = dev.describe_hardware()
    assert info["cpu_cores"] >= 1 and info["torch"].startswith("2.")
    assert info["device"] in {"cpu", "cuda", "mps"}
    assert (info["gpu"] is None) == (info["device"] == "cpu")


def test_synchronize_on_the_cpu_is_a_no_op():
    assert dev.synchronize("cpu") is None
