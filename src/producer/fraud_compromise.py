"""Mechanism 1, the compromised merchant (point of compromise); see `fraud_config`."""

from __future__ import annotations

import numpy as np

from fraudlake.producer.fraud_base import DAY, BlockContext, FraudToolkit
from fraudlake.producer.txn_columns import COMPROMISED_MERCHANT, ONLINE, SWIPE, TxnColumns


class CompromisedMerchants:
    """Opens compromises, finds the cards exposed to them, and schedules those cards' fraud."""

    def __init__(self, kit: FraudToolkit, travel_share: float) -> None:
        self.kit, self.cfg, self.pop, self.cal = kit, kit.cfg, kit.pop, kit.cal
        self._open: list[tuple[int, int, int, int]] = []  # (event, brand, start, end) still exposing cards
        self._exposed: dict[int, set[int]] = {}
        self._eligible_brands, self._exposure_per_compromise = self._poc_exposure_model(travel_share)

    def _poc_exposure_model(self, travel_share: float) -> tuple[np.ndarray, float]:
        """Brands eligible for compromise and the expected exposed cards of one compromise.

        A card shopping at brand b at daily rate λ is exposed by a window of W days with probability
        1 - exp(-λW); summing over cards gives the brand's expected exposure. Brands whose
        expectation lies in `poc_exposed_cards` are eligible (a breach large enough to leave a graph
        trace, small enough not to dominate the data set).
        """
        pop, cal = self.pop, self.cal
        keys, daily = [], []
        for fav, share in (
            (pop.in_store, (1 - cal.online_share) * (1 - travel_share)),
            (pop.online, cal.online_share),
        ):
            entry, card = _entries_by_card(fav.offsets, pop.card_user)
            keys.append(pop.merchants.brand[fav.merchant[entry]] * pop.n_cards + card)
            daily.append(pop.card_rate[card] * share * fav.share[entry])
        pair, inverse = np.unique(np.concatenate(keys), return_inverse=True)
        rate = np.bincount(inverse, weights=np.concatenate(daily))
        window = self.cfg.mean(self.cfg.poc_window_days)
        exposed = np.bincount(
            pair // pop.n_cards, weights=1 - np.exp(-rate * window), minlength=len(pop.merchants.brand_name)
        )
        low, high = self.cfg.poc_exposed_cards
        eligible = np.flatnonzero((exposed >= low) & (exposed <= high))
        return eligible, float(exposed[eligible].mean()) if len(eligible) else 0.0

    def open(self, ctx: BlockContext, budget: float) -> TxnColumns:
        """New compromises starting in this block, as many as the mechanism's fraud budget needs."""
        cfg = self.cfg
        active_fraction = ctx.active_cards @ self.pop.card_rate / self.pop.card_rate.sum()
        per_compromise = (
            self._exposure_per_compromise
            * active_fraction
            * cfg.poc_exploit_prob
            * cfg.mean(cfg.poc_burst_txns)
        )
        count = ctx.rng.poisson(budget / per_compromise) if per_compromise > 0 else 0
        brands = self._eligible_brands[ctx.rng.integers(0, len(self._eligible_brands), count)]
        starts = ctx.rng.integers(ctx.start, ctx.end, count)
        lengths = (ctx.rng.uniform(*cfg.poc_window_days, count) * DAY).astype(np.int64)
        for brand, start, length in zip(brands, starts, lengths, strict=True):
            event = self.kit.new_event()
            self._open.append((event, int(brand), int(start), int(start + length)))
            self.kit.ledger.compromises.append(
                (event, int(self.pop.merchants.brand_name[brand]), int(start), int(start + length))
            )
            self._exposed[event] = set()
        return TxnColumns.empty()

    def exposures(self, ctx: BlockContext, legit: TxnColumns) -> TxnColumns:
        """Cards that shop at a compromised brand (any location or channel) inside its window."""
        self._open = [c for c in self._open if c[3] > ctx.start]
        if not self._open:
            return TxnColumns.empty()
        brand = self.pop.merchants.brand[legit.merchant]
        hit = np.flatnonzero(np.isin(brand, [c[1] for c in self._open]))
        order = hit[np.argsort(legit.minute[hit], kind="stable")]
        bursts = []
        for event, compromised, start, end in self._open:
            visits = order[
                (brand[order] == compromised) & (legit.minute[order] >= start) & (legit.minute[order] < end)
            ]
            cards, first = np.unique(legit.card[visits], return_index=True)
            seen = self._exposed[event]
            fresh = np.array([c not in seen for c in cards.tolist()], dtype=bool)
            cards, first_minute = cards[fresh], legit.minute[visits][first][fresh]
            seen.update(cards.tolist())
            exploited = ctx.rng.random(len(cards)) < self.cfg.poc_exploit_prob
            self.kit.ledger.exposures.extend(
                zip(
                    [event] * len(cards),
                    cards.tolist(),
                    first_minute.tolist(),
                    exploited.tolist(),
                    strict=True,
                )
            )
            if exploited.any():
                bursts.append(self._poc_bursts(ctx.rng, event, cards[exploited], first_minute[exploited]))
        return TxnColumns.concat(bursts)

    def _poc_bursts(
        self, rng: np.random.Generator, event: int, cards: np.ndarray, first_visit: np.ndarray
    ) -> TxnColumns:
        cfg = self.cfg
        delay = (rng.uniform(*cfg.poc_delay_days, len(cards)) * DAY).astype(np.int64)
        sizes = rng.integers(cfg.poc_burst_txns[0], cfg.poc_burst_txns[1] + 1, len(cards))
        card = np.repeat(cards, sizes)
        minute = np.repeat(first_visit + delay, sizes) + rng.integers(
            0, int(cfg.poc_burst_days * DAY), len(card)
        )
        online = rng.random(len(card)) < cfg.poc_online_share
        far_place = rng.integers(0, self.kit.us_places, len(card))
        merchant = np.where(
            online,
            rng.choice(self.kit.online_merchants, len(card)),
            self.pop.merchants.in_place(far_place, rng.random(len(card))),
        )
        amount = self.kit.amounts(rng, merchant)
        if cfg.poc_ordinary_share > 0:  # (no draws otherwise: the calibrated world stays as it was)
            online, merchant, amount = self._disguise(rng, card, online, merchant, amount)
        for victim in cards.tolist():
            self.kit.ledger.events.append((event, COMPROMISED_MERCHANT, victim, event))
        return TxnColumns.build(
            card=card,
            minute=minute,
            merchant=merchant,
            amount=amount,
            use_chip=np.where(online, ONLINE, SWIPE),
            mechanism=COMPROMISED_MERCHANT,
            event=event,
        )

    def _disguise(
        self,
        rng: np.random.Generator,
        card: np.ndarray,
        online: np.ndarray,
        merchant: np.ndarray,
        amount: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`poc_ordinary_share` of the cash-outs made as the holder shops: online, at one of the
        holder's usual online merchants, at the category's ordinary amounts."""
        ordinary = rng.random(len(card)) < self.cfg.poc_ordinary_share
        usual = self.pop.online.sample(self.pop.card_user[card[ordinary]], rng.random(int(ordinary.sum())))
        merchant, amount = merchant.copy(), amount.copy()
        merchant[ordinary] = usual
        amount[ordinary] = self.kit.ordinary_amounts(rng, usual)
        return online | ordinary, merchant, amount


def _entries_by_card(offsets: np.ndarray, card_user: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expand per-user favourite entries to (entry, card) pairs over each user's cards."""
    per_user = np.bincount(card_user, minlength=len(offsets) - 1)
    card_order = np.argsort(card_user, kind="stable")
    card_offsets = np.concatenate([[0], np.cumsum(per_user)])
    owner = np.repeat(np.arange(len(per_user)), np.diff(offsets))
    repeats = per_user[owner]
    entry = np.repeat(np.arange(len(owner)), repeats)
    within = np.arange(len(entry)) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    return entry, card_order[card_offsets[owner[entry]] + within]
