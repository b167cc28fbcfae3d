"""``kefu sim train|evaluate|compare|chat``: the user simulator for support leads.

Wire it from ``bot/cli.py`` with ``sim_cmd.add_sim_args(sim_sub)`` (``sim_sub`` = the ``sim``
parser's subparsers). Heavy imports (torch, SB3) happen inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.errors import KefuError

DEFAULT_OUT = "models/sim"
DEFAULT_RESULTS = "results/sim"


def add_sim_args(subparsers: Any) -> None:
    """Register ``train``, ``evaluate``, ``compare`` and ``chat`` on the ``sim`` subparsers."""
    from simulator.constants import ALGOS

    train = subparsers.add_parser("train", help="train a dialogue policy against simulated shoppers")
    _project_args(train)
    train.add_argument("--algo", choices=ALGOS, default="maskable_ppo")
    train.add_argument("--timesteps", type=int, default=100_000, help="env steps (default 100000)")
    train.add_argument("--nlu-error", type=float, default=0.1, help="TC-Bot intent/slot error rate (default 0.1)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--n-envs", type=int, default=4, help="parallel envs (default 4)")
    train.add_argument("--subproc", action="store_true", help="one process per env (SubprocVecEnv)")
    train.add_argument("--warm-start", choices=["stories"], default=None,
                       help="behaviour-clone the stories before RL (actor-critic algorithms)")
    train.add_argument("--eval-freq", type=int, default=20_000, help="env steps between evaluations")
    train.add_argument("--eval-episodes", type=int, default=200)
    train.add_argument("--final-episodes", type=int, default=1000,
                       help="held-out dialogues evaluated after training (0: skip)")
    train.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(handler=run_train)

    evaluate = subparsers.add_parser("evaluate", help="evaluate a policy on held-out simulated shoppers")
    _project_args(evaluate)
    evaluate.add_argument("--policy", default="rule", help="rule, or the algo of the model in --model")
    evaluate.add_argument("--model", default=None,
                          help="a `kefu sim train` output directory, or a `kefu train` model (played as served)")
    evaluate.add_argument("--url", default=None,
                          help="a running assistant (kefu run --enable-api) to drive over REST, e.g. "
                               "http://127.0.0.1:5005; --policy and --model are then ignored")
    evaluate.add_argument("--token", default=None, help="the running assistant's --auth-token")
    evaluate.add_argument("--payloads", action="store_true",
                          help="in process, send the shoppers' messages as the REST payloads --url sends (no mood, "
                               "the payload as text), to compare with a --url run of the same model")
    evaluate.add_argument("--reseed-url", default=None,
                          help="POSTed before each dialogue to put the shop back in its seeded state, e.g. "
                               "http://127.0.0.1:5056/simulation/reseed (kefu backends --simulated-shop)")
    evaluate.add_argument("--episodes", type=int, default=1000)
    evaluate.add_argument("--nlu-error", type=float, default=0.1)
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--split", choices=["test", "train", "all"], default="test")
    _level_args(evaluate)
    evaluate.add_argument("--out", default=None, help="write the metrics as JSON here")
    evaluate.set_defaults(handler=run_evaluate)

    compare = subparsers.add_parser("compare", help="policies x NLU noise x seeds: table, JSON and PNG")
    _project_args(compare)
    compare.add_argument("--policies", default="rule,qlearning,maskable_ppo",
                         help="comma-separated: rule, rasa_style (config.yml's policies without rl, trained on the "
                              "stories, as served) and any of the training algos (default rule,qlearning,maskable_ppo)")
    compare.add_argument("--noise", default="0,0.05,0.1,0.2,0.3", help="NLU error rates to evaluate at")
    compare.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    compare.add_argument("--episodes", type=int, default=1000, help="held-out dialogues per point")
    compare.add_argument("--timesteps", type=int, default=100_000, help="training steps per RL policy")
    compare.add_argument("--qlearning-timesteps", type=int, default=None, help="(default: --timesteps)")
    compare.add_argument("--ppo-timesteps", type=int, default=None,
                         help="budget of the unmasked PPO ablation (default: --timesteps)")
    compare.add_argument("--train-nlu-error", type=float, default=0.1, help="NLU error while training")
    compare.add_argument("--n-envs", type=int, default=4)
    compare.add_argument("--warm-start", choices=["stories", "none"], default="stories")
    compare.add_argument("--baseline", default=None,
                         help="a trained model (folder or .tar.gz), e.g. the one in production, compared as served")
    compare.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                         help="another trained model compared as served (repeatable); NAME goes in the report")
    compare.add_argument("--out", default=DEFAULT_RESULTS, help=f"output directory (default {DEFAULT_RESULTS})")
    compare.set_defaults(handler=run_compare)

    chat = subparsers.add_parser("chat", help="print simulated dialogues so a person can read them")
    _project_args(chat)
    chat.add_argument("--policy", default="rule")
    chat.add_argument("--model", default=None)
    chat.add_argument("-n", "--dialogues", type=int, default=3)
    chat.add_argument("--nlu-error", type=float, default=0.1)
    chat.add_argument("--seed", type=int, default=0)
    chat.add_argument("--split", choices=["test", "train", "all"], default="test")
    _level_args(chat)
    chat.set_defaults(handler=run_chat)


def _project_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", default=".", help="project directory (domain.yml, data/, simulator.yml)")
    parser.add_argument("--sim-config", default=None, help="simulator config (default <project>/simulator.yml)")


def _level_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--level", choices=["semantic", "text"], default="semantic",
                        help="semantic: TC-Bot error model; text: rendered text through the real NLU")
    parser.add_argument("--nlu-model", default=None, help="trained NLU model directory (text level)")


def _world(args: argparse.Namespace) -> Any:
    from simulator.world import load_world

    return load_world(args.project, args.sim_config)


def _check_rate(value: float, name: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise KefuError(f"{name} must be between 0 and 1, got {value}")


def _print_metrics(title: str, metrics: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    low, high = metrics["success_ci95"]
    rows = [
        ("dialogues", f"{metrics['episodes']}"),
        ("success rate", f"{metrics['success_rate']:.3f}  (95 % CI {low:.3f}-{high:.3f})"),
        ("achievable (upper bound)", f"{metrics['achievable_rate']:.3f}"),
        ("success / achievable", f"{metrics['success_of_achievable']:.3f}"),
        ("avg shopper turns", f"{metrics['avg_user_turns']:.2f}"),
        ("avg bot actions", f"{metrics['avg_bot_actions']:.2f}"),
        ("mean return", f"{metrics['mean_return']:.1f}"),
        ("handoff rate", f"{metrics['handoff_rate']:.3f}"),
        ("final mood", f"{metrics['final_mood']:.2f}"),
        ("outcomes", ", ".join(f"{k} {v}" for k, v in sorted(metrics["outcomes"].items()))),
    ]
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)


# ------------------------------------------------------------------------------------------------
# handlers

def run_train(args: argparse.Namespace) -> int:
    from simulator.evaluation import agent_from_result, evaluate
    from simulator.training import TrainConfig, train

    _check_rate(args.nlu_error, "--nlu-error")
    world = _world(args)
    config = TrainConfig(algo=args.algo, timesteps=args.timesteps, nlu_error=args.nlu_error, seed=args.seed,
                         n_envs=args.n_envs, warm_start=args.warm_start, eval_freq=args.eval_freq,
                         eval_episodes=args.eval_episodes, subproc=args.subproc,
                         progress_bar=not args.no_progress and sys.stderr.isatty())
    print(f"kefu sim train: {args.algo}, {args.timesteps} steps, NLU error {args.nlu_error:g}, seed {args.seed}, "
          f"{args.n_envs} envs{', warm start from stories' if args.warm_start else ''}")
    result = train(world, config, args.out)
    report = result.report()
    for point in result.curve:
        print(f"  {point['timesteps']:>8} steps  success {point['success']:.3f}  ({point['wall_time_s']:.0f} s)")
    if args.final_episodes > 0:
        metrics = evaluate(agent_from_result(result, world), world, args.nlu_error, args.final_episodes,
                           seed=args.seed, split="test")
        report["heldout_evaluation"] = metrics
        _print_metrics(f"{args.algo} on held-out goals, NLU error {args.nlu_error:g}", metrics)
        if result.policy_dir:
            from policies.ml_policy import KefuMLPolicy
            from simulator.evaluation import MLPolicyAgent

            served = MLPolicyAgent(KefuMLPolicy.load(result.policy_dir), f"{args.algo} (served)", masked=False)
            unmasked = evaluate(served, world, args.nlu_error, args.final_episodes, seed=args.seed, split="test")
            report["heldout_evaluation_served_unmasked"] = unmasked
            print(f"the exported policy without the simulator's masks (as `kefu run` serves it): success "
                  f"{unmasked['success_rate']:.3f}, agreement with the masked choices "
                  f"{result.serving.get('agreement_after', float('nan')):.3f}")
    out = Path(args.out)
    (out / "train_report.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(f"trained in {result.wall_time_s:.0f} s; saved to {out}/ (model.zip, train_report.json, train_curve.png"
          f"{', policy/ (KefuMLPolicy)' if result.policy_dir else ''})")
    if result.policy_dir:
        print(f"serve it: {result.policy_dir} is a KefuMLPolicy directory (params.json, featurizer.json, weights.pt);"
              f" see simulator/__init__.py 'Serving' for config.yml")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from simulator.evaluation import evaluate, load_agent

    _check_rate(args.nlu_error, "--nlu-error")
    world = _world(args)
    engine = None
    if args.url:
        from simulator.remote import RemoteAgent, RemoteEngine

        if args.level != "semantic":
            raise KefuError("--url drives the server at the semantic level (its own NLU is bypassed): drop --level")
        engine = RemoteEngine(world.domain, args.url, world.shop.failure_responses, args.token, args.reseed_url)
        agent: Any = RemoteAgent(args.url)
    else:
        agent = load_agent(args.policy, world, args.model)
    from tqdm.auto import tqdm

    with tqdm(total=args.episodes, desc=f"evaluating {agent.name}", unit="dialogue",
              disable=not sys.stderr.isatty()) as bar:
        metrics = evaluate(agent, world, args.nlu_error, args.episodes, seed=args.seed, split=args.split,
                           level=args.level, nlu_model=args.nlu_model, progress=bar.update, engine=engine,
                           payloads=args.payloads)
    _print_metrics(f"{agent.name} on {args.split} goals, NLU error {args.nlu_error:g} ({args.level})", metrics)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        print(f"metrics written to {args.out}")
    return 0


RASA_STYLE = "rasa_style"


def _served_agents(args: argparse.Namespace, policies: list[str]) -> dict[str, Any]:
    """``--baseline``, ``--model NAME=PATH`` and ``rasa_style`` as :class:`~simulator.served.ServedAgent`."""
    from simulator.served import ServedAgent

    paths: dict[str, str] = {}
    if args.baseline:
        paths["baseline"] = args.baseline
    for item in args.model:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise KefuError(f"--model must be NAME=PATH (e.g. candidate=models/20261208-003743), got {item!r}")
        paths[name.strip()] = path.strip()
    served: dict[str, Any] = {}
    for name, path in paths.items():
        if not Path(path).exists():
            raise KefuError(f"--{'baseline' if name == 'baseline' else 'model'}: {path} does not exist")
        served[name] = ServedAgent.from_model(path, name)
    if RASA_STYLE in policies:
        from bot.project import load_project

        project = load_project(root=args.project)
        project.raise_for_errors()
        served[RASA_STYLE] = ServedAgent.rasa_style(project)
    return served


def run_compare(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from simulator.constants import ALGOS
    from simulator.evaluation import compare
    from simulator.training import TrainConfig

    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    unknown = [p for p in policies if p not in ("rule", RASA_STYLE) and p not in ALGOS]
    if unknown:
        raise KefuError(f"unknown policy {', '.join(unknown)} in --policies (use rule, {RASA_STYLE}, "
                        f"{', '.join(ALGOS)}; trained models go in --baseline / --model NAME=PATH)")
    served = _served_agents(args, policies)
    policies += [name for name in served if name not in policies]
    noise = [float(x) for x in args.noise.split(",") if x.strip()]
    for p in [*noise, args.train_nlu_error]:
        _check_rate(p, "NLU error")
    world = _world(args)
    config = TrainConfig(nlu_error=args.train_nlu_error, n_envs=args.n_envs, timesteps=args.timesteps,
                         warm_start=None if args.warm_start == "none" else args.warm_start)
    steps = {"qlearning": args.qlearning_timesteps or args.timesteps, "ppo": args.ppo_timesteps or args.timesteps}
    console = Console(stderr=True)
    report = compare(world, policies, noise, list(range(args.seeds)), args.episodes, config, args.out,
                     timesteps=steps, progress=lambda msg: console.log(msg), served=served)
    table = Table(title=f"success rate on held-out goals ({args.seeds} seeds x {args.episodes} dialogues)")
    table.add_column("policy")
    for p in noise:
        table.add_column(f"NLU {p:g}", justify="right")
    summary = report["summary"]
    for policy in policies:
        cells = []
        for p in noise:
            row = summary[policy][f"{p:g}"]
            cells.append(f"{row['success_mean']:.3f}±{row['success_std']:.3f} ({row['avg_user_turns']:.1f} t)")
        table.add_row(policy, *cells)
    any_row = summary[policies[0]]
    table.add_row("achievable", *[f"{any_row[f'{p:g}']['achievable']:.3f}" for p in noise])
    Console().print(table)
    for name, item in summary["_training"].items():
        print(f"{name}: training wall time {item['wall_time_s']} s; steps to 80 % success {item['steps_to_80']}")
    print(f"report: {args.out}/compare.json, {args.out}/compare.png")
    return 0


def run_chat(args: argparse.Namespace) -> int:
    from simulator.env import CustomerServiceEnv
    from simulator.evaluation import load_agent

    world = _world(args)
    agent = load_agent(args.policy, world, args.model)
    env = CustomerServiceEnv(world=world, nlu_error=args.nlu_error, goal_split=args.split, level=args.level,
                             nlu_model=args.nlu_model, render_mode="ansi")
    for i in range(args.dialogues):
        obs, _ = env.reset(seed=args.seed * 1000 + i)
        while True:
            obs, _, terminated, truncated, _ = env.step(agent.act(env, obs))
            if terminated or truncated:
                break
        print(f"--- dialogue {i + 1} ({args.policy}, NLU error {args.nlu_error:g}) ---")
        print(env.render())
        print()
    return 0
