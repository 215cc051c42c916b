"""Pricing rules for the inventory service."""

from decimal import Decimal

TAX_RATE = Decimal("0.2")
BULK_THRESHOLD = 100


def unit_price(item, quantity):
    """Price of one unit, with the bulk discount applied."""
    price = item.base_price
    if quantity >= BULK_THRESHOLD:
        price = price * Decimal("0.9")
    return price


def order_total(items):
    total = Decimal(0)
    for item, quantity in items:
        total += unit_price(item, quantity) * quantity
    return round(total * (1 + TAX_RATE), 2)


def legacy_discount(price):
    # Kept for the 2019 contracts only.
    return price - Decimal("5")
