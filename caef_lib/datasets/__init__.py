"""CAEF trace datasets: what notebook 01 writes and notebook 02 trains on.

    from caef_lib.datasets import TraceConfig, build, dataset_path, read_samples
    build(TraceConfig(ops=["add"], max_digits=5), KitPaths.of("smoke"))
    for s in read_samples(dataset_path(paths, "add", "executor", "train"), limit=3): print(s["prompt"])

Modules: `classes` (equivalence classes, balancing, operand sampling, random streams), `samples`
(problem -> samples, subsampling, stage-1 preambles), `render` (direct rendering of the kept transitions),
`writer` (JSONL, bounded-memory shuffle, reader), `builder` (orchestration, cards, manifest, overlap),
`reference` (the reference's ``--setting separate`` derivation), `report` (tables and figures of notebook 01).
"""
from .builder import (CLASS_ROLES, GENERATOR_VERSION, ROLES, TEST_ROLES, TraceConfig, build, card_path,
                    dataset_path, digests_path, expand_ops, length_split, load_manifest, overlap_table,
                    traces_dir)
from .writer import read_samples

__all__ = ["TraceConfig", "build", "dataset_path", "card_path", "digests_path", "read_samples", "ROLES",
           "CLASS_ROLES", "TEST_ROLES", "GENERATOR_VERSION", "expand_ops", "length_split", "load_manifest",
           "overlap_table", "traces_dir"]
