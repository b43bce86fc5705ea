"""BG/NBD (Fader, Hardie & Lee 2005) and Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV") models:
log-likelihoods, maximum-likelihood fits with scipy, and the per-customer predictions.

Inputs per customer, time in weeks: x repeat purchases, t_x time of the last purchase since the first, T age
(time since the first purchase). Gamma-Gamma takes the number of purchases averaged and their mean value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

Array = NDArray[np.float64]


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    v: float


def bgnbd_log_likelihood(params: BgNbd, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:  # noqa: N803
    """Per-customer log-likelihood (FHL 2005, eq. 6), computed in logs for numerical stability."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    alive = betaln(a, b + x) - (r + x) * np.log(alpha + T)
    repeat = x > 0
    dropped = np.full_like(x, -np.inf)
    dropped[repeat] = betaln(a + 1, b + x[repeat] - 1) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
    return common + np.logaddexp(alive, dropped)


def gamma_gamma_log_likelihood(params: GammaGamma, frequency: ArrayLike, mean_value: ArrayLike) -> Array:
    """Per-customer log-likelihood of the mean of `frequency` purchase values (Gamma-Gamma)."""
    p, q, v = params.p, params.q, params.v
    x, m = np.asarray(frequency, dtype=float), np.asarray(mean_value, dtype=float)
    return (
        gammaln(p * x + q)
        - gammaln(p * x)
        - gammaln(q)
        + q * np.log(v)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(x * m + v)
    )


def _fit(negative_ll: Callable[[Array], float], start: Array) -> Array:
    """Minimize over log-parameters (keeps them positive) with L-BFGS-B at tight tolerances (a Nelder-Mead
    polish moved no parameter in the 6th digit and cost twice the evaluations). A step into under- or
    overflow scores as a very bad fit instead of a NaN that would stop the search."""

    def safe(log_params: Array) -> float:
        value = negative_ll(log_params)
        return value if np.isfinite(value) else 1e300

    with np.errstate(all="ignore"):
        result = minimize(safe, start, method="L-BFGS-B", options={"ftol": 1e-13, "gtol": 1e-9, "maxiter": 2000})
    return np.exp(result.x)


def fit_bgnbd(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> BgNbd:  # noqa: N803
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    if len(x) < 10:
        raise ValueError(f"BG/NBD needs at least 10 customers to fit, got {len(x)}")

    def nll(log_params: Array) -> float:
        return -float(bgnbd_log_likelihood(BgNbd(*np.exp(log_params)), x, t_x, T).sum()) / len(x)

    return BgNbd(*(float(p) for p in _fit(nll, np.log([1.0, max(float(T.mean()), 1.0), 1.0, 1.0]))))


def fit_gamma_gamma(frequency: ArrayLike, mean_value: ArrayLike) -> GammaGamma:
    x, m = np.asarray(frequency, dtype=float), np.asarray(mean_value, dtype=float)
    if len(x) < 10:
        raise ValueError(f"Gamma-Gamma needs at least 10 repeat customers to fit, got {len(x)}")

    def nll(log_params: Array) -> float:
        return -float(gamma_gamma_log_likelihood(GammaGamma(*np.exp(log_params)), x, m).sum()) / len(x)

    return GammaGamma(*(float(p) for p in _fit(nll, np.log([1.0, 1.0, max(float(m.mean()), 1.0)]))))


def _dropout_odds(params: BgNbd, x: Array, t_x: Array, T: Array) -> Array:  # noqa: N803
    """a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x) for x > 0, else 0: the odds the customer has dropped out."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    odds = np.zeros_like(x)
    repeat = x > 0
    odds[repeat] = (a / (b + x[repeat] - 1)) * ((alpha + T[repeat]) / (alpha + t_x[repeat])) ** (r + x[repeat])
    return odds


def probability_alive(params: BgNbd, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:  # noqa: N803
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    return 1.0 / (1.0 + _dropout_odds(params, x, t_x, T))


def expected_purchases(params: BgNbd, t: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:  # noqa: N803
    """Expected purchases in the next `t` weeks given the customer's history (FHL 2005, eq. 10)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    z = t / (alpha + T + t)
    head = (a + b + x - 1) / (a - 1)
    tail = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    return head * tail / (1 + _dropout_odds(params, x, t_x, T))


def expected_mean_value(params: GammaGamma, frequency: ArrayLike, mean_value: ArrayLike) -> Array:
    """E[M | x, m_x]: the customer's expected purchase value, shrunk towards the population mean."""
    p, q, v = params.p, params.q, params.v
    x, m = np.asarray(frequency, dtype=float), np.asarray(mean_value, dtype=float)
    return p * (v + x * m) / (p * x + q - 1)
