using UnifiedLlm.Daemon.Systemd;
using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Tests.Systemd;

/// <summary>SystemdManager against a real systemd 252 booted in a container, checked with the container's own systemctl/journalctl.</summary>
public sealed class SystemdContainerTests(SystemdContainerFixture container) : IClassFixture<SystemdContainerFixture>
{
    private static TransientUnitSpec Sleeper(string description) => new()
    {
        Description = description,
        ExecPath = "/bin/sleep",
        Arguments = ["/bin/sleep", "300"],
        DynamicUser = false,
        StopTimeout = TimeSpan.FromSeconds(10),
    };

    private static string NewUnitName(string model) => UnitName.ForModel(model, Guid.NewGuid().ToString("N")[..8]);

    [Fact(Timeout = 180_000)]
    public async Task Started_unit_has_every_property_set_keeps_dollar_args_literal_and_logs_to_the_journal()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var connection = await container.ConnectBusAsync(ct);
        var systemd = await SystemdManager.CreateAsync(connection, ct);
        var name = NewUnitName("tiny/model v1");
        var spec = new TransientUnitSpec
        {
            Description = "ullm test backend",
            ExecPath = "/bin/sh",
            Arguments = ["/bin/sh", "-c", "echo \"arg=$1\"; exec sleep 300", "sh", "$HOME"],
            Environment = ["ULLM_X=1"],
            WorkingDirectory = "/",
            MemoryMaxBytes = 200 * 1024 * 1024,
            MemoryHighBytes = 150 * 1024 * 1024,
            CpuWeight = 50,
            AllowedDevices = ["/dev/null"],
            DynamicUser = true,
            ReadOnlyPaths = ["/usr"],
            ProtectSystem = "strict",
            ProtectHome = "read-only",
            StopTimeout = TimeSpan.FromSeconds(5),
            SyslogIdentifier = "ullm-test",
            LogExtraFields = new Dictionary<string, string> { ["ULLM_MODEL"] = "tiny" },
        };

        await systemd.StartTransientUnitAsync(name, spec, ct);
        try
        {
            Assert.Equal(UnitObjectPath.For(name), await systemd.GetUnitAsync(name, ct));
            var status = await systemd.GetUnitStatusAsync(name, ct);
            Assert.Equal(("active", "running"), (status.ActiveState, status.SubState));
            Assert.True(status.MainPid > 1, $"MainPID {status.MainPid}");
            Assert.Matches("^[0-9a-f]{32}$", status.InvocationId);
            Assert.Equal($"/ullm.slice/{name}", status.ControlGroup);

            var shown = await ShowAsync(name, ct,
                "Description", "Type", "Environment", "WorkingDirectory", "Slice", "MemoryMax", "MemoryHigh", "CPUWeight", "DevicePolicy",
                "DeviceAllow", "DynamicUser", "ReadOnlyPaths", "ProtectSystem", "ProtectHome", "PrivateTmp", "NoNewPrivileges", "KillMode",
                "TimeoutStopUSec", "CollectMode", "StandardOutput", "StandardError", "SyslogIdentifier", "LogExtraFields", "ExecStartEx");
            Assert.Equal("ullm test backend", shown["Description"]);
            Assert.Equal("exec", shown["Type"]);
            Assert.Equal("ULLM_X=1", shown["Environment"]);
            Assert.Equal("/", shown["WorkingDirectory"]);
            Assert.Equal("ullm.slice", shown["Slice"]);
            Assert.Equal("209715200", shown["MemoryMax"]);
            Assert.Equal("157286400", shown["MemoryHigh"]);
            Assert.Equal("50", shown["CPUWeight"]);
            Assert.Equal("closed", shown["DevicePolicy"]);
            Assert.Equal("/dev/null rw", shown["DeviceAllow"]);
            Assert.Equal("yes", shown["DynamicUser"]);
            Assert.Equal("/usr", shown["ReadOnlyPaths"]);
            Assert.Equal("strict", shown["ProtectSystem"]);
            Assert.Equal("read-only", shown["ProtectHome"]);
            Assert.Equal("yes", shown["PrivateTmp"]);
            Assert.Equal("yes", shown["NoNewPrivileges"]);
            Assert.Equal("mixed", shown["KillMode"]);
            Assert.Equal("5s", shown["TimeoutStopUSec"]);
            Assert.Equal("inactive-or-failed", shown["CollectMode"]);
            Assert.Equal("journal", shown["StandardOutput"]);
            Assert.Equal("journal", shown["StandardError"]);
            Assert.Equal("ullm-test", shown["SyslogIdentifier"]);
            Assert.Equal("ULLM_MODEL=tiny", shown["LogExtraFields"]);
            Assert.Contains("argv[]=/bin/sh -c echo \"arg=$1\"; exec sleep 300 sh $HOME", shown["ExecStartEx"]);
            Assert.Contains("flags=no-env-expand", shown["ExecStartEx"]);

            var journal = await WaitForJournalAsync("arg=$HOME", ["-u", name], ct);
            Assert.Contains("arg=$HOME", journal);
            Assert.Contains("arg=$HOME", await WaitForJournalAsync("arg=$HOME", ["ULLM_MODEL=tiny"], ct));
        }
        finally
        {
            await systemd.StopUnitAsync(name, CancellationToken.None);
        }
    }

    [Fact(Timeout = 180_000)]
    public async Task StopUnit_waits_for_the_job_and_PropertiesChanged_reports_the_way_down()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var connection = await container.ConnectBusAsync(ct);
        var systemd = await SystemdManager.CreateAsync(connection, ct);
        var name = NewUnitName("stopper");
        await systemd.StartTransientUnitAsync(name, Sleeper("stop test"), ct);
        await using var watch = await systemd.WatchUnitAsync(name, 256, ct);

        await systemd.StopUnitAsync(name, ct);

        var states = new List<string>();
        await foreach (var change in watch.ReadAllAsync(ct))
        {
            if (change.ActiveState is { } state)
            {
                states.Add(state);
                if (state == "inactive")
                {
                    break;
                }
            }
        }

        Assert.Contains("deactivating", states);
        Assert.Null(await systemd.GetUnitAsync(name, ct));
        var shown = await container.ExecInsideAsync(ct, "systemctl", "show", "-p", "LoadState", "--value", name);
        Assert.Equal("not-found", shown.StandardOutput.Trim());
    }

    [Fact(Timeout = 180_000)]
    public async Task MemoryMax_is_enforced_and_the_unit_result_says_it_was_killed()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var connection = await container.ConnectBusAsync(ct);
        var systemd = await SystemdManager.CreateAsync(connection, ct);
        var name = NewUnitName("hog");
        await using var watch = await systemd.WatchUnitAsync(name, 256, ct);
        await systemd.StartTransientUnitAsync(name, new TransientUnitSpec
        {
            Description = "memory hog",
            ExecPath = "/usr/bin/python3",
            Arguments = ["/usr/bin/python3", "-c", "import time; b=[bytearray(10<<20) for i in range(40)]; time.sleep(300)"],
            MemoryMaxBytes = 100 * 1024 * 1024,
            DynamicUser = false,
            CollectMode = "inactive",
        }, ct);

        string? result = null;
        await foreach (var change in watch.ReadAllAsync(ct))
        {
            result = change.Result ?? result;
            if (change.ActiveState == "failed")
            {
                break;
            }
        }

        try
        {
            // cgroup v1 memory controller (this host): "signal" (SIGKILL); cgroup v2: "oom-kill".
            Assert.True(result is "oom-kill" or "signal", $"unit Result {result}");
            var status = await systemd.GetUnitStatusAsync(name, ct);
            Assert.Equal(("failed", result), (status.ActiveState, status.Result));
            Assert.Equal(2, status.ExecMainCode);
            Assert.Equal(9, status.ExecMainStatus);
        }
        finally
        {
            await systemd.ResetFailedUnitAsync(name, CancellationToken.None);
        }

        Assert.Null(await systemd.GetUnitAsync(name, ct));
    }

    [Fact(Timeout = 180_000)]
    public async Task Start_job_failure_is_a_typed_exception_with_the_unit_result()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var connection = await container.ConnectBusAsync(ct);
        var systemd = await SystemdManager.CreateAsync(connection, ct);
        var name = NewUnitName("missing-binary");
        var error = await Assert.ThrowsAsync<SystemdJobFailedException>(() => systemd.StartTransientUnitAsync(name, new TransientUnitSpec
        {
            Description = "missing binary",
            ExecPath = "/nonexistent/llama-server",
            Arguments = ["/nonexistent/llama-server"],
            DynamicUser = false,
            CollectMode = "inactive",
        }, ct));
        Assert.Equal(("failed", "exit-code", name), (error.JobResult, error.UnitResult, error.Unit));
        await systemd.ResetFailedUnitAsync(name, ct);

        var exists = await Assert.ThrowsAsync<DBusErrorException>(() => systemd.StartTransientUnitAsync("ullm-exists.service", Sleeper("first"), ct)
            .ContinueWith(_ => systemd.StartTransientUnitAsync("ullm-exists.service", Sleeper("second"), ct), ct).Unwrap());
        Assert.Equal("org.freedesktop.systemd1.UnitExists", exists.ErrorName);
        await systemd.StopUnitAsync("ullm-exists.service", ct);
    }

    [Fact(Timeout = 180_000)]
    public async Task ListUnitsByPatterns_finds_our_units_and_KillUnit_signals_the_main_process()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var connection = await container.ConnectBusAsync(ct);
        var systemd = await SystemdManager.CreateAsync(connection, ct);
        var name = NewUnitName("listed");
        await systemd.StartTransientUnitAsync(name, Sleeper("list test"), ct);
        var listed = Assert.Single(await systemd.ListUnitsByPatternsAsync([], [UnitName.Pattern], ct), u => u.Name == name);
        Assert.Equal(("loaded", "active", "running", "list test", UnitObjectPath.For(name)), (listed.LoadState, listed.ActiveState, listed.SubState, listed.Description, listed.ObjectPath));
        Assert.DoesNotContain(await systemd.ListUnitsByPatternsAsync([], [UnitName.Pattern], ct), u => !u.Name.StartsWith(UnitName.Prefix, StringComparison.Ordinal));

        await using var watch = await systemd.WatchUnitAsync(name, 256, ct);
        await systemd.KillUnitAsync(name, "main", 15, ct);
        await foreach (var change in watch.ReadAllAsync(ct))
        {
            if (change.ActiveState is "inactive" or "failed")
            {
                break;
            }
        }

        Assert.Null(await systemd.GetUnitAsync(name, ct));
        Assert.Equal(UnitObjectPath.For("ullm-never.service"), await systemd.LoadUnitAsync("ullm-never.service", ct));
        Assert.Equal("not-found", (await systemd.GetPropertyAsync("ullm-never.service", SystemdManager.UnitInterface, "LoadState", ct)).AsString());
    }

    [Fact(Timeout = 180_000)]
    public async Task A_new_connection_finds_running_backend_units_with_their_models_for_adoption()
    {
        var ct = TestContext.Current.CancellationToken;
        var names = new[] { NewUnitName("org/model-a"), NewUnitName(new string('ü', 200)) };
        var models = new[] { "org/model-a", new string('ü', 200) };
        await using (var starter = await container.ConnectBusAsync(ct))
        {
            var systemd = await SystemdManager.CreateAsync(starter, ct);
            for (var i = 0; i < names.Length; i++)
            {
                await systemd.StartTransientUnitAsync(names[i], Sleeper("adoptable") with
                {
                    LogExtraFields = new Dictionary<string, string> { [BackendUnitDiscovery.ModelField] = models[i] },
                }, ct);
            }
        }

        await using var restarted = await container.ConnectBusAsync(ct);
        var adopter = await SystemdManager.CreateAsync(restarted, ct);
        try
        {
            var found = (await BackendUnitDiscovery.FindAsync(adopter, ct)).Where(u => names.Contains(u.UnitName)).OrderBy(u => Array.IndexOf(names, u.UnitName)).ToList();
            Assert.Equal(models, found.Select(u => u.Model));
            Assert.All(found, u => Assert.Equal("active", u.Status.ActiveState));
            Assert.All(found, u => Assert.True(u.Status.MainPid > 1));
        }
        finally
        {
            foreach (var name in names)
            {
                await adopter.StopUnitAsync(name, CancellationToken.None);
            }
        }
    }

    [Fact(Timeout = 300_000)]
    public async Task A_second_container_runs_at_the_same_time_with_its_own_units()
    {
        var ct = TestContext.Current.CancellationToken;
        var second = new SystemdContainerFixture();
        try
        {
            await second.InitializeAsync();
            Assert.NotEqual(container.Pid, second.Pid);
            await using var firstConnection = await container.ConnectBusAsync(ct);
            await using var secondConnection = await second.ConnectBusAsync(ct);
            var first = await SystemdManager.CreateAsync(firstConnection, ct);
            var other = await SystemdManager.CreateAsync(secondConnection, ct);
            var name = NewUnitName("second");
            await other.StartTransientUnitAsync(name, Sleeper("in the second container"), ct);
            Assert.NotNull(await other.GetUnitAsync(name, ct));
            Assert.Null(await first.GetUnitAsync(name, ct));
            await other.StopUnitAsync(name, ct);
        }
        finally
        {
            await second.DisposeAsync();
        }
    }

    [Fact(Timeout = 300_000)]
    public async Task Private_socket_works_peer_to_peer_from_inside_the_container_pid_namespace()
    {
        var ct = TestContext.Current.CancellationToken;
        // The test assembly's own executable, whichever runner started this process (dotnet test, or the executable itself).
        var testHost = Path.Combine(AppContext.BaseDirectory, typeof(SystemdPrivateSocketProbe).Assembly.GetName().Name!);
        Assert.True(File.Exists(testHost), $"test executable {testHost} not found");
        var run = await ProcessRunner.RunAsync(
            "nsenter",
            ["-t", container.Pid.ToString(), "-p", "--", testHost, "-method", SystemdPrivateSocketProbe.MethodName],
            new Dictionary<string, string> { [SystemdPrivateSocketProbe.AddressVariable] = container.PrivateAddress },
            ct);
        Assert.True(run.ExitCode == 0, $"probe inside the container failed: {run}");
        Assert.Contains("Total: 1, Errors: 0, Failed: 0, Skipped: 0", run.StandardOutput);
    }

    private async Task<Dictionary<string, string>> ShowAsync(string unit, CancellationToken ct, params string[] properties)
    {
        var shown = await container.ExecInsideAsync(ct, ["systemctl", "show", unit, .. properties.SelectMany(p => new[] { "-p", p })]);
        Assert.True(shown.ExitCode == 0, shown.ToString());
        return shown.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('=', 2))
            .ToDictionary(kv => kv[0], kv => kv[1]);
    }

    /// <summary>journald writes asynchronously and has no completion signal to await, so this polls with a deadline.</summary>
    private async Task<string> WaitForJournalAsync(string expected, string[] filter, CancellationToken ct)
    {
        var output = "";
        for (var attempt = 0; attempt < 100 && !output.Contains(expected, StringComparison.Ordinal); attempt++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(200), ct);
            output = (await container.ExecInsideAsync(ct, ["journalctl", "--no-pager", "-o", "cat", .. filter])).StandardOutput;
        }

        return output;
    }
}
