"""Maps the user's card onto one import namespace.

src/ is the `fraudlake` package and operator/ is `fraudlake.operator`, so the top-level folders stay
as the layout promises (src/producer, src/api, src/ui, operator/) while nothing imports as a
generic or stdlib-shadowing name (`operator`, `api`, `ui`).
"""

from setuptools import find_packages, setup

# clickhouse/ (top-level DDL, the single source of truth) ships as fraudlake.ddl.
PACKAGE_DIRS = {"fraudlake": "src", "fraudlake.operator": "operator", "fraudlake.ddl": "clickhouse"}


def _packages() -> list[str]:
    found = []
    for package, folder in PACKAGE_DIRS.items():
        found.append(package)
        found += [f"{package}.{sub}" for sub in find_packages(folder, exclude=["examples*", "operator*"])]
    return found


setup(
    packages=_packages(),
    package_dir=PACKAGE_DIRS,
    package_data={
        "fraudlake.operator": ["crd/*.yaml"],
        "fraudlake.ddl": ["*.sql"],
        "fraudlake": ["**/*.sql", "**/*.json", "**/*.avsc"],
    },
)
