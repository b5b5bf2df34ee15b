"""The Frechet distance between Gaussians fitted to two sets of features."""

import numpy as np
import scipy.linalg


def _psd_sqrt(matrix):
    """Symmetric square root of a positive semi-definite matrix."""
    values, vectors = scipy.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(features_a, features_b):
    """Frechet (2-Wasserstein) distance between two fitted Gaussians.

    `||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))`, with means and
    (unbiased) covariances of the rows of each array, computed in float64.
    The trace of the matrix square root is taken through symmetric
    eigen-decompositions (`scipy.linalg.eigh`), which stay exact for
    singular covariances (fewer samples than features) with no
    regularisation.

    Args:
        features_a: array `(N, D)`, one feature vector a row (N >= 2).
        features_b: array `(M, D)`.

    Returns:
        A python float.
    """
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    for name, value in (("features_a", a), ("features_b", b)):
        if value.ndim != 2 or value.shape[0] < 2:
            raise ValueError(
                f"`{name}` must be a 2D array with at least 2 rows. Received: {name}.shape={value.shape}"
            )
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            "Both feature sets must have the same width. "
            f"Received: features_a.shape={a.shape}, features_b.shape={b.shape}"
        )
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a = np.atleast_2d(np.cov(a, rowvar=False))
    cov_b = np.atleast_2d(np.cov(b, rowvar=False))
    # Tr (S_a S_b)^(1/2) = Tr (S_a^(1/2) S_b S_a^(1/2))^(1/2): the second
    # form is a symmetric positive semi-definite matrix, whose root follows
    # from its eigenvalues without the instability of a general `sqrtm` when
    # the covariances are singular (fewer samples than features).
    root_a = _psd_sqrt(cov_a)
    trace_root = np.sqrt(np.clip(scipy.linalg.eigvalsh(root_a @ cov_b @ root_a), 0.0, None)).sum()
    diff = mean_a - mean_b
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root)
