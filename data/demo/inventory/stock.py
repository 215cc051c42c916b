"""Stock levels and reservations."""

import logging

log = logging.getLogger(__name__)


class Stock:
    def __init__(self):
        self.levels = {}

    def reserve(self, sku, count):
        available = self.levels.get(sku, 0)
        if count > available:
            raise ValueError(f"only {available} of {sku} left")
        self.levels[sku] = available - count
        log.info("reserved %s x %s", count, sku)
        return self.levels[sku]

    def restock(self, sku, count):
        self.levels[sku] = self.levels.get(sku, 0) + count
