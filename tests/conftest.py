import sys
from pathlib import Path

# Shared test helpers (the article's classes, the optimizer case table) import by name.
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent / "optim"))
