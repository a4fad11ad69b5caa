"""Reference values for nas-mf's BOHB kernel density (src/bohb.rs, test
`density_matches_statsmodels`): statsmodels' KDEMultivariate as HpBandSter fits it
(var_type 'u' per gene, bw='normal_reference', bandwidths clipped at 1e-3).

Run: python3 nas-mf/scripts/bohb_kde_reference.py (statsmodels 0.14, numpy).
Every column holds every value of its gene, so statsmodels' level count (the values
present in the data) equals the gene's cardinality, as nas-mf counts it, and every
bandwidth is below (c - 1) / c, where nas-mf caps it (statsmodels does not).
"""
import numpy as np
import statsmodels.api as sm

data = np.array([
    [0, 1, 2, 0],
    [0, 1, 2, 1],
    [1, 0, 2, 1],
    [0, 1, 2, 0],
    [2, 2, 1, 0],
    [0, 1, 0, 1],
    [0, 1, 2, 0],
], dtype=float)
kde = sm.nonparametric.KDEMultivariate(data=data, var_type="uuuu", bw="normal_reference")
kde.bw = np.clip(kde.bw, 1e-3, None)
print("bw", [float(b).hex() for b in kde.bw], list(kde.bw))
for x in ([0, 1, 2, 0], [2, 2, 2, 1], [1, 0, 0, 0]):
    p = kde.pdf(np.array(x, dtype=float))
    print("pdf", x, float(p).hex(), repr(float(p)))
# A constant column: its bandwidth is clipped to the minimum.
const = data.copy()
const[:, 3] = 1
kde = sm.nonparametric.KDEMultivariate(data=const, var_type="uuuu", bw="normal_reference")
print("bw_const", list(np.clip(kde.bw, 1e-3, None)))
