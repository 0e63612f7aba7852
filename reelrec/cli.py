"""The `reelrec` command line: each verb parses, calls one library function, and prints."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from reelrec.errors import ReelrecError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="reelrec: a short-video recommender built on two towers.",
)
config_app = typer.Typer(no_args_is_help=True, help="Show or validate the resolved config.")
app.add_typer(config_app, name="config")

out = Console()
err = Console(stderr=True)
_state = {"verbose": False}
F = TypeVar("F", bound=Callable[..., Any])


def user_errors(func: F) -> F:
    """Turn a ``ReelrecError`` into a one-line ``error: …`` and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ReelrecError as e:
            if _state["verbose"]:
                err.print_exception()
            err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks.")] = False,
) -> None:
    _state["verbose"] = verbose


class Size(StrEnum):
    """World sizes."""

    tiny = "tiny"
    small = "small"
    full = "full"


class Format(StrEnum):
    """Source formats `prepare` understands."""

    reelrec = "reelrec"
    movielens = "movielens"
    kuairec = "kuairec"
    kuairand = "kuairand"
    microlens = "microlens"


@app.command()
@user_errors
def synth(
    output: Annotated[Path, typer.Option("--output", "-o", help="Output data folder.")],
    size: Annotated[Size, typer.Option(help="World size.")] = Size.tiny,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Generate the synthetic short-video world (data + ground truth) into a folder."""
    from reelrec.data.synthetic import make_world, write_world

    world = make_world(size.value, seed=seed)
    write_world(world, output)
    ds = world.dataset
    out.print(
        f"wrote {ds.interactions.height:,} interactions, {ds.users.height:,} users, "
        f"{ds.videos.height:,} videos to {output}"
    )


@app.command()
@user_errors
def prepare(
    src: Annotated[Path, typer.Argument(help="Source folder.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output data folder.")],
    fmt: Annotated[Format, typer.Option("--format", help="Source format.")] = Format.reelrec,
    min_rating: Annotated[
        float | None, typer.Option("--min-rating", help="Keep ratings ≥ this value.")
    ] = None,
) -> None:
    """Validate or convert a dataset into reelrec's schema (Parquet)."""
    from reelrec.data.public import prepare as prepare_dataset
    from reelrec.data.readers import write_dataset

    ds = prepare_dataset(fmt.value, src, min_rating=min_rating)
    write_dataset(ds, output)
    out.print(
        f"wrote {ds.interactions.height:,} interactions, {ds.users.height:,} users, "
        f"{ds.videos.height:,} videos to {output}"
    )


def _stats_table(stats: dict[str, Any]) -> Table:
    table = Table(title="dataset", show_header=True)
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for key, value in stats.items():
        if key != "columns":
            shown = (
                f"{value:,}"
                if isinstance(value, int)
                else f"{value:.4g}"
                if isinstance(value, float)
                else str(value)
            )
            table.add_row(key, shown)
    return table


def _columns_table(stats: dict[str, Any]) -> Table:
    table = Table(title="columns", show_header=True)
    for name in ("table", "column", "dtype", "nulls", "summary"):
        table.add_column(name)
    for table_name, columns in stats["columns"].items():
        for column, summary in columns.items():
            rest = {k: v for k, v in summary.items() if k not in ("dtype", "nulls")}
            text = ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in rest.items()
            )
            table.add_row(table_name, column, summary["dtype"], str(summary["nulls"]), text)
    return table


@app.command()
@user_errors
def stats(
    data_dir: Annotated[Path, typer.Argument(help="Data folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Counts, time range, positives and a per-column summary of a data folder."""
    from reelrec.data.readers import read_dataset
    from reelrec.data.stats import dataset_stats

    result = dataset_stats(read_dataset(data_dir))
    if as_json:
        sys.stdout.write(json.dumps(result, default=str) + "\n")
        return
    out.print(_stats_table(result))
    out.print(_columns_table(result))


class SplitMethod(StrEnum):
    """How `split` divides interactions."""

    time = "time"
    leave_last_out = "leave-last-out"
    random = "random"


@app.command()
@user_errors
def split(
    data_dir: Annotated[Path, typer.Argument(help="Data folder.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Writes OUTPUT/train and OUTPUT/test.")
    ],
    method: Annotated[SplitMethod, typer.Option(help="Split protocol.")] = SplitMethod.time,
    test_fraction: Annotated[float, typer.Option(help="Test share (time and random).")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed (random).")] = 0,
) -> None:
    """Split a data folder into train/ and test/ folders without leakage."""
    from reelrec.api import split_run

    train, test = split_run(data_dir, output, method.value, test_fraction, seed)
    out.print(f"train {train:,} / test {test:,} interactions in {output}/{{train,test}}")


Overrides = Annotated[
    list[str] | None, typer.Option("--set", help="section.key=value override (repeatable).")
]


@app.command("train")
@user_errors
def train_cmd(
    data_dir: Annotated[Path, typer.Argument(help="Data folder in reelrec's schema.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Run directory to write.")],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML config.")] = None,
    overrides: Overrides = None,
) -> None:
    """Train the two towers on a data folder and write a run directory."""
    from reelrec.api import train_run

    rec = train_run(data_dir, output, config, overrides or [])
    history = rec.history_
    best = history.validation[history.best_epoch] if history.validation else float("nan")
    out.print(
        f"trained {len(history.loss)} epochs (best {history.best_epoch + 1}, validation "
        f"recall@{rec.config.train.validation_k} {best:.4f}); wrote {output}"
    )


@app.command("index")
@user_errors
def index_cmd(run_dir: Annotated[Path, typer.Argument(help="Run directory.")]) -> None:
    """Encode every video with the item tower and build the ANN index in RUN_DIR/index."""
    from reelrec.api import index_run

    index = index_run(run_dir)
    out.print(f"indexed {index.size:,} videos ({type(index).__name__}) in {run_dir / 'index'}")


def _parse_ks(text: str) -> list[int]:
    from reelrec.errors import ConfigError

    try:
        ks = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(
            f"--k must be comma-separated integers like 10,20,50; got {text!r}"
        ) from None
    if not ks or min(ks) < 1:
        raise ConfigError(f"--k values must be ≥ 1; got {text!r}")
    return ks


@app.command("evaluate")
@user_errors
def evaluate_cmd(
    run_dir: Annotated[Path, typer.Argument(help="Run directory.")],
    test: Annotated[Path, typer.Option("--test", help="Test data folder or interactions file.")],
    k: Annotated[str, typer.Option("--k", help="Cut-offs, comma-separated.")] = "10,20,50",
    baselines: Annotated[
        str, typer.Option("--baselines", help="popular,ease,als,id-two-tower (comma-separated).")
    ] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Full-ranking metrics of the run and baselines on a held-out set."""
    from reelrec.api import evaluate_run

    names = [b.strip() for b in baselines.split(",") if b.strip()]
    results = evaluate_run(run_dir, test, _parse_ks(k), names)
    if as_json:
        sys.stdout.write(json.dumps(results) + "\n")
        return
    out.print(_metrics_table(results))


def _metrics_table(results: dict[str, dict[str, float]]) -> Table:
    table = Table(title="offline evaluation (full ranking, train items masked)")
    table.add_column("metric")
    for name in results:
        table.add_column(name, justify="right")
    first = next(iter(results.values()))
    for metric in first:
        if "/" in metric and metric.split("/")[1].split("@")[0] not in _SLICE_SHOWN:
            continue  # the table keeps slices short; --json has every key
        values = [results[m].get(metric, float("nan")) for m in results]
        shown = [f"{v:,.0f}" if metric.endswith("n_users") else f"{v:.4f}" for v in values]
        table.add_row(metric, *shown)
    return table


_SLICE_SHOWN = ("n_users", "recall", "ndcg", "auc")


@app.command("recommend")
@user_errors
def recommend_cmd(
    run_dir: Annotated[Path, typer.Argument(help="Run directory.")],
    user: Annotated[str | None, typer.Option("--user", help="One user id.")] = None,
    users: Annotated[
        Path | None, typer.Option("--users", help="File with one user id per line.")
    ] = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=10_000, help="Feed length.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per user.")] = False,
) -> None:
    """Feeds for users: the top-k videos each user has not interacted with in training."""
    from reelrec.api import read_user_ids, recommend_run

    if (user is None) == (users is None):
        from reelrec.errors import ConfigError

        raise ConfigError("give exactly one of --user USER_ID or --users FILE")
    ids = [user] if user is not None else read_user_ids(users)  # type: ignore[arg-type]
    slates = recommend_run(run_dir, ids, k)
    if as_json:
        lines = (
            json.dumps({"user_id": s.user_id, "video_ids": s.video_ids, "scores": s.scores})
            for s in slates
        )
        sys.stdout.write("\n".join(lines) + "\n")
        return
    for slate in slates:
        marker = f" [{slate.fallback}]" if slate.fallback else ""
        out.print(f"[bold]{slate.user_id}[/]{marker}")
        for rank, (vid, score) in enumerate(zip(slate.video_ids, slate.scores, strict=True), 1):
            out.print(f"  {rank:>3}. {vid}  {score:.4f}")


# --- features and ingestion (issue 4): `features build`, `ingest` -----------------------
features_app = typer.Typer(no_args_is_help=True, help="Offline feature store.")
app.add_typer(features_app, name="features")


@features_app.command("build")
@user_errors
def features_build(
    data_dir: Annotated[Path, typer.Argument(help="Data folder or interactions file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Run directory to write into.")],
) -> None:
    """Materialise point-in-time user and video features of every interaction (Parquet)."""
    from reelrec.api import features_build_run

    written = features_build_run(data_dir, output)
    for entity, path in written.items():
        out.print(f"wrote {entity} features to {path}")


@app.command("ingest")
@user_errors
def ingest_cmd(
    run_dir: Annotated[Path, typer.Argument(help="Run directory (trained and indexed).")],
    events: Annotated[
        Path | None, typer.Option("--events", help="Events: .jsonl, .json, .csv or .parquet.")
    ] = None,
    videos: Annotated[
        Path | None, typer.Option("--videos", help="New videos: .csv or .parquet (videos schema).")
    ] = None,
) -> None:
    """Add new videos to the index and replay events into the run's online store."""
    from reelrec.api import ingest_run

    result = ingest_run(run_dir, events, videos)
    if videos is not None:
        out.print(f"videos: {result.videos_added:,} added, {result.videos_known:,} already known")
    if result.events is not None:
        r = result.events
        out.print(
            f"events: {r.applied:,} applied, {r.duplicates:,} duplicates, {len(r.failed):,} failed"
        )
        for failure in r.failed[:10]:
            err.print(f"  event {failure.position} ({failure.event_id}): {failure.reason}")
        if len(r.failed) > 10:
            err.print(f"  … and {len(r.failed) - 10:,} more failures")


# --- ranking (issue 5): `score` ------------------------------------------------------
@app.command("score")
@user_errors
def score_cmd(
    run_dir: Annotated[Path, typer.Argument(help="Run directory.")],
    pairs: Annotated[Path, typer.Option("--pairs", help="CSV of user_id,video_id rows.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per pair.")] = False,
) -> None:
    """Ranker feed score and head predictions for each pair, one line per pair in input order."""
    from reelrec.api import score_run

    results = score_run(run_dir, pairs)
    if as_json:
        lines = [json.dumps(r) for r in results]
    else:

        def shown(v: object) -> str:
            return "n/a" if v is None else f"{v:.6f}"

        lines = [
            f"{r['user_id']},{r['video_id']},{shown(r['score'])},"
            + ",".join(f"{k}={shown(v)}" for k, v in r["heads"].items())  # type: ignore[attr-defined]
            for r in results
        ]
    sys.stdout.write("".join(line + "\n" for line in lines))


# --- serving (issue 6): `serve` ------------------------------------------------------


@app.command()
@user_errors
def serve(
    run_dir: Annotated[Path, typer.Argument(help="Trained and indexed run directory.")],
    host: Annotated[str | None, typer.Option(help="Interface (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default 8000).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default 1).")] = None,
    experiment: Annotated[
        Path | None, typer.Option(help="A/B experiment TOML (variants by stages, shares).")
    ] = None,
    exposure_log: Annotated[
        Path | None, typer.Option(help="Folder for the experiment's exposure/outcome Parquet.")
    ] = None,
) -> None:
    """Serve feeds over HTTP (OpenAPI docs at /docs); reload by touching RUN_DIR/RELOAD."""
    from reelrec.serving.app import serve as run_service

    run_service(
        run_dir,
        host=host,
        port=port,
        workers=workers,
        experiment=experiment,
        exposure_log=exposure_log,
    )


# --- simulation and A/B (issue 7): `simulate`, `ab analyze` ------------------------------

ab_app = typer.Typer(no_args_is_help=True, help="A/B experiments: analyse exposure logs.")
app.add_typer(ab_app, name="ab")


class SimBaseline(StrEnum):
    """Baselines the simulator can serve against reelrec."""

    popular = "popular"
    random = "random"


def _estimates_table(result: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    variants: dict[str, dict[str, Any]] = result["variants"]
    lifts: dict[str, dict[str, Any]] = result.get("lift", {})
    for name in variants:
        table.add_column(f"{name} (± 95% CI)", justify="right")
    for name in lifts:
        table.add_column(f"lift {name}", justify="right")
    for metric in next(iter(variants.values())):
        cells = []
        for name in variants:
            e = variants[name].get(metric)
            half = (e["ci95"][1] - e["ci95"][0]) / 2 if e else 0.0
            cells.append(f"{e['mean']:.4g} ± {half:.2g}" if e else "")
        for name in lifts:
            x = lifts[name].get(metric)
            mark = " *" if x and x["significant"] else ""
            cells.append(
                f"{x['lift']:+.1%} ± {(x['ci95'][1] - x['ci95'][0]) / 2:.1%}{mark}" if x else ""
            )
        table.add_row(metric, *cells)
    return table


def _print_srm(srm: dict[str, Any]) -> None:
    verdict = "[bold red]MISMATCH[/]" if srm["mismatch"] else "ok"
    out.print(f"sample ratio: users {srm['counts']}, p = {srm['p_value']:.3g} ({verdict})")


@app.command("simulate")
@user_errors
def simulate_cmd(
    run_dir: Annotated[Path, typer.Argument(help="Run directory (variant 'reelrec').")],
    against: Annotated[
        Path | None, typer.Option("--against", help="Second run directory to compare.")
    ] = None,
    baseline: Annotated[
        SimBaseline | None, typer.Option("--baseline", help="Baseline variant (default popular).")
    ] = None,
    users: Annotated[int | None, typer.Option("--users", min=1, help="Users per variant.")] = None,
    days: Annotated[int | None, typer.Option("--days", min=1, help="Simulated days.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", min=0, help="Simulation seed.")] = None,
    truth: Annotated[
        Path | None,
        typer.Option("--truth", help="Synthetic world folder (default: the run's data folder)."),
    ] = None,
    report: Annotated[Path | None, typer.Option("--report", help="HTML report path.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Simulated A/B on the synthetic world: reelrec vs another run or a baseline."""
    from reelrec.api import simulate_run
    from reelrec.errors import ConfigError

    if against is not None and baseline is not None:
        raise ConfigError("give at most one of --against RUN_DIR_B and --baseline")
    result: dict[str, Any] = simulate_run(
        run_dir,
        against=against,
        baseline=baseline.value if baseline else None,
        users=users,
        days=days,
        seed=seed,
        truth_dir=truth,
        report=report,
    )
    if as_json:
        sys.stdout.write(json.dumps({"variants": result["variants"]}) + "\n")
        return
    out.print(_estimates_table(result, "simulated A/B (mean over users, 95% CI)"))
    _print_srm(result["srm"])
    out.print(f"report: {result['report']}")


@ab_app.command("analyze")
@user_errors
def ab_analyze_cmd(
    log_dir: Annotated[Path, typer.Argument(help="Exposure log folder (part-*.parquet).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Per-metric lift with 95% CIs and a sample-ratio-mismatch check of an A/B log."""
    from reelrec.api import ab_analyze_run

    result: dict[str, Any] = ab_analyze_run(log_dir)
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    out.print(_estimates_table(result, f"A/B analysis of {log_dir}"))
    _print_srm(result["srm"])


@config_app.command("show")
@user_errors
def config_show(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML file.")] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="section.key=value override.")
    ] = None,
) -> None:
    """Print the resolved config as TOML."""
    from reelrec.config import dump_config, load_config

    sys.stdout.write(dump_config(load_config(config, overrides or [])))


@config_app.command("validate")
@user_errors
def config_validate(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML file.")] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="section.key=value override.")
    ] = None,
) -> None:
    """Check a config file and overrides; exit 1 with the reason when invalid."""
    from reelrec.config import load_config

    load_config(config, overrides or [])
    out.print("config ok")


def main() -> None:
    """Console-script entry point."""
    app()
