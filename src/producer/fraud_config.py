"""Parameters of the generator's fraud mechanisms (every number a test or a model can rely on).

The overall fraud share of all transactions is `rate` (the real dataset: 29,757 / 24,386,900 =
0.122%); `mix` splits it between the five mechanisms, and each mechanism's event frequency is
derived from its share so the realized rate tracks `rate` whatever the population.

1. Compromised merchant (point of compromise, e.g. a skimmer or POS malware at a small shop): a
   merchant brand whose expected exposed cards per window lie in `poc_exposed_cards` (a local
   store or small chain, never a brand that half the population visits) is compromised for
   `poc_window_days`; every card that shops there (any location or channel) in the window is
   exposed and, with probability `poc_exploit_prob`, is defrauded `poc_delay_days` after its first
   visit in a burst of `poc_burst_txns` transactions over up to `poc_burst_days` — online, or
   in-store with a cloned magnetic stripe (`Swipe`) far away. It is the largest share of the mix
   (breached card data is the main source of card fraud). Graph trace: a dozen or more defrauded
   cards share one small merchant days before their fraud, far above what chance gives it
   (`fraudlake.ml.diagnostics` measures this without a model).
2. Fraud ring: `rings` rings, each owning `ring_merchants` online merchants; a ring event charges
   a victim card `ring_txns` times within `ring_span_hours` at that ring's merchants only. Graph
   trace: unrelated cards converge on a small merchant set.
3. Card testing: `testing_probes` tiny charges (`probe_amount`, some declined with card-data
   errors) a few minutes apart at one of `testing_merchants` shared testing merchants, then one
   large online cash-out (`cashout_amount`) `cashout_delay_minutes` later.
4. Account takeover: the card suddenly transacts in person in a place at least
   `ato_min_distance_km` from the holder's home (`ato_txns` within `ato_span_hours`, the first
   sometimes with `Bad PIN`), while the holder keeps shopping at home: a geography jump.
5. Collusive merchant (a mule or complicit online merchant): one of `collusive_merchants` online
   merchants is charged `collusive_txns` times, within `collusive_span_hours`, on cards of unrelated
   holders at the category's ordinary amounts. Each charge looks like a purchase; what gives it away
   is the merchant's customers: many unrelated cards, a share of them defrauded. Off (share 0) in
   the calibrated world.

Disguise: a share `poc_ordinary_share` of the compromised cards' cash-outs imitates the holder's
own shopping (online at one of the holder's usual online merchants, at ordinary amounts): tabular
features cannot tell them from the holder; only the card's visit to a breached merchant can.

`FraudConfig()` is the calibrated world (the demo's and the tests'); `FraudConfig.varied(seed)`
draws every relational parameter at random, so models are compared across worlds nobody tuned.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


def _default_mix() -> dict[str, float]:
    return {
        "compromised_merchant": 0.50,
        "fraud_ring": 0.20,
        "card_testing": 0.15,
        "account_takeover": 0.15,
        "collusive_merchant": 0.0,
    }


@dataclass(frozen=True)
class FraudConfig:
    rate: float = 0.0012
    mix: dict[str, float] = field(default_factory=_default_mix)
    # 1. compromised merchant
    poc_window_days: tuple[float, float] = (7.0, 21.0)
    poc_exposed_cards: tuple[float, float] = (25.0, 100.0)
    poc_exploit_prob: float = 0.5
    poc_delay_days: tuple[float, float] = (3.0, 21.0)
    poc_burst_txns: tuple[int, int] = (1, 4)
    poc_burst_days: float = 2.0
    poc_online_share: float = 0.6
    poc_ordinary_share: float = 0.0
    # 2. fraud rings
    rings: int = 8
    ring_merchants: tuple[int, int] = (3, 6)
    ring_txns: tuple[int, int] = (2, 6)
    ring_span_hours: float = 12.0
    # 3. card testing
    testing_merchants: int = 12
    testing_probes: tuple[int, int] = (3, 8)
    probe_amount: tuple[float, float] = (0.5, 5.0)
    probe_decline_prob: float = 0.35
    cashout_amount: tuple[float, float] = (300.0, 2500.0)
    cashout_delay_minutes: tuple[int, int] = (30, 360)
    # 4. account takeover
    ato_min_distance_km: float = 1000.0
    ato_txns: tuple[int, int] = (2, 6)
    ato_span_hours: float = 36.0
    ato_bad_pin_prob: float = 0.3
    # 5. collusive merchant
    collusive_merchants: int = 6
    collusive_txns: tuple[int, int] = (1, 2)
    collusive_span_hours: float = 6.0
    # fraud amounts are the merchant category's amounts scaled by a factor in this range
    amount_uplift: tuple[float, float] = (1.5, 3.0)

    def __post_init__(self) -> None:
        if not 0 <= self.poc_ordinary_share <= 1:
            raise ValueError("poc_ordinary_share must be in [0, 1]")
        if not 0 <= self.rate < 0.5:
            raise ValueError("fraud rate must be in [0, 0.5)")
        if set(self.mix) != set(_default_mix()) or any(v < 0 for v in self.mix.values()):
            raise ValueError(f"fraud mix needs non-negative shares for {sorted(_default_mix())}")
        if abs(sum(self.mix.values()) - 1) > 1e-6:
            raise ValueError("fraud mix shares must sum to 1")

    @classmethod
    def varied(cls, seed: int, rate: float = 0.0012) -> FraudConfig:
        """A world with fraud rate `rate` and the rest drawn at random from `seed`: the mix
        (relational mechanisms most of it), how many cards a breach exposes and how many of them
        are cashed out, when and how disguised, ring and collusive merchant counts, and how far
        fraud amounts stand out. The ranges are plausible, not fitted: a model is judged on worlds
        nobody tuned it to."""
        rng = np.random.default_rng([seed, 0x5EED])
        names = list(_default_mix())
        weights = rng.dirichlet([6.0, 2.0, 1.5, 1.5, 3.0])  # in `names` order
        low_delay = float(rng.uniform(1.0, 10.0))
        return replace(
            cls(),
            rate=rate,
            mix=dict(zip(names, (float(w) for w in weights / weights.sum()), strict=True)),
            poc_window_days=(float(rng.uniform(4.0, 10.0)), float(rng.uniform(12.0, 30.0))),
            poc_exposed_cards=(float(rng.uniform(10.0, 30.0)), float(rng.uniform(60.0, 150.0))),
            poc_exploit_prob=float(rng.uniform(0.2, 0.7)),
            poc_delay_days=(low_delay, low_delay + float(rng.uniform(5.0, 25.0))),
            poc_burst_txns=(1, int(rng.integers(2, 6))),
            poc_online_share=float(rng.uniform(0.4, 0.9)),
            poc_ordinary_share=float(rng.uniform(0.3, 0.9)),
            rings=int(rng.integers(3, 13)),
            testing_merchants=int(rng.integers(4, 20)),
            cashout_amount=(float(rng.uniform(20.0, 200.0)), float(rng.uniform(300.0, 1500.0))),
            collusive_merchants=int(rng.integers(2, 12)),
            collusive_txns=(1, int(rng.integers(1, 4))),
            amount_uplift=(float(rng.uniform(0.8, 1.2)), float(rng.uniform(1.3, 2.5))),
        )

    def share(self, mechanism: str) -> float:
        return self.mix[mechanism]

    @staticmethod
    def mean(bounds: tuple[float, float]) -> float:
        return (bounds[0] + bounds[1]) / 2
