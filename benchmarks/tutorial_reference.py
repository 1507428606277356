"""The reference training loop, written as the PyTorch "Training a Classifier" CIFAR-10 tutorial writes it.

The tutorial (pytorch/tutorials, beginner_source/blitz/cifar10_tutorial.py) loads
``torchvision.datasets.CIFAR10`` with a ``transforms.ToTensor()`` transform and iterates a
shuffled ``DataLoader(num_workers=2)``; every step calls ``loss.item()`` for its running
loss. ``torchvision.datasets.CIFAR10`` needs the official python batches, which this
machine cannot download, so ``TutorialCifar10`` serves the same uint8 arrays with the same
``__getitem__`` as torchvision 0.29's CIFAR10: one PIL image per sample, then the
transform. The tutorial also normalizes to [-1, 1], which this loop leaves out because
the lecture's model expects x / 255, and leaving it out only makes the reference faster.
The network, optimizer and batch size are tune_cifar's, so only the input pipeline and
loop differ from ``Trainer.train_epoch``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from tune_cifar.config import RMSPROP_EPSILON, RMSPROP_RHO, TrialConfig
from tune_cifar.model import build_model

from benchmarks.common import Throughput


class TutorialCifar10(Dataset):
    """CIFAR-10 arrays served one PIL image at a time, as ``torchvision.datasets.CIFAR10`` serves them."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Any = None):
        self.data = images
        """uint8 images, shape (N, 32, 32, 3), as torchvision's CIFAR10 keeps them."""
        self.targets = [int(label) for label in labels]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image, target = self.data[index], self.targets[index]
        image = Image.fromarray(image)
        if self.transform is not None:
            image = self.transform(image)
        return image, target


def tutorial_loader(data: Any, num_images: int, batch_size: int, workers: int) -> DataLoader:
    """Return the tutorial's shuffled DataLoader over the first ``num_images`` training images."""
    dataset = TutorialCifar10(data.x_train[:num_images], data.y_train[:num_images], transforms.ToTensor())
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers)


def tutorial_throughput(config: TrialConfig, data: Any, batches: int, warmup_batches: int, workers: int, seed: int = 0) -> Throughput:
    """Time ``batches`` tutorial-style steps after ``warmup_batches`` untimed ones, on the CPU."""
    torch.manual_seed(seed)
    net = build_model(config.model)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.RMSprop(net.parameters(), lr=config.learning_rate, alpha=RMSPROP_RHO, eps=RMSPROP_EPSILON)
    loader = tutorial_loader(data, (warmup_batches + batches) * config.batch_size, config.batch_size, workers)

    net.train()
    running_loss = 0.0
    start = time.perf_counter()
    warmup_s = 0.0
    for i, (inputs, labels) in enumerate(loader):
        if i == warmup_batches:
            warmup_s = time.perf_counter() - start
            start = time.perf_counter()
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    seconds = time.perf_counter() - start
    return Throughput(images=batches * config.batch_size, seconds=seconds, warmup_s=warmup_s)
