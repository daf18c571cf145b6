"""The ``mlflow.keras`` flavor of a model already saved as a ``.keras`` file, written in the
tracking process without importing Keras (and TensorFlow: seconds and half a gigabyte).

``KerasFileFlavor.save_model`` writes what ``mlflow.keras.save_model`` writes (MLflow 3.x:
``data/model.keras``, ``data/keras_module.txt``, the ``keras`` and ``python_function``
flavors, signature, input example, environment files), with MLflow's own helpers; the one
step that needs Keras, ``model.save``, is a file copy, and the Keras version and backend come
from the training process. ``mlflow.keras.load_model`` and ``mlflow.pyfunc.load_model`` load
it (tests/test_registry.py) and a test compares its files with ``mlflow.keras.save_model``'s.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

#: the layout of mlflow.keras.save (its module constants are private)
DATA = "data"
MODEL_FILE = "model.keras"
MODULE_SPEC = "keras_module.txt"


@dataclass(frozen=True)
class KerasFile:
    """A saved model and the Keras that saved it."""

    path: str
    keras_version: str
    keras_backend: str


class KerasFileFlavor:
    """A flavor module for ``mlflow.models.Model.log`` (``model=KerasFile(...)``)."""

    __name__ = "mlflow.keras"

    @staticmethod
    def save_model(
        path: str,
        model: KerasFile,
        mlflow_model=None,
        signature=None,
        input_example=None,
        pip_requirements=None,
        **_,
    ) -> None:
        import yaml
        from mlflow import pyfunc
        from mlflow.models import Model
        from mlflow.models.model import MLMODEL_FILE_NAME
        from mlflow.models.utils import _save_example
        from mlflow.utils.environment import (
            _CONDA_ENV_FILE_NAME,
            _CONSTRAINTS_FILE_NAME,
            _PYTHON_ENV_FILE_NAME,
            _REQUIREMENTS_FILE_NAME,
            _process_pip_requirements,
            _PythonEnv,
        )
        from mlflow.utils.file_utils import get_total_file_size, write_to

        mlflow_model = mlflow_model or Model()
        os.makedirs(os.path.join(path, DATA))
        if signature is not None:
            mlflow_model.signature = signature
        if input_example is not None:
            _save_example(mlflow_model, input_example, path)
        with open(os.path.join(path, DATA, MODULE_SPEC), "w") as handle:
            handle.write("keras")
        shutil.copyfile(model.path, os.path.join(path, DATA, MODEL_FILE))
        mlflow_model.add_flavor(
            "keras",
            data=DATA,
            keras_version=model.keras_version,
            keras_backend=model.keras_backend,
            save_exported_model=False,
        )
        pyfunc.add_to_model(
            mlflow_model,
            loader_module="mlflow.keras",
            conda_env=_CONDA_ENV_FILE_NAME,
            python_env=_PYTHON_ENV_FILE_NAME,
        )
        if size := get_total_file_size(path):
            mlflow_model.model_size_bytes = size
        mlflow_model.save(os.path.join(path, MLMODEL_FILE_NAME))
        conda_env, pip_requirements, constraints = _process_pip_requirements([], pip_requirements or [])
        with open(os.path.join(path, _CONDA_ENV_FILE_NAME), "w") as handle:
            yaml.safe_dump(conda_env, stream=handle, default_flow_style=False)
        if constraints:
            write_to(os.path.join(path, _CONSTRAINTS_FILE_NAME), "\n".join(constraints))
        write_to(os.path.join(path, _REQUIREMENTS_FILE_NAME), "\n".join(pip_requirements))
        _PythonEnv.current().to_yaml(os.path.join(path, _PYTHON_ENV_FILE_NAME))
