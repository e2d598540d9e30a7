"""``python -m course_lib.bench``: the benchmark's command line (in ``course_lib.tools.bench``)."""

import sys

from course_lib.tools.bench import main

sys.exit(main())
