"""Speed and scale measurements (not tests): `nox -s bench` prints their figures."""
