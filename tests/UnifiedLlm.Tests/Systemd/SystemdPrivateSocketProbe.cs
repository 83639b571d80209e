using UnifiedLlm.Daemon.Systemd;
using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Tests.Systemd;

/// <summary>
/// Runs INSIDE the container's PID namespace: systemd refuses private-socket clients whose PID it cannot see, so
/// <see cref="SystemdContainerTests"/> re-executes this test assembly under <c>nsenter -t PID -p</c> with
/// <see cref="AddressVariable"/> set and only this test selected; that parent test fails unless this one ran and passed.
/// In an ordinary run it reports itself skipped with that explanation.
/// </summary>
public sealed class SystemdPrivateSocketProbe
{
    public const string AddressVariable = "ULLM_TEST_SYSTEMD_PRIVATE_ADDRESS";
    public const string MethodName = "UnifiedLlm.Tests.Systemd.SystemdPrivateSocketProbe.Start_status_and_stop_over_the_private_socket";

    public static bool InsideContainer => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(AddressVariable));

    [Fact(
        Timeout = 120_000,
        SkipUnless = nameof(InsideContainer),
        Skip = "runs only inside a systemd container's PID namespace; SystemdContainerTests.Private_socket_works_peer_to_peer_from_inside_the_container_pid_namespace runs it there and fails if it fails")]
    public async Task Start_status_and_stop_over_the_private_socket()
    {
        var ct = TestContext.Current.CancellationToken;
        var address = Environment.GetEnvironmentVariable(AddressVariable);

        await using var connection = await DBusConnection.ConnectAsync(address!, DBusConnectionMode.PeerToPeer, ct);
        Assert.Null(connection.UniqueName);
        Assert.Equal((1, 0u), (connection.Peer.Pid, connection.Peer.Uid));
        var systemd = await SystemdManager.CreateAsync(connection, ct);
        var name = UnitName.ForModel("p2p", Guid.NewGuid().ToString("N")[..8]);
        await systemd.StartTransientUnitAsync(name, new TransientUnitSpec
        {
            Description = "p2p probe",
            ExecPath = "/bin/sleep",
            Arguments = ["/bin/sleep", "300"],
            DynamicUser = false,
            MemoryMaxBytes = 100 * 1024 * 1024,
        }, ct);
        var status = await systemd.GetUnitStatusAsync(name, ct);
        Assert.Equal("active", status.ActiveState);
        Assert.Equal(100UL * 1024 * 1024, (await systemd.GetPropertyAsync(name, SystemdManager.ServiceInterface, "MemoryMax", ct)).AsUInt64());
        await systemd.StopUnitAsync(name, ct);
        Assert.Null(await systemd.GetUnitAsync(name, ct));
    }
}
