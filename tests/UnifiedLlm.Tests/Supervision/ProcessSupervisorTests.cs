using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using UnifiedLlm.Daemon.Supervision;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Supervision;

public sealed class ProcessSupervisorTests : SupervisorBehaviourTests
{
    private readonly TempDirectory directory = new("ullm-process-supervisor");
    private readonly FakeLogger<ProcessSupervisor> logger = new();

    protected override string SharedDirectory => directory.Path;

    internal override Task<IBackendSupervisor> CreateSupervisorAsync() => Task.FromResult<IBackendSupervisor>(new ProcessSupervisor(logger));

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        directory.Dispose();
    }

    [Fact]
    public async Task Output_is_logged_with_the_unit_and_model_and_limits_are_reported_once()
    {
        var launch = Shell("echo hello-log") with { MemoryMaxBytes = 1 << 30, GpuIndices = [1, 3] };
        var first = await Supervisor.StartAsync(launch, CancellationToken.None);
        await first.Exited.WaitAsync(Patience);
        var second = await Supervisor.StartAsync(Shell("echo \"cuda=$CUDA_VISIBLE_DEVICES\"") with { GpuIndices = [1, 3] }, CancellationToken.None);
        await second.Exited.WaitAsync(Patience);

        var line = Assert.Single(logger.Collector.GetSnapshot(), r => r.Message.Contains("hello-log"));
        Assert.Contains(line.Scopes.OfType<IEnumerable<KeyValuePair<string, object>>>().SelectMany(s => s), p => p.Key == "ULLM_UNIT" && (string)p.Value == first.UnitName);
        Assert.Contains(line.Scopes.OfType<IEnumerable<KeyValuePair<string, object>>>().SelectMany(s => s), p => p.Key == "ULLM_MODEL" && (string)p.Value == "test/model");
        Assert.Single(logger.Collector.GetSnapshot(), r => r.Level == LogLevel.Warning && r.Message.Contains("cannot enforce MemoryMax"));
        Assert.Equal(["cuda=1,3"], await ReadLogAsync(second.UnitName, 10, follow: false, take: 10));
    }

    [Fact]
    public async Task A_CUDA_VISIBLE_DEVICES_set_by_the_launch_wins()
    {
        var launch = Shell("echo \"cuda=$CUDA_VISIBLE_DEVICES\"", environment: new Dictionary<string, string> { ["CUDA_VISIBLE_DEVICES"] = "GPU-abc" }) with { GpuIndices = [0] };
        var backend = await Supervisor.StartAsync(launch, CancellationToken.None);
        await backend.Exited.WaitAsync(Patience);

        Assert.Equal(["cuda=GPU-abc"], await ReadLogAsync(backend.UnitName, 10, follow: false, take: 10));
    }

    [Fact]
    public async Task Each_backend_leads_its_own_process_group()
    {
        var backend = await Supervisor.StartAsync(Shell("sleep 600"), CancellationToken.None);

        var stat = await File.ReadAllTextAsync($"/proc/{backend.MainPid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        Assert.Equal(backend.MainPid.ToString(), fields[2]);
        Assert.Equal(backend.MainPid.ToString(), fields[3]);
    }

    [Fact]
    public async Task A_backend_outlives_its_supervisor_and_the_next_one_over_the_same_directory_adopts_it()
    {
        var outputs = directory.File("outputs");
        var ready = directory.File("adopt-ready");
        var go = directory.File("adopt-go");
        var launch = Shell($"trap 'echo bye; exit 0' TERM; echo up > {ready}; echo early; while [ ! -e {go} ]; do sleep 0.1; done; echo late; while :; do sleep 0.1; done");
        var first = new ProcessSupervisor(logger, outputs, stopOnDispose: false);
        var original = await first.StartAsync(launch, CancellationToken.None);
        await WaitForFileAsync(ready);
        await first.DisposeAsync();
        Assert.False(original.Exited.IsCompleted);
        Assert.NotNull(BackendProcessScan.StartTime(original.MainPid));

        await using var elsewhere = new ProcessSupervisor(logger, directory.File("other-outputs"));
        Assert.Empty(await elsewhere.ListRunningAsync(CancellationToken.None));

        await using var second = new ProcessSupervisor(logger, outputs);
        var adopted = Assert.Single(await second.ListRunningAsync(CancellationToken.None));
        Assert.Equal((launch.UnitName, "test/model", original.MainPid, original.InvocationId), (adopted.UnitName, adopted.Model, adopted.MainPid, adopted.InvocationId));
        Assert.Contains("early", await EventuallyAsync(() => ReadAdoptedLogAsync(second, launch.UnitName), l => l.Contains("early")));
        await File.WriteAllTextAsync(go, "go");
        Assert.Contains("late", await EventuallyAsync(() => ReadAdoptedLogAsync(second, launch.UnitName), l => l.Contains("late")));

        var exit = await second.StopAsync(launch.UnitName, CancellationToken.None).WaitAsync(Patience);
        Assert.Equal("unknown", exit.Result);
        Assert.Contains("started by an earlier ullmd", exit.Reason);
        Assert.Null(BackendProcessScan.StartTime(original.MainPid));
        Assert.Contains("bye", await ReadAdoptedLogAsync(second, launch.UnitName));
    }

    private static async Task<List<string>> ReadAdoptedLogAsync(ProcessSupervisor supervisor, string unit)
    {
        var lines = new List<string>();
        await foreach (var line in supervisor.ReadLogsAsync(unit, 100, follow: false, CancellationToken.None))
        {
            lines.Add(line.Message);
        }

        return lines;
    }
}
