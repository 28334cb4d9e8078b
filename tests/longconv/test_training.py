"""Optimizer labels; LongConv trained on digit sequences, with and without Squash."""

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from sklearn.datasets import load_digits

from jaxmethods.longconv import (
    LearnedButterflyConv,
    LongConv,
    LongConvModel,
    longconv_param_labels,
)


def _inexact(tree):
    return eqx.filter(tree, eqx.is_inexact_array)


def _update(tx, params, grads):
    # optax mixes Python floats with int32 step counts, which strict dtype
    # promotion (the test suite's setting) rejects.
    with jax.numpy_dtype_promotion("standard"):
        state = tx.init(params)
        updates, _ = tx.update(grads, state, params)
    return eqx.apply_updates(params, updates)


def test_labels_structure():
    model = [
        eqx.nn.Linear(1, 4, key=jr.key(0)),
        LongConv(4, 8, bidirectional=True, key=jr.key(1)),
        {"conv": LearnedButterflyConv(4, 8, max_block=4, key=jr.key(2))},
    ]
    labels = longconv_param_labels(model, dft_label="dft")
    assert jax.tree.structure(labels) == jax.tree.structure(model)
    assert labels[0].weight == labels[0].bias == "default"
    lc = labels[1]
    assert (lc.kernel, lc.D, lc.out_proj.weight, lc.out_proj.bias) == (
        "kernel",
        "default",
        "default",
        "default",
    )
    bf = labels[2]["conv"]
    assert (bf.kernel, bf.D) == ("kernel", "default")
    assert set(bf.blocks_re) | set(bf.blocks_im) == {"dft"}
    # the default puts the DFT blocks in the kernel group
    default = longconv_param_labels(model)[2]["conv"]
    assert set(default.blocks_re) == {"kernel"}
    counts = {}
    for lab in jax.tree.leaves(longconv_param_labels(_inexact(model))):
        counts[lab] = counts.get(lab, 0) + 1
    # kernels: LongConv 1, butterfly 1 + 2 stages x (re, im); default: Linear 2,
    # LongConv D + out_proj 3, butterfly D 1 (the bool `inference` is filtered out)
    assert counts == {"kernel": 6, "default": 6}


def test_multi_transform_updates_only_their_groups():
    model = [
        eqx.nn.Linear(1, 4, key=jr.key(0)),
        LongConv(4, 8, key=jr.key(1)),
        {"conv": LearnedButterflyConv(4, 8, max_block=4, key=jr.key(2))},
    ]
    params = _inexact(model)
    grads = jax.tree.map(jnp.ones_like, params)
    only_kernels = optax.multi_transform(
        {"kernel": optax.sgd(1.0), "default": optax.set_to_zero()},
        longconv_param_labels(model),  # precomputed on the full model
    )
    new = _update(only_kernels, params, grads)
    assert_moved = lambda a, b: not np.allclose(a, b)  # noqa: E731
    assert assert_moved(new[1].kernel, params[1].kernel)
    assert assert_moved(new[2]["conv"].blocks_re[0], params[2]["conv"].blocks_re[0])
    assert np.array_equal(new[1].D, params[1].D)
    assert np.array_equal(new[0].weight, params[0].weight)
    assert np.array_equal(new[1].out_proj.weight, params[1].out_proj.weight)
    only_rest = optax.multi_transform(
        {"kernel": optax.set_to_zero(), "default": optax.adamw(0.1, weight_decay=0.05)},
        longconv_param_labels,  # as a function of what optax receives
    )
    new = _update(only_rest, params, grads)
    assert np.array_equal(new[1].kernel, params[1].kernel)
    assert np.array_equal(new[2]["conv"].blocks_im[1], params[2]["conv"].blocks_im[1])
    assert assert_moved(new[1].D, params[1].D)
    assert assert_moved(new[0].bias, params[0].bias)


def test_labels_on_a_callable_model_and_frozen_kernels():
    model = LongConvModel(1, 3, d_model=4, n_layers=2, L=8, key=jr.key(0))
    tx = optax.multi_transform(
        {"kernel": optax.adam(1e-3), "default": optax.adamw(1e-2)},
        longconv_param_labels,
    )
    params = _inexact(model)
    new = _update(tx, params, jax.tree.map(jnp.ones_like, params))
    assert not np.allclose(new.layers[0].kernel, params.layers[0].kernel)
    # a filter that freezes the kernels leaves None there: still labelled
    frozen = eqx.tree_at(
        lambda m: [layer.kernel for layer in m.layers],
        params,
        replace_fn=lambda _: None,
    )
    labels = longconv_param_labels(frozen)
    assert labels.layers[0].kernel is None
    assert labels.layers[0].D == "default"


# ---------------------------------------------------------------- training


def _digits():
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)[:, :, None]  # (n, 64 pixels, 1)
    y = d.target.astype(np.int32)
    idx = np.random.default_rng(0).permutation(len(y))
    tr, te = idx[:1347], idx[1347:]
    return x[tr], y[tr], x[te], y[te]


def _train(lam, data, *, seed=0, epochs=20, batch=64):
    """Official recipe, shortened: kernels on their own Adam (no weight decay)."""
    xtr, ytr, xte, yte = data
    model = LongConvModel(
        1,
        10,
        d_model=32,
        n_layers=2,
        L=64,
        lam=lam,
        dtype=jnp.float32,
        key=jr.key(seed),
    )
    tx = optax.multi_transform(
        {"kernel": optax.adam(1e-2), "default": optax.adamw(1e-2, weight_decay=0.05)},
        longconv_param_labels,
    )
    with jax.numpy_dtype_promotion("standard"):
        opt = tx.init(_inexact(model))

    @eqx.filter_jit
    def step(model, opt, xb, yb, key):
        def loss(m):
            # one key for the batch: one kernel-dropout mask per step, as official
            logits = jax.vmap(lambda s: m(s, key=key))(xb)
            return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

        grads = eqx.filter_grad(loss)(model)
        with jax.numpy_dtype_promotion("standard"):
            updates, opt = tx.update(grads, opt, _inexact(model))
        return eqx.apply_updates(model, updates), opt

    key = jr.key(seed + 1)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        perm = rng.permutation(len(ytr))
        for b in range(len(ytr) // batch):
            j = perm[b * batch : (b + 1) * batch]
            key, sub = jr.split(key)
            model, opt = step(model, opt, xtr[j], ytr[j], sub)
    logits = eqx.filter_jit(lambda m, x: jax.vmap(lambda s: m(s, inference=True))(x))(
        model, xte
    )
    acc = float(np.mean(np.asarray(jnp.argmax(logits, -1)) == yte))
    kernels = np.concatenate(
        [np.asarray(layer.effective_kernel(), np.float64) for layer in model.layers]
    ).reshape(-1, 64)
    return acc, kernels


def _tv(k):
    return float(np.abs(np.diff(k, axis=-1)).sum())


def test_digits_squash_accuracy_and_smoother_kernels():
    data = _digits()
    t0 = time.perf_counter()
    acc_sq, k_sq = _train(0.003, data)
    acc_0, k_0 = _train(0.0, data)
    elapsed = time.perf_counter() - t0
    tv_sq, tv_0 = _tv(k_sq), _tv(k_0)
    rough_sq = tv_sq / np.linalg.norm(k_sq)
    rough_0 = tv_0 / np.linalg.norm(k_0)
    print(
        f"digits: {elapsed:.1f}s; acc squash {acc_sq:.4f}, no squash {acc_0:.4f}; "
        f"TV {tv_sq:.1f} vs {tv_0:.1f}; TV/||k|| {rough_sq:.2f} vs {rough_0:.2f}; "
        f"zeros {np.mean(k_sq == 0):.3f}"
    )
    assert acc_sq >= 0.90
    assert acc_0 >= 0.90
    # Squash (official lam = 0.003) leaves most kernel entries at exactly zero
    assert np.mean(k_sq == 0) > 0.8
    # and the learned kernels vary less: in total (about half, 5 seeds) ...
    assert tv_sq < 0.75 * tv_0
    # ... and relative to their size (about 0.88 of it, 5 seeds)
    assert rough_sq < 0.97 * rough_0
