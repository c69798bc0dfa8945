"""Rule-following fine-tuning (Hu et al., ICML 2024, section d of the spec): one length axis for four methods.

    formats.py      direct, scratchpad and RFFT prompts and targets, and the value each is scored by
    experiment.py   training and test problems, the experiment's tokenizer, training, evaluation, the table
    generic.py      generic list/number pre-training (what a pre-trained model brings), optional
    figures.py      accuracy against length; where wrong answers first go wrong
"""
