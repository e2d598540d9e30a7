"""course_lib: the shared helper package of the deep-learning course.

``course_lib.scratch`` holds the from-scratch NumPy implementations (no torch
import anywhere in there); ``course_lib.twins`` holds their PyTorch twins.
The other modules are the course's plumbing: device and seeding, offline
datasets, plots, widgets, exercise checks and benchmarks.
"""

__version__ = "0.1.0"
