"""The recommender core (paper 3.1-3.2, App. A-E): pure Python + numpy/pandas, never torch.

Layouts and their paper ids, the two-task table and task weights, estimates and scores, relative
performance Δ, cost and budgets, the performance table, top-k, the Pareto front, the exact
branch-and-bound search for spaces too large for a table (and the choice between the two), and a
searched space's score landscape. Everything here is a pure function of its inputs.
"""
