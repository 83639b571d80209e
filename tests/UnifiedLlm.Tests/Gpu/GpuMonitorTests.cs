using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using UnifiedLlm.Daemon.Gpu;

namespace UnifiedLlm.Tests.Gpu;

/// <summary>The monitor against the fake libnvidia-ml, driven by a fake clock; each poll's snapshot is awaited.</summary>
[Collection(FakeNvmlTests.Name)]
public sealed class GpuMonitorTests(FakeNvmlBuild fake)
{
    private static readonly TimeSpan Poll = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task Polls_at_the_interval_and_keeps_the_latest_snapshot()
    {
        using var host = new FakeGpuHost(fake.Current, FakeGpuHost.TwoGpus);
        await using var run = await MonitorRun.StartAsync(host.LibraryPath, NoUnits());

        var first = await run.SnapshotAtAsync(run.Time.GetUtcNow());
        Assert.Equal(10737418240ul + 536870912ul, first.Devices[0].UsedBytes);

        host.Configure(FakeGpuHost.TwoGpus.Replace("gpu0.memory_used=10737418240", "gpu0.memory_used=42949672960", StringComparison.Ordinal));
        run.Time.Advance(Poll);
        var second = await run.SnapshotAtAsync(first.TakenAt + Poll);

        Assert.Equal(42949672960ul + 536870912ul, second.Devices[0].UsedBytes);
        Assert.Same(second, run.Monitor.Current);
        Assert.Contains(run.Logger.Collector.GetSnapshot(), r => r.Level == LogLevel.Information && r.Message.StartsWith("NVML ready", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Init_failure_is_cpu_mode_logged_once_over_several_polls()
    {
        using var host = new FakeGpuHost(fake.Current, FakeGpuHost.TwoGpus + "\nfail.nvmlInit=9\n");
        await using var run = await MonitorRun.StartAsync(host.LibraryPath, NoUnits(), cpuModeRetry: Poll);

        var start = run.Time.GetUtcNow();
        for (var poll = 0; poll < 4; poll++)
        {
            var snapshot = await run.SnapshotAtAsync(start + (poll * Poll));
            Assert.Equal($"the NVIDIA driver is not loaded (nvmlInit_v2 in {host.LibraryPath}: Driver Not Loaded)", snapshot.CpuModeReason);
            Assert.Empty(snapshot.Devices);
            run.Time.Advance(Poll);
        }

        var warning = Assert.Single(run.Logger.Collector.GetSnapshot(), r => r.Level == LogLevel.Warning);
        Assert.Contains("CPU mode: the NVIDIA driver is not loaded", warning.Message, StringComparison.Ordinal);

        host.Configure(FakeGpuHost.TwoGpus);
        run.Time.Advance(Poll);
        var recovered = await run.SnapshotAtAsync(start + (5 * Poll));
        Assert.Null(recovered.CpuModeReason);
        Assert.Equal(2, recovered.Devices.Count);
    }

    [Fact]
    public async Task Cpu_mode_retries_only_at_the_retry_interval()
    {
        using var host = new FakeGpuHost(fake.Current, "driver_version=550.54.14\ngpu_count=0\n");
        await using var run = await MonitorRun.StartAsync(host.LibraryPath, NoUnits(), cpuModeRetry: TimeSpan.FromSeconds(60));
        var start = run.Time.GetUtcNow();
        Assert.EndsWith("reports no GPUs", (await run.SnapshotAtAsync(start)).CpuModeReason, StringComparison.Ordinal);

        host.Configure(FakeGpuHost.TwoGpus);
        for (var elapsed = Poll; elapsed < TimeSpan.FromSeconds(60); elapsed += Poll)
        {
            run.Time.Advance(Poll);
            Assert.NotNull((await run.SnapshotAtAsync(start + elapsed)).CpuModeReason);
        }

        run.Time.Advance(Poll);
        Assert.Equal(2, (await run.SnapshotAtAsync(start + TimeSpan.FromSeconds(60))).Devices.Count);
    }

    [Fact]
    public async Task Refresh_retries_nvml_at_once()
    {
        using var host = new FakeGpuHost(fake.Current, "fail.nvmlInit=9\n");
        await using var run = await MonitorRun.StartAsync(host.LibraryPath, NoUnits());
        Assert.NotNull((await run.SnapshotAtAsync(run.Time.GetUtcNow())).CpuModeReason);

        host.Configure(FakeGpuHost.TwoGpus);
        var refreshed = await run.Monitor.RefreshAsync(TestContext.Current.CancellationToken);

        Assert.Equal(2, refreshed.Devices.Count);
        Assert.Same(refreshed, run.Monitor.Current);
    }

    [Fact]
    public async Task No_library_is_cpu_mode_with_the_reason()
    {
        var missing = Path.Join(Path.GetTempPath(), $"absent-{Guid.NewGuid():N}", "libnvidia-ml.so.1");
        await using var run = await MonitorRun.StartAsync(missing, NoUnits());

        var snapshot = await run.SnapshotAtAsync(run.Time.GetUtcNow());

        Assert.Equal($"no usable NVIDIA management library ({missing} not found)", snapshot.CpuModeReason);
    }

    [Fact]
    public async Task Lost_gpu_is_left_out_logged_once_and_back_when_readable()
    {
        using var host = new FakeGpuHost(fake.Current, FakeGpuHost.TwoGpus + "\ngpu1.fail.nvmlDeviceGetMemoryInfo=15\n");
        await using var run = await MonitorRun.StartAsync(host.LibraryPath, NoUnits());
        var start = run.Time.GetUtcNow();

        for (var poll = 0; poll < 3; poll++)
        {
            Assert.Equal([0], (await run.SnapshotAtAsync(start + (poll * Poll))).Devices.Select(d => d.Index));
            run.Time.Advance(Poll);
        }

        var warning = Assert.Single(run.Logger.Collector.GetSnapshot(), r => r.Level == LogLevel.Warning);
        Assert.Equal(
            "GPU 1 left out of the GPU snapshot: nvmlDeviceGetMemoryInfo_v2 failed on GPU 1: GPU is lost (NVML return code 15, GpuIsLost)",
            warning.Message);

        host.Configure(FakeGpuHost.TwoGpus);
        run.Time.Advance(Poll);
        Assert.Equal([0, 1], (await run.SnapshotAtAsync(start + (4 * Poll))).Devices.Select(d => d.Index));
        Assert.Equal("GPU 1 can be read again", run.Logger.Collector.LatestRecord.Message);
    }

    [Fact]
    public async Task Nvml_failing_system_wide_falls_back_to_cpu_mode()
    {
        using var host = new FakeGpuHost(fake.Current, FakeGpuHost.TwoGpus);
        await using var run = await MonitorRun.StartAsync(host.LibraryPath, NoUnits());
        Assert.Equal(2, (await run.SnapshotAtAsync(run.Time.GetUtcNow())).Devices.Count);

        host.Configure(FakeGpuHost.TwoGpus + "\nfail.nvmlDeviceGetCount=18\nfail.nvmlShutdown=18\n");
        run.Time.Advance(Poll);
        var snapshot = await run.SnapshotAtAsync(run.Time.GetUtcNow());

        Assert.Equal(
            "NVML stopped answering: nvmlDeviceGetCount_v2 failed: Driver/library version mismatch (NVML return code 18, LibRmVersionMismatch)",
            snapshot.CpuModeReason);
    }

    [Fact]
    public async Task Gpu_processes_are_attributed_to_units_by_their_cgroup()
    {
        await using var cgroup = TestCgroup.Create();
        var unitPid = await cgroup.StartSleeperAsync();
        const int ForeignPid = 5151;
        var config = FakeGpuHost.TwoGpus.Replace("gpu0.process=4242:", $"gpu0.process={unitPid}:", StringComparison.Ordinal);
        using var host = new FakeGpuHost(fake.Current, config);
        var units = new CgroupUnitPidSource(() => [new UnitControlGroup("ullm-llama-1.service", cgroup.ControlGroup)]);
        await using var run = await MonitorRun.StartAsync(host.LibraryPath, units);

        var snapshot = await run.SnapshotAtAsync(run.Time.GetUtcNow());

        Assert.Equal(
            [new GpuProcess(unitPid, 8589934592, "ullm-llama-1.service"), new GpuProcess(ForeignPid, 2147483648, null)],
            snapshot.Devices[0].Processes);
    }

    [Fact]
    public async Task Watching_ends_when_the_monitor_stops()
    {
        using var host = new FakeGpuHost(fake.Current, FakeGpuHost.TwoGpus);
        var run = await MonitorRun.StartAsync(host.LibraryPath, NoUnits());
        await run.SnapshotAtAsync(run.Time.GetUtcNow());

        await run.Monitor.StopAsync(TestContext.Current.CancellationToken);

        await using var late = run.Monitor.WatchAsync(TestContext.Current.CancellationToken).GetAsyncEnumerator(TestContext.Current.CancellationToken);
        Assert.True(await late.MoveNextAsync());
        Assert.False(await late.MoveNextAsync());
        await Assert.ThrowsAsync<InvalidOperationException>(() => run.SnapshotAtAsync(run.Time.GetUtcNow() + Poll));
        await run.DisposeAsync();
    }

    private static CgroupUnitPidSource NoUnits() => new(() => []);

    /// <summary>A started monitor with a fake clock, a captured log and a subscription to its snapshots.</summary>
    private sealed class MonitorRun : IAsyncDisposable
    {
        private readonly IAsyncEnumerator<GpuSnapshot> snapshots;
        private readonly CancellationTokenSource timeout = new(TimeSpan.FromMinutes(2));

        private MonitorRun(GpuMonitor monitor, FakeTimeProvider time, FakeLogger<GpuMonitor> logger)
        {
            Monitor = monitor;
            Time = time;
            Logger = logger;
            snapshots = monitor.WatchAsync(timeout.Token).GetAsyncEnumerator(timeout.Token);
        }

        public GpuMonitor Monitor { get; }

        public FakeTimeProvider Time { get; }

        public FakeLogger<GpuMonitor> Logger { get; }

        public static async Task<MonitorRun> StartAsync(string library, IUnitPidSource units, TimeSpan? cpuModeRetry = null)
        {
            var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));
            var logger = new FakeLogger<GpuMonitor>();
            var options = new GpuMonitorOptions
            {
                PollInterval = Poll,
                CpuModeRetryInterval = cpuModeRetry ?? TimeSpan.FromMinutes(5),
                NvmlLibraryCandidates = [library],
            };
            var run = new MonitorRun(new GpuMonitor(options, units, time, logger), time, logger);
            await run.Monitor.StartAsync(TestContext.Current.CancellationToken);
            return run;
        }

        /// <summary>Waits for the snapshot of the poll at <paramref name="takenAt"/> (earlier ones are skipped).</summary>
        public async Task<GpuSnapshot> SnapshotAtAsync(DateTimeOffset takenAt)
        {
            while (await snapshots.MoveNextAsync())
            {
                var snapshot = snapshots.Current;
                if (snapshot.TakenAt == takenAt && snapshot.CpuModeReason != GpuMonitor.NotReadYetReason)
                {
                    return snapshot;
                }

                Assert.True(snapshot.TakenAt <= takenAt, $"expected a poll at {takenAt:O}, got one at {snapshot.TakenAt:O}");
            }

            throw new InvalidOperationException("the monitor stopped publishing");
        }

        public async ValueTask DisposeAsync()
        {
            await Monitor.StopAsync(CancellationToken.None);
            await snapshots.DisposeAsync();
            Monitor.Dispose();
            timeout.Dispose();
        }
    }
}
