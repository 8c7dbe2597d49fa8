"""pbctl subcommands; each module exposes ``register(subparsers)``."""
