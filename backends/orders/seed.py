"""Fill the order database with realistic orders: the synthetic shoppers' purchases plus the demo stories' orders.

Purchases of the interaction log (the same log the recommender trains on, shifted so it ends "now") are grouped
per shopper and day into orders. An order's state follows its age: minutes old -> ``placed``, hours -> ``paid``,
days -> ``shipped`` with a carrier, tracking number and tracking events, older -> ``delivered``; a few are
``cancelled`` before shipping or ``returned`` with a refund, and some delivered ones have a return in progress.
``DEMO_ORDERS`` (A48213 for mia.k@gmail.com...) are added in the exact state the demo stories need.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from backends.catalog import CATEGORIES, Catalog, Item, generate_catalog
from backends.constants import (
    DEFAULT_SEED,
    EVENT_PURCHASE,
    ORDER_CANCELLED,
    ORDER_DELIVERED,
    ORDER_PAID,
    ORDER_PLACED,
    ORDER_RETURNED,
    ORDER_SHIPPED,
    REFUND_COMPLETED,
    REFUND_PENDING,
    REFUND_PROCESSING,
    RETURN_REFUNDED,
    RETURN_REQUESTED,
)
from backends.orders.models import (
    Base,
    Customer,
    Order,
    OrderEvent,
    OrderItem,
    Refund,
    ReturnRequest,
    Shipment,
    TrackingEvent,
)
from backends.orders.service import OrderService
from backends.recommend.interactions import LOG_END, generate_interactions
from backends.shoppers import (
    DEMO_ORDERS,
    DEMO_SHOPPERS,
    DemoOrder,
    Shopper,
    generate_shoppers,
    normalize_phone,
)

CARRIERS = (
    ("DHL", "Parcel Connect", lambda r: f"JD{r.randint(10**15, 10**16 - 1)}"),
    ("UPS", "Standard", lambda r: f"1Z{r.randint(10**15, 10**16 - 1):X}"[:18]),
    ("DPD", "Classic", lambda r: f"{r.randint(10**13, 10**14 - 1)}"),
    ("Royal Mail", "Tracked 48", lambda r: f"TT{r.randint(10**8, 10**9 - 1)}GB"),
    ("FedEx", "International Economy", lambda r: f"{r.randint(10**11, 10**12 - 1)}"),
    ("Evri", "Next Day", lambda r: f"H{r.randint(10**14, 10**15 - 1)}"),
)
HUBS = ("Leipzig hub", "East Midlands hub", "Cologne parcel centre", "Heathrow gateway", "Frankfurt sort centre",
        "Manchester depot", "Hamburg depot", "Bristol delivery office")


@dataclass(frozen=True)
class SeedSummary:
    customers: int
    orders: int
    by_status: dict[str, int]


def _cents(price: float) -> int:
    return int(round(price * 100))


class _Builder:
    """Builds orders with their shipment, tracking, returns and refunds at a fixed 'now'."""

    def __init__(self, session: Session, now: datetime, rng: random.Random) -> None:
        self.session, self.now, self.rng = session, now, rng

    def customer(self, shopper: Shopper) -> Customer:
        customer = Customer(id=shopper.user_id, name=shopper.name, email=shopper.email.lower(), phone=shopper.phone,
                            phone_digits=normalize_phone(shopper.phone), created_at=self.now - timedelta(days=400))
        self.session.add(customer)
        return customer

    def order(self, order_id: str, customer: Customer, address: str, items: list[Item], placed: datetime,
              status: str, delayed: bool = False, refund_state: str = "", return_open: bool = False) -> Order:
        rng = self.rng
        total = sum(_cents(item.price) for item in items)
        window = min(CATEGORIES[item.category].return_days for item in items)
        order = Order(id=order_id, customer_id=customer.id, status=status, currency="USD", total_cents=total,
                      shipping_address=address, return_window_days=window, placed_at=placed)
        self.session.add(order)
        for item in items:
            self.session.add(OrderItem(order_id=order_id, item_id=item.item_id, sku=item.sku, title=item.title,
                                       category=item.category, quantity=1, unit_price_cents=_cents(item.price),
                                       color=rng.choice(item.colors) if item.colors else None,
                                       size=rng.choice(item.sizes) if item.sizes else None))
        self.event(order, "placed", placed)
        if status == ORDER_PLACED:
            return order
        order.paid_at = placed + timedelta(minutes=rng.uniform(1, 30))
        self.event(order, "paid", order.paid_at)
        if status == ORDER_CANCELLED:
            order.cancelled_at = order.paid_at + timedelta(hours=rng.uniform(1, 10))
            self.event(order, "cancelled", order.cancelled_at, reason="changed my mind")
            self.refund(order, "cancellation", order.cancelled_at, REFUND_COMPLETED)
            return order
        if status == ORDER_PAID:
            return order
        order.shipped_at = order.paid_at + timedelta(hours=rng.uniform(8, 30))
        delivered = status in (ORDER_DELIVERED, ORDER_RETURNED)
        self.shipment(order, delivered, delayed)
        if not delivered:
            return order
        if status == ORDER_RETURNED:
            opened = order.delivered_at + timedelta(days=rng.uniform(1, min(order.return_window_days - 1, 8)))
            request = ReturnRequest(id=f"R{order_id[1:]}-1", order_id=order_id, status=RETURN_REFUNDED,
                                    reason=rng.choice(("too small", "arrived damaged", "not as described",
                                                       "changed my mind")),
                                    created_at=opened, received_at=opened + timedelta(days=4))
            self.session.add(request)
            self.event(order, "return_requested", opened, return_id=request.id)
            self.event(order, "returned", request.received_at, return_id=request.id)
            refund_at = request.received_at + timedelta(hours=6)
            state = refund_state or REFUND_COMPLETED
            if state != REFUND_COMPLETED:  # still with the payment provider: issued recently
                refund_at = self.now - timedelta(hours=rng.uniform(6, 40))
            self.refund(order, "return", min(refund_at, self.now), state, return_id=request.id)
        elif return_open:
            opened = min(self.now - timedelta(hours=2), order.delivered_at + timedelta(days=rng.uniform(1, 4)))
            request = ReturnRequest(id=f"R{order_id[1:]}-1", order_id=order_id, status=RETURN_REQUESTED,
                                    reason="doesn't fit", created_at=opened)
            self.session.add(request)
            self.event(order, "return_requested", opened, return_id=request.id)
        return order

    def shipment(self, order: Order, delivered: bool, delayed: bool) -> None:
        rng = self.rng
        carrier, service, number = rng.choice(CARRIERS)
        shipped = order.shipped_at
        eta = shipped + timedelta(days=rng.choice((2, 3, 3, 4)))
        shipment = Shipment(order_id=order.id, carrier=carrier, service=service, tracking_number=number(rng),
                            estimated_delivery=eta, shipped_at=shipped)
        self.session.add(shipment)
        self.session.flush()
        events = [(shipped - timedelta(hours=3), "label_created", "Warehouse", "Shipping label created"),
                  (shipped, "picked_up", "Warehouse", f"Picked up by {carrier}")]
        moment = shipped
        for hub in rng.sample(HUBS, 2):
            moment += timedelta(hours=rng.uniform(8, 20))
            if moment < self.now:
                events.append((moment, "in_transit", hub, "Arrived at sorting facility"))
        if delayed:
            events.append((min(self.now - timedelta(hours=1), eta - timedelta(hours=6)), "delayed", events[-1][2],
                           "Delayed: the parcel missed its connection and will be sent on the next vehicle"))
        if delivered:
            order.delivered_at = shipment.delivered_at = min(eta - timedelta(hours=rng.uniform(0, 20)),
                                                             self.now - timedelta(hours=1))
            events.append((order.delivered_at - timedelta(hours=5), "out_for_delivery", "Local depot",
                           "Out for delivery"))
            events.append((order.delivered_at, "delivered", "Front door", "Delivered"))
            self.event(order, "delivered", order.delivered_at)
        for at, code, location, text in sorted(events):
            self.session.add(TrackingEvent(shipment_id=shipment.id, occurred_at=at, code=code, location=location,
                                           description=text))
        self.event(order, "shipped", shipped, carrier=carrier)

    def refund(self, order: Order, reason: str, at: datetime, state: str, return_id: str | None = None) -> None:
        self.session.add(Refund(id=f"F{order.id[1:]}-1", order_id=order.id, return_id=return_id, reason=reason,
                                amount_cents=order.total_cents, method="original payment method", status=state,
                                created_at=at, completed_at=at + timedelta(days=2) if state == REFUND_COMPLETED
                                else None))

    def event(self, order: Order, kind: str, at: datetime, **detail: str) -> None:
        self.session.add(OrderEvent(order_id=order.id, kind=kind, occurred_at=at, detail=detail))


def _status_for_age(age_days: float, rng: random.Random) -> tuple[str, str, bool]:
    """(status, refund state, return open) for an order placed ``age_days`` ago."""
    if age_days < 0.08:
        return ORDER_PLACED, "", False
    if age_days < 0.8:
        return (ORDER_CANCELLED if rng.random() < 0.05 else ORDER_PAID), "", False
    if rng.random() < 0.03:
        return ORDER_CANCELLED, "", False
    if age_days < 4:
        return ORDER_SHIPPED, "", False
    if age_days > 12 and rng.random() < 0.05:
        return ORDER_RETURNED, (REFUND_PROCESSING if age_days < 20 else REFUND_COMPLETED), False
    return ORDER_DELIVERED, "", rng.random() < 0.03 and age_days < 20


def seed_orders(service: OrderService, n_customers: int = 300, seed: int = DEFAULT_SEED,
                now: datetime | None = None, include_demo: bool = True, reset: bool = True,
                catalog: Catalog | None = None) -> SeedSummary:
    """Create the schema and fill it; with ``reset`` the existing rows are deleted first.

    :param n_customers: synthetic shoppers (``u00000``...) whose purchases become orders
    :param now: the moment the synthetic log is shifted to end at (default: the service clock)
    """
    now = now or service.clock()
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    rng = random.Random(seed * 31 + 7)
    catalog = catalog or generate_catalog(seed)
    shoppers = generate_shoppers(n_customers, seed, catalog)
    log = generate_interactions(catalog, shoppers, seed=seed, include_demo=False)
    shift = now.timestamp() - LOG_END
    service.create_schema()
    with Session(service.engine) as session, session.begin():
        if reset:
            for table in reversed(Base.metadata.sorted_tables):
                session.execute(delete(table))
        elif session.scalar(select(Order.id).limit(1)) is not None:
            raise RuntimeError("the order database is not empty; seed with reset=True to replace it")
        builder = _Builder(session, now, rng)
        customers = {shopper.user_id: builder.customer(shopper) for shopper in shoppers}
        by_user_day: dict[tuple[str, int], list] = defaultdict(list)
        for event in log:
            if event.event == EVENT_PURCHASE:
                by_user_day[(event.user_id, int((event.ts + shift) // 86_400))].append(event)
        used = set()
        addresses = {shopper.user_id: shopper.address for shopper in shoppers}
        for (user_id, _day), events in sorted(by_user_day.items(), key=lambda kv: kv[1][0].ts):
            order_id = _new_order_id(rng, used)
            placed = datetime.fromtimestamp(events[0].ts + shift, UTC)
            age = (now - placed).total_seconds() / 86_400
            status, refund, return_open = _status_for_age(age, rng)
            builder.order(order_id, customers[user_id], addresses[user_id], [catalog[e.item_id] for e in events],
                          placed, status, refund_state=refund, return_open=return_open)
        if include_demo:
            _seed_demo(builder, catalog, now)
        session.flush()
        counts: dict[str, int] = defaultdict(int)
        for status in session.scalars(select(Order.status)):
            counts[status] += 1
        n_customers_total = len(customers) + (len(DEMO_SHOPPERS) if include_demo else 0)
    return SeedSummary(n_customers_total, sum(counts.values()), dict(sorted(counts.items())))


def _new_order_id(rng: random.Random, used: set[str]) -> str:
    demo = {order.order_id for order in DEMO_ORDERS}
    while True:
        order_id = f"A{rng.randint(10000, 99999)}"
        if order_id not in used and order_id not in demo:
            used.add(order_id)
            return order_id


def _seed_demo(builder: _Builder, catalog: Catalog, now: datetime) -> None:
    by_title = {item.title: item for item in catalog}
    customers = {shopper.email: builder.customer(shopper) for shopper in DEMO_SHOPPERS}
    addresses = {shopper.email: shopper.address for shopper in DEMO_SHOPPERS}
    for spec in DEMO_ORDERS:
        _demo_order(builder, spec, customers[spec.email], addresses[spec.email], by_title, now)


def _demo_order(builder: _Builder, spec: DemoOrder, customer: Customer, address: str, by_title: dict[str, Item],
                now: datetime) -> None:
    items = [by_title[title] for title in spec.item_titles]
    placed = now - timedelta(days=spec.age_days)
    builder.order(spec.order_id, customer, address, items, placed, spec.status, delayed=spec.delayed,
                  refund_state={"processing": REFUND_PROCESSING, "completed": REFUND_COMPLETED,
                                "pending": REFUND_PENDING}.get(spec.refund, ""))

