"""Training throughput of the lecture's Keras script: the same models and batch sizes in TensorFlow.

Runs in a Python that has TensorFlow (the ``benchmark`` extra, best kept in its own
virtual environment), not in tune_cifar's, so it imports neither torch nor tune_cifar.
``benchmarks/throughput.py`` starts it as a subprocess:

    python benchmarks/keras_reference.py SPEC.json

SPEC.json names an .npz file with ``x`` (uint8, N x 32 x 32 x 3) and ``y`` (int labels)
and lists the architectures. The script prepares the data as the lecture does
(``astype('float32') / 255`` and ``to_categorical``), builds the lecture's Sequential
model, compiles it with RMSprop and categorical cross-entropy, and times
``model.fit`` batches after the warm-up ones. It prints one JSON line per architecture.
"""

from __future__ import annotations

import json
import os
import sys
import time

# Keep TensorFlow's start-up chatter out of the output; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow import keras  # noqa: E402
from tensorflow.keras import layers  # noqa: E402

# Keras's RMSprop rho and epsilon, named as tune_cifar's config names them.
RMSPROP_RHO = 0.9
RMSPROP_EPSILON = 1e-7


def build_lecture_model(architecture: dict) -> keras.Sequential:
    """Build the lecture's Sequential CNN for one tune_cifar architecture dict."""
    model = keras.Sequential([keras.Input(shape=(32, 32, 3))])
    for block in architecture["conv_blocks"]:
        for filters in block["filters"]:
            model.add(layers.Conv2D(filters, (3, 3), activation="relu"))
        model.add(layers.MaxPooling2D(pool_size=(2, 2)))
        if block["dropout"] > 0:
            model.add(layers.Dropout(block["dropout"]))
    model.add(layers.Flatten())
    model.add(layers.Dense(architecture["dense_units"], activation="relu"))
    if architecture["dense_dropout"] > 0:
        model.add(layers.Dropout(architecture["dense_dropout"]))
    model.add(layers.Dense(10, activation="softmax"))
    optimizer = keras.optimizers.RMSprop(
        learning_rate=architecture["learning_rate"], rho=RMSPROP_RHO, epsilon=RMSPROP_EPSILON
    )
    model.compile(loss="categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model


class BatchClock(keras.callbacks.Callback):
    """Record the time when warm-up ends and when the last batch ends."""

    def __init__(self, warmup_batches: int):
        super().__init__()
        self.warmup_batches = warmup_batches
        self.started = None
        self.finished = None
        self.fit_started = None

    def on_train_begin(self, logs=None):
        self.fit_started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if batch == self.warmup_batches - 1:
            self.started = now
        self.finished = now


def measure(architecture: dict, x: np.ndarray, y: np.ndarray, batches: int, warmup_batches: int) -> dict:
    """Fit one epoch of ``warmup_batches + batches`` batches; return the timed part's images per second."""
    batch_size = architecture["batch_size"]
    count = (warmup_batches + batches) * batch_size
    if count > len(x):
        raise ValueError(f"{count} images needed but the spec's data has {len(x)}; lower --images")
    x_train = x[:count].astype("float32") / 255  # the lecture's preprocessing
    y_train = keras.utils.to_categorical(y[:count], 10)

    keras.utils.set_random_seed(0)
    model = build_lecture_model(architecture)
    clock = BatchClock(warmup_batches)
    model.fit(x_train, y_train, batch_size=batch_size, epochs=1, shuffle=True, verbose=0, callbacks=[clock])
    seconds = clock.finished - clock.started
    return {
        "name": architecture["name"],
        "images": batches * batch_size,
        "seconds": seconds,
        "images_per_s": batches * batch_size / seconds,
        "warmup_s": clock.started - clock.fit_started,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python benchmarks/keras_reference.py SPEC.json", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as handle:
        spec = json.load(handle)
    if spec.get("threads"):
        tf.config.threading.set_intra_op_parallelism_threads(spec["threads"])
    arrays = np.load(spec["data"])
    print(json.dumps({"tensorflow": tf.__version__, "keras": keras.__version__}), flush=True)
    for architecture in spec["architectures"]:
        batches = architecture["batches"]
        result = measure(architecture, arrays["x"], arrays["y"], batches, spec["warmup_batches"])
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
