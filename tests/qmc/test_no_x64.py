"""The float32 / uint32 path with jax_enable_x64 off (in a subprocess, since
the test session runs with x64 on)."""

import os
import subprocess
import sys
import textwrap


SCRIPT = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    assert not jax.config.read("jax_enable_x64")
    import jaxmethods.qmc as qmc
    k = jax.random.key(0)
    out = {}
    for rz in ["none", "ds", "lms", "lms_ds", "nus"]:
        x = qmc.digital_net_b2(k, 4096, 6, randomize=rz)
        assert x.dtype == jnp.float32, x.dtype
        assert bool(jnp.all((x >= 0) & (x < 1))), rz
        xb = qmc.digital_net_b2(k, 64, 2, randomize=rz, return_binary=True)
        assert xb.dtype == jnp.uint32, xb.dtype
    x = qmc.digital_net_b2(k, 4096, 3, alpha=2)
    assert x.dtype == jnp.float32 and bool(jnp.all(x < 1))
    # unscrambled Sobol in float32 equals SciPy's points rounded to float32
    from scipy.stats import qmc as sq
    ref = sq.Sobol(4, scramble=False).random(256).astype(np.float32)
    got = qmc.digital_net_b2(k, 256, 4, randomize="none", order="gray")
    np.testing.assert_array_equal(np.asarray(got), ref)
    # the largest 32-bit integer would round to 1.0 in float32: clamped
    C = np.full((1, 1), 2**32 - 1, dtype=np.uint32)
    assert float(qmc.digital_net_points(C, 2).max()) < 1.0
    try:
        qmc.digital_net_b2(k, 8, 2, t=33)
    except ValueError as e:
        assert "enable jax_enable_x64" in str(e), e
    else:
        raise AssertionError("t=33 accepted without x64")
    x = qmc.lattice(k, 4096, 5)
    assert x.dtype == jnp.float32 and bool(jnp.all((x >= 0) & (x < 1)))
    # unshifted lattice points are dyadic with 20 bits: exact in float32
    from jaxmethods.qmc._data import kuo_lattice_vector
    g = kuo_lattice_vector()[:3].astype(np.int64)
    rev = np.array([int(f"{i:020b}"[::-1], 2) for i in range(64)], dtype=np.int64)
    ref = ((rev[:, None] * g[None, :]) % 2**20) / 2**20
    got = qmc.lattice(k, 64, 3, randomize="none")
    np.testing.assert_array_equal(np.asarray(got, dtype=np.float64), ref)
    if hasattr(qmc, "halton"):
        x = qmc.halton(k, 4096, 5)
        assert x.dtype == jnp.float32 and bool(jnp.all((x >= 0) & (x < 1)))
    # adaptive cubature in float32 (the Bayesian rules' spectrum too)
    f = qmc.integrands.Keister(3)
    rules = [qmc.cub_qmc_net_g, qmc.cub_qmc_bayes_lattice_g, qmc.cub_qmc_bayes_net_g]
    for rule in rules:
        res = rule(f, 3, key=k, abs_tol=1e-2)
        assert res.code == 0 and res.estimate.dtype == jnp.float32, rule
        assert abs(float(res.estimate) - f.exact) < 1e-2, rule
    print("ok")
    """
)


def test_float32_without_x64():
    env = dict(os.environ, JAX_ENABLE_X64="0", JAX_PLATFORMS="cpu")
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().endswith("ok")
