"""Per-layer tables like the lecture slides: output shape, parameters, activation memory per
image and multiply-adds (seed 004: VGG16 holds about 15.2M activations, 61 MB at float32, per
image in a forward pass; most memory sits in the early convolutions, most parameters in the late
fully connected layers).

Conventions, stated once:
* ``activations`` is the number of output values of a layer for one image. Layers whose output
  can share its input's buffer (activations, dropout, flatten/reshape: in-place or views in
  Caffe/PyTorch) are listed but add no memory, so VGG16 at 224x224 totals 15.2M values
  (input + 13 convolutions + 5 pools + 3 FC), as on the slide.
* ``mult_adds`` counts the multiply-accumulates of convolutions (transposed and depthwise
  included), fully connected and maxout layers; pooling, normalisation and element-wise layers
  are left out (negligible next to them).
* ``receptive_field`` is the side (per spatial axis) of the input window one output value of
  the layer sees (seed 004: three stacked 3x3 convolutions see 7x7), from the kernel sizes,
  strides and dilations along the path, not clipped to the image (VGG16's conv5_3 sees 212).
  Where branches merge (Add, Concatenate) the largest field is kept; after a layer that mixes
  every position (Flatten, Dense on flat inputs, global pooling, a recurrent layer's last
  state) it is the whole input (``all``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import keras

BYTES_PER_VALUE = 4  # float32

#: Layers whose output need not be stored apart from their input.
IN_PLACE = (
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.Softmax,
    keras.layers.Dropout,
    keras.layers.Flatten,
    keras.layers.Reshape,
)


@dataclass(frozen=True)
class LayerRow:
    """One line of the table (per image: batch dimension dropped)."""

    name: str
    kind: str
    output_shape: tuple[int | None, ...]
    params: int
    activations: int | None
    memory_bytes: int
    mult_adds: int
    #: input window side per spatial axis; None = the whole input, () = no spatial axes
    receptive_field: tuple[int | float, ...] | None = ()


@dataclass(frozen=True)
class Summary:
    """Rows plus totals for a whole model."""

    name: str
    rows: list[LayerRow]
    params: int
    trainable_params: int | None
    activations: int = field(default=0)
    memory_bytes: int = field(default=0)
    mult_adds: int = field(default=0)


def _prod(shape: Sequence[int | None]) -> int | None:
    return None if any(d is None for d in shape) else math.prod(shape)


def _single(tensor_or_list: Any) -> Any:
    return tensor_or_list[0] if isinstance(tensor_or_list, list | tuple) else tensor_or_list


def mult_adds(layer: keras.layers.Layer) -> int:
    """Multiply-accumulates of ``layer`` for one image (0 for layers without weights to apply)."""
    from kerasnets.blocks.activations import Maxout

    out = tuple(_single(layer.output).shape[1:])
    kernel = getattr(layer, "kernel", None)
    if kernel is None or _prod(out) is None:
        return 0
    kshape = tuple(kernel.shape)
    if isinstance(
        layer, keras.layers.Conv2DTranspose | keras.layers.Conv1DTranspose | keras.layers.Conv3DTranspose
    ):
        spatial_in = _prod(tuple(_single(layer.input).shape[1:-1])) or 0
        return spatial_in * math.prod(kshape)  # every input value meets every kernel weight once
    if isinstance(layer, keras.layers.DepthwiseConv2D | keras.layers.DepthwiseConv1D):
        return _prod(out[:-1]) * math.prod(kshape)
    if isinstance(layer, keras.layers.Conv1D | keras.layers.Conv2D | keras.layers.Conv3D):
        return _prod(out[:-1]) * math.prod(kshape)  # kernel = k_h * k_w * C_in/groups * C_out
    if isinstance(layer, keras.layers.Dense | Maxout):
        return _prod(out[:-1]) * math.prod(kshape)
    return 0


#: (receptive field, jump) per spatial axis; None once every input position is mixed
Field = tuple[tuple[Fraction, ...], tuple[Fraction, ...]] | None
_TRANSPOSED = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)
_UPSAMPLING = (keras.layers.UpSampling1D, keras.layers.UpSampling2D, keras.layers.UpSampling3D)


def _tuple(value: Any, rank: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, list | tuple) else (int(value),) * rank


def _step(layer: keras.layers.Layer, rf: tuple, jump: tuple) -> tuple[tuple, tuple]:
    """One layer's effect on (field, jump): a window of k (dilated) at stride s adds
    ``(k_eff - 1) * jump`` to the field and multiplies the jump by s; upsampling divides it."""
    from kerasnets.blocks.pooling import MaxUnpooling2D

    rank = len(rf)
    if isinstance(layer, (*_UPSAMPLING, *_TRANSPOSED, MaxUnpooling2D)):
        factor = getattr(layer, "strides", None) or getattr(layer, "size", None) or layer.pool_size
        kernel = _tuple(getattr(layer, "kernel_size", 1), rank)
        jump = tuple(j / s for j, s in zip(jump, _tuple(factor, rank), strict=True))
        return tuple(r + (k - 1) * j for r, k, j in zip(rf, kernel, jump, strict=True)), jump
    window = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    if window is None:
        return rf, jump
    window = _tuple(window, rank)
    strides = _tuple(getattr(layer, "strides", None) or window, rank)
    dilation = _tuple(getattr(layer, "dilation_rate", None) or 1, rank)
    rf = tuple(r + d * (k - 1) * j for r, k, d, j in zip(rf, window, dilation, jump, strict=True))
    return rf, tuple(j * s for j, s in zip(jump, strides, strict=True))


def _parents(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    tensors = keras.tree.flatten(layer.input)
    return [t._keras_history.operation for t in tensors if hasattr(t, "_keras_history")]


def receptive_fields(model: keras.Model) -> dict[str, tuple[int | float, ...] | None]:
    """Layer name -> receptive field side per spatial axis on the model's input (see the module
    docstring); None once the whole input is mixed, ``()`` for inputs without spatial axes."""
    fields: dict[str, Field] = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            rank = max(len(layer.output.shape) - 2, 0)
            fields[layer.name] = ((Fraction(1),) * rank, (Fraction(1),) * rank)
            continue
        try:
            parents = [fields.get(p.name, None) for p in _parents(layer)]
        except (AttributeError, ValueError):  # a layer called several times: no single input
            parents = []
        if not parents or any(p is None for p in parents):
            fields[layer.name] = None
            continue
        rf, jump = max(parents, key=lambda p: math.prod(p[0]))  # merged branches: the largest
        out_rank = len(_single(layer.output).shape) - 2
        if out_rank < len(rf) or isinstance(layer, keras.layers.RNN | keras.layers.Bidirectional):
            fields[layer.name] = None  # flattened, globally pooled, a sequence's last state
            continue
        fields[layer.name] = _step(layer, rf, jump)
    return {name: None if f is None else tuple(_number(v) for v in f[0]) for name, f in fields.items()}


def _number(value: Fraction) -> int | float:
    return int(value) if value.denominator == 1 else float(value)


def summarize(
    model: keras.Model | str,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    **options: Any,
) -> Summary:
    """The table of a built model, or of registered model ``model`` built at ``input_shape`` /
    ``num_classes`` (defaults: its reference configuration from the registry)."""
    if isinstance(model, str):
        model = _build(model, input_shape, num_classes, **options)
    rows, fields = [], receptive_fields(model)
    for layer in model.layers:
        shape = tuple(_single(layer.output).shape[1:])
        count = _prod(shape)
        stored = 0 if isinstance(layer, IN_PLACE) or count is None else count
        rows.append(
            LayerRow(
                name=layer.name,
                kind=type(layer).__name__,
                output_shape=shape,
                params=layer.count_params() if layer.built else 0,
                activations=count,
                memory_bytes=stored * BYTES_PER_VALUE,
                mult_adds=mult_adds(layer),
                receptive_field=fields.get(layer.name),
            )
        )
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    return Summary(
        name=model.name,
        rows=rows,
        params=model.count_params(),
        trainable_params=int(trainable),
        activations=sum(r.memory_bytes for r in rows) // BYTES_PER_VALUE,
        memory_bytes=sum(r.memory_bytes for r in rows),
        mult_adds=sum(r.mult_adds for r in rows),
    )


def summary(
    name_or_model: keras.Model | str,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    **options: Any,
) -> list[LayerRow]:
    """The rows of :func:`summarize`."""
    return summarize(name_or_model, input_shape, num_classes, **options).rows


def _build(
    name: str, input_shape: Sequence[int] | None, num_classes: int | None, **options: Any
) -> keras.Model:
    from kerasnets.models.base import MODELS, build

    meta = MODELS.meta(name)
    shape = tuple(input_shape) if input_shape else meta.get("input_shape")
    classes = num_classes if num_classes else meta.get("num_classes")
    if shape is None or classes is None:
        raise ValueError(f"{name}: give input_shape and num_classes (no reference configuration registered)")
    return build(name, shape, classes, **options)


# --------------------------------------------------------------------------- rendering


def human_bytes(n: int) -> str:
    """Decimal units, as the slides (15.2M values * 4 bytes ~= 61 MB)."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return "x".join("?" if d is None else str(d) for d in shape) or "scalar"


def _cells(row: LayerRow) -> list[str]:
    return [
        row.name,
        row.kind,
        _shape_text(row.output_shape),
        f"{row.params:,}",
        "?"
        if row.activations is None
        else f"{row.activations:,}" + ("" if row.memory_bytes or not row.activations else "*"),
        human_bytes(row.memory_bytes) if row.memory_bytes else "-",
        f"{row.mult_adds:,}" if row.mult_adds else "-",
        field_text(row.receptive_field),
    ]


def field_text(field: tuple[int | float, ...] | None) -> str:
    """``7`` (square), ``7x5``, ``all`` (the whole input) or ``-`` (no spatial axes)."""
    if field is None:
        return "all"
    if not field:
        return "-"
    sides = [f"{v:g}" if isinstance(v, float) else str(v) for v in field]
    return sides[0] if len(set(sides)) == 1 else "x".join(sides)


HEADER = ["layer", "type", "output shape", "params", "activations", "memory", "mult-adds", "receptive field"]


def _total_cells(s: Summary) -> list[str]:
    return [
        "total",
        "",
        "",
        f"{s.params:,}",
        f"{s.activations:,}",
        human_bytes(s.memory_bytes),
        f"{s.mult_adds:,}",
        "",
    ]


def human_count(n: int) -> str:
    """15,237,608 -> '15.2M' (decimal units, as the slides)."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def _footer(s: Summary) -> str:
    trainable = "" if s.trainable_params is None else f" ({s.trainable_params:,} trainable)"
    return (
        f"{s.name}: {s.params:,} parameters{trainable}; {human_count(s.activations)} activations "
        f"= {human_bytes(s.memory_bytes)} per image forward (float32; * = in place, not counted); "
        f"{human_count(s.mult_adds)} mult-adds per image"
    )


def format_text(s: Summary) -> str:
    """Plain-text table (monospace; usable as an MLflow artifact)."""
    table = [HEADER, *(_cells(r) for r in s.rows), _total_cells(s)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    right = {3, 4, 5, 6, 7}

    def fmt(line: list[str]) -> str:
        cells = enumerate(zip(line, widths, strict=True))
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in cells).rstrip()

    rule = "-" * len(fmt(HEADER))
    body = [fmt(line) for line in table[1:-1]]
    return "\n".join([fmt(HEADER), rule, *body, rule, fmt(table[-1]), "", _footer(s)]) + "\n"


def summary_table(rows: Sequence[LayerRow], name: str = "model") -> str:
    """Plain-text table of ``rows`` (totals recomputed from them; parameters not split)."""
    params = sum(r.params for r in rows)
    memory = sum(r.memory_bytes for r in rows)
    s = Summary(
        name=name,
        rows=list(rows),
        params=params,
        trainable_params=None,
        activations=memory // BYTES_PER_VALUE,
        memory_bytes=memory,
        mult_adds=sum(r.mult_adds for r in rows),
    )
    return format_text(s)


def to_rich_table(s: Summary):
    """The same table as a ``rich.table.Table`` (rich imported here, not at module import).
    Cells never end in an ellipsis: on a console narrower than the table they fold."""
    from rich.table import Table

    table = Table(title=s.name, caption=_footer(s), show_footer=True)
    totals = _total_cells(s)
    for i, (title, total) in enumerate(zip(HEADER, totals, strict=True)):
        justify = "right" if i >= 3 else "left"
        table.add_column(title, footer=total, justify=justify, no_wrap=i < 3, overflow="fold")
    for row in s.rows:
        table.add_row(*_cells(row))
    return table
