using System.Text.RegularExpressions;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Tests.Gpu;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>ullmctl top in a real terminal (tmux) against a real ullmd with the fake two-GPU NVML: start, a refresh that shows new readings, quit with q.</summary>
[Collection(FakeNvmlTests.Name)]
public sealed class TopCommandTests(FakeNvmlBuild nvml) : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private readonly TempDirectory dir = new("ullm-top");

    public void Dispose() => dir.Dispose();

    [Fact]
    public async Task Top_shows_gpus_and_models_refreshes_with_new_readings_and_quits_on_q()
    {
        await using var host = await CtlHost.StartAsync(nvml);
        await WriteAuditAsync(host, count: 30, ttftMs: [120, 180]);
        var exitFile = dir.File("exit-code");
        var command = $"dotnet '{RepoPaths.Ullmctl}' --socket '{host.Daemon.Paths.AdminSocket}' top --interval 0.5; echo $? > '{exitFile}'";
        await using var terminal = await TmuxSession.StartAsync(command, 150, 40);

        var first = await terminal.WaitForScreenAsync(s => s.Contains("NVIDIA A10", StringComparison.Ordinal), Wait, "the GPU table");
        Assert.Matches(@"ullmd \d+\.\d+\.\d+ +up .* requests/s 0\.50 \(last 60s\) +TTFT 150 ms avg +queue 0 +in flight 0 +models 0/1 loaded", first);
        Assert.Matches(@"│ 0 +│ NVIDIA H100 80GB HBM3 +│ .*13% +│ 10\.5 GiB +│ 69\.5 GiB +│ 37% +│ 45.C +│ 0 ours, 2 foreign", first);
        Assert.Contains("Loaded models", first);
        Assert.Contains("q quits · refresh", first);

        host.Gpus.Configure(Gpu.FakeGpuHost.TwoGpus.Replace("gpu0.temperature=45", "gpu0.temperature=61", StringComparison.Ordinal));
        var refreshed = await terminal.WaitForScreenAsync(s => Regex.IsMatch(s, @"│ 61.C +│"), Wait, "the new temperature after a refresh");
        Assert.Matches(@"q quits · refresh ([2-9]|\d\d+) at", refreshed);

        await terminal.SendKeysAsync("q");
        var deadline = DateTime.UtcNow + Wait;
        while (!File.Exists(exitFile) || (await File.ReadAllTextAsync(exitFile)).Length == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"top did not quit on q; screen:\n{await terminal.CaptureAsync()}");
            await Task.Delay(100);
        }

        Assert.Equal("0", (await File.ReadAllTextAsync(exitFile)).Trim());
    }

    /// <summary>Requests as the gateway records them, written into the running daemon's own database.</summary>
    private static async Task WriteAuditAsync(CtlHost host, int count, long[] ttftMs)
    {
        var audit = new AuditStore(await Database.OpenAsync(Path.Combine(host.Daemon.Paths.DataDir, "ullm.db"), CancellationToken.None));
        var now = DateTimeOffset.UtcNow;
        var rows = Enumerable.Range(0, count)
            .Select(i => new AuditRow($"req-{i}", now, null, "unix", "tiny", "tiny", [], 200, "ok", 10, 20, false, ttftMs[i % ttftMs.Length], 400, 0, null))
            .ToArray();
        await audit.InsertAsync(rows, CancellationToken.None);
    }
}
