"""Reproduction harness: sweeps, aggregation and figures for the paper's
Table 1 and Figures 4, 5 and 7. See reproduce/README.md."""
