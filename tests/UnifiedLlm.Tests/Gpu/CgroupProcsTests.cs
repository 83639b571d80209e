using UnifiedLlm.Daemon.Gpu;

namespace UnifiedLlm.Tests.Gpu;

/// <summary>Reads real cgroups of this machine's kernel.</summary>
public sealed class CgroupProcsTests
{
    [Fact]
    public async Task Reads_the_processes_of_a_real_cgroup_and_its_children()
    {
        await using var cgroup = TestCgroup.Create();
        var direct = await cgroup.StartSleeperAsync();
        var nested = await cgroup.StartSleeperAsync(cgroup.CreateChild("worker"));

        var pids = await CgroupProcs.ReadAsync(cgroup.ControlGroup, TestContext.Current.CancellationToken);

        Assert.Equal(new HashSet<int> { direct, nested }, pids.ToHashSet());
    }

    [Fact]
    public async Task Own_cgroup_contains_this_process()
    {
        var (_, own) = TestCgroup.OwnCgroup();

        var pids = await CgroupProcs.ReadAsync(own, TestContext.Current.CancellationToken);

        Assert.Contains(Environment.ProcessId, pids);
    }

    [Fact]
    public async Task A_cgroup_that_does_not_exist_has_no_processes()
    {
        var pids = await CgroupProcs.ReadAsync($"/ullm.slice/ullm-gone-{Guid.NewGuid():N}.service", TestContext.Current.CancellationToken);

        Assert.Empty(pids);
    }

    [Theory]
    [InlineData("ullm.slice/x.service")]
    [InlineData("/ullm.slice/../../etc")]
    public async Task A_path_that_is_not_an_absolute_cgroup_path_is_rejected(string controlGroup)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(
            () => CgroupProcs.ReadAsync(controlGroup, TestContext.Current.CancellationToken));

        Assert.Contains($"'{controlGroup}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unit_pid_source_maps_each_pid_in_a_units_cgroup_to_the_unit()
    {
        await using var llama = TestCgroup.Create();
        await using var vllm = TestCgroup.Create();
        var llamaPid = await llama.StartSleeperAsync();
        var vllmPid = await vllm.StartSleeperAsync();
        var source = new CgroupUnitPidSource(() =>
        [
            new UnitControlGroup("ullm-llama.service", llama.ControlGroup),
            new UnitControlGroup("ullm-vllm.service", vllm.ControlGroup),
            new UnitControlGroup("ullm-stopped.service", $"/ullm.slice/ullm-stopped-{Guid.NewGuid():N}.service"),
        ]);

        var unitByPid = await source.GetUnitPidsAsync(TestContext.Current.CancellationToken);

        Assert.Equal(
            new Dictionary<int, string> { [llamaPid] = "ullm-llama.service", [vllmPid] = "ullm-vllm.service" },
            unitByPid);
    }
}
