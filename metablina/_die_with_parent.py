"""Imported first by the figure server (see :func:`metablina.workers.start_figure_server`): the server
ends with the process that started it, even one killed while the server still imports the plotting
modules (multiprocessing's own stop, the end of a pipe, is read only once they are imported)."""

from metablina.workers import kill_me_when_parent_dies

kill_me_when_parent_dies()
