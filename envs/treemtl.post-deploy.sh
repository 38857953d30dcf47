#!/usr/bin/env bash
# Install the treemtl package (without re-resolving its dependencies) into the freshly created
# conda environment; Snakemake runs this once per environment, from the working directory.
set -euo pipefail
python -m pip install --no-deps "${TREEMTL_SOURCE:-.}"
