"""Maps the user's card onto one import namespace.

src/ is the `fraudlake` package and operator/ is `fraudlake.operator`, so the top-level folders stay
as the layout promises (src/producer, src/api, src/ui, operator/) while nothing imports as a
generic or stdlib-shadowing name (`operator`, `api`, `ui`). Two folders of data ride along as
packages so installed code finds them with importlib.resources: clickhouse/ (the DDL templates)
and data/ (the vendored TabFormer sample).
"""

from pathlib import Path

from setuptools import find_packages, setup

# Folders absent from a build context are left out: the service images do not copy data/.
PACKAGE_DIRS = {
    package: folder
    for package, folder in {
        "fraudlake": "src",
        "fraudlake.operator": "operator",
        "fraudlake.ddl": "clickhouse",
        "fraudlake.sample_data": "data",
    }.items()
    if Path(folder).is_dir()
}


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
        "fraudlake.sample_data": ["tabformer-sample/*.csv", "tabformer-sample/LICENSE", "README.md"],
        "fraudlake": ["**/*.sql", "**/*.json", "**/*.avsc"],
    },
)
