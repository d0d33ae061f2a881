"""LightGBM models: a purchase classifier and the zero-inflated lognormal (ZILN) two-part model of
spend over a horizon.

ZILN (Wang, Liu and Miao, 2019): spend Y = 0 with probability 1 - p, else log Y ~ Normal(mu,
sigma^2). Its likelihood factorizes into a Bernoulli part (p) and a lognormal part fitted on buyers
only, so each part is fitted on its own with LightGBM: a binary classifier for p, a regression of
log spend for mu (the lognormal's maximum-likelihood mu is the conditional mean of log spend), and
a gamma regression of the squared log residuals for sigma^2 (E[r^2 | x] = sigma(x)^2), rescaled on
the validation buyers so the spread is not the shrunken in-sample one. Then
E[Y] = p * exp(mu + sigma^2 / 2) and the q-quantile is 0 for q <= 1 - p, else
exp(mu + sigma * Phi^-1((q - (1 - p)) / p)).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
from scipy import stats

QUANTILES = (0.1, 0.5, 0.9)
# Spread bounds (log scale): a leaf of a few buyers must not claim a zero or absurd spread.
SIGMA_RANGE = (0.05, 3.0)


@dataclass(frozen=True)
class BoosterParams:
    """LightGBM settings shared by every part. One thread: on a loaded 2-core machine OpenMP's
    spin-waiting made two threads 70x slower (70 s vs 1 s for the same 18k-row model)."""

    learning_rate: float = 0.05
    num_leaves: int = 15
    min_data_in_leaf: int = 40
    feature_fraction: float = 0.9
    lambda_l2: float = 1.0
    max_rounds: int = 600
    early_stopping_rounds: int = 40
    num_threads: int = 1
    seed: int = 0

    def lgb(self, objective: str, **overrides: Any) -> dict[str, Any]:
        params = {
            "objective": objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "lambda_l2": self.lambda_l2,
            "num_threads": self.num_threads,
            "seed": self.seed,
            # Same seed, same data, same model: no thread-count or histogram-layout dependence.
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }
        params.update(overrides)
        return params


@dataclass
class Encoder:
    """Turns a feature frame into LightGBM's float matrix: numbers as they are, booleans as 0/1,
    strings as integer codes of the training vocabulary (unseen values are missing)."""

    features: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def fit(cls, frame: pl.DataFrame, features: list[str]) -> Encoder:
        missing = [f for f in features if f not in frame.columns]
        if missing:
            raise ValueError(f"training frame lacks features {missing}")
        categories = {
            name: sorted(frame[name].drop_nulls().unique().cast(pl.String).to_list())
            for name in features
            if frame.schema[name] in (pl.String, pl.Categorical, pl.Enum)
        }
        return cls(list(features), categories)

    def transform(self, frame: pl.DataFrame) -> np.ndarray:
        columns = []
        for name in self.features:
            if name in self.categories:
                vocab = pl.DataFrame(
                    {name: self.categories[name], "__code": range(len(self.categories[name]))},
                    schema={name: pl.String, "__code": pl.Float64},
                )
                col = (
                    frame.select(pl.col(name).cast(pl.String))
                    .join(vocab, on=name, how="left", maintain_order="left")
                    .get_column("__code")
                )
            else:
                col = frame.get_column(name).cast(pl.Float64)
            columns.append(col.fill_null(np.nan).to_numpy())
        return np.column_stack(columns) if columns else np.empty((frame.height, 0))

    @property
    def categorical(self) -> list[str]:
        return [f for f in self.features if f in self.categories]


def _dataset(
    encoder: Encoder, x: np.ndarray, y: np.ndarray, reference=None, init=None
) -> lgb.Dataset:
    return lgb.Dataset(
        x,
        label=y,
        init_score=init,
        feature_name=encoder.features,
        categorical_feature=encoder.categorical,
        reference=reference,
        free_raw_data=False,
        params={"verbosity": -1, "max_bin": 63, "min_data_in_bin": 5},
    )


def _train(
    params: dict[str, Any],
    encoder: Encoder,
    x: np.ndarray,
    y: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    max_rounds: int,
    early_stopping_rounds: int,
    init: tuple[np.ndarray, np.ndarray] | None = None,
) -> lgb.Booster:
    """Boost from ``init`` (raw scores of train and validation rows) when given."""
    train = _dataset(encoder, x, y, init=None if init is None else init[0])
    valid = _dataset(encoder, x_val, y_val, reference=train, init=None if init is None else init[1])
    return lgb.train(
        params,
        train,
        num_boost_round=max_rounds,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)],
    )


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def platt(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling (a, b) of raw probabilities on labelled rows: p = sigmoid(a + b logit(raw))."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(y)) < 2:
        return 0.0, 1.0
    fit = LogisticRegression(C=1e6).fit(_logit(raw).reshape(-1, 1), y)
    return float(fit.intercept_[0]), float(fit.coef_[0, 0])


@dataclass
class PurchaseModel:
    """P(buy within the horizon | features): a LightGBM binary classifier, recalibrated (Platt)
    on the validation cutoff, the most recent labelled window: purchase rates drift (a cohort's
    activity decays), and trees fitted on older cutoffs carry the older level."""

    encoder: Encoder
    booster: lgb.Booster
    calibration: tuple[float, float] = (0.0, 1.0)
    base_column: str | None = None
    """A column with a prior probability (e.g. BG/NBD's) to boost from: the trees learn a
    correction in log-odds, and the prior carries what trees cannot (extrapolation in time)."""
    base_rate: float = 0.5

    def base_logit(self, frame: pl.DataFrame) -> np.ndarray:
        if self.base_column is None:
            return np.zeros(frame.height)
        col = frame[self.base_column].cast(pl.Float64).fill_null(self.base_rate)
        return _logit(col.to_numpy())

    @classmethod
    def fit(
        cls,
        train: pl.DataFrame,
        valid: pl.DataFrame,
        features: list[str],
        label: str = "label_bought",
        params: BoosterParams | None = None,
        base_column: str | None = None,
    ) -> PurchaseModel:
        params = params or BoosterParams()
        encoder = Encoder.fit(train, features)
        x_val = encoder.transform(valid)
        y_val = valid[label].to_numpy()
        shell = cls(encoder, None, base_column=base_column, base_rate=float(train[label].mean()))  # type: ignore[arg-type]
        init = (shell.base_logit(train), shell.base_logit(valid)) if base_column else None
        booster = _train(
            params.lgb("binary", metric="binary_logloss"),
            encoder,
            encoder.transform(train),
            train[label].to_numpy(),
            x_val,
            y_val,
            params.max_rounds,
            params.early_stopping_rounds,
            init,
        )
        shell.booster = booster
        raw_val = booster.predict(x_val, raw_score=True) + shell.base_logit(valid)
        shell.calibration = platt(1 / (1 + np.exp(-raw_val)), y_val)
        return shell

    def predict_matrix(self, x: np.ndarray, base_logit: np.ndarray | None = None) -> np.ndarray:
        a, b = self.calibration
        raw = self.booster.predict(x, raw_score=True)
        if base_logit is not None:
            raw = raw + base_logit
        return 1 / (1 + np.exp(-(a + b * raw)))

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        return self.predict_matrix(self.encoder.transform(frame), self.base_logit(frame))

    def save(self, folder: Path, name: str = "purchase") -> dict[str, Any]:
        self.booster.save_model(str(folder / f"{name}.txt"))
        return {
            "encoder": asdict(self.encoder),
            "rounds": self.booster.current_iteration(),
            "calibration": list(self.calibration),
            "base_column": self.base_column,
            "base_rate": self.base_rate,
        }

    @classmethod
    def load(cls, folder: Path, meta: dict[str, Any], name: str = "purchase") -> PurchaseModel:
        a, b = meta.get("calibration", (0.0, 1.0))
        return cls(
            Encoder(**meta["encoder"]),
            lgb.Booster(model_file=str(folder / f"{name}.txt")),
            (float(a), float(b)),
            meta.get("base_column"),
            float(meta.get("base_rate", 0.5)),
        )

    def importance(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "feature": self.booster.feature_name(),
                "gain": self.booster.feature_importance("gain"),
            }
        ).sort("gain", descending=True)


def ziln_expected_value(p: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """E[Y] of the zero-inflated lognormal: p * exp(mu + sigma^2 / 2)."""
    return p * np.exp(mu + sigma**2 / 2)


def ziln_quantile(p: np.ndarray, mu: np.ndarray, sigma: np.ndarray, q: float) -> np.ndarray:
    """The q-quantile of the zero-inflated lognormal: 0 while q <= 1 - p (the mass at zero),
    else the lognormal's quantile at (q - (1 - p)) / p."""
    p = np.asarray(p, dtype=np.float64)
    inner = np.clip((q - (1 - p)) / np.where(p > 0, p, 1.0), 1e-12, 1 - 1e-12)
    value = np.exp(mu + sigma * stats.norm.ppf(inner))
    return np.where(q > 1 - p, value, 0.0)


@dataclass
class ZilnModel:
    """The two-part ZILN model: ``purchase`` gives p, ``mu`` and ``sigma`` the lognormal."""

    purchase: PurchaseModel
    mu: lgb.Booster
    sigma: lgb.Booster
    sigma_scale: float
    mu_shift: float = 0.0
    base_value_column: str | None = None
    """A column with a prior expected spend (e.g. BG/NBD + Gamma-Gamma's) whose log, per buyer,
    the mean is boosted from; with ``PurchaseModel.base_column`` for p."""
    base_log_default: float = 0.0

    def base_mu(self, frame: pl.DataFrame) -> np.ndarray:
        if self.base_value_column is None or self.purchase.base_column is None:
            return np.zeros(frame.height)
        per_buyer = frame[self.base_value_column].cast(pl.Float64) / frame[
            self.purchase.base_column
        ].cast(pl.Float64)
        logs = per_buyer.log().to_numpy()
        logs = np.where(np.isfinite(logs), logs, self.base_log_default)  # no prior: no offset
        return logs - self.base_log_default

    @classmethod
    def fit(
        cls,
        train: pl.DataFrame,
        valid: pl.DataFrame,
        features: list[str],
        params: BoosterParams | None = None,
        base: tuple[str, str] | None = None,
    ) -> ZilnModel:
        """``base``: (prior purchase probability column, prior expected value column) to boost
        from, e.g. BG/NBD's; None fits from scratch."""
        params = params or BoosterParams()
        purchase = PurchaseModel.fit(
            train, valid, features, params=params, base_column=base[0] if base else None
        )
        encoder = purchase.encoder
        buyers, valid_buyers = (f.filter(pl.col("label_spend_krw") > 0) for f in (train, valid))
        if buyers.height < 20 or valid_buyers.height < 5:
            raise ValueError(
                f"too few buyers to fit spend: {buyers.height} in training, "
                f"{valid_buyers.height} in validation (need 20 and 5)"
            )
        x, x_val = encoder.transform(buyers), encoder.transform(valid_buyers)
        log_y = np.log(buyers["label_spend_krw"].to_numpy())
        log_y_val = np.log(valid_buyers["label_spend_krw"].to_numpy())
        shell = cls(purchase, None, None, 1.0, 0.0, base[1] if base else None, 0.0)  # type: ignore[arg-type]
        if base:
            # Center the prior on the buyers' mean log spend: the trees then learn how the
            # prior's ranking maps to log spend rather than its level.
            per_buyer = (buyers[base[1]] / buyers[base[0]]).log().to_numpy()
            per_buyer = per_buyer[np.isfinite(per_buyer)]
            shell.base_log_default = float(per_buyer.mean()) if len(per_buyer) else 0.0
        init = (
            (shell.base_mu(buyers) + log_y.mean(), shell.base_mu(valid_buyers) + log_y.mean())
            if base
            else None
        )
        mu = _train(
            params.lgb("regression", metric="l2"),
            encoder,
            x,
            log_y,
            x_val,
            log_y_val,
            params.max_rounds,
            params.early_stopping_rounds,
            init,
        )
        offset = log_y.mean() if base else 0.0
        mu_fit = mu.predict(x) + shell.base_mu(buyers) + offset
        mu_val = mu.predict(x_val) + shell.base_mu(valid_buyers) + offset
        resid2 = (log_y - mu_fit) ** 2 + 1e-4
        resid2_val = (log_y_val - mu_val) ** 2 + 1e-4
        # The spread varies slowly with the features: a smaller, more regularised forest.
        sigma = _train(
            params.lgb(
                "gamma",
                metric="gamma",
                num_leaves=7,
                min_data_in_leaf=max(params.min_data_in_leaf, 60),
            ),
            encoder,
            x,
            resid2,
            x_val,
            resid2_val,
            params.max_rounds,
            params.early_stopping_rounds,
        )
        # In-sample residuals of mu are smaller than out-of-sample ones: scale sigma^2 so its
        # mean matches the validation buyers' mean squared residual.
        scale = float(resid2_val.mean() / sigma.predict(x_val).mean())
        # Like p, the spend level is set on the latest window: shift mu so the validation
        # buyers' predicted mean spend equals their actual mean.
        s_val = np.clip(np.sqrt(scale * sigma.predict(x_val)), *SIGMA_RANGE)
        predicted = np.exp(mu_val + s_val**2 / 2)
        shift = float(np.log(np.exp(log_y_val).mean() / predicted.mean())) + offset
        shell.mu, shell.sigma, shell.sigma_scale, shell.mu_shift = mu, sigma, scale, shift
        return shell

    def predict(self, frame: pl.DataFrame) -> pl.DataFrame:
        """p_buy, mu, sigma, expected value and the 10/50/90 % quantiles per row (KRW)."""
        x = self.purchase.encoder.transform(frame)
        p = self.purchase.predict_matrix(x, self.purchase.base_logit(frame))
        mu = self.mu.predict(x) + self.base_mu(frame) + self.mu_shift
        sigma = np.clip(np.sqrt(self.sigma_scale * self.sigma.predict(x)), *SIGMA_RANGE)
        out = {
            "p_buy": p,
            "mu": mu,
            "sigma": sigma,
            "expected_value_krw": ziln_expected_value(p, mu, sigma),
        }
        for q in QUANTILES:
            out[f"value_p{round(q * 100)}_krw"] = ziln_quantile(p, mu, sigma, q)
        return pl.DataFrame(out)

    def save(self, folder: Path) -> dict[str, Any]:
        meta = self.purchase.save(folder, "purchase")
        self.mu.save_model(str(folder / "mu.txt"))
        self.sigma.save_model(str(folder / "sigma.txt"))
        meta.update(
            sigma_scale=self.sigma_scale,
            mu_shift=self.mu_shift,
            base_value_column=self.base_value_column,
            base_log_default=self.base_log_default,
            mu_rounds=self.mu.current_iteration(),
            sigma_rounds=self.sigma.current_iteration(),
        )
        return meta

    @classmethod
    def load(cls, folder: Path, meta: dict[str, Any]) -> ZilnModel:
        return cls(
            PurchaseModel.load(folder, meta, "purchase"),
            lgb.Booster(model_file=str(folder / "mu.txt")),
            lgb.Booster(model_file=str(folder / "sigma.txt")),
            float(meta["sigma_scale"]),
            float(meta.get("mu_shift", 0.0)),
            meta.get("base_value_column"),
            float(meta.get("base_log_default", 0.0)),
        )


def booster_fingerprint(*boosters: lgb.Booster) -> str:
    """A hash of the models' text: equal for equal models (same seed and data)."""
    import hashlib

    digest = hashlib.sha256()
    for b in boosters:
        digest.update(json.dumps(b.dump_model(), sort_keys=True).encode())
    return digest.hexdigest()[:16]
