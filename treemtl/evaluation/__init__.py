"""Evaluation (paper 4.2-4.4): the two-task table from trained models, the oracle's rank
correlation and regret, the baselines, and the reports (tables and figures)."""
