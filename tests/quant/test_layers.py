"""QuantLinear and quantize_linears against the dense layer with the same weight."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from jaxmethods.quant import (
    Int4Weight,
    QuantLinear,
    dequantize,
    hessian_from_activations,
    quantize_linears,
    quantize_rtn,
)

from ..helpers import assert_close, unchecked


def _linear(k=256, n=64, seed=0, bias=True):
    return eqx.nn.Linear(k, n, use_bias=bias, dtype=jnp.float64, key=jr.key(seed))


@pytest.mark.parametrize("bias", [True, False])
def test_from_linear_rtn_equals_dequantized_dense(bias):
    lin = _linear(bias=bias)
    q = QuantLinear.from_linear(lin, scale_dtype=jnp.float64)
    assert isinstance(q.weight, Int4Weight) and q.weight.shape == (256, 64)
    # the weight is RTN of the transposed Linear weight
    want = quantize_rtn(lin.weight.T, scale_dtype=jnp.float64)
    np.testing.assert_array_equal(np.asarray(q.weight.packed), np.asarray(want.packed))
    x = jr.normal(jr.key(1), (5, 256), jnp.float64)
    dense = q.dequantized(jnp.float64)
    assert_close(q(x), jax.vmap(dense)(x))
    # single vector, as eqx.nn.Linear, and vmap
    assert_close(q(x[0]), dense(x[0]))
    assert_close(jax.vmap(q)(x), q(x))
    # close to the original layer (RTN error)
    err = jnp.linalg.norm(q(x) - jax.vmap(lin)(x)) / jnp.linalg.norm(jax.vmap(lin)(x))
    assert float(err) < 0.2


def test_from_linear_gptq_and_small_layers():
    lin = _linear(64, 32, seed=2)
    x = jr.normal(jr.key(3), (512, 64), jnp.float64)
    # in_features 64 < 128: block_k and group size adapt (one group per column)
    q = QuantLinear.from_linear(lin, method="gptq", calibration=x)
    assert q.weight.block_k == 64 and q.weight.group_size == -1
    h = hessian_from_activations(x)
    q2 = QuantLinear.from_linear(lin, method="gptq", calibration=h)
    np.testing.assert_array_equal(
        np.asarray(q.weight.packed), np.asarray(q2.weight.packed)
    )
    r = QuantLinear.from_linear(lin, method="rtn")
    ref = jax.vmap(lin)(x)

    def rel(m):
        return float(jnp.sum((m(x) - ref) ** 2) / jnp.sum(ref**2))

    assert rel(q) <= rel(r) * 1.0001


def test_gradients_flow_to_inputs_and_bias():
    q = QuantLinear.from_linear(_linear(), scale_dtype=jnp.float64)
    x = jr.normal(jr.key(4), (3, 256), jnp.float64)
    gx = jax.grad(lambda a: jnp.sum(q(a) ** 2))(x)
    dense = q.dequantized(jnp.float64)
    gx_ref = jax.grad(lambda a: jnp.sum(jax.vmap(dense)(a) ** 2))(x)
    assert_close(gx, gx_ref)
    gq = eqx.filter_grad(lambda m: jnp.sum(m(x) ** 2))(q)
    gd = eqx.filter_grad(lambda m: jnp.sum(jax.vmap(m)(x) ** 2))(dense)
    assert_close(gq.bias, gd.bias)


def test_quantize_linears_rtn_and_gptq():
    mlp = eqx.nn.MLP(64, 10, 128, depth=2, key=jr.key(5), dtype=jnp.float64)
    q = quantize_linears(mlp)
    assert all(isinstance(layer, QuantLinear) for layer in q.layers)
    x = jr.normal(jr.key(6), (256, 64), jnp.float64)
    y_dense = jax.vmap(mlp)(x)
    y_rtn = jax.vmap(q)(x)
    assert y_rtn.shape == y_dense.shape
    # `where` keeps a layer dense
    keep = quantize_linears(mlp, where=lambda lin: lin.out_features != 10)
    assert isinstance(keep.layers[-1], eqx.nn.Linear)

    def forward(m, xs):
        return jax.jit(jax.vmap(m))(xs)

    g = quantize_linears(mlp, method="gptq", forward=forward, calibration=x)
    assert all(isinstance(layer, QuantLinear) for layer in g.layers)

    def err(m):
        return float(jnp.sum((jax.vmap(m)(x) - y_dense) ** 2) / jnp.sum(y_dense**2))

    # sequential GPTQ on the calibration set does no worse than RTN there
    assert err(g) <= err(q)
    # the first layer saw exactly the calibration inputs: its Hessian (summed
    # on the host, in any order) equals the one-shot one to rounding, so the
    # codes agree except next to rounding ties
    first = QuantLinear.from_linear(mlp.layers[0], method="gptq", calibration=x)
    same = np.asarray(first.weight.codes()) == np.asarray(g.layers[0].weight.codes())
    assert same.mean() > 0.99


def test_errors():
    # the classmethod without pytest's runtime type checking
    _from_linear = unchecked(QuantLinear.__dict__["from_linear"].__func__)
    lin = _linear()
    with pytest.raises(ValueError, match="method"):
        _from_linear(QuantLinear, lin, method="awq")
    with pytest.raises(ValueError, match="calibration"):
        QuantLinear.from_linear(lin, method="gptq")
    with pytest.raises(TypeError, match="eqx.nn.Linear"):
        _from_linear(QuantLinear, jnp.zeros((4, 4)))
    with pytest.raises(ValueError, match="forward"):
        quantize_linears([lin], method="gptq")
    qw = quantize_rtn(jnp.zeros((128, 8)))
    with pytest.raises(ValueError, match="bias"):
        QuantLinear(qw, jnp.zeros(5))
    with pytest.raises(TypeError, match="Int4Weight"):
        unchecked(QuantLinear)(dequantize(qw))
