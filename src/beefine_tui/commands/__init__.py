"""One module per subcommand: `add_arguments(parser)` and `run(args) -> int`.

cli.py imports every module here to build its parser, so these modules import engines (and Textual, for
`tui`) inside `run()`, not at module level: `beefine-tui --help` and shell completion stay at ~0.07 s
instead of ~0.3 s (~0.5 s with Textual). That is about start-up cost, not import cycles (there are none:
`lint-imports` checks).
"""
