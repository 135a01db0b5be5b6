"""Every architecture: output shapes, pixel range, and the factory's checks."""

import pytest
import torch

from cremodels.catalog import DATASETS
from cremodels.models import LEVELS, build_model, count_parameters


@pytest.mark.parametrize("dataset", sorted(DATASETS))
@pytest.mark.parametrize("arch", sorted(LEVELS))
@pytest.mark.parametrize("complexity", [1, 2, 3])
def test_shapes_and_pixel_range(dataset, arch, complexity):
    shape = DATASETS[dataset]["shape"]
    options = (
        {"patch_size": 4 if shape[-1] % 4 == 0 and shape[-1] > 8 else 2}
        if arch == "vit"
        else {}
    )
    torch.manual_seed(0)
    model = build_model(
        arch=arch,
        input_shape=shape,
        num_classes=10,
        latent_dim=5,
        complexity=complexity,
        **options,
    )
    x = torch.rand(4, *shape)
    z, x_hat, logits, weight = model(x)
    assert z.shape == (4, 5)
    assert x_hat.shape == (4, *shape)
    assert logits.shape == (4, 10)
    assert weight is None  # no masking outside training
    assert 0.0 <= x_hat.min() and x_hat.max() <= 1.0
    assert count_parameters(model) > 0


@pytest.mark.parametrize("arch", sorted(LEVELS))
def test_complexity_levels_grow(arch):
    options = {"patch_size": 4} if arch == "vit" else {}
    counts = [
        count_parameters(
            build_model(
                arch=arch,
                input_shape=(1, 28, 28),
                num_classes=10,
                latent_dim=8,
                complexity=c,
                **options,
            )
        )
        for c in (1, 2, 3)
    ]
    assert counts == sorted(counts) and len(set(counts)) == 3


def test_factory_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown arch 'mlp'"):
        build_model(
            arch="mlp",
            input_shape=(1, 8, 8),
            num_classes=10,
            latent_dim=2,
            complexity=1,
        )
    with pytest.raises(ValueError, match="unknown complexity 7"):
        build_model(
            arch="fc", input_shape=(1, 8, 8), num_classes=10, latent_dim=2, complexity=7
        )
    with pytest.raises(ValueError, match="latent_dim must be >= 1"):
        build_model(
            arch="cnn",
            input_shape=(1, 8, 8),
            num_classes=10,
            latent_dim=0,
            complexity=1,
        )


def test_same_seed_same_initial_weights():
    from cremodels.train import init_model

    settings = dict(
        arch="cnn", input_shape=[1, 8, 8], num_classes=10, latent_dim=3, complexity=1
    )
    a, b, c = init_model(settings, 3), init_model(settings, 3), init_model(settings, 4)
    for (name, pa), pb in zip(
        a.state_dict().items(), b.state_dict().values(), strict=True
    ):
        assert torch.equal(pa, pb), name
    assert any(
        not torch.equal(pa, pc)
        for pa, pc in zip(a.state_dict().values(), c.state_dict().values(), strict=True)
    )


@pytest.mark.parametrize("groups", [1, 2, 6])
def test_fc_batched_layers_equal_each_model_alone(groups):
    from torch.func import stack_module_state

    torch.manual_seed(0)
    models = [
        build_model(
            arch="fc",
            input_shape=(1, 28, 28),
            num_classes=10,
            latent_dim=5,
            complexity=2,
        )
        for _ in range(6)
    ]
    own, _ = stack_module_state(models)
    params = models[0].stack_parameters(own, groups)
    for name, tensor in models[0].unstack_parameters(params).items():
        assert torch.equal(tensor, own[name]), name  # the layout round-trips
    x = torch.rand(groups, 16, 1, 28, 28)  # one batch per group of 6/groups models
    stacked = models[0].stacked_forward(params, x)
    for k, model in enumerate(models):
        alone = model(x[k // (6 // groups)])
        for mine, theirs in zip(stacked[:3], alone[:3], strict=True):
            torch.testing.assert_close(mine[k], theirs, rtol=1e-5, atol=1e-6)
