using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Testing;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Daemon.Supervision;
using UnifiedLlm.Daemon.Systemd;
using UnifiedLlm.Daemon.Systemd.DBus;
using UnifiedLlm.Tests.Supervision;
using TempDirectory = UnifiedLlm.Tests.Support.TempDirectory;

namespace UnifiedLlm.Tests.Systemd;

/// <summary>
/// The supervisor contract (<see cref="SupervisorBehaviourTests"/>) and what only units give — sandbox properties,
/// MemoryMax, the journal, units outliving a supervisor — against a real systemd booted in a container, checked with
/// the container's own systemctl.
/// </summary>
public sealed class SystemdSupervisorTests(SystemdContainerFixture container) : SupervisorBehaviourTests, IClassFixture<SystemdContainerFixture>
{
    private static readonly GpuDevice FakeGpu = new(0, "test GPU", "GPU-test", "00000000:01:00.0", 1UL << 34, 0, 1UL << 34, null, null, null, [], MinorNumber: 7);

    protected override string SharedDirectory => container.SharedDirectory;

    internal override Task<IBackendSupervisor> CreateSupervisorAsync() => Task.FromResult<IBackendSupervisor>(NewSupervisor());

    // The shared directory is the only place a test and a unit both see; ProtectSystem=strict needs it named writable.
    internal override BackendLaunch Adapt(BackendLaunch launch) => launch with { ReadWritePaths = [container.SharedDirectory] };

    internal override int ProcessVisibleFromHost(int pid) => container.HostPid(pid);

    // This test class plays one ullmd: one data directory and database, so one owner for all its supervisors.
    private readonly TempDirectory data = new("ullm-systemd-owner");
    private InstanceStore? store;

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        data.Dispose();
    }

    private SystemdSupervisor NewSupervisor(BackendOwner? owner = null) => new(
        new SystemdBus(container.BusAddress, DBusConnectionMode.Bus, NullLogger.Instance),
        new JournalReader(journalDirectory: container.JournalDirectory),
        () => [FakeGpu],
        TimeProvider.System,
        owner ?? new BackendOwner(BackendOwner.IdFor(data.Path), async (unit, ct) => await (await StoreAsync()).GetByUnitAsync(unit, ct) is not null),
        new FakeLogger<SystemdSupervisor>());

    private async Task<InstanceStore> StoreAsync() =>
        store ??= new InstanceStore(await Database.OpenAsync(data.File("ullm.db"), CancellationToken.None), TimeProvider.System);

    /// <summary>Another ullmd on the same systemd: its own data directory and database.</summary>
    private static async Task<(BackendOwner Owner, InstanceStore Store)> OtherUllmdAsync(TempDirectory dataDir)
    {
        var other = new InstanceStore(await Database.OpenAsync(dataDir.File("ullm.db"), CancellationToken.None), TimeProvider.System);
        return (BackendOwner.For(dataDir.Path, other), other);
    }

    private async Task<Dictionary<string, string>> ShowAsync(string unit, params string[] properties)
    {
        var shown = await container.ExecInsideAsync(TestContext.Current.CancellationToken, ["systemctl", "show", unit, .. properties.Select(p => "--property=" + p)]);
        Assert.Equal(0, shown.ExitCode);
        return shown.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('=', 2))
            .GroupBy(p => p[0])
            .ToDictionary(g => g.Key, g => string.Join(' ', g.Select(p => p[1])));
    }

    [Fact(Timeout = 180_000)]
    public async Task A_backend_unit_carries_the_sandbox_its_GPUs_and_its_model_in_systemd()
    {
        var launch = Shell("exec sleep 600") with
        {
            Model = "org/model v1",
            GpuIndices = [0],
            ReadWritePaths = [],
            ReadOnlyPaths = ["/usr/share"],
            MemoryMaxBytes = 512UL << 20,
            StopTimeout = TimeSpan.FromSeconds(7),
        };
        var backend = await Supervisor.StartAsync(launch, TestContext.Current.CancellationToken);

        var shown = await ShowAsync(backend.UnitName,
            "ActiveState", "Slice", "MemoryMax", "DevicePolicy", "DeviceAllow", "DynamicUser", "ProtectSystem", "ProtectHome", "PrivateTmp",
            "NoNewPrivileges", "KillMode", "TimeoutStopUSec", "CollectMode", "StandardOutput", "Environment", "ReadOnlyPaths", "LogExtraFields",
            "MainPID", "InvocationID", "Description");
        Assert.Equal("active", shown["ActiveState"]);
        Assert.Equal("ullm.slice", shown["Slice"]);
        Assert.Equal((512L << 20).ToString(), shown["MemoryMax"]);
        Assert.Equal("closed", shown["DevicePolicy"]);
        Assert.Equal(
            ["/dev/nvidia-uvm rw", "/dev/nvidia-uvm-tools rw", "/dev/nvidia7 rw", "/dev/nvidiactl rw"],
            shown["DeviceAllow"].Split(" rw", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(d => d + " rw").Order(StringComparer.Ordinal));
        Assert.Equal("yes", shown["DynamicUser"]);
        Assert.Equal("strict", shown["ProtectSystem"]);
        Assert.Equal("yes", shown["ProtectHome"]);
        Assert.Equal(("yes", "yes", "mixed"), (shown["PrivateTmp"], shown["NoNewPrivileges"], shown["KillMode"]));
        Assert.Equal("7s", shown["TimeoutStopUSec"]);
        Assert.Equal("inactive", shown["CollectMode"]);
        Assert.Equal("journal", shown["StandardOutput"]);
        Assert.Equal("CUDA_VISIBLE_DEVICES=0", shown["Environment"]);
        Assert.Equal("/usr/share", shown["ReadOnlyPaths"]);
        Assert.Equal($"ULLM_MODEL=org/model v1 ULLM_OWNER={BackendOwner.IdFor(data.Path)}", shown["LogExtraFields"]);
        Assert.Equal("unified-llm backend for org/model v1", shown["Description"]);
        Assert.Equal(backend.MainPid.ToString(), shown["MainPID"]);
        Assert.Equal(backend.InvocationId, shown["InvocationID"]);
    }

    [Fact(Timeout = 180_000)]
    public async Task A_backend_over_its_MemoryMax_is_killed_and_reported_with_the_limit()
    {
        var backend = await Supervisor.StartAsync(
            Shell("exec /usr/bin/python3 -c 'import time; b=[bytearray(10<<20) for i in range(40)]; time.sleep(300)'") with { MemoryMaxBytes = 100UL << 20 },
            TestContext.Current.CancellationToken);

        var exit = await backend.Exited.WaitAsync(Patience);

        Assert.Equal(9, exit.Signal);
        Assert.True(exit.Result is "oom-kill" or "signal", exit.Result);
        Assert.Contains("MemoryMax=100 MiB", exit.Reason);
        Assert.False(exit.Succeeded);
    }

    [Fact(Timeout = 180_000)]
    public async Task A_missing_executable_fails_the_start_with_systemds_reason()
    {
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            Supervisor.StartAsync(Shell("true") with { ExecPath = "/nonexistent/llama-server" }, TestContext.Current.CancellationToken));

        Assert.Contains("systemd could not start ullm-test-model-", e.Message);
        Assert.Contains("203/EXEC", e.Message);
    }

    [Fact(Timeout = 180_000)]
    public async Task A_unit_outlives_its_supervisor_and_the_next_one_lists_watches_and_stops_it()
    {
        var ready = Path.Combine(SharedDirectory, Guid.NewGuid().ToString("N"));
        var launch = Shell($"trap 'exit 0' TERM; echo up > {ready}; while :; do sleep 0.1; done");
        await using (var first = NewSupervisor())
        {
            var original = await first.StartAsync(launch, TestContext.Current.CancellationToken);
            await WaitForFileAsync(ready);
            await first.DisposeAsync();
            Assert.False(original.Exited.IsCompleted, "disposing the supervisor must leave its units running");

            await using var second = NewSupervisor();
            var listed = Assert.Single(await second.ListRunningAsync(TestContext.Current.CancellationToken), b => b.UnitName == launch.UnitName);
            Assert.Equal((original.MainPid, original.InvocationId, "test/model"), (listed.MainPid, listed.InvocationId, listed.Model));

            var exit = await second.StopAsync(launch.UnitName, TestContext.Current.CancellationToken).WaitAsync(Patience);
            Assert.True(exit.Succeeded, exit.Reason);
            Assert.Same(exit, await listed.Exited.WaitAsync(Patience));
        }

        var state = await container.ExecInsideAsync(TestContext.Current.CancellationToken, "systemctl", "show", "--property=LoadState", "--value", launch.UnitName);
        Assert.Equal("not-found", state.StandardOutput.Trim());
    }

    [Fact(Timeout = 180_000)]
    public async Task An_exit_while_the_bus_restarts_is_still_reported()
    {
        var go = Path.Combine(SharedDirectory, Guid.NewGuid().ToString("N"));
        var backend = await Supervisor.StartAsync(Shell($"while [ ! -e {go} ]; do sleep 0.1; done; exit 4"), TestContext.Current.CancellationToken);

        var restart = await container.ExecInsideAsync(TestContext.Current.CancellationToken, "systemctl", "restart", "dbus.service");
        Assert.Equal(0, restart.ExitCode);
        await File.WriteAllTextAsync(go, "go", TestContext.Current.CancellationToken);

        var exit = await backend.Exited.WaitAsync(Patience);
        Assert.Equal(("exit-code", 4), (exit.Result, exit.ExitStatus));
    }

    [Fact(Timeout = 180_000)]
    public async Task A_unit_that_failed_while_no_supervisor_watched_stays_until_the_next_one_resets_it()
    {
        var go = Path.Combine(SharedDirectory, Guid.NewGuid().ToString("N"));
        var launch = Shell($"while [ ! -e {go} ]; do sleep 0.1; done; exit 5");
        await using (var first = NewSupervisor())
        {
            await first.StartAsync(launch, TestContext.Current.CancellationToken);
        }

        await File.WriteAllTextAsync(go, "go", TestContext.Current.CancellationToken);
        await EventuallyAsync(() => ShowAsync(launch.UnitName, "ActiveState"), shown => shown["ActiveState"] == "failed");
        Assert.Equal("exit-code", (await ShowAsync(launch.UnitName, "Result"))["Result"]);

        await using var second = NewSupervisor();
        Assert.DoesNotContain(launch.UnitName, (await second.ListRunningAsync(TestContext.Current.CancellationToken)).Select(b => b.UnitName));
        Assert.Equal("not-found", (await ShowAsync(launch.UnitName, "LoadState"))["LoadState"]);
    }

    [Fact(Timeout = 180_000)]
    public async Task Two_ullmd_on_one_systemd_list_and_reset_only_their_own_units_and_unmarked_ones_only_when_recorded()
    {
        var ct = TestContext.Current.CancellationToken;
        using var otherData = new TempDirectory("ullm-systemd-other");
        var (otherOwner, otherStore) = await OtherUllmdAsync(otherData);
        Assert.NotEqual(BackendOwner.IdFor(data.Path), otherOwner.Id);

        // Ours: one running, one that fails while no supervisor watches.
        var go = Path.Combine(SharedDirectory, Guid.NewGuid().ToString("N"));
        var running = Shell("exec sleep 600");
        var failing = Shell($"while [ ! -e {go} ]; do sleep 0.1; done; exit 5");
        await using (var first = NewSupervisor())
        {
            await first.StartAsync(running, ct);
            await first.StartAsync(failing, ct);
        }

        await File.WriteAllTextAsync(go, "go", ct);
        await EventuallyAsync(() => ShowAsync(failing.UnitName, "ActiveState"), shown => shown["ActiveState"] == "failed");

        // The other ullmd starts: it neither lists our running unit (so its adoption cannot stop it) nor resets our failed one.
        await using (var other = NewSupervisor(otherOwner))
        {
            var listed = (await other.ListRunningAsync(ct)).Select(b => b.UnitName).ToList();
            Assert.DoesNotContain(running.UnitName, listed);
            Assert.Equal("active", (await ShowAsync(running.UnitName, "ActiveState"))["ActiveState"]);
            Assert.Equal("failed", (await ShowAsync(failing.UnitName, "ActiveState"))["ActiveState"]);
        }

        // A unit from before owner marks: only the ullmd whose database records it lists it.
        var legacy = UnitName.ForModel("legacy", Guid.NewGuid().ToString("N")[..8]);
        var started = await container.ExecInsideAsync(ct, "systemd-run", "--unit", legacy, "--property=LogExtraFields=ULLM_MODEL=legacy", "/bin/sleep", "600");
        Assert.Equal(0, started.ExitCode);
        await using (var other = NewSupervisor(otherOwner))
        {
            Assert.DoesNotContain(legacy, (await other.ListRunningAsync(ct)).Select(b => b.UnitName));
            await otherStore.InsertAsync(
                new InstanceRecord
                {
                    Id = legacy[^16..^8],
                    Model = "legacy",
                    Backend = "llama.cpp",
                    Unit = legacy,
                    State = UnifiedLlm.Daemon.Storage.InstanceState.Ready,
                    StateSince = DateTimeOffset.UtcNow,
                    CreatedAt = DateTimeOffset.UtcNow,
                },
                ct);
            var adopted = Assert.Single(await other.ListRunningAsync(ct), b => b.UnitName == legacy);
            Assert.Equal("legacy", adopted.Model);
            Assert.True((await other.StopAsync(legacy, ct).WaitAsync(Patience)).Succeeded);
        }

        // Ours are still ours: listed, and the failed one reset, by this ullmd.
        await using var again = NewSupervisor();
        Assert.Contains(running.UnitName, (await again.ListRunningAsync(ct)).Select(b => b.UnitName));
        Assert.Equal("not-found", (await ShowAsync(failing.UnitName, "LoadState"))["LoadState"]);
        await again.StopAsync(running.UnitName, ct).WaitAsync(Patience);
    }
}
