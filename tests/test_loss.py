"""The CRE loss is exactly lam * MSE + (1 - lam) * CE."""

import torch
import torch.nn.functional as F

from cremodels.loss import cre_loss, reconstruction_mse


def _batch():
    torch.manual_seed(0)
    x, x_hat = torch.rand(8, 1, 8, 8), torch.rand(8, 1, 8, 8)
    logits, y = torch.randn(8, 10), torch.randint(0, 10, (8,))
    return x_hat, x, logits, y


def test_lam_zero_is_cross_entropy_and_lam_one_is_mse():
    x_hat, x, logits, y = _batch()
    expected_ce = F.cross_entropy(logits, y)
    expected_mse = ((x_hat - x) ** 2).mean()
    at_zero = cre_loss(0.0, x_hat, x, logits, y)
    at_one = cre_loss(1.0, x_hat, x, logits, y)
    assert torch.equal(at_zero.total, expected_ce)
    assert torch.equal(at_one.total, expected_mse)
    assert torch.equal(at_zero.mse, expected_mse) and torch.equal(
        at_one.ce, expected_ce
    )


def test_lam_weights_the_two_parts():
    x_hat, x, logits, y = _batch()
    parts = cre_loss(0.3, x_hat, x, logits, y)
    assert torch.allclose(parts.total, 0.3 * parts.mse + 0.7 * parts.ce)


def test_gradient_of_unweighted_part_is_zero():
    x_hat, x, logits, y = _batch()
    x_hat.requires_grad_(True)
    logits.requires_grad_(True)
    cre_loss(0.0, x_hat, x, logits, y).total.backward()
    assert torch.count_nonzero(x_hat.grad) == 0 and torch.count_nonzero(logits.grad) > 0


def test_weighted_mse_counts_only_weighted_pixels():
    x = torch.zeros(1, 1, 2, 2)
    x_hat = torch.tensor([[[[1.0, 0.0], [0.5, 0.0]]]])
    weight = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    assert reconstruction_mse(x_hat, x, weight).item() == 0.5
    assert reconstruction_mse(x_hat, x).item() == (1.0 + 0.25) / 4
