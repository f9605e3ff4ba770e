"""``stylelab serve``: a local web app with a live preview (see :mod:`stylelab.serve.app`).

Its modules import Starlette and uvicorn (the ``serve`` extra); nothing else in stylelab
imports them, so ``stylelab --help`` and the other commands never pay for them.
"""
