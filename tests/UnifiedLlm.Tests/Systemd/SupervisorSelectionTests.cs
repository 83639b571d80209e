using Microsoft.Extensions.Logging.Abstractions;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Hosting;
using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Tests.Systemd;

/// <summary>[server] supervisor and systemd_address against a real systemd in a container and an address where nothing answers.</summary>
public sealed class SupervisorSelectionTests(SystemdContainerFixture container) : IClassFixture<SystemdContainerFixture>
{
    private const string Nowhere = "unix:path=/nonexistent/ullm-test/bus";

    private static ServerConfig Server(string supervisor, string address) => ConfigLoader.Parse(
        $"[server]\nsupervisor = \"{supervisor}\"\nsystemd_address = \"{address}\"\n", "test.toml").Server;

    [Fact]
    public async Task Auto_and_systemd_take_systemd_when_it_answers()
    {
        foreach (var kind in new[] { "auto", "systemd" })
        {
            var (bus, why) = await SupervisorSelection.ChooseAsync(Server(kind, container.BusAddress), NullLogger.Instance, TestContext.Current.CancellationToken);
            Assert.NotNull(bus);
            await using (bus)
            {
                Assert.Equal((container.BusAddress, DBusConnectionMode.Bus), (bus.Address, bus.Mode));
                Assert.Contains("systemd answers at", why);
                var systemd = await bus.GetAsync(TestContext.Current.CancellationToken);
                Assert.NotNull(await systemd.GetUnitAsync("ullm-test.target", TestContext.Current.CancellationToken));
            }
        }
    }

    [Fact]
    public async Task Auto_falls_back_to_processes_and_says_why()
    {
        var (bus, why) = await SupervisorSelection.ChooseAsync(Server("auto", Nowhere), NullLogger.Instance, TestContext.Current.CancellationToken);

        Assert.Null(bus);
        Assert.Contains($"systemd does not answer at {Nowhere}", why);
    }

    [Fact]
    public async Task Systemd_that_does_not_answer_stops_the_start_with_the_address()
    {
        var e = await Assert.ThrowsAsync<SupervisorUnavailableException>(() =>
            SupervisorSelection.ChooseAsync(Server("systemd", Nowhere), NullLogger.Instance, TestContext.Current.CancellationToken));

        Assert.Contains("supervisor = \"systemd\"", e.Message);
        Assert.Contains(Nowhere, e.Message);
    }

    [Fact]
    public async Task Process_never_asks_systemd()
    {
        var (bus, why) = await SupervisorSelection.ChooseAsync(Server("process", container.BusAddress), NullLogger.Instance, TestContext.Current.CancellationToken);

        Assert.Null(bus);
        Assert.Equal("[server] supervisor = \"process\"", why);
    }
}
