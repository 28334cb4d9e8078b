"""A LongConv sequence classifier: the official standalone ``LongConvModel``."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jax.typing import DTypeLike
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ._layers import LongConv, _promote


class LongConvModel(eqx.Module):
    r"""A stack of residual LongConv blocks with mean pooling: a sequence classifier.

    The backbone of the official ``standalone_long_convs.py``
    (``LongConvModel``), for one sequence $x$ of shape ``(L_in, d_input)``:

    1. ``encoder``: a position-wise ``Linear(d_input -> d_model)``, giving
       $u$ of shape ``(d_model, L_in)``;
    2. for each of the ``n_layers`` blocks, $z = $ ``LongConv``$(u)$ (or of
       ``LayerNorm``$(u)$ with ``prenorm``), channel dropout on $z$ (whole
       channels, the official ``Dropout1d``), $u \leftarrow u + z$, then
       ``LayerNorm`` over the features at each position (post-norm, the
       official default);
    3. the mean over positions and ``decoder``, a ``Linear(d_model ->
       d_output)``.

    Batch with ``jax.vmap``; passing the same ``key`` to every sequence
    (``in_axes=None``) draws one kernel-dropout mask per batch, as the
    official code does (one kernel per forward pass), and shares the other
    dropout masks too.

    Args:
        d_input: input features per position.
        d_output: number of outputs (classes).
        d_model: channels ``H`` of the LongConv layers.
        n_layers: number of residual LongConv blocks.
        L: maximum sequence length.
        dropout: dropout rate inside each LongConv (after the GELU) and of the
            channel dropout on each block's output (official 0.1 in the
            standalone script; 0 here by default).
        prenorm: normalise before each block instead of after.
        dtype: parameter dtype (as ``equinox.nn``).
        key: PRNG key for the initialisation.
        **conv_kwargs: further keyword arguments of
            [`LongConv`][jaxmethods.longconv.LongConv] (``channels``, ``lam``,
            ``kernel_dropout``, ``bidirectional``, ``smooth``,
            ``smooth_window``).

    Attributes:
        encoder: the input ``Linear(d_input -> d_model)``.
        layers: the LongConv layers.
        norms: one ``LayerNorm(d_model)`` per block.
        decoder: the output ``Linear(d_model -> d_output)``.
        inference: default for ``__call__``'s ``inference``.

    Raises:
        ValueError: non-positive sizes or a dropout rate outside ``[0, 1)``,
            and whatever ``LongConv`` raises for ``conv_kwargs``.

    Examples:
        >>> import jax, jax.random as jr
        >>> from jaxmethods.longconv import LongConvModel
        >>> model = LongConvModel(1, 10, d_model=16, n_layers=2, L=64, key=jr.key(0))
        >>> x = jr.normal(jr.key(1), (8, 64, 1))  # a batch of 8 sequences
        >>> logits = jax.vmap(lambda s: model(s, key=jr.key(2)))(x)
        >>> logits.shape
        (8, 10)

    References:
        Fu, Epstein, Nguyen, Thomas, Zhang, Dao, Rudra and Ré, "Simple
        Hardware-Efficient Long Convolutions for Sequence Modeling", ICML
        2023. arXiv:2302.06646. Official code: HazyResearch/safari,
        ``standalone_long_convs.py``.
    """

    encoder: eqx.nn.Linear
    layers: tuple[LongConv, ...]
    norms: tuple[eqx.nn.LayerNorm, ...]
    decoder: eqx.nn.Linear
    inference: bool
    dropout: float = eqx.field(static=True)
    prenorm: bool = eqx.field(static=True)

    def __init__(
        self,
        d_input: int,
        d_output: int,
        *,
        d_model: int,
        n_layers: int,
        L: int,
        dropout: float = 0.0,
        prenorm: bool = False,
        dtype: DTypeLike | None = None,
        key: PRNGKeyArray,
        **conv_kwargs: Any,
    ):
        for name, v in (
            ("d_input", d_input),
            ("d_output", d_output),
            ("d_model", d_model),
            ("n_layers", n_layers),
        ):
            if not isinstance(v, int) or v < 1:
                raise ValueError(
                    f"LongConvModel: {name} must be an int >= 1, got {v!r}"
                )
        if not 0 <= dropout < 1:
            raise ValueError(
                f"LongConvModel: dropout must be in [0, 1), got {dropout!r}"
            )
        keys = jr.split(key, n_layers + 2)
        self.encoder = eqx.nn.Linear(d_input, d_model, dtype=dtype, key=keys[0])
        self.layers = tuple(
            LongConv(d_model, L, dropout=dropout, dtype=dtype, key=k, **conv_kwargs)
            for k in keys[1:-1]
        )
        self.norms = tuple(
            eqx.nn.LayerNorm(d_model, dtype=dtype) for _ in range(n_layers)
        )
        self.decoder = eqx.nn.Linear(d_model, d_output, dtype=dtype, key=keys[-1])
        self.inference = False
        self.dropout = float(dropout)
        self.prenorm = bool(prenorm)

    def __call__(
        self,
        x: Float[ArrayLike, "L_in d_input"],
        *,
        key: PRNGKeyArray | None = None,
        inference: bool | None = None,
    ) -> Float[Array, " d_output"]:
        """Classify one sequence.

        Args:
            x: input, shape ``(L_in, d_input)`` with ``L_in <= L``.
            key: PRNG key for the dropouts; needed in training mode when a
                dropout rate is positive.
            inference: if true, no dropout; ``None`` uses the field.

        Returns:
            The ``(d_output,)`` outputs (logits), in the promotion of the
            input's and the parameters' dtypes.

        Raises:
            TypeError: non-float ``x``.
            ValueError: ``x`` not of shape ``(L_in, d_input)``, ``L_in > L``,
                or a missing ``key`` in training mode.
        """
        inference = self.inference if inference is None else inference
        x = jnp.asarray(x)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise TypeError(
                f"LongConvModel: x must be a real float array, got {x.dtype}"
            )
        d_in = self.encoder.in_features
        if x.ndim != 2 or x.shape[1] != d_in:
            raise ValueError(
                f"LongConvModel: x must have shape (L_in, {d_in}), got {x.shape}; "
                "use jax.vmap for a batch"
            )
        n = len(self.layers)
        keys = [None] * (2 * n) if key is None else list(jr.split(key, 2 * n))
        dtype = _promote(x.dtype, self.encoder.weight.dtype)
        w = self.encoder.weight.astype(dtype)
        u = jnp.matmul(w, x.astype(dtype).T)  # (d_model, L_in)
        if self.encoder.bias is not None:
            u = u + self.encoder.bias.astype(dtype)[:, None]
        for i, (layer, norm) in enumerate(zip(self.layers, self.norms, strict=True)):
            z = _norm(norm, u) if self.prenorm else u
            z = layer(z, key=keys[2 * i], inference=inference)
            if not inference and self.dropout > 0:
                dkey = keys[2 * i + 1]
                if dkey is None:
                    raise ValueError(
                        "LongConvModel: a key is needed in training mode with "
                        f"dropout={self.dropout}; pass key=... or inference=True"
                    )
                keep = jr.bernoulli(dkey, 1.0 - self.dropout, (z.shape[0], 1))
                scale = jnp.asarray(1.0 / (1.0 - self.dropout), z.dtype)
                z = jnp.where(keep, z * scale, jnp.zeros((), z.dtype))
            u = u + z
            if not self.prenorm:
                u = _norm(norm, u)
        pooled = jnp.mean(u, axis=-1)
        out = jnp.matmul(self.decoder.weight.astype(u.dtype), pooled)
        if self.decoder.bias is not None:
            out = out + self.decoder.bias.astype(u.dtype)
        return out


def _norm(norm: eqx.nn.LayerNorm, u: Array) -> Array:
    """LayerNorm over the features (axis 0) at every position, in ``u``'s dtype."""
    return jax.vmap(norm, in_axes=1, out_axes=1)(u).astype(u.dtype)
