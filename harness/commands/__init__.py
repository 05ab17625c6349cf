"""Subcommands of `callproof`; one module per command, light imports only."""
