import sys

from analysis.memory import keep_freed_memory

keep_freed_memory()  # first, before pandas and pyarrow allocate: see analysis/memory.py

from analysis.cli import main  # noqa: E402

sys.exit(main())
