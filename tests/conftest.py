import os
import sys
import tempfile
from pathlib import Path

# Compiled race loops go to a cache of this run's own (subprocesses inherit it): no test loads a
# kernel another run compiled, and nothing is written to the user's ~/.cache.
os.environ["OPTARENA_CACHE_DIR"] = tempfile.mkdtemp(prefix="optarena-test-cache-")

# Shared test helpers (the article's classes, the optimizer case table) import by name.
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent / "optim"))
