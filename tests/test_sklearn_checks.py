"""scikit-learn's own estimator checks, plus clone, Pipeline and GridSearchCV."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from aekit import Autoencoder

FAST = dict(code_size=2, hidden=(16,), epochs=5, batch_size=32, random_state=0)


@parametrize_with_checks([Autoencoder(**FAST)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_clone_keeps_params_and_drops_fit(digits):
    ae = Autoencoder(**FAST).fit(digits.X.reshape(len(digits), -1))
    twin = clone(ae)
    assert twin.get_params() == ae.get_params()
    assert not hasattr(twin, "module_")


def test_pipeline_and_grid_search(digits):
    X = digits.X.reshape(len(digits), -1)[:600]
    y = digits.y[:600]
    pipe = make_pipeline(Autoencoder(**FAST), LogisticRegression(max_iter=300))
    grid = GridSearchCV(pipe, {"autoencoder__code_size": [2, 8]}, cv=2)
    grid.fit(X, y)
    # A bigger code keeps more information for the classifier, and the grid
    # search picks it.
    scores = grid.cv_results_["mean_test_score"]
    assert scores[1] > scores[0], scores
    assert grid.best_params_["autoencoder__code_size"] == 8


def test_fit_ignores_y(digits):
    X = digits.X.reshape(len(digits), -1)
    a = Autoencoder(**FAST).fit(X).transform(X)
    b = Autoencoder(**FAST).fit(X, digits.y).transform(X)
    np.testing.assert_array_equal(a, b)
