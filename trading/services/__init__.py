"""Trading services: the functions that write (STYLE.md rule 1).

Modules: ``control`` (arm/disarm, kill switch), ``gate`` (effective safety gate state),
``orders`` (compare-and-set order transitions).
"""
