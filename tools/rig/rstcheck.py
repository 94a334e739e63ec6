#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Parse reStructuredText files with docutils and fail on any warning.

Usage: rstcheck.py FILE...
Sphinx's toctree directive (Documentation/index.rst) and :doc: role are
accepted, and the documents they name are checked to exist.
"""
import os
import sys

import docutils.core
import docutils.utils
from docutils import nodes
from docutils.parsers.rst import Directive, directives, roles

missing = []


class TocTree(Directive):
    has_content = True
    option_spec = {'maxdepth': directives.nonnegative_int}

    def run(self):
        here = os.path.dirname(self.state.document.current_source)
        for entry in self.content:
            entry = entry.strip()
            if entry and not os.path.exists(os.path.join(here, entry + '.rst')):
                missing.append(f'{self.state.document.current_source}: '
                               f'toctree entry {entry!r} has no {entry}.rst')
        return []


directives.register_directive('toctree', TocTree)


def doc_role(name, rawtext, text, lineno, inliner, options=None,
             content=None):
    target = text.split('<')[-1].rstrip('>').strip()
    here = os.path.dirname(inliner.document.current_source)
    if not os.path.exists(os.path.join(here, target + '.rst')):
        missing.append(f'{inliner.document.current_source}:{lineno}: '
                       f':doc: target {target!r} has no {target}.rst')
    return [nodes.literal(rawtext, text)], []


roles.register_local_role('doc', doc_role)


def main(files):
    bad = 0
    for f in files:
        with open(f, encoding='utf-8') as fh:
            text = fh.read()
        try:
            docutils.core.publish_doctree(
                text, source_path=f,
                settings_overrides={'halt_level': 2, 'report_level': 2,
                                    'warning_stream': sys.stderr})
        except docutils.utils.SystemMessage:
            bad += 1  # docutils has printed it
    for m in missing:
        print(m, file=sys.stderr)
    return 1 if bad or missing else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
