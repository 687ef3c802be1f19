"""One module per command: ``add_arguments(parser)`` and ``async def main(args) -> int``."""
