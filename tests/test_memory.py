"""The memory check reads a container's limit: cgroup v2 and v1 trees faked in tmp_path."""

import pytest

from nnfunc import memory
from nnfunc.errors import ConfigError

GB = 10**9
V1_NO_LIMIT = "9223372036854771712"  # what v1 writes when no limit is set (4 KiB pages)


def fake(tmp_path, self_cgroup, files):
    """A proc root whose self/cgroup reads ``self_cgroup``, and a cgroup root holding ``files`` ({path: text})."""
    proc, cgroup = tmp_path / "proc", tmp_path / "cgroup"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "cgroup").write_text(self_cgroup)
    cgroup.mkdir()
    for path, text in files.items():
        (cgroup / path).parent.mkdir(parents=True, exist_ok=True)
        (cgroup / path).write_text(text)
    return dict(proc=proc, cgroup=cgroup)


@pytest.fixture
def machine_of_64_gb(monkeypatch):
    monkeypatch.setattr(memory, "physical_memory", lambda: 64 * GB)


def test_a_v2_limit_below_physical_memory_is_the_bound(tmp_path, machine_of_64_gb):
    roots = fake(tmp_path, "0::/app.slice/job\n", {"app.slice/job/memory.max": f"{2 * GB}\n"})
    assert memory.cgroup_limit(**roots) == 2 * GB
    assert memory.available(**roots) == (2 * GB, "container")
    memory.check(2 * GB, "it", "fix", **roots)  # at the limit: fine
    with pytest.raises(ConfigError) as info:
        memory.check(3 * GB, "the run's arrays", "pass fewer", **roots)
    assert str(info.value) == ("the run's arrays: about 3.0 GB, more than this container's 2.0 GB memory limit; "
                               "pass fewer")


def test_a_limit_on_an_ancestor_cgroup_binds_too(tmp_path, machine_of_64_gb):
    roots = fake(tmp_path, "0::/app.slice/job\n",
                 {"app.slice/memory.max": f"{5 * GB}\n", "app.slice/job/memory.max": "max\n"})
    assert memory.available(**roots) == (5 * GB, "container")


def test_the_process_s_own_cgroup_is_read_not_a_sibling(tmp_path, machine_of_64_gb):
    roots = fake(tmp_path, "0::/mine\n", {"other/memory.max": f"{GB}\n", "mine/memory.max": f"{7 * GB}\n"})
    assert memory.cgroup_limit(**roots) == 7 * GB


@pytest.mark.parametrize("files", [{"memory.max": "max\n"}, {}], ids=["max", "absent"])
def test_v2_max_or_no_file_falls_back_to_physical_memory(tmp_path, machine_of_64_gb, files):
    roots = fake(tmp_path, "0::/\n", files)
    assert memory.cgroup_limit(**roots) is None
    assert memory.available(**roots) == (64 * GB, "machine")
    with pytest.raises(ConfigError, match=r"^it: about 65.0 GB, more than this machine's 64.0 GB of memory; fix$"):
        memory.check(65 * GB, "it", "fix", **roots)


def test_a_v1_limit_below_physical_memory_is_the_bound(tmp_path, machine_of_64_gb):
    roots = fake(tmp_path, "5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n",
                 {"memory/docker/abc/memory.limit_in_bytes": f"{3 * GB}\n",
                  "memory/memory.limit_in_bytes": V1_NO_LIMIT + "\n"})
    assert memory.available(**roots) == (3 * GB, "container")


@pytest.mark.parametrize("limit", [V1_NO_LIMIT, str(2**63 - 1)])
def test_a_v1_limit_that_means_none_falls_back_to_physical_memory(tmp_path, machine_of_64_gb, limit):
    roots = fake(tmp_path, "4:memory:/\n", {"memory/memory.limit_in_bytes": limit + "\n"})
    assert memory.cgroup_limit(**roots) is None
    assert memory.available(**roots) == (64 * GB, "machine")


def test_a_limit_above_physical_memory_leaves_physical_memory_the_bound(tmp_path, machine_of_64_gb):
    roots = fake(tmp_path, "0::/\n", {"memory.max": f"{100 * GB}\n"})
    assert memory.available(**roots) == (64 * GB, "machine")


def test_a_hybrid_system_reads_the_unified_mount_and_v1_takes_the_smaller(tmp_path, machine_of_64_gb):
    roots = fake(tmp_path, "4:memory:/job\n0::/job\n",
                 {"unified/job/memory.max": f"{6 * GB}\n", "memory/job/memory.limit_in_bytes": f"{9 * GB}\n"})
    assert memory.available(**roots) == (6 * GB, "container")


def test_no_proc_means_no_limit_and_unknown_memory_means_no_opinion(tmp_path, monkeypatch):
    roots = dict(proc=tmp_path / "nowhere", cgroup=tmp_path / "nowhere")
    assert memory.cgroup_limit(**roots) is None
    monkeypatch.setattr(memory, "physical_memory", lambda: None)
    assert memory.available(**roots) == (None, None)
    memory.check(10**30, "anything", "nothing", **roots)


def test_a_container_limit_is_the_bound_even_where_physical_memory_is_unknown(tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "physical_memory", lambda: None)
    roots = fake(tmp_path, "0::/\n", {"memory.max": f"{GB}\n"})
    assert memory.available(**roots) == (GB, "container")


def test_this_machine_s_bound_is_never_above_its_physical_memory():
    total, bound = memory.available()
    physical = memory.physical_memory()
    if physical is not None:
        assert total is not None and 0 < total <= physical
        assert bound == ("machine" if total == physical else "container")
