"""The second star-vs-cloud measure, cosine cluster scores and the angle matrix,
on point sets whose shape is known by construction."""

import json

import numpy as np
import pandas as pd
import pytest

from cremodels import geometry
from tests.test_geometry import clouds, star


@pytest.mark.parametrize("dim", [2, 3, 10])
def test_radial_variance_orders_star_above_clouds(dim):
    star_rvi = geometry.radial_variance_index(*star(dim=dim))
    cloud_rvi = geometry.radial_variance_index(*clouds(dim=dim))
    assert star_rvi > 0.95
    assert abs(cloud_rvi) < 0.1
    assert star_rvi > cloud_rvi + 0.8


def test_radial_variance_is_negative_for_spread_across_the_ray():
    # every class on a line through its centre, perpendicular to the centre's ray
    centres = np.array([[5.0, 0.0], [0.0, 5.0], [-5.0, 0.0]])
    across = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    t = np.linspace(-2, 2, 100)[None, :, None]  # symmetric: the mean is the centre
    z = (centres[:, None, :] + t * across[:, None, :]).reshape(-1, 2)
    y = np.repeat(np.arange(3), 100)
    assert geometry.radial_variance_index(z, y) == pytest.approx(-1.0, abs=1e-6)


def test_radial_variance_weighs_how_much_spread_is_radial():
    # clusters only 1.5 times longer along their ray than across it: the principal
    # axis points along the ray (alignment near 1) but most variance is not radial
    rng = np.random.default_rng(0)
    centres = 8.0 * np.eye(2)
    along, across = centres / 8.0, np.array([[0.0, 1.0], [1.0, 0.0]])
    noise = rng.normal(size=(2, 4000, 2)) * [1.5, 1.0]
    z = centres[:, None, :] + (
        noise[..., :1] * along[:, None, :] + noise[..., 1:] * across[:, None, :]
    )
    z, y = z.reshape(-1, 2), np.repeat(np.arange(2), 4000)
    assert geometry.radial_alignment_index(z, y) > 0.9
    # share along the ray 2.25 / 3.25, so (0.692 - 1/2) / (1 - 1/2) = 0.385
    assert geometry.radial_variance_index(z, y) == pytest.approx(0.385, abs=0.03)


def test_radial_variance_is_undefined_in_one_dimension():
    assert np.isnan(
        geometry.radial_variance_index(np.ones((10, 1)), np.repeat([0, 1], 5))
    )


def test_cosine_cluster_scores_prefer_the_star():
    # in cosine geometry only directions count: a star is perfectly clustered,
    # the reverse of the Euclidean scores (tests/test_geometry.py)
    star_scores = geometry.cosine_cluster_scores(*star())
    cloud_scores = geometry.cosine_cluster_scores(*clouds())
    assert star_scores["silhouette_cosine"] > 0.99
    assert star_scores["silhouette_cosine"] > cloud_scores["silhouette_cosine"] + 0.1
    assert star_scores["davies_bouldin_cosine"] < cloud_scores["davies_bouldin_cosine"]
    assert (
        star_scores["calinski_harabasz_cosine"]
        > 10 * cloud_scores["calinski_harabasz_cosine"]
    )


def test_class_mean_angles_matrix_of_known_directions():
    # classes 0, 1, 2 at 0, 90 and 45 degrees in the plane
    z = np.array([[1, 0], [2, 0], [0, 1], [0, 3], [1, 1], [2, 2]], float)
    angles = geometry.class_mean_angles(z, np.array([0, 0, 1, 1, 2, 2]))
    assert list(angles.index) == list(angles.columns) == ["0", "1", "2"]
    expected = [[0, 90, 45], [90, 0, 45], [45, 45, 0]]
    np.testing.assert_allclose(angles.to_numpy(), expected, atol=1e-6)


def test_geometry_job_writes_metrics_and_angle_matrix(tmp_path):
    z, y = clouds(dim=4, classes=3, n_per_class=60)
    latents = tmp_path / "latents.npz"
    np.savez(latents, z_test=z, y_test=y, z_train=z, y_train=y)
    outputs = {"geometry": tmp_path / "g.json", "angles": tmp_path / "a.csv"}
    geometry.geometry_job(
        latents={"run": latents},
        outputs={"run": outputs},
        silhouette_samples=100,
        probe_max_iter=100,
    )
    metrics = json.loads(outputs["geometry"].read_text())
    for key in (
        "silhouette",
        "silhouette_cosine",
        "davies_bouldin_cosine",
        "calinski_harabasz_cosine",
        "radial_alignment",
        "radial_variance_index",
        "angle_mean",
        "angle_min",
    ):
        assert np.isfinite(metrics[key]), key
    angles = pd.read_csv(outputs["angles"], index_col="class")
    assert angles.shape == (3, 3)
    np.testing.assert_allclose(np.diag(angles), 0, atol=1e-6)
    pairs = angles.to_numpy()[np.triu_indices(3, k=1)]
    assert pairs.min() == pytest.approx(metrics["angle_min"])
    assert pairs.mean() == pytest.approx(metrics["angle_mean"])
