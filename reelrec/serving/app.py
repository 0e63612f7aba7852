"""``create_app(run_dir | recommender)``: the FastAPI feed service, loading its model once.

A run directory is loaded in the background at start-up (``/healthz`` answers at once,
``/readyz`` once the model is in); a fitted ``Recommender`` is served as it is. ``serve`` runs
uvicorn with single-threaded workers (BLAS, OpenMP and faiss pinned to ``serving.threads``).

Example:
    >>> from reelrec.serving import create_app                      # doctest: +SKIP
    >>> app = create_app("runs/tiny")                                # doctest: +SKIP
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from reelrec.config import ServingConfig, config_from_dict, load_experiment
from reelrec.errors import ArtifactError, ConfigError
from reelrec.recommender import Recommender
from reelrec.serving import errors
from reelrec.serving.experiment import ServedExperiment
from reelrec.serving.fastpath import FeedFastPath
from reelrec.serving.metrics import MetricsMiddleware, ServiceMetrics
from reelrec.serving.reload import Loaded, ModelHolder, prepare
from reelrec.serving.routes import Experiment, Routes, build_router
from reelrec.serving.schemas import bounded

ENV_PREFIX = "REELREC_SERVING__"
ENV_RUN_DIR = "REELREC_SERVE_RUN_DIR"
ENV_EXPERIMENT = "REELREC_SERVE_EXPERIMENT"
ENV_EXPOSURE_LOG = "REELREC_SERVE_EXPOSURE_LOG"


def serving_config(
    run_dir: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ServingConfig:
    """The ``[serving]`` section: the run's config, then ``REELREC_SERVING__*``, then overrides.

    Raises:
        ConfigError: an unknown key or an invalid value.
    """
    raw: dict[str, Any] = {}
    if run_dir is not None:
        path = Path(run_dir) / "config.toml"
        if not path.is_file():
            raise ArtifactError(f"{run_dir}: no config.toml; not a run directory")
        raw = dict(tomllib.loads(path.read_text(encoding="utf-8")).get("serving", {}))
    env = os.environ if environ is None else environ
    for key, value in env.items():
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX) :].lower()
            try:
                raw[name] = tomllib.loads(f"v = {value}")["v"]
            except tomllib.TOMLDecodeError:
                raw[name] = value
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return config_from_dict({"serving": raw}).serving


def create_app(
    source: str | Path | Recommender,
    *,
    config: ServingConfig | None = None,
    experiment: Experiment | None = None,
) -> FastAPI:
    """The feed service for a run directory or a fitted ``Recommender``.

    Args:
        source: a run directory (loaded once, in the background, at start-up; watched for
            reloads) or a fitted recommender (served as it is).
        config: serving settings (default: the run's ``[serving]`` section).
        experiment: ``(name, {variant: share})`` to assign and report each user's variant.
    """
    if isinstance(source, Recommender):
        cfg = config or source.config.serving
    else:
        cfg = config or serving_config(source)
    metrics = ServiceMetrics()

    def swapped(loaded: Loaded) -> None:
        metrics.set_model(loaded.version)
        metrics.reloads.labels(outcome="swapped").inc()

    holder = ModelHolder(cfg, on_swap=swapped)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if isinstance(source, Recommender):
            holder.swap(prepare(source, None, cfg))
        else:
            holder.reload_in_background(Path(source))
        holder.watch()
        yield
        holder.stop()
        routes.close()

    from reelrec import __version__

    app = FastAPI(
        title="reelrec feed service",
        version=__version__,
        lifespan=lifespan,
        description="Short-video feeds: two-tower retrieval, ranking and rules.",
    )
    errors.install(app)
    routes = Routes(holder, metrics, cfg, experiment)
    models = bounded(cfg)
    app.include_router(build_router(routes, models))
    # Innermost first: the feed's fast path sits inside the body limit and the metrics.
    app.add_middleware(FeedFastPath, routes=routes, model=models.recommend)
    app.add_middleware(errors.BodyLimit, max_bytes=cfg.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.state.holder, app.state.metrics, app.state.config = holder, metrics, cfg
    return app


def pin_threads(n: int) -> None:
    """One compute thread per worker by default: BLAS, OpenMP, torch and faiss pools."""
    from threadpoolctl import threadpool_limits

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    threadpool_limits(n)
    import torch

    torch.set_num_threads(n)
    from reelrec.index import set_faiss_threads

    try:
        set_faiss_threads(n)
    except ImportError:  # no faiss: the exact numpy index is used, nothing to pin
        return


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers: serves ``$REELREC_SERVE_RUN_DIR``."""
    run_dir = os.environ.get(ENV_RUN_DIR)
    if not run_dir:
        raise ConfigError(f"{ENV_RUN_DIR} is not set; start the service with `reelrec serve`")
    cfg = serving_config(run_dir)
    pin_threads(cfg.threads)
    return create_app(run_dir, config=cfg, experiment=experiment_from_env(Path(run_dir)))


def experiment_from_env(run_dir: Path) -> ServedExperiment | None:
    """The experiment named by ``$REELREC_SERVE_EXPERIMENT`` (a TOML file), if any.

    Each worker process writes its own part files into ``$REELREC_SERVE_EXPOSURE_LOG``.
    """
    path = os.environ.get(ENV_EXPERIMENT)
    if not path:
        return None
    log_dir = os.environ.get(ENV_EXPOSURE_LOG)
    return ServedExperiment.from_config(
        load_experiment(path), run_dir, Path(log_dir) if log_dir else None
    )


def serve(
    run_dir: Path,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    experiment: Path | None = None,
    exposure_log: Path | None = None,
) -> None:
    """Run the service with uvicorn until interrupted.

    Raises:
        ArtifactError: ``run_dir`` is not a complete run directory.
    """
    import uvicorn

    from reelrec.artifacts import read_manifest

    read_manifest(run_dir)  # fail before binding a port
    if experiment is not None:
        os.environ[ENV_EXPERIMENT] = str(Path(experiment).resolve())
        if exposure_log is not None:
            os.environ[ENV_EXPOSURE_LOG] = str(Path(exposure_log).resolve())
        checked = experiment_from_env(Path(run_dir))  # fail before binding a port
        if checked is not None:
            checked.close()
    cfg = serving_config(run_dir, {"host": host, "port": port, "workers": workers})
    os.environ[ENV_RUN_DIR] = str(Path(run_dir).resolve())
    for key, value in {"host": cfg.host, "port": cfg.port, "workers": cfg.workers}.items():
        os.environ[f"{ENV_PREFIX}{key.upper()}"] = str(value)
    options: dict[str, Any] = {"host": cfg.host, "port": cfg.port, "access_log": False}
    options["log_level"] = "warning"
    if cfg.workers > 1:
        uvicorn.run(
            "reelrec.serving.app:app_from_env", factory=True, workers=cfg.workers, **options
        )
    else:
        uvicorn.run(app_from_env(), **options)
