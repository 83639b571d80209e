using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>
/// load and unload against a real ullmd running a real llama-server; logs, whose engine is not in this build, says so
/// and exits 6, printing nothing made up.
/// </summary>
public sealed class LifecycleCommandTests
{
    [Fact]
    public async Task Load_models_and_unload_drive_a_real_llama_server_through_ullmd()
    {
        var binary = Models.LlamaServerBinary.Find();
        if (binary is null)
        {
            Assert.Skip(Models.LlamaServerBinary.HowToGet);
        }

        await using var host = await CtlHost.StartAsync(nvml: null, extraConfig: $"[backends.llamacpp]\nexecutable = \"{binary}\"\n");

        var load = await host.CtlAsync("load", "small", "--wait");
        Assert.True(load.ExitCode == 0, $"load failed ({load.ExitCode}): {load.StandardError}");
        Assert.Contains("tiny", load.StandardOutput + load.StandardError, StringComparison.Ordinal);
        var loaded = await host.CtlAsync("models", "--loaded", "--json");
        Assert.Contains("\"tiny\"", loaded.StandardOutput, StringComparison.Ordinal);

        var unload = await host.CtlAsync("unload", "tiny");
        Assert.True(unload.ExitCode == 0, $"unload failed ({unload.ExitCode}): {unload.StandardError}");
        Assert.DoesNotContain("\"tiny\"", (await host.CtlAsync("models", "--loaded", "--json")).StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_load_that_fails_says_why_and_exits_1()
    {
        await using var host = await CtlHost.StartAsync(nvml: null, extraConfig: "[backends.llamacpp]\nexecutable = \"/nonexistent/llama-server\"\n");

        var result = await host.CtlAsync("load", "tiny", "--wait");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("tiny failed to load", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Logs_reports_the_missing_supervisor_with_exit_6()
    {
        await using var host = await CtlHost.StartAsync(nvml: null);

        var result = await host.CtlAsync("logs", "tiny", "-f", "-n", "10");

        Assert.Equal(6, result.ExitCode);
        Assert.Equal("ullmctl: not available in this ullmd: backend supervision (transient systemd units, their journal) is not in this build yet (issue #3)\n", result.StandardError);
    }

    [Fact]
    public async Task Load_checks_its_options_before_calling_the_daemon()
    {
        using var dir = new TempDirectory("ullm-ctl");

        var result = await ProcessRunner.DotnetAsync(RepoPaths.Ullmctl, ["load", "tiny", "--layers", "lots", "--socket", dir.File("absent.sock")]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--layers: 'lots' is not 'auto' or a number of layers", result.StandardError);
    }
}
