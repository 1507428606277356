"""Ray Tune hyperparameter search for small CNNs on CIFAR-10."""

__version__ = "0.1.0"
