"""The synthetic world around the real users and cards: places, merchants and shopping habits.

- Places are the real users' home locations (city, state, ZIP, lat/lon) plus the foreign
  destinations User0 visits (Cancun, Rome, Kingston, …); online merchants live in the
  pseudo-place ONLINE (no state, no ZIP), as in the Kaggle file.
- A TabFormer merchant id is a brand: User0's merchant ids recur across up to a dozen cities. So
  merchants are brands with locations: `CHAINS` national chains (popular ones present in most
  places, the tail in few), independent local stores, foreign stores, and online brands whose
  popularity is Zipf-distributed. Shared brands are what connect cards in the graph.
- Each user has a weighted list of in-store merchant locations (75% in the home place, 25% in
  the eight nearest places; Zipf weights so a few stores dominate, like User0's) and of online
  brands.
- Each card has a daily transaction rate (gamma, mean 1.16/day: 24.4M real transactions over the
  real cards' active days) and transacts only after its real account-opening month.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fraudlake.producer.calibration import Calibration

FOREIGN_PLACES = (  # (city, country, lat, lon): User0's foreign merchants
    ("Cancun", "Mexico", 21.16, -86.85),
    ("Cabo San Lucas", "Mexico", 22.89, -109.92),
    ("Rome", "Italy", 41.90, 12.50),
    ("Kingston", "Jamaica", 18.00, -76.79),
    ("Manila", "Philippines", 14.60, 120.98),
    ("Beijing", "China", 39.90, 116.41),
    ("Shanghai", "China", 31.23, 121.47),
    ("Tokyo", "Japan", 35.68, 139.69),
    ("Tallinn", "Estonia", 59.44, 24.75),
    ("Lisbon", "Portugal", 38.72, -9.14),
    ("Zurich", "Switzerland", 47.38, 8.54),
    ("Toronto", "Canada", 43.65, -79.38),
    ("Santo Domingo", "Dominican Republic", 18.49, -69.93),
)
MEAN_DAILY_RATE = 1.16
RATE_GAMMA_SHAPE = 1.5
NEIGHBOUR_PLACES = 8
HOME_SHARE = 0.75
ZIPF_EXPONENT = 1.1
CHAINS = 400
ONLINE_MERCHANTS = 4000
FOREIGN_MERCHANTS_PER_PLACE = 40


def users_for_span(rows: int, days: float, users: pa.Table, cards: pa.Table) -> int:
    """The fewest first users whose cards are expected to make `rows` transactions in `days` days.

    The full 2,000 users spend ~3.6 transactions a day each, so a small row budget over all of
    them covers only days; a model needs months of history, which a smaller bank gives. Counts
    every card as open (true of recent dates; years ago some accounts did not exist yet).
    """
    cards_per_user = np.bincount(cards["user"].to_numpy(), minlength=users.num_rows)[: users.num_rows]
    expected_rows = np.cumsum(cards_per_user) * MEAN_DAILY_RATE * days
    return int(min(users.num_rows, np.searchsorted(expected_rows, rows) + 1))


@dataclass(frozen=True)
class Places:
    city: pa.Array  # last entry is the ONLINE pseudo-place
    state: pa.Array  # US state code or country; null for ONLINE
    zip: pa.Array  # null abroad and online
    lat: np.ndarray
    lon: np.ndarray
    foreign: np.ndarray

    @property
    def online(self) -> int:
        return len(self.city) - 1

    def km_from(self, lat: float, lon: float) -> np.ndarray:
        return haversine_km(lat, lon, self.lat, self.lon)


@dataclass(frozen=True)
class Merchants:
    """Merchant locations (rows), grouped by place; a brand has one or many locations."""

    brand: np.ndarray  # brand index of each location
    place: np.ndarray
    place_offsets: np.ndarray  # place p owns locations [off[p], off[p+1])
    brand_name: np.ndarray  # int64 TabFormer-style merchant id of each brand
    brand_mcc: np.ndarray

    def __len__(self) -> int:
        return len(self.brand)

    def name_of(self, location: np.ndarray) -> np.ndarray:
        return self.brand_name[self.brand[location]]

    def mcc_of(self, location: np.ndarray) -> np.ndarray:
        return self.brand_mcc[self.brand[location]]

    def in_place(self, place: np.ndarray, uniform: np.ndarray) -> np.ndarray:
        start, end = self.place_offsets[place], self.place_offsets[place + 1]
        return start + np.minimum((uniform * (end - start)).astype(np.int64), end - start - 1)


@dataclass(frozen=True)
class Favorites:
    """Per-user weighted merchant lists; user u's cumulative weights span (u, u + 1]."""

    offsets: np.ndarray
    merchant: np.ndarray
    cum: np.ndarray
    share: np.ndarray  # each entry's probability within its user's list

    def sample(self, user: np.ndarray, uniform: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self.cum, user + uniform, side="right")
        return self.merchant[np.clip(pos, self.offsets[user], self.offsets[user + 1] - 1)]


@dataclass(frozen=True)
class Population:
    card_user: np.ndarray
    card_index: np.ndarray
    card_rate: np.ndarray  # transactions per active day
    card_open_day: np.ndarray  # days since epoch of the account-opening month
    card_has_chip: np.ndarray
    card_id: pa.Array
    card_token: pa.Array
    user_id: pa.Array
    user_home: np.ndarray  # place index
    places: Places
    merchants: Merchants
    in_store: Favorites
    online: Favorites

    @property
    def n_cards(self) -> int:
        return len(self.card_user)


def haversine_km(
    lat1: float | np.ndarray, lon1: float | np.ndarray, lat2: np.ndarray, lon2: np.ndarray
) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlat, dlon = p2 - p1, np.radians(np.asarray(lon2) - lon1)
    a = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return 6371.0 * 2 * np.arcsin(np.sqrt(a))


def build_population(
    users: pa.Table, cards: pa.Table, cal: Calibration, rng: np.random.Generator
) -> Population:
    """Places, merchants, favourites and card rates over the real users/cards tables."""
    places, user_home, users_per_place = _places(users)
    merchants = _merchants(places, users_per_place, cal, rng)
    n_users = users.num_rows
    in_store = _favorites(
        n_users,
        rng,
        lambda owner, u: _local_picks(owner, u, user_home, places, merchants, rng),
        sizes=rng.integers(30, 90, n_users),
    )
    online_start = merchants.place_offsets[places.online]
    popularity = np.cumsum(np.arange(1, ONLINE_MERCHANTS + 1) ** -1.0)
    online_favorites = _favorites(
        n_users,
        rng,
        lambda owner, u: online_start + np.searchsorted(popularity, u * popularity[-1]),
        sizes=rng.integers(5, 20, n_users),
    )
    open_month, open_year = (
        pc.cast(pc.utf8_slice_codeunits(cards["acct_open_date"], a, b), pa.int64()).to_numpy()
        for a, b in ((0, 2), (3, 7))
    )
    open_day = ((open_year - 1970) * 12 + open_month - 1).astype("datetime64[M]").astype("datetime64[D]")
    return Population(
        card_user=cards["user"].to_numpy().astype(np.int64),
        card_index=cards["card_index"].to_numpy().astype(np.int64),
        card_rate=rng.gamma(RATE_GAMMA_SHAPE, MEAN_DAILY_RATE / RATE_GAMMA_SHAPE, cards.num_rows),
        card_open_day=open_day.astype(np.int64),
        card_has_chip=cards["has_chip"].to_numpy(zero_copy_only=False),
        card_id=cards["card_id"].combine_chunks(),
        card_token=cards["card_token"].combine_chunks(),
        user_id=users["user_id"].combine_chunks(),
        user_home=user_home,
        places=places,
        merchants=merchants,
        in_store=in_store,
        online=online_favorites,
    )


def _places(users: pa.Table) -> tuple[Places, np.ndarray, np.ndarray]:
    keys = list(
        zip(users["city"].to_pylist(), users["state"].to_pylist(), users["zipcode"].to_pylist(), strict=True)
    )
    index: dict[tuple[str, str, str], int] = {}
    user_home = np.array([index.setdefault(key, len(index)) for key in keys], dtype=np.int64)
    first_user = np.unique(user_home, return_index=True)[1]
    lat = users["latitude"].to_numpy()[first_user]
    lon = users["longitude"].to_numpy()[first_user]
    us = list(index)
    places = Places(
        city=pa.array([k[0] for k in us] + [f[0] for f in FOREIGN_PLACES] + ["ONLINE"]),
        state=pa.array([k[1] for k in us] + [f[1] for f in FOREIGN_PLACES] + [None], pa.string()),
        zip=pa.array([k[2] for k in us] + [None] * (len(FOREIGN_PLACES) + 1), pa.string()),
        lat=np.concatenate([lat, [f[2] for f in FOREIGN_PLACES], [np.nan]]),
        lon=np.concatenate([lon, [f[3] for f in FOREIGN_PLACES], [np.nan]]),
        foreign=np.array([False] * len(us) + [True] * len(FOREIGN_PLACES) + [False]),
    )
    return places, user_home, np.bincount(user_home, minlength=len(us))


def _merchants(
    places: Places, users_per_place: np.ndarray, cal: Calibration, rng: np.random.Generator
) -> Merchants:
    n_us = len(users_per_place)
    presence = np.clip(0.9 * np.arange(1, CHAINS + 1) ** -0.6, 0.02, 0.9)  # big chains are everywhere
    chain_place, chain = np.nonzero(rng.random((n_us, CHAINS)) < presence)
    locals_per_place = np.concatenate(
        [
            np.minimum(20 + 20 * users_per_place, 300),
            np.full(len(FOREIGN_PLACES), FOREIGN_MERCHANTS_PER_PLACE),
        ]
    )
    local_place = np.repeat(np.arange(len(locals_per_place)), locals_per_place)
    local_brand = CHAINS + np.arange(len(local_place))
    online_brand = local_brand[-1] + 1 + np.arange(ONLINE_MERCHANTS) if len(local_brand) else np.arange(0)
    place = np.concatenate([chain_place, local_place, np.full(ONLINE_MERCHANTS, places.online)])
    brand = np.concatenate([chain, local_brand, online_brand])
    order = np.argsort(place, kind="stable")
    offsets = np.concatenate([[0], np.cumsum(np.bincount(place, minlength=len(places.city)))])
    n_brands = CHAINS + len(local_place) + ONLINE_MERCHANTS
    in_store_mcc = rng.choice(cal.in_store.mcc, n_brands - ONLINE_MERCHANTS, p=cal.in_store.mcc_probs)
    online_mcc = rng.choice(cal.online.mcc, ONLINE_MERCHANTS, p=cal.online.mcc_probs)
    return Merchants(
        brand=brand[order],
        place=place[order],
        place_offsets=offsets,
        brand_name=rng.integers(-(2**63), 2**63 - 1, n_brands, dtype=np.int64),
        brand_mcc=np.concatenate([in_store_mcc, online_mcc]).astype(np.int32),
    )


def _local_picks(
    owner: np.ndarray,
    uniform: np.ndarray,
    user_home: np.ndarray,
    places: Places,
    merchants: Merchants,
    rng: np.random.Generator,
) -> np.ndarray:
    n_us = len(places.city) - len(FOREIGN_PLACES) - 1
    home = user_home[owner]
    distance = haversine_km(
        places.lat[:n_us, None], places.lon[:n_us, None], places.lat[None, :n_us], places.lon[None, :n_us]
    )
    neighbours = np.argsort(distance, axis=1)[:, 1 : NEIGHBOUR_PLACES + 1]
    choice = neighbours[home, rng.integers(0, neighbours.shape[1], len(owner))]
    place = np.where(rng.random(len(owner)) < HOME_SHARE, home, choice)
    return merchants.in_place(place, uniform)


def _favorites(n_users: int, rng: np.random.Generator, pick, sizes: np.ndarray) -> Favorites:
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    owner = np.repeat(np.arange(n_users), sizes)
    merchant = pick(owner, rng.random(len(owner)))
    rank = np.arange(len(owner)) - offsets[owner] + 1
    weight = rank**-ZIPF_EXPONENT
    total = np.add.reduceat(weight, offsets[:-1])
    share = weight / total[owner]
    cum = np.cumsum(share)  # each user's shares sum to 1, so user u's segment ends at u + 1
    cum[offsets[1:] - 1] = np.arange(1, n_users + 1)  # exact segment ends despite rounding
    return Favorites(offsets=offsets, merchant=merchant.astype(np.int64), cum=cum, share=share)
