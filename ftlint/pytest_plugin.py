"""pytest plugin for ftlint's runtime guard (work in progress: inert for now).

pytest imports every ``pytest11`` plugin in every run, so this module must stay cheap.
"""
