from dataclasses import dataclass

import pytest

from caef_lib import runner
from caef_lib.notebook_params import NOTEBOOK_PARAMS, Common
from caef_lib.params import ParameterError, param, parse_cli_value, validate


@dataclass
class Demo(Common):
    steps: int = param(10, min=1, help="training steps")
    lr: float = param(1e-4, min=0.0)
    ops: list[str] = param(["add"], choices=("add", "sub", "mul"))
    base_model: str = param("tiny-llama", kind="model")
    note: str | None = param(None)
    stage1: bool = param(False)


def test_values_are_coerced_to_declared_types():
    p = validate(Demo, {"steps": "5", "lr": "3e-5", "ops": "add, mul", "stage1": "true", "note": None})
    assert (p.steps, p.lr, p.ops, p.stage1, p.note) == (5, 3e-5, ["add", "mul"], True, None)
    assert validate(Demo, {"ops": "sub"}).ops == ["sub"]
    assert parse_cli_value("[add, sub]") == ["add", "sub"] and parse_cli_value("1e-4") == 1e-4


@pytest.mark.parametrize("values, message", [
    ({"stpes": 5}, "unknown parameter 'stpes' of 02_demo (did you mean 'steps'?); accepted: profile, output_root, seed, device, steps"),
    ({"steps": "many"}, "parameter 'steps': 'many' is not an integer"),
    ({"steps": 0}, "parameter 'steps': 0 is below the minimum 1"),
    ({"steps": True}, "parameter 'steps': True is not an integer"),
    ({"lr": "fast"}, "parameter 'lr': 'fast' is not a number"),
    ({"ops": "add,div"}, "parameter 'ops': 'div' is not accepted; choose from add, sub, mul"),
    ({"device": "tpu"}, "parameter 'device': 'tpu' is not accepted; choose from auto, cpu, cuda, mps"),
    ({"seed": -1}, "parameter 'seed': -1 is below the minimum 0"),
    ({"stage1": "maybe"}, "parameter 'stage1': 'maybe' is not true/false"),
])
def test_bad_values_are_rejected_with_the_parameter_named(values, message):
    with pytest.raises(ParameterError) as err:
        validate(Demo, values, notebook="02_demo")
    assert message in str(err.value)
    assert "02_demo" in str(err.value)


def test_missing_local_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(ParameterError) as err:
        validate(Demo, {"base_model": str(tmp_path / "Meta-Llama-3.1-8B")})
    msg = str(err.value)
    assert "'base_model'" in msg and "tiny-llama" in msg and "never downloads" in msg
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParameterError, match="no config.json"):
        validate(Demo, {"base_model": str(tmp_path / "empty")})
    (tmp_path / "empty" / "config.json").write_text("{}")
    assert validate(Demo, {"base_model": str(tmp_path / "empty")}).base_model.endswith("empty")


def test_every_notebook_default_is_valid():
    for name, cls in NOTEBOOK_PARAMS.items():
        validate(cls, {}, notebook=name)


def test_unknown_profile_lists_the_available_ones():
    with pytest.raises(ParameterError, match=r"unknown profile 'smok'; available: default, paper, smoke"):
        runner.plan("smok")


def test_plan_rejects_unknown_and_bad_overrides_before_running():
    with pytest.raises(ParameterError, match=r"unknown parameter 'sede' \(-p sede=1\) for 00_environment"):
        runner.plan("smoke", only=["00"], overrides=["sede=1"])
    with pytest.raises(ParameterError, match="parameter 'seed': 'x' is not an integer of 00_environment"):
        runner.plan("smoke", only=["00"], overrides=["seed=x"])
    with pytest.raises(ParameterError, match="write -p name=value"):
        runner.plan("smoke", only=["00"], overrides=["seed"])
    with pytest.raises(ParameterError, match="no notebook '42'"):
        runner.plan("smoke", only=["42"])


def test_a_bad_parameter_file_or_profile_name_is_a_parameter_error(tmp_path):
    bad = {"broken.yaml": ("a: [1\n", "not YAML"), "latin1.yaml": (b"seed: \xff\n", "not YAML"),
           "sections.yaml": ("notebooks: 5\n", "maps notebook names"),
           "list.yaml": ("notebooks:\n  00_environment: [1]\n", "maps notebook names")}
    for name, (text, message) in bad.items():
        f = tmp_path / name
        f.write_bytes(text if isinstance(text, bytes) else text.encode())
        with pytest.raises(ParameterError, match=message):
            runner.plan("smoke", only=["00"], files=[f])
    with pytest.raises(ParameterError, match="unknown profile"):
        runner.load_profile("../profiles/smoke")


def test_cli_figures_and_params_refuse_what_does_not_exist(tmp_path, capsys):
    from caef_lib.cli import main

    assert main(["figures", "--profile", "nope", "--root", str(tmp_path)]) == 2
    assert "unknown profile 'nope'" in capsys.readouterr().err and not any(tmp_path.iterdir())
    assert main(["params", "99"]) == 2 and "no notebook '99'" in capsys.readouterr().err
    assert main(["params", "05"]) == 0 and capsys.readouterr().out.startswith("05_caef_tables")


def test_plan_merges_profile_file_and_overrides(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("seed: 7\nnotebooks:\n  00_environment:\n    check_models: [/nowhere]\n")
    (run,) = runner.plan("smoke", only=["00"], files=[f], overrides=["00.device=cpu"], output_root=tmp_path)
    assert run.params["seed"] == 7 and run.params["device"] == "cpu" and run.params["profile"] == "smoke"
    assert run.params["check_models"][0] == "/nowhere"
    assert run.params["output_root"] == str(tmp_path.resolve())


def test_paper_profile_needs_a_local_base_model(tmp_path):
    """The paper profile names a local model folder; without it nothing starts, and the message says why."""
    missing = tmp_path / "Meta-Llama-3.1-8B"
    with pytest.raises(ParameterError) as err:
        runner.plan("paper", overrides=[f"base_model={missing}"])
    assert "'base_model'" in str(err.value) and "02_training" in str(err.value)
    missing.mkdir()
    (missing / "config.json").write_text("{}")
    gpt2 = tmp_path / "gpt2"  # notebook 03's model, a parameter of its own
    with pytest.raises(ParameterError, match="'lso_model'"):
        runner.plan("paper", overrides=[f"base_model={missing}", f"lso_model={gpt2}"])
    gpt2.mkdir()
    (gpt2 / "config.json").write_text("{}")
    llama2 = tmp_path / "Llama-2-7b-hf"  # notebook 04's model, a parameter of its own
    with pytest.raises(ParameterError, match="'rfft_model'"):
        runner.plan("paper", overrides=[f"base_model={missing}", f"lso_model={gpt2}", f"rfft_model={llama2}"])
    llama2.mkdir()
    (llama2 / "config.json").write_text("{}")
    runs = runner.plan("paper", overrides=[f"base_model={missing}", f"lso_model={gpt2}", f"rfft_model={llama2}"])
    env = next(r for r in runs if r.name == "00_environment")
    assert f"02_training.base_model={missing}" in env.params["check_models"]
    assert f"04_rfft.rfft_model={llama2}" in env.params["check_models"]


def test_stop_at_exact_names_adapters_and_needs_eval_every():
    from caef_lib.notebook_params import TrainingParams

    P = validate(TrainingParams, {"stop_at_exact": {"add": 1.0, "add_aligner": 0.95}, "eval_every": 250})
    assert P.train_config("add").stop_at_exact == 1.0 and P.train_config("add_direct").stop_at_exact == 0.0
    # another operator's adapter is left alone (a profile's settings hold with -p ops=[add]); a typo is not
    assert validate(TrainingParams, {"stop_at_exact": {"mul": 1.0}, "eval_every": 250}).train_config(
        "add").stop_at_exact == 0.0
    for setting in ("stop_at_exact", "adapter_steps"):
        with pytest.raises(ParameterError, match=f"{setting}: 'add_alinger' is not an adapter of any operator"):
            validate(TrainingParams, {setting: {"add_alinger": 1}, "eval_every": 250})
    with pytest.raises(ParameterError, match="'reflection_aligner' is not an adapter"):  # REFLECTION has none
        validate(TrainingParams, {"stop_at_exact": {"reflection_aligner": 0.9}, "eval_every": 250})
    with pytest.raises(ParameterError, match="needs eval_every"):
        validate(TrainingParams, {"stop_at_exact": {"add": 1.0}})
    with pytest.raises(ParameterError, match="exact match in"):
        validate(TrainingParams, {"stop_at_exact": {"add": 2}, "eval_every": 250})


def test_adapter_init_names_two_adapters_without_a_cycle():
    from caef_lib.notebook_params import TrainingParams

    ops = {"ops": ["add", "sub"]}
    P = validate(TrainingParams, {**ops, "adapter_init": {"sub_aligner": "add_aligner", "sub": "add"}})
    assert P.adapter_init == {"sub_aligner": "add_aligner", "sub": "add"}
    validate(TrainingParams, {**ops, "adapter_init": {"mul_aligner": "add_aligner"}})  # mul is not trained here
    with pytest.raises(ParameterError, match="'sub_aligner' starts from 'mul_aligner', which ops"):
        validate(TrainingParams, {**ops, "adapter_init": {"sub_aligner": "mul_aligner"}})
    with pytest.raises(ParameterError, match="adapter_init: 'sub_alinger' is not an adapter"):
        validate(TrainingParams, {**ops, "adapter_init": {"sub_alinger": "add_aligner"}})
    with pytest.raises(ParameterError, match="adapter_init: 'sub'"):
        validate(TrainingParams, {**ops, "adapter_init": {"sub": "sub"}})
    with pytest.raises(ParameterError, match="a cycle"):
        validate(TrainingParams, {**ops, "adapter_init": {"sub": "add", "add": "sub_aligner", "sub_aligner": "sub"}})
    with pytest.raises(ParameterError, match="stage1"):
        validate(TrainingParams, {**ops, "stage1": True, "adapter_init": {"sub": "add"}})
    validate(TrainingParams, {**ops, "stage1": True, "adapter_init": {"sub_aligner": "add_aligner"}})


def test_the_default_profile_trains_every_adapter_of_the_seven_operators_to_a_target():
    """Issue 16: notebook 02 of `make study` trains the nine executors, seven aligners and seven directs; every
    executor and aligner has a step cap and a validation target, and notebook 05 tables the seven operators."""
    from caef_lib.notebook_params import CaefTablesParams, TrainingParams

    runs = {r.name: r for r in runner.plan("default")}
    P = validate(TrainingParams, runs["02_training"].params)
    seven = ["add", "sub", "mul", "div", "equal", "greater_than", "less_than"]
    assert sorted(P.ops) == sorted(seven + ["reflection", "left_mask"])
    assert set(P.adapters) == {"executor", "aligner", "direct"}
    trained = set(P.ops) | {f"{op}_aligner" for op in seven}
    assert set(P.stop_at_exact) == trained and set(P.adapter_steps) == trained
    assert set(P.adapter_init) <= trained and set(P.adapter_init.values()) <= trained
    T = validate(CaefTablesParams, runs["05_caef_tables"].params)
    assert T.op_list() == seven


def _choices(cls, name):
    import dataclasses

    return next(f.metadata["choices"] for f in dataclasses.fields(cls) if f.name == name)


def test_the_notebooks_choices_are_the_librarys_own():
    """notebook_params lists its choices literally (it imports nothing heavy); they must name what the library
    accepts, or a value the notebook lets through fails later, after heavy work."""
    from caef_lib import caef_tables
    from caef_lib import notebook_params as p
    from caef_lib.lso import probe, tasks
    from caef_lib.machines import MACHINES
    from caef_lib.rfft import formats

    assert _choices(p.CaefTablesParams, "scoring") == caef_tables.SCORINGS
    assert _choices(p.LeaveSquareOutParams, "vocabularies") == probe.VOCABULARIES
    assert set(_choices(p.LeaveSquareOutParams, "tasks")) == set(tasks.TASKS)
    assert set(_choices(p.TracesParams, "ops")) - {"all"} == set(MACHINES)
    assert set(_choices(p.RfftParams, "formats")) == set(formats.FORMATS)


def test_the_default_profile_runs_with_fewer_operators(tmp_path):
    """The README's examples: -p ops=[add] leaves the default's settings for the other operators unused instead of
    refusing them."""
    for ops in ("[add]", "[add,sub,reflection,left_mask]"):
        runs = {r.name: r for r in runner.plan("default", overrides=[f"ops={ops}"], output_root=tmp_path)}
        assert runs["02_training"].params["ops"] == runs["01_traces"].params["ops"] == ops[1:-1].split(",")
    runner.plan("default", overrides=["lr=2e-5", "02.adapter_steps={add: 1000}", "05.n=10"], output_root=tmp_path)


def test_notebook_05_must_find_what_it_evaluates_before_notebook_02_trains(tmp_path):
    """With 02 and 05 in one run, 05's adapters come from 02 or from an earlier run's folder; else nothing starts
    (SUB CALLs REFLECTION and LEFT_MASK: 05 would stop at its adapter lookup after all of 02's training)."""
    with pytest.raises(ParameterError, match="needs adapter.s. left_mask, reflection, which 02_training"):
        runner.plan("default", overrides=["ops=[add,sub]"], output_root=tmp_path)
    runner.plan("default", only=["05"], overrides=["ops=[add,sub]"], output_root=tmp_path)  # 05 alone: not checked
    runner.plan("default", overrides=["ops=[add,sub]", "05.ops=[add]"], output_root=tmp_path)
    for name in ("reflection", "left_mask"):  # an earlier run's adapters on the same base
        folder = tmp_path / "data" / "models" / "default" / "tiny-llama" / name
        folder.mkdir(parents=True)
        (folder / "adapter_config.json").write_text("{}")
    runner.plan("default", overrides=["ops=[add,sub]"], output_root=tmp_path)
    with pytest.raises(ParameterError, match="evaluates base_model 'tiny-gpt2'"):
        runner.plan("default", overrides=["05.base_model=tiny-gpt2"], output_root=tmp_path)


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_every_profile_gives_notebooks_02_and_05_one_base(profile, tmp_path):
    """Each profile's notebook 05 evaluates its notebook 02's adapters on the same base, given by the profile
    itself, not only by a -p base_model=... that reaches both; and the two plan together from nothing (the
    runner's check that 05 asks only for what 02 trains)."""
    from caef_lib.notebook_params import CaefTablesParams, TrainingParams

    overrides = []
    if profile == "paper":  # a stand-in for the local model folder the paper profile names
        (tmp_path / "llama").mkdir()
        (tmp_path / "llama" / "config.json").write_text("{}")
        overrides.append(f"base_model={tmp_path / 'llama'}")
    runner.plan(profile, only=["02", "05"], overrides=overrides, output_root=tmp_path / "out")
    prof = runner.load_profile(profile)

    def own(notebook, cls):
        section = prof["notebooks"].get(notebook) or {}
        return section.get("base_model", (prof.get("common") or {}).get("base_model", cls().base_model))

    assert own("05_caef_tables", CaefTablesParams) == own("02_training", TrainingParams)
