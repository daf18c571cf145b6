"""Recipes: YAML files validated by a pydantic schema, merged with fragments and overrides.

``load_recipe(path, overrides)`` reads the file with ``yaml.safe_load``, merges the files it
``extends`` (earlier first, the recipe itself last), applies ``--set key=value`` overrides
and validates the result. Every problem is collected and raised as one ``RecipeError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    ValidationError,
    field_validator,
    model_validator,
)

from kerasnets.choices import HeadActivation
from kerasnets.errors import Problem, RecipeError
from kerasnets.pydantic_errors import problems_from_validation_error
from kerasnets.recipe_files import (
    apply_overrides,
    flatten,
    resolve_extends,
)
from kerasnets.registry import UnknownNameError
from kerasnets.rules import TASK_RULES, recipe_problems, weights_preprocessing
from kerasnets.train.components import INITIALIZERS, LOSSES, OPTIMIZERS, SCHEDULES

Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]


def _positive_int_or(word: str, maximum: int):
    def check(value: Any) -> Any:
        if value == word:
            return value
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
            raise ValueError(f"expected an integer from 1 to {maximum:,} or '{word}'")
        return value

    return BeforeValidator(check)


def _bool_or_auto(value: Any) -> Any:
    if value == "auto" or isinstance(value, bool):
        return value
    raise ValueError("expected true, false or 'auto'")


BatchSize = Annotated[int | Literal["full"], _positive_int_or("full", 10_000_000)]
StepsPerExecution = Annotated[int | Literal["auto"], _positive_int_or("auto", 100_000)]
Count = Annotated[int, Field(ge=1, le=1_000_000)]  # epochs, patience...: big, but not absurd
Pixels = Annotated[int, Field(ge=1, le=16_384)]
BoolOrAuto = Annotated[bool | Literal["auto"], BeforeValidator(_bool_or_auto)]


def _lookup(registry, name: str) -> str:
    try:
        registry.get(name)
    except UnknownNameError as exc:
        raise ValueError(exc.message) from None
    return name


class Section(BaseModel):
    """Base of every recipe section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, validate_default=True)


class DataSection(Section):
    dataset: str = "digits"
    dir: str | None = Field(
        None, description="local folder with the files (before --data-dir and KERASNETS_DATA_DIR)"
    )
    image_size: tuple[Pixels, Pixels] | None = Field(
        None, description="[height, width]; native size when null"
    )
    channels: Literal[1, 3] | None = Field(None, description="convert to 1 (grey) or 3 (RGB) channels")
    resize: Literal["resize", "pad"] = Field(
        "resize", description="reach image_size by bilinear resize or zero padding"
    )
    normalize: Literal["standardize", "scale", "none", "caffe", "torch", "tf"] = Field(
        "standardize",
        description="per-channel mean/std from the training split, [0,1] scaling, none, or a "
        "keras.applications preprocess_input mode (the one of init.weights when not given)",
    )
    validation_split: Fraction = 0.1
    test_split: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        0.2, description="held-out share for data sets without an official test split"
    )
    batch_size: BatchSize = Field(
        128, description="a positive integer or 'full' (full-batch gradient descent)"
    )
    limit: Count | None = Field(None, description="use at most this many training examples")
    seed: NonNegativeInt = Field(
        0, description="seed of the train/validation/test split (fixed across train.seed)"
    )
    options: dict[str, Any] = Field(default_factory=dict, description="options of the data set's loader")
    layout: Literal["image", "rows", "pixels"] = Field(
        "image", description="model input: images, rows as time steps (H, W*C), or pixel by pixel (H*W, C)"
    )
    cache: str = Field(
        "none",
        description="image-file data sets: cache decoded images after the first epoch: none, "
        "memory, or a folder path for cache files",
    )
    shuffle_buffer: Count | None = Field(
        None, description="with data.cache: images in the shuffle buffer (null = all of them)"
    )

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        from kerasnets.data.datasets import DATASETS

        return _lookup(DATASETS, name)

    @model_validator(mode="after")
    def _loader_options(self) -> DataSection:
        from kerasnets.data.datasets import check_loader_options

        _raise_option_problems(check_loader_options(self.dataset, self.options), "options.")
        return self


class ModelSection(Section):
    """``name`` plus the builder's own options, checked against its signature."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True, validate_default=True)

    name: str = "lenet5"
    num_classes: Count | None = Field(
        None, description="defaults to the data set's class count (1: one sigmoid unit for two classes)"
    )
    head_activation: HeadActivation = Field(
        "softmax",
        description="classify: the output activation: softmax (one class), sigmoid (independent "
        "per-class probabilities: two-class, multi-label) or linear (scores, cross-entropy from logits)",
    )

    @field_validator("name")
    @classmethod
    def _known_model(cls, name: str) -> str:
        from kerasnets.catalog import registry  # the generated catalog: no Keras import

        return _lookup(registry(), name)

    @model_validator(mode="after")
    def _builder_options(self) -> ModelSection:
        from kerasnets.catalog import check_model_options

        _raise_option_problems(check_model_options(self.name, self.options))
        return self

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


TASK_NAMES = tuple(TASK_RULES)


class TaskSection(Section):
    name: Literal[TASK_NAMES] = Field(  # type: ignore[valid-type]  (the tasks of the rules table)
        "classify",
        description="what the model learns: labels, its input back, a clean input from a corrupted "
        "one, new images (GAN), per-pixel classes, or a sequence's class",
    )
    noise: Literal["gaussian", "salt_pepper", "masking"] = Field(
        "gaussian", description="denoise: how inputs are corrupted (on the fly, per batch)"
    )
    noise_level: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        0.5, description="denoise: std of gaussian noise (in standardised units) or share of pixels hit"
    )


class KernelRegularization(Section):
    l1: NonNegativeFloat = 0.0
    l2: NonNegativeFloat = 0.0


class EarlyStopping(Section):
    monitor: str = "val_loss"
    patience: Annotated[int, Field(ge=0, le=1_000_000)] = 5
    min_delta: NonNegativeFloat = 0.0
    restore_best_weights: bool = True


class RegularizationSection(Section):
    kernel: KernelRegularization = Field(
        default_factory=KernelRegularization, description="weight penalties; l1 and l2 together = elastic net"
    )
    dropout: Fraction | None = Field(None, description="the model's dropout rate; builder default when null")
    label_smoothing: Fraction = 0.0
    early_stopping: EarlyStopping | None = None


LayerPatterns = list[Annotated[str, Field(min_length=1, max_length=250)]]


class InitSection(Section):
    kernel: str | None = Field(None, description="initializer of every kernel; builder default when null")
    leaky_slope: NonNegativeFloat = Field(0.0, description="slope a of He init: variance 2/((1+a^2) fan_in)")
    weights: Annotated[str, Field(min_length=1, max_length=4096)] | None = Field(
        None,
        description="'imagenet' (keras.applications' published weights, downloaded and cached by "
        "Keras) or the path of a keras.applications weights file (offline)",
    )
    from_run: Annotated[str, Field(min_length=1, max_length=4096)] | None = Field(
        None,
        description="a finished run (its id or run name: the latest finished run of that name) or "
        "a .keras file: copy every layer whose name and "
        "weight shapes match; the rest keep their fresh initialisation",
    )
    layers: LayerPatterns | None = Field(
        None, description="from_run: copy only these layers (names or fnmatch patterns)"
    )
    exclude: LayerPatterns = Field(
        default_factory=list, description="from_run/weights: layers (names or patterns) left fresh"
    )
    new_head: bool | None = Field(
        None,
        description="weights: a fresh classifier head (the layers keras.applications drops with "
        "include_top=False); null = new when the classes or input differ from ImageNet's",
    )

    @field_validator("kernel")
    @classmethod
    def _known_initializer(cls, name: str | None) -> str | None:
        return None if name is None else _lookup(INITIALIZERS, name)


class FineTuneSection(Section):
    epochs: Count = Field(..., description="epochs of the second phase, after train.epochs")
    trainable: Literal["all", "top"] = Field("all", description="what trains in the second phase")
    top_blocks: Count | None = Field(None, description="trainable: top: how many top blocks train")
    learning_rate: PositiveFloat = Field(1e-5, description="the second phase's constant learning rate")


class TransferSection(Section):
    trainable: Literal["all", "head", "top"] = Field(
        "all",
        description="what trains for train.epochs: everything, the classifier head only (a fixed "
        "feature extractor), or the head and the top_blocks last blocks; frozen BatchNormalization "
        "runs in inference mode",
    )
    top_blocks: Count | None = Field(None, description="trainable: top: how many top blocks train")
    fine_tune: FineTuneSection | None = Field(
        None, description="a second phase: unfreeze (all or the top blocks) at a lower learning rate"
    )


class OptimizerSection(Section):
    name: str = "adam"
    learning_rate: PositiveFloat = 0.001
    momentum: Fraction | None = None
    nesterov: bool | None = None
    weight_decay: NonNegativeFloat | None = None
    beta_1: Fraction | None = None
    beta_2: Fraction | None = None
    epsilon: PositiveFloat | None = None
    rho: Fraction | None = None
    amsgrad: bool | None = None
    initial_accumulator_value: NonNegativeFloat | None = None
    clipnorm: PositiveFloat | None = None
    clipvalue: PositiveFloat | None = None
    global_clipnorm: PositiveFloat | None = None
    ema_momentum: Annotated[float, Field(gt=0.0, lt=1.0)] | None = Field(
        None,
        description="keep an exponential moving average of the weights (Keras' use_ema) with this "
        "momentum (0.999 say); validation, test and the logged model use the averaged weights",
    )

    @field_validator("name")
    @classmethod
    def _known_optimizer(cls, name: str) -> str:
        return _lookup(OPTIMIZERS, name)

    @model_validator(mode="after")
    def _options_apply(self) -> OptimizerSection:
        _raise_unused(self, OPTIMIZERS.meta(self.name)["options"], "optimizer", ("name", "learning_rate"))
        return self

    @property
    def options(self) -> dict[str, Any]:
        return {k: v for k, v in self if v is not None and k not in ("name", "learning_rate")}


class ScheduleSection(Section):
    name: str = "constant"
    warmup_epochs: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    step_size: Count | None = None
    factor: Annotated[float, Field(gt=0.0, lt=1.0)] | None = None
    alpha: Fraction | None = None
    patience: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    monitor: str | None = None
    min_lr: NonNegativeFloat | None = None

    @field_validator("name")
    @classmethod
    def _known_schedule(cls, name: str) -> str:
        return _lookup(SCHEDULES, name)

    @model_validator(mode="after")
    def _options_apply(self) -> ScheduleSection:
        _raise_unused(self, SCHEDULES.meta(self.name)["options"], "schedule", ("name",))
        return self


class CropSection(Section):
    """Shape-changing geometry, per image, before batching (every image data set)."""

    train: Literal["none", "random_resized", "scale_jitter"] = Field(
        "none",
        description="training view: resize to data.image_size, Inception's random-resized crop "
        "(scale, ratio), or VGG's scale jittering (shorter side in [min_side, max_side], then a "
        "random crop)",
    )
    scale: tuple[Annotated[float, Field(gt=0.0, le=1.0)], Annotated[float, Field(gt=0.0, le=1.0)]] = Field(
        (0.08, 1.0), description="random_resized: share of the image's area the crop covers"
    )
    ratio: tuple[PositiveFloat, PositiveFloat] = Field(
        (0.75, 4.0 / 3.0), description="random_resized: aspect ratio (width / height) of the crop"
    )
    min_side: Pixels = Field(256, description="scale_jitter: smallest shorter side S_min")
    max_side: Pixels = Field(512, description="scale_jitter: largest shorter side S_max")
    eval_side: Pixels | None = Field(
        None,
        description="validation and test: resize the shorter side to this, then centre-crop "
        "data.image_size (null = resize to data.image_size); eval.tta ten_crop takes its ten "
        "real crops from this image",
    )


class EvalSection(Section):
    tta: Literal["none", "hflip", "ten_crop"] = Field(
        "none", description="test-time augmentation logged as test_accuracy_tta: flip average or 10-crop"
    )
    crop_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.875,
        description="ten_crop without crop.eval_side: side of each crop as a fraction of the "
        "image (resized back)",
    )
    top_k: Annotated[int, Field(ge=1, le=100_000)] | None = Field(
        5,
        description="classifiers with more than top_k classes log top_{k}_accuracy per epoch "
        "(and val_) and test_top_{k}_accuracy; null = off",
    )


class KeepBest(Section):
    k: Annotated[int, Field(ge=1, le=100)] = Field(3, description="how many best epochs' weights to keep")
    monitor: str | None = Field(
        None, description="the metric that ranks epochs (null = the task's: val_accuracy or val_loss)"
    )
    average: bool = Field(
        True, description="final weights = the mean of the k kept (else the best epoch's weights)"
    )


class TrainSection(Section):
    epochs: Count = 10
    seed: NonNegativeInt | None = 0
    deterministic: bool = Field(False, description="deterministic TensorFlow ops (slower)")
    loss: str | None = Field(None, description="the task's own loss when null (classify: cross_entropy)")
    jit_compile: BoolOrAuto = Field("auto", description="XLA; auto = on for GPU, off on CPU")
    steps_per_execution: StepsPerExecution = Field("auto", description="auto = 16 on CPU, 32 on GPU")
    mixed_precision: Literal["auto", "float32", "mixed_float16", "mixed_bfloat16"] = Field(
        "auto", description="auto = mixed_bfloat16 on GPU, float32 on CPU"
    )
    verbose: Literal[0, 1, 2] | None = Field(None, description="Keras fit verbosity; auto when null")
    distribute: Literal["auto", "none", "mirrored"] = Field(
        "auto",
        description="mirrored = tf.distribute.MirroredStrategy over this machine's GPUs (the "
        "global batch is data.batch_size x replicas); auto = mirrored with more than one GPU",
    )
    sync_batchnorm: bool = Field(
        False, description="BatchNormalization statistics over the global batch (all replicas)"
    )
    accumulate: Annotated[int, Field(ge=1, le=10_000)] = Field(
        1,
        description="gradient accumulation: update the weights every N batches with their mean "
        "gradient (Keras' gradient_accumulation_steps; an effective batch of N x data.batch_size)",
    )
    keep_best: KeepBest | None = Field(
        None, description="keep the weights of the k best epochs and end with their mean (or the best)"
    )

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, name: str | None) -> str | None:
        return None if name is None else _lookup(LOSSES, name)


class TrackingSection(Section):
    enabled: bool = True
    uri: str | None = Field(
        None, description="MLflow tracking URI; else MLFLOW_TRACKING_URI, else the local store"
    )
    experiment: Annotated[str, Field(min_length=1, max_length=250)] = "kerasnets"
    run_name: Annotated[str, Field(min_length=1, max_length=250)] | None = None
    log_model: bool = Field(True, description="log the trained model as an MLflow model")
    tags: dict[str, str] = Field(default_factory=dict)
    system_metrics: bool = Field(
        True, description="MLflow system metrics (CPU, memory, disk, network; GPU with nvidia-ml-py)"
    )
    register_as: Annotated[str, Field(min_length=1, max_length=250)] | None = Field(
        None, description="register the run's model as a new version of this registered model"
    )


class Recipe(Section):
    """A whole experiment: data, model, augmentation, regularisation, init, optimiser, schedule,
    training and tracking."""

    description: str = ""
    task: TaskSection = Field(default_factory=TaskSection)
    data: DataSection = Field(default_factory=DataSection)
    model: ModelSection = Field(default_factory=ModelSection)
    augment: list[dict[str, dict[str, Any] | None]] = Field(
        default_factory=list, description="albumentations transforms by class name with arguments"
    )
    augment_batch: list[dict[str, dict[str, Any] | None]] = Field(
        default_factory=list, description="batch-level augmentations after augment: mixup, cutmix"
    )
    regularization: RegularizationSection = Field(default_factory=RegularizationSection)
    init: InitSection = Field(default_factory=InitSection)
    transfer: TransferSection = Field(default_factory=TransferSection)
    optimizer: OptimizerSection = Field(default_factory=OptimizerSection)
    schedule: ScheduleSection = Field(default_factory=ScheduleSection)
    train: TrainSection = Field(default_factory=TrainSection)
    crop: CropSection = Field(default_factory=CropSection)
    eval: EvalSection = Field(default_factory=EvalSection)
    tracking: TrackingSection = Field(default_factory=TrackingSection)
    explain: list[str | dict[str, dict[str, Any] | None]] = Field(
        default_factory=list, description="`kerasnets explain` methods logged at the end of training"
    )

    @field_validator("augment")
    @classmethod
    def _known_transforms(cls, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if steps:
            from kerasnets.data.augment import check_transforms

            _raise_option_problems(check_transforms(steps), prefix="")
        return steps

    @field_validator("augment_batch")
    @classmethod
    def _known_batch_augments(cls, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from kerasnets.data.batch_mix import check_batch_augments

        _raise_option_problems(check_batch_augments(steps), prefix="")
        return steps

    @field_validator("explain")
    @classmethod
    def _known_explainers(cls, steps: list[Any]) -> list[Any]:
        from kerasnets.explain import check_steps

        _raise_option_problems(check_steps(steps), prefix="")
        return steps

    @model_validator(mode="after")
    def _consistent(self) -> Recipe:
        _raise_option_problems(recipe_problems(self))
        preprocessing = weights_preprocessing(self)
        if preprocessing and "normalize" not in self.data.model_fields_set:
            self.data.normalize = preprocessing  # what the weights were trained with
        return self

    def flatten(self) -> dict[str, str]:
        """Dotted keys -> string values: the MLflow params of a run."""
        return flatten(self.model_dump(mode="json"))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


class OptionProblems(ValueError):
    """Raised inside validators to carry several keyed problems at once."""

    def __init__(self, problems: list[tuple[str, str, Any]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{k}: {m}" for k, m, _ in problems))


def _raise_option_problems(problems: list[tuple[str, str, Any]], prefix: str = "") -> None:
    if problems:
        raise OptionProblems([(prefix + key, msg, value) for key, msg, value in problems])


def _raise_unused(section: BaseModel, allowed: tuple[str, ...], kind: str, always: tuple[str, ...]) -> None:
    name = section.name
    problems = [
        (key, f"not an option of {kind} {name!r}. Valid: {', '.join(allowed) or 'none'}", None)
        for key, value in section
        if value is not None and key not in allowed and key not in always
    ]
    _raise_option_problems(problems)


# ----------------------------------------------------------------------------- loading


def validate(data: dict[str, Any], file: str, extra_problems: list[Problem] | None = None) -> Recipe:
    """Validate a merged recipe mapping; raise one ``RecipeError`` listing every problem."""
    problems = list(extra_problems or [])
    recipe = None
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        problems.extend(problems_from_validation_error(exc, Recipe))
    if problems:
        raise RecipeError(file, problems)
    return recipe


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read, merge (``extends``), override (``--set``) and validate a recipe file."""
    path = Path(path)
    data = resolve_extends(path)
    data, problems = apply_overrides(data, overrides or [])
    return validate(data, str(path), problems)


def json_schema() -> dict[str, Any]:
    """The recipe's JSON Schema (``kerasnets schema``)."""
    return Recipe.model_json_schema()
