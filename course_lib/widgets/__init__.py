"""The interactive demos, one module per chapter (``course_lib.widgets.ch01``, ...).

Each demo builds ipywidgets controls and draws its first frame straight
away, so a notebook executed headless (CI, nbconvert) still stores a figure
in the widget's saved state; the chapter follows it with a static figure.
"""

from course_lib.widgets.ch01 import perceptron_widget

__all__ = ["perceptron_widget"]
