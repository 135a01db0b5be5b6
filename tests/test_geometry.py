"""Geometry metrics on point sets whose shape is known by construction."""

import numpy as np
import pytest

from cremodels import geometry


def star(n_per_class=200, classes=4, dim=3, seed=0):
    """Each class along its own ray from the origin: z = r * u_c + small noise."""
    rng = np.random.default_rng(seed)
    directions = geometry._unit(rng.normal(size=(classes, dim)))
    radius = rng.uniform(1.0, 10.0, size=(classes, n_per_class, 1))
    z = radius * directions[:, None, :] + 0.05 * rng.normal(
        size=(classes, n_per_class, dim)
    )
    return z.reshape(-1, dim), np.repeat(np.arange(classes), n_per_class)


def clouds(n_per_class=200, classes=4, dim=3, seed=0):
    """Each class an isotropic Gaussian blob around its own centre."""
    rng = np.random.default_rng(seed)
    centres = 6.0 * geometry._unit(rng.normal(size=(classes, dim)))
    z = centres[:, None, :] + rng.normal(size=(classes, n_per_class, dim))
    return z.reshape(-1, dim), np.repeat(np.arange(classes), n_per_class)


@pytest.mark.parametrize("dim", [2, 3, 10])
def test_radial_alignment_orders_star_above_clouds(dim):
    star_rai = geometry.radial_alignment_index(*star(dim=dim))
    cloud_rai = geometry.radial_alignment_index(*clouds(dim=dim))
    assert star_rai > 0.95
    assert abs(cloud_rai) < 0.35
    assert star_rai > cloud_rai + 0.5


def test_angular_spread_is_small_for_a_star():
    assert geometry.angular_spread(*star()) < 2.0
    assert geometry.angular_spread(*clouds()) > 5.0


def test_cluster_scores_prefer_compact_clouds():
    star_scores = geometry.cluster_scores(*star())
    cloud_scores = geometry.cluster_scores(*clouds())
    assert cloud_scores["silhouette"] > star_scores["silhouette"]
    assert cloud_scores["davies_bouldin"] < star_scores["davies_bouldin"]
    assert cloud_scores["calinski_harabasz"] > star_scores["calinski_harabasz"]


def test_angular_separation_of_known_directions():
    # four classes on the coordinate axes of 4-D space: every pair at 90 degrees
    z = np.repeat(np.eye(4), 10, axis=0) * np.linspace(1, 3, 40)[:, None]
    y = np.repeat(np.arange(4), 10)
    result = geometry.angular_separation(z, y)
    assert result["angle_mean"] == pytest.approx(90.0)
    assert result["angle_min"] == pytest.approx(90.0)
    # in 2-D: classes at 0, 180 and 45 degrees
    z2 = np.array([[1, 0], [2, 0], [-1, 0], [-2, 0], [1, 1], [2, 2]], float)
    angles = geometry.angular_separation(z2, np.array([0, 0, 1, 1, 2, 2]))
    assert angles["angle_min"] == pytest.approx(45.0)
    assert angles["angle_mean"] == pytest.approx((180 + 45 + 135) / 3)


def test_radial_alignment_is_undefined_in_one_dimension():
    assert np.isnan(
        geometry.radial_alignment_index(np.ones((10, 1)), np.repeat([0, 1], 5))
    )


def test_linear_probe_separable_and_random_latents():
    z, y = clouds(dim=5)
    assert geometry.linear_probe_accuracy(z[::2], y[::2], z[1::2], y[1::2]) > 0.97
    noise = np.random.default_rng(1).normal(size=z.shape)
    assert (
        geometry.linear_probe_accuracy(noise[::2], y[::2], noise[1::2], y[1::2]) < 0.45
    )
