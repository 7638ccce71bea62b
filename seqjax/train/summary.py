"""A Keras-like ``model.summary()``: each layer, its output shape and parameter count."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

from seqjax.train.state import count_params


class LayerRow(NamedTuple):
    name: str
    output_shape: tuple[int | None, ...]
    params: int


class Summary(NamedTuple):
    """The layer rows and the totals; ``str()`` of :func:`format_summary` prints it."""

    rows: list[LayerRow]
    total: int
    trainable: int
    non_trainable: int


def _first_array(value: Any):
    leaves = [v for v in jax.tree.leaves(value) if hasattr(v, "shape")]
    return leaves[0] if leaves else None


def summarize(model: Any, variables: dict, sample: Any) -> Summary:
    """Runs ``model`` on ``sample`` (shapes only) and lists its top-level layers in call order.

    Output shapes are printed with ``None`` for the batch dimension, as Keras does.
    """
    import flax.linen as nn

    calls: list[tuple[str, Any]] = []

    def record(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        module = context.module
        parent = module.parent  # the top module's parent is a Scope, a layer's is the top module
        is_layer = isinstance(parent, nn.Module) and not isinstance(parent.parent, nn.Module)
        if context.method_name == "__call__" and is_layer and module.name not in dict(calls):
            calls.append((module.name, _first_array(out)))
        return out

    def run(v, x):
        with nn.intercept_methods(record):
            return model.apply(v, x)

    jax.eval_shape(run, variables, sample)
    rows = []
    for name, out in calls:
        shape = (None, *out.shape[1:]) if out is not None else ()
        params = sum(count_params(variables[c].get(name, {})) for c in variables)
        rows.append(LayerRow(name, shape, params))
    trainable = count_params(variables.get("params", {}))
    total = sum(count_params(v) for v in variables.values())
    return Summary(rows, total, trainable, total - trainable)


def format_summary(summary: Summary, title: str = "Model") -> str:
    """The summary as Keras prints it."""
    header = f"{'Layer (type)':<28}{'Output Shape':<24}{'Param #':>12}"
    rule = "=" * len(header)
    lines = [f'Model: "{title}"', rule, header, rule]
    for row in summary.rows:
        lines.append(f"{row.name:<28}{str(row.output_shape):<24}{row.params:>12,}")
    lines += [
        rule,
        f"Total params: {summary.total:,}",
        f"Trainable params: {summary.trainable:,}",
        f"Non-trainable params: {summary.non_trainable:,}",
    ]
    return "\n".join(lines)
