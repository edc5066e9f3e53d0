"""IRT calibration benchmark: parameter and ability recovery and time, for the service's
calibration (service/psychometrics/calibration.py: mirt + SEs + infit/outfit + EAP + information),
girth's MML (pure numpy/scipy, an independent estimator) and a bare `mirt.fit_mirt` call.

Simulated data as in the tests: a ~ logNormal(0, 0.3), b ~ N(0, 1), θ ~ N(0, 1); graded items
with 5 categories have 4 sorted N(0, 1) thresholds. θ RMSE is the EAP (service quadrature) with
each estimator's parameters against the true θ. Seconds are wall time of the calibration alone
(EAP excluded for girth and bare mirt, included for the service, which computes it to give fit
statistics, reliability and the scale). One process, one core.

    ./dev python bench/irt.py [--seed 20261206] [--sparse] [--dif | --dif-only]

`--dif`: the likelihood-ratio DIF test of item statistics (service/psychometrics/lr_dif.py, mirt's
multiple-group fits) on 40 items × 5,000 people, 1,500 of them focal (θ ~ N(−0.3, 1): impact, not
DIF), item 5 0.6 logit harder for the focal group, item 17 half as discriminating: its time, what
it flags, beside Mantel–Haenszel on the same data.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import girth
import mirt

from service.psychometrics.ability import eap_arrays
from service.psychometrics.calibration import calibrate_dimension
from service.psychometrics.dif import mantel_haenszel
from service.psychometrics.lr_dif import likelihood_ratio_dif
from service.psychometrics.model import ItemParameters
from service.psychometrics.response import PackedItems
from tests.psychometrics_simulation import simulate_2pl, simulate_grm


def figures(
    name: str,
    seconds: float,
    a: np.ndarray,
    b: np.ndarray,
    est_a: np.ndarray,
    est_b: np.ndarray,
    responses: np.ndarray,
    theta: np.ndarray,
) -> None:
    est_b2 = est_b.reshape(len(est_a), -1)
    b2 = b.reshape(len(a), -1)
    model = "2PL" if b2.shape[1] == 1 else "GRM"
    items = [
        ItemParameters(
            item_id=str(j), model=model, discrimination=float(est_a[j]), thresholds=tuple(est_b2[j])
        )
        for j in range(len(est_a))
    ]
    eap, _ = eap_arrays(responses, PackedItems(items))
    print(
        f"  {name:<22} {seconds:7.2f} s   RMSE a {np.sqrt(np.mean((est_a - a) ** 2)):.3f}   "
        f"RMSE b {np.sqrt(np.mean((est_b2 - b2) ** 2)):.3f}   corr b {np.corrcoef(est_b2.ravel(), b2.ravel())[0, 1]:.4f}   "
        f"θ RMSE {np.sqrt(np.mean((eap - theta) ** 2)):.3f}"
    )


def service_fit(responses: np.ndarray, categories: int) -> tuple[float, np.ndarray, np.ndarray]:
    began = time.perf_counter()
    calibration = calibrate_dimension(
        "d", responses, [categories] * responses.shape[1], [str(j) for j in range(responses.shape[1])]
    )
    seconds = time.perf_counter() - began
    params = [item.parameters for item in calibration.items]
    assert all(params)
    return (
        seconds,
        np.array([p.discrimination for p in params if p]),
        np.array([p.thresholds for p in params if p]),
    )


def dif(seed: int) -> None:
    persons, n_items, focal_n = 5000, 40, 1500
    rng = np.random.default_rng([seed, persons, n_items, 9])
    a = rng.lognormal(0.0, 0.3, n_items)
    b = rng.normal(0.0, 1.0, n_items)
    focal = np.arange(persons) >= persons - focal_n
    theta = rng.normal(0.0, 1.0, persons) - 0.3 * focal
    a_person, b_person = np.tile(a, (persons, 1)), np.tile(b, (persons, 1))
    b_person[focal, 5] += 0.6
    a_person[focal, 17] *= 0.5
    responses = (
        rng.random((persons, n_items)) < 1 / (1 + np.exp(-a_person * (theta[:, None] - b_person)))
    ).astype(np.float64)
    ids = [f"i{j:02d}" for j in range(n_items)]
    print(
        f"DIF, 2PL {persons:,} × {n_items}, {focal_n:,} focal (seed [{seed}, {persons}, {n_items}, 9]); "
        "planted: i05 uniform (Δb +0.6), i17 non-uniform (a × 0.5)"
    )
    began = time.perf_counter()
    results = likelihood_ratio_dif(responses, focal, ids)
    seconds = time.perf_counter() - began
    flagged = [r for r in results if r.flagged]
    print(
        f"  likelihood-ratio test (mirt multiple-group, drop scheme): {seconds:.1f} s, load {os.getloadavg()[0]:.2f}"
    )
    for r in flagged:
        print(
            f"    flagged {r.item_id}: G² {r.g2:.1f} ({r.df} df), BH p {r.p_adjusted:.2g}, "
            f"Δb {r.delta_b:+.2f}, Δa {r.delta_a:+.2f}, expected-score difference {r.expected_score_difference:+.3f}"
        )
    print(f"    false flags: {len([r for r in flagged if r.item_id not in ('i05', 'i17')])}")
    began = time.perf_counter()
    mh = mantel_haenszel(responses, focal, ids)
    print(
        f"  Mantel–Haenszel: {time.perf_counter() - began:.2f} s; B or C: "
        + ", ".join(f"{r.item_id} {r.ets_class}" for r in mh if r.ets_class != "A")
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--sparse", action="store_true", help="also: 5,000 × 40 with half the cells missing")
    parser.add_argument("--dif", action="store_true", help="also: the likelihood-ratio DIF test, 40 × 5,000")
    parser.add_argument("--dif-only", action="store_true", help="only the likelihood-ratio DIF test")
    args = parser.parse_args()
    print(
        f"bench/irt.py, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}, "
        f"mirt {mirt.__version__}, numpy {np.__version__}, seed {args.seed}"
    )
    if args.dif_only:
        dif(args.seed)
        print(f"command: ./dev python bench/irt.py --dif-only --seed {args.seed}")
        return
    for persons, n_items in ((500, 20), (1000, 40), (5000, 40)):
        rng = np.random.default_rng([args.seed, persons, n_items])
        responses, a, b, theta = simulate_2pl(rng, persons, n_items)
        print(f"2PL {persons:,} × {n_items} (seed [{args.seed}, {persons}, {n_items}])")
        seconds, est_a, est_b = service_fit(responses, 2)
        figures("service calibration", seconds, a, b, est_a, est_b, responses, theta)
        began = time.perf_counter()
        g = girth.twopl_mml(responses.astype(int).T)
        figures(
            "girth twopl_mml",
            time.perf_counter() - began,
            a,
            b,
            g["Discrimination"],
            g["Difficulty"],
            responses,
            theta,
        )
        began = time.perf_counter()
        fit = mirt.fit_mirt(responses, "2PL")
        seconds = time.perf_counter() - began
        p = fit.model.parameters
        figures(
            "mirt.fit_mirt (+SE)",
            seconds,
            a,
            b,
            np.asarray(p["discrimination"]),
            np.asarray(p["difficulty"]),
            responses,
            theta,
        )
    if args.sparse:
        rng = np.random.default_rng([args.seed, 5000, 40, 1])
        responses, a, b, theta = simulate_2pl(rng, 5000, 40)
        responses[rng.random(responses.shape) < 0.5] = np.nan
        print(f"2PL 5,000 × 40, half the cells missing (seed [{args.seed}, 5000, 40, 1])")
        seconds, est_a, est_b = service_fit(responses, 2)
        figures("service calibration", seconds, a, b, est_a, est_b, responses, theta)
    for persons, n_items in ((1000, 20), (5000, 40)):
        rng = np.random.default_rng([args.seed, persons, n_items, 5])
        responses, a, b, theta = simulate_grm(rng, persons, n_items, 5)
        print(f"GRM, 5 categories, {persons:,} × {n_items} (seed [{args.seed}, {persons}, {n_items}, 5])")
        seconds, est_a, est_b = service_fit(responses, 5)
        figures("service calibration", seconds, a, b, est_a, est_b, responses, theta)
        began = time.perf_counter()
        g = girth.grm_mml(responses.astype(int).T + 1)
        figures(
            "girth grm_mml",
            time.perf_counter() - began,
            a,
            b,
            g["Discrimination"],
            g["Difficulty"],
            responses,
            theta,
        )
        began = time.perf_counter()
        fit = mirt.fit_mirt(responses, "GRM", n_categories=5)
        seconds = time.perf_counter() - began
        p = fit.model.parameters
        figures(
            "mirt.fit_mirt (+SE)",
            seconds,
            a,
            b,
            np.asarray(p["discrimination"]),
            np.asarray(p["thresholds"]),
            responses,
            theta,
        )
    if args.dif:
        dif(args.seed)
    print(
        "command: ./dev python bench/irt.py"
        + (" --sparse" if args.sparse else "")
        + (" --dif" if args.dif else "")
        + f" --seed {args.seed}"
    )


if __name__ == "__main__":
    main()
