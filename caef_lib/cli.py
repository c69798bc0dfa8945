"""Command line: `python -m caef_lib {run,trace,eval,figures,params,lso,format}`."""
from __future__ import annotations

import argparse
import sys


def _run(args) -> int:
    from .params import ParameterError
    from .runner import RunFailed, execute, plan

    try:
        runs = plan(args.profile, only=args.only or [], start=args.start, overrides=args.param or [],
                    files=args.file or [], output_root=args.root)
    except ParameterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not runs:
        print("nothing selected")
        return 0
    print(f"profile {args.profile}: {', '.join(r.name for r in runs)}")
    try:
        summary = execute(runs, force=args.force, verbose=args.verbose)
    except RunFailed as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: completed notebooks are kept; run the same command again to resume", file=sys.stderr)
        return 130
    total = sum(row["seconds"] for row in summary)
    print("\nnotebook                      status    time")
    for row in summary:
        print(f"{row['notebook']:<29} {row['status']:<9} {row['seconds']:7.1f} s")
    print(f"{'total':<39} {total:7.1f} s")
    return 0


def _figures(args) -> int:
    from .figures import redraw_all
    from .params import ParameterError
    from .paths import KitPaths
    from .report import write_report
    from .runner import load_profile

    try:
        load_profile(args.profile)  # a profile the runner knows, not a folder name made up on the spot
    except ParameterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    paths = KitPaths.of(args.profile, args.root)
    drawn = redraw_all(paths)
    print(f"{len(drawn)} figure(s) redrawn for profile {args.profile}")
    write_report(paths)
    return 0


def _params(args) -> int:
    from .notebook_params import NOTEBOOK_PARAMS
    from .params import describe

    chosen = [n for n in NOTEBOOK_PARAMS if not args.notebook or n.startswith(args.notebook)]
    if not chosen:
        print(f"error: no notebook {args.notebook!r}; notebooks: {', '.join(NOTEBOOK_PARAMS)}", file=sys.stderr)
        return 2
    for name, cls in NOTEBOOK_PARAMS.items():
        if name not in chosen:
            continue
        print(name)
        for row in describe(cls):
            extra = f" (one of {', '.join(map(str, row['choices']))})" if row["choices"] else ""
            print(f"  {row['name']:<22} {row['type']:<22} default {row['default']!r}{extra}  {row['help']}")
    return 0


def _lso(args) -> int:
    from .lso.splits import SplitError, write_split

    try:
        out = write_split(args.task, args.split, args.out_dir, scratchpad=args.scratchpad)
    except SplitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # an output folder that cannot be made or written
        print(f"error: {args.out_dir}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(f"wrote {out / 'train.json'} and {out / 'test.json'}")
    return 0


def _format(args) -> int:
    import json
    import re

    from .rfft.formats import get_format

    for name, text in (("A", args.a), ("B", args.b)):
        if not re.fullmatch(r"[0-9]+", text):
            print(f"error: operand {name}={text!r} is not a non-negative integer (digits only)", file=sys.stderr)
            return 2
    if max(len(args.a), len(args.b)) > 1000:
        print("error: operands of more than 1000 digits are not supported", file=sys.stderr)
        return 2
    fmt = get_format(args.format)
    a, b = int(args.a), int(args.b)
    print(json.dumps({"prompt": fmt.prompt(a, b), "target": fmt.target(a, b)}))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "trace":  # the trace command owns its arguments
        from .trace_cmd import main as trace_main

        return trace_main(argv[1:])
    if argv and argv[0] == "eval":
        from .eval_cmd import main as eval_main

        return eval_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m caef_lib", description="CAEF study kit")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the notebooks in order with a profile")
    run.add_argument("--profile", default="default", help="smoke, default or paper (profiles/<name>.yaml)")
    run.add_argument("--only", action="append", metavar="NN", help="run only this notebook (repeatable)")
    run.add_argument("--from", dest="start", metavar="NN", help="start at this notebook")
    run.add_argument("-p", "--param", action="append", metavar="NAME=VALUE",
                     help="override a parameter (NN.name=value for one notebook)")
    run.add_argument("-f", "--file", action="append", metavar="PARAMS.yaml", help="parameters from a YAML file")
    run.add_argument("--force", action="store_true", help="re-run notebooks that are up to date")
    run.add_argument("--root", default=None, help="write data/results/figures/runs under this folder")
    run.add_argument("-v", "--verbose", action="store_true", help="stream the notebooks' output")
    run.set_defaults(fn=_run)
    fig = sub.add_parser("figures", help="redraw every figure and the report card from saved results (no training)")
    fig.add_argument("--profile", default="default")
    fig.add_argument("--root", default=None)
    fig.set_defaults(fn=_figures)
    prm = sub.add_parser("params", help="list every notebook's parameters")
    prm.add_argument("notebook", nargs="?", default="")
    prm.set_defaults(fn=_params)
    sub.add_parser("trace", help="every model call of the CAEF process for one problem (see trace --help)")
    sub.add_parser("eval", help="CAEF's batched engine on drawn problems: oracle, noisy oracle or a model with its "
                                "adapters (see eval --help)")
    lso = sub.add_parser("lso", help="Leave-Square-Out data (Hu et al. 2024)")
    lso_sub = lso.add_subparsers(dest="lso_command", required=True)
    build = lso_sub.add_parser("build", help="write train.json and test.json of a split in the released layout")
    build.add_argument("task", help="addition, mod_addition, base_addition, linear_regression, rabbits_and_chickens")
    build.add_argument("split", help="a released folder name or a new one of the same form, e.g. "
                                     "'1hole_(30, 70)_7_225_0-100', '3hole_1411_0-100', "
                                     "'random_split_0.7_7000_3000_0-100' (a _cot suffix = --scratchpad)")
    build.add_argument("out_dir")
    build.add_argument("--scratchpad", action="store_true", help="the scratchpad (_cot) format")
    build.set_defaults(fn=_lso)
    fmt = sub.add_parser("format", help="the prompt and target of one addition in a length-experiment format "
                                        "(Hu et al. 2024), as one JSON object")
    fmt.add_argument("format", choices=("direct", "scratchpad", "rfft"))  # rfft.formats.FORMATS (imported lazily)
    fmt.add_argument("a", metavar="A", help="first operand, a non-negative integer")
    fmt.add_argument("b", metavar="B", help="second operand, a non-negative integer")
    fmt.set_defaults(fn=_format)
    args = parser.parse_args(argv)
    return args.fn(args)
