using UnifiedLlm.Daemon.Supervision;
using UnifiedLlm.Daemon.Systemd;

namespace UnifiedLlm.Tests.Supervision;

/// <summary>
/// What every <see cref="IBackendSupervisor"/> must do, checked with real processes (/bin/sh scripts). Each
/// implementation derives from this class and supplies a supervisor and a directory its backends can see.
/// </summary>
public abstract class SupervisorBehaviourTests : IAsyncLifetime
{
    /// <summary>Generous: the machine may be loaded, and nothing here waits this long when it works.</summary>
    protected static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private readonly List<string> started = [];

    private IBackendSupervisor supervisor = null!;

    internal IBackendSupervisor Supervisor => supervisor;

    /// <summary>A directory the backends can read and write (for marker files and scripts).</summary>
    protected abstract string SharedDirectory { get; }

    internal abstract Task<IBackendSupervisor> CreateSupervisorAsync();

    public virtual async ValueTask InitializeAsync() => supervisor = await CreateSupervisorAsync();

    public virtual async ValueTask DisposeAsync()
    {
        foreach (var unit in started)
        {
            try
            {
                await supervisor.StopAsync(unit, CancellationToken.None);
            }
            catch (BackendNotFoundException)
            {
            }
        }

        await supervisor.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    internal BackendLaunch Shell(string script, TimeSpan? stopTimeout = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var unit = UnitName.ForModel("test/model", Guid.NewGuid().ToString("N")[..8]);
        started.Add(unit);
        return Adapt(new BackendLaunch
        {
            UnitName = unit,
            Model = "test/model",
            ExecPath = "/bin/sh",
            Arguments = ["-c", script],
            Environment = environment ?? new Dictionary<string, string>(),
            StopTimeout = stopTimeout ?? TimeSpan.FromSeconds(30),
        });
    }

    /// <summary>What an implementation adds to every launch (e.g. a sandboxed unit's write access to <see cref="SharedDirectory"/>).</summary>
    internal virtual BackendLaunch Adapt(BackendLaunch launch) => launch;

    internal static async Task WaitForFileAsync(string path)
    {
        using var timeout = new CancellationTokenSource(Patience);
        var delay = TimeSpan.FromMilliseconds(20);
        while (!File.Exists(path) || new FileInfo(path).Length == 0)
        {
            await Task.Delay(delay, timeout.Token);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 250));
        }
    }

    internal async Task<List<string>> ReadLogAsync(string unit, int lines, bool follow, int take)
    {
        using var timeout = new CancellationTokenSource(Patience);
        var result = new List<string>();
        await foreach (var line in supervisor.ReadLogsAsync(unit, lines, follow, timeout.Token))
        {
            result.Add(line.Message);
            if (result.Count == take)
            {
                break;
            }
        }

        return result;
    }

    [Fact]
    public async Task A_crash_completes_Exited_with_the_exit_status()
    {
        var backend = await supervisor.StartAsync(Shell("echo up; sleep 0.5; exit 3"), CancellationToken.None);

        Assert.True(backend.MainPid > 1);
        Assert.False(string.IsNullOrEmpty(backend.InvocationId));
        var exit = await backend.Exited.WaitAsync(Patience);
        Assert.Equal("exit-code", exit.Result);
        Assert.Equal(3, exit.ExitStatus);
        Assert.Equal("exited with status 3", exit.Reason);
        Assert.False(exit.Succeeded);
    }

    [Fact]
    public async Task A_process_killed_by_a_signal_is_reported_with_the_signal()
    {
        var backend = await supervisor.StartAsync(Shell("kill -SEGV $$"), CancellationToken.None);

        var exit = await backend.Exited.WaitAsync(Patience);
        Assert.Equal("signal", exit.Result);
        Assert.Equal(11, exit.Signal);
        Assert.Contains("SIGSEGV", exit.Reason);
    }

    [Fact]
    public async Task Stop_ends_a_backend_that_obeys_SIGTERM_before_its_timeout()
    {
        var ready = Path.Combine(SharedDirectory, Guid.NewGuid().ToString("N"));
        var backend = await supervisor.StartAsync(Shell($"trap 'exit 0' TERM; echo up > {ready}; while :; do sleep 0.1; done", TimeSpan.FromSeconds(50)), CancellationToken.None);
        await WaitForFileAsync(ready);

        var exit = await supervisor.StopAsync(backend.UnitName, CancellationToken.None).WaitAsync(Patience);

        Assert.True(exit.Succeeded, exit.Reason);
        Assert.True(backend.Exited.IsCompleted);
        Assert.DoesNotContain(backend.UnitName, (await supervisor.ListRunningAsync(CancellationToken.None)).Select(b => b.UnitName));
    }

    [Fact]
    public async Task A_backend_that_ignores_SIGTERM_is_killed_after_the_stop_timeout()
    {
        var ready = Path.Combine(SharedDirectory, Guid.NewGuid().ToString("N"));
        var backend = await supervisor.StartAsync(Shell($"trap '' TERM; echo up > {ready}; while :; do sleep 0.1; done", TimeSpan.FromSeconds(1)), CancellationToken.None);
        await WaitForFileAsync(ready);

        var exit = await supervisor.StopAsync(backend.UnitName, CancellationToken.None).WaitAsync(Patience);

        Assert.Equal("timeout", exit.Result);
        Assert.Equal(9, exit.Signal);
        Assert.Contains("SIGKILL", exit.Reason);
    }

    [Fact]
    public async Task A_grandchild_is_killed_with_its_backend()
    {
        var pidFile = Path.Combine(SharedDirectory, Guid.NewGuid().ToString("N"));
        var backend = await supervisor.StartAsync(Shell($"sleep 600 & echo $! > {pidFile}; wait"), CancellationToken.None);
        await WaitForFileAsync(pidFile);
        var grandchild = int.Parse((await File.ReadAllTextAsync(pidFile)).Trim());
        var grandchildOnHost = ProcessVisibleFromHost(grandchild);

        await supervisor.StopAsync(backend.UnitName, CancellationToken.None).WaitAsync(Patience);

        Assert.True(await GoneAsync(grandchildOnHost), $"grandchild {grandchild} still runs after its backend was stopped");
    }

    [Fact]
    public async Task Output_is_kept_and_followed()
    {
        var go = Path.Combine(SharedDirectory, Guid.NewGuid().ToString("N"));
        var backend = await supervisor.StartAsync(
            Shell($"echo one; echo two >&2; echo three; while [ ! -e {go} ]; do sleep 0.1; done; echo four; echo five; sleep 600"), CancellationToken.None);

        // stdout and stderr are separate streams, so only the order within each is fixed.
        var firstThree = await EventuallyAsync(() => ReadLogAsync(backend.UnitName, 100, follow: false, take: 100), lines => lines.Count >= 3);
        Assert.Equal(["one", "three", "two"], firstThree.Order(StringComparer.Ordinal));
        Assert.True(firstThree.IndexOf("one") < firstThree.IndexOf("three"));
        var lastTwo = await ReadLogAsync(backend.UnitName, 2, follow: false, take: 100);
        Assert.Equal(2, lastTwo.Count);
        Assert.Contains("three", lastTwo);

        var followed = ReadLogAsync(backend.UnitName, 0, follow: true, take: 2);
        await File.WriteAllTextAsync(go, "go");
        Assert.Equal(["four", "five"], await followed.WaitAsync(Patience));
    }

    [Fact]
    public async Task The_launch_environment_reaches_the_backend()
    {
        var backend = await supervisor.StartAsync(
            Shell("echo \"v=$ULLM_TEST_VALUE\"", environment: new Dictionary<string, string> { ["ULLM_TEST_VALUE"] = "a b $HOME" }), CancellationToken.None);

        await backend.Exited.WaitAsync(Patience);
        Assert.Equal(["v=a b $HOME"], await EventuallyAsync(() => ReadLogAsync(backend.UnitName, 10, follow: false, take: 10), lines => lines.Count > 0));
    }

    [Fact]
    public async Task Running_backends_are_listed_until_they_end()
    {
        var a = await supervisor.StartAsync(Shell("sleep 600"), CancellationToken.None);
        var b = await supervisor.StartAsync(Shell("sleep 600"), CancellationToken.None);

        var running = await supervisor.ListRunningAsync(CancellationToken.None);
        var listedA = Assert.Single(running, r => r.UnitName == a.UnitName);
        Assert.Equal(a.MainPid, listedA.MainPid);
        Assert.Equal(a.InvocationId, listedA.InvocationId);
        Assert.Equal("test/model", listedA.Model);
        Assert.Contains(b.UnitName, running.Select(r => r.UnitName));

        await supervisor.StopAsync(a.UnitName, CancellationToken.None).WaitAsync(Patience);
        var after = await supervisor.ListRunningAsync(CancellationToken.None);
        Assert.DoesNotContain(a.UnitName, after.Select(r => r.UnitName));
        Assert.Contains(b.UnitName, after.Select(r => r.UnitName));
    }

    [Fact]
    public async Task Stopping_an_unknown_unit_says_so()
    {
        var e = await Assert.ThrowsAnyAsync<Exception>(() => supervisor.StopAsync("ullm-nothing-00000000.service", CancellationToken.None));
        Assert.Contains("ullm-nothing-00000000.service", e.Message);
    }

    /// <summary>Maps a pid seen by the backend to one the test can signal and watch (they differ in a container).</summary>
    internal virtual int ProcessVisibleFromHost(int pid) => pid;

    internal static async Task<bool> GoneAsync(int pid)
    {
        using var timeout = new CancellationTokenSource(Patience);
        while (BackendProcessScan.StartTime(pid) is not null)
        {
            try
            {
                await Task.Delay(50, timeout.Token);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }

        return true;
    }

    internal static async Task<T> EventuallyAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        using var timeout = new CancellationTokenSource(Patience);
        while (true)
        {
            var value = await read();
            if (done(value) || timeout.IsCancellationRequested)
            {
                return value;
            }

            await Task.Delay(50, CancellationToken.None);
        }
    }
}
