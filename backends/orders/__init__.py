"""Order service: a real database of customers, orders, shipments, returns and refunds."""
