"""Only the optional C extension lives here; the project's metadata is in pyproject.toml.

snakafka.protocol._record_scan is the produce path's record framing scan (see
src/snakafka/protocol/record_scan.py). It is `optional`: where no C compiler or Python
headers are available the install still succeeds and the identical pure-Python scan
runs instead (slower; `snakafka.protocol.record_scan.IMPLEMENTATION` says which).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "snakafka.protocol._record_scan",
            sources=["src/snakafka/protocol/_record_scan.c"],
            optional=True,
        )
    ]
)
