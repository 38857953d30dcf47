"""Human-readable results of an experiment: tables (Markdown/CSV/LaTeX) and figures.

``tables`` and ``plots`` are generic writers shared by every report; ``recommendations``
assembles the paper-style recommendation tables of a results folder (``treemtl report``).
"""
