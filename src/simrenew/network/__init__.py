"""Adapters for the ``NetworkGateway`` port: how provisioning commands reach the network."""
