using UnifiedLlm.Daemon.Systemd;
using UnifiedLlm.Daemon.Systemd.DBus;
using UnifiedLlm.Tests.DBus;

namespace UnifiedLlm.Tests.Systemd;

/// <summary>
/// Job waiting with message orderings a real systemd produces only by chance: a scripted peer plays systemd on a
/// private-socket-style connection and sends JobRemoved BEFORE the reply that names the job.
/// </summary>
public sealed class SystemdJobWaitTests : IDisposable
{
    private readonly ScriptedPeer _systemd = new();

    public void Dispose() => _systemd.Dispose();

    [Theory(Timeout = 60_000)]
    [InlineData("done", null)]
    [InlineData("failed", "exit-code")]
    public async Task JobRemoved_arriving_before_the_reply_still_completes_the_start(string jobResult, string? unitResult)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var connection = await _systemd.ConnectClientAsync(ct);
        var managerTask = SystemdManager.CreateAsync(connection, ct);
        var subscribe = await _systemd.ReadMessageAsync(ct);
        Assert.Equal(("Subscribe", null), (subscribe.Member, subscribe.Destination));
        await _systemd.ReplyAsync(subscribe, ct);
        var manager = await managerTask;

        const string Job = "/org/freedesktop/systemd1/job/7";
        var start = manager.StartTransientUnitAsync("ullm-m-1.service", new TransientUnitSpec { Description = "d", ExecPath = "/bin/true", Arguments = ["true"] }, ct);
        var call = await _systemd.ReadMessageAsync(ct);
        Assert.Equal(("StartTransientUnit", "ssa(sv)a(sa(sv))"), (call.Member, call.Signature));

        await _systemd.SendAsync(JobRemoved(6, "/org/freedesktop/systemd1/job/6", "other.service", "failed"), ct);
        await _systemd.SendAsync(JobRemoved(7, Job, "ullm-m-1.service", jobResult), ct);
        await _systemd.ReplyAsync(call, ct, new DBusObjectPath(Job));

        if (jobResult == "done")
        {
            Assert.Equal(Job, await start);
            return;
        }

        var getUnit = await _systemd.ReadMessageAsync(ct);
        Assert.Equal(("GetUnit", "ullm-m-1.service"), (getUnit.Member, getUnit.Argument(0).AsString()));
        await _systemd.ReplyAsync(getUnit, ct, new DBusObjectPath(UnitObjectPath.For("ullm-m-1.service")));
        var get = await _systemd.ReadMessageAsync(ct);
        Assert.Equal(("Get", UnitObjectPath.For("ullm-m-1.service")), (get.Member, get.Path));
        await _systemd.ReplyAsync(get, ct, new DBusVariant(new DBusString(unitResult!)));
        var error = await Assert.ThrowsAsync<SystemdJobFailedException>(() => start);
        Assert.Equal((jobResult, unitResult), (error.JobResult, error.UnitResult));
    }

    [Fact(Timeout = 60_000)]
    public async Task Failed_job_of_an_already_collected_unit_reports_no_unit_result()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var connection = await _systemd.ConnectClientAsync(ct);
        var managerTask = SystemdManager.CreateAsync(connection, ct);
        await _systemd.ReplyAsync(await _systemd.ReadMessageAsync(ct), ct);
        var manager = await managerTask;

        var start = manager.StartTransientUnitAsync("ullm-m-2.service", new TransientUnitSpec { Description = "d", ExecPath = "/bin/true", Arguments = ["true"] }, ct);
        var call = await _systemd.ReadMessageAsync(ct);
        await _systemd.ReplyAsync(call, ct, new DBusObjectPath("/org/freedesktop/systemd1/job/8"));
        await _systemd.SendAsync(JobRemoved(8, "/org/freedesktop/systemd1/job/8", "ullm-m-2.service", "failed"), ct);
        var getUnit = await _systemd.ReadMessageAsync(ct);
        Assert.Equal("GetUnit", getUnit.Member);
        await _systemd.SendAsync(new DBusMessage { Type = DBusMessageType.Error, ErrorName = "org.freedesktop.systemd1.NoSuchUnit", ReplySerial = getUnit.Serial, Body = [new DBusString("Unit ullm-m-2.service not loaded.")] }, ct);
        var error = await Assert.ThrowsAsync<SystemdJobFailedException>(() => start);
        Assert.Equal(("failed", null), (error.JobResult, error.UnitResult));
    }

    private static DBusMessage JobRemoved(uint id, string job, string unit, string result) =>
        DBusMessage.Signal(SystemdManager.ManagerPath, SystemdManager.ManagerInterface, "JobRemoved",
            new DBusUInt32(id), new DBusObjectPath(job), new DBusString(unit), new DBusString(result));
}
