"""Embeddings on the three axes from behaviour: products from co-occurrence in customers' histories
(randomized SVD of the positive PMI matrix, or implicit-feedback ALS from the `implicit` package;
docs/products.md compares them), customers as the recency-weighted mean of what they viewed and
bought, sellers as the popularity-weighted mean of their products. Nearest neighbours: exact
(chunked brute force) or an hnswlib index."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import sparse
from sklearn.preprocessing import normalize
from sklearn.utils.extmath import randomized_svd

DIM = 32
SEED = 7
METHODS = ("ppmi_svd", "als")
ALS_ITERATIONS = 15
ALS_REGULARIZATION = 0.05


@dataclass
class Embeddings:
    product_id: np.ndarray
    product: np.ndarray  # (n_products, DIM), rows L2-normalised
    customer_id: np.ndarray
    customer: np.ndarray
    seller_id: np.ndarray
    seller: np.ndarray

    def frame(self, axis: str) -> pl.DataFrame:
        """<axis>_id and embedding (a fixed-size list of float32), for Parquet and Feast."""
        ids, vec = getattr(self, f"{axis}_id"), getattr(self, axis)
        return pl.DataFrame(
            {
                f"{axis}_id": ids.astype(str),
                "embedding": pl.Series(vec.astype(np.float32)).cast(pl.Array(pl.Float32, DIM)),
            }
        )


def _index(values: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    uniq, inv = np.unique(values.to_numpy().astype(str), return_inverse=True)
    return uniq, inv


# The co-occurrence matrix holds up to sum(n_c^2) entries (n_c: a customer's distinct products):
# 521 M at 100,000 customers x 365 days, where the products stage needed 23.7 GB and was killed,
# about 5 G at 1 M. Above this many pairs the product vectors are learnt from a seeded random
# sample of the customers whose pairs fit; customers are still embedded from those vectors (one
# whose products no sampled customer saw gets the zero vector, and the lists fall back).
MAX_COOCCURRENCE_PAIRS = 100_000_000


def cooccurrence_customers(x: sparse.csr_matrix, max_pairs: int | None = None) -> np.ndarray:
    """The rows of ``x`` (customers x products) the co-occurrence is counted over: all of them
    while their pairs fit ``max_pairs`` (default MAX_COOCCURRENCE_PAIRS), else a seeded random
    prefix of the customers that does."""
    max_pairs = MAX_COOCCURRENCE_PAIRS if max_pairs is None else max_pairs
    pairs = np.diff(x.indptr).astype(np.int64) ** 2
    if pairs.sum() <= max_pairs:
        return np.arange(x.shape[0])
    order = np.random.default_rng(SEED).permutation(x.shape[0])
    return np.sort(order[np.cumsum(pairs[order]) <= max_pairs])


def ppmi_svd(customer_idx, product_idx, weight, n_customers, n_products, dim=DIM) -> np.ndarray:
    """Product vectors: randomized SVD of the positive PMI of product co-occurrence within
    customers (each customer's weights normalised to one, so heavy browsers do not dominate;
    counted over `cooccurrence_customers`)."""
    x = sparse.csr_matrix((weight, (customer_idx, product_idx)), shape=(n_customers, n_products))
    x.sum_duplicates()
    x = normalize(x, norm="l1", axis=1)[cooccurrence_customers(x)]
    co = (x.T @ x).tocoo()
    total = co.sum()
    marginal = np.asarray(co.sum(axis=1)).ravel()
    pmi = np.log(co.data * total / (marginal[co.row] * marginal[co.col]))
    keep = pmi > 0
    m = sparse.csr_matrix((pmi[keep], (co.row[keep], co.col[keep])), shape=co.shape)
    k = min(dim, n_products - 1)
    u, s, _ = randomized_svd(m, n_components=k, random_state=SEED)
    vec = u * np.sqrt(s)
    if k < dim:
        vec = np.pad(vec, ((0, 0), (0, dim - k)))
    return normalize(vec)


def als(customer_idx, product_idx, weight, n_customers, n_products, dim=DIM) -> np.ndarray:
    """Product vectors: implicit-feedback ALS (confidence = the decayed event weights)."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    x = sparse.csr_matrix(
        (weight.astype(np.float32), (customer_idx, product_idx)), shape=(n_customers, n_products)
    )
    x.sum_duplicates()
    model = AlternatingLeastSquares(
        factors=dim,
        regularization=ALS_REGULARIZATION,
        iterations=ALS_ITERATIONS,
        random_state=SEED,
        num_threads=1,  # deterministic: the same seed gives the same vectors
    )
    with threadpool_limits(1, "blas"):
        model.fit(x, show_progress=False)
    return normalize(np.asarray(model.item_factors, dtype=np.float64))


def build_embeddings(
    inter: pl.DataFrame, products: pl.DataFrame, dim: int = DIM, method: str = "ppmi_svd"
) -> Embeddings:
    """``inter`` from behaviour.interactions; ``products`` the catalogue (every product and seller
    gets a vector: one never seen is the zero vector, and neighbours then fall back)."""
    if method not in METHODS:
        raise ValueError(f"unknown embedding method {method!r}: use one of {METHODS}")
    product_id = np.sort(products["product_id"].to_numpy().astype(str))
    pos = {p: j for j, p in enumerate(product_id)}
    known = inter.filter(pl.col("product_id").is_in(list(pos)))
    customer_id, c_idx = _index(known["customer_id"])
    p_idx = pl.Series(known["product_id"]).replace_strict(pos, return_dtype=pl.Int64).to_numpy()
    w = known["weight"].to_numpy()
    if known.height == 0 or product_id.size < 2:  # nothing to learn from: zero vectors
        sellers = np.unique(products["seller_id"].fill_null("unknown").to_numpy().astype(str))
        return Embeddings(
            product_id,
            np.zeros((product_id.size, dim)),
            customer_id,
            np.zeros((customer_id.size, dim)),
            sellers,
            np.zeros((sellers.size, dim)),
        )
    fit = ppmi_svd if method == "ppmi_svd" else als
    prod = fit(c_idx, p_idx, w, customer_id.size, product_id.size, dim)
    cust = normalize(
        sparse.csr_matrix((w, (c_idx, p_idx)), shape=(customer_id.size, product_id.size)) @ prod
    )
    pop = np.bincount(p_idx, weights=w, minlength=product_id.size)
    seller_of = (
        pl.DataFrame({"product_id": product_id})
        .join(products.select("product_id", "seller_id"), on="product_id", how="left")
        .sort("product_id")["seller_id"]
        .fill_null("unknown")
    )
    seller_id, s_idx = _index(seller_of)
    sel = normalize(
        sparse.csr_matrix(
            (pop, (s_idx, np.arange(product_id.size))), shape=(seller_id.size, product_id.size)
        )
        @ prod
    )
    return Embeddings(product_id, prod, customer_id, cust, seller_id, sel)


def top_k(query: np.ndarray, items: np.ndarray, k: int, chunk: int = 2048):
    """Exact top-k by inner product (brute force, chunked): (indices, scores), best first. In
    float64: float32 products differ in their last bits with the chunk's shape (the BLAS kernel
    sums in another order), enough to reorder near ties when customers are split differently."""
    k = min(k, items.shape[0])
    idx = np.zeros((query.shape[0], k), dtype=np.int64)
    val = np.zeros((query.shape[0], k), dtype=np.float64)
    for a in range(0, query.shape[0], chunk):
        idx[a : a + chunk], val[a : a + chunk] = best_in_rows(query[a : a + chunk] @ items.T, k)
    return idx, val


def best_in_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k highest scores, best first (ties: the smaller column): (columns, scores)."""
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    ps = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -ps), axis=1)
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(ps, order, axis=1)


def hnsw_top_k(query: np.ndarray, items: np.ndarray, k: int, ef: int = 200):
    """Approximate top-k by inner product through an hnswlib index (M=16, ef_construction=200,
    one thread so the index is the same on every run): (indices, scores), best first."""
    import hnswlib

    index = hnswlib.Index(space="ip", dim=items.shape[1])
    index.init_index(max_elements=items.shape[0], ef_construction=200, M=16, random_seed=SEED)
    index.set_num_threads(1)
    index.add_items(items.astype(np.float32), np.arange(items.shape[0]))
    index.set_ef(max(ef, k))
    labels, dist = index.knn_query(query.astype(np.float32), k=min(k, items.shape[0]))
    return labels.astype(np.int64), (1 - dist).astype(np.float32)
