"""One-to-many and encoder-decoder (many-to-many) recurrent models, for every cell of
``kerasnets.models.sequence.RECURRENT``: ``{cell}_one_to_many`` and ``{cell}_seq2seq``.

Both output ``(N, output_steps, classes)``, a softmax at every output step, for task
``seq2seq``; ``output_steps`` (default: the input's number of steps) is filled from the data
set's target length by the task when a recipe leaves it out.

- one-to-many reads one vector (a ``(T, F)`` input is flattened to ``T*F`` features; the
  one-to-many data sets have ``T = 1``), hands it to the decoder at every output step
  (``RepeatVector``) and predicts a class per step from the decoder's states.
- seq2seq encodes the input with ``layers`` recurrent layers; the decoder's layer ``i`` starts
  from encoder layer ``i``'s final state (Sutskever, Vinyals & Le 2014) and reads the encoder's
  last output, the context vector, at every output step (Cho et al. 2014). No teacher forcing:
  the decoder never sees targets, so training and inference are the same graph.
"""

from __future__ import annotations

from collections.abc import Callable

import keras

from kerasnets.models.base import register_model
from kerasnets.models.sequence import RECURRENT, check_sequence_shape


def _cell_layer(cell: str) -> type[keras.layers.Layer]:
    if cell not in RECURRENT:
        raise ValueError(f"unknown recurrent cell {cell!r}; valid: {', '.join(RECURRENT)}")
    return RECURRENT[cell][0]


def _check(name: str, input_shape: tuple[int, ...], units: int, layers: int, output_steps: int | None) -> int:
    """The output length (``output_steps`` or the input's steps) after checking the options."""
    check_sequence_shape(input_shape, name)
    if units < 1 or layers < 1:
        raise ValueError(f"{name}: units and layers must be at least 1, got {units} and {layers}")
    if output_steps is not None and output_steps < 1:
        raise ValueError(f"{name}: output_steps must be at least 1, got {output_steps}")
    return int(output_steps or input_shape[0])


def _step_head(x, num_classes: int, dropout: float) -> keras.KerasTensor:
    if dropout:
        x = keras.layers.Dropout(dropout, name="decoder_dropout")(x)
    head = keras.layers.Dense(num_classes, activation="softmax", name="predictions")
    return keras.layers.TimeDistributed(head, name="step_predictions")(x)  # (N, steps, classes)


def one_to_many(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    cell: str,
    units: int = 128,
    layers: int = 1,
    dropout: float = 0.0,
    output_steps: int | None = None,
    name: str | None = None,
) -> keras.Model:
    """One input vector -> ``output_steps`` classes: the vector at every step of ``layers``
    stacked recurrent layers of ``units``, ``dropout`` before the per-step softmax."""
    name = name or f"{cell}_one_to_many"
    steps, layer_class = _check(name, input_shape, units, layers, output_steps), _cell_layer(cell)
    inputs = keras.Input(shape=input_shape, name="sequence")
    x = keras.layers.Flatten(name="vector")(inputs)  # (N, T*F): one vector
    x = keras.layers.RepeatVector(steps, name="repeat")(x)  # (N, steps, T*F)
    for i in range(1, layers + 1):
        x = layer_class(units, return_sequences=True, name=f"decoder{i}")(x)
    return keras.Model(inputs, _step_head(x, num_classes, dropout), name=name)


def seq2seq(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    cell: str,
    units: int = 128,
    layers: int = 1,
    dropout: float = 0.0,
    output_steps: int | None = None,
    name: str | None = None,
) -> keras.Model:
    """Encoder-decoder: ``layers`` recurrent encoder layers of ``units`` hand their final states
    to as many decoder layers, which read the encoder's last output at each of ``output_steps``
    steps; ``dropout`` before the per-step softmax."""
    name = name or f"{cell}_seq2seq"
    steps, layer_class = _check(name, input_shape, units, layers, output_steps), _cell_layer(cell)
    inputs = keras.Input(shape=input_shape, name="sequence")
    x, states = inputs, []
    for i in range(1, layers + 1):
        # LSTM returns (outputs, h, c), the others (outputs, h)
        x, *state = layer_class(units, return_sequences=i < layers, return_state=True, name=f"encoder{i}")(x)
        states.append(state)
    x = keras.layers.RepeatVector(steps, name="context")(x)  # (N, steps, units)
    for i, state in enumerate(states, start=1):
        x = layer_class(units, return_sequences=True, name=f"decoder{i}")(x, initial_state=state)
    return keras.Model(inputs, _step_head(x, num_classes, dropout), name=name)


# ----------------------------------------------------------------------------- registration

#: builder suffix -> (generic builder, docstring template with {layer} and {paper})
SHAPES: dict[str, tuple[Callable[..., keras.Model], str]] = {
    "one_to_many": (
        one_to_many,
        "One-to-many ``keras.layers.{layer}`` decoder ({paper}): one input vector (a ``(T, F)`` "
        "input is flattened) fed at every output step, as the image features of the m-RNN "
        'captioner, Mao et al. (2015), "Deep captioning with multimodal recurrent neural '
        'networks", and Karpathy (2015), "The unreasonable effectiveness of recurrent neural '
        'networks" (one-to-many). ``layers`` stacked decoder layers of ``units``, ``dropout`` '
        "before a softmax at every step; output ``(N, output_steps, classes)``.",
    ),
    "seq2seq": (
        seq2seq,
        "Encoder-decoder ``keras.layers.{layer}`` model ({paper}): Sutskever, Vinyals & Le "
        '(2014), "Sequence to sequence learning with neural networks" (the decoder starts from '
        "the encoder's final states) with the context vector read at every decoder step as in "
        'Cho et al. (2014), "Learning phrase representations using RNN encoder-decoder". '
        "``layers`` encoder and decoder layers of ``units``, ``dropout`` before a softmax at every "
        "step; output ``(N, output_steps, classes)``, ``output_steps`` defaulting to the input's.",
    ),
}


def _entrypoint(cell: str, shape: str) -> Callable[..., keras.Model]:
    generic, template = SHAPES[shape]
    name = f"{cell}_{shape}"

    def builder(
        input_shape: tuple[int, ...],
        num_classes: int,
        units: int = 128,
        layers: int = 1,
        dropout: float = 0.0,
        output_steps: int | None = None,
    ) -> keras.Model:
        return generic(
            input_shape, num_classes, cell=cell, units=units, layers=layers, dropout=dropout,
            output_steps=output_steps, name=name,
        )  # fmt: skip

    layer_class, paper = RECURRENT[cell]
    builder.__doc__ = template.format(layer=layer_class.__name__, paper=paper)
    builder.__name__ = builder.__qualname__ = name
    return builder


#: Reference inputs, 10 classes, units 128: seq2seq 8 one-hot digits (reverse; the encoder
#: reads d = 10 features, the decoder d = 128, the context), one-to-many one vector of 20
#: (counting: its decoder reads d = 20); the per-step softmax adds 128*10 + 10 = 1,290.
REFERENCE_SHAPES = {"seq2seq": (8, 10), "one_to_many": (1, 20)}
REFERENCE: dict[str, tuple[int, str]] = {
    "simple_rnn_seq2seq": (
        51_978,
        "by hand: encoder 128*138+128 = 17,792, decoder 128*256+128 = 32,896, dense 1,290",
    ),
    "lstm_seq2seq": (204_042, "by hand: encoder 4*17,792 = 71,168, decoder 4*32,896 = 131,584, dense 1,290"),
    "gru_seq2seq": (
        154_122,
        "by hand (reset_after): encoder 3*(17,664+256) = 53,760, decoder 3*(32,768+256) = 99,072, "
        "dense 1,290",
    ),
    "simple_rnn_one_to_many": (20_362, "by hand: decoder on 20 features 128*148+128 = 19,072, dense 1,290"),
    "lstm_one_to_many": (77_578, "by hand: decoder 4*19,072 = 76,288, dense 1,290"),
    "gru_one_to_many": (58_890, "by hand (reset_after): decoder 3*(18,944+256) = 57,600, dense 1,290"),
}
VARIANTS: dict[str, list[tuple[dict, int]]] = {
    # two layers: encoder 2 reads 128 features; decoder layers 1 and 2 both read 128
    "lstm_seq2seq": [({"layers": 2}, 71_168 + 3 * 4 * (128 * 256 + 128) + 1_290)],
    "gru_seq2seq": [({"units": 32, "output_steps": 4}, 3 * (32 * 42 + 64) + 3 * (32 * 64 + 64) + 330)],
    "lstm_one_to_many": [({"layers": 2}, 76_288 + 4 * (128 * 256 + 128) + 1_290)],
}


def _register_all() -> None:
    for shape in SHAPES:
        for cell in RECURRENT:
            name = f"{cell}_{shape}"
            params, source = REFERENCE[name]
            builder = _entrypoint(cell, shape)
            register_model(
                name, params=params, source=source, variants=VARIANTS.get(name, []),
                input_shape=REFERENCE_SHAPES[shape], num_classes=10, small_input_shape=(6, 5),
                tasks=("seq2seq",),
            )(builder)  # fmt: skip
            globals()[name] = builder


_register_all()
