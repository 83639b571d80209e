using System.Collections.Concurrent;
using Microsoft.Extensions.Logging.Abstractions;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Hosting;
using UnifiedLlm.Daemon.Systemd;
using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Tests.Systemd;

/// <summary>
/// [server] supervisor and systemd_address against a real systemd in a container, an address where nothing answers,
/// and one where systemd's bus appears only after ullmd first asked.
/// </summary>
public sealed class SupervisorSelectionTests(SystemdContainerFixture container) : IClassFixture<SystemdContainerFixture>
{
    private const string Nowhere = "unix:path=/nonexistent/ullm-test/bus";
    private static readonly SystemdWait ShortWait = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(4));

    private static ServerConfig Server(string supervisor, string address) => ConfigLoader.Parse(
        $"[server]\nsupervisor = \"{supervisor}\"\nsystemd_address = \"{address}\"\n", "test.toml").Server;

    private static Task<(SystemdBus? Bus, string Why)> ChooseAsync(ServerConfig server, bool bootedWithSystemd, SystemdWait wait, Action<string>? reportWaiting = null) =>
        SupervisorSelection.ChooseAsync(server, bootedWithSystemd, wait, NullLogger.Instance, reportWaiting ?? (_ => { }), TestContext.Current.CancellationToken);

    [Fact]
    public async Task Auto_and_systemd_take_systemd_when_it_answers()
    {
        foreach (var kind in new[] { "auto", "systemd" })
        {
            var (bus, why) = await ChooseAsync(Server(kind, container.BusAddress), bootedWithSystemd: false, SystemdWait.Default);
            Assert.NotNull(bus);
            await using (bus)
            {
                Assert.Equal((container.BusAddress, DBusConnectionMode.Bus), (bus.Address, bus.Mode));
                Assert.Equal($"systemd answers at {container.BusAddress}", why);
                var systemd = await bus.GetAsync(TestContext.Current.CancellationToken);
                Assert.NotNull(await systemd.GetUnitAsync("ullm-test.target", TestContext.Current.CancellationToken));
            }
        }
    }

    [Fact]
    public async Task Auto_on_a_host_without_systemd_falls_back_to_processes_at_once_and_says_why()
    {
        var waits = new ConcurrentQueue<string>();
        var (bus, why) = await ChooseAsync(Server("auto", Nowhere), bootedWithSystemd: false, SystemdWait.Default, waits.Enqueue);

        Assert.Null(bus);
        Assert.StartsWith($"systemd does not answer at {Nowhere} (", why);
        Assert.Empty(waits);
    }

    /// <summary>
    /// systemd's bus appears (a link to the container's bus socket) two seconds after the first attempt: a start that
    /// needs systemd — "systemd", or "auto" on a host booted with systemd — asks again and takes it, telling sd_notify
    /// what it waits for meanwhile.
    /// </summary>
    [Theory]
    [InlineData("auto", true)]
    [InlineData("systemd", false)]
    public async Task A_start_that_needs_systemd_waits_for_a_bus_that_answers_late(string supervisor, bool bootedWithSystemd)
    {
        var directory = Directory.CreateTempSubdirectory("ullm-late-bus-");
        try
        {
            var late = Path.Combine(directory.FullName, "bus");
            var address = $"unix:path={late}";
            var waits = new ConcurrentQueue<string>();
            var appears = Task.Delay(TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken)
                .ContinueWith(_ => File.CreateSymbolicLink(late, container.BusAddress["unix:path=".Length..]), TaskScheduler.Default);

            var (bus, why) = await ChooseAsync(Server(supervisor, address), bootedWithSystemd, new SystemdWait(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30)), waits.Enqueue);
            await appears;

            Assert.NotNull(bus);
            await using (bus)
            {
                Assert.Matches($@"^systemd answers at {address} \(after [2-9] attempts in [0-9.]+ s\)$", why);
                Assert.NotNull(await (await bus.GetAsync(TestContext.Current.CancellationToken)).GetUnitAsync("ullm-test.target", TestContext.Current.CancellationToken));
            }

            Assert.NotEmpty(waits);
            Assert.All(waits, w => Assert.Matches($@"^systemd does not answer at {address} \(.+\); asking again in [0-9.]+ s \(attempt [0-9]+\)$", w));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Auto_on_a_host_booted_with_systemd_stops_the_start_rather_than_run_backends_unsandboxed()
    {
        var waits = new ConcurrentQueue<string>();
        var e = await Assert.ThrowsAsync<SupervisorUnavailableException>(() => ChooseAsync(Server("auto", Nowhere), bootedWithSystemd: true, ShortWait, waits.Enqueue));

        Assert.Contains($"supervisor = \"auto\" on a host booted with systemd, but systemd does not answer at {Nowhere} (", e.Message);
        Assert.Matches(@"; [2-9] attempts in [0-9]+ s\)", e.Message);
        Assert.Contains("supervisor = \"process\" to run them as plain processes anyway", e.Message);
        Assert.NotEmpty(waits);
    }

    [Fact]
    public async Task Systemd_that_does_not_answer_stops_the_start_with_the_address()
    {
        var e = await Assert.ThrowsAsync<SupervisorUnavailableException>(() => ChooseAsync(Server("systemd", Nowhere), bootedWithSystemd: false, ShortWait));

        Assert.Contains("supervisor = \"systemd\"", e.Message);
        Assert.Contains(Nowhere, e.Message);
    }

    [Fact]
    public async Task Process_never_asks_systemd()
    {
        var (bus, why) = await ChooseAsync(Server("process", container.BusAddress), bootedWithSystemd: true, SystemdWait.Default);

        Assert.Null(bus);
        Assert.Equal("[server] supervisor = \"process\"", why);
    }

    [Fact]
    public void The_wait_pauses_1_2_4_then_8_seconds_and_ends_before_an_attempt_would_pass_the_limit()
    {
        var wait = new SystemdWait(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(60));
        var pauses = new List<double>();
        var elapsed = TimeSpan.FromSeconds(1);
        for (var attempt = 1; wait.NextDelay(attempt, elapsed) is { } pause; attempt++)
        {
            pauses.Add(pause.TotalSeconds);
            elapsed += pause + TimeSpan.FromSeconds(1);
        }

        Assert.Equal([1, 2, 4, 8, 8, 8, 8, 8], pauses);
        Assert.True(elapsed + TimeSpan.FromSeconds(8) + wait.AttemptTimeout > wait.Limit);
        Assert.Null(SystemdWait.SingleAttempt.NextDelay(1, TimeSpan.Zero));
        Assert.True(SystemdWait.Default.Limit < TimeSpan.FromSeconds(90), "the wait must end before systemd's default start timeout");
    }
}
