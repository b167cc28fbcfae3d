"""The order service's domain logic: lookups and writes on the order database, importable in process.

Rules:

- Every read and write names the order *and* the shopper's email or phone; an order whose customer has
  neither gets the same ``NotFound`` as an order that does not exist, so no shopper reads another's order and
  nobody learns which order numbers exist.
- Cancel and address change only before shipping (``placed``/``paid``); a return only once delivered and
  inside the return window; one open return per order.
- Writes run in one transaction (row lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite). A write made with an
  idempotency key stores its response; the same key with the same request replays it without writing again,
  the same key with a different request is a ``ConflictError``.
- Order ids are only ever bound as parameters; nothing a shopper types is formatted into SQL.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.pool import StaticPool

from backends.constants import (
    BEFORE_SHIPPING,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_ORDER_ID_LENGTH,
    ORDER_CANCELLED,
    ORDER_DELIVERED,
    ORDER_PAID,
    ORDER_RETURNED,
    ORDER_SHIPPED,
    REFUND_PENDING,
    RETURN_RECEIVED,
    RETURN_REQUESTED,
)
from backends.errors import ConflictError, InvalidRequest, NotFound
from backends.orders.models import (
    AddressChange,
    Base,
    Customer,
    IdempotencyKey,
    Order,
    OrderEvent,
    Refund,
    ReturnRequest,
    Shipment,
)
from backends.shoppers import normalize_email, normalize_phone

Clock = Callable[[], datetime]

TRACKING_URLS = {
    "DHL": "https://www.dhl.com/track?tracking-id={}",
    "UPS": "https://www.ups.com/track?tracknum={}",
    "DPD": "https://tracking.dpd.de/status/en_US/parcel/{}",
    "Royal Mail": "https://www.royalmail.com/track-your-item#/tracking-results/{}",
    "FedEx": "https://www.fedex.com/fedextrack/?trknbr={}",
    "Evri": "https://www.evri.com/track/parcel/{}",
}
RETURN_DROP_OFF_DAYS = 14


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment: datetime | None) -> str | None:
    moment = as_utc(moment)
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def money(cents: int) -> float:
    return round(cents / 100, 2)


def create_db_engine(url: str, schema: str | None = None, echo: bool = False) -> Engine:
    """An engine for ``url``: SQLite (file or memory) with sane transaction handling, or any SQLAlchemy URL.

    :param schema: PostgreSQL schema to put the tables in (tests use a private one)
    """
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        if not memory:
            path = url.split("///", 1)[-1]
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30},
                               **({"poolclass": StaticPool} if memory else {}))

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # let the "begin" hook below start transactions
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            readonly = connection.get_execution_options().get("kefu_readonly", False)
            connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")
    else:
        engine = create_engine(url, echo=echo, pool_pre_ping=True)
    if schema:
        engine = engine.execution_options(schema_translate_map={None: schema})
    return engine


class OrderService:
    """Order lookups and writes over one database.

    :param engine: from ``create_db_engine``
    :param clock: returns "now" (UTC); tests pass a fixed clock
    """

    def __init__(self, engine: Engine, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.clock = clock
        self._read_engine = engine.execution_options(kefu_readonly=True)

    @classmethod
    def from_url(cls, url: str, schema: str | None = None, create: bool = True, clock: Clock = utcnow
                 ) -> OrderService:
        service = cls(create_db_engine(url, schema), clock)
        if create:
            service.create_schema()
        return service

    def create_schema(self) -> None:
        Base.metadata.create_all(self.engine)

    def drop_schema(self) -> None:
        Base.metadata.drop_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def count_orders(self) -> int:
        with Session(self._read_engine) as session:
            return session.scalar(select(func.count()).select_from(Order)) or 0

    # ------------------------------------------------------------------ reads

    def get_order(self, order_id: str, *, email: str | None = None, phone: str | None = None) -> dict[str, Any]:
        """The order with items, shipment and tracking, return eligibility and refunds."""
        with Session(self._read_engine) as session:
            order = self._verified_order(session, order_id, email, phone)
            return self._order_view(order)

    def refund_status(self, order_id: str, *, email: str | None = None, phone: str | None = None
                      ) -> dict[str, Any]:
        """Refunds of the order and, when a return is open, whether its refund is still to come."""
        with Session(self._read_engine) as session:
            order = self._verified_order(session, order_id, email, phone)
            open_returns = [r for r in order.returns if r.status in (RETURN_REQUESTED, RETURN_RECEIVED)]
            return {
                "order_id": order.id, "order_status": order.status, "currency": order.currency,
                "refunds": [self._refund_view(r) for r in order.refunds],
                "open_return": self._return_view(open_returns[-1], order) if open_returns else None,
            }

    # ------------------------------------------------------------------ writes

    def cancel_order(self, order_id: str, *, email: str | None = None, phone: str | None = None,
                     reason: str = "", idempotency_key: str | None = None) -> dict[str, Any]:
        """Cancel an order that has not shipped; a paid order gets a pending refund of its total."""
        oid = self._clean_order_id(order_id)

        def write(session: Session) -> dict[str, Any]:
            order = self._verified_order(session, oid, email, phone, lock=True)
            if order.status == ORDER_CANCELLED:
                raise ConflictError(f"Order {order.id} is already cancelled.", code="already_cancelled",
                                    details={"status": order.status})
            if order.status not in BEFORE_SHIPPING:
                raise ConflictError(
                    f"Order {order.id} has already {order.status}, so it can no longer be cancelled; "
                    "you can return it once it has arrived.", code="not_cancellable", details={"status": order.status})
            now = self.clock()
            refund = None
            if order.status == ORDER_PAID:
                refund = Refund(id=self._refund_id(session, order), order_id=order.id, reason="cancellation",
                                amount_cents=order.total_cents, method="original payment method",
                                status=REFUND_PENDING, created_at=now)
                session.add(refund)
            previous = order.status
            order.status, order.cancelled_at, order.version = ORDER_CANCELLED, now, order.version + 1
            session.add(OrderEvent(order_id=order.id, kind="cancelled", occurred_at=now,
                                   detail={"reason": reason[:500], "previous_status": previous}))
            session.flush()
            return {"order_id": order.id, "status": order.status, "cancelled_at": iso(now),
                    "refund": self._refund_view(refund) if refund else None}

        return self._write("cancel", idempotency_key, {"order_id": oid, "email": normalize_email(email),
                                                       "phone": normalize_phone(phone)}, write)

    def start_return(self, order_id: str, *, email: str | None = None, phone: str | None = None,
                     reason: str = "", idempotency_key: str | None = None) -> dict[str, Any]:
        """Open a return for a delivered order inside its return window (one open return per order)."""
        oid = self._clean_order_id(order_id)
        reason = (reason or "").strip()
        if not reason:
            raise InvalidRequest("a return needs a reason", code="missing_reason")

        def write(session: Session) -> dict[str, Any]:
            order = self._verified_order(session, oid, email, phone, lock=True)
            now = self.clock()
            self._check_returnable(order, now)
            number = session.scalar(select(func.count()).select_from(ReturnRequest)
                                    .where(ReturnRequest.order_id == order.id)) or 0
            request = ReturnRequest(id=f"R{order.id[1:]}-{number + 1}", order_id=order.id, status=RETURN_REQUESTED,
                                    reason=reason[:1000], created_at=now)
            session.add(request)
            order.version += 1
            session.add(OrderEvent(order_id=order.id, kind="return_requested", occurred_at=now,
                                   detail={"return_id": request.id, "reason": reason[:500]}))
            session.flush()
            return {"order_id": order.id, "status": order.status, "return": self._return_view(request, order)}

        return self._write("return", idempotency_key, {"order_id": oid, "email": normalize_email(email),
                                                       "phone": normalize_phone(phone), "reason": reason}, write)

    def change_address(self, order_id: str, *, email: str | None = None, phone: str | None = None,
                       new_address: str = "", idempotency_key: str | None = None) -> dict[str, Any]:
        """Change the delivery address of an order that has not shipped."""
        oid = self._clean_order_id(order_id)
        new_address = " ".join((new_address or "").split())
        if not 8 <= len(new_address) <= 300 or not any(ch.isdigit() for ch in new_address):
            raise InvalidRequest("the new address needs a street, a house number, a postcode and a city",
                                 code="invalid_address")

        def write(session: Session) -> dict[str, Any]:
            order = self._verified_order(session, oid, email, phone, lock=True)
            if order.status not in BEFORE_SHIPPING:
                raise ConflictError(
                    f"Order {order.id} has already {order.status}, so its address can no longer be changed.",
                    code="already_shipped", details={"status": order.status})
            now = self.clock()
            old = order.shipping_address
            session.add(AddressChange(order_id=order.id, old_address=old, new_address=new_address, changed_at=now))
            session.add(OrderEvent(order_id=order.id, kind="address_changed", occurred_at=now,
                                   detail={"new_address": new_address}))
            order.shipping_address, order.version = new_address, order.version + 1
            session.flush()
            return {"order_id": order.id, "status": order.status, "shipping_address": new_address,
                    "previous_address": old, "changed_at": iso(now)}

        return self._write("address", idempotency_key, {"order_id": oid, "email": normalize_email(email),
                                                        "phone": normalize_phone(phone), "new_address": new_address},
                           write)

    # ------------------------------------------------------------------ internals

    def _write(self, operation: str, key: str | None, request: dict[str, Any],
               write: Callable[[Session], dict[str, Any]]) -> dict[str, Any]:
        """Run ``write`` in one transaction, storing (or replaying) the response under the idempotency key."""
        if key is not None:
            key = key.strip()
            if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
                raise InvalidRequest(f"an idempotency key must be 1-{MAX_IDEMPOTENCY_KEY_LENGTH} printable characters",
                                     code="invalid_idempotency_key")
        digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        for attempt in range(2):
            try:
                with Session(self.engine, expire_on_commit=False) as session, session.begin():
                    if key is not None:
                        stored = session.scalar(select(IdempotencyKey).where(
                            IdempotencyKey.operation == operation, IdempotencyKey.key == key))
                        if stored is not None:
                            if stored.request_hash != digest:
                                raise ConflictError("This idempotency key was already used for a different request.",
                                                    code="idempotency_key_reused")
                            return {**stored.response, "replayed": True}
                    response = write(session)
                    if key is not None:
                        session.add(IdempotencyKey(operation=operation, key=key, request_hash=digest,
                                                   response=response, created_at=self.clock()))
                        session.flush()
                    return {**response, "replayed": False}
            except IntegrityError:
                if key is None or attempt == 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _clean_order_id(order_id: str | None) -> str:
        cleaned = (order_id or "").strip().lstrip("#").upper()
        if not cleaned:
            raise InvalidRequest("an order number is required", code="missing_order_id")
        if len(cleaned) > MAX_ORDER_ID_LENGTH:
            raise InvalidRequest(f"an order number has at most {MAX_ORDER_ID_LENGTH} characters",
                                 code="invalid_order_id")
        return cleaned

    def _verified_order(self, session: Session, order_id: str, email: str | None, phone: str | None,
                        lock: bool = False) -> Order:
        oid = self._clean_order_id(order_id)
        email_n, phone_n = normalize_email(email), normalize_phone(phone)
        if not email_n and len(phone_n) < 6:
            raise InvalidRequest("the email address or phone number on the order is required",
                                 code="verification_required")
        query = (select(Order).join(Customer).where(Order.id == oid)
                 .options(selectinload(Order.items), selectinload(Order.shipment).selectinload(Shipment.events),
                          selectinload(Order.returns), selectinload(Order.refunds), selectinload(Order.customer)))
        if lock:
            query = query.with_for_update(of=Order)
        order = session.scalar(query)
        verified = order is not None and (
            (bool(email_n) and order.customer.email == email_n)
            or (len(phone_n) >= 6 and order.customer.phone_digits == phone_n))
        if not verified:
            raise NotFound("No order with that number matches that email address or phone number.",
                           code="order_not_found")
        return order

    def _check_returnable(self, order: Order, now: datetime) -> None:
        if order.status == ORDER_RETURNED:
            raise ConflictError(f"Order {order.id} has already been returned.", code="already_returned")
        if order.status == ORDER_CANCELLED:
            raise ConflictError(f"Order {order.id} was cancelled, so there is nothing to return.",
                                code="order_cancelled")
        if order.status != ORDER_DELIVERED:
            raise ConflictError(f"Order {order.id} hasn't been delivered yet ({order.status}); a return starts once "
                                "it has arrived.", code="not_delivered", details={"status": order.status})
        deadline = self._return_deadline(order)
        if deadline is not None and now > deadline:
            raise ConflictError(
                f"The {order.return_window_days}-day return window for order {order.id} closed on "
                f"{deadline:%d %b %Y}.", code="return_window_closed", details={"deadline": iso(deadline)})
        if any(r.status in (RETURN_REQUESTED, RETURN_RECEIVED) for r in order.returns):
            raise ConflictError(f"A return for order {order.id} is already open.", code="return_already_open")

    @staticmethod
    def _return_deadline(order: Order) -> datetime | None:
        delivered = as_utc(order.delivered_at)
        return delivered + timedelta(days=order.return_window_days) if delivered else None

    @staticmethod
    def _refund_id(session: Session, order: Order) -> str:
        number = session.scalar(select(func.count()).select_from(Refund).where(Refund.order_id == order.id)) or 0
        return f"F{order.id[1:]}-{number + 1}"

    @staticmethod
    def _refund_view(refund: Refund) -> dict[str, Any]:
        return {"refund_id": refund.id, "status": refund.status, "amount": money(refund.amount_cents),
                "reason": refund.reason, "method": refund.method, "created_at": iso(refund.created_at),
                "completed_at": iso(refund.completed_at),
                "expected_by": iso(as_utc(refund.created_at) + timedelta(days=5)) if not refund.completed_at else None}

    def _return_view(self, request: ReturnRequest, order: Order) -> dict[str, Any]:
        created = as_utc(request.created_at)
        return {"return_id": request.id, "status": request.status, "reason": request.reason,
                "created_at": iso(created), "drop_off_by": iso(created + timedelta(days=RETURN_DROP_OFF_DAYS)),
                "label_url": f"https://shop.example/returns/{request.id}/label.pdf",
                "refund_amount": money(order.total_cents)}

    def _order_view(self, order: Order) -> dict[str, Any]:
        now = self.clock()
        shipment = order.shipment
        deadline = self._return_deadline(order)
        eligible, why_not = True, None
        try:
            self._check_returnable(order, now)
        except ConflictError as exc:
            eligible, why_not = False, exc.code
        view: dict[str, Any] = {
            "order_id": order.id, "status": order.status, "currency": order.currency, "total": money(order.total_cents),
            "placed_at": iso(order.placed_at), "paid_at": iso(order.paid_at), "shipped_at": iso(order.shipped_at),
            "delivered_at": iso(order.delivered_at), "cancelled_at": iso(order.cancelled_at),
            "shipping_address": order.shipping_address, "customer_name": order.customer.name,
            "items": [{"item_id": i.item_id, "sku": i.sku, "title": i.title, "category": i.category,
                       "quantity": i.quantity, "unit_price": money(i.unit_price_cents), "color": i.color,
                       "size": i.size} for i in order.items],
            "can_cancel": order.status in BEFORE_SHIPPING, "can_change_address": order.status in BEFORE_SHIPPING,
            "return_policy": {"window_days": order.return_window_days, "deadline": iso(deadline),
                              "eligible": eligible, "reason": why_not},
            "returns": [self._return_view(r, order) for r in order.returns],
            "refunds": [self._refund_view(r) for r in order.refunds],
            "shipment": None,
        }
        if shipment is not None:
            eta = as_utc(shipment.estimated_delivery)
            view["shipment"] = {
                "carrier": shipment.carrier, "service": shipment.service, "tracking_number": shipment.tracking_number,
                "tracking_url": TRACKING_URLS.get(shipment.carrier, "{}").format(shipment.tracking_number),
                "estimated_delivery": iso(eta), "delivered_at": iso(shipment.delivered_at),
                "delayed": order.status == ORDER_SHIPPED and eta is not None and eta < now,
                "events": [{"at": iso(e.occurred_at), "code": e.code, "location": e.location,
                            "description": e.description} for e in shipment.events],
            }
        return view
