"""Imported last by the figure server (see :func:`metablina.workers.start_figure_server`): draws a figure of
each common kind (:func:`metablina.render.draw.warm_up`), so that every worker forked from the server starts
with its fonts loaded and its caches warm. Best effort: the server must start whatever happens here (it
survives only an ImportError in what it preloads), and a figure that cannot be drawn fails, with its
message, in the job that draws it."""

import contextlib

from metablina.render.draw import warm_up

with contextlib.suppress(Exception):
    warm_up()
