"""`kefu backends --simulated-shop`: the user simulator's shop over HTTP, put back in its seeded state on demand."""

from __future__ import annotations

from backends import simulation
from backends.orders.app import create_app
from backends.orders.service import OrderService


async def test_reseed_puts_a_cancelled_order_back(aiohttp_client, tmp_path):
    service = OrderService.from_url(f"sqlite:///{tmp_path / 'shop.db'}", clock=simulation.simulation_clock)
    simulation.seed_simulated_shop(service)
    client = await aiohttp_client(create_app(service, reseed_with=lambda: simulation.seed_simulated_shop(service)))
    state = simulation.open()  # the same shop in process: the simulator's shoppers own these orders
    order = next(o for o in simulation.orders(state) if o["status"] == "paid")
    simulation.close(state)
    path = f"/orders/{order['order_id']}"
    cancel = await client.post(path + "/cancel", json={"email": order["email"], "reason": "test"})
    assert cancel.status == 200
    assert (await (await client.get(path, params={"email": order["email"]})).json())["status"] == "cancelled"
    reseeded = await client.post("/simulation/reseed")
    assert reseeded.status == 200 and (await reseeded.json())["orders"] > 0
    assert (await (await client.get(path, params={"email": order["email"]})).json())["status"] == "paid"


async def test_the_production_app_has_no_reseed(aiohttp_client, tmp_path):
    service = OrderService.from_url(f"sqlite:///{tmp_path / 'shop.db'}")
    client = await aiohttp_client(create_app(service))
    assert (await client.post("/simulation/reseed")).status in (404, 405)
