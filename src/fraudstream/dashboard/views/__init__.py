"""One module per dashboard page, each with a ``render()`` entry point."""
