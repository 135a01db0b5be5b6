"""Facts about the study's datasets, shared by config checks and loaders."""

# Image shape (channels, height, width) and class count of every dataset.
DATASETS = {
    "digits": {"shape": (1, 8, 8), "classes": 10},
    "mnist": {"shape": (1, 28, 28), "classes": 10},
    "fashion_mnist": {"shape": (1, 28, 28), "classes": 10},
    "cifar10": {"shape": (3, 32, 32), "classes": 10},
}

# Architectures, each implemented in cremodels/models/<name>.py.
ARCH_NAMES = ("fc", "cnn", "vit")
