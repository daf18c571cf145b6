"""Every rule that ties recipe sections together, in one place (light: no TensorFlow).

``TASK_RULES`` says what each task accepts (layouts, schedules, warm-up, augment,
augment_batch, TTA, explain, losses) and which metrics its ``fit`` logs; validation
(``recipe_problems``) and training (``kerasnets.train``) both read it. ``metric_mode`` is the
one answer to "is this metric maximised", for schedules, early stopping and sweep objectives.
``input_size`` is the image size a recipe trains at, so validation and the loop agree.
Data sets with a class per step (``sequence_steps``) belong to task ``seq2seq``.
``HEAD_RULES`` says what a classifier's output activation (``model.head_activation``) takes:
its losses (the first is the default) and the metrics ``fit`` logs with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from kerasnets import catalog
from kerasnets.train.components import LOSSES
from kerasnets.weights.imagenet_table import IMAGENET_WEIGHTS, imagenet_problems

Problem = tuple[str, str, Any]  # (dotted key, message, received value or None)


@dataclass(frozen=True)
class TaskRules:
    """What one task accepts, and what its training logs."""

    layouts: tuple[str, ...] = ("image",)
    losses: tuple[str, ...] = ()  # accepted train.loss values; the first is the default
    schedules: tuple[str, ...] | None = None  # None: every schedule
    warmup: bool = True
    augment: bool = True
    augment_batch: bool = False
    tta: bool = False
    explain: bool = False
    metrics: tuple[str, ...] = ("loss",)  # logged per epoch (and with val_ when validated)
    validated: bool = True  # fit sees the validation split
    plateau_monitor: str = "val_loss"  # schedule plateau's monitor when the recipe names none
    top_k: bool = False  # logs top_{k}_accuracy (eval.top_k) when the model has more than k classes
    distribute: bool = True  # trains under train.distribute: mirrored (fit's own train_step)
    # optimizer.ema_momentum and train.accumulate: one Keras optimizer whose variables are the
    # model's trainable ones (fit's own train_step; a GAN has two optimizers over parts of it)
    optimizer_knobs: bool = True

    @property
    def default_loss(self) -> str | None:
        return self.losses[0] if self.losses else None


_CLASSIFICATION_LOSSES = ("cross_entropy", *(n for n in LOSSES.names() if n != "cross_entropy"))
_SOFTMAX_LOSSES = tuple(n for n in _CLASSIFICATION_LOSSES if n != "binary_crossentropy")


@dataclass(frozen=True)
class HeadRules:
    """What a classifier's output activation accepts, and what its training logs."""

    losses: tuple[str, ...]  # accepted train.loss values; the first is the default
    metrics: tuple[str, ...]  # logged per epoch (and with val_) by task classify
    plateau_monitor: str
    multilabel: bool = False  # can learn multi-hot targets (several classes per example)
    argmax: bool = True  # one class per example: top-k accuracy, TTA accuracy, MixUp/CutMix


#: ``model.head_activation`` -> its rules. Softmax: class probabilities summing to one;
#: sigmoid: one independent probability per class (two-class with one unit, multi-label;
#: seed 001's binary cross-entropy, seed 004's sigmoid + L2 loss); linear: raw scores
#: (cross-entropy from logits, or an L2 loss to one-hot targets).
HEAD_RULES: dict[str, HeadRules] = {
    "softmax": HeadRules(
        _SOFTMAX_LOSSES,
        ("loss", "accuracy"),
        "val_accuracy",
    ),
    "sigmoid": HeadRules(
        ("binary_crossentropy", "mse"),
        ("loss", "binary_accuracy", "auc"),
        "val_auc",
        multilabel=True,
        argmax=False,
    ),
    "linear": HeadRules(
        _SOFTMAX_LOSSES,
        ("loss", "accuracy"),
        "val_accuracy",
    ),
}
#: The tasks whose model ends in a classifier head that ``model.head_activation`` changes.
HEAD_TASKS = ("classify",)


def head_rules(recipe: Any) -> HeadRules | None:
    """The rules of the recipe's head activation (None for tasks without a classifier head)."""
    return HEAD_RULES[recipe.model.head_activation] if recipe.task.name in HEAD_TASKS else None


def is_multilabel(data: Any) -> bool:
    """Whether the data set yields multi-hot label vectors (several classes per example)."""
    from kerasnets.data.datasets import DATASETS

    return bool(DATASETS.meta(data.dataset).get("multilabel"))


TASK_RULES: dict[str, TaskRules] = {
    "classify": TaskRules(
        losses=_CLASSIFICATION_LOSSES,
        augment_batch=True,
        tta=True,
        explain=True,
        metrics=("loss", "accuracy"),
        plateau_monitor="val_accuracy",
        top_k=True,
    ),
    "sequence": TaskRules(
        layouts=("rows", "pixels"),
        losses=_SOFTMAX_LOSSES,
        metrics=("loss", "accuracy"),
        plateau_monitor="val_accuracy",
        top_k=True,
    ),
    "reconstruct": TaskRules(losses=("mse",), metrics=("loss", "mae")),
    "denoise": TaskRules(losses=("mse",), metrics=("loss", "mae")),
    "segment": TaskRules(
        losses=("cross_entropy",),
        augment=False,  # albumentations here moves image geometry without the masks
        metrics=("loss", "accuracy", "mean_iou"),
        plateau_monitor="val_accuracy",
    ),
    "seq2seq": TaskRules(
        layouts=("rows",),  # generated sequences are stored as (T, F) one-channel images
        losses=("cross_entropy",),
        augment=False,  # albumentations moves image geometry: not for token strings or signals
        metrics=("loss", "step_accuracy", "sequence_accuracy"),
        plateau_monitor="val_step_accuracy",
    ),
    "generate": TaskRules(
        schedules=("constant",),  # two optimizers at the recipe's constant learning rate
        warmup=False,
        metrics=("d_loss", "g_loss"),
        validated=False,
        # its train_step sums two tapes' gradients over replicas unscaled: not the 1-device result
        distribute=False,
        optimizer_knobs=False,
    ),
}

#: base metric name (no val_/test_ prefix) -> whether it is maximised
METRIC_MODES: dict[str, Literal["max", "min"]] = {
    "loss": "min",
    "mae": "min",
    "mse": "min",
    "d_loss": "min",
    "g_loss": "min",
    "accuracy": "max",
    "binary_accuracy": "max",
    "auc": "max",
    "step_accuracy": "max",
    "sequence_accuracy": "max",
    "accuracy_tta": "max",
    "mean_iou": "max",
    "pixel_accuracy": "max",
    "psnr": "max",
    "noisy_psnr": "max",
    "psnr_gain": "max",
    "seconds_per_epoch": "min",
    "images_per_second": "max",
}


class UnknownMetricError(ValueError):
    """A metric whose direction nobody declared."""


def metric_mode(name: str) -> Literal["max", "min"]:
    """``"max"`` when a larger ``name`` is better (accuracy, IoU, PSNR), ``"min"`` for losses."""
    base = name.removeprefix("val_").removeprefix("test_")
    if base in METRIC_MODES:
        return METRIC_MODES[base]
    if base.endswith("_loss"):
        return "min"  # an output's loss (GoogLeNet's aux heads)
    if base.endswith(("_accuracy", "_accuracy_tta")):
        return "max"  # top_5_accuracy, an output's accuracy, top_5_accuracy_tta
    raise UnknownMetricError(
        f"cannot tell whether {name!r} is maximised; known metrics: {', '.join(METRIC_MODES)}"
    )


def is_maximized(name: str) -> bool:
    return metric_mode(name) == "max"


def top_k_metric(task: str, top_k: int | None, num_classes: int | None, head: str = "softmax") -> str | None:
    """``top_{k}_accuracy`` when task ``task`` logs it: ``eval.top_k`` set, more than k
    classes (``num_classes`` None = not known before the data are read: assumed) and a head
    that picks one class (not sigmoid)."""
    if not TASK_RULES[task].top_k or not top_k or (num_classes is not None and num_classes <= top_k):
        return None
    if task in HEAD_TASKS and not HEAD_RULES[head].argmax:
        return None
    return f"top_{top_k}_accuracy"


def task_metrics(task: str, head: str = "softmax") -> tuple[str, ...]:
    """What task ``task`` logs per epoch; a classifier's metrics follow its head activation."""
    return HEAD_RULES[head].metrics if task in HEAD_TASKS else TASK_RULES[task].metrics


def monitors(task: str, validation: bool, top_k: str | None = None, head: str = "softmax") -> list[str]:
    """The metric names a callback of task ``task`` can monitor (``top_k``: its top-k metric)."""
    rules = TASK_RULES[task]
    names = [*task_metrics(task, head), *([top_k] if top_k else [])]
    if validation and rules.validated:
        names += [f"val_{m}" for m in names]
    return names


def class_count(recipe: Any) -> int | None:
    """How many classes the recipe's model predicts, when known without reading data files
    (``model.num_classes``, the data set's registered count or its loader option)."""
    import inspect

    from kerasnets.data.datasets import DATASETS

    if recipe.model.num_classes:
        return recipe.model.num_classes
    kept = recipe.data.options.get("classes")
    if isinstance(kept, list | tuple):  # digits: a subset of the classes
        return len(kept)
    count = DATASETS.meta(recipe.data.dataset).get("classes")
    if count is None:
        parameters = inspect.signature(DATASETS.get(recipe.data.dataset)).parameters
        default = parameters["num_classes"].default if "num_classes" in parameters else None
        count = recipe.data.options.get("num_classes", default)
    return int(count) if count is not None else None


def resolved_loss(recipe: Any) -> str | None:
    """``train.loss``, or the task's own loss (a classifier's: its head's) when the recipe
    names none."""
    head = head_rules(recipe)
    return recipe.train.loss or (head.losses[0] if head else TASK_RULES[recipe.task.name].default_loss)


# ----------------------------------------------------------------------------- input size


def loader_options(data: Any) -> dict[str, Any]:
    """The data set loader's options: its defaults with the recipe's ``data.options`` over them."""
    import inspect

    from kerasnets.data.datasets import DATASETS

    parameters = inspect.signature(DATASETS.get(data.dataset)).parameters
    return {**{k: p.default for k, p in parameters.items()}, **data.options}


def sequence_steps(data: Any) -> tuple[int, int, int] | None:
    """``(T_in, F, T_out)`` of a data set with per-step targets (registered ``steps``), else None."""
    from kerasnets.data.datasets import DATASETS

    steps = DATASETS.meta(data.dataset).get("steps")
    return None if steps is None else tuple(int(n) for n in steps(loader_options(data)))


def native_shape(data: Any) -> tuple[int, int, int] | None:
    """(H, W, C) of the data set's images as loaded (before ``image_size``); ``None`` when only
    the files can tell (folders). Generated sets read it from their options."""
    from kerasnets.data.datasets import DATASETS

    shape = DATASETS.meta(data.dataset).get("shape")
    if shape is None:
        options = loader_options(data)
        steps = sequence_steps(data)
        if steps is not None:  # generated sequences: (T_in, F) one-channel images
            shape = (steps[0], steps[1], 1)
        elif "shape" in options:  # synthetic
            shape = tuple(options["shape"])
        elif "size" in options:  # shapes: square RGB images
            shape = (options["size"], options["size"], 3)
    if shape is None:
        return None
    channels = data.channels or shape[2]
    return int(shape[0]), int(shape[1]), int(channels)


def input_size(recipe: Any) -> tuple[int, int] | None:
    """The (H, W) the recipe trains at: ``data.image_size``, else the data set's own size raised
    to the model's minimum input (LeNet-5 on the 8x8 digits runs at 32x32); ``None`` = as loaded."""
    native = native_shape(recipe.data)
    return _raised_size(recipe, native, catalog.min_input(recipe.model.name, recipe.model.options))


def _raised_size(recipe: Any, native, need) -> tuple[int, int] | None:
    if recipe.data.image_size:
        return tuple(recipe.data.image_size)
    if native is None or need is None or len(need) != 2:
        return None
    if native[0] >= need[0] and native[1] >= need[1]:
        return None
    return max(native[0], need[0]), max(native[1], need[1])


def with_input_size(recipe: Any) -> Any:
    """A copy of ``recipe`` whose ``data.image_size`` is what it trains at (``input_size``)."""
    data = recipe.data.model_copy(update={"image_size": input_size(recipe)})
    return recipe.model_copy(update={"data": data})


def _input_size_problems(recipe: Any) -> list[Problem]:
    native = native_shape(recipe.data)
    need = catalog.min_input(recipe.model.name, recipe.model.options)
    size = _raised_size(recipe, native, need)
    if need is None or (size is None and native is None):
        return []
    height, width = size or native[:2]
    name = recipe.model.name
    if len(need) == 2 and (height < need[0] or width < need[1]):
        return [
            (
                "data.image_size",
                f"model {name!r} needs at least {need[0]}x{need[1]} input, got {height}x{width}",
                None,
            )
        ]
    steps = height if recipe.data.layout == "rows" else height * width
    if len(need) == 1 and steps < need[0]:
        return [
            (
                "data.image_size",
                f"model {name!r} needs sequences of at least {need[0]} steps, got {steps} "
                f"(data.layout {recipe.data.layout!r} at {height}x{width})",
                None,
            )
        ]
    return []


# ----------------------------------------------------------------------------- cross-section rules


#: recipe key -> (the TaskRules field that allows it, whether a recipe uses it)
FEATURES: dict[str, tuple[str, Any]] = {
    "augment": ("augment", lambda r: bool(r.augment)),
    "augment_batch": ("augment_batch", lambda r: bool(r.augment_batch)),
    "eval.tta": ("tta", lambda r: r.eval.tta != "none"),
    "explain": ("explain", lambda r: bool(r.explain)),
    "schedule.warmup_epochs": ("warmup", lambda r: bool(r.schedule.warmup_epochs)),
    "optimizer.ema_momentum": ("optimizer_knobs", lambda r: r.optimizer.ema_momentum is not None),
    "train.accumulate": ("optimizer_knobs", lambda r: r.train.accumulate > 1),
    "train.keep_best": ("validated", lambda r: r.train.keep_best is not None),
}


def _feature_problems(recipe: Any, rules: TaskRules) -> list[Problem]:
    problems = []
    for key, (field, used) in FEATURES.items():
        if used(recipe) and not getattr(rules, field):
            takers = ", ".join(t for t, r in TASK_RULES.items() if getattr(r, field))
            problems.append(
                (key, f"not available for task {recipe.task.name!r}; tasks that accept it: {takers}", None)
            )
    return problems


def _choice_problems(recipe: Any, rules: TaskRules) -> list[Problem]:
    task = recipe.task.name
    problems = []
    if recipe.data.layout not in rules.layouts:
        choices = " or ".join(map(repr, rules.layouts))
        readers = " and ".join(repr(t) for t, r in TASK_RULES.items() if set(r.layouts) - {"image"})
        message = (
            f"set data.layout to {choices} for task {task!r}, got {recipe.data.layout!r} "
            f"(layouts rows and pixels read images or generated sequences as time steps: tasks {readers})"
        )
        problems.append(("data.layout", message, None))
    if rules.schedules is not None and recipe.schedule.name not in rules.schedules:
        allowed = ", ".join(map(repr, rules.schedules))
        message = (
            f"schedule {recipe.schedule.name!r} does not apply to task {task!r}, which takes {allowed} "
            "only (a GAN trains two optimizers at the recipe's learning rate)"
        )
        problems.append(("schedule.name", message, None))
    if recipe.train.loss is not None and recipe.train.loss not in rules.losses:
        valid = ", ".join(rules.losses) or "none (the task brings its own; remove train.loss)"
        problems.append(("train.loss", f"not a loss of task {task!r}. Valid: {valid}", recipe.train.loss))
    return problems


def monitor_problems(recipe: Any, num_classes: int | None) -> list[Problem]:
    """Monitors the task does not log; ``num_classes`` decides whether a top-k metric exists
    (None: unknown until the data are read, so a top-k monitor passes; the loop checks again)."""
    validation = recipe.data.validation_split > 0
    head = recipe.model.head_activation
    top_k = top_k_metric(recipe.task.name, recipe.eval.top_k, num_classes, head)
    valid = monitors(recipe.task.name, validation, top_k, head)
    watched = {"schedule.monitor": recipe.schedule.monitor if recipe.schedule.name == "plateau" else None}
    if recipe.schedule.name == "plateau" and recipe.schedule.monitor is None:
        watched["schedule.monitor"] = plateau_monitor(recipe)
    stopping = recipe.regularization.early_stopping
    watched["regularization.early_stopping.monitor"] = stopping.monitor if stopping else None
    if validation:  # without validation data keep_best is an error of its own (_other_problems)
        watched["train.keep_best.monitor"] = keep_best_monitor(recipe)
    problems = []
    for key, name in watched.items():
        if name is not None and name not in valid:
            hint = "" if validation else " (data.validation_split is 0: no val_ metrics)"
            if "top_" in name and top_k is None and TASK_RULES[recipe.task.name].top_k:
                hint += f" (top-k accuracy needs more than eval.top_k classes; {num_classes} here)"
            problems.append(
                (key, f"task {recipe.task.name!r} logs no {name!r}{hint}. Valid: {', '.join(valid)}", None)
            )
    return problems


def keep_best_monitor(recipe: Any) -> str | None:
    """What ``train.keep_best`` ranks epochs by: its monitor, else the task's (None: off)."""
    keep = recipe.train.keep_best
    if keep is None:
        return None
    return keep.monitor or plateau_monitor(recipe)


def plateau_monitor(recipe: Any) -> str:
    """What schedule ``plateau`` watches when the recipe names nothing."""
    head = head_rules(recipe)
    return head.plateau_monitor if head else TASK_RULES[recipe.task.name].plateau_monitor


def _head_problems(recipe: Any) -> list[Problem]:
    """The head activation against the task, the loss, the labels and the class count."""
    head_name, task = recipe.model.head_activation, recipe.task.name
    if task not in HEAD_TASKS:
        takers = ", ".join(HEAD_TASKS)
        problems = []
        if head_name != "softmax":
            problems.append(("model.head_activation", f"applies to task {takers}, not {task!r}", head_name))
        if is_multilabel(recipe.data):
            message = f"data set {recipe.data.dataset!r} has several labels per image: for task {takers} only"
            problems.append(("data.dataset", message, None))
        return problems
    head, problems = HEAD_RULES[head_name], []
    loss = recipe.train.loss
    if loss is not None and loss not in head.losses:
        takers = [h for h, r in HEAD_RULES.items() if loss in r.losses]
        message = (
            f"{loss!r} does not fit a {head_name} head (takers: {', '.join(takers) or 'none'}). "
            f"Valid with head_activation {head_name}: {', '.join(head.losses)}"
        )
        problems.append(("train.loss", message, None))
    if is_multilabel(recipe.data) and not head.multilabel:
        message = (
            f"data set {recipe.data.dataset!r} has several labels per image: set "
            f"model.head_activation to sigmoid (a {head_name} head picks one class)"
        )
        problems.append(("model.head_activation", message, head_name))
    if recipe.model.num_classes == 1:
        classes = class_count_of_data(recipe)
        if head_name != "sigmoid":
            problems.append(("model.num_classes", "one output unit needs model.head_activation sigmoid", 1))
        elif is_multilabel(recipe.data) or (classes is not None and classes != 2):
            problems.append(
                ("model.num_classes", f"one sigmoid unit learns two classes; the data have {classes}", 1)
            )
    for key, (field, used) in HEAD_FEATURES.items():
        if used(recipe) and not getattr(head, field):
            problems.append((key, f"needs one class per image: not with a {head_name} head", None))
    return problems


#: recipe key -> (the HeadRules field that allows it, whether a recipe uses it)
HEAD_FEATURES: dict[str, tuple[str, Any]] = {
    "eval.tta": ("argmax", lambda r: r.eval.tta != "none"),
    "augment_batch": ("argmax", lambda r: bool(r.augment_batch)),
}


def class_count_of_data(recipe: Any) -> int | None:
    """The data set's class count when known without reading files (``class_count`` without
    ``model.num_classes``)."""
    model = recipe.model.model_copy(update={"num_classes": None})
    return class_count(recipe.model_copy(update={"model": model}))


def _block_option_problems(recipe: Any) -> list[Problem]:
    """Builder options that only mean something together (leaky_slope with leaky_relu,
    pool_p with lp pooling, drop_path with shortcuts), and their ranges."""
    name, options = recipe.model.name, recipe.model.options
    defaults = {option: default for option, _, default in catalog.option_fields(name)}
    resolved = {**defaults, **options}
    problems = []
    if "leaky_slope" in options:
        if resolved.get("activation") != "leaky_relu":
            problems.append(("model.leaky_slope", "applies to activation leaky_relu only", None))
        elif not 0 <= float(options["leaky_slope"]) < 1:
            problems.append(
                (
                    "model.leaky_slope",
                    "expected a slope from 0 to 1 (0.1 in the lectures)",
                    options["leaky_slope"],
                )
            )
    if "pool_p" in options:
        if resolved.get("pooling") != "lp":
            problems.append(("model.pool_p", "applies to pooling lp only (l2 is p = 2)", None))
        elif float(options["pool_p"]) < 1:
            problems.append(("model.pool_p", "an Lp norm needs p >= 1", options["pool_p"]))
    if "drop_path" in options and not 0 <= float(options["drop_path"]) < 1:
        message = "expected a drop rate from 0 to below 1 (0.1 to 0.2 in timm's ResNets)"
        problems.append(("model.drop_path", message, options["drop_path"]))
    elif float(options.get("drop_path") or 0) > 0 and resolved.get("shortcut") == "none":
        message = "stochastic depth drops residual branches and a plain net (shortcut none) has none"
        problems.append(("model.drop_path", message, options["drop_path"]))
    return problems


def _model_problems(recipe: Any) -> list[Problem]:
    name, task = recipe.model.name, recipe.task.name
    problems = []
    if task not in catalog.model_tasks(name):
        takers = ", ".join(catalog.models_for_task(task)) or "(none)"
        problems.append(
            ("model.name", f"model {name!r} does not serve task {task!r}; models that do: {takers}", None)
        )
    if recipe.regularization.dropout is not None and "dropout" not in catalog.option_names(name):
        problems.append(("regularization.dropout", f"model {name!r} has no dropout option; remove it", None))
    return problems + _head_problems(recipe) + _block_option_problems(recipe)


def _other_problems(recipe: Any) -> list[Problem]:
    problems = []
    if recipe.optimizer.name == "gd" and recipe.data.batch_size != "full":
        problems.append(
            (
                "data.batch_size",
                "optimizer 'gd' is full-batch gradient descent: set data.batch_size to 'full'",
                None,
            )
        )
    if recipe.train.accumulate > 1 and recipe.data.batch_size == "full":
        message = "accumulates gradients over batches: with data.batch_size 'full' there is one batch"
        problems.append(("train.accumulate", message, recipe.train.accumulate))
    if recipe.train.keep_best is not None and recipe.data.validation_split == 0:
        message = "ranks epochs on the validation split: needs data.validation_split > 0"
        problems.append(("train.keep_best", message, None))
    if recipe.init.leaky_slope and recipe.init.kernel not in ("he_normal", "he_uniform"):
        problems.append(("init.leaky_slope", "applies to init.kernel he_normal or he_uniform only", None))
    return problems + _tracking_problems(recipe.tracking)


def _tracking_problems(tracking: Any) -> list[Problem]:
    """A model is registered only when it is logged, and logged only when the run is tracked."""
    if tracking.register_as and not (tracking.enabled and tracking.log_model):
        off = "tracking.enabled" if not tracking.enabled else "tracking.log_model"
        return [("tracking.register_as", f"registers the logged model: needs {off} true", None)]
    return []


def _distribute_problems(recipe: Any) -> list[Problem]:
    train, task, problems = recipe.train, recipe.task.name, []
    if train.distribute == "mirrored" and not TASK_RULES[task].distribute:
        takers = ", ".join(t for t, r in TASK_RULES.items() if r.distribute)
        message = (
            f"task {task!r} cannot train under 'mirrored' (its own train_step does not scale "
            f"its losses per replica); set none or auto (one device for it). Tasks that can: {takers}"
        )
        problems.append(("train.distribute", message, None))
    steps = train.steps_per_execution
    if train.distribute == "mirrored" and steps != "auto" and steps > 1:
        message = "must be 1 or auto under train.distribute mirrored (more fails: keras-team/keras#19246)"
        problems.append(("train.steps_per_execution", message, None))
    if train.sync_batchnorm and train.distribute == "none":
        problems.append(
            ("train.sync_batchnorm", "applies under train.distribute mirrored or auto, not none", None)
        )
    return problems


def weights_preprocessing(recipe: Any) -> str | None:
    """The ``preprocess_input`` mode of the recipe's ``init.weights`` (None without them)."""
    entry = IMAGENET_WEIGHTS.get(recipe.model.name)
    return entry.preprocessing if recipe.init.weights and entry else None


def _weights_problems(recipe: Any) -> list[Problem]:
    init, data, problems = recipe.init, recipe.data, []
    if init.weights and init.from_run:
        problems.append(("init.from_run", "give init.weights or init.from_run, not both", None))
    if init.weights:
        defaults = {name: default for name, _, default in catalog.option_fields(recipe.model.name)}
        problems += [
            ("init.weights", m, None)
            for m in imagenet_problems(recipe.model.name, recipe.model.options, defaults)
        ]
        if recipe.task.name != "classify" or data.layout != "image":
            problems.append(
                (
                    "init.weights",
                    "ImageNet weights are for image classifiers (task classify, data.layout image)",
                    None,
                )
            )
        if data.channels == 1:
            problems.append(
                (
                    "data.channels",
                    "ImageNet weights read RGB images: set data.channels to 3 or leave it out",
                    None,
                )
            )
        mode = weights_preprocessing(recipe)
        if mode and "normalize" in data.model_fields_set and data.normalize != mode:
            problems.append(
                (
                    "data.normalize",
                    f"the ImageNet weights of {recipe.model.name!r} were trained on {mode!r}-mode "
                    f"inputs: set data.normalize to {mode!r} or leave it out",
                    data.normalize,
                )
            )
    elif init.new_head is not None:
        problems.append(("init.new_head", "applies with init.weights only", None))
    if init.layers is not None and not init.from_run:
        problems.append(("init.layers", "applies with init.from_run only", None))
    if init.exclude and not (init.from_run or init.weights):
        problems.append(("init.exclude", "applies with init.from_run or init.weights only", None))
    return problems + _transfer_problems(recipe)


def _transfer_problems(recipe: Any) -> list[Problem]:
    transfer, problems = recipe.transfer, []
    for prefix, section in (("transfer", transfer), ("transfer.fine_tune", transfer.fine_tune)):
        if section is None:
            continue
        if section.trainable == "top" and section.top_blocks is None:
            problems.append((f"{prefix}.top_blocks", "trainable: top needs top_blocks", None))
        if section.trainable != "top" and section.top_blocks is not None:
            problems.append((f"{prefix}.top_blocks", "applies to trainable: top only", None))
    frozen = transfer.trainable != "all" or transfer.fine_tune is not None
    if frozen and not (recipe.init.weights or recipe.init.from_run):
        problems.append(
            (
                "transfer.trainable",
                "freezing layers needs trained weights: set init.weights or init.from_run",
                None,
            )
        )
    if frozen and recipe.task.name != "classify":
        problems.append(("transfer.trainable", "transfer learning applies to task classify", None))
    return problems


def _crop_problems(recipe: Any) -> list[Problem]:
    """Crops are per-image geometry of classifiers' images; sizes must allow the crop."""
    crop, problems = recipe.crop, []
    used = crop.train != "none" or crop.eval_side is not None
    if not used:
        return []
    if recipe.task.name != "classify" or recipe.data.layout != "image":
        return [("crop", "crops apply to task classify with data.layout image (targets are labels)", None)]
    if crop.scale[0] > crop.scale[1]:
        problems.append(("crop.scale", f"needs min <= max, got {list(crop.scale)}", None))
    if crop.ratio[0] > crop.ratio[1]:
        problems.append(("crop.ratio", f"needs min <= max, got {list(crop.ratio)}", None))
    if crop.min_side > crop.max_side:
        problems.append(("crop.min_side", f"{crop.min_side} is above crop.max_side {crop.max_side}", None))
    native = native_shape(recipe.data)
    size = input_size(recipe) or (native[:2] if native else None)
    if size is None:
        return problems
    largest = max(size)
    if crop.train == "scale_jitter" and crop.min_side < largest:
        problems.append(
            ("crop.min_side", f"scale jittering crops {size[0]}x{size[1]}: S_min must be >= {largest}", None)
        )
    if crop.eval_side is not None and crop.eval_side < largest:
        problems.append(
            (
                "crop.eval_side",
                f"the centre crop is {size[0]}x{size[1]}: eval_side must be >= {largest}",
                None,
            )
        )
    return problems


def _step_target_problems(recipe: Any) -> list[Problem]:
    """Per-step targets (data sets registered with ``steps``) are for task ``seq2seq``, whose
    model must give as many output steps as the targets have, unresized."""
    from kerasnets.data.datasets import DATASETS

    task, data = recipe.task.name, recipe.data
    steps = sequence_steps(data)
    if steps is None:
        if task != "seq2seq":
            return []
        stepped = ", ".join(n for n in DATASETS.names() if DATASETS.meta(n).get("steps"))
        message = (
            f"task 'seq2seq' learns a class per output step: it needs per-step targets. Valid: {stepped}"
        )
        return [("data.dataset", message, data.dataset)]
    t_in, _, t_out = steps
    if task != "seq2seq":
        message = (
            f"data set {data.dataset!r} has a class per step (targets (N, {t_out})): "
            "set task.name to 'seq2seq'"
        )
        return [("task.name", message, task)]
    problems = [
        (f"data.{key}", "generated sequences are read as they are: remove it", None)
        for key in ("image_size", "channels")
        if getattr(data, key) is not None
    ]
    name, options = recipe.model.name, recipe.model.options
    if task not in catalog.model_tasks(name):
        return problems  # reported by the model rules
    resolved = {**{option: default for option, _, default in catalog.option_fields(name)}, **options}
    if resolved.get("many_to_many") is False:
        message = (
            f"model {name!r} gives one class per sequence; task 'seq2seq' needs one per step: set it true"
        )
        problems.append(("model.many_to_many", message, False))
    elif resolved.get("many_to_many") and t_in != t_out:
        others = ", ".join(
            m for m in catalog.models_for_task(task) if "output_steps" in catalog.option_names(m)
        )
        message = (
            f"model {name!r} with many_to_many labels each of the {t_in} input steps, but data set "
            f"{data.dataset!r} has {t_out} target steps; models with their own output length: {others}"
        )
        problems.append(("model.name", message, name))
    if options.get("output_steps") not in (None, t_out):
        message = f"data set {data.dataset!r} has {t_out} target steps: set {t_out} or leave it out"
        problems.append(("model.output_steps", message, options["output_steps"]))
    return problems


def _stream_problems(recipe: Any) -> list[Problem]:
    """``data.cache`` and ``data.shuffle_buffer`` belong to image-file data sets."""
    from kerasnets.data.datasets import DATASETS

    data, problems = recipe.data, []
    files = bool(DATASETS.meta(data.dataset).get("files"))
    if data.cache != "none" and not files:
        problems.append(
            ("data.cache", f"applies to image-file data sets (folder), not {data.dataset!r}", None)
        )
    if data.shuffle_buffer is not None and data.cache == "none":
        problems.append(
            (
                "data.shuffle_buffer",
                "applies with data.cache (without it the file list is shuffled whole)",
                None,
            )
        )
    return problems


def recipe_problems(recipe: Any) -> list[Problem]:
    """Every broken cross-section rule of a schema-valid recipe, each at its dotted key."""
    rules = TASK_RULES[recipe.task.name]
    problems = [
        *_choice_problems(recipe, rules),
        *_feature_problems(recipe, rules),
        *monitor_problems(recipe, class_count(recipe)),
        *_model_problems(recipe),
        *_other_problems(recipe),
        *_distribute_problems(recipe),
        *_weights_problems(recipe),
        *_stream_problems(recipe),
        *_step_target_problems(recipe),
    ]
    if not any(key == "model.name" for key, _, _ in problems):
        problems += _input_size_problems(recipe) + _crop_problems(recipe)
    return problems
