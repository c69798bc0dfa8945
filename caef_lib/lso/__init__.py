"""Leave-Square-Out (Hu et al., ICML 2024): is a fine-tuned model's arithmetic case-based or rule-based?

    tasks.py   the five tasks: grids, question/answer texts, scratchpad traces (exact to the released data)
    splits.py  1-hole, 3-hole and random splits by their released folder names; `python -m caef_lib lso build`
    probe.py   training a model on a split, per-cell accuracy over the grid, region summaries
    caef_probe.py  CAEF's ADD executor and aligner trained on a split's training cells, run on its square
    figures.py     notebook 03's figures, from saved results
"""
