"""Registries of the training components a recipe names, with the options each accepts.

These tables import nothing heavy, so recipes validate without loading TensorFlow; the
objects themselves are made in ``kerasnets.train.optimizers`` and friends.
"""

from __future__ import annotations

from kerasnets.registry import Registry

_ALL = ("clipnorm", "clipvalue", "global_clipnorm", "ema_momentum")  # every optimizer takes them

#: optimizer name -> Keras class name; metadata ``options`` lists the accepted recipe keys.
OPTIMIZERS: Registry[str] = Registry("optimizer")
OPTIMIZERS.add("sgd", "SGD", options=("momentum", "nesterov", "weight_decay", *_ALL))
OPTIMIZERS.add(
    "gd",
    "SGD",
    options=("momentum", "nesterov", *_ALL),
    doc="full-batch gradient descent: SGD with data.batch_size 'full'",
)
OPTIMIZERS.add("rmsprop", "RMSprop", options=("rho", "momentum", "epsilon", "weight_decay", *_ALL))
OPTIMIZERS.add("adam", "Adam", options=("beta_1", "beta_2", "epsilon", "amsgrad", "weight_decay", *_ALL))
OPTIMIZERS.add("adamw", "AdamW", options=("beta_1", "beta_2", "epsilon", "amsgrad", "weight_decay", *_ALL))
OPTIMIZERS.add("adagrad", "Adagrad", options=("epsilon", "initial_accumulator_value", "weight_decay", *_ALL))

#: schedule name -> description; metadata ``options`` lists the accepted recipe keys.
SCHEDULES: Registry[str] = Registry("schedule")
SCHEDULES.add("constant", "the optimizer's learning rate throughout", options=("warmup_epochs",))
SCHEDULES.add(
    "step", "multiply by factor every step_size epochs", options=("step_size", "factor", "warmup_epochs")
)
SCHEDULES.add("exponential", "multiply by factor every epoch", options=("factor", "warmup_epochs"))
SCHEDULES.add("cosine", "cosine decay to alpha * lr after linear warm-up", options=("alpha", "warmup_epochs"))
SCHEDULES.add(
    "plateau",
    "multiply by factor when monitor stalls for patience epochs",
    options=("factor", "patience", "monitor", "min_lr"),
)

#: loss name -> whether labels are one-hot encoded for it.
LOSSES: Registry[bool] = Registry("loss")
LOSSES.add("cross_entropy", False, doc="sparse categorical cross-entropy; one-hot when label smoothing")
LOSSES.add("sparse_categorical_crossentropy", False)
LOSSES.add("categorical_crossentropy", True)
LOSSES.add("mse", True, doc="L2 loss between the output (softmax, sigmoid or linear) and one-hot target")
LOSSES.add(
    "binary_crossentropy",
    True,
    doc="per-class binary cross-entropy of a sigmoid head: two-class (one unit) or multi-label",
)

#: initializer name -> Keras initializer identifier.
INITIALIZERS: Registry[str] = Registry("initializer")
for _name in (
    "glorot_uniform",
    "glorot_normal",
    "lecun_uniform",
    "lecun_normal",
    "orthogonal",
    "random_normal",
    "random_uniform",
    "truncated_normal",
):
    INITIALIZERS.add(_name, _name)
INITIALIZERS.add("he_normal", "he_normal", doc="N(0, 2/((1+a^2) fan_in)) with leaky slope a")
INITIALIZERS.add("he_uniform", "he_uniform", doc="U(+-sqrt(6/((1+a^2) fan_in))) with leaky slope a")
