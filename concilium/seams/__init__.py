"""What users extend: the declarations of the seams (a tool, an observation) and their registries.

This package sits below the spec and the runtime and imports neither, so the spec can list what
the registries hold while it validates a file. The built-in implementations live in
`concilium/tools/builtin/` and `concilium/tools/observations/`; triggers, the third seam, in
`concilium/triggers.py`.
"""
