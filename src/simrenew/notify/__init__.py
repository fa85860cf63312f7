"""Adapters for the ``SmsSender`` and ``EmailSender`` ports, one module per channel."""
