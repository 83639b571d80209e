using System.Text;
using UnifiedLlm.Daemon.Systemd;
using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Tests.Systemd;

public sealed class TransientUnitSpecTests
{
    private static readonly TransientUnitSpec Full = new()
    {
        Description = "llama",
        ExecPath = "/usr/bin/llama-server",
        Arguments = ["llama-server", "--port", "$PORT"],
        Environment = ["A=1"],
        WorkingDirectory = "/var/lib/ullm",
        MemoryMaxBytes = 1000,
        MemoryHighBytes = 900,
        CpuWeight = 200,
        AllowedDevices = ["/dev/nvidia0", "/dev/nvidiactl"],
        StateDirectories = ["ullm/m"],
        ReadOnlyPaths = ["/models"],
        ProtectHome = "read-only",
        StopTimeout = TimeSpan.FromSeconds(7.5),
        SyslogIdentifier = "ullm-m",
        LogExtraFields = new Dictionary<string, string> { ["ULLM_MODEL"] = "m" },
    };

    private static Dictionary<string, DBusValue> Properties(TransientUnitSpec spec) =>
        spec.ToProperties().Select(p => p.AsStruct()).ToDictionary(f => f[0].AsString(), f => f[1].AsVariant());

    [Fact]
    public void Every_property_has_systemds_name_and_signature()
    {
        var signatures = Properties(Full).ToDictionary(p => p.Key, p => p.Value.Signature);
        Assert.Equal(new Dictionary<string, string>
        {
            ["Description"] = "s",
            ["Type"] = "s",
            ["ExecStartEx"] = "a(sasas)",
            ["Environment"] = "as",
            ["WorkingDirectory"] = "s",
            ["Slice"] = "s",
            ["MemoryMax"] = "t",
            ["MemoryHigh"] = "t",
            ["CPUWeight"] = "t",
            ["DevicePolicy"] = "s",
            ["DeviceAllow"] = "a(ss)",
            ["DynamicUser"] = "b",
            ["StateDirectory"] = "as",
            ["ReadOnlyPaths"] = "as",
            ["ReadWritePaths"] = "as",
            ["ProtectSystem"] = "s",
            ["ProtectHome"] = "s",
            ["PrivateTmp"] = "b",
            ["NoNewPrivileges"] = "b",
            ["KillMode"] = "s",
            ["TimeoutStopUSec"] = "t",
            ["CollectMode"] = "s",
            ["StandardOutput"] = "s",
            ["StandardError"] = "s",
            ["SyslogIdentifier"] = "s",
            ["LogExtraFields"] = "aay",
        }.OrderBy(p => p.Key), signatures.OrderBy(p => p.Key));
    }

    [Fact]
    public void Values_are_encoded_as_given_with_the_sandbox_defaults()
    {
        var p = Properties(Full);
        var exec = Assert.Single(p["ExecStartEx"].AsArray()).AsStruct();
        Assert.Equal("/usr/bin/llama-server", exec[0].AsString());
        Assert.Equal(["llama-server", "--port", "$PORT"], exec[1].AsStringArray());
        Assert.Equal(["no-env-expand"], exec[2].AsStringArray());
        Assert.Equal([("/dev/nvidia0", "rw"), ("/dev/nvidiactl", "rw")], p["DeviceAllow"].AsArray().Select(d => (d.AsStruct()[0].AsString(), d.AsStruct()[1].AsString())));
        Assert.Equal("closed", p["DevicePolicy"].AsString());
        Assert.Equal(7_500_000UL, p["TimeoutStopUSec"].AsUInt64());
        Assert.Equal("ULLM_MODEL=m", Encoding.UTF8.GetString(Assert.Single(p["LogExtraFields"].AsArray()).AsBytes()));
        Assert.Equal(("ullm.slice", "exec", "strict", "mixed", "inactive-or-failed", "journal"),
            (p["Slice"].AsString(), p["Type"].AsString(), p["ProtectSystem"].AsString(), p["KillMode"].AsString(), p["CollectMode"].AsString(), p["StandardOutput"].AsString()));
        Assert.True(p["DynamicUser"].AsBoolean() && p["PrivateTmp"].AsBoolean() && p["NoNewPrivileges"].AsBoolean());
        Assert.Equal((1000UL, 900UL, 200UL), (p["MemoryMax"].AsUInt64(), p["MemoryHigh"].AsUInt64(), p["CPUWeight"].AsUInt64()));
    }

    [Fact]
    public void Optional_properties_are_left_out_when_unset()
    {
        var p = Properties(new TransientUnitSpec { Description = "d", ExecPath = "/bin/true", Arguments = ["true"] });
        Assert.DoesNotContain("MemoryMax", p.Keys);
        Assert.DoesNotContain("WorkingDirectory", p.Keys);
        Assert.DoesNotContain("SyslogIdentifier", p.Keys);
    }

    [Fact]
    public void Invalid_specs_are_refused_with_the_field_named()
    {
        Assert.Contains("ExecPath", Assert.Throws<ArgumentException>(() => (Full with { ExecPath = "llama" }).ToProperties()).Message);
        Assert.Contains("argv[0]", Assert.Throws<ArgumentException>(() => (Full with { Arguments = [] }).ToProperties()).Message);
        Assert.Contains("ProtectHome", Assert.Throws<ArgumentException>(() => (Full with { ProtectHome = "maybe" }).ToProperties()).Message);
    }

    [Fact]
    public void Properties_marshal_into_a_StartTransientUnit_call()
    {
        var call = DBusMessage.MethodCall(SystemdManager.ServiceName, SystemdManager.ManagerPath, SystemdManager.ManagerInterface, "StartTransientUnit",
            new DBusString("ullm-m-1.service"), new DBusString("fail"), new DBusArray("(sv)", Full.ToProperties()), new DBusArray("(sa(sv))", [])) with
        { Serial = 1 };
        var read = DBusMessageReader.Read(DBusMessageWriter.Write(call));
        Assert.Equal("ssa(sv)a(sa(sv))", read.Signature);
        Assert.Equal(Full.ToProperties().Count, read.Body[2].AsArray().Count);
    }
}
