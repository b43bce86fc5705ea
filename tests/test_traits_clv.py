"""BG/NBD and Gamma-Gamma: the log-likelihood against hand-computed values, a published prediction, and the
fitter's recovery of the published CDNOW parameters from data simulated with them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cdp.traits import clv

CDNOW_BGNBD = clv.BgNbd(r=0.243, alpha=4.414, a=0.793, b=2.426)  # Fader, Hardie & Lee (2005), Marketing Science
CDNOW_GG = clv.GammaGamma(p=6.25, q=3.74, v=15.44)  # Fader, Hardie & Lee (2005), "RFM and CLV", JMR


def test_bgnbd_log_likelihood_matches_hand_computation() -> None:
    """r = alpha = a = b = 1. No repeat purchase, T = 1: B(1,1)/B(1,1) * 1/(1+1) = 1/2.
    x = 1, t_x = 1, T = 2: B(1,2)/B(1,1) * 1/(1+2)^2 + B(2,1)/B(1,1) * 1/(1+1)^2 = 1/18 + 1/8 = 13/72."""
    ll = clv.bgnbd_log_likelihood(clv.BgNbd(1, 1, 1, 1), [0, 1], [0, 1], [1, 2])
    assert ll == pytest.approx([math.log(1 / 2), math.log(13 / 72)], abs=1e-12)


def test_gamma_gamma_log_likelihood_matches_hand_computation() -> None:
    """p = q = v = 1, one purchase of value 1: the mean of one Gamma(1, nu) draw with nu ~ Gamma(1, 1) has
    density 1/(1+m)^2, so at m = 1 the likelihood is 1/4."""
    ll = clv.gamma_gamma_log_likelihood(clv.GammaGamma(1, 1, 1), [1], [1.0])
    assert ll == pytest.approx([math.log(1 / 4)], abs=1e-12)


def test_conditional_expectation_matches_the_published_cdnow_figure() -> None:
    """FHL (2005), section 5: a customer with x = 2, t_x = 30.43, T = 38.86 weeks is expected to make 1.226
    purchases in the next 39 weeks."""
    expected = clv.expected_purchases(CDNOW_BGNBD, 39, [2], [30.43], [38.86])
    assert expected[0] == pytest.approx(1.226, abs=0.001)
    assert 0 < clv.probability_alive(CDNOW_BGNBD, [2], [30.43], [38.86])[0] < 1


def _simulate_bgnbd(rng: np.random.Generator, params: clv.BgNbd, ages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The model's own story: Poisson purchases at a Gamma(r, alpha) rate; after each repeat purchase the
    customer drops out with a Beta(a, b) probability."""
    rates = rng.gamma(params.r, 1 / params.alpha, len(ages))
    dropout = rng.beta(params.a, params.b, len(ages))
    x, t_x = np.zeros(len(ages)), np.zeros(len(ages))
    for i, age in enumerate(ages):
        t = rng.exponential(1 / rates[i])
        while t <= age:
            x[i], t_x[i] = x[i] + 1, t
            if rng.random() < dropout[i]:
                break
            t += rng.exponential(1 / rates[i])
    return x, t_x


def _standard_errors(negative_ll, estimate: np.ndarray) -> np.ndarray:  # noqa: ANN001 - a callable
    """From the observed information: a central-difference Hessian of the total negative log-likelihood."""
    k, h = len(estimate), 1e-4 * np.maximum(np.abs(estimate), 1e-2)
    hessian = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            hessian[i, j] = (
                negative_ll(estimate + ei + ej)
                - negative_ll(estimate + ei - ej)
                - negative_ll(estimate - ei + ej)
                + negative_ll(estimate - ei - ej)
            ) / (4 * h[i] * h[j])
    return np.sqrt(np.diag(np.linalg.inv(hessian)))


def test_bgnbd_fit_recovers_the_cdnow_parameters() -> None:
    """20,000 customers simulated from the CDNOW parameters, first purchases spread over 12 weeks and a
    39-week calibration period as in the paper. Tolerance: each estimate within 4 standard errors of the
    truth (SEs from the observed information of this very sample; a correct fitter misses with probability
    below 1e-4 per parameter), and every SE under a quarter of its parameter, so a wrong fitter cannot pass
    by being vague."""
    rng = np.random.default_rng(20051)
    ages = rng.uniform(27, 39, 20_000)
    x, t_x = _simulate_bgnbd(rng, CDNOW_BGNBD, ages)
    fitted = clv.fit_bgnbd(x, t_x, ages)
    estimate = np.array([fitted.r, fitted.alpha, fitted.a, fitted.b])
    truth = np.array([CDNOW_BGNBD.r, CDNOW_BGNBD.alpha, CDNOW_BGNBD.a, CDNOW_BGNBD.b])

    def nll(params: np.ndarray) -> float:
        return -float(clv.bgnbd_log_likelihood(clv.BgNbd(*params), x, t_x, ages).sum())

    se = _standard_errors(nll, estimate)
    assert np.all(se < truth / 4), se
    assert np.all(np.abs(estimate - truth) < 4 * se), (estimate, se)


def test_gamma_gamma_fit_recovers_the_cdnow_parameters() -> None:
    """5,000 repeat customers with 1 to 10 purchases: per customer nu ~ Gamma(q, rate v), each purchase value
    ~ Gamma(p, rate nu). Same tolerance rule as for BG/NBD (q and v are strongly correlated, hence the SEs)."""
    rng = np.random.default_rng(20052)
    n = 5_000
    frequency = rng.integers(1, 11, n)
    nu = rng.gamma(CDNOW_GG.q, 1 / CDNOW_GG.v, n)
    means = np.array([rng.gamma(CDNOW_GG.p, 1 / nu[i], frequency[i]).mean() for i in range(n)])
    fitted = clv.fit_gamma_gamma(frequency, means)
    estimate = np.array([fitted.p, fitted.q, fitted.v])
    truth = np.array([CDNOW_GG.p, CDNOW_GG.q, CDNOW_GG.v])

    def nll(params: np.ndarray) -> float:
        return -float(clv.gamma_gamma_log_likelihood(clv.GammaGamma(*params), frequency, means).sum())

    se = _standard_errors(nll, estimate)
    assert np.all(se < truth / 4), se
    assert np.all(np.abs(estimate - truth) < 4 * se), (estimate, se)


def test_fitters_refuse_too_few_customers() -> None:
    with pytest.raises(ValueError, match="at least 10 customers"):
        clv.fit_bgnbd([1], [1.0], [2.0])
    with pytest.raises(ValueError, match="at least 10 repeat customers"):
        clv.fit_gamma_gamma([2], [10.0])
