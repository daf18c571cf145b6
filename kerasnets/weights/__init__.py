"""Where a model's starting weights come from: a finished run or ``.keras`` file
(``transfer``), Keras's published ImageNet weights (``imagenet``), and which layers then train
in which phase (``phases``). ``initial.load_initial_weights`` is the recipe's entry point.

``imagenet_table`` is light (no TensorFlow): validation reads it.
"""
