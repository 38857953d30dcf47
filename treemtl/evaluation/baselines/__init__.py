"""Baselines the recommender is compared with (paper 4.3-4.4).

* :mod:`treemtl.evaluation.baselines.what_to_share` — RSA task affinity and the layout dissimilarity cost
  (Vandenhende et al., 2019); ranks every layout.
* :mod:`treemtl.evaluation.baselines.task_grouping` — whole-backbone task groups from the higher-order
  approximation (Standley et al., 2020); ranks the "groups" layouts.
* :mod:`treemtl.evaluation.baselines.references` — the all-shared and independent layouts every table shows.
"""
