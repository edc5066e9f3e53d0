"""Psychometric scaling: IRT calibration, ability estimates with their error, adaptive item
selection and differential item functioning. Pure: numpy, scipy and the `mirt` package only;
no database, no web imports (later steps wire these to calibration jobs, score documents and
adaptive delivery).

Modules:
- `model`: the item parameters and result structs (msgspec, immutable, serialisable);
- `response`: category probabilities, expected scores and Fisher information of the 2PL and
  the graded response model in one representation (a 2PL item is a GRM item with 2 categories);
- `calibration`: marginal maximum likelihood calibration of one dimension through `mirt`,
  with standard errors, infit/outfit, flags, marginal reliability and the test information curve;
- `ability`: EAP ability estimates with posterior SDs, the reported scale, θ cut points;
- `adaptive`: the next item of a computer-adaptive test (maximum information, randomesque
  exposure control, content balancing, stop rule);
- `dif`: Mantel–Haenszel DIF with the ETS A/B/C classification;
- `lr_dif`: the IRT likelihood-ratio DIF test (multiple-group 2PL fits in `mirt`), Benjamini–Hochberg.

θ is on the calibration sample's metric: mean 0, SD 1 (the identification `mirt` uses).
"""
