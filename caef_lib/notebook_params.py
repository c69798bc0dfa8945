"""The parameters of every notebook, one dataclass each.

The defaults here are the notebooks' standalone defaults (what `papermill notebooks/NN_x.ipynb out.ipynb`
uses); profiles in `profiles/*.yaml` override them. Every class starts with the common fields.
"""
from __future__ import annotations

from dataclasses import dataclass

from .params import param

DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass
class Common:
    profile: str = param("default", help="results, data and figures go under <root>/{results,data,figures}/<profile>")
    output_root: str = param("", help="folder that receives data/, results/, figures/ ('' = the repository)")
    seed: int = param(0, min=0, help="seed of every random choice; the same seed gives byte-identical data")
    device: str = param("auto", choices=DEVICES, help="auto = CUDA when present, else Apple MPS, else CPU")


@dataclass
class EnvironmentParams(Common):
    check_models: list[str] = param([], help="local model folders whose presence is reported "
                                             "(the runner adds every model path the profile configures)")


TRACE_OPS = ("all", "add", "sub", "mul", "div", "equal", "greater_than", "less_than", "reflection", "left_mask",
             "long_mul", "long_div", "mul_digit", "sub_borrow")
TRACE_ROLES = ("executor", "aligner", "raw", "executor_only", "aligner_input", "aligner_output")


@dataclass
class TracesParams(Common):
    ops: list[str] = param(["all"], choices=TRACE_OPS,
                           help="operators (adapter names) to write data for; 'all' = every registered machine")
    min_digits: int = param(1, min=1, max=1000, help="shortest operand length of the train/test classes (--min)")
    max_digits: int = param(8, min=1, max=1000, help="longest operand length of the train/test classes (--max)")
    num_per_class: int = param(20, min=1, help="base problems per (len a, len b) class of the train split "
                                               "(--num; the reference's balancing scales it per class)")
    num_per_class_test: int = param(2, min=1, help="the same for the one-step test split (disjoint problems)")
    splits: list[str] = param(["train", "test"], choices=("train", "test"),
                              help="class-loop splits to write (the N-digit test sets are written always)")
    test_lengths: list[int] = param([5, 10], min=1, max=1000,
                                    help="N of the N-digit test sets test_N_N (the reference: 5, 10, 50, 100)")
    test_num: int = param(20, min=1, help="problems per N-digit test set (mul/div: per operand length)")
    muldiv_test_min: int = param(1, min=1, max=1000, help="mul/div test set test_<min>_<max>: shortest a (mul) "
                                                          "or b (div); b in 1..15 (mul), quotient 2-3 (div)")
    muldiv_test_max: int = param(10, min=1, max=1000, help="mul/div test set: longest a (mul) or b (div)")
    subsample: bool = param(True, help="keep the reference's few transitions per problem (format.md §6.3); "
                                       "false = every transition (impossible for mul/div with long b)")
    subsample_draws: dict[str, int] = param({}, help="op -> random draws per problem, overriding the "
                                                     "reference's 3-5 (e.g. {long_mul: 8})")
    callee_halts: str = param("runtime", choices=("runtime", "reference"),
                              help="callee halt lines in composer training inputs: the real ones (what inference "
                                   "shows) or the reference's fabricated ones (format.md §3.6)")
    stage1: bool = param(True, help="also write executor_stage1 files (the same pairs with an instruction preamble)")
    roles: list[str] = param(list(TRACE_ROLES), choices=TRACE_ROLES, help="file kinds to write")
    shards: int = param(0, min=0, max=4096, help="temporary shards of the bounded-memory shuffle (0 = ~24 MB each); "
                                                 "part of the data's identity, like the seed")
    workers: int = param(0, min=0, max=64, help="worker processes (0 = 2 for big sets, else 1); "
                                                "the files do not depend on it")
    reuse_existing: bool = param(True, help="keep files whose cards show the same parameters, seed and code "
                                            "(false = rewrite every file)")
    show_examples: int = param(2, min=0, max=50, help="samples shown per file kind")
    calls_max_digits: int = param(30, min=2, max=300, help="longest operand of the model-calls figure")

    def check(self) -> None:
        from .params import ParameterError

        if self.min_digits > self.max_digits:
            raise ParameterError(f"min_digits ({self.min_digits}) is above max_digits ({self.max_digits})")
        if self.muldiv_test_min > self.muldiv_test_max:
            raise ParameterError(f"muldiv_test_min ({self.muldiv_test_min}) is above muldiv_test_max "
                                 f"({self.muldiv_test_max})")
        from .machines import MACHINES

        missing = [o for o in self.ops if o != "all" and o not in MACHINES]
        if missing:
            raise ParameterError(f"ops: {', '.join(missing)} not registered in caef_lib.machines "
                                 f"(registered: {', '.join(sorted(MACHINES))})")
        for op, n in self.subsample_draws.items():
            if op not in TRACE_OPS or op == "all" or isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise ParameterError(f"subsample_draws: {op!r}: {n!r}; give operator: non-negative integer")
        value_linear = [o for o in ("mul", "div") if o in self.ops or "all" in self.ops]
        if not self.subsample and value_linear and self.max_digits > 3:
            raise ParameterError(f"subsample=false writes every transition, and {'/'.join(value_linear)} have "
                                 f"about 3*b (3*a//b) of them: use max_digits <= 3 or keep subsample=true")


ADAPTER_KINDS = ("executor", "aligner", "direct")


@dataclass
class TrainingParams(Common):
    base_model: str = param("tiny-llama", kind="model",
                            help="built-in tiny-llama / tiny-gpt2 (pre-trained here on a generic tape task) or a "
                                 "local Hugging Face model folder, e.g. /models/Meta-Llama-3.1-8B")
    ops: list[str] = param(["add"], choices=tuple(o for o in TRACE_OPS if o != "all"),
                           help="operators whose adapters are trained (data from notebook 01)")
    adapters: list[str] = param(list(ADAPTER_KINDS), choices=ADAPTER_KINDS,
                                help="executor = <op> (stage-2 steps), aligner = <op>_aligner (both directions), "
                                     "direct = <op>_direct baseline (45+67= -> 112); missing data is skipped")
    method: str = param("lora", choices=("lora", "full"),
                        help="lora = one peft adapter per op on a shared base; full = a fine-tuned copy per op")
    lora_r: int = param(64, min=1, help="LoRA rank (paper recipe: 8; the default CPU profile's choice: "
                                        "docs/tiny-models.md)")
    lora_alpha: int = param(64, min=1, help="LoRA alpha (scale = alpha / r)")
    lora_dropout: float = param(0.0, min=0.0, max=0.9, help="LoRA dropout (the RFFT Llama recipe: 0.05)")
    lora_targets: str = param("all-linear", help="'default' (q_proj,v_proj; GPT-2: c_attn), 'all-linear', or a "
                                                 "comma-separated list of module names")
    lr: float = param(3e-3, min=0.0, help="peak learning rate (AdamW)")
    weight_decay: float = param(0.0, min=0.0, help="AdamW weight decay of the adapters")
    adam_beta2: float = param(0.999, min=0.0, max=0.99999, help="AdamW beta2 (torch default 0.999; the tiny "
                                                                 "CPU profiles use 0.98)")
    schedule: str = param("cosine", choices=("cosine", "linear", "constant"), help="decay after the warm-up")
    warmup_ratio: float = param(0.03, min=0.0, max=0.5, help="share of the steps with a linear warm-up")
    max_grad_norm: float = param(1.0, min=0.0, help="gradient clipping (0 = off)")
    epochs: int = param(1, min=1, help="passes over the data when max_steps is 0")
    max_steps: int = param(300, min=0, help="optimizer steps per adapter (0 = epochs decide)")
    adapter_steps: dict[str, int] = param({}, help="adapter name -> steps, overriding max_steps (e.g. {add: 1000})")
    batch_size: int = param(32, min=1, help="samples per micro-batch (per process)")
    grad_accum: int = param(1, min=1, help="micro-batches per optimizer step")
    bucket: bool = param(True, help="length bucketing (batches of similar length): less padding, faster steps; "
                                    "off in the CPU profiles, where it stopped the tiny models from learning to copy "
                                    "(docs/tiny-models.md)")
    pack: bool = param(False, help="adapters: several samples per row, each attending only to itself "
                                   "(block-diagonal mask); same loss, fewer padded slots; pays off only for batches "
                                   "with much padding (benchmarks/RESULTS.md)")
    max_length: int = param(1024, min=16, help="samples with more tokens are dropped (counted), never truncated")
    max_train_samples: int = param(0, min=0, help="use the first N training samples of each file (0 = all)")
    eval_samples: int = param(100, min=0, help="held-out test samples per adapter for loss and greedy exact match")
    eval_every: int = param(0, min=0, help="steps between held-out evaluations (0 = at the end only)")
    stop_at_exact: dict[str, float] = param({}, help="adapter name -> exact match that stops its training early "
                                                     "(e.g. {add: 1.0}): checked every eval_every steps on "
                                                     "validation samples taken out of its training file; its steps "
                                                     "(adapter_steps / max_steps) are then a cap")
    checkpoint_every: int = param(200, min=0, help="steps between resumable checkpoints (0 = none)")
    adapter_init: dict[str, str] = param({}, help="adapter name -> the adapter of this run whose trained weights it "
                                                  "starts from instead of a fresh LoRA (a warm start, e.g. "
                                                  "{sub_aligner: add_aligner}); it is trained after that one")
    adapter_workers: int = param(1, min=1, max=16,
                                 help="adapters trained at once, in worker processes of one thread each (1 = one "
                                      "after another in the notebook's process, with every thread); a job's weights "
                                      "do not depend on the other jobs (benchmarks/RESULTS.md: the times measured)")
    stage1: bool = param(False, help="executors in CAEF's two stages: first the prompted data (instruction + state, "
                                     "notebook 01's executor_stage1 files) into <op>_stage1/, then the plain data "
                                     "starting from those weights")
    stage1_steps: int = param(0, min=0, help="optimizer steps of stage 1 (0 = as many as stage 2)")
    pretrain_steps: int = param(5000, min=0, help="generic pre-training steps of a built-in tiny base "
                                                  "(0 = random weights, the ablation)")
    pretrain_lr: float = param(3e-3, min=0.0, help="learning rate of the tiny base's generic pre-training")
    pretrain_pack: bool = param(True, help="pack the tiny base's generic pre-training batches (like `pack`): "
                                           "faster steps, same loss (benchmarks/RESULTS.md)")
    bf16: bool = param(True, help="bf16 autocast on a GPU (ignored on a CPU)")
    gradient_checkpointing: bool = param(False, help="recompute activations on a GPU (8B models)")

    def check(self) -> None:
        from .params import ParameterError

        # per-adapter settings may name adapters of operators this run does not train (a profile's settings for
        # every operator still hold with -p ops=[add]); a name that is no adapter of any operator is a typo
        from .machines import MACHINES

        def adapters_of(ops):  # an executor each; an aligner and a direct answer for the operators with a symbol
            return {f"{op}{suffix}" for op in ops
                    for suffix in ("", *(("_aligner", "_direct") if MACHINES[op].symbol else ()))}

        names = adapters_of(self.ops)
        known = adapters_of(o for o in TRACE_OPS if o != "all")

        def adapter_name(setting: str, name) -> None:
            if name not in known:
                raise ParameterError(f"{setting}: {name!r} is not an adapter of any operator; adapters of ops "
                                     f"{self.ops}: {', '.join(sorted(names))}")

        for name, steps in self.adapter_steps.items():
            adapter_name("adapter_steps", name)
            if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
                raise ParameterError(f"adapter_steps: {name!r}: {steps!r}; give adapter name: steps >= 1")
        if self.max_steps == 0 and self.epochs < 1:
            raise ParameterError("give max_steps > 0 or epochs >= 1")
        for name, target in self.stop_at_exact.items():
            adapter_name("stop_at_exact", name)
            if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 < target <= 1:
                raise ParameterError(f"stop_at_exact: {name!r}: {target!r}; give adapter name: exact match in (0, 1]")
        for name, source in self.adapter_init.items():
            adapter_name("adapter_init", name)
            adapter_name("adapter_init", source)
            if name == source:
                raise ParameterError(f"adapter_init: {name!r} cannot start from itself")
            if name not in names:
                continue
            if source not in names:
                raise ParameterError(f"adapter_init: {name!r} starts from {source!r}, which ops {self.ops} do not "
                                     f"train; add its operator to ops, or drop the entry (-p \"adapter_init={{}}\")")
            if self.stage1 and name in self.ops:
                raise ParameterError(f"adapter_init: {name!r} is an executor and stage1=True starts executors from "
                                     f"their stage-1 weights; drop one of the two")
            seen, at = {name}, source
            while at in self.adapter_init:
                if self.adapter_init[at] in seen | {at}:
                    raise ParameterError(f"adapter_init: {name!r} starts from itself through {at!r} (a cycle)")
                seen.add(at)
                at = self.adapter_init[at]
        if self.stop_at_exact and self.eval_every < 1:
            raise ParameterError("stop_at_exact needs eval_every >= 1 (the steps between the checks)")

    def train_config(self, adapter: str):
        """The `training.TrainConfig` of one adapter (`adapter_steps` overrides max_steps)."""
        from .training import TrainConfig

        cfg = TrainConfig(
            method=self.method, lora_r=self.lora_r, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout,
            lora_targets=self.lora_targets, lr=self.lr, weight_decay=self.weight_decay,
            adam_betas=(0.9, self.adam_beta2), schedule=self.schedule, bucket=self.bucket, pack=self.pack,
            warmup_ratio=self.warmup_ratio, max_grad_norm=self.max_grad_norm, epochs=self.epochs,
            max_steps=self.adapter_steps.get(adapter, self.max_steps), batch_size=self.batch_size,
            grad_accum=self.grad_accum, max_length=self.max_length, checkpoint_every=self.checkpoint_every,
            eval_every=self.eval_every, stop_at_exact=float(self.stop_at_exact.get(adapter, 0.0)), seed=self.seed,
            bf16=self.bf16,
            gradient_checkpointing=self.gradient_checkpointing)
        cfg.check()
        return cfg


LSO_TASKS = ("addition", "mod_addition", "base_addition", "linear_regression", "rabbits_and_chickens")


@dataclass
class LeaveSquareOutParams(Common):
    tasks: list[str] = param(["addition"], choices=LSO_TASKS, help="Leave-Square-Out tasks (Hu et al. 2024)")
    splits: list[str] = param(["1hole", "random"],
                              help="'1hole' (the task's released single square, L = 10), '3hole' (its first "
                                   "released three-square set), 'random' (the released 70/30 split), or a split "
                                   "folder name such as '1hole_(30, 70)_7_225_0-100'")
    scratchpad: bool = param(True, help="also train the scratchpad (_cot) format on the square splits of the tasks "
                                        "that have one (addition, base_addition, mod_addition)")
    ablation_halves: list[int] = param([], min=1, max=30,
                                       help="half-lengths L of extra single squares at the task's centre for the "
                                            "square-size ablation (the paper: sides 2L = 10..40, i.e. L 5..20); "
                                            "squares larger than 30 % of a task's grid are left out for that task")
    vocabularies: list[str] = param(["digit"], choices=("number", "digit"),
                                    help="tiny models' vocabulary: number = every integer up to 520 one token "
                                         "(as GPT-2's BPE), digit = every digit one token; why the default is "
                                         "digit: docs/leave-square-out.md")
    lso_model: str = param("tiny-gpt2", kind="model",
                           help="tiny-gpt2 (trained from scratch) or a local GPT-2 folder, e.g. /models/gpt2 "
                                "(its own name, so that -p base_model=... for notebook 02 does not reach it)")
    n_layer: int = param(2, min=1, max=48, help="tiny-gpt2 layers")
    n_embd: int = param(128, min=16, max=4096, help="tiny-gpt2 width")
    lr: float = param(3e-3, min=0.0, help="peak learning rate (AdamW; the paper's GPT-2 recipe: 1e-4)")
    weight_decay: float = param(0.1, min=0.0, help="AdamW weight decay (the paper's recipe: 0)")
    adam_beta2: float = param(0.98, min=0.0, max=0.99999, help="AdamW beta2 (the paper's recipe: 0.999)")
    max_grad_norm: float = param(1.0, min=0.0, help="gradient clipping (0 = off, as in the paper's recipe)")
    batch_size: int = param(64, min=1, help="training rows per optimizer step (the paper's recipe: 30)")
    max_steps: int = param(1800, min=0, help="optimizer steps of a direct-answer model (0 = epochs decide)")
    scratchpad_steps: int = param(1000, min=0, help="optimizer steps of a scratchpad model (0 = epochs decide)")
    epochs: int = param(1, min=1, help="passes over the training cells when the steps are 0 (the paper: 100)")
    warmup_ratio: float = param(0.03, min=0.0, max=0.5,
                                help="share of the steps with a linear warm-up (the paper's recipe: 0.01)")
    loss_on: str = param("answer", choices=("answer", "all"),
                         help="loss on the answer, or on every token (the released recipe, prompt included)")
    samples: int = param(10, min=0, max=100, help="sampled answers per cell (temperature 1, top-k 50; 0 = none)")
    sampled_cells: str = param("test", choices=("test", "all"), help="cells that get the sampled protocol")
    caef: bool = param(True, help="also run CAEF (ADD executor and aligner on notebook 02's base; the whole "
                                  "process and the executor alone) on the addition square and around it")
    caef_adapters: str = param("notebook02", choices=("notebook02", "train"),
                               help="notebook02: notebook 02's add and add_aligner (the cells among notebook 01's "
                                    "training problems count as trained on, never as held out); train: LoRA "
                                    "adapters trained here on the square split's training cells only")
    caef_steps: dict[str, int] = param({"add": 2500, "add_aligner": 3000},
                                       help="LoRA steps of the CAEF probe's adapters when caef_adapters=train")
    caef_lora_r: int = param(16, min=1, help="LoRA rank of the CAEF probe's adapters when caef_adapters=train")
    caef_margin: int = param(5, min=1, max=40,
                             help="CAEF (and RFFT) are run on the square and this many cells around it")
    caef_column_lengths: list[int] = param([3, 4], min=3, max=100,
                                           help="operand lengths at which the leading columns the executor got "
                                                "wrong on the grid are tested again, far from the square")
    caef_column_n: int = param(30, min=1, help="problems per leading column and length")
    rfft: bool = param(False, help="also train RFFT (notebook 04's rule-following format, tokenizer and tiny-llama, "
                                   "from scratch) on the addition square split's training cells and run it on the "
                                   "square and caef_margin cells around it")
    rfft_steps: int = param(600, min=1, help="optimizer steps of the RFFT probe model (notebook 04's RFFT: 600); "
                                             "the rest of its recipe is notebook 04's defaults")
    eval_batch_size: int = param(256, min=1, help="grid cells (and CAEF problems) generated at once")

    def check(self) -> None:
        from .lso.splits import SplitError, parse_split
        from .params import ParameterError

        for task in self.tasks:
            for name in self.split_names(task):
                try:
                    parse_split(task, name)
                except SplitError as e:
                    raise ParameterError(f"splits: {e}") from None
        if self.caef and "addition" not in self.tasks:
            raise ParameterError("caef=true runs CAEF on the addition square: add 'addition' to tasks, or caef=false")
        if sorted(self.caef_steps) != ["add", "add_aligner"] or any(
                isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in self.caef_steps.values()):
            raise ParameterError(f"caef_steps: {self.caef_steps!r}; give {{add: steps, add_aligner: steps}}, "
                                 f"steps >= 1")
        if self.rfft and self.square_split() is None:
            raise ParameterError("rfft=true runs RFFT on the addition square: add 'addition' to tasks and a 1hole "
                                 "split to splits, or rfft=false")

    def train_config(self, scratchpad: bool):
        """The `training.TrainConfig` of one probe model: every weight trained."""
        from .training import TrainConfig

        cfg = TrainConfig(method="full", lr=self.lr, weight_decay=self.weight_decay, adam_betas=(0.9, self.adam_beta2),
                          max_grad_norm=self.max_grad_norm, batch_size=self.batch_size, epochs=self.epochs,
                          max_steps=self.scratchpad_steps if scratchpad else self.max_steps,
                          warmup_ratio=self.warmup_ratio, loss_on=self.loss_on, bucket=False, max_length=512,
                          checkpoint_every=500, seed=self.seed)
        cfg.check()
        return cfg

    def caef_config(self, adapter: str):
        """The LoRA `TrainConfig` of the CAEF probe's `add` or `add_aligner` (the tiny_lora preset, rank
        caef_lora_r)."""
        from .training import preset

        return preset("tiny_lora", lora_r=self.caef_lora_r, lora_alpha=self.caef_lora_r,
                      max_steps=self.caef_steps[adapter], seed=self.seed)

    def square_split(self) -> str | None:
        """The addition split CAEF and RFFT are probed on: the first single-square split, or None."""
        names = self.split_names("addition") if "addition" in self.tasks else []
        return next((s for s in names if s.startswith("1hole")), None)

    def rfft_config(self):
        """The `TrainConfig` of the RFFT probe model: notebook 04's RFFT recipe (its defaults: every weight, its
        optimizer, batch 16, packed rows, loss on the answer; not this notebook's probe settings), `rfft_steps`."""
        return RfftParams(seed=self.seed, steps={"rfft": self.rfft_steps}).train_config("rfft")

    def rfft_arch(self) -> dict:
        """The RFFT probe's tiny-llama: notebook 04's, sized by this notebook's n_layer and n_embd."""
        return RfftParams(hidden=self.n_embd, n_layer=self.n_layer).arch()

    def plan(self) -> list[dict]:
        """The probe models to train: a row per task, split, format (scratchpad: square splits of tasks that have
        one, or a `_cot` split) and vocabulary ("model" for a local model, which brings its own tokenizer)."""
        from .lso.tasks import get_task
        from .params import BUILTIN_MODELS

        vocabularies = self.vocabularies if self.lso_model in BUILTIN_MODELS else ["model"]
        rows = []
        for task in self.tasks:
            for split in self.split_names(task):
                if split.endswith("_cot"):
                    formats = [True]
                elif self.scratchpad and get_task(task).scratchpad and not split.startswith("random"):
                    formats = [False, True]
                else:
                    formats = [False]
                rows += [{"task": task, "split": split, "scratchpad": f, "vocabulary": v}
                         for f in formats for v in vocabularies]
        return rows

    def split_names(self, task: str) -> list[str]:
        """The split folder names of `task`: the symbolic names resolved, the ablation squares added where they fit
        the task's grid (at most 30 % of it: rabbits and chickens take L up to 15)."""
        from .lso.splits import SplitError, ablation_split, parse_split, released_split

        names = [released_split(task, s) if s in ("1hole", "3hole", "random") else s for s in self.splits]
        for half in self.ablation_halves:
            try:
                names.append(parse_split(task, ablation_split(task, half)).name)
            except SplitError:
                continue
        return list(dict.fromkeys(names))


@dataclass
class RfftParams(Common):
    formats: list[str] = param(["direct", "scratchpad", "rfft"], choices=("direct", "scratchpad", "rfft"),
                               help="formats trained and compared (Hu et al. 2024, section d of the spec)")
    rfft_model: str = param("tiny-llama", kind="model",
                            help="tiny-llama (trained from scratch) or a local folder, e.g. /models/Llama-2-7b-hf "
                                 "(its own name, so that -p base_model=... for notebook 02 does not reach it)")
    n_layer: int = param(2, min=1, max=48, help="tiny-llama layers")
    hidden: int = param(128, min=16, max=4096, help="tiny-llama width (8 heads)")
    train_digits: list[int] = param([1, 5], min=1, max=100,
                                    help="[min, max] operand length of the training problems (the paper: 1-5)")
    test_lengths: list[int] = param(list(range(1, 16)), min=1, max=100,
                                    help="operand lengths tested, one test set each (the longer operand has "
                                         "exactly that many digits)")
    train_samples: int = param(12000, min=1, help="training problems (the same ones for every format)")
    test_samples: int = param(24, min=1, help="test problems per length (at most half of a length's problems: "
                                              "1 digit gets 50 of 100)")
    steps: dict[str, int] = param({"direct": 1000, "scratchpad": 3000, "rfft": 600},
                                  help="optimizer steps per format (0 = one epoch over train_samples)")
    method: str = param("full", choices=("full", "lora"),
                        help="full fine-tuning (tiny models from scratch) or LoRA (the paper's Llama-2 recipe)")
    lr: float = param(3e-3, min=0.0, help="peak learning rate (the paper's Llama recipe: 2e-5)")
    weight_decay: float = param(0.1, min=0.0, help="AdamW weight decay (the paper's Llama recipe: 0)")
    adam_beta2: float = param(0.98, min=0.0, max=0.99999, help="AdamW beta2 (the paper's recipe: 0.999)")
    batch_size: int = param(16, min=1, help="training rows per optimizer step (the paper's Llama recipe: 1)")
    lora_r: int = param(8, min=1, help="LoRA rank with method=lora (the paper's recipe: 8)")
    lora_alpha: int = param(16, min=1, help="LoRA alpha with method=lora (scale = alpha / r)")
    lora_dropout: float = param(0.05, min=0.0, max=1.0, help="LoRA dropout with method=lora")
    pack: bool = param(True, help="pack several samples per row (no padding; each attends only to itself)")
    generic_steps: int = param(0, min=0,
                               help="steps of generic list/number pre-training of the tiny base on 1 to the "
                                    "longest test length + 1 digits before the formats are fine-tuned (0 = "
                                    "none; what it is and what it did: docs/rfft.md)")
    generic_replay: float = param(0.0, min=0.0, max=1.0,
                                  help="generic samples mixed into each format's fine-tuning, as a fraction of "
                                       "its samples")
    caef: bool = param(True, help="also run CAEF's full process (ADD executor + aligner) at every test length")
    caef_adapters: str = param("notebook02", choices=("notebook02", "train"),
                               help="notebook02: notebook 02's add and add_aligner (trained on notebook 01's "
                                    "lengths); train: LoRA adapters on notebook 02's base trained on this "
                                    "notebook's training problems")
    caef_steps: dict[str, int] = param({"add": 2500, "add_aligner": 3000},
                                       help="LoRA steps of the CAEF adapters when caef_adapters=train")
    caef_lora_r: int = param(16, min=1, help="LoRA rank of the CAEF adapters when caef_adapters=train")
    eval_batch_size: int = param(64, min=1,
                                 help="test problems generated at once (a long RFFT trace's KV cache grows with it)")

    def check(self) -> None:
        from .params import BUILTIN_MODELS, ParameterError

        builtin = self.rfft_model in BUILTIN_MODELS
        if builtin and self.rfft_model != "tiny-llama":
            raise ParameterError(f"rfft_model {self.rfft_model!r}: tiny-llama (RoPE) or a local folder")
        if builtin and self.method == "lora" and not self.generic_steps:
            raise ParameterError("method=lora needs a base to adapt: a local folder as rfft_model, or generic_steps "
                                 "> 0 (a tiny-llama from scratch is trained fully: method=full)")
        if not builtin and (self.generic_steps or self.generic_replay):
            raise ParameterError("generic_steps and generic_replay pre-train a tiny-llama; a local model brings its "
                                 "own pre-training: set them to 0")
        if len(set(self.formats)) != len(self.formats):
            raise ParameterError(f"formats: {self.formats!r} names a format twice")
        if not self.test_lengths:
            raise ParameterError("test_lengths: give at least one length")
        if len(self.train_digits) != 2 or self.train_digits[0] > self.train_digits[1]:
            raise ParameterError(f"train_digits: {self.train_digits!r}; give [min, max] with min <= max")
        if not self.formats and not self.caef:
            raise ParameterError("nothing to compare: give formats or caef=true")
        if set(self.steps) - {"direct", "scratchpad", "rfft"} or not set(self.formats) <= set(self.steps) or any(
                isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in self.steps.values()):
            raise ParameterError(f"steps: {self.steps!r}; give {{format: steps >= 0}} for every format in "
                                 f"{self.formats}")
        if sorted(self.caef_steps) != ["add", "add_aligner"] or any(
                isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in self.caef_steps.values()):
            raise ParameterError(f"caef_steps: {self.caef_steps!r}; give {{add: steps, add_aligner: steps}}")
        if self.generic_replay and not self.generic_steps:
            raise ParameterError("generic_replay needs generic_steps > 0 (the generic pre-training it replays)")

    def train_config(self, fmt: str):
        """The `training.TrainConfig` of one format's model."""
        from .training import TrainConfig

        cfg = TrainConfig(method=self.method, lr=self.lr, weight_decay=self.weight_decay,
                          adam_betas=(0.9, self.adam_beta2), lora_r=self.lora_r, lora_alpha=self.lora_alpha,
                          lora_dropout=self.lora_dropout, batch_size=self.batch_size, max_steps=self.steps[fmt],
                          epochs=1, warmup_ratio=0.03, loss_on="answer", bucket=False, pack=self.pack,
                          max_length=4096, checkpoint_every=200, seed=self.seed,
                          gradient_checkpointing=self.method == "lora")
        cfg.check()
        return cfg

    def arch(self) -> dict:
        """The tiny-llama's size (positions far beyond the longest trace: RoPE has no learnt positions)."""
        return dict(hidden_size=self.hidden, intermediate_size=3 * self.hidden, num_hidden_layers=self.n_layer,
                    max_position_embeddings=8192)

    def caef_config(self, adapter: str):
        from .training import preset

        return preset("tiny_lora", lora_r=self.caef_lora_r, lora_alpha=self.caef_lora_r,
                      max_steps=self.caef_steps[adapter], seed=self.seed)


@dataclass
class CaefTablesParams(Common):
    model: str = param("trained", choices=("trained", "oracle", "noisy-oracle"),
                       help="trained: base_model with its adapters; oracle / noisy-oracle: the symbolic machines "
                            "(with `noise` faults per call), as checks of the pipeline")
    noise: float = param(0.05, min=0.0, max=1.0, help="noisy-oracle: probability that a call's answer is corrupted")
    base_model: str = param("tiny-llama", kind="model",
                            help="the base the adapters were trained on (notebook 02's base_model: the same name, so "
                                 "-p base_model=... reaches both)")
    adapters_dir: str = param("", help="folder with one adapter folder per name ('' = notebook 02's, "
                                       "data/models/<profile>/<base>/)")
    adapter_map: str = param("", help="YAML file mapping adapter names (add, add_aligner, add_direct, ..., "
                                      "reflection, left_mask) to peft folders anywhere on disk")
    ops: list[str] = param(["add"], help="operators (add, sub, mul, div, equal, greater_than, less_than, "
                                         "reflection, left_mask, long_mul, long_div) or 'all' (the seven of Table 1 "
                                         "and long_mul, long_div)")
    lengths: list[int] = param([1, 3, 5, 8, 16, 32], min=1, max=1000,
                               help="operand lengths: the trained ones and beyond them (length generalisation)")
    n: int = param(30, min=1, help="problems per operator and length (the same problems in every mode)")
    direct: bool = param(True, help="Table 1's direct-answer baseline (the <op>_direct adapters of notebook 02)")
    components: bool = param(True, help="Table 2: executor (every step right), aligner(I), aligner(O)")
    scoring: str = param("reference", choices=("reference", "result"),
                         help="Table 1's CAEF: reference = a call that differs from the machine's ends the problem as "
                              "wrong, as in the reference's loop; result = every problem runs to its end and counts "
                              "when its final answer is right (method caef_by_result; far slower when steps fail)")
    eval_batch_size: int = param(128, min=1, help="problems in flight in the batched engine")

    def check(self) -> None:
        from .batched_engine import ALL
        from .machines import MACHINES
        from .params import ParameterError

        unknown = [o for o in self.ops if o != "all" and o not in MACHINES]
        if unknown or not self.ops:
            raise ParameterError(f"ops: unknown {unknown or '(none)'}; use {', '.join(ALL)}, reflection, "
                                 f"left_mask or all")
        if self.adapters_dir and self.adapter_map:
            raise ParameterError("give adapters_dir or adapter_map, not both")
        if self.model != "trained" and (self.adapters_dir or self.adapter_map):
            raise ParameterError(f"model={self.model} uses no adapters: leave adapters_dir and adapter_map empty")
        if not self.lengths:
            raise ParameterError("lengths: give at least one")

    def op_list(self) -> list[str]:
        from .batched_engine import ALL

        return list(dict.fromkeys(o for op in self.ops for o in (ALL if op == "all" else [op])))


NOTEBOOK_PARAMS: dict[str, type] = {
    "00_environment": EnvironmentParams,
    "01_traces": TracesParams,
    "02_training": TrainingParams,
    "03_leave_square_out": LeaveSquareOutParams,
    "04_rfft": RfftParams,
    "05_caef_tables": CaefTablesParams,
}
