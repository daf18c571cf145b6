"""Sequence models: simple RNN, LSTM, GRU (seed 003) and the 1-D residual CNN (seed 001).

Inputs are ``(T, F)``: ``T`` time steps of ``F`` features (an image read row by row is
``(H, W*C)``, pixel by pixel ``(H*W, C)``; recipe ``data.layout``). The three recurrent
networks are one builder, ``recurrent()``, keyed by the ``RECURRENT`` table of Keras layers;
they classify the sequence from the last hidden state (many-to-one) or, with
``many_to_many=True``, predict a class at every step (output ``(N, T, classes)``).
``conv1d_resnet`` convolves over time with the residual blocks of the ResNets at ``rank=1``;
with ``many_to_many=True`` it keeps every step and labels each (an ECG's waves or rhythm).
Many-to-many models serve task ``seq2seq`` as well (per-step targets as long as the input);
one-to-many and encoder-decoder models are in ``kerasnets.models.seq2seq``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import keras

from kerasnets.blocks import batch_norm, classifier_head, conv, residual_stage
from kerasnets.blocks.residual import Shortcut
from kerasnets.models.base import register_model

#: Recurrent layer by registry name, with the paper it comes from.
RECURRENT: dict[str, tuple[type[keras.layers.Layer], str]] = {
    "simple_rnn": (keras.layers.SimpleRNN, 'Elman (1990), "Finding structure in time"'),
    "lstm": (
        keras.layers.LSTM,
        'Hochreiter & Schmidhuber (1997), "Long short-term memory", with the forget gate of '
        'Gers, Schmidhuber & Cummins (2000), "Learning to forget"',
    ),
    "gru": (
        keras.layers.GRU,
        'Cho et al. (2014), "Learning phrase representations using RNN encoder-decoder for '
        'statistical machine translation" (Keras default reset_after=True: two bias vectors)',
    ),
}


def check_sequence_shape(input_shape: tuple[int, ...], name: str) -> None:
    if len(input_shape) != 2:
        raise ValueError(
            f"{name}: expects sequences of shape (time steps, features), got {tuple(input_shape)}; "
            "read images as sequences with data.layout 'rows' or 'pixels'"
        )


def recurrent(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    cell: str,
    units: int = 128,
    layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    many_to_many: bool = False,
    name: str | None = None,
) -> keras.Model:
    """``layers`` stacked recurrent layers of ``units`` (each in both directions when
    ``bidirectional``, outputs concatenated), ``dropout`` after each, then a softmax on the
    last step's state or, ``many_to_many``, on every step (``TimeDistributed`` dense layer)."""
    check_sequence_shape(input_shape, cell)
    if cell not in RECURRENT:
        raise ValueError(f"unknown recurrent cell {cell!r}; valid: {', '.join(RECURRENT)}")
    if units < 1 or layers < 1:
        raise ValueError(f"{cell}: units and layers must be at least 1, got {units} and {layers}")
    layer_class = RECURRENT[cell][0]
    inputs = keras.Input(shape=input_shape, name="sequence")
    x = inputs
    for i in range(1, layers + 1):
        # every layer but the last hands its whole sequence on; many-to-many keeps it to the end
        layer = layer_class(units, return_sequences=many_to_many or i < layers, name=f"{cell}{i}")
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"{cell}{i}_bidirectional")
        x = layer(x)  # (N, T, units) or (N, units); twice the units when bidirectional
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{cell}{i}_dropout")(x)
    head = keras.layers.Dense(num_classes, activation="softmax", name="predictions")
    if many_to_many:
        outputs = keras.layers.TimeDistributed(head, name="step_predictions")(x)  # (N, T, classes)
    else:
        outputs = head(x)
    return keras.Model(inputs, outputs, name=name or cell)


def _recurrent_entrypoint(name: str) -> Callable[..., keras.Model]:
    def builder(
        input_shape: tuple[int, ...],
        num_classes: int,
        units: int = 128,
        layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        many_to_many: bool = False,
    ) -> keras.Model:
        return recurrent(
            input_shape, num_classes, cell=name, units=units, layers=layers,
            bidirectional=bidirectional, dropout=dropout, many_to_many=many_to_many, name=name,
        )  # fmt: skip

    layer_class, paper = RECURRENT[name]
    builder.__doc__ = (
        f"A ``keras.layers.{layer_class.__name__}`` sequence classifier: {paper}.\n\n"
        "Input ``(T, F)``. ``units`` per layer, ``layers`` stacked, ``bidirectional`` runs each "
        "layer forwards and backwards (Schuster & Paliwal 1997), ``dropout`` after each layer "
        "(on the non-recurrent connections, Zaremba et al. 2014). Many-to-one by default: a "
        "softmax on the last step's state, output ``(N, classes)``; ``many_to_many`` predicts a "
        "class at every step, output ``(N, T, classes)``."
    )
    builder.__name__ = builder.__qualname__ = name
    return builder


def conv1d_resnet(
    input_shape: tuple[int, ...],
    num_classes: int,
    filters: Sequence[int] = (32, 64, 128),
    depths: Sequence[int] = (2, 2, 2),
    kernel_size: int = 5,
    shortcut: Shortcut = "B",
    preact: bool = False,
    attention: Literal["se"] | None = None,
    dropout: float = 0.0,
    many_to_many: bool = False,
) -> keras.Model:
    """A residual CNN over time for sequences ``(T, F)``: the residual blocks of He et al.
    (2016), "Deep residual learning for image recognition", with 1-D convolutions, as in the
    ECG network of Hannun et al. (2019), "Cardiologist-level arrhythmia detection and
    classification in ambulatory electrocardiograms using a deep neural network", and the
    time-series ResNet of Wang, Yan & Oates (2017).

    A ``kernel_size`` stem convolution to ``filters[0]`` maps (BN-ReLU), one stage of
    ``depths[i]`` basic blocks per ``filters[i]`` (stages after the first halve ``T``), global
    average pooling over time, optional ``dropout``, softmax. ``shortcut`` A/B as in the
    ResNets, ``preact`` gives the v2 blocks, ``attention="se"`` adds squeeze-and-excitation
    (Hu et al. 2018) to every block. ``many_to_many`` labels every time step, as the ECG
    network maps a signal to a sequence of classes: no stage halves ``T`` and the softmax is
    applied at every step (output ``(N, T, classes)``, the same weights).
    """
    check_sequence_shape(input_shape, "conv1d_resnet")
    if len(filters) != len(depths) or not filters:
        raise ValueError(
            f"conv1d_resnet: filters and depths need one entry per stage, got {list(filters)} "
            f"and {list(depths)}"
        )
    inputs = keras.Input(shape=input_shape, name="sequence")
    x = conv(inputs, filters[0], kernel_size, use_bias=False, rank=1, name="stem_conv")
    if not preact:
        x = keras.layers.Activation("relu", name="stem_relu")(batch_norm(x, name="stem_bn"))
    for s, (width, depth) in enumerate(zip(filters, depths, strict=True), start=1):
        x = residual_stage(
            x, "basic", width, depth, name=f"stage{s}", strides=1 if s == 1 or many_to_many else 2, rank=1,
            kernel_size=kernel_size, shortcut=shortcut, attention=attention, preact=preact,
        )  # fmt: skip
    if preact:
        x = keras.layers.Activation("relu", name="post_relu")(batch_norm(x, name="post_bn"))
    if many_to_many:
        if dropout:
            x = keras.layers.Dropout(dropout, name="head_dropout")(x)
        head = keras.layers.Dense(num_classes, activation="softmax", name="predictions")
        outputs = keras.layers.TimeDistributed(head, name="step_predictions")(x)  # (N, T, classes)
    else:
        outputs = classifier_head(x, num_classes, pooling="avg", input_dropout=dropout)
    return keras.Model(inputs, outputs, name="conv1d_resnet")


# ----------------------------------------------------------------------------- registration

#: Reference counts at input (28, 28) (MNIST rows), 10 classes, default options, by hand:
#: one recurrent layer of h units on d features has g * (h*(h+d) + h) parameters for g weight
#: blocks (SimpleRNN 1, LSTM 4 gates, GRU 3 with a second bias vector: 3 * (h*(h+d) + 2h)).
#: With h=128, d=28: h*(h+d) = 19,968; the output layer adds 128*10 + 10 = 1,290.
REFERENCE: dict[str, tuple[int, str]] = {
    "simple_rnn": (21_386, "by hand: SimpleRNN h*(h+d)+h = 128*156+128 = 20,096 + dense 1,290"),
    "lstm": (81_674, "by hand: LSTM 4*(h*(h+d)+h) = 4*20,096 = 80,384 + dense 1,290"),
    "gru": (61_962, "by hand: GRU (reset_after) 3*(h*(h+d)+2h) = 3*20,224 = 60,672 + dense 1,290"),
    "conv1d_resnet": (
        399_370,
        "by hand (k=5, no conv bias, BN 4 per channel): stem 5*28*32 + 4*32 = 4,608; stage1 "
        "2 blocks x 2 x (5*32*32 + 128) = 20,992; stage2 (5*32*64 + 256) + (5*64*64 + 256) + "
        "projection (32*64 + 256) + 2 x (5*64*64 + 256) = 75,008; stage3 likewise "
        "132,608 + 164,864 = 297,472; dense 128*10 + 10 = 1,290",
    ),
}
#: Counts with non-default options, by hand: name -> [(options, count_params())].
VARIANTS: dict[str, list[tuple[dict, int]]] = {
    # two directions: 2 * 80,384; the dense layer sees 256 features: 256*10 + 10
    "lstm": [
        ({"bidirectional": True}, 2 * 80_384 + 2_570),
        ({"layers": 2}, 80_384 + 4 * (128 * 256 + 128) + 1_290),  # layer 2 has d = 128
        ({"many_to_many": True}, 81_674),  # the same dense layer, applied at every step
    ],
    "gru": [({"units": 64}, 3 * (64 * 92 + 128) + 650)],
    "simple_rnn": [({"layers": 2, "units": 32}, (32 * 60 + 32) + (32 * 64 + 32) + 330)],
    # SE per block adds 2*C*C/16 + C/16 + C: 2 x 162 + 2 x 580 + 2 x 2,184; option A drops
    # the two projections (2,048 + 256 and 8,192 + 512)
    "conv1d_resnet": [
        ({"attention": "se"}, 399_370 + 5_852),
        ({"shortcut": "A"}, 399_370 - 11_008),
        ({"many_to_many": True}, 399_370),  # stride 1 everywhere, the same dense layer per step
    ],
}

#: ``seq2seq``: a class per step with ``many_to_many: true`` (as many output steps as input ones)
_META = {
    "input_shape": (28, 28),
    "num_classes": 10,
    "small_input_shape": (12, 6),
    "tasks": ("sequence", "seq2seq"),
}


def _register_all() -> None:
    for name in RECURRENT:
        params, source = REFERENCE[name]
        builder = _recurrent_entrypoint(name)
        register_model(name, params=params, source=source, variants=VARIANTS[name], **_META)(builder)
        globals()[name] = builder
    params, source = REFERENCE["conv1d_resnet"]
    register_model(
        "conv1d_resnet", params=params, source=source, variants=VARIANTS["conv1d_resnet"], **_META
    )(conv1d_resnet)


_register_all()
