"""`make check-wheel`: the package as users install it.

1. Copy what git tracks or would track (no `build/`, no egg-info, nothing ignored) into a temporary folder:
   a stale `build/lib` in the working tree would otherwise slip deleted or unlisted modules into the wheel.
2. Build the sdist, then the wheel *from the sdist* (`python -m build --no-isolation`: offline, with the project
   venv's setuptools; fallback `setup.py sdist` + `pip wheel`), so a file MANIFEST.in forgets is missing too.
3. Install the wheel (`--no-deps --no-index`) into a throwaway venv that sees the project venv's dependencies
   through a `.pth` line (a plain path: the project's editable-install hook is not run there).
4. From outside the repository, with `python -I`, import every module the wheel's RECORD lists, check that it
   came from the throwaway venv, and read the vendored widget JavaScript through `widget_js_assets` (sha256).

It fails when a module of the source tree is missing from the wheel (tsai once released a wheel without its
subpackages), when a subpackage (models, backtest, portfolio, ...) is absent, when a module does not import, or
when the vendored JavaScript is missing or damaged.

    .venv/bin/python tools/check_wheel.py [--src DIR] [--keep]
"""
import argparse, csv, io, os, shutil, subprocess, sys, sysconfig, tempfile, zipfile
from pathlib import Path

PKG = 'ai_trading_framework'
DATA_DIRS = ['widget-js']  # package data that must ship (see MANIFEST.in and setup.py's package_data)

def run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if r.returncode:
        sys.exit(f"FAIL: {' '.join(map(str, cmd))} exited {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r.stdout

def source_files(src:Path) -> list[str]:
    "What git tracks or would track under `src` (untracked but not ignored files included)."
    out = run(['git', '-C', src, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'])
    return sorted({f for f in out.split('\0') if f and (src / f).is_file()})

def build(src:Path, files:list[str], work:Path) -> tuple[Path, Path]:
    "sdist and wheel (built from the sdist) of a clean copy of `src`."
    tree, dist = work / 'tree', work / 'dist'
    for f in files:
        (tree / f).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(src / f, tree / f)
    try:
        import build  # noqa: F401  (nbdev depends on it; the dev extra should name it)
        run([sys.executable, '-m', 'build', '--no-isolation', '--outdir', dist, tree])
    except ImportError:
        print('note: the `build` package is missing; building with setup.py sdist + pip wheel')
        run([sys.executable, 'setup.py', '-q', 'sdist', '--dist-dir', dist], cwd=tree)
        sdist = next(dist.glob('*.tar.gz'))
        run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation', '--no-index', '-w', dist, sdist])
    (sdist,), (wheel,) = list(dist.glob('*.tar.gz')), list(dist.glob('*.whl'))
    return sdist, wheel

def wheel_files(wheel:Path) -> list[str]:
    "The files the wheel's RECORD lists."
    with zipfile.ZipFile(wheel) as z:
        record = next(n for n in z.namelist() if n.endswith('.dist-info/RECORD'))
        return [row[0] for row in csv.reader(io.StringIO(z.read(record).decode()))]

def check_contents(files:list[str], in_wheel:list[str]) -> list[str]:
    "What the source tree has and the wheel lacks: modules, subpackages, package data."
    have = set(in_wheel)
    want = [f for f in files if f.startswith(PKG + '/') and (f.endswith('.py') or any(f.startswith(f'{PKG}/{d}/') for d in DATA_DIRS))]
    missing = [f for f in want if f not in have]
    subpkgs = sorted({str(Path(f).parent) for f in files if f.startswith(PKG + '/') and f.endswith('/__init__.py')})
    missing += [f'{p}/ (subpackage)' for p in subpkgs if f'{p}/__init__.py' not in have]
    return missing

IMPORT_ALL = r'''
import importlib, sys, traceback
from pathlib import Path
prefix, mods = Path(sys.argv[1]).resolve(), sys.argv[2:]
bad = []
for m in mods:
    try:
        mod = importlib.import_module(m)
        if prefix not in Path(mod.__file__).resolve().parents: bad.append(f'{m}: imported from {mod.__file__}, not from the wheel')
    except Exception: bad.append(f'{m}: ' + traceback.format_exc().strip().splitlines()[-1])
try:
    from ai_trading_framework.backtest.widgets import widget_js_assets
    js = widget_js_assets(); assert js['requirejs'] and js['html_manager'] and js['anywidget']
except Exception as e: bad.append(f'widget_js_assets(): {type(e).__name__}: {e}')
print('\n'.join(bad)); sys.exit(1 if bad else 0)
'''

def install_and_import(wheel:Path, in_wheel:list[str], work:Path) -> None:
    "Install `wheel` into a throwaway venv over the project venv's dependencies and import every module it lists."
    venv = work / 'venv'
    run([sys.executable, '-m', 'venv', '--without-pip', venv])
    vpy = venv / 'bin' / 'python'
    site = Path(run([vpy, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])']).strip())
    (site / '_project_venv.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')  # dependencies only: a plain path runs no .pth hooks
    run([sys.executable, '-m', 'pip', '--python', vpy, 'install', '-q', '--no-deps', '--no-index', wheel])
    mods = sorted(f[:-3].replace('/', '.').removesuffix('.__init__') for f in in_wheel if f.startswith(PKG + '/') and f.endswith('.py'))
    out = tempfile.mkdtemp(dir=work)  # outside the repository: the source tree must not be importable
    r = subprocess.run([vpy, '-I', '-c', IMPORT_ALL, site, *mods], capture_output=True, text=True, cwd=out)
    if r.returncode: sys.exit(f"FAIL: the installed wheel does not import:\n{r.stdout}{r.stderr[-3000:]}")
    print(f'ok: {len(mods)} modules import from the installed wheel (outside the repository), vendored JavaScript checks out')

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--src', default=Path(__file__).resolve().parents[1], type=Path, help='the repository to package')
    ap.add_argument('--keep', action='store_true', help='keep the temporary folder (printed)')
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix='atf-check-wheel-'))
    try:
        files = source_files(a.src.resolve())
        sdist, wheel = build(a.src.resolve(), files, work)
        in_wheel = wheel_files(wheel)
        with zipfile.ZipFile(wheel) as z: size = sum(i.file_size for i in z.infolist())
        print(f'built {sdist.name} ({sdist.stat().st_size/1e6:.1f} MB) and {wheel.name} ({wheel.stat().st_size/1e6:.1f} MB, {size/1e6:.1f} MB unpacked)', flush=True)
        missing = check_contents(files, in_wheel)
        if missing: sys.exit('FAIL: the wheel lacks what the source tree has (check setup.py packages/package_data and MANIFEST.in):\n  ' + '\n  '.join(missing))
        install_and_import(wheel, in_wheel, work)
    finally:
        if a.keep: print('kept', work)
        else: shutil.rmtree(work, ignore_errors=True)

if __name__ == '__main__': main()
