# One definition of the shared fixtures, in tests/data/conftest.py.
from tests.data.conftest import quickstart_root  # noqa: F401
