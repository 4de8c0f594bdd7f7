#!/usr/bin/env python3
"""Porting table: which of SPDK's JSON-RPC methods spio_tgt answers.

The methods are those SPDK's rpc.py offers in its groups bdev, bdev_nvme, app, log,
iobuf, nvmf and lvol: the `subparsers.add_parser('NAME'` calls of
python/spdk/cli/GROUP.py, plus the framework methods rpc.py keeps in
python/spdk/cli/misc.py, which SPDK's JSON-RPC documentation puts under its
App Framework (they go to the app group). Their status comes from the
hand-maintained docs/porting_status.tsv (method, status, notes):

    yes     spio has it, same parameters and reply shape
    limits  spio has it, with the limits the notes give
    no      refused with -32601 "Method not found"; the notes say why or
            which issue brings it
    client  rpc.py implements it itself with other methods

Every method rpc.py has in these groups needs a row, and every row a method
rpc.py has; otherwise the script names the difference and exits 1. It then
rewrites the part of docs/porting_from_spdk.md between
<!-- porting-table:begin --> and <!-- porting-table:end -->; with --check it
only says whether that part is up to date (exit 1 if not).

rpc.py comes from the directory given (the spdk-rpc client, holding
python/spdk/cli/, or its scripts/rpc.py), else SPIO_SPDK_RPC (the path of
scripts/rpc.py, as tests/compat/test_rpcpy.sh takes it), else
../shared/clients/spdk-rpc next to the source tree. Without it the script
exits 77 (skipped, for CTest).

Usage: scripts/porting-table.py [--check] [RPCPY_DIR]
"""

import argparse
import os
import re
import sys

SKIP = 77

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATUS_FILE = os.path.join(REPO_ROOT, 'docs', 'porting_status.tsv')
DOC_FILE = os.path.join(REPO_ROOT, 'docs', 'porting_from_spdk.md')
BEGIN = '<!-- porting-table:begin -->'
END = '<!-- porting-table:end -->'

# rpc.py's groups covered, in the order of the tables.
GROUPS = ['bdev', 'bdev_nvme', 'app', 'log', 'iobuf', 'nvmf', 'lvol']

# Methods rpc.py defines outside cli/app.py that SPDK documents under its App
# Framework (doc/jsonrpc.md) or, for the four configuration commands, as
# rpc.py's own commands: listed in the app group wherever rpc.py keeps them.
# misc.py's accel module methods (ioat_scan_accel_module, ...) stay out.
APP_ELSEWHERE = {
    'spdk_get_version',
    'save_config',
    'load_config',
    'save_subsystem_config',
    'load_subsystem_config',
    'framework_get_subsystems',
    'framework_get_config',
    'env_dpdk_get_mem_stats',
    'framework_get_pci_devices',
}

STATUSES = {
    'yes': 'yes',
    'limits': 'limits',
    'no': 'no',
    'client': 'client',
}
# Statuses whose rows must say something in their notes.
NEEDS_NOTES = {'limits', 'no', 'client'}

ADD_PARSER = re.compile(r"""\bsubparsers\.add_parser\(\s*(['"])([A-Za-z0-9_]+)\1""")
IMPORT = re.compile(r'^from \. import (\w+)', re.M)


class Failure(Exception):
    pass


def find_rpcpy(arg):
    """The spdk-rpc directory (holding python/spdk/cli), or None."""
    cands = []
    if arg is not None:
        cands.append(arg)
    else:
        env = os.environ.get('SPIO_SPDK_RPC')
        if env:
            cands.append(env)
        cands.append(os.path.join(REPO_ROOT, '..', 'shared', 'clients', 'spdk-rpc'))
        # a clone elsewhere (CI's temporary checkout) finds the machine's copy
        cands.append('/work/shared/clients/spdk-rpc')
    for c in cands:
        # Accept the client directory, its scripts/ directory or scripts/rpc.py.
        for d in (c, os.path.dirname(c), os.path.dirname(os.path.dirname(c))):
            if d and os.path.isdir(os.path.join(d, 'python', 'spdk', 'cli')):
                return os.path.normpath(d)
    return None


def cli_modules(cli_dir):
    """rpc.py's cli modules in the order rpc.py registers them (the imports
    of cli/__init__.py), then any other module file, by name."""
    names = []
    init = os.path.join(cli_dir, '__init__.py')
    if os.path.isfile(init):
        with open(init, encoding='utf-8') as f:
            names = IMPORT.findall(f.read())
    rest = sorted(n[:-3] for n in os.listdir(cli_dir)
                  if n.endswith('.py') and n != '__init__.py' and n[:-3] not in names)
    return [n for n in names + rest if os.path.isfile(os.path.join(cli_dir, n + '.py'))]


def rpcpy_methods(rpcpy_dir):
    """{group: [(method, source file), ...]} in rpc.py's order."""
    cli_dir = os.path.join(rpcpy_dir, 'python', 'spdk', 'cli')
    groups = {g: [] for g in GROUPS}
    seen = {}
    for mod in cli_modules(cli_dir):
        with open(os.path.join(cli_dir, mod + '.py'), encoding='utf-8') as f:
            src = f.read()
        for m in ADD_PARSER.finditer(src):
            method = m.group(2)
            if mod in groups:
                group = mod
            elif method in APP_ELSEWHERE:
                group = 'app'
            else:
                continue
            if method in seen:
                raise Failure('rpc.py defines %s twice (cli/%s.py and cli/%s.py)'
                              % (method, seen[method], mod))
            seen[method] = mod
            groups[group].append((method, mod + '.py'))
    missing = [g for g in GROUPS if not groups[g]]
    if missing:
        raise Failure('no methods found in rpc.py for group(s) %s under %s'
                      % (', '.join(missing), cli_dir))
    return groups


def read_status(path):
    """{method: (status, notes)} from the TSV."""
    rows = {}
    errors = []
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip('\n')
            if not line.strip() or line.startswith('#'):
                continue
            cols = line.split('\t')
            if cols[0] == 'method' and lineno == 1:
                continue  # header
            where = '%s:%d' % (os.path.relpath(path, REPO_ROOT), lineno)
            if len(cols) not in (2, 3):
                errors.append('%s: expected method<TAB>status<TAB>notes, got %d column(s)'
                              % (where, len(cols)))
                continue
            method, status = cols[0].strip(), cols[1].strip()
            notes = cols[2].strip() if len(cols) == 3 else ''
            if status not in STATUSES:
                errors.append('%s: %s: status "%s" is not one of %s'
                              % (where, method, status, ', '.join(STATUSES)))
            elif status in NEEDS_NOTES and not notes:
                errors.append('%s: %s: status "%s" needs notes' % (where, method, status))
            if method in rows:
                errors.append('%s: %s has a second row' % (where, method))
            rows[method] = (status, notes)
    if errors:
        raise Failure('\n'.join(errors))
    return rows


def check_rows(groups, rows):
    known = {m for g in GROUPS for m, _ in groups[g]}
    errors = []
    absent = [m for g in GROUPS for m, _ in groups[g] if m not in rows]
    if absent:
        errors.append('methods of rpc.py without a row in docs/porting_status.tsv:\n  '
                      + '\n  '.join(absent))
    extra = [m for m in rows if m not in known]
    if extra:
        errors.append('rows of docs/porting_status.tsv naming methods rpc.py does not have '
                      '(in groups %s):\n  ' % ', '.join(GROUPS) + '\n  '.join(extra))
    if errors:
        raise Failure('\n'.join(errors))


def cell(text):
    return text.replace('|', '\\|')


def render(groups, rows):
    out = []
    total = {s: 0 for s in STATUSES}
    for g in GROUPS:
        methods = groups[g]
        files = []
        for _, src in methods:
            if src not in files:
                files.append(src)
        counts = {s: 0 for s in STATUSES}
        for m, _ in methods:
            counts[rows[m][0]] += 1
            total[rows[m][0]] += 1
        out.append('### %s' % g)
        out.append('')
        parts = []
        for src in files:
            names = [m for m, s in methods if s == src]
            if len(files) == 1:
                parts.append('`cli/%s`' % src)
            elif src == g + '.py':
                parts.append('`cli/%s` (%d)' % (src, len(names)))
            else:
                parts.append('`cli/%s` (%d: %s)' % (src, len(names),
                                                    ', '.join('`%s`' % n for n in names)))
        out.append('%d methods from rpc.py\'s %s: %s.' % (
            len(methods), ' and '.join(parts),
            ', '.join('%d %s' % (counts[s], s) for s in STATUSES if counts[s])))
        out.append('')
        out.append('| method | spio | notes |')
        out.append('|---|---|---|')
        for m, _ in methods:
            status, notes = rows[m]
            out.append('| `%s` | %s |%s|' % (m, STATUSES[status],
                                               ' %s ' % cell(notes) if notes else ' '))
        out.append('')
    n = sum(total.values())
    out.append('All groups: %d methods: %s.' % (
        n, ', '.join('%d %s' % (total[s], s) for s in STATUSES if total[s])))
    return '\n'.join(out) + '\n'


def splice(doc, table):
    b = doc.find(BEGIN)
    e = doc.find(END)
    if b < 0 or e < 0 or e < b or doc.count(BEGIN) != 1 or doc.count(END) != 1:
        raise Failure('%s needs one %s and one %s after it'
                      % (os.path.relpath(DOC_FILE, REPO_ROOT), BEGIN, END))
    return doc[:b + len(BEGIN)] + '\n' + table + doc[e:]


def main():
    ap = argparse.ArgumentParser(
        description='Write the table of SPDK RPC methods in docs/porting_from_spdk.md '
        'from docs/porting_status.tsv and SPDK\'s rpc.py.')
    ap.add_argument('rpcpy_dir', nargs='?',
                    help='SPDK rpc.py client directory (holding python/spdk/cli); default: '
                    '$SPIO_SPDK_RPC, else ../shared/clients/spdk-rpc next to the source tree')
    ap.add_argument('--check', action='store_true',
                    help='only check that the table in the document is up to date')
    args = ap.parse_args()

    rpcpy_dir = find_rpcpy(args.rpcpy_dir)
    if rpcpy_dir is None:
        print('porting_table: SKIP: SPDK\'s rpc.py client (python/spdk/cli) not found (%s)'
              % (args.rpcpy_dir or 'SPIO_SPDK_RPC or ../shared/clients/spdk-rpc'))
        return SKIP
    try:
        groups = rpcpy_methods(rpcpy_dir)
        rows = read_status(STATUS_FILE)
        check_rows(groups, rows)
        with open(DOC_FILE, encoding='utf-8') as f:
            doc = f.read()
        new = splice(doc, render(groups, rows))
    except Failure as ex:
        print('porting_table: %s' % ex, file=sys.stderr)
        return 1
    rel = os.path.relpath(DOC_FILE, REPO_ROOT)
    if args.check:
        if new != doc:
            print('porting_table: %s is not up to date with docs/porting_status.tsv and '
                  'rpc.py (%s): run scripts/porting-table.py' % (rel, rpcpy_dir),
                  file=sys.stderr)
            return 1
        print('porting_table: %s is up to date (rpc.py: %s)' % (rel, rpcpy_dir))
        return 0
    if new != doc:
        with open(DOC_FILE, 'w', encoding='utf-8') as f:
            f.write(new)
        print('porting_table: %s rewritten' % rel)
    else:
        print('porting_table: %s already up to date' % rel)
    return 0


if __name__ == '__main__':
    sys.exit(main())
