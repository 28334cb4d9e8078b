r"""``QuantLinear``: an ``eqx.nn.Linear`` with 4-bit weights, and model-wide swaps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike
from jaxtyping import Array, ArrayLike, Float, PyTree

from ._format import Int4Weight, dequantize
from ._gptq import GPTQHessian, gptq, hessian_from_activations
from ._rtn import quantize_rtn


Method = Literal["rtn", "gptq"]


class QuantLinear(eqx.Module):
    r"""A linear layer $y = x \hat W + b$ whose weight is 4-bit (``Int4Weight``).

    The drop-in quantized counterpart of ``equinox.nn.Linear``: same call
    convention (one input vector of ``in_features``, batch with
    ``jax.vmap``), and it also takes any leading batch axes directly,
    ``(..., in_features)``, which is the fast way to call it: the rows then
    share one pass over the weights in the W4A16 kernel (under ``vmap`` each
    row becomes its own kernel program). The matmul is
    [`jaxmethods.ops.w4a16_matmul`][] in the activations' dtype with a
    float32 accumulator; the bias is added in that dtype.

    Build it with
    [`QuantLinear.from_linear`][jaxmethods.quant.QuantLinear.from_linear],
    or swap every linear layer of a model with
    [`quantize_linears`][jaxmethods.quant.quantize_linears]. The weights are
    frozen for training purposes: gradients flow to the input (QLoRA-style)
    and to the scales and bias, never to the integer codes.

    Attributes:
        weight: the ``Int4Weight`` of shape ``(in_features, out_features)``.
        bias: ``(out_features,)`` or ``None``.
        in_features: input size (static).
        out_features: output size (static).
        impl: the ``w4a16_matmul`` implementation (static; ``"auto"``).

    References:
        Frantar, Castro, Chen, Hoefler and Alistarh, "MARLIN: Mixed-Precision
        Auto-Regressive Parallel Inference on Large Language Models", PPoPP
        2025. arXiv:2408.11743. Frantar, Ashkboos, Hoefler and Alistarh,
        "GPTQ: Accurate Post-Training Quantization for Generative
        Pre-trained Transformers", ICLR 2023. arXiv:2210.17323.
    """

    weight: Int4Weight
    bias: Float[Array, " out"] | None
    in_features: int = eqx.field(static=True)
    out_features: int = eqx.field(static=True)
    impl: str = eqx.field(static=True)

    def __init__(
        self,
        weight: Int4Weight,
        bias: Float[ArrayLike, " out"] | None = None,
        *,
        impl: str = "auto",
    ):
        """Wrap a quantized weight and an optional bias.

        Args:
            weight: ``Int4Weight`` of shape ``(in_features, out_features)``.
            bias: ``(out_features,)`` or ``None``.
            impl: the ``w4a16_matmul`` implementation.

        Raises:
            TypeError: ``weight`` not an ``Int4Weight``.
            ValueError: a bias of the wrong shape.
        """
        if not isinstance(weight, Int4Weight):
            raise TypeError(f"QuantLinear: weight must be an Int4Weight, got {weight}")
        k, n = weight.shape
        if bias is not None:
            bias = jnp.asarray(bias)
            if bias.shape != (n,):
                raise ValueError(
                    f"QuantLinear: bias must have shape ({n},), got {bias.shape}"
                )
        self.weight = weight
        self.bias = bias
        self.in_features, self.out_features = k, n
        self.impl = impl

    @classmethod
    def from_linear(
        cls,
        linear: eqx.nn.Linear,
        *,
        method: Method = "rtn",
        calibration: Float[ArrayLike, "n in"] | Any | None = None,
        group_size: int = 128,
        block_k: int | None = None,
        scale_dtype: DTypeLike = jnp.float16,
        impl: str = "auto",
        **gptq_kwargs: Any,
    ) -> QuantLinear:
        r"""Quantize an ``equinox.nn.Linear`` with RTN or GPTQ.

        Args:
            linear: the layer (``weight`` of shape ``(out, in)``; it is
                transposed to the ``(in, out)`` layout of ``Int4Weight``).
            method: ``"rtn"`` (round to nearest) or ``"gptq"``.
            calibration: for GPTQ, either activations ``(n, in_features)``
                seen by this layer, or a Hessian already accumulated with
                [`hessian_from_activations`][jaxmethods.quant.hessian_from_activations].
            group_size: rows per scale, ``-1`` for one per column.
            block_k: packing tile; default ``min(128, in_features)``.
            scale_dtype: dtype of the stored scales.
            impl: the ``w4a16_matmul`` implementation of the new layer.
            **gptq_kwargs: further keyword arguments of
                [`gptq`][jaxmethods.quant.gptq] (``blocksize``, ``percdamp``,
                ``static_groups``, ``clip``).

        Returns:
            The ``QuantLinear``.

        Raises:
            TypeError: ``linear`` not an ``eqx.nn.Linear``.
            ValueError: an unknown ``method``, GPTQ without ``calibration``,
                or shapes the format can't hold (see ``quantize_rtn``).

        Examples:
            >>> import equinox as eqx, jax.numpy as jnp, jax.random as jr
            >>> from jaxmethods.quant import QuantLinear
            >>> lin = eqx.nn.Linear(256, 64, key=jr.key(0))
            >>> q = QuantLinear.from_linear(lin)
            >>> x = jr.normal(jr.key(1), (256,))
            >>> y = q(x)
            >>> err = jnp.linalg.norm(y - lin(x)) / jnp.linalg.norm(lin(x))
            >>> print(y.shape, bool(err < 0.2))
            (64,) True
        """
        if not isinstance(linear, eqx.nn.Linear):
            raise TypeError(
                f"QuantLinear.from_linear: expected an eqx.nn.Linear, got {linear}"
            )
        w = jnp.asarray(linear.weight)
        if w.ndim != 2:
            raise ValueError(
                "QuantLinear.from_linear: only 2-D weights are supported "
                "(in_features/out_features 'scalar' layers are not)"
            )
        k = w.shape[1]
        block_k = min(128, k) if block_k is None else block_k
        if group_size != -1 and group_size > k:
            group_size = -1
        if method == "rtn":
            qw = quantize_rtn(
                w.T, group_size=group_size, block_k=block_k, scale_dtype=scale_dtype
            )
        elif method == "gptq":
            if calibration is None:
                raise ValueError(
                    "QuantLinear.from_linear: method='gptq' needs calibration "
                    "activations (n, in_features) or their Hessian"
                )
            if isinstance(calibration, (jax.Array, np.ndarray)):
                calibration = hessian_from_activations(calibration)
            qw = gptq(
                w.T,
                calibration,
                group_size=group_size,
                block_k=block_k,
                scale_dtype=scale_dtype,
                **gptq_kwargs,
            )
        else:
            raise ValueError(
                f"QuantLinear.from_linear: method must be 'rtn' or 'gptq', "
                f"got {method!r}"
            )
        return cls(qw, linear.bias, impl=impl)

    def __call__(
        self, x: Float[ArrayLike, "*batch in"], *, key: Any = None
    ) -> Float[Array, "*batch out"]:
        """Apply the layer.

        Args:
            x: ``(in_features,)`` or ``(..., in_features)``, float.
            key: ignored (for ``equinox.nn.Linear`` compatibility).

        Returns:
            ``(..., out_features)`` in ``x``'s dtype.
        """
        del key
        from ..ops import w4a16_matmul  # ops imports quant: import here, not above

        x = jnp.asarray(x)
        y = w4a16_matmul(x, self.weight, impl=self.impl)  # pyright: ignore[reportArgumentType]
        if self.bias is not None:
            b = self.bias.astype(y.dtype)
            y = y + b.reshape((1,) * (y.ndim - 1) + b.shape)
        return y

    def dequantized(self, dtype: DTypeLike = jnp.float32) -> eqx.nn.Linear:
        """The equivalent ``equinox.nn.Linear`` with weight $\\hat W^\\top$.

        Args:
            dtype: dtype of the dense weight.

        Returns:
            An ``eqx.nn.Linear(in_features, out_features)``.
        """
        lin = eqx.nn.Linear(
            self.in_features,
            self.out_features,
            use_bias=self.bias is not None,
            dtype=dtype,
            key=jax.random.key(0),
        )
        lin = eqx.tree_at(lambda m: m.weight, lin, dequantize(self.weight, dtype).T)
        if self.bias is not None:
            lin = eqx.tree_at(lambda m: m.bias, lin, self.bias.astype(dtype))
        return lin


def _is_linear(x) -> bool:
    return isinstance(x, eqx.nn.Linear)


def quantize_linears(
    model: PyTree[Any],
    *,
    method: Method = "rtn",
    forward: Callable[[PyTree[Any], Array], Any] | None = None,
    calibration: ArrayLike | None = None,
    where: Callable[[eqx.nn.Linear], bool] | None = None,
    **kwargs: Any,
) -> PyTree[Any]:
    r"""Replace every (selected) ``equinox.nn.Linear`` in a model by a ``QuantLinear``.

    RTN quantizes each layer on its own. GPTQ needs the inputs each layer
    sees: give ``forward(model, calibration)``, a function that runs the
    model on a calibration batch (it may use ``jax.vmap`` and ``jax.jit``).
    The layers are then quantized one after another, in pytree order, each
    calibrated on the activations produced by the model whose earlier
    layers are already quantized (the sequential scheme of the GPTQ paper);
    the activations are gathered by a host callback (one call per batch,
    also under ``jax.vmap``) into a float64 running Hessian.

    Args:
        model: any pytree holding ``eqx.nn.Linear`` layers.
        method: ``"rtn"`` or ``"gptq"``.
        forward: for GPTQ, ``forward(model, calibration)``.
        calibration: for GPTQ, the calibration inputs passed to ``forward``.
        where: predicate choosing the layers to quantize; default: every
            layer whose ``in_features`` is a multiple of 8 (the format's
            minimum), others stay dense.
        **kwargs: passed to
            [`QuantLinear.from_linear`][jaxmethods.quant.QuantLinear.from_linear]
            (``group_size``, ``block_k``, ``scale_dtype``, ``impl``, GPTQ
            options).

    Returns:
        The model with ``QuantLinear`` layers in place of the selected
        ``Linear`` layers.

    Raises:
        ValueError: an unknown ``method``, or GPTQ without ``forward`` and
            ``calibration``.

    Examples:
        >>> import equinox as eqx, jax.random as jr
        >>> from jaxmethods.quant import QuantLinear, quantize_linears
        >>> mlp = eqx.nn.MLP(64, 10, 128, depth=2, key=jr.key(0))
        >>> q = quantize_linears(mlp)
        >>> [type(layer).__name__ for layer in q.layers]
        ['QuantLinear', 'QuantLinear', 'QuantLinear']
        >>> q(jr.normal(jr.key(1), (64,))).shape
        (10,)

    References:
        Frantar, Ashkboos, Hoefler and Alistarh, "GPTQ: Accurate Post-Training
        Quantization for Generative Pre-trained Transformers", ICLR 2023.
        arXiv:2210.17323.
    """
    if method not in ("rtn", "gptq"):
        raise ValueError(
            f"quantize_linears: method must be 'rtn' or 'gptq', got {method!r}"
        )
    if method == "gptq" and (forward is None or calibration is None):
        raise ValueError(
            "quantize_linears: method='gptq' needs forward(model, calibration) and "
            "calibration inputs"
        )

    def selected(lin) -> bool:
        if where is not None:
            return bool(where(lin))
        return lin.weight.ndim == 2 and lin.weight.shape[1] % 8 == 0

    leaves = jax.tree.leaves(model, is_leaf=_is_linear)
    count = sum(1 for leaf in leaves if _is_linear(leaf) and selected(leaf))
    for _ in range(count):  # each pass replaces the first dense selected layer
        model = _quantize_first(model, method, forward, calibration, selected, kwargs)
    return model


def _first_dense(model, selected):
    """An accessor for ``eqx.tree_at``: the first selected dense Linear.

    The position is found on the real model; inside ``tree_at`` the arrays
    are wrapped, so the accessor indexes rather than inspects.
    """
    leaves = jax.tree.leaves(model, is_leaf=_is_linear)
    idx = next(i for i, x in enumerate(leaves) if _is_linear(x) and selected(x))

    def get(m):
        return jax.tree.leaves(m, is_leaf=_is_linear)[idx]

    return get


class _Recorder(eqx.Module):
    """A Linear that also sends its inputs to a host-side accumulator.

    The host call is a ``pure_callback`` with ``vmap_method="expand_dims"``:
    under ``jax.vmap`` it receives the whole batch in one call (a
    ``debug.callback`` would be unrolled into one call per row, which made
    calibration traces grow with the number of rows). Its all-zero result
    is added to the output so that it is not removed as dead code.
    """

    linear: eqx.nn.Linear
    sink: Callable = eqx.field(static=True)

    def __call__(self, x, *, key=None):
        y = self.linear(x, key=key)
        shape = jax.ShapeDtypeStruct(x.shape[:-1], y.dtype)
        zero = jax.pure_callback(self.sink, shape, x, vmap_method="expand_dims")
        return y + zero[..., None]


def _quantize_first(model, method, forward, calibration, selected, kwargs):
    get = _first_dense(model, selected)
    lin = get(model)
    if method == "rtn":
        return eqx.tree_at(get, model, QuantLinear.from_linear(lin, **kwargs))
    k = lin.weight.shape[1]
    acc = {"xtx": np.zeros((k, k)), "n": 0}

    def sink(x):
        x = np.asarray(x)
        rows = np.asarray(x, np.float64).reshape(-1, k)
        acc["xtx"] += rows.T @ rows
        acc["n"] += rows.shape[0]
        return np.zeros(x.shape[:-1], lin.weight.dtype)

    probe = eqx.tree_at(get, model, _Recorder(lin, sink))
    jax.block_until_ready(forward(probe, jnp.asarray(calibration)))
    jax.effects_barrier()
    if acc["n"] == 0:
        raise ValueError(
            "quantize_linears: forward(model, calibration) never called the layer "
            f"{lin} being calibrated"
        )
    hess = GPTQHessian(
        jnp.asarray(2.0 * acc["xtx"] / acc["n"]), jnp.asarray(acc["n"], jnp.int32)
    )
    new = QuantLinear.from_linear(lin, method="gptq", calibration=hess, **kwargs)
    return eqx.tree_at(get, model, new)
