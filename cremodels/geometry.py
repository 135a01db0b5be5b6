"""Latent geometry: is a run's latent a "star" or a set of "point clouds"?

Classification with a linear head tends to push each class along its own ray from
the origin (a star); reconstruction tends to give compact clusters (point clouds).
All functions take latents z (N, d) and integer labels y (N,) as numpy arrays.

Metrics (all on test latents unless stated):

* cluster scores from scikit-learn in Euclidean geometry: silhouette (higher =
  better separated), Davies-Bouldin (lower = better), Calinski-Harabasz (higher =
  better); columns `silhouette`, `davies_bouldin`, `calinski_harabasz`;
* the same three in cosine geometry, where only directions count: silhouette with
  the cosine distance 1 - cos(a, b), Davies-Bouldin and Calinski-Harabasz on
  L2-normalised latents z / |z|; columns with the suffix `_cosine`;
* angular separation: angles between the classes' mean directions, mean and
  minimum over class pairs, in degrees (`angle_mean`, `angle_min`); the whole
  class-by-class matrix is saved per run (`class_mean_angles`);
* angular spread: mean angle between a sample and its class's mean direction,
  in degrees, averaged over classes;
* star vs cloud, two independent ways, both 1 for a perfect star (every class on
  the ray of its mean direction) and about 0 for isotropic clusters:
  `radial_alignment_index` (where each class's principal axis points) and
  `radial_variance_index` (how much of each class's variance lies along its ray);
* linear-probe accuracy: logistic regression fitted on frozen training latents,
  scored on test latents.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from cremodels.io import read_npz, save_csv, write_json

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


def cosine_cluster_scores(
    z, y, *, silhouette_samples: int = 5000, seed: int = 0
) -> dict:
    """The cluster scores in cosine geometry, where a sample's norm does not count.

    Silhouette uses the cosine distance 1 - cos(a, b); Davies-Bouldin and
    Calinski-Harabasz (defined with Euclidean centroids) are computed on z / |z|,
    whose squared Euclidean distances are twice the cosine distances.
    """
    z = np.asarray(z, dtype=np.float64)
    directions = _unit(z)
    sample = min(silhouette_samples, len(z))
    return {
        "silhouette_cosine": float(
            silhouette_score(
                directions, y, metric="cosine", sample_size=sample, random_state=seed
            )
        ),
        "davies_bouldin_cosine": float(davies_bouldin_score(directions, y)),
        "calinski_harabasz_cosine": float(calinski_harabasz_score(directions, y)),
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


def class_mean_angles(z, y) -> pd.DataFrame:
    """Angles (degrees) between every pair of class-mean directions, labelled by
    class on both axes; the diagonal is 0."""
    classes, directions = class_mean_directions(z, y)
    labels = [str(c) for c in classes]
    return pd.DataFrame(pairwise_angles(directions), index=labels, columns=labels)


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


def radial_variance_index(z, y) -> float:
    """Share of each class's variance that lies along the ray of its mean direction.

    For class c with n_c samples z_i, mean m_c and mean direction u_c = m_c / |m_c|,
    the share of the within-class variance along u_c is

        s_c = sum_i ((z_i - m_c) . u_c)^2 / sum_i |z_i - m_c|^2

    and the index, normalised like the radial-alignment index, is

        RVI = sum_c n_c * (s_c - 1/d) / (1 - 1/d) / sum_c n_c

    An isotropic cluster spreads its variance evenly over the d directions
    (s_c = 1/d, RVI = 0); a class on its ray (z_i = r_i u_c) has all of it along
    u_c (s_c = 1, RVI = 1); spread only across the ray gives -1/(d - 1). Unlike
    the radial-alignment index, which asks only where the principal axis points,
    this weighs how much of the spread is radial. Classes with fewer than two
    samples, no spread or a mean at the origin are skipped; NaN for d = 1.
    """
    z = np.asarray(z, dtype=np.float64)
    d = z.shape[1]
    if d < 2:
        return float("nan")
    total, weight = 0.0, 0
    for c in np.unique(y):
        members = z[y == c]
        mean = members.mean(axis=0)
        norm = np.linalg.norm(mean)
        centred = members - mean
        spread = float((centred**2).sum())
        if len(members) < 2 or spread <= EPS or norm <= EPS:
            continue
        share = float(((centred @ (mean / norm)) ** 2).sum()) / spread
        total += len(members) * (share - 1.0 / d) / (1.0 - 1.0 / d)
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
        **cosine_cluster_scores(z, y, silhouette_samples=silhouette_samples),
        **angular_separation(z, y),
        "angular_spread": angular_spread(z, y),
        "radial_alignment": radial_alignment_index(z, y),
        "radial_variance_index": radial_variance_index(z, y),
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
    fingerprint_parts: dict | None = None,
) -> None:
    """Geometry of every run of a bundle: `latents[name]` is the run's latents
    file; `outputs[name]` maps "geometry" (metrics, JSON) and "angles" (the
    class-mean angle matrix, CSV) to output paths."""
    for name, path in latents.items():
        saved = read_npz(path)
        metrics = latent_geometry(
            saved,
            silhouette_samples=silhouette_samples,
            probe_max_iter=probe_max_iter,
        )
        log.info("%s: %s", name, ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
        angles = class_mean_angles(saved["z_test"].astype(np.float64), saved["y_test"])
        save_csv(outputs[name]["angles"], angles.rename_axis("class").reset_index())
        write_json(
            outputs[name]["geometry"],
            {**metrics, "fingerprint_parts": fingerprint_parts},
        )
