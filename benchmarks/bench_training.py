"""Training throughput: reelrec's loop against a plain PyTorch loop over the same model and batches.

Both train the default towers on the synthetic world's positives with batch 1024. The plain loop
is the textbook baseline: pre-built batches, in-batch softmax cross-entropy, one dense AdamW.
reelrec's loop adds batch assembly from the log, logQ from the streaming estimator, accidental-hit
masking, engagement weights and sparse id tables with SparseAdam. Figures are examples/s.
"""

from __future__ import annotations

import sys
import time

import common


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument("--batches", type=int, default=0, help="batches per measurement (0 = by size)")
    args = p.parse_args()
    common.pin_threads(args.threads)
    import numpy as np
    import torch

    from reelrec.config import load_config
    from reelrec.data.synthetic import make_world
    from reelrec.features.definitions import FeatureSpace
    from reelrec.features.history import InteractionLog
    from reelrec.models.two_tower import TwoTower
    from reelrec.recommender import catalog_frame, model_sizes
    from reelrec.training.examples import ExampleBuilder
    from reelrec.training.loop import Objective, make_optimizers, seed_everything, train_step

    print(common.hardware_line())
    world = make_world("tiny" if args.size == "tiny" else args.size, seed=0)
    cfg = load_config(overrides=["train.validation_users=0"])
    ds = world.dataset
    space = FeatureSpace.fit(cfg.features, ds.interactions, ds.videos, ds.users)
    log = InteractionLog.build(ds.interactions, space, cfg.data)
    catalog = space.encode_videos(catalog_frame(space, ds.videos))
    attrs = space.encode_attributes(ds.users, space.users.ids)
    builder = ExampleBuilder(
        space=space, log=log, catalog=catalog, user_attrs=attrs, model_cfg=cfg.model,
        features_cfg=cfg.features, seed=0,
    )  # fmt: skip
    bs = cfg.train.batch_size if args.size != "tiny" else 256
    n = args.batches or {"tiny": 20, "small": 60, "full": 120}[args.size]
    n = min(n, builder.n_batches(bs))

    def reelrec_loop() -> float:
        seed_everything(0)  # as fit() does: seeded, deterministic kernels
        model = TwoTower(cfg.model, model_sizes(space), sparse=True)
        objective = Objective(cfg.train, space.videos.n_known, None)
        opts = make_optimizers([*model.parameters()], [model], cfg.train)
        started, seen = time.perf_counter(), 0
        for step, batch in enumerate(builder.epoch(0, bs)):
            if step == n:
                break
            train_step(model, builder, batch, step, objective, opts)
            seen += bs
        return seen / (time.perf_counter() - started)

    def plain_loop() -> float:
        torch.use_deterministic_algorithms(False)
        torch.manual_seed(0)
        model = TwoTower(cfg.model, model_sizes(space), sparse=False)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.learning_rate)
        batches = [b for _, b in zip(range(n), builder.epoch(1, bs), strict=False)]
        started = time.perf_counter()
        for batch in batches:
            u, v = model.encode_users(batch.user), model.encode_items(batch.item)
            logits = u @ v.T / cfg.train.temperature
            loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(u)))
            opt.zero_grad()
            loss.backward()
            opt.step()
        return len(batches) * bs / (time.perf_counter() - started)

    reelrec_loop()  # warm-up (allocator, lazy inits)
    ours, plain = reelrec_loop(), plain_loop()
    videos = space.videos.n_known
    print(f"size={args.size}: {n} batches of {bs}, {videos:,} videos, dim {cfg.model.dim}")
    print(f"reelrec loop  {ours:>10,.0f} examples/s (incl. batch assembly, logQ, sparse tables)")
    print(f"plain loop    {plain:>10,.0f} examples/s (pre-built batches, dense AdamW)")
    print(f"ratio         {ours / plain:.2f}× the plain loop")
    if not args.no_record:
        common.record(
            "training", size=args.size, batches=n, batch_size=bs,
            reelrec_examples_per_s=ours, plain_examples_per_s=plain, ratio=ours / plain,
            n_videos=space.videos.n_known,
        )  # fmt: skip
    del np
    return 0


if __name__ == "__main__":
    sys.exit(main())
