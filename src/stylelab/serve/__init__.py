"""``stylelab serve``: a local web app with a live preview (see :mod:`stylelab.serve.app`).

:mod:`.app` imports Starlette and uvicorn (the ``serve`` extra); nothing outside it
imports them (:mod:`.options` and :mod:`.jobs` are plain Python), so ``stylelab --help``
and the other commands never pay for them.
"""
