"""The projects of the long-history suite: many releases spanning years, each a real archive."""

from __future__ import annotations

from benchmark_gen.realhistory import Project

# Years of releases per project (first to last), chosen for file moves (click's and packaging's
# move to src/, greenlet's C to C++), code moved between files (commander's split of index.js)
# and long-lived definitions edited many times. Disjoint versions from the short suites where
# they overlap in name: the short suites use consecutive releases, these use years.
LONG_PROJECTS: dict[str, Project] = {
    p.name: p
    for p in (
        Project(
            "click",
            "pypi",
            ("7.0", "7.1", "7.1.2", "8.0.0", "8.0.4", "8.1.0", "8.1.3", "8.1.7", "8.2.1"),
            "BSD-3-Clause",
            include=("click/", "src/click/"),
        ),
        Project(
            "packaging",
            "pypi",
            ("20.9", "21.0", "21.3", "22.0", "23.0", "23.2", "24.1", "25.0"),
            "Apache-2.0 OR BSD-2-Clause",
            include=("packaging/", "src/packaging/"),
        ),
        Project(
            "attrs",
            "pypi",
            ("19.1.0", "20.1.0", "20.3.0", "21.2.0", "21.4.0", "22.1.0", "23.1.0", "24.2.0", "25.1.0"),
            "MIT",
            include=("src/",),
        ),
        Project(
            "simplejson",
            "pypi",
            ("3.16.0", "3.17.0", "3.17.2", "3.17.6", "3.18.0", "3.18.4", "3.19.1", "3.19.3"),
            "MIT OR AFL-2.1",
            include=("simplejson/",),
        ),
        Project(
            "greenlet",
            "pypi",
            ("1.0.0", "1.1.0", "1.1.3", "2.0.0", "2.0.2", "3.0.0", "3.0.3", "3.1.1", "3.2.0"),
            "MIT AND PSF-2.0",
            include=("src/",),
        ),
        Project(
            "commander",
            "npm",
            ("5.0.0", "6.0.0", "7.0.0", "8.0.0", "9.0.0", "10.0.0", "11.0.0", "12.0.0", "13.0.0", "14.0.0"),
            "MIT",
            include=("lib/", "index.js", "esm.mjs"),
        ),
        Project(
            "express",
            "npm",
            ("4.16.0", "4.16.4", "4.17.0", "4.17.3", "4.18.0", "4.18.2", "4.19.2", "4.21.0", "4.22.1"),
            "MIT",
            include=("lib/", "index.js"),
        ),
        Project(
            "rxjs",
            "npm",
            ("6.4.0", "6.5.0", "6.6.0", "6.6.7", "7.0.0", "7.3.0", "7.5.0", "7.8.0", "7.8.2"),
            "Apache-2.0",
            include=("src/internal/operators/", "src/internal/util/"),
        ),
        Project(
            "pybind11",
            "pypi",
            ("2.6.0", "2.7.0", "2.8.0", "2.9.0", "2.10.0", "2.11.1", "2.12.0", "2.13.6"),
            "BSD-3-Clause",
            include=("pybind11/include/",),
        ),
    )
}
