"""Two-tower recommendation service: catalog interactions, model, training, serving."""
