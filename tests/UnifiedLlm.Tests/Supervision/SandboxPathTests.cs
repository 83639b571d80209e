using UnifiedLlm.Daemon.Supervision;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Supervision;

/// <summary>
/// Issue #21: a program or model that a backend unit's sandbox hides (PrivateTmp) or a dynamic user cannot read is
/// refused before systemd fails with only "226/NAMESPACE", naming the path and the property; <c>ullmd --check</c>
/// warns about it when the supervisor will be systemd. Real files, real modes, the real ullmd binary.
/// </summary>
public sealed class SandboxPathTests : IDisposable
{
    // Not under /tmp or /var/tmp, which the checks are about; removed in Dispose.
    private readonly string visible = Directory.CreateDirectory(Path.Combine("/var/lib", "ullm-sandbox-test-" + Guid.NewGuid().ToString("N")[..12])).FullName;

    public void Dispose() => Directory.Delete(visible, recursive: true);

    [Fact]
    public void A_model_or_executable_under_tmp_fails_the_unit_spec_naming_the_path_and_PrivateTmp()
    {
        using var tmp = new TempDirectory("ullm-sandbox");
        Assert.StartsWith("/tmp/", tmp.Path, StringComparison.Ordinal);
        var model = tmp.Write("tiny.gguf", "GGUF");
        var executable = tmp.Write("llama-server", "#!/bin/sh\n");

        var e = Assert.ThrowsAny<InvalidOperationException>(() => BackendUnitSpec.From(Launch(executable, model), [], null));

        Assert.Equal(
            $"ullm-tiny-abc.service would not start under systemd: the executable {executable} is under /tmp, which the backend's unit does not see: "
            + "PrivateTmp=yes gives it an empty /tmp of its own; move it elsewhere (e.g. /var/lib/unified-llm/models or /opt), or set [server] supervisor = \"process\"; "
            + $"the model {model} is under /tmp, which the backend's unit does not see: "
            + "PrivateTmp=yes gives it an empty /tmp of its own; move it elsewhere (e.g. /var/lib/unified-llm/models or /opt), or set [server] supervisor = \"process\"",
            e.Message);
    }

    [Fact]
    public void A_link_into_tmp_and_a_file_a_dynamic_user_cannot_read_are_refused_too()
    {
        using var tmp = new TempDirectory("ullm-sandbox");
        var link = Path.Combine(visible, "linked.gguf");
        File.CreateSymbolicLink(link, tmp.Write("real.gguf", "GGUF"));
        var secret = Path.Combine(visible, "secret.gguf");
        File.WriteAllText(secret, "GGUF");
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var linked = Assert.ThrowsAny<InvalidOperationException>(() => BackendUnitSpec.From(Launch("/bin/sh", link), [], null));
        var unreadable = Assert.ThrowsAny<InvalidOperationException>(() => BackendUnitSpec.From(Launch("/bin/sh", secret), [], null));

        Assert.Contains($"the model {tmp.File("real.gguf")} (where {link} leads) is under /tmp", linked.Message, StringComparison.Ordinal);
        Assert.Contains(
            $"the model {secret} cannot be read by the backend's unit: it runs as a dynamic user (DynamicUser=yes), and its mode 0600 does not let others read it (chmod o+r)",
            unreadable.Message,
            StringComparison.Ordinal);

        // Readable by others and outside /tmp: the unit is built.
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        Assert.Equal([secret], BackendUnitSpec.From(Launch("/bin/sh", secret), [], null).ReadOnlyPaths);
    }

    [Fact]
    public async Task Check_warns_when_the_systemd_supervisor_would_not_see_a_model()
    {
        using var tmp = new TempDirectory("ullm-sandbox");
        var model = tmp.Write("tiny.gguf", "GGUF");
        var config = tmp.Write("config.toml", $"""
            [server]
            supervisor = "systemd"

            [backends.llamacpp]
            executable = "/bin/sh"

            [models.tiny]
            backend = "llamacpp"
            source = "{model}"
            """);

        var result = await ProcessRunner.UllmdAsync(["--config", config, "--check"]);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(
            $"{config}: warning: models.tiny: the model {model} is under /tmp, which the backend's unit does not see: PrivateTmp=yes gives it an empty /tmp of its own; "
            + "move it elsewhere (e.g. /var/lib/unified-llm/models or /opt), or set [server] supervisor = \"process\"\n",
            result.StandardError);

        var process = tmp.Write("process.toml", File.ReadAllText(config).Replace("\"systemd\"", "\"process\"", StringComparison.Ordinal));
        Assert.Equal("", (await ProcessRunner.UllmdAsync(["--config", process, "--check"])).StandardError);
    }

    private static BackendLaunch Launch(string executable, string model) => new()
    {
        UnitName = "ullm-tiny-abc.service",
        Model = "tiny",
        ExecPath = executable,
        Arguments = ["-m", model],
        ReadOnlyPaths = [model],
    };
}
