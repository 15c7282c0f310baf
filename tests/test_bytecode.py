"""Bytecode for a freshly unpacked build: written where supervisord looks, once."""

import importlib.util
import subprocess
import sys

from bootstrap import bytecode


def test_compile_file_writes_what_an_isolated_interpreter_loads(tmp_path):
    module = tmp_path / "sample.py"
    module.write_text("ANSWER = 42\n")

    bytecode.compile_file(str(module))

    cached = tmp_path / "__pycache__" / f"sample.{sys.implementation.cache_tag}.pyc"
    header = cached.read_bytes()[:16]
    assert header[:4] == importlib.util.MAGIC_NUMBER
    if sys.version_info >= (3, 7):
        # Checked by the source's mtime and size, as supervisord's import checks it.
        assert int.from_bytes(header[4:8], "little") == 0
        stamp = header[8:16]
    else:
        stamp = header[4:12]
    st = module.stat()
    assert int.from_bytes(stamp[:4], "little") == int(st.st_mtime)
    assert int.from_bytes(stamp[4:8], "little") == st.st_size
    result = subprocess.run([sys.executable, "-I", "-S", "-c",
                             "import sys; sys.path.insert(0, sys.argv[1]); import sample; "
                             "print(sample.ANSWER, sample.__cached__)", str(tmp_path)],
                            stdout=subprocess.PIPE, universal_newlines=True)
    assert result.stdout.split() == ["42", str(cached)]


def test_compile_file_leaves_bytecode_that_is_there(tmp_path):
    module = tmp_path / "sample.py"
    module.write_text("X = 1\n")
    cached = tmp_path / "__pycache__" / f"sample.{sys.implementation.cache_tag}.pyc"
    cached.parent.mkdir()
    cached.write_bytes(b"written by the other interpreter")

    bytecode.compile_file(str(module))

    assert cached.read_bytes() == b"written by the other interpreter"


def test_compile_file_shrugs_off_a_file_that_does_not_compile(tmp_path):
    module = tmp_path / "broken.py"
    module.write_text("def (:\n")

    bytecode.compile_file(str(module))

    assert not list(tmp_path.glob("__pycache__/*.pyc"))


def test_this_process_takes_the_list_from_the_other_end():
    order = bytecode.compile_order()
    assert order[:len(bytecode.SUPERVISORD_MODULES)] == bytecode.SUPERVISORD_MODULES
    assert order[-1] == "supervisor/options.py"
    assert len(set(order)) == len(order)
