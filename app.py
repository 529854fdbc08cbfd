"""Generative Model Playground: `python app.py` (or `python -m playground serve`)."""

import os

from playground.ui import build_demo, launch

demo = build_demo()

if __name__ == "__main__":
    launch(demo, server_name="0.0.0.0" if os.environ.get("SPACE_ID") else None)
