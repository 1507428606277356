"""One trial's training, following the lecture's Keras protocol, with no Ray dependency.

Protocol (Keras ``fit``): inputs scaled by 1/255; the last 20% of the training arrays
held out for validation; the rest reshuffled every epoch and cut into ``batch_size``
batches (the last one may be smaller); RMSprop(rho=0.9, epsilon=1e-7); categorical
cross-entropy; after each epoch val_loss feeds EarlyStopping, and the weights kept are
the last epoch's. At the end the model is evaluated on all training images (validation
part included, as ``model.evaluate(x_train, y_train)`` does) and on the test set.

Speed: the data set lives on the trial's device as one uint8 tensor and each batch is
gathered by index and converted to float there, so no per-sample Dataset/DataLoader work
sits in the hot loop.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from tune_cifar.config import RMSPROP_EPSILON, RMSPROP_RHO, VALIDATION_FRACTION, TrialConfig
from tune_cifar.early_stopping import EarlyStopping
from tune_cifar.model import build_model, count_parameters

logger = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16", "auto")
DEVICES = ("auto", "cpu", "cuda")
COMPILE_MODES = ("off", "default", "reduce-overhead")
"""``torch.compile`` settings: 'reduce-overhead' also captures CUDA graphs on a GPU."""

# Batch size for evaluation passes only; it changes speed, not results.
EVAL_BATCH_SIZE = 1000


@dataclass(frozen=True)
class TrainingOptions:
    """Hardware settings of a trial; none of them change the training protocol."""

    device: str = "auto"
    """'auto' (CUDA when available), 'cpu' or 'cuda'."""
    precision: str = "fp32"
    """'fp32', 'bf16' (autocast) or 'auto' (bf16 where the hardware supports it natively)."""
    threads: int | None = None
    """torch intra-op threads; None keeps torch's current setting."""
    channels_last: bool = True
    """Use the channels-last memory format for activations and conv weights."""
    compile: str = "off"
    """One of ``COMPILE_MODES``: 'off' runs eager, else ``torch.compile(model, mode=...)``."""

    # NOTE: both defaults are the winners of benchmarks/trainer_options.py on a 2-core
    # CPU (see benchmarks/README.md). channels_last was faster in 9 of 10 cells, and
    # compile was never faster. Neither has been measured on a GPU.


@dataclass
class EpochRecord:
    """Metrics of one finished epoch, in Keras's names."""

    epoch: int
    """1-based, as Keras prints it."""
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    epoch_time_s: float


@dataclass
class TrialOutcome:
    """Final results of a finished trial, besides its epoch history."""

    params: int
    epochs_run: int
    stop_reason: str
    """'early_stopping', 'max_epochs' or 'diverged'."""
    stopped_early: bool
    wall_time_s: float
    train_loss: float | None = None
    train_accuracy: float | None = None
    test_loss: float | None = None
    test_accuracy: float | None = None
    history: list[EpochRecord] = field(default_factory=list)


def select_device(requested: str = "auto") -> torch.device:
    """Resolve 'auto', 'cpu' or 'cuda' to a torch device, failing clearly without CUDA."""
    if requested not in DEVICES:
        raise ValueError(f"device {requested!r} is not one of {', '.join(DEVICES)}")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "device 'cuda' was requested but torch sees no CUDA device "
            f"(torch {torch.__version__}); use --device cpu or run on a GPU node"
        )
    return torch.device(requested)


def resolve_precision(requested: str, device: torch.device) -> str:
    """Resolve 'auto' to 'bf16' on CUDA with bf16 support or CPUs with native bf16, else 'fp32'."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision {requested!r} is not one of {', '.join(PRECISIONS)}")
    if requested != "auto":
        return requested
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if _cpu_has_native_bf16() else "fp32"


def _cpu_has_native_bf16() -> bool:
    # oneDNN reports bf16 support only for CPUs with AVX512-BF16 or AMX instructions.
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class DeviceData:
    """The data set on one device: uint8 NCHW image tensors and int64 labels."""

    def __init__(self, data: Any, device: torch.device, channels_last: bool = False):
        self.device = device
        self.x_train = _images_to_device(data.x_train, device, channels_last)
        self.y_train = torch.as_tensor(np.asarray(data.y_train, dtype=np.int64)).to(device)
        self.x_test = _images_to_device(data.x_test, device, channels_last)
        self.y_test = torch.as_tensor(np.asarray(data.y_test, dtype=np.int64)).to(device)
        # Keras: split_at = int(n * (1 - validation_split)); the tail is validation.
        self.split_at = int(len(self.y_train) * (1.0 - VALIDATION_FRACTION))
        if self.split_at < 1 or self.split_at >= len(self.y_train):
            raise ValueError(
                f"training set of {len(self.y_train)} images is too small for a "
                f"{VALIDATION_FRACTION:.0%} validation split; use a larger data set"
            )

    @property
    def num_fit(self) -> int:
        return self.split_at


def _images_to_device(images: np.ndarray, device: torch.device, channels_last: bool) -> torch.Tensor:
    # NHWC uint8 -> NCHW uint8, kept as bytes until a batch is taken. Arrays from Ray's
    # object store are read-only, and torch warns about that. These tensors are never
    # written to, so the warning is silenced instead of paying for a copy.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        tensor = torch.from_numpy(np.ascontiguousarray(images))
    tensor = tensor.permute(0, 3, 1, 2)
    tensor = tensor.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    if device.type == "cuda":
        tensor = tensor.pin_memory().to(device, non_blocking=True)
    return tensor


def to_float(images: torch.Tensor) -> torch.Tensor:
    """Scale a uint8 batch to float32 in [0, 1], as the lecture's ``x / 255``."""
    return images.float().div_(255.0)


def epoch_permutation(num_fit: int, seed: int, epoch: int) -> torch.Tensor:
    """Return epoch ``epoch``'s shuffled order of the fit part; a pure function of seed and epoch.

    Deriving the order from (seed, epoch) instead of a running generator lets a trial
    resumed from a checkpoint see exactly the batches it would have seen.
    """
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(num_fit, generator=generator)


def _set_threads(threads: int) -> None:
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}; pass None to keep torch's setting")
    torch.set_num_threads(threads)


def _compiled(model: nn.Module, mode: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Return ``model`` itself for mode 'off', else ``torch.compile(model, mode=mode)``.

    Compiling happens lazily on the first batch of each new shape and train/eval mode,
    so a trial pays it a few times (fit batches, the last smaller batch, evaluation).
    """
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile mode {mode!r} is not one of {', '.join(COMPILE_MODES)}")
    if mode == "off":
        return model
    return torch.compile(model, mode=mode)


class Trainer:
    """Model, optimizer and early-stopping state of one trial, advanced epoch by epoch."""

    def __init__(self, config: TrialConfig, data: DeviceData, seed: int, options: TrainingOptions = TrainingOptions()):
        self.config = config
        self.data = data
        self.seed = seed
        self.device = data.device
        self.precision = resolve_precision(options.precision, self.device)
        self.channels_last = options.channels_last
        if options.threads is not None:
            _set_threads(options.threads)

        torch.manual_seed(seed)  # the same seed gives the same initial weights
        self.model = build_model(config.model).to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        # The compiled module shares parameters with self.model, which stays the one whose
        # state_dict is saved, so checkpoints do not depend on the compile setting.
        self.forward = _compiled(self.model, options.compile)
        self.params = count_parameters(self.model)
        self.optimizer = torch.optim.RMSprop(
            self.model.parameters(), lr=config.learning_rate, alpha=RMSPROP_RHO, eps=RMSPROP_EPSILON
        )
        self.loss_fn = nn.CrossEntropyLoss()
        self.early_stopping = EarlyStopping(config.patience) if config.patience is not None else None
        self.history: list[EpochRecord] = []
        self.elapsed_s = 0.0

    @property
    def epochs_done(self) -> int:
        return len(self.history)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def train_epoch(self) -> tuple[float, float]:
        """Run one epoch over the shuffled fit part; return Keras's running loss and accuracy."""
        self.model.train()
        order = epoch_permutation(self.data.num_fit, self.seed, self.epochs_done).to(self.device, non_blocking=True)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.int64)
        batch_size = self.config.batch_size
        for start in range(0, self.data.num_fit, batch_size):
            index = order[start : start + batch_size]
            images = to_float(self.data.x_train[index])
            labels = self.data.y_train[index]
            with self._autocast():
                logits = self.forward(images)
                loss = self.loss_fn(logits.float(), labels)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            # Accumulate on the device; one host sync per epoch instead of per batch.
            loss_sum += loss.detach() * len(index)
            correct += (logits.argmax(dim=1) == labels).sum()
        n = self.data.num_fit
        return loss_sum.item() / n, correct.item() / n

    @torch.inference_mode()
    def evaluate(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
        """Return mean cross-entropy and accuracy on ``images`` with dropout off."""
        self.model.eval()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.int64)
        for start in range(0, len(labels), EVAL_BATCH_SIZE):
            batch = to_float(images[start : start + EVAL_BATCH_SIZE])
            target = labels[start : start + EVAL_BATCH_SIZE]
            with self._autocast():
                logits = self.forward(batch).float()
            loss_sum += nn.functional.cross_entropy(logits, target, reduction="sum")
            correct += (logits.argmax(dim=1) == target).sum()
        return loss_sum.item() / len(labels), correct.item() / len(labels)

    def run_epoch(self) -> EpochRecord:
        """Train one epoch, validate, and append the record to the history."""
        start = time.perf_counter()
        loss, accuracy = self.train_epoch()
        split = self.data.split_at
        val_loss, val_accuracy = self.evaluate(self.data.x_train[split:], self.data.y_train[split:])
        epoch_time = time.perf_counter() - start
        self.elapsed_s += epoch_time
        record = EpochRecord(
            epoch=self.epochs_done + 1,
            loss=loss,
            accuracy=accuracy,
            val_loss=val_loss,
            val_accuracy=val_accuracy,
            epoch_time_s=epoch_time,
        )
        self.history.append(record)
        return record

    def state_dict(self) -> dict[str, Any]:
        """Return everything needed to continue this trial bit for bit on the same device."""
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "early_stopping": self.early_stopping.state_dict() if self.early_stopping else None,
            "history": [vars(record) for record in self.history],
            "elapsed_s": self.elapsed_s,
            "torch_rng": torch.get_rng_state(),
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict`` taken from a trial with the same config and seed."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state["early_stopping"] is not None:
            self.early_stopping = EarlyStopping.from_state_dict(state["early_stopping"])
        self.history = [EpochRecord(**record) for record in state["history"]]
        self.elapsed_s = state["elapsed_s"]
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)


EpochCallback = Callable[[Trainer, EpochRecord, "TrialOutcome | None"], None]


def fit(trainer: Trainer, on_epoch: EpochCallback | None = None, trial_name: str = "trial") -> TrialOutcome:
    """Train until early stopping, divergence or the epoch budget; then evaluate.

    ``on_epoch(trainer, record, outcome)`` runs after every epoch; ``outcome`` is None
    except after the last epoch, where it carries the final evaluation. Training resumes
    from ``trainer.epochs_done``, so a trainer restored from a checkpoint continues.
    """
    config = trainer.config
    outcome = None
    while outcome is None:
        record = trainer.run_epoch()
        _log_epoch(trial_name, record, config.max_epochs)
        stop_reason = _stop_reason(trainer, record)
        if stop_reason is not None:
            outcome = _finish(trainer, stop_reason)
            _log_outcome(trial_name, outcome)
        if on_epoch is not None:
            on_epoch(trainer, record, outcome)
    return outcome


def _stop_reason(trainer: Trainer, record: EpochRecord) -> str | None:
    if not (math.isfinite(record.loss) and math.isfinite(record.val_loss)):
        return "diverged"
    if trainer.early_stopping is not None and trainer.early_stopping.update(record.epoch - 1, record.val_loss):
        return "early_stopping"
    if trainer.epochs_done >= trainer.config.max_epochs:
        return "max_epochs"
    return None


def _finish(trainer: Trainer, stop_reason: str) -> TrialOutcome:
    outcome = TrialOutcome(
        params=trainer.params,
        epochs_run=trainer.epochs_done,
        stop_reason=stop_reason,
        stopped_early=stop_reason == "early_stopping",
        wall_time_s=trainer.elapsed_s,
        history=list(trainer.history),
    )
    if stop_reason == "diverged":
        return outcome  # a diverged model has no meaningful accuracy to report

    start = time.perf_counter()
    data = trainer.data
    outcome.train_loss, outcome.train_accuracy = trainer.evaluate(data.x_train, data.y_train)
    outcome.test_loss, outcome.test_accuracy = trainer.evaluate(data.x_test, data.y_test)
    trainer.elapsed_s += time.perf_counter() - start
    outcome.wall_time_s = trainer.elapsed_s
    return outcome


def _log_epoch(trial_name: str, record: EpochRecord, max_epochs: int) -> None:
    logger.info(
        "%s epoch %d/%d: loss %.4f accuracy %.4f val_loss %.4f val_accuracy %.4f (%.1f s)",
        trial_name,
        record.epoch,
        max_epochs,
        record.loss,
        record.accuracy,
        record.val_loss,
        record.val_accuracy,
        record.epoch_time_s,
    )


def _log_outcome(trial_name: str, outcome: TrialOutcome) -> None:
    if outcome.test_accuracy is None:
        logger.warning("%s stopped after %d epochs: %s", trial_name, outcome.epochs_run, outcome.stop_reason)
        return
    logger.info(
        "%s finished after %d epochs (%s): train_accuracy %.4f test_accuracy %.4f test_loss %.4f, %.1f s",
        trial_name,
        outcome.epochs_run,
        outcome.stop_reason,
        outcome.train_accuracy,
        outcome.test_accuracy,
        outcome.test_loss,
        outcome.wall_time_s,
    )
