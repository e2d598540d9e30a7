"""The numeric configurations the stored outputs must validate under (docs/reproducibility.md).

`make test` checks every notebook twice: on the machine as it comes and as
"another CPU" (COURSE_NUMERICS=oldcpu). That second run only proves
something if it really computes other digits, which is shown here on the
kind of work the chapters do (float32 and float64 products, convolutions,
elementwise maths and a few steps of Adam).
"""

import os
import platform
import subprocess
import sys

import pytest

from course_lib.tools.nbtools import NOTEBOOK_ENV, NUMERICS_VAR, notebook_env, numeric_config

WORK = """
import numpy as np, torch
torch.set_num_threads(1)
rng = np.random.default_rng(0)
x, w = rng.standard_normal((300, 257)), rng.standard_normal((257, 129))
tx, tw = torch.tensor(x, dtype=torch.float32), torch.tensor(w, dtype=torch.float32)
print("numpy float32 product", repr(float((x.astype(np.float32) @ w.astype(np.float32)).sum(dtype=np.float64))))
print("numpy float64 exp", repr(float(np.exp(x).sum())))
print("torch float32 product", repr((tx @ tw).double().sum().item()))
print("torch float32 sigmoid", repr(torch.sigmoid(tx).double().sum().item()))
conv = torch.nn.functional.conv2d(tx[None, None, :64, :64], tw[None, None, :5, :5])
print("torch float32 conv2d", repr(conv.double().sum().item()))
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(257, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1))
opt = torch.optim.Adam(net.parameters(), lr=1e-2)
for _ in range(20):
    opt.zero_grad()
    loss = ((net(tx) - tx[:, :1]) ** 2).mean()
    loss.backward()
    opt.step()
print("torch float32 20 Adam steps", repr(loss.item()))
print("torch capability", torch.backends.cpu.get_cpu_capability())
"""


def _run(numerics):
    env = {k: v for k, v in os.environ.items() if k not in numeric_config("oldcpu") and k != NUMERICS_VAR}
    env.update(notebook_env(numerics))
    result = subprocess.run([sys.executable, "-c", WORK], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return dict(line.rsplit(" ", 1) for line in result.stdout.splitlines())


def test_the_configurations():
    assert numeric_config("native") == {}
    old = numeric_config("oldcpu")
    assert old["ATEN_CPU_CAPABILITY"] == "default" and old["OPENBLAS_CORETYPE"] == "Nehalem"
    assert old["MKL_CBWR"] == "COMPATIBLE" and old["ONEDNN_MAX_CPU_ISA"] == "SSE41"
    assert numeric_config("threads2")["COURSE_THREADS"] == "2" != NOTEBOOK_ENV["COURSE_THREADS"]
    assert notebook_env("threads2")["OMP_NUM_THREADS"] == "2"
    assert notebook_env("native")[NUMERICS_VAR] == "native"
    with pytest.raises(ValueError, match="expected COURSE_NUMERICS as native, oldcpu or threads2, got 'avx'"):
        numeric_config("avx")


@pytest.mark.skipif(platform.machine().lower() not in {"x86_64", "amd64"}, reason="the oldcpu settings are x86's")
def test_another_cpu_computes_other_digits():
    native, old = _run("native"), _run("oldcpu")
    assert old["torch capability"] == "DEFAULT" != native["torch capability"]
    moved = [name for name in native if name != "torch capability" and native[name] != old[name]]
    print("digits that differ between native and oldcpu:", moved)
    # The products and the training run differ in their last digits; each side is still right.
    assert len(moved) >= 3, (native, old)
    for name in moved:
        assert float(native[name]) == pytest.approx(float(old[name]), rel=1e-5)
