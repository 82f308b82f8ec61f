"""One module per dashboard page (not `pages/`: Streamlit would take that folder for
its own file-based navigation), each with a ``render()`` entry point."""
