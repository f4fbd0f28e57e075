"""Turn the generator's index columns into a typed TRANSACTIONS Arrow table (plus ground truth).

Strings come from lookup tables with Arrow `take`, ids from `TxnIdAssigner`; nothing loops over
rows in Python.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fraudlake.producer.kaggle_codec import minutes_to_hhmm
from fraudlake.producer.population import Population
from fraudlake.producer.txn_columns import LEGIT, MECHANISMS, USE_CHIP_TEXT, TxnColumns
from fraudlake.schemas import TRANSACTIONS, to_arrow_schema
from fraudlake.schemas.ids import TxnIdAssigner

TRUTH_COLUMNS = pa.schema([pa.field("fraud_mechanism", pa.string()), pa.field("fraud_event", pa.int64())])
MINUTE_MS = 60_000


class TableBuilder:
    def __init__(self, pop: Population, error_text: list[str | None]) -> None:
        self.pop = pop
        self._errors = pa.array(error_text, pa.string())
        self._use_chip = pa.array(USE_CHIP_TEXT)
        self._hhmm = minutes_to_hhmm()
        self._mechanisms = pa.array(
            [None if i == LEGIT else m for i, m in enumerate(MECHANISMS)], pa.string()
        )
        self._merchant_id = pc.cast(pa.array(pop.merchants.brand_name), pa.string())
        self._ids = TxnIdAssigner()
        self.schema = to_arrow_schema(TRANSACTIONS)
        for fld in TRUTH_COLUMNS:
            self.schema = self.schema.append(fld)

    def build(self, txns: TxnColumns) -> pa.Table:
        pop, merchants, places = self.pop, self.pop.merchants, self.pop.places
        user = pop.card_user[txns.card]
        card_index = pop.card_index[txns.card]
        merchant_name = merchants.name_of(txns.merchant)
        place = pa.array(merchants.place[txns.merchant])
        card = pa.array(txns.card)
        days = (txns.minute // 1440).astype("datetime64[D]")
        months = days.astype("datetime64[M]")
        cents = np.rint(txns.amount * 100).astype(np.int64)
        columns = {
            "txn_id": self._ids.assign(user, card_index, txns.minute, cents, merchant_name),
            "event_ts": pa.array(txns.minute * MINUTE_MS, pa.timestamp("ms", tz="UTC")),
            "user_id": pop.user_id.take(pa.array(user)),
            "card_id": pop.card_id.take(card),
            "merchant_id": self._merchant_id.take(pa.array(pop.merchants.brand[txns.merchant])),
            "card_token": pop.card_token.take(card),
            "user": user.astype(np.int32),
            "card": card_index.astype(np.int32),
            "year": (months.astype("datetime64[Y]").astype(np.int64) + 1970).astype(np.int32),
            "month": (months.astype(np.int64) % 12 + 1).astype(np.int32),
            "day": ((days - months.astype("datetime64[D]")).astype(np.int64) + 1).astype(np.int32),
            "time": self._hhmm.take(pa.array(txns.minute % 1440)),
            "amount": txns.amount,
            "use_chip": self._use_chip.take(pa.array(txns.use_chip)),
            "merchant_name": merchant_name,
            "merchant_city": places.city.take(place),
            "merchant_state": places.state.take(place),
            "zip": places.zip.take(place),
            "mcc": merchants.mcc_of(txns.merchant),
            "errors": self._errors.take(pa.array(txns.error)),
            "is_fraud": txns.is_fraud,
            "fraud_mechanism": self._mechanisms.take(pa.array(txns.mechanism)),
            "fraud_event": pa.array(txns.event, mask=txns.event < 0),
        }
        return pa.table(columns).cast(self.schema)
