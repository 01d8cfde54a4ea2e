"""glibc allocator tuning: scoped to a block, restored after, respects the user."""

import ctypes
import json
import os
import subprocess
import sys
import textwrap

import pytest

from sktriplet.embedding import tune_cpu_allocator, tuned_cpu_allocator
from sktriplet.utils import _allocator


def _has_mallinfo2():
    try:
        ctypes.CDLL("libc.so.6").mallinfo2  # noqa: B018
    except (OSError, AttributeError):
        return False
    return True


glibc = pytest.mark.skipif(not _has_mallinfo2(), reason="needs glibc >= 2.33")

# A child process reports, for a 128 MiB array allocated at each step, whether
# glibc served it with mmap (the untuned behaviour) or from its heap (tuned).
PROBE = textwrap.dedent(
    """
    import ctypes, json, numpy as np
    from sktriplet.embedding import tune_cpu_allocator, tuned_cpu_allocator

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks "
            "fordblks keepcost").split()]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2

    def mmapped():
        before = libc.mallinfo2().hblkhd
        a = np.ones(1 << 24)
        grew = libc.mallinfo2().hblkhd - before >= a.nbytes
        del a
        return grew

    out = {"before": mmapped()}
    with tuned_cpu_allocator() as applied:
        out["applied"] = applied
        with tuned_cpu_allocator():
            pass
        out["inside"] = mmapped()  # still tuned after a nested block ended
    out["after"] = mmapped()
    {extra}
    print("RESULT", json.dumps(out))
    """
)


def probe(extra="", env=None):
    code = PROBE.replace("{extra}", extra)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    full_env.pop("GLIBC_TUNABLES", None)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full_env
    )
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT"))
    return json.loads(line[len("RESULT ") :])


@glibc
def test_tuned_block_serves_big_buffers_from_heap_and_restores():
    assert probe() == {
        "before": True,
        "applied": True,
        "inside": False,
        "after": True,
    }


@glibc
def test_tuned_block_leaves_user_settings_alone():
    out = probe(env={"MALLOC_TRIM_THRESHOLD_": "1000000"})
    # the user's settings rule: the block changes nothing
    assert out == {"before": True, "applied": False, "inside": True, "after": True}


@glibc
def test_global_tuning_survives_blocks():
    extra = """
    tune_cpu_allocator()
    with tuned_cpu_allocator() as applied:
        out["global_applied"] = applied
    out["after_global"] = mmapped()
    """
    out = probe(textwrap.dedent(extra))
    assert out["global_applied"] is True
    assert out["after_global"] is False


def test_bad_trim_threshold():
    with pytest.raises(ValueError, match="trim_threshold"):
        tune_cpu_allocator(-1)
    with pytest.raises(ValueError, match="trim_threshold"):
        with tuned_cpu_allocator(1.5):
            pass


def test_block_depth_back_to_zero_after_an_error():
    with pytest.raises(KeyError):
        with tuned_cpu_allocator():
            raise KeyError("boom")
    assert _allocator._state["depth"] == 0
    assert _allocator._state["applied"] is False
