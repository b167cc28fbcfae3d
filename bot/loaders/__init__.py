"""Loaders for a Rasa 3.x project's files: domain, config, training data, endpoints, credentials."""
