"""Latent geometry: is a run's latent a "star" or a set of "point clouds"?

Classification with a linear head tends to push each class along its own ray from
the origin (a star); reconstruction tends to give compact clusters (point clouds).
All functions take latents z (N, d) and integer labels y (N,) as numpy arrays.

Metrics (all on test latents unless stated):

* cluster scores from scikit-learn: silhouette (higher = better separated),
  Davies-Bouldin (lower = better), Calinski-Harabasz (higher = better);
* angular separation: angles between the classes' mean directions, mean and
  minimum over class pairs, in degrees;
* angular spread: mean angle between a sample and its class's mean direction,
  in degrees, averaged over classes;
* radial-alignment index (`radial_alignment_index`): 1 when each class spreads
  along the ray of its mean direction, about 0 for isotropic clusters;
* linear-probe accuracy: logistic regression fitted on frozen training latents,
  scored on test latents.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from cremodels.io import write_json

log = logging.getLogger(__name__)

EPS = 1e-12


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), EPS)


def cluster_scores(z, y, *, silhouette_samples: int = 5000, seed: int = 0) -> dict:
    """Silhouette, Davies-Bouldin and Calinski-Harabasz scores (Euclidean)."""
    z = np.asarray(z, dtype=np.float64)
    sample = min(silhouette_samples, len(z))
    return {
        "silhouette": float(
            silhouette_score(z, y, sample_size=sample, random_state=seed)
        ),
        "davies_bouldin": float(davies_bouldin_score(z, y)),
        "calinski_harabasz": float(calinski_harabasz_score(z, y)),
    }


def class_mean_directions(z, y) -> tuple[np.ndarray, np.ndarray]:
    """Class labels (C,) and unit vectors along each class mean (C, d)."""
    classes = np.unique(y)
    means = np.stack([z[y == c].mean(axis=0) for c in classes])
    return classes, _unit(means)


def pairwise_angles(directions: np.ndarray) -> np.ndarray:
    """Angles in degrees between unit vectors (C, d) -> (C, C)."""
    cosine = np.clip(directions @ directions.T, -1.0, 1.0)
    return np.degrees(np.arccos(cosine))


def angular_separation(z, y) -> dict:
    """Mean and minimum angle between class-mean directions, in degrees."""
    _, directions = class_mean_directions(z, y)
    angles = pairwise_angles(directions)
    pairs = angles[np.triu_indices(len(angles), k=1)]
    return {"angle_mean": float(pairs.mean()), "angle_min": float(pairs.min())}


def angular_spread(z, y) -> float:
    """Mean angle (degrees) between samples and their class-mean direction."""
    classes, directions = class_mean_directions(z, y)
    spreads = []
    for c, direction in zip(classes, directions, strict=True):
        cosine = np.clip(_unit(z[y == c]) @ direction, -1.0, 1.0)
        spreads.append(np.degrees(np.arccos(cosine)).mean())
    return float(np.mean(spreads))


def radial_alignment_index(z, y) -> float:
    """How much each class spreads along the ray of its own mean direction.

    For class c with samples z_i, mean direction u_c = mean(z_i) / |mean(z_i)| and
    principal axis v_c (first principal component of the centred samples):

        RAI = sum_c n_c * (cos^2(u_c, v_c) - 1/d) / (1 - 1/d) / sum_c n_c

    cos^2 is 1 when the class stretches along its ray (a star: z_i ~ r_i u_c with
    varying r_i) and averages 1/d for an isotropic cluster, whose principal axis
    points anywhere; the affine map puts the first at 1 and the second at 0 in
    every dimension d. Undefined (NaN) for d = 1.
    """
    z = np.asarray(z, dtype=np.float64)
    d = z.shape[1]
    if d < 2:
        return float("nan")
    classes, directions = class_mean_directions(z, y)
    total, weight = 0.0, 0
    for c, direction in zip(classes, directions, strict=True):
        members = z[y == c]
        if len(members) < 2:
            continue
        centred = members - members.mean(axis=0)
        axis = np.linalg.svd(centred, full_matrices=False)[2][0]  # (d,)
        cos2 = float(axis @ direction) ** 2
        total += len(members) * (cos2 - 1.0 / d) / (1.0 - 1.0 / d)
        weight += len(members)
    return total / weight if weight else float("nan")


def linear_probe_accuracy(
    z_train, y_train, z_test, y_test, *, max_iter: int = 500, seed: int = 0
) -> float:
    """Test accuracy of a logistic regression fitted on frozen training latents."""
    probe = make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=max_iter, random_state=seed)
    )
    probe.fit(z_train, y_train)
    return float(probe.score(z_test, y_test))


def latent_geometry(
    latents: dict, *, silhouette_samples: int = 5000, probe_max_iter: int = 500
) -> dict:
    """Every geometry metric of one run, from its saved latents."""
    z, y = latents["z_test"].astype(np.float64), latents["y_test"]
    return {
        **cluster_scores(z, y, silhouette_samples=silhouette_samples),
        **angular_separation(z, y),
        "angular_spread": angular_spread(z, y),
        "radial_alignment": radial_alignment_index(z, y),
        "linear_probe_accuracy": linear_probe_accuracy(
            latents["z_train"], latents["y_train"], z, y, max_iter=probe_max_iter
        ),
    }


def geometry_job(
    *,
    latents: dict,
    outputs: dict,
    silhouette_samples: int = 5000,
    probe_max_iter: int = 500,
) -> None:
    """Geometry of every run of a bundle; `latents[name]` -> `outputs[name]`."""
    for name, path in latents.items():
        with np.load(path) as saved:
            metrics = latent_geometry(
                dict(saved),
                silhouette_samples=silhouette_samples,
                probe_max_iter=probe_max_iter,
            )
        log.info("%s: %s", name, ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
        write_json(outputs[name], metrics)
