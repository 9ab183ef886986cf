"""Subcommands of the `edgetui` CLI; each module registers one or more on the argparse subparsers."""
