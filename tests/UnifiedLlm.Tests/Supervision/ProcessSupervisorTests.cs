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
    public async Task A_backend_starts_with_no_signal_ignored_or_blocked_its_input_from_dev_null_and_its_output_in_its_file()
    {
        // The test host, like ullmd, ignores SIGPIPE; a backend must not inherit that (exec keeps ignored signals).
        var backend = await Supervisor.StartAsync(Shell("exec sleep 600"), CancellationToken.None);

        // Read once the shell has exec'd sleep: a shell blocks every signal for a moment around a fork of its own.
        while ((await File.ReadAllTextAsync($"/proc/{backend.MainPid}/comm")).Trim() != "sleep")
        {
            await Task.Delay(10);
        }

        var status = await File.ReadAllLinesAsync($"/proc/{backend.MainPid}/status");
        var signals = status.Where(l => l.StartsWith("SigIgn:", StringComparison.Ordinal) || l.StartsWith("SigBlk:", StringComparison.Ordinal)).Select(l => l.Replace('\t', ' '));
        Assert.Equal(["SigBlk: 0000000000000000", "SigIgn: 0000000000000000"], signals);
        Assert.Equal("/dev/null", new FileInfo($"/proc/{backend.MainPid}/fd/0").LinkTarget);
        var output = new FileInfo($"/proc/{backend.MainPid}/fd/1").LinkTarget;
        Assert.EndsWith($"{backend.UnitName}.log", output, StringComparison.Ordinal);
        Assert.Equal(output, new FileInfo($"/proc/{backend.MainPid}/fd/2").LinkTarget);
    }

    [Fact]
    public async Task A_bare_executable_name_is_looked_up_in_the_PATH_the_backend_is_given()
    {
        using var bin = new TempDirectory("ullm-spawn-path");
        var tool = Path.Combine(bin.Path, "ullm-test-tool");
        await File.WriteAllTextAsync(tool, "#!/bin/sh\necho \"found as $0\"\n");
        File.SetUnixFileMode(tool, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var launch = Shell("unused", environment: new Dictionary<string, string> { ["PATH"] = $"/nonexistent:{bin.Path}" }) with { ExecPath = "ullm-test-tool", Arguments = [] };

        var backend = await Supervisor.StartAsync(launch, CancellationToken.None);
        var exit = await backend.Exited.WaitAsync(Patience);

        Assert.True(exit.Succeeded, exit.Reason);
        Assert.Equal([$"found as {tool}"], await ReadLogAsync(backend.UnitName, 10, follow: false, take: 10));
    }

    [Fact]
    public async Task An_executable_that_cannot_be_run_is_refused_at_start_naming_the_unit_and_the_reason()
    {
        using var directory = new TempDirectory("ullm-spawn-refused");
        var model = directory.File("model.gguf");
        await File.WriteAllBytesAsync(model, [0x47, 0x47, 0x55, 0x46]);
        File.SetUnixFileMode(model, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var missing = Shell("unused") with { ExecPath = "/nonexistent/llama-server" };
        var notExecutable = Shell("unused") with { ExecPath = model };

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => Supervisor.StartAsync(missing, CancellationToken.None));
        Assert.Equal($"backend unit '{missing.UnitName}': could not start /nonexistent/llama-server: No such file or directory", e.Message);
        var denied = await Assert.ThrowsAsync<InvalidOperationException>(() => Supervisor.StartAsync(notExecutable, CancellationToken.None));
        Assert.Equal($"backend unit '{notExecutable.UnitName}': could not start {model}: Permission denied", denied.Message);
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
