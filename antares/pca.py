"""Principal component analysis of a product's measurements: the fitted arrays and their application.

A :class:`FittedPca` holds what scikit-learn's ``PCA`` (``whiten=False``) computes — components
(k x m), mean (m), explained variance and its ratio (k) — as plain arrays, so that it is stored as
JSON (:mod:`antares.db.pca`) and applied without scikit-learn or pickles:
``scores = (x - mean) @ components.T`` (``PCA.transform``; Jolliffe 2002, *Principal Component
Analysis*, 2nd ed., Springer, ch. 1). :func:`antares.pipeline.pca.pca_fit` fits one on a sample of
pixels; :meth:`FittedPca.transform` applies it to a tile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from antares.errors import InvalidInputError, UsageError


@dataclass(frozen=True)
class FittedPca:
    """A fitted PCA.

    Attributes
    ----------
    name : str
    product : str
        The product it was fitted on.
    measurements : tuple of str
        The m inputs, in the order of the components' columns.
    components : numpy.ndarray of float64, (k, m)
        Unit-length principal axes, by decreasing explained variance.
    mean : numpy.ndarray of float64, (m,)
        The sample's mean per measurement (values after scale_factor / add_offset).
    explained_variance : numpy.ndarray of float64, (k,)
        Variance of the sample along each component (ddof 1, as scikit-learn).
    explained_variance_ratio : numpy.ndarray of float64, (k,)
        ``explained_variance`` over the sample's total variance.
    n_samples : int
        Pixels the fit used.
    """

    name: str
    product: str
    measurements: tuple[str, ...]
    components: np.ndarray
    mean: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    n_samples: int

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])

    @classmethod
    def from_estimator(cls, name: str, product: str, measurements, estimator, n_samples: int) -> "FittedPca":
        """The arrays of a fitted ``sklearn.decomposition.PCA`` (``whiten=False``)."""
        return cls(name, product, tuple(measurements), np.asarray(estimator.components_, np.float64),
                   np.asarray(estimator.mean_, np.float64), np.asarray(estimator.explained_variance_, np.float64),
                   np.asarray(estimator.explained_variance_ratio_, np.float64), int(n_samples))

    @classmethod
    def from_record(cls, record: dict) -> "FittedPca":
        """From :func:`antares.db.pca.read_pca`'s dict (JSON lists); checks the shapes agree.

        Raises
        ------
        InvalidInputError
            The stored arrays do not have the shapes (k, m), (m,), (k,), (k,).
        """
        comps = np.asarray(record["components"], np.float64)
        mean = np.asarray(record["mean"], np.float64)
        var = np.asarray(record["explained_variance"], np.float64)
        ratio = np.asarray(record["explained_variance_ratio"], np.float64)
        m, k = len(record["measurements"]), int(record["n_components"])
        if comps.shape != (k, m) or mean.shape != (m,) or var.shape != (k,) or ratio.shape != (k,):
            raise InvalidInputError(
                f"PCA '{record['name']}' is damaged in the database: components {comps.shape}, mean {mean.shape}, "
                f"explained variance {var.shape} for {k} components of {m} measurements. Fit it again (antares pca_fit).")
        return cls(record["name"], record["product"], tuple(record["measurements"]), comps, mean, var, ratio,
                   int(record["n_samples"]))

    def check_inputs(self, measurements, components: int | None = None) -> int:
        """Refuse inputs other than the ones it was fitted on, and more components than it has.

        Parameters
        ----------
        measurements : sequence of str
            The measurements available to apply it to (in any order).
        components : int, optional
            How many components are wanted (default all).

        Returns
        -------
        int
            The number of components to compute.

        Raises
        ------
        InvalidInputError
            A measurement it was fitted on is missing.
        UsageError
            ``components`` is < 1 or more than it has.
        """
        missing = [m for m in self.measurements if m not in set(measurements)]
        if missing:
            raise InvalidInputError(
                f"PCA '{self.name}' was fitted on {', '.join(self.measurements)} of product '{self.product}'; the "
                f"input lacks {', '.join(missing)} (it has {', '.join(measurements) or 'none'}). Apply it to those "
                "measurements or fit another with antares pca_fit -m.")
        k = self.n_components if components is None else components
        if not 1 <= k <= self.n_components:
            raise UsageError(f"PCA '{self.name}' has {self.n_components} components; asked for {k}. "
                             f"Use 1..{self.n_components}.")
        return k

    def transform(self, values: dict, components: int | None = None) -> np.ndarray:
        """The principal component scores of a block.

        Parameters
        ----------
        values : dict of str to numpy.ndarray, float, all of one shape (e.g. (y, x))
            The measurements it was fitted on (other keys are ignored), in the fit's units; NaN = nodata.
        components : int, optional
            The first ``components`` scores (default all).

        Returns
        -------
        numpy.ndarray of float32, (k, *shape)
            PC1..PCk: ``(x - mean) @ components.T`` per pixel, computed in float64; NaN where any input is NaN.

        Raises
        ------
        InvalidInputError, UsageError
            As :meth:`check_inputs`.
        """
        k = self.check_inputs(list(values), components)
        stack = np.stack([np.asarray(values[m], np.float64) for m in self.measurements], axis=-1)
        scores = (stack - self.mean) @ self.components[:k].T
        scores[~np.isfinite(stack).all(axis=-1)] = np.nan
        return np.moveaxis(scores, -1, 0).astype(np.float32)

    def lines(self) -> list[str]:
        """The explained variance per component, for the CLI."""
        out = [f"PCA {self.name}: {self.n_components} component(s) of {', '.join(self.measurements)} "
               f"(product {self.product}), fitted on {self.n_samples} pixels"]
        cumulative = np.cumsum(self.explained_variance_ratio)
        for i, (var, ratio, cum) in enumerate(zip(self.explained_variance, self.explained_variance_ratio, cumulative)):
            out.append(f"  PC{i + 1}: explained variance {var:.6g} ({100 * ratio:.2f} %, cumulative {100 * cum:.2f} %)")
        return out
