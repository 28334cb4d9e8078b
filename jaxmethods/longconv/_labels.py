"""Optimizer labels for LongConv models: kernels apart from everything else."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
from jaxtyping import PyTree

from ._butterfly import LearnedButterflyConv
from ._layers import LongConv


def _is_layer(x) -> bool:
    return isinstance(x, (LongConv, LearnedButterflyConv))


def _relabel(node, fields: dict[str, str]):
    labels = jax.tree.map(lambda _: "default", node)
    for name, label in fields.items():
        sub = getattr(node, name)
        if sub is None:  # filtered out (e.g. by eqx.filter): nothing to label
            continue
        labels = eqx.tree_at(
            lambda m, name=name: getattr(m, name),
            labels,
            jax.tree.map(lambda _, label=label: label, sub),
        )
    return labels


def longconv_param_labels(
    tree: PyTree[Any], *, dft_label: str = "kernel"
) -> PyTree[str]:
    r"""Label the long-convolution kernels of a model for ``optax.multi_transform``.

    The official recipe trains the LongConv kernels with their own learning
    rate and **no weight decay** (safari ``register(..., lr, wd=0.0)``; e.g.
    kernel lr 0.001 against 0.01 with weight decay 0.05 for the rest on
    CIFAR). This returns a pytree of the structure of ``tree`` whose leaves
    are ``"kernel"`` for the ``kernel`` of every
    [`LongConv`][jaxmethods.longconv.LongConv] and
    [`LearnedButterflyConv`][jaxmethods.longconv.LearnedButterflyConv],
    ``dft_label`` for the learned DFT blocks of the latter (``"kernel"`` by
    default, so two groups suffice; the official ``dft_lr`` is 0.001 with no
    weight decay too, pass e.g. ``dft_label="dft"`` for a third group), and
    ``"default"`` for every other leaf, arrays or not (``D`` and the output
    projection included). Layers are found anywhere in ``tree`` (lists, dicts,
    other modules).

    Pass the function itself, ``optax.multi_transform(transforms,
    longconv_param_labels)``, and optax labels whatever ``init`` and
    ``update`` receive (e.g. ``eqx.filter(model, eqx.is_inexact_array)``).
    A precomputed label tree also works (labels computed from the full model
    fit its filtered parameters: optax ignores labels at ``None`` leaves),
    **except** when the model's top level is a callable ``eqx.Module`` (one
    with ``__call__``): the label tree is then an instance of that class,
    which optax takes for a labelling function; wrap it, ``lambda _:
    labels``, or pass the function.

    Args:
        tree: a model or any pytree containing LongConv layers (or their
            parameters, filtered).
        dft_label: label of the ``blocks_re``/``blocks_im`` leaves of
            ``LearnedButterflyConv``.

    Returns:
        A pytree of strings with the structure of ``tree``.

    Examples:
        >>> import equinox as eqx, jax, jax.numpy as jnp, jax.random as jr, optax
        >>> from jaxmethods.longconv import LongConv, longconv_param_labels
        >>> model = [eqx.nn.Linear(1, 8, key=jr.key(0)), LongConv(8, 32, key=jr.key(1))]
        >>> params = eqx.filter(model, eqx.is_inexact_array)
        >>> labels = longconv_param_labels(params)
        >>> print(labels[1].kernel, labels[1].D, labels[0].weight)
        kernel default default
        >>> tx = optax.multi_transform(
        ...     {
        ...         "kernel": optax.adam(1e-3),
        ...         "default": optax.adamw(1e-2, weight_decay=0.05),
        ...     },
        ...     longconv_param_labels,
        ... )
        >>> state = tx.init(params)

    References:
        Fu, Epstein, Nguyen, Thomas, Zhang, Dao, Rudra and Ré, "Simple
        Hardware-Efficient Long Convolutions for Sequence Modeling", ICML
        2023. arXiv:2302.06646. Official code: HazyResearch/safari
        (``OptimModule.register`` and ``LongConvKernel``).
    """

    def label(node):
        if isinstance(node, LongConv):
            return _relabel(node, {"kernel": "kernel"})
        if isinstance(node, LearnedButterflyConv):
            return _relabel(
                node,
                {"kernel": "kernel", "blocks_re": dft_label, "blocks_im": dft_label},
            )
        return "default"

    return jax.tree.map(label, tree, is_leaf=_is_layer)
