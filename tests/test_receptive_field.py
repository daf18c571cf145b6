"""Issue 16, item 7: ``kerasnets summary`` shows each layer's receptive field (seed 004: three
3x3 convolutions see 7x7) and prints whole cells when its output is not a terminal."""

from __future__ import annotations

import keras

from kerasnets import cli
from kerasnets.models import build
from kerasnets.models.summary import format_text, receptive_fields, summarize


def test_three_stacked_3x3_convolutions_see_7x7():
    inputs = keras.Input((32, 32, 3))
    x = inputs
    for i in range(3):
        x = keras.layers.Conv2D(4, 3, padding="same", name=f"c{i}")(x)
    fields = receptive_fields(keras.Model(inputs, x))
    assert [fields[f"c{i}"] for i in range(3)] == [(3, 3), (5, 5), (7, 7)]


def test_lenet5_c5_sees_the_whole_32x32_image():
    fields = receptive_fields(build("lenet5", (32, 32, 1), 10))
    assert fields["c1"] == (5, 5) and fields["s2"] == (6, 6) and fields["c3"] == (14, 14)
    assert fields["c5"] == (32, 32)
    assert fields["f6"] is None  # after flatten: the whole input


def test_vgg16_conv5_3_and_pool5():
    """196 at conv5_3 (Faster R-CNN's 3x3 window on it sees 196 + 2 x 16 = 228) and 212 at
    pool5, the figure usually quoted for VGG-16; the input size does not change them."""
    fields = receptive_fields(build("vgg16", (32, 32, 3), 10, head="gap", fc_units=8))
    assert fields["block5_conv3"] == (196, 196)
    assert fields["block5_pool"] == (212, 212)


def test_dilation_strides_and_branches():
    inputs = keras.Input((64, 64, 1))
    a = keras.layers.Conv2D(2, 3, dilation_rate=2, padding="same", name="dilated")(inputs)  # 5
    b = keras.layers.Conv2D(2, 7, strides=2, padding="same", name="wide")(inputs)  # 7, jump 2
    b = keras.layers.Conv2D(2, 3, padding="same", name="after")(b)  # 7 + 2 x 2 = 11
    merged = keras.layers.Concatenate(name="merge")([keras.layers.MaxPooling2D(2, name="p")(a), b])
    fields = receptive_fields(keras.Model(inputs, merged))
    assert fields["dilated"] == (5, 5) and fields["p"] == (6, 6) and fields["after"] == (11, 11)
    assert fields["merge"] == (11, 11)  # the largest branch


def test_summary_column_and_untruncated_cli_output(capsys):
    text = format_text(summarize("lenet5"))
    assert "receptive field" in text.splitlines()[0]
    c5 = next(line for line in text.splitlines() if line.startswith("c5 "))
    assert c5.rstrip().endswith(" 32")
    assert cli.main(["summary", "resnet20"]) == 0
    out = capsys.readouterr().out
    assert "…" not in out  # piped: wide enough for every cell
    assert "stage3_block3_2_conv" in out and " 81 " in out  # ResNet-20's deepest conv sees 81x81
