"""``seq2seq``: a class at every output step, targets ``(N, T_out)`` (digit strings reversed
or added, counting from one vector, an ECG labelled sample by sample), scored per step and
per whole sequence."""

from __future__ import annotations

import keras
import numpy as np

from kerasnets.train.metrics import SequenceAccuracy, sequence_accuracy
from kerasnets.train.tasks.base import TASKS, Task

#: How many test sequences ``Seq2Seq.figures`` draws.
SHOWN = 6


@TASKS.register("seq2seq")
class Seq2Seq(Task):
    """Sparse cross-entropy at every step; per-step accuracy (``step_accuracy``) and
    whole-sequence accuracy (``sequence_accuracy``: every step right)."""

    name = "seq2seq"
    headline = "test_sequence_accuracy"
    previews_input = False  # token strings and signals, never augmented: step_predictions.png shows them

    def model_options(self, splits) -> dict:
        """``output_steps`` from the data set's target length, for models that take it and
        recipes that leave it out."""
        from kerasnets.models import model_options

        if (
            "output_steps" in model_options(self.recipe.model.name)
            and "output_steps" not in self.recipe.model.options
        ):
            return {"output_steps": int(splits.y_train.shape[1])}
        return {}

    def compile(self, model, optimizer, jit_compile, steps_per_execution):
        model.compile(
            optimizer=optimizer,
            loss="sparse_categorical_crossentropy",  # the task's cross_entropy, a label per step
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="step_accuracy"), SequenceAccuracy()],
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
        )

    def evaluate(self, net, pipelines, splits, batch_size):
        loss = float(net.evaluate(pipelines.test, verbose=0, return_dict=True)["loss"])
        self.predictions = np.argmax(net.predict(pipelines.test, verbose=0), axis=-1)  # (N, T_out)
        truth = splits.y_test
        return {
            "test_loss": loss,
            "test_sequence_accuracy": sequence_accuracy(truth, self.predictions),
            "test_step_accuracy": float(np.mean(self.predictions == truth)),
        }

    def figures(self, net, splits):
        from kerasnets.plots import step_predictions_figure

        count = min(SHOWN, len(splits.y_test))
        inputs = splits.x_test[:count, :, :, 0]  # (count, T, F): one-hot tokens or a signal
        args = (inputs, splits.y_test[:count], self.predictions[:count], splits.class_names)
        return [(step_predictions_figure, args, "step_predictions.png")]
