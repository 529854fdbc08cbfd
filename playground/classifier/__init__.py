"""The Fashion-MNIST classifier whose features the image metrics (FD, KID, precision, recall) use.

Not a tab of the app: it lives in ``playground.metrics``; this folder only registers its
``train`` and ``eval`` commands (``tab.py``)."""
