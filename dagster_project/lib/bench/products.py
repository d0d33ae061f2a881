"""Product-axis benchmark (`mopt bench products`): on a simulated world of 100k customers and
about 10k products, embeddings (PPMI-SVD and ALS), candidate lists for every customer, product
neighbours (brute force vs an hnswlib index, with the index's recall) and the online read of a
customer's candidates through Feast (SQLite, p50/p99 at batch 1). Median wall seconds over
repeats (3 by default; the online read's p50/p99 are medians of that many rounds of reads); peak
RSS is measured per stage in a child process so each stage's memory is its own."""

from __future__ import annotations

import multiprocessing as mp
import resource
import shutil
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from tqdm import tqdm

from dagster_project.lib.bench.common import publish, replace_marked_block
from dagster_project.lib.settings import REPO_ROOT
from dagster_project.lib.warehouse import markdown_table

SERVICE = "campaign_products_v1"


def world_config(customers: int, days: int, products: int, seed: int):
    from dagster_project.lib.simulate import WorldConfig

    initial = products // 2
    per_day = max(1, (products - initial) // days)
    start = datetime.now(UTC).date() - timedelta(days=days + 1)
    return WorldConfig(
        customers=customers,
        days=days,
        seed=seed,
        start_date=start,
        initial_products=initial,
        new_products_per_day=per_day,
        counterfactuals=False,  # the product axis needs only the factual world
    )


def _stage(name: str, workdir: str, repeats: int, queue) -> None:
    """Run one stage ``repeats`` times in this (child) process; report times, rows, peak RSS."""
    from dagster_project.lib.products.behaviour import interactions
    from dagster_project.lib.products.candidates import candidate_lists
    from dagster_project.lib.products.embeddings import build_embeddings, hnsw_top_k, top_k

    world = Path(workdir)
    events = pl.read_parquet(world / "events.parquet")
    products = pl.read_parquet(world / "products.parquet")
    cutoff = events["occurred_at"].max() + timedelta(seconds=1)
    inter = interactions(events, products, cutoff)
    del events
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # Candidates and neighbours start from the embeddings (their own stage, not timed here).
    emb = None if name.startswith("embeddings") else build_embeddings(inter, products)
    times, rows, extra = [], 0, {}
    for _ in range(repeats):
        t0 = time.perf_counter()
        if name in ("embeddings_ppmi_svd", "embeddings_als"):
            emb = build_embeddings(inter, products, method=name.removeprefix("embeddings_"))
            rows = emb.customer.shape[0] + emb.product.shape[0]
        elif name == "candidates":
            customers = pl.read_parquet(world / "customers.parquet").select("customer_id")
            lists = candidate_lists(customers, inter, emb)
            rows = lists.height
            lists.write_parquet(world / "candidates.parquet")
        elif name in ("neighbours_brute", "neighbours_hnsw"):
            fn = top_k if name == "neighbours_brute" else hnsw_top_k
            idx, _ = fn(emb.product, emb.product, 10)
            rows = idx.shape[0]
            if name == "neighbours_hnsw":
                exact, _ = top_k(emb.product, emb.product, 10)
                extra["recall_at_10"] = float(
                    np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, idx, strict=True)])
                )
        times.append(time.perf_counter() - t0)
    queue.put(
        {
            "stage": name,
            "median_s": statistics.median(times),
            "rows": rows,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "input_rss_mb": base_rss,
            **extra,
        }
    )


def run_stage(name: str, workdir: Path, repeats: int) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_stage, args=(name, str(workdir), repeats, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def online_read(workdir: Path, reads: int, seed: int, repeats: int = 1) -> dict:
    """Feast: apply, materialize the customer_candidates view, then ``repeats`` rounds of
    ``reads`` single-customer reads of the campaign_products_v1 service (SQLite online store);
    p50 and p99 are the medians of the rounds' percentiles."""
    from dagster_project.lib import features
    from dagster_project.lib.products.build import _feast_files
    from dagster_project.lib.settings import Settings

    lists = pl.read_parquet(workdir / "candidates.parquet")
    feat_dir = workdir / "features"
    feat_dir.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).replace(microsecond=0)
    files = _feast_files(lists, {}, stamp)
    files["customer_candidates"].write_parquet(feat_dir / "customer_candidates.parquet")
    settings = Settings(
        data_dir=workdir / "feast_state",
        raw_dir=workdir,
        duckdb_path=workdir / "warehouse.duckdb",
        features_dir=feat_dir.resolve(),
        business_timezone="Asia/Seoul",
    )
    store = features.feature_store(
        settings, profile="embedded", project=f"mopt_bench_{uuid.uuid4().hex[:8]}"
    )
    features.apply_repo(store, settings.features_dir)
    t0 = time.perf_counter()
    features.materialize_online_store(store)
    materialize_s = time.perf_counter() - t0
    unique_ids = lists["customer_id"].unique().sort()
    features.online_features(unique_ids[:1], SERVICE, store=store)  # warm-up
    p50, p99 = [], []
    for r in range(repeats):
        ids = unique_ids.sample(reads, with_replacement=True, seed=seed + r)
        samples = []
        for k in range(reads):
            t0 = time.perf_counter()
            got = features.online_features(ids[k : k + 1], SERVICE, store=store)
            samples.append(time.perf_counter() - t0)
        assert got["affinity_product_ids"].list.len()[0] == 10
        ms = sorted(s * 1000 for s in samples)
        p50.append(ms[len(ms) // 2])
        p99.append(ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))])
    return {
        "stage": "online read (Feast SQLite, batch 1)",
        "materialize_s": materialize_s,
        "p50_ms": statistics.median(p50),
        "p99_ms": statistics.median(p99),
        "p99_ms_rounds": p99,
        "reads": reads,
        "rounds": repeats,
    }


def run(
    customers: int, days: int, products: int, seed: int, repeats: int, reads: int, workdir: Path
) -> list[dict]:
    from dagster_project.lib.simulate import simulate, write_world

    shutil.rmtree(workdir, ignore_errors=True)
    cfg = world_config(customers, days, products, seed)
    with tqdm(total=days, desc="simulate", unit="day") as bar:
        world = simulate(cfg, progress=lambda _d: bar.update(1))
    write_world(world, workdir)
    n_products, n_events = world.tables["products"].height, world.tables["events"].height
    del world
    results = []
    stages = [
        "embeddings_ppmi_svd",
        "embeddings_als",
        "candidates",
        "neighbours_brute",
        "neighbours_hnsw",
    ]
    for name in tqdm(stages, desc="stages"):
        r = run_stage(name, workdir, repeats)
        print(f"{name}: {r['median_s']:.1f} s, peak RSS {r['peak_rss_mb']:,.0f} MB", flush=True)
        results.append(r)
    online = online_read(workdir, reads, seed, repeats)
    print(f"online read p50 {online['p50_ms']:.2f} ms, p99 {online['p99_ms']:.2f} ms", flush=True)
    payload = {
        "customers": customers,
        "days": days,
        "products": n_products,
        "events": n_events,
        "repeats": repeats,
        "results": results,
        "online": online,
    }
    table = pl.DataFrame(results).select(
        "stage",
        pl.col("median_s").round(2).alias("median s"),
        pl.col("rows").map_elements(lambda n: f"{n:,}", return_dtype=pl.String),
        pl.col("peak_rss_mb").round(0).alias("peak RSS MB (stage process)"),
        pl.col("input_rss_mb").round(0).alias("of which input MB"),
    )
    head = (
        f"{customers:,} customers x {n_products:,} products ({days} days, {n_events:,} events), "
        f"median of {repeats}.\n\n"
    )
    online_line = (
        f"\n\nOnline read of one customer's candidates through Feast (SQLite, {repeats} rounds "
        f"of {reads} reads, medians of the rounds): p50 {online['p50_ms']:.2f} ms, "
        f"p99 {online['p99_ms']:.2f} ms; materialize "
        f"{online['materialize_s']:.1f} s."
    )
    recall = next((r["recall_at_10"] for r in results if "recall_at_10" in r), None)
    if recall is not None:
        online_line += f" hnswlib recall at 10 vs brute force: {recall:.3f}."
    block = head + markdown_table(table) + online_line
    publish("products", payload, block)
    replace_marked_block(REPO_ROOT / "docs" / "products.md", "products", block)
    return results
