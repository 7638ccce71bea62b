"""Pure recurrent cells: Elman (simple RNN), LSTM and GRU.

A cell is a factory that returns a :class:`Cell`, a NamedTuple of three pure
functions, in the manner of optax's ``GradientTransformation``::

    cell = lstm(hidden_size=32)
    params = cell.init(key, input_size=8)      # LSTMParams
    carry = cell.initial_carry(batch_shape=())  # LSTMCarry(h, c), zeros
    carry, y = cell.apply(params, carry, x)     # one step, lax.scan's body order

Hyperparameters live in the closure, arrays are arguments. ``apply`` accepts any
leading batch dimensions: ``x: [..., I]``, carry fields ``[..., H]``.

Weight layouts, gate order and initialisers follow Keras so Keras weights load
directly and parameter counts match ``model.summary()``.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array
Activation = Callable[[Array], Array]

__all__ = [
    "Cell",
    "InputSplit",
    "ElmanParams",
    "ElmanCarry",
    "LSTMParams",
    "LSTMCarry",
    "GRUParams",
    "GRUCarry",
    "elman",
    "lstm",
    "gru",
    "MinGRUParams",
    "MinLSTMParams",
    "MinCarry",
    "min_gru",
    "min_lstm",
    "ACTIVATIONS",
    "input_size_of",
]


class Cell(NamedTuple):
    """A recurrent cell as three pure functions.

    Attributes:
      init: ``init(key, input_size, dtype=float32) -> params``.
      initial_carry: ``initial_carry(batch_shape=(), dtype=float32) -> carry``,
        all zeros.
      apply: ``apply(params, carry, x) -> (carry, y)`` for ``x: [..., I]``. The
        built-in Elman, LSTM and GRU cells also take ``recurrent_mask=`` (``[..., H]``):
        ``h_{t-1}`` is multiplied by it where it enters the recurrent kernel, and only
        there, as Keras's ``recurrent_dropout`` does.
      coefficients: ``None`` for cells whose update is nonlinear in the carry. For
        cells linear in it (``h_t = a_t * h_{t-1} + b_t``, as ``min_gru`` and
        ``min_lstm``), ``coefficients(params, xs) -> (a, b)`` for a whole sequence
        ``xs [T, ..., I]`` (``a, b [T, ..., H]``), so :func:`seqjax.scan` can run it
        as a log-depth ``lax.associative_scan``.
      split: ``None``, or the step split at its input projection
        (:class:`InputSplit`), for callers that project inputs in bulk, such as
        :func:`seqjax.scan_tokens` projecting a whole embedding table at once.
    """

    init: Callable[..., Any]
    initial_carry: Callable[..., Any]
    apply: Callable[[Any, Any, Array], tuple[Any, Array]]
    coefficients: Callable[[Any, Array], tuple[Array, Array]] | None = None
    split: InputSplit | None = None


class InputSplit(NamedTuple):
    """A step as ``recur(params, carry, project(params, x))``, equal to ``apply`` up to
    float rounding (the bias is added before the recurrent term instead of after it).

    Attributes:
      project: ``project(params, x [..., I]) -> a [..., G]``, the input's part of the
        pre-activations (``x K + b``; ``G`` is ``H``, ``4H`` or ``3H``). Linear in ``x``,
        so it can run once over every input, or over an embedding table's rows.
      recur: ``recur(params, carry, a) -> (carry, y)``, the rest of the step.
    """

    project: Callable[[Any, Array], Array]
    recur: Callable[[Any, Any, Array], tuple[Any, Array]]


class ElmanParams(NamedTuple):
    """Simple RNN weights: ``kernel [I, H]``, ``recurrent_kernel [H, H]``, ``bias [H]``."""

    kernel: Array
    recurrent_kernel: Array
    bias: Array


class ElmanCarry(NamedTuple):
    """Simple RNN state: ``h [..., H]``."""

    h: Array


class LSTMParams(NamedTuple):
    """LSTM weights, gates ordered ``i, f, c, o`` along the last axis.

    ``kernel [I, 4H]``, ``recurrent_kernel [H, 4H]``, ``bias [4H]``.
    """

    kernel: Array
    recurrent_kernel: Array
    bias: Array


class LSTMCarry(NamedTuple):
    """LSTM state: hidden ``h [..., H]`` and cell ``c [..., H]`` (in that order)."""

    h: Array
    c: Array


class GRUParams(NamedTuple):
    """GRU weights (Keras ``reset_after=True``), gates ordered ``z, r, h``.

    ``kernel [I, 3H]``, ``recurrent_kernel [H, 3H]``, ``bias [2, 3H]`` where
    ``bias[0]`` is the input bias and ``bias[1]`` the recurrent bias.
    """

    kernel: Array
    recurrent_kernel: Array
    bias: Array


class GRUCarry(NamedTuple):
    """GRU state: ``h [..., H]``."""

    h: Array


ACTIVATIONS: dict[str, Activation] = {
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "relu": jax.nn.relu,
    "hard_sigmoid": jax.nn.hard_sigmoid,
    "linear": lambda x: x,
    "gelu": jax.nn.gelu,
    "elu": jax.nn.elu,
    "swish": jax.nn.swish,
}

_glorot_uniform = jax.nn.initializers.glorot_uniform()
_orthogonal = jax.nn.initializers.orthogonal()


def _resolve_activation(activation: str | Activation, argname: str) -> Activation:
    if callable(activation):
        return activation
    if isinstance(activation, str) and activation in ACTIVATIONS:
        return ACTIVATIONS[activation]
    raise ValueError(
        f"{argname}={activation!r} is not a known activation; expected a callable or "
        f"one of {sorted(ACTIVATIONS)}."
    )


def _check_hidden_size(hidden_size: Any) -> int:
    if isinstance(hidden_size, bool) or not isinstance(hidden_size, int) or hidden_size < 1:
        raise ValueError(
            f"hidden_size must be a positive int; got {hidden_size!r}. "
            "Pass the number of recurrent units, e.g. hidden_size=32."
        )
    return hidden_size


def _check_input_size(input_size: Any) -> int:
    if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 1:
        raise ValueError(
            f"input_size must be a positive int (the feature size F of x: [..., F]); "
            f"got {input_size!r}."
        )
    return input_size


def input_size_of(params: Any) -> int:
    """The feature size ``I`` a cell's params expect (``kernel.shape[0]``)."""
    return params.kernel.shape[0]


def _check_step(params: Any, carry: Any, x: Array, carry_type: type) -> None:
    """Static checks of one step's arguments; free under jit (shapes are static)."""
    if not isinstance(carry, carry_type):
        raise TypeError(
            f"carry must be a {carry_type.__name__}{carry_type._fields}; got "
            f"{type(carry).__name__}. Build it with cell.initial_carry(batch_shape)."
        )
    expected = input_size_of(params)
    if jnp.ndim(x) < 1 or jnp.shape(x)[-1] != expected:
        raise ValueError(
            f"x must have shape [..., {expected}] to match params.kernel "
            f"{tuple(params.kernel.shape)}; got shape {tuple(jnp.shape(x))}. "
            "Check the feature axis is last or re-init the params with the right input_size."
        )
    hidden = params.recurrent_kernel.shape[0]
    for name, value in zip(carry._fields, carry):
        if jnp.shape(value)[-1:] != (hidden,):
            raise ValueError(
                f"carry.{name} must have shape [..., {hidden}]; got {tuple(jnp.shape(value))}. "
                "Build the carry with cell.initial_carry(batch_shape) of the same cell."
            )


def _masked(h: Array, mask: Array | None) -> Array:
    """``h`` as the recurrent kernel reads it: times the recurrent-dropout mask, if any."""
    return h if mask is None else h * mask


def _project(params: Any, x: Array) -> Array:
    """The input's part of an Elman or LSTM step's pre-activations: ``x K + b``."""
    return x @ params.kernel + params.bias


def _zeros_carry(carry_type: type, hidden_size: int) -> Callable[..., Any]:
    def initial_carry(batch_shape: tuple[int, ...] = (), dtype: Any = jnp.float32) -> Any:
        shape = (*tuple(batch_shape), hidden_size)
        return carry_type(*(jnp.zeros(shape, dtype) for _ in carry_type._fields))

    return initial_carry


def elman(hidden_size: int, activation: str | Activation = "tanh") -> Cell:
    """The simple (Elman) RNN cell, Keras ``SimpleRNN``.

    ``h' = act(x K + h R + b)``; the output is ``h'``.

    Args:
      hidden_size: number of units ``H``.
      activation: name from :data:`ACTIVATIONS` or a callable; ``tanh`` by default.

    Shapes: ``x [..., I]``, ``h [..., H]``; params ``kernel [I, H]``,
    ``recurrent_kernel [H, H]``, ``bias [H]`` (glorot-uniform, orthogonal, zeros).
    """
    hidden_size = _check_hidden_size(hidden_size)
    act = _resolve_activation(activation, "activation")

    def init(key: Array, input_size: int, dtype: Any = jnp.float32) -> ElmanParams:
        input_size = _check_input_size(input_size)
        k1, k2 = jax.random.split(key)
        return ElmanParams(
            kernel=_glorot_uniform(k1, (input_size, hidden_size), dtype),
            recurrent_kernel=_orthogonal(k2, (hidden_size, hidden_size), dtype),
            bias=jnp.zeros((hidden_size,), dtype),
        )

    def apply(params: ElmanParams, carry: ElmanCarry, x: Array, *, recurrent_mask: Array | None = None):
        _check_step(params, carry, x, ElmanCarry)
        h = act(x @ params.kernel + _masked(carry.h, recurrent_mask) @ params.recurrent_kernel + params.bias)
        return ElmanCarry(h), h

    def recur(params: ElmanParams, carry: ElmanCarry, a: Array):
        h = act(a + carry.h @ params.recurrent_kernel)
        return ElmanCarry(h), h

    return Cell(init, _zeros_carry(ElmanCarry, hidden_size), apply, split=InputSplit(_project, recur))


def lstm(
    hidden_size: int,
    activation: str | Activation = "tanh",
    recurrent_activation: str | Activation = "sigmoid",
    unit_forget_bias: bool = True,
) -> Cell:
    """The LSTM cell, Keras ``LSTM`` (gates ``i, f, c, o``).

    With ``z = x K + h R + b`` split into four ``[..., H]`` blocks ``z_i, z_f, z_c, z_o``::

        i = σ(z_i)   f = σ(z_f)   o = σ(z_o)
        c' = f * c + i * act(z_c)
        h' = o * act(c')

    ``σ`` is ``recurrent_activation`` (sigmoid) and ``act`` is ``activation`` (tanh).
    The output is ``h'``.

    Args:
      hidden_size: number of units ``H``.
      activation: cell and output activation.
      recurrent_activation: gate activation.
      unit_forget_bias: initialise the forget-gate bias to 1 (Keras default).

    Shapes: ``x [..., I]``; params ``kernel [I, 4H]`` (glorot-uniform),
    ``recurrent_kernel [H, 4H]`` (orthogonal), ``bias [4H]`` (zeros, forget slice 1).
    """
    hidden_size = _check_hidden_size(hidden_size)
    act = _resolve_activation(activation, "activation")
    gate = _resolve_activation(recurrent_activation, "recurrent_activation")

    def init(key: Array, input_size: int, dtype: Any = jnp.float32) -> LSTMParams:
        input_size = _check_input_size(input_size)
        k1, k2 = jax.random.split(key)
        bias = jnp.zeros((4 * hidden_size,), dtype)
        if unit_forget_bias:
            bias = bias.at[hidden_size : 2 * hidden_size].set(1.0)
        return LSTMParams(
            kernel=_glorot_uniform(k1, (input_size, 4 * hidden_size), dtype),
            recurrent_kernel=_orthogonal(k2, (hidden_size, 4 * hidden_size), dtype),
            bias=bias,
        )

    def update(z: Array, c: Array) -> tuple[LSTMCarry, Array]:
        z_i, z_f, z_c, z_o = jnp.split(z, 4, axis=-1)
        c = gate(z_f) * c + gate(z_i) * act(z_c)
        h = gate(z_o) * act(c)
        return LSTMCarry(h, c), h

    def apply(params: LSTMParams, carry: LSTMCarry, x: Array, *, recurrent_mask: Array | None = None):
        _check_step(params, carry, x, LSTMCarry)
        return update(x @ params.kernel + _masked(carry.h, recurrent_mask) @ params.recurrent_kernel + params.bias,
                      carry.c)

    def recur(params: LSTMParams, carry: LSTMCarry, a: Array):
        return update(a + carry.h @ params.recurrent_kernel, carry.c)

    # cuDNN's LSTM computes exactly this cell with the default activations (seqjax.cudnn).
    apply.cudnn_compatible = activation in ("tanh", jnp.tanh) and recurrent_activation in ("sigmoid", jax.nn.sigmoid)
    return Cell(init, _zeros_carry(LSTMCarry, hidden_size), apply, split=InputSplit(_project, recur))


def gru(
    hidden_size: int,
    activation: str | Activation = "tanh",
    recurrent_activation: str | Activation = "sigmoid",
) -> Cell:
    """The GRU cell, Keras ``GRU(reset_after=True)`` (gates ``z, r, h``).

    With input part ``a = x K + b_in`` and recurrent part ``u = h R + b_rec``,
    each split into ``z, r, h`` blocks of ``[..., H]``::

        z = σ(a_z + u_z)    r = σ(a_r + u_r)
        ĥ = act(a_h + r * u_h)
        h' = z * h + (1 - z) * ĥ

    The output is ``h'``.

    Shapes: ``x [..., I]``; params ``kernel [I, 3H]`` (glorot-uniform),
    ``recurrent_kernel [H, 3H]`` (orthogonal), ``bias [2, 3H]`` (zeros; row 0 input,
    row 1 recurrent).
    """
    hidden_size = _check_hidden_size(hidden_size)
    act = _resolve_activation(activation, "activation")
    gate = _resolve_activation(recurrent_activation, "recurrent_activation")

    def init(key: Array, input_size: int, dtype: Any = jnp.float32) -> GRUParams:
        input_size = _check_input_size(input_size)
        k1, k2 = jax.random.split(key)
        return GRUParams(
            kernel=_glorot_uniform(k1, (input_size, 3 * hidden_size), dtype),
            recurrent_kernel=_orthogonal(k2, (hidden_size, 3 * hidden_size), dtype),
            bias=jnp.zeros((2, 3 * hidden_size), dtype),
        )

    def project(params: GRUParams, x: Array) -> Array:
        return x @ params.kernel + params.bias[0]

    def recur(params: GRUParams, carry: GRUCarry, a: Array, *, recurrent_mask: Array | None = None):
        a_z, a_r, a_h = jnp.split(a, 3, axis=-1)
        recurrent = _masked(carry.h, recurrent_mask) @ params.recurrent_kernel + params.bias[1]
        u_z, u_r, u_h = jnp.split(recurrent, 3, axis=-1)
        z = gate(a_z + u_z)
        r = gate(a_r + u_r)
        h_hat = act(a_h + r * u_h)
        h = z * carry.h + (1.0 - z) * h_hat
        return GRUCarry(h), h

    def apply(params: GRUParams, carry: GRUCarry, x: Array, *, recurrent_mask: Array | None = None):
        _check_step(params, carry, x, GRUCarry)
        return recur(params, carry, project(params, x), recurrent_mask=recurrent_mask)

    return Cell(init, _zeros_carry(GRUCarry, hidden_size), apply, split=InputSplit(project, recur))


# --- parallel-scan cells (Feng et al. 2024, "Were RNNs All We Needed?") -------------


class MinGRUParams(NamedTuple):
    """minGRU weights: ``kernel [I, 2H]`` and ``bias [2H]``, blocks ``z, h``."""

    kernel: Array
    bias: Array


class MinLSTMParams(NamedTuple):
    """minLSTM weights: ``kernel [I, 3H]`` and ``bias [3H]``, blocks ``f, i, h``."""

    kernel: Array
    bias: Array


class MinCarry(NamedTuple):
    """minGRU / minLSTM state: ``h [..., H]``."""

    h: Array


def _check_min_step(params: Any, carry: Any, x: Array, blocks: int) -> None:
    if not isinstance(carry, MinCarry):
        raise TypeError(
            f"carry must be a MinCarry(h); got {type(carry).__name__}. "
            "Build it with cell.initial_carry(batch_shape)."
        )
    expected, hidden = params.kernel.shape[0], params.kernel.shape[1] // blocks
    if jnp.ndim(x) < 1 or jnp.shape(x)[-1] != expected:
        raise ValueError(
            f"x must have shape [..., {expected}] to match params.kernel "
            f"{tuple(params.kernel.shape)}; got shape {tuple(jnp.shape(x))}. "
            "Check the feature axis is last or re-init the params with the right input_size."
        )
    if jnp.shape(carry.h)[-1:] != (hidden,):
        raise ValueError(
            f"carry.h must have shape [..., {hidden}]; got {tuple(jnp.shape(carry.h))}. "
            "Build the carry with cell.initial_carry(batch_shape) of the same cell."
        )


def _min_cell(hidden_size: int, blocks: int, params_type: type, gates: Callable, bias_init: Callable) -> Cell:
    """A cell with ``h' = a * h + b`` where ``(a, b) = gates(x K + bias)``."""
    hidden_size = _check_hidden_size(hidden_size)

    def init(key: Array, input_size: int, dtype: Any = jnp.float32) -> Any:
        input_size = _check_input_size(input_size)
        return params_type(
            kernel=_glorot_uniform(key, (input_size, blocks * hidden_size), dtype),
            bias=bias_init(hidden_size, dtype),
        )

    def coefficients(params: Any, xs: Array) -> tuple[Array, Array]:
        return gates(jnp.split(xs @ params.kernel + params.bias, blocks, axis=-1))

    def apply(params: Any, carry: MinCarry, x: Array) -> tuple[MinCarry, Array]:
        _check_min_step(params, carry, x, blocks)
        a, b = coefficients(params, x)
        h = a * carry.h + b
        return MinCarry(h), h

    return Cell(init, _zeros_carry(MinCarry, hidden_size), apply, coefficients)


def min_gru(hidden_size: int) -> Cell:
    """minGRU: a GRU whose gates read only the input, so training is a parallel scan.

    With ``x K + b`` split into ``[..., H]`` blocks ``k_z, k_h``::

        z = σ(k_z)    h̃ = k_h
        h' = (1 - z) * h + z * h̃

    The output is ``h'``. Being linear in ``h``, a whole sequence runs as a
    log-depth ``lax.associative_scan`` in :func:`seqjax.scan` (``parallel=None``
    picks it); ``apply`` is the same update one step at a time.

    Shapes: ``x [..., I]``; params ``kernel [I, 2H]`` (glorot-uniform), ``bias [2H]`` (zeros).
    """

    def gates(blocks):
        k_z, k_h = blocks
        z = jax.nn.sigmoid(k_z)
        return 1.0 - z, z * k_h

    return _min_cell(hidden_size, 2, MinGRUParams, gates, lambda h, dtype: jnp.zeros((2 * h,), dtype))


def min_lstm(hidden_size: int) -> Cell:
    """minLSTM: forget and input gates read only the input and are normalised.

    With ``x K + b`` split into ``[..., H]`` blocks ``k_f, k_i, k_h``::

        f = σ(k_f)   i = σ(k_i)   h̃ = k_h
        h' = f / (f + i) * h + i / (f + i) * h̃

    The output is ``h'``; like :func:`min_gru` it runs as a parallel scan.

    Shapes: ``x [..., I]``; params ``kernel [I, 3H]`` (glorot-uniform), ``bias [3H]``
    (zeros, forget block 1 as in the LSTM's unit forget bias).
    """

    def gates(blocks):
        k_f, k_i, k_h = blocks
        f, i = jax.nn.sigmoid(k_f), jax.nn.sigmoid(k_i)
        total = f + i
        return f / total, (i / total) * k_h

    def bias(h, dtype):
        return jnp.zeros((3 * h,), dtype).at[:h].set(1.0)

    return _min_cell(hidden_size, 3, MinLSTMParams, gates, bias)
